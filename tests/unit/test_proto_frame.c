/* test_proto_frame: frames split off a stream at every possible boundary of a
 * multi-frame buffer decode to the same frames; malformed lengths fail with
 * their specific error. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "lib/arena.h"
#include "proto/proto_frame.h"

static size_t build_stream(uint8_t *buf, size_t cap)
{
	Pna__Frame f = PNA__FRAME__INIT;
	Pna__Hello h = PNA__HELLO__INIT;
	Pna__Batch b = PNA__BATCH__INIT;
	Pna__Event ev[3], *evp[3];
	size_t n = 0;
	int rc;

	h.version = PNA_PROTO_VERSION;
	h.store_id = "store-1";
	h.credential = "secret";
	f.msg_case = PNA__FRAME__MSG_HELLO;
	f.hello = &h;
	rc = proto_frame_encode(&f, buf + n, cap - n);
	CHECK(rc > 0);
	n += (size_t)rc;
	for (int i = 0; i < 3; i++) {
		pna__event__init(&ev[i]);
		ev[i].type = PNA__EVENT_TYPE__MESSAGE_NEW;
		ev[i].account = "alice@example.com";
		ev[i].mailbox = "INBOX";
		ev[i].has_uid = 1;
		ev[i].uid = 100 + (uint32_t)i;
		evp[i] = &ev[i];
	}
	b.first_seq = 7;
	b.n_events = 3;
	b.events = evp;
	f.msg_case = PNA__FRAME__MSG_BATCH;
	f.batch = &b;
	rc = proto_frame_encode(&f, buf + n, cap - n);
	CHECK(rc > 0);
	n += (size_t)rc;
	rc = proto_frame_ack(buf + n, cap - n, 9);
	CHECK(rc > 0);
	n += (size_t)rc;
	rc = proto_frame_error(buf + n, cap - n, PNA__ERROR_CODE__ERR_BAD_EVENT, "why");
	CHECK(rc > 0);
	n += (size_t)rc;
	return n;
}

/* Feed `len` bytes in two writes split at `cut` into a reassembly buffer and
 * return how many frames decoded, checking each one's content. */
static int feed(const uint8_t *stream, size_t len, size_t cut, struct arena *a)
{
	uint8_t acc[4096];
	size_t have = 0, pieces[2] = { cut, len - cut }, off = 0;
	int frames = 0;

	for (int p = 0; p < 2; p++) {
		memcpy(acc + have, stream + off, pieces[p]);
		have += pieces[p];
		off += pieces[p];
		for (;;) {
			const uint8_t *pl;
			size_t plen;
			const char *why;
			int used = proto_frame_split(acc, have, 1024, &pl, &plen, &why);
			Pna__Frame *f;

			if (used == -EAGAIN)
				break;
			if (used < 0)
				return -1;
			f = proto_frame_decode(pl, plen, a);
			if (!f)
				return -1;
			switch (frames) {
			case 0:
				CHECK(f->msg_case == PNA__FRAME__MSG_HELLO &&
				      strcmp(f->hello->store_id, "store-1") == 0);
				break;
			case 1:
				CHECK(f->msg_case == PNA__FRAME__MSG_BATCH &&
				      f->batch->n_events == 3 && f->batch->first_seq == 7 &&
				      f->batch->events[2]->uid == 102);
				break;
			case 2:
				CHECK(f->msg_case == PNA__FRAME__MSG_ACK && f->ack->seq == 9);
				break;
			case 3:
				CHECK(f->msg_case == PNA__FRAME__MSG_ERROR &&
				      strcmp(f->error->reason, "why") == 0);
				break;
			}
			frames++;
			arena_reset(a);
			memmove(acc, acc + used, have - (size_t)used);
			have -= (size_t)used;
		}
	}
	return have == 0 ? frames : -1;
}

static void test_every_split(void)
{
	uint8_t stream[4096];
	size_t len = build_stream(stream, sizeof(stream));
	struct arena *a = arena_create(4096);
	int bad = 0;

	for (size_t cut = 0; cut <= len; cut++)
		bad += feed(stream, len, cut, a) != 4;
	CHECK_EQ(bad, 0);
	arena_destroy(a);
}

static void test_bad_lengths(void)
{
	const uint8_t too_long[11] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
				       0xff, 0xff, 0xff, 0xff, 0x01 };
	const uint8_t partial[2] = { 0xff, 0xff };
	uint8_t big[PROTO_VARINT_MAX];
	const uint8_t *pl;
	size_t plen, n;
	const char *why = NULL;

	CHECK_EQ(proto_frame_split(too_long, sizeof(too_long), 1024, &pl, &plen, &why), -EBADMSG);
	CHECK(why && strstr(why, "varint"));
	CHECK_EQ(proto_frame_split(partial, sizeof(partial), 1024, &pl, &plen, &why), -EAGAIN);
	n = proto_varint_put(big, 1025);
	CHECK_EQ(proto_frame_split(big, n, 1024, &pl, &plen, &why), -EMSGSIZE);
	CHECK_EQ(proto_frame_split(big, 0, 1024, &pl, &plen, &why), -EAGAIN);
}

static void test_garbage_payload(void)
{
	const uint8_t junk[] = { 0x0b, 0xde, 0xad, 0xbe, 0xef, 0xff,
				 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	struct arena *a = arena_create(4096);
	const uint8_t *pl;
	size_t plen;
	const char *why;

	CHECK_EQ(proto_frame_split(junk, sizeof(junk), 1024, &pl, &plen, &why), 12);
	CHECK(proto_frame_decode(pl, plen, a) == NULL);
	arena_destroy(a);
}

int main(void)
{
	test_every_split();
	test_bad_lengths();
	test_garbage_payload();
	return check_summary();
}
