/* fuzz_uidset: arbitrary bytes as an RFC 5423 UID set, as the shard process
 * meets them in MessageExpunge/MessageRead events. The first 4 bytes pick
 * the value of '*'. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/uidset.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint32_t star = 0;
	const char *why = NULL;
	int64_t n;
	char *copy;

	if (size >= sizeof(star)) {
		memcpy(&star, data, sizeof(star));
		data += sizeof(star);
		size -= sizeof(star);
	}
	/* An exact-size heap copy: ASan catches any read past len. */
	copy = malloc(size ? size : 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	n = uidset_count(copy, size, star, &why);
	if (n == -EBADMSG) {
		if (!why || !*why)
			abort();
	} else if (n < 1 || n > UINT32_MAX || size == 0) {
		abort();
	}
	free(copy);
	return 0;
}
