/* fuzz_frame: arbitrary bytes through the ingest framing and protobuf decode,
 * as the router meets them on a socket. */
#include <stddef.h>
#include <stdint.h>

#include "lib/arena.h"
#include "proto/proto_frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct arena *a;
	const uint8_t *pl;
	size_t plen;
	const char *why;
	int used;

	if (!a)
		a = arena_create(1 << 16);
	while (size > 0) {
		used = proto_frame_split(data, size, 1 << 16, &pl, &plen, &why);
		if (used <= 0)
			break;
		(void)proto_frame_decode(pl, plen, a);
		arena_reset(a);
		data += used;
		size -= (size_t)used;
	}
	return 0;
}
