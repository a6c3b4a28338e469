/* fuzz_json: libFuzzer target for pna_json_event (connectors/pna_json.c):
 * any bytes in, a decision and no memory error out; an accepted event must
 * pack. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "connectors/pna_json.h"
#include "lib/arena.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct arena *a;
	static uint8_t out[1 << 20];
	Pna__Event ev;
	const char *why;

	if (!a)
		a = arena_create(64 * 1024);
	arena_reset(a);
	if (pna_json_event((const char *)data, size, a, &ev, &why) == 0 &&
	    pna__event__get_packed_size(&ev) <= sizeof(out))
		pna__event__pack(&ev, out);
	else if (!why)
		abort();
	return 0;
}
