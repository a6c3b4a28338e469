/* shm: shm_open + ftruncate + mmap with a validated header. */
#include "shm.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int hdr_valid(const struct shm_hdr *h, uint32_t kind, size_t size)
{
	return h->magic == SHM_MAGIC && h->version == SHM_VERSION && h->kind == kind &&
	       h->size == size && __atomic_load_n(&h->ready, __ATOMIC_ACQUIRE) == 1;
}

int shm_seg_open(const char *name, uint32_t kind, size_t size, struct shm_seg *out)
{
	struct shm_hdr *h;
	struct stat st;
	void *base;
	int fd, err;

	memset(out, 0, sizeof(*out));
	fd = shm_open(name, O_RDWR | O_CREAT, 0600);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		goto err_close;
	if ((size_t)st.st_size != size) {
		/* Wrong size: the layout changed, start from zero. */
		if (ftruncate(fd, 0) < 0 || ftruncate(fd, (off_t)size) < 0)
			goto err_close;
	}
	base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (base == MAP_FAILED)
		goto err_close;
	close(fd);
	h = base;
	out->base = base;
	out->size = size;
	snprintf(out->name, sizeof(out->name), "%s", name);
	if (!hdr_valid(h, kind, size)) {
		memset(base, 0, sizeof(*h));
		h->magic = SHM_MAGIC;
		h->version = SHM_VERSION;
		h->kind = kind;
		h->size = size;
		h->created = (uint64_t)time(NULL);
		out->created = 1;
	}
	h->generation++;
	return 0;

err_close:
	err = -errno;
	close(fd);
	return err;
}

void shm_seg_ready(struct shm_seg *s)
{
	struct shm_hdr *h = s->base;

	__atomic_store_n(&h->ready, 1, __ATOMIC_RELEASE);
}

int shm_seg_attach_ro(const char *name, uint32_t kind, struct shm_seg *out)
{
	struct stat st;
	void *base;
	int fd, err;

	memset(out, 0, sizeof(*out));
	fd = shm_open(name, O_RDONLY, 0);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		goto err_close;
	if ((size_t)st.st_size < sizeof(struct shm_hdr)) {
		close(fd);
		return -EPROTO;
	}
	base = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	if (base == MAP_FAILED)
		goto err_close;
	close(fd);
	out->base = base;
	out->size = (size_t)st.st_size;
	snprintf(out->name, sizeof(out->name), "%s", name);
	if (!hdr_valid(base, kind, out->size)) {
		shm_seg_close(out);
		return -EPROTO;
	}
	return 0;

err_close:
	err = -errno;
	close(fd);
	return err;
}

void shm_seg_close(struct shm_seg *s)
{
	if (s->base)
		munmap(s->base, s->size);
	s->base = NULL;
}

int shm_seg_unlink(const char *name)
{
	return shm_unlink(name) < 0 ? -errno : 0;
}
