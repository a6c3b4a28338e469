/* fuzz_sip: libFuzzer over sip_parse (datagram and stream modes), the
 * response shortcut sip_parse_reply, the header value helpers, the digest
 * Authorization check against the Request-URI and the nonce lookup. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "egress/sip/sip_auth.h"
#include "egress/sip/sip_parse.h"

/* Every user has one H(A1), so a well-formed answer reaches the hashing. */
static int any_user(void *arg, const char *user, const char *realm, const char *alg, char *ha1,
		    size_t cap)
{
	(void)arg;
	(void)user;
	(void)realm;
	if (cap < 65)
		return -1;
	memset(ha1, 'a', strcmp(alg, "SHA-256") == 0 ? 64 : 32);
	ha1[strcmp(alg, "SHA-256") == 0 ? 64 : 32] = 0;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct sip_msg m;
	static struct sip_nonce_table nonces;
	static char str[256];
	const char *why;
	char id[128];
	struct sip_span br;
	int status;

	/* what the shortcut answers lies within the bytes, status final */
	if (sip_parse_reply((const char *)data, size, &status, &br) == 0) {
		if (status < 200 || status > 699 || br.n == 0 || br.p < (const char *)data ||
		    br.p + br.n > (const char *)data + size)
			__builtin_trap();
	}

	/* the input as a nonce (one issued, so its slot is not empty) */
	if (!nonces.next)
		sip_nonce_issue(&nonces, 100, str);
	if (size < sizeof(str)) {
		uint32_t slot;

		memcpy(str, data, size);
		str[size] = 0;
		/* found only when the fuzzer learnt the tag from the comparison */
		if (sip_nonce_find(&nonces, str, 100, &slot) == 0 &&
		    sip_nonce_use(&nonces, slot, 1) == 0 && sip_nonce_use(&nonces, slot, 1) == 0)
			__builtin_trap(); /* the same count twice */
	}

	sip_auth_set_lookup(any_user, NULL);
	for (int stream = 0; stream < 2; stream++) {
		if (sip_parse(&m, (const char *)data, size, stream, &why) < 0)
			continue;
		for (unsigned i = 0; i < m.nhdr; i++) {
			struct sip_span v = sip_msg_span(&m, m.hdr[i].value), uri, par, t;
			struct sip_uri u;

			if (m.request)
				sip_auth_check(&nonces, "example.com", sip_msg_span(&m, m.method),
					       sip_msg_span(&m, m.uri), v, 100, id, sizeof(id),
					       &why);

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
