/* bench_subtab: the subscription tables the benches build (malloc'd regions,
 * no pnad): the subscription specs of `pna-bench subs` (an XMPP JID on
 * INBOX; a SIP dialog with a CNA's route set) and its mixed table of
 * accounts with 0 to 3 subscribers. Used by bench_subs.c and by the
 * micro-benchmarks (bench/micro/). */
#ifndef PNA_BENCH_SUBTAB_H
#define PNA_BENCH_SUBTAB_H

#include <stddef.h>
#include <stdint.h>

#include "shard/sub_table.h"

#define BENCH_SUBTAB_NOW 1800000000u /* the "now" every add uses */

/* Groups of the mixed table, in tenths of its accounts: 0 to 3 exact
 * subscriptions on INBOX (XMPP owner, SIP owner, XMPP grantee), or one
 * root subtree subscription. */
enum { BENCH_G_NONE, BENCH_G_ONE, BENCH_G_TWO, BENCH_G_THREE, BENCH_G_SUBTREE, BENCH_NGROUPS };

struct bench_subtab {
	void *region; /* owned */
	size_t bytes;
	struct sub_table *t; /* owned */
	/* load_mixed: accounts first[g] .. first[g] + count[g] - 1 are group g */
	uint32_t first[BENCH_NGROUPS], count[BENCH_NGROUPS];
};

/* xorshift64: the benches' fixed-seed generator. */
uint64_t bench_subtab_rng(uint64_t *s);
/* Account k as "user0001234@example.com" (NUL-terminated, 24 bytes with
 * the NUL, without snprintf); returns its length. */
size_t bench_subtab_account(char *out, uint32_t k);
/* The XMPP subscription of account k on INBOX (a JID target). */
void bench_subtab_spec_xmpp(struct sub_spec *s, uint32_t k);
/* The SIP one: call-id (36), two tags (10), the contact
 * "sip:<user>@10.0.0.1:5060", a CNA's route set (one of 4); rng varies
 * the dialog's hex strings. */
void bench_subtab_spec_sip(struct sub_spec *s, uint32_t k, uint64_t *rng);

/* An empty table for cap subscriptions and string_bytes of pool. 0 or -1
 * (no memory). Free with bench_subtab_free. */
int bench_subtab_new(struct bench_subtab *x, uint32_t cap, uint64_t string_bytes);
void bench_subtab_free(struct bench_subtab *x);
/* A new mixed table of n subscriptions (see the groups above), sets first[]
 * and count[]. 0, or -1 with the reason on stderr. */
int bench_subtab_load_mixed(struct bench_subtab *x, uint32_t n);

#endif
