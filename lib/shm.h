/* shm: named POSIX shared-memory segments that outlive the processes using
 * them. Every segment starts with struct shm_hdr; a segment whose magic,
 * version, kind or size does not match is treated as absent and recreated,
 * which is how a restarted process tells "re-attach" from "cold start". */
#ifndef PNA_SHM_H
#define PNA_SHM_H

#include <stddef.h>
#include <stdint.h>

#define SHM_MAGIC 0x504e4144u /* "PNAD" */
#define SHM_VERSION 1u

struct shm_hdr {
	uint32_t magic;
	uint32_t version;
	uint32_t kind;	     /* which layout follows (module-defined) */
	uint32_t ready;	     /* set last, once the creator initialised it */
	uint64_t size;	     /* total mapped bytes */
	uint64_t generation; /* bumped by every process that attaches as writer */
	uint64_t created;    /* unix time */
};

struct shm_seg {
	void *base; /* mapping; starts with struct shm_hdr */
	size_t size;
	int created; /* 1 if this open created (or reset) the segment */
	char name[64];
};

/* Map segment `name` ("/pnad.shard.0") of `size` bytes and `kind`. An
 * existing valid segment is attached as is (created = 0); otherwise a zeroed
 * one is made (created = 1) and the caller must initialise it and then call
 * shm_seg_ready. 0 or -errno. */
int shm_seg_open(const char *name, uint32_t kind, size_t size, struct shm_seg *out);
/* Mark a freshly initialised segment valid. */
void shm_seg_ready(struct shm_seg *s);
/* Map an existing valid segment read-only, whatever its size. 0 or -errno
 * (-ENOENT when absent, -EPROTO when its header is not valid). */
int shm_seg_attach_ro(const char *name, uint32_t kind, struct shm_seg *out);
void shm_seg_close(struct shm_seg *s);
/* Remove the name; mappings stay valid. 0 or -errno. */
int shm_seg_unlink(const char *name);

#endif
