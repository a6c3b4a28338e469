/* test_sip_dlg: the SIP worker's dialog table: CSeq kept across a re-attach
 * of the segment (a restarted worker), and the sweep that drops a dialog
 * only after its subscription was missing on two passes. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "egress/sip/sip_dlg.h"

static uint64_t gone_id;

static bool alive(void *arg, uint16_t shard, uint64_t id)
{
	(void)arg;
	(void)shard;
	return id != gone_id;
}

static bool span_is(struct sip_span sp, const char *want)
{
	return sp.n == strlen(want) && !memcmp(sp.p, want, sp.n);
}

/* The dialog blob, as sip_sub writes it, read back field by field; its last
 * line (account/mailbox) is what the per-NOTIFY path takes the mailbox from. */
static void blob_parse(void)
{
	const char *blob = "v1 ms udp 127.0.0.1 5062\ncall-1\n00000000000000aa\nrt1\n"
			   "sip:bob@127.0.0.1:5062\nsip:bob@example.com\nsip:bob@example.com\n"
			   "<sip:cna.example.net;lr>\n\nbob@example.com/INBOX/Sub";
	struct sip_blob b;

	CHECK_EQ(sip_blob_parse(blob, &b), 0);
	CHECK(!strcmp(b.pkg, "ms") && !strcmp(b.tp, "udp") && !strcmp(b.ip, "127.0.0.1"));
	CHECK_EQ(b.port, 5062);
	CHECK(span_is(b.call_id, "call-1") && span_is(b.rtag, "rt1"));
	CHECK(span_is(b.rtarget, "sip:bob@127.0.0.1:5062"));
	CHECK(span_is(b.route, "<sip:cna.example.net;lr>") && b.event_id.n == 0);
	CHECK(span_is(b.where, "bob@example.com/INBOX/Sub"));
	CHECK(b.where.p[b.where.n] == 0); /* the last line ends the string */
	CHECK_EQ(sip_blob_parse("v2 ms udp 127.0.0.1 5062\ncall-1\n", &b), -EINVAL);
	CHECK_EQ(sip_blob_parse("v1 ms udp 127.0.0.1 70000\ncall-1\n", &b), -EINVAL);
}

int main(void)
{
	char name[64];
	struct shm_seg m;
	struct sip_seg *s;
	struct sip_dlg *d;
	uint32_t cursor = 0;

	blob_parse();
	snprintf(name, sizeof(name), "/pnatest.sipdlg.%d", (int)getpid());
	CHECK_EQ(sip_dlg_open(name, 64, &m), 0);
	CHECK_EQ(m.created, 1);
	s = m.base;
	d = sip_dlg_get(s, 1, 42, 1000);
	CHECK(d && d->cseq == 1000);
	d->cseq += 5;
	CHECK(sip_dlg_get(s, 0, 7, 1) != NULL);
	shm_seg_close(&m);

	/* a restarted worker re-attaches: the CSeq goes on from 1005 */
	CHECK_EQ(sip_dlg_open(name, 64, &m), 0);
	CHECK_EQ(m.created, 0);
	s = m.base;
	d = sip_dlg_find(s, 1, 42);
	CHECK(d && d->cseq == 1005);
	CHECK(sip_dlg_get(s, 1, 42, 1) == d);

	/* the sweep: alive ones stay; a gone one is marked, then dropped */
	gone_id = 42;
	CHECK_EQ(sip_dlg_sweep(s, &cursor, s->cap, alive, NULL), 0);
	CHECK(sip_dlg_find(s, 1, 42) != NULL);
	CHECK(sip_dlg_find(s, 1, 42)->flags & SIP_DLG_ORPHAN);
	CHECK_EQ(sip_dlg_sweep(s, &cursor, s->cap, alive, NULL), 1);
	CHECK(sip_dlg_find(s, 1, 42) == NULL);
	CHECK(sip_dlg_find(s, 0, 7) != NULL);
	CHECK_EQ(s->c.dialogs_swept, 1);
	CHECK_EQ(s->c.dialogs, 1);
	/* found again before the second pass: the mark is cleared */
	gone_id = 7;
	CHECK_EQ(sip_dlg_sweep(s, &cursor, s->cap, alive, NULL), 0);
	gone_id = 0;
	CHECK_EQ(sip_dlg_sweep(s, &cursor, s->cap, alive, NULL), 0);
	CHECK(!(sip_dlg_find(s, 0, 7)->flags & SIP_DLG_ORPHAN));
	/* a slice at a time wraps around the table */
	cursor = s->cap - 2;
	sip_dlg_sweep(s, &cursor, 5, alive, NULL);
	CHECK_EQ(cursor, 3);
	shm_seg_close(&m);
	shm_seg_unlink(name);

	/* records are dense and reused; the index finds past tombstones; a
	 * full table refuses, and takes new ones once some are deleted */
	CHECK_EQ(sip_dlg_open(name, 64, &m), 0);
	s = m.base;
	for (uint64_t id = 1; id <= 64; id++) {
		d = sip_dlg_get(s, 2, id, 1);
		CHECK(d && sip_dlg_slot(s, d) == id - 1);
	}
	CHECK(sip_dlg_get(s, 2, 65, 1) == NULL);
	d = sip_dlg_find(s, 2, 10);
	sip_dlg_del(s, d);
	CHECK(sip_dlg_find(s, 2, 10) == NULL);
	for (uint64_t id = 1; id <= 64; id++)
		CHECK(id == 10 || (sip_dlg_find(s, 2, id) && sip_dlg_find(s, 2, id)->id == id));
	d = sip_dlg_get(s, 3, 10, 7);
	CHECK(d && sip_dlg_slot(s, d) == 9 && d->cseq == 7 && d->shard == 3);
	CHECK(sip_dlg_find(s, 2, 10) == NULL && sip_dlg_find(s, 3, 10) == d);
	CHECK_EQ(s->c.dialogs, 64);
	shm_seg_close(&m);
	shm_seg_unlink(name);
	return check_summary();
}
