/* fuzz_sip: libFuzzer over sip_parse (datagram and stream modes) and the
 * header value helpers. */
#include <stddef.h>
#include <stdint.h>

#include "egress/sip/sip_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct sip_msg m;
	const char *why;

	for (int stream = 0; stream < 2; stream++) {
		if (sip_parse(&m, (const char *)data, size, stream, &why) < 0)
			continue;
		for (unsigned i = 0; i < m.nhdr; i++) {
			struct sip_span v = sip_msg_span(&m, m.hdr[i].value), uri, par, t;
			struct sip_uri u;

			while (v.n) {
				struct sip_span e = sip_list_next(&v);

				if (sip_addr_parse(e, &uri, &par) == 0) {
					sip_param_get(par, "tag", &t);
					sip_uri_parse(uri, &u);
				}
			}
		}
	}
	return 0;
}
