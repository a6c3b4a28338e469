/* arena: chunked bump allocator. The first chunk is reused across resets;
 * chunks added during a cycle are freed at reset and the first chunk is grown
 * to the cycle's high-water mark. */
#include "arena.h"

#include <stdint.h>
#include <stdlib.h>

struct arena_chunk {
	struct arena_chunk *next;
	size_t size;
	size_t used;
	_Alignas(16) unsigned char data[];
};

struct arena {
	struct arena_chunk *head; /* current chunk; the list ends at first */
	struct arena_chunk *first;
	size_t cycle_bytes; /* bytes handed out since the last reset */
	size_t limit;
	ProtobufCAllocator pb;
};

static struct arena_chunk *chunk_new(size_t size)
{
	struct arena_chunk *c = malloc(sizeof(*c) + size);

	if (!c)
		abort();
	c->next = NULL;
	c->size = size;
	c->used = 0;
	return c;
}

static void *pb_alloc(void *data, size_t size)
{
	return arena_alloc(data, size);
}

static void pb_free(void *data, void *ptr)
{
	(void)data;
	(void)ptr;
}

struct arena *arena_create(size_t initial)
{
	struct arena *a = calloc(1, sizeof(*a));

	if (!a)
		abort();
	if (initial < 4096)
		initial = 4096;
	a->first = a->head = chunk_new(initial);
	a->limit = initial * 16;
	a->pb.alloc = pb_alloc;
	a->pb.free = pb_free;
	a->pb.allocator_data = a;
	return a;
}

void arena_destroy(struct arena *a)
{
	struct arena_chunk *c, *next;

	if (!a)
		return;
	for (c = a->head; c; c = next) {
		next = c->next;
		free(c);
	}
	free(a);
}

void *arena_alloc(struct arena *a, size_t size)
{
	struct arena_chunk *c = a->head;
	size_t need = (size + 15) & ~(size_t)15;
	void *p;

	if (need < size || a->cycle_bytes + need > a->limit)
		return NULL;
	if (c->size - c->used < need) {
		size_t sz = c->size * 2 > need ? c->size * 2 : need;

		c = chunk_new(sz);
		c->next = a->head;
		a->head = c;
	}
	p = c->data + c->used;
	c->used += need;
	a->cycle_bytes += need;
	return p;
}

void arena_reset(struct arena *a)
{
	struct arena_chunk *c, *next;

	if (a->head != a->first) {
		size_t want = a->cycle_bytes;

		for (c = a->head; c; c = next) {
			next = c->next;
			free(c);
		}
		a->first = a->head = chunk_new(want);
	}
	a->first->used = 0;
	a->cycle_bytes = 0;
}

ProtobufCAllocator *arena_allocator(struct arena *a)
{
	return &a->pb;
}
