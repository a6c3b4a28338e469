/* test_ring: the SPSC ring keeps records whole and in order across many
 * wrap-arounds, reports full and empty, lets the consumer look ahead and
 * release a prefix at once, works across two processes, and a prefaulted
 * mapping takes no page faults when the records are written. */
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "lib/ring.h"

#define DATA 4096u

static struct ring *ring_new(size_t data, int shared)
{
	size_t sz = ring_footprint(data);
	struct ring *r =
		shared ? mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0)
		       : aligned_alloc(64, sz);

	CHECK(r != NULL && r != MAP_FAILED);
	memset(r, 0, sz);
	ring_init(r, data);
	return r;
}

/* Record i has length 1 + (i * 37) % 300 and bytes (i + k) & 0xff. */
static uint32_t rec_len(uint32_t i)
{
	return 1 + (i * 37) % 300;
}

static int produce(struct ring *r, uint32_t i)
{
	uint32_t len = rec_len(i);
	unsigned char *p = ring_reserve(r, len);

	if (!p)
		return 0;
	for (uint32_t k = 0; k < len; k++)
		p[k] = (unsigned char)(i + k);
	ring_commit(r, len);
	return 1;
}

static int consume(struct ring *r, uint32_t i)
{
	uint32_t len;
	uint64_t pos;
	const unsigned char *p = ring_peek(r, &len, &pos);
	int ok = 1;

	if (!p)
		return -1;
	if (len != rec_len(i))
		ok = 0;
	for (uint32_t k = 0; ok && k < len; k++)
		ok = p[k] == (unsigned char)(i + k);
	ring_release(r);
	return ok;
}

static void test_wrap_single_thread(void)
{
	struct ring *r = ring_new(DATA, 0);
	uint32_t in = 0, out = 0, bad = 0;
	uint64_t pos0, pos1;
	uint32_t len;

	CHECK(ring_peek(r, &len, &pos0) == NULL);
	/* Fill until full, drain half, repeat: wraps about 100 times. */
	while (out < 20000) {
		while (in - out < 1000 && produce(r, in))
			in++;
		for (int k = 0; k < 7 && out < in; k++, out++)
			bad += consume(r, out) != 1;
	}
	CHECK_EQ(bad, 0);
	/* A full ring refuses, and accepts again after one release. */
	while (produce(r, in))
		in++;
	CHECK(ring_reserve(r, rec_len(in)) == NULL);
	CHECK(ring_producer_wait(r, rec_len(in)));
	CHECK(consume(r, out++) == 1);
	CHECK(ring_producer_waiting(r));
	/* Positions are monotonic and unique. */
	CHECK(ring_peek(r, &len, &pos0) != NULL);
	ring_release(r);
	out++;
	CHECK(ring_peek(r, &len, &pos1) != NULL);
	CHECK(pos1 > pos0);
	CHECK(ring_reserve(r, ring_max_record(r) + 1) == NULL);
	free(r);
}

static void test_wait_flags(void)
{
	struct ring *r = ring_new(DATA, 0);

	CHECK(ring_consumer_wait(r)); /* empty: may sleep */
	CHECK(produce(r, 1));
	CHECK(ring_consumer_waiting(r));  /* producer must wake it */
	CHECK(!ring_consumer_waiting(r)); /* and only once */
	CHECK(!ring_consumer_wait(r));	  /* not empty: do not sleep */
	free(r);
}

/* ring_peek_from walks ahead of the tail (over pads) without releasing;
 * ring_release_to frees a whole prefix at once, across many wraps. */
static void test_peek_from_release_to(void)
{
	struct ring *r = ring_new(DATA, 0);
	uint32_t in = 0, out = 0, bad = 0, len;
	uint64_t pos, next, used;
	const unsigned char *p;

	CHECK(ring_peek(r, &len, &pos) == NULL);
	while (out < 20000) {
		while (in - out < 50 && produce(r, in))
			in++;
		CHECK(ring_peek(r, &len, &pos) != NULL);
		used = ring_used(r);
		/* Look at up to 9 records, then release them in one go. */
		uint32_t k = 0;
		for (; k < 9 && (p = ring_peek_from(r, pos, &len, &next)) != NULL; k++) {
			bad += len != rec_len(out + k);
			for (uint32_t j = 0; j < len && len == rec_len(out + k); j++)
				bad += p[j] != (unsigned char)(out + k + j);
			pos = next;
		}
		bad += ring_used(r) != used; /* nothing released yet */
		ring_release_to(r, pos);
		out += k;
	}
	CHECK_EQ(bad, 0);
	/* Everything peeked ahead and released: empty, and the tail is the head. */
	while (out < in) {
		CHECK(ring_peek(r, &len, &pos) != NULL);
		while (ring_peek_from(r, pos, &len, &next)) {
			pos = next;
			out++;
		}
		ring_release_to(r, pos);
	}
	CHECK_EQ(ring_used(r), 0);
	CHECK(ring_peek(r, &len, &pos) == NULL);
	/* Releasing to ring_next_pos equals ring_release. */
	CHECK(produce(r, in));
	CHECK(produce(r, in + 1));
	CHECK(ring_peek(r, &len, &pos) != NULL);
	ring_release_to(r, ring_next_pos(r));
	CHECK_EQ(consume(r, in + 1), 1);
	CHECK_EQ(ring_used(r), 0);
	free(r);
}

static void test_two_processes(void)
{
	struct ring *r = ring_new(1u << 16, 1);
	const uint32_t n = 200000;
	pid_t pid = fork();
	int status;

	if (pid == 0) {
		for (uint32_t i = 0; i < n;)
			i += produce(r, i);
		_exit(0);
	}
	uint32_t bad = 0;
	for (uint32_t i = 0; i < n;) {
		int c = consume(r, i);

		if (c < 0)
			continue;
		bad += c != 1;
		i++;
	}
	waitpid(pid, &status, 0);
	CHECK_EQ(bad, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	munmap(r, ring_footprint(1u << 16));
}

static long minor_faults(void)
{
	struct rusage u;

	CHECK_EQ(getrusage(RUSAGE_SELF, &u), 0);
	return u.ru_minflt;
}

/* Faults taken writing one byte per page of the data of a ring mapped anew
 * from fd (as a second process maps a shard's segment), prefaulted or not. */
static long faults_writing(int fd, size_t sz, int prefault)
{
	struct ring *r = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	long before;

	CHECK(r != MAP_FAILED);
	if (prefault && ring_prefault(r) < 0) {
		munmap(r, sz);
		return -1; /* a kernel before 5.14: no MADV_POPULATE_WRITE */
	}
	before = minor_faults();
	for (size_t off = 0; off < r->size; off += 4096)
		((volatile unsigned char *)r->data)[off] = 1;
	before = minor_faults() - before;
	munmap(r, sz);
	return before;
}

static void test_prefault(void)
{
	const size_t data = 1u << 20, sz = ring_footprint(data);
	int fd = memfd_create("test_ring", 0);
	struct ring *r;
	long cold, warm;

	CHECK(fd >= 0);
	CHECK_EQ(ftruncate(fd, (off_t)sz), 0);
	r = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CHECK(r != MAP_FAILED);
	ring_init(r, data);
	cold = faults_writing(fd, sz, 0);
	warm = faults_writing(fd, sz, 1);
	/* One fault per page without; with, none of the ring's own (under
	 * ASan a few on the shadow of the new mapping, an eighth at most). */
	CHECK(cold >= (long)(data / 4096));
	if (warm >= 0)
		CHECK(warm <= cold / 8 + 4);
	munmap(r, sz);
	close(fd);
}

int main(void)
{
	test_wrap_single_thread();
	test_wait_flags();
	test_peek_from_release_to();
	test_two_processes();
	test_prefault();
	return check_summary();
}
