/* test_slots: the slot allocator (last given back, first handed out; the
 * in-use list a scan walks) and the SIP client transactions built on it:
 * a reused slot's old branch no longer matches, and Timers E and F reach
 * every transaction in use while the scan frees some. */
#include <string.h>

#include "check.h"
#include "egress/sip/sip_trans.h"
#include "lib/slots.h"

static void test_order(void)
{
	struct slots s;

	CHECK_EQ(slots_init(&s, 4), 0);
	CHECK_EQ(slots_take(&s), 0);
	CHECK_EQ(slots_take(&s), 1);
	CHECK_EQ(slots_take(&s), 2);
	slots_put(&s, 1);
	CHECK_EQ(slots_take(&s), 1); /* the one given back last, not 3 */
	CHECK_EQ(slots_take(&s), 3);
	CHECK_EQ(slots_take(&s), SLOTS_NONE);
	CHECK_EQ(slots_nlive(&s), 4);
	slots_put(&s, 0);
	slots_put(&s, 3);
	CHECK_EQ(slots_take(&s), 3);
	CHECK_EQ(slots_take(&s), 0);
	slots_fini(&s);
}

/* The live list holds exactly the slots in use, whatever the order of puts. */
static void test_live(void)
{
	struct slots s;
	uint8_t in_use[64] = { 0 };
	unsigned bad = 0;

	CHECK_EQ(slots_init(&s, 64), 0);
	for (int i = 0; i < 64; i++)
		in_use[slots_take(&s)] = 1;
	for (uint32_t i = 0; i < 64; i += 3) {
		slots_put(&s, i);
		in_use[i] = 0;
	}
	CHECK_EQ(slots_nlive(&s), 64 - 22);
	for (uint32_t k = 0; k < slots_nlive(&s); k++)
		bad += !in_use[slots_live(&s, k)];
	CHECK_EQ(bad, 0);
	/* a scan from the end that gives back every odd slot sees each once */
	{
		uint8_t seen[64] = { 0 };

		for (uint32_t k = slots_nlive(&s); k-- > 0;) {
			uint32_t x = slots_live(&s, k);

			seen[x]++;
			if (x & 1)
				slots_put(&s, x);
		}
		for (uint32_t i = 0; i < 64; i++)
			bad += seen[i] != in_use[i];
		CHECK_EQ(bad, 0);
	}
	for (uint32_t k = 0; k < slots_nlive(&s); k++)
		bad += slots_live(&s, k) & 1;
	CHECK_EQ(bad, 0);
	slots_fini(&s);
}

static struct sip_span span(const char *s)
{
	return (struct sip_span){ s, strlen(s) };
}

static void test_trans_reuse(void)
{
	struct sip_trans *t = sip_trans_new(8);
	char b1[32], b2[32], via[48];
	struct sip_tr *a = sip_trans_alloc(t, b1, sizeof(b1)), *b;

	CHECK(a != NULL);
	sip_trans_done(t, a);
	b = sip_trans_alloc(t, b2, sizeof(b2));
	CHECK(b == a); /* the slot just freed, still in the cache */
	CHECK(strcmp(b1, b2) != 0);
	snprintf(via, sizeof(via), "z9hG4bK%s", b1);
	CHECK(sip_trans_match(t, span(via)) == NULL); /* the old answer: stale */
	snprintf(via, sizeof(via), "z9hG4bK%s", b2);
	CHECK(sip_trans_match(t, span(via)) == b);
	CHECK_EQ(sip_trans_active(t), 1);
	sip_trans_free(t);
}

static unsigned resent, timed_out;

static void on_resend(void *arg, struct sip_tr *tr)
{
	(void)arg;
	(void)tr;
	resent++;
}

static void on_timeout(void *arg, struct sip_tr *tr)
{
	(void)arg;
	(void)tr;
	timed_out++;
}

/* Half the transactions answered, the rest retransmitted at T1 and ended
 * by Timer F: the scan reaches each, including those it frees. */
static void test_trans_timers(void)
{
	struct sip_trans *t = sip_trans_new(64);
	struct sip_tr *tr[40];
	char br[32];

	for (int i = 0; i < 40; i++) {
		tr[i] = sip_trans_alloc(t, br, sizeof(br));
		tr[i]->to.tp = SIP_TP_UDP;
		sip_trans_start(t, tr[i], 0);
	}
	for (int i = 0; i < 40; i += 2)
		sip_trans_done(t, tr[i]);
	sip_trans_tick(t, SIP_T1_MS, on_resend, on_timeout, NULL);
	CHECK_EQ(resent, 20);
	CHECK_EQ(timed_out, 0);
	sip_trans_tick(t, SIP_TF_MS, on_resend, on_timeout, NULL);
	CHECK_EQ(timed_out, 20);
	CHECK_EQ(sip_trans_active(t), 0);
	sip_trans_free(t);
}

/* Every other transaction started later: Timer F ends the first ones in
 * the middle of the in-use list, whose last entries move into their
 * places during the scan; each is still reached once, none twice. */
static void test_trans_timers_interleaved(void)
{
	struct sip_trans *t = sip_trans_new(64);
	char br[32];

	resent = timed_out = 0;
	for (int i = 0; i < 40; i++) {
		struct sip_tr *tr = sip_trans_alloc(t, br, sizeof(br));

		tr->to.tp = SIP_TP_TCP; /* no Timer E: F alone */
		sip_trans_start(t, tr, i % 2 ? 1000 : 0);
	}
	sip_trans_tick(t, SIP_TF_MS, on_resend, on_timeout, NULL);
	CHECK_EQ(timed_out, 20);
	CHECK_EQ(sip_trans_active(t), 20);
	sip_trans_tick(t, SIP_TF_MS + 1000, on_resend, on_timeout, NULL);
	CHECK_EQ(timed_out, 40);
	CHECK_EQ(resent, 0);
	CHECK_EQ(sip_trans_active(t), 0);
	sip_trans_free(t);
}

int main(void)
{
	test_order();
	test_live();
	test_trans_reuse();
	test_trans_timers();
	test_trans_timers_interleaved();
	return check_summary();
}
