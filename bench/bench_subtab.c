/* bench_subtab: subscription specs and tables for the benches (see
 * bench_subtab.h). Runs in pna-bench and pna-micro. */
#include "bench/bench_subtab.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Subscriptions per account and tenths of the accounts, per group. */
static const uint32_t group_tenths[BENCH_NGROUPS] = { 1, 4, 1, 1, 1 };
static const uint32_t group_subs[BENCH_NGROUPS] = { 0, 1, 2, 3, 1 };

uint64_t bench_subtab_rng(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

size_t bench_subtab_account(char *out, uint32_t k)
{
	memcpy(out, "user", 4);
	for (int d = 10; d >= 4; d--, k /= 10)
		out[d] = (char)('0' + k % 10);
	memcpy(out + 11, "@example.com", 13);
	return 23;
}

static void hex(char *out, size_t n, uint64_t *rng)
{
	for (size_t i = 0; i < n; i++)
		out[i] = "0123456789abcdef"[bench_subtab_rng(rng) & 15];
}

void bench_subtab_spec_xmpp(struct sub_spec *s, uint32_t k)
{
	s->id = 0;
	s->transport = SUB_XMPP;
	s->depth = SUB_EXACT;
	s->events = 0;
	s->expires = BENCH_SUBTAB_NOW + 86400;
	s->heartbeat = 0;
	bench_subtab_account(s->account, k);
	memcpy(s->path, "INBOX", 6);
	memcpy(s->subscriber, s->account, 24);
	memcpy(s->target, s->account, 24);
}

void bench_subtab_spec_sip(struct sub_spec *s, uint32_t k, uint64_t *rng)
{
	char *p = s->target;

	bench_subtab_spec_xmpp(s, k);
	s->transport = SUB_SIP;
	s->expires = BENCH_SUBTAB_NOW + 3600;
	memcpy(s->subscriber, "sip:", 4);
	memcpy(s->subscriber + 4, s->account, 24);
	hex(p, 36, rng);
	p[8] = p[13] = p[18] = p[23] = '-';
	p[36] = '\n';
	hex(p + 37, 10, rng);
	p[47] = '\n';
	hex(p + 48, 10, rng);
	p[58] = '\n';
	p += 59;
	memcpy(p, "sip:", 4);
	memcpy(p + 4, s->account, 11);
	memcpy(p + 15, "@10.0.0.1:5060\n", 15);
	sprintf(p + 30, "<sip:cna%u.example.net;lr>", (unsigned)(k % 4));
}

int bench_subtab_new(struct bench_subtab *x, uint32_t cap, uint64_t string_bytes)
{
	memset(x, 0, sizeof(*x));
	x->bytes = sub_table_footprint(cap, string_bytes);
	x->region = malloc(x->bytes);
	if (!x->region)
		return -1;
	sub_table_format(x->region, x->bytes, cap, string_bytes);
	x->t = sub_table_attach(x->region);
	return x->t ? 0 : -1;
}

void bench_subtab_free(struct bench_subtab *x)
{
	sub_table_close(x->t);
	free(x->region);
	x->t = NULL;
	x->region = NULL;
}

int bench_subtab_load_mixed(struct bench_subtab *x, uint32_t n)
{
	struct sub_spec s;
	uint64_t rng = 7;
	const char *why = NULL;
	uint32_t k = 0;

	memset(&s, 0, sizeof(s));
	if (bench_subtab_new(x, n + 64, (uint64_t)n * 40 + (1u << 20)) < 0)
		return -1;
	for (int g = 0; g < BENCH_NGROUPS; g++) {
		x->first[g] = k;
		x->count[g] = n / 10 * group_tenths[g];
		for (; k < x->first[g] + x->count[g]; k++) {
			for (uint32_t j = 0; j < group_subs[g]; j++) {
				j == 1 ? bench_subtab_spec_sip(&s, k, &rng)
				       : bench_subtab_spec_xmpp(&s, k);
				if (j == 2)
					sprintf(s.subscriber, "grantee%u@other.org", k);
				if (g == BENCH_G_SUBTREE) {
					s.path[0] = '\0';
					s.depth = SUB_SUBTREE;
				}
				if (sub_table_add(x->t, &s, BENCH_SUBTAB_NOW, &why) < 0) {
					fprintf(stderr, "bench: mixed table: %s\n", why);
					return -1;
				}
			}
		}
	}
	return 0;
}
