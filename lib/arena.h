/* arena: a bump allocator that protobuf-c decodes into, reset once per batch,
 * so decoding a batch allocates nothing once the arena has grown to the
 * largest batch seen. Not thread-safe; one arena per decoding loop. */
#ifndef PNA_ARENA_H
#define PNA_ARENA_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

struct arena;

/* An arena whose first chunk holds `initial` bytes. Aborts on OOM (control
 * plane). The caller owns the result; free it with arena_destroy. */
struct arena *arena_create(size_t initial);
void arena_destroy(struct arena *a); /* accepts NULL */

/* 16-byte aligned memory valid until the next arena_reset, or NULL when the
 * request would take the arena past its hard limit (16 x initial). */
void *arena_alloc(struct arena *a, size_t size);

/* Forget every allocation. Overflow chunks are merged into one first chunk
 * large enough for the whole last cycle, so a steady load stops growing. */
void arena_reset(struct arena *a);

/* A protobuf-c allocator backed by `a` (free is a no-op). Valid while `a`
 * lives. */
ProtobufCAllocator *arena_allocator(struct arena *a);

#endif
