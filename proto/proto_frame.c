/* proto_frame: varint framing and protobuf-c glue for the ingest protocol. */
#include "proto_frame.h"

#include <errno.h>

#include "lib/arena.h"

int proto_frame_split(const uint8_t *buf, size_t len, size_t max_frame, const uint8_t **payload,
		      size_t *plen, const char **why)
{
	uint64_t v = 0;
	size_t i;

	for (i = 0; i < len && i < PROTO_VARINT_MAX; i++) {
		v |= (uint64_t)(buf[i] & 0x7f) << (7 * i);
		if (!(buf[i] & 0x80))
			break;
	}
	if (i == PROTO_VARINT_MAX) {
		*why = "frame length varint is longer than 10 bytes";
		return -EBADMSG;
	}
	if (i == len) {
		*why = "truncated frame length varint";
		return -EAGAIN;
	}
	if (v > max_frame) {
		*why = "frame is larger than max_frame";
		return -EMSGSIZE;
	}
	i++;
	if (len - i < v) {
		*why = "truncated frame";
		return -EAGAIN;
	}
	*payload = buf + i;
	*plen = (size_t)v;
	return (int)(i + v);
}

Pna__Frame *proto_frame_decode(const uint8_t *payload, size_t plen, struct arena *a)
{
	return pna__frame__unpack(arena_allocator(a), plen, payload);
}

size_t proto_varint_put(uint8_t *buf, uint64_t v)
{
	size_t n = 0;

	while (v >= 0x80) {
		buf[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	buf[n++] = (uint8_t)v;
	return n;
}

size_t proto_frame_size(const Pna__Frame *f)
{
	uint8_t tmp[PROTO_VARINT_MAX];
	size_t body = pna__frame__get_packed_size(f);

	return proto_varint_put(tmp, body) + body;
}

int proto_frame_encode(const Pna__Frame *f, uint8_t *buf, size_t cap)
{
	size_t body = pna__frame__get_packed_size(f);
	uint8_t tmp[PROTO_VARINT_MAX];
	size_t hl = proto_varint_put(tmp, body);

	if (hl + body > cap)
		return -ENOSPC;
	proto_varint_put(buf, body);
	pna__frame__pack(f, buf + hl);
	return (int)(hl + body);
}

int proto_frame_error(uint8_t *buf, size_t cap, Pna__ErrorCode code, const char *reason)
{
	Pna__Frame f = PNA__FRAME__INIT;
	Pna__Error e = PNA__ERROR__INIT;

	e.code = code;
	e.reason = (char *)reason;
	f.msg_case = PNA__FRAME__MSG_ERROR;
	f.error = &e;
	return proto_frame_encode(&f, buf, cap);
}

int proto_frame_ack(uint8_t *buf, size_t cap, uint64_t seq)
{
	Pna__Frame f = PNA__FRAME__INIT;
	Pna__Ack a = PNA__ACK__INIT;

	a.seq = seq;
	f.msg_case = PNA__FRAME__MSG_ACK;
	f.ack = &a;
	return proto_frame_encode(&f, buf, cap);
}
