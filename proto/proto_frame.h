/* proto_frame: the ingest stream's framing (a protobuf varint length, then a
 * pna.Frame) and encode/decode helpers. Pure functions over buffers: no I/O,
 * fuzzed by tests/fuzz/fuzz_frame.c. Used by the router and the connectors. */
#ifndef PNA_PROTO_FRAME_H
#define PNA_PROTO_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "pna.pb-c.h"

#define PNA_PROTO_VERSION 1
#define PROTO_VARINT_MAX 10

struct arena;

/* Find the first frame in buf[0..len). Returns the bytes it occupies (header
 * and payload) and sets *payload and *plen; -EAGAIN when more bytes are needed;
 * -EBADMSG for a varint longer than 10 bytes; -EMSGSIZE when the announced
 * length is above max_frame. *why gets a static reason on error. */
int proto_frame_split(const uint8_t *buf, size_t len, size_t max_frame, const uint8_t **payload,
		      size_t *plen, const char **why);

/* Decode a frame payload into `a` (nothing else is allocated). NULL when the
 * bytes are not a valid pna.Frame; the result lives until arena_reset. */
Pna__Frame *proto_frame_decode(const uint8_t *payload, size_t plen, struct arena *a);

/* Write varint length + packed frame into buf. Bytes written or -ENOSPC. */
int proto_frame_encode(const Pna__Frame *f, uint8_t *buf, size_t cap);
/* Bytes proto_frame_encode will write for f. */
size_t proto_frame_size(const Pna__Frame *f);

/* Encode a varint; returns bytes written (cap must be >= 10). */
size_t proto_varint_put(uint8_t *buf, uint64_t v);

/* Encode an Error frame with `code` and `reason`. Bytes written or -ENOSPC. */
int proto_frame_error(uint8_t *buf, size_t cap, Pna__ErrorCode code, const char *reason);
/* Encode an Ack frame for `seq`. Bytes written or -ENOSPC. */
int proto_frame_ack(uint8_t *buf, size_t cap, uint64_t seq);

#endif
