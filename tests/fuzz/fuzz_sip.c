/* fuzz_sip: libFuzzer over sip_parse (datagram and stream modes), the
 * response shortcut sip_parse_reply and the header value helpers. */
#include <stddef.h>
#include <stdint.h>

#include "egress/sip/sip_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct sip_msg m;
	const char *why;
	struct sip_span br;
	int status;

	/* what the shortcut answers lies within the bytes, status final */
	if (sip_parse_reply((const char *)data, size, &status, &br) == 0) {
		if (status < 200 || status > 699 || br.n == 0 || br.p < (const char *)data ||
		    br.p + br.n > (const char *)data + size)
			__builtin_trap();
	}

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
