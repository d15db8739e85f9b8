// SPDX-License-Identifier: MIT
/*
 * Fuzz target: the host-preparation parsers (src/host) and the sysfs
 * helpers under them (sysfs_read, sysfs_read_u64, sysfs_link_name,
 * pci_dev_group, pci_dev_driver in src/core/ and src/pci/), over a fake
 * sysfs whose files, symlinks and directory listings all come from the
 * input; plus the driver state records (assign_host_record_get) read from
 * a file.
 *
 * Input: records u8 kind, u16 length, then length bytes "path\0content":
 *   0 file (content = bytes read), 1 symlink (content = target),
 *   2 directory (content = entry names separated by '\n'),
 *   3 the state record of FH_ADDR (content = the file; path ignored).
 * Every path is relative to the sysfs root, e.g.
 * "bus/pci/devices/0000:00:03.0/vendor".
 *
 * Calls assign_host_device_get(FH_ADDR), assign_host_list(),
 * assign_host_group_report(7) and assign_host_check_device(FH_ADDR), and
 * checks that what they return is NUL-terminated, in range and sorted
 * as documented; LeakSanitizer checks every error path frees.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"
#include "core/sys.h"
#include "host/host.h"
#include <libassign/host.h>
#include <libassign/libassign.h>

#define FH_ADDR "0000:00:03.0"
#define MAX_ENTRIES 256
#define MAX_FDS 32

struct fh_entry {
	uint8_t kind;
	const char *path; /* NUL-terminated inside the copy of the input */
	const char *content;
	size_t len;
};

static struct {
	char *copy; /* the input, copied so paths can be NUL-terminated */
	struct fh_entry e[MAX_ENTRIES];
	size_t n;
	const struct fh_entry *fds[MAX_FDS];
	size_t open_fds;
} fh;

static char state_dir[64];

static void fh_parse(const uint8_t *data, size_t size)
{
	struct fuzz_in in;
	char *p;

	fh.copy = malloc(size + 1);
	if (!fh.copy)
		abort();
	memcpy(fh.copy, data, size);
	fh.copy[size] = '\0';
	fh.n = 0;
	p = fh.copy;
	fuzz_in_init(&in, (const uint8_t *)p, size);
	while (in.left >= 3 && fh.n < MAX_ENTRIES) {
		struct fh_entry *e = &fh.e[fh.n];
		size_t len, plen;
		char *body;

		e->kind = fuzz_u8(&in);
		len = fuzz_u16(&in);
		if (len > in.left)
			len = in.left;
		body = (char *)in.p;
		in.p += len;
		in.left -= len;
		plen = strnlen(body, len);
		if (plen == len)
			continue; /* no path terminator: not a record */
		e->path = body;
		e->content = body + plen + 1;
		e->len = len - plen - 1;
		fh.n++;
	}
}

static const struct fh_entry *fh_find(int kind, const char *path)
{
	for (size_t i = 0; i < fh.n; i++)
		if (fh.e[i].kind == kind && strcmp(fh.e[i].path, path) == 0)
			return &fh.e[i];
	return NULL;
}

static int fh_open(void *data, const char *path, int flags)
{
	return -ENOENT;
}

static int fh_openat(void *data, int dirfd, const char *path, int flags)
{
	const struct fh_entry *e = fh_find(0, path);

	if (!e)
		return fh_find(2, path) ? -EISDIR : -ENOENT;
	/* Writes (driver_override, bind, ...) go nowhere. */
	for (int i = 0; i < MAX_FDS; i++) {
		if (!fh.fds[i]) {
			fh.fds[i] = e;
			fh.open_fds++;
			return 100 + i;
		}
	}
	return -EMFILE;
}

static int fh_close(void *data, int fd)
{
	FUZZ_CHECK(fd >= 100 && fd < 100 + MAX_FDS && fh.fds[fd - 100]);
	fh.fds[fd - 100] = NULL;
	fh.open_fds--;
	return 0;
}

static int fh_ioctl(void *data, int fd, unsigned long req, void *arg)
{
	return -ENOTTY;
}

static ssize_t fh_pread(void *data, int fd, void *buf, size_t count,
			uint64_t offset)
{
	const struct fh_entry *e;

	FUZZ_CHECK(fd >= 100 && fd < 100 + MAX_FDS && fh.fds[fd - 100]);
	e = fh.fds[fd - 100];
	if (offset >= e->len)
		return 0;
	count = MIN(count, e->len - (size_t)offset);
	memcpy(buf, e->content + offset, count);
	return (ssize_t)count;
}

static ssize_t fh_pwrite(void *data, int fd, const void *buf, size_t count,
			 uint64_t offset)
{
	FUZZ_CHECK(fd >= 100 && fd < 100 + MAX_FDS && fh.fds[fd - 100]);
	return (ssize_t)count;
}

static ssize_t fh_read(void *data, int fd, void *buf, size_t count)
{
	FUZZ_CHECK(fd >= 100 && fd < 100 + MAX_FDS && fh.fds[fd - 100]);
	return -EINVAL;
}

static ssize_t fh_write(void *data, int fd, const void *buf, size_t count)
{
	FUZZ_CHECK(fd >= 100 && fd < 100 + MAX_FDS && fh.fds[fd - 100]);
	return -EINVAL;
}

static int fh_mmap(void *data, void *addr, size_t length, int prot, int flags,
		   int fd, uint64_t offset, void **ret)
{
	return -ENODEV;
}

static int fh_munmap(void *data, void *addr, size_t length)
{
	return -EINVAL;
}

static int fh_madvise(void *data, void *addr, size_t length, int advice)
{
	return 0;
}

static ssize_t fh_readlinkat(void *data, int dirfd, const char *path,
			     char *buf, size_t size)
{
	const struct fh_entry *e = fh_find(1, path);
	size_t n;

	if (!e)
		return fh_find(0, path) ? -EINVAL : -ENOENT;
	/* Like readlink(2): no NUL, truncated to @size. */
	n = MIN(e->len, size);
	memcpy(buf, e->content, n);
	return (ssize_t)n;
}

static int fh_faccessat(void *data, int dirfd, const char *path, int mode)
{
	size_t plen = strlen(path);

	for (size_t i = 0; i < fh.n; i++)
		if (strncmp(fh.e[i].path, path, plen) == 0 &&
		    (fh.e[i].path[plen] == '\0' || fh.e[i].path[plen] == '/'))
			return 0;
	return -ENOENT;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int fh_list_dir(void *data, int dirfd, const char *path, char ***names,
		       size_t *n)
{
	const struct fh_entry *e = fh_find(2, path);
	char **v = NULL;
	size_t cnt = 0, i = 0;

	if (!e)
		return fh_find(0, path) ? -ENOTDIR : -ENOENT;
	for (size_t j = 0; j < e->len; j++)
		if (e->content[j] == '\n' || j + 1 == e->len)
			cnt++;
	v = calloc(cnt ? cnt : 1, sizeof(*v));
	if (!v)
		abort();
	for (size_t start = 0, j = 0; j < e->len; j++) {
		if (e->content[j] != '\n' && j + 1 != e->len)
			continue;
		size_t end = e->content[j] == '\n' ? j : j + 1;

		if (end > start) {
			v[i] = strndup(e->content + start, end - start);
			if (!v[i])
				abort();
			i++;
		}
		start = j + 1;
	}
	qsort(v, i, sizeof(*v), cmp_str);
	*names = v;
	*n = i;
	return 0;
}

static int fh_getrlimit(void *data, int resource, struct rlimit *rlim)
{
	rlim->rlim_cur = rlim->rlim_max = RLIM_INFINITY;
	return 0;
}

/* Descriptors handed in and sockets are not what this kernel fuzzes. */
static int fh_fstat(void *data, int fd, struct stat *st)
{
	(void)data;
	(void)fd;
	(void)st;
	return -EBADF;
}

static ssize_t fh_sendmsg(void *data, int sock, const void *buf, size_t len,
			  const int *fds, size_t nfds)
{
	(void)data;
	(void)sock;
	(void)buf;
	(void)len;
	(void)fds;
	(void)nfds;
	return -ENOTSOCK;
}

static ssize_t fh_recvmsg(void *data, int sock, void *buf, size_t len, int *fds,
			  size_t maxfds, size_t *nfds)
{
	(void)data;
	(void)sock;
	(void)buf;
	(void)len;
	(void)fds;
	(void)maxfds;
	(void)nfds;
	return -ENOTSOCK;
}

static const struct assign_sys_ops fh_ops = {
	.open = fh_open,
	.openat = fh_openat,
	.close = fh_close,
	.ioctl = fh_ioctl,
	.pread = fh_pread,
	.pwrite = fh_pwrite,
	.read = fh_read,
	.write = fh_write,
	.mmap = fh_mmap,
	.munmap = fh_munmap,
	.madvise = fh_madvise,
	.readlinkat = fh_readlinkat,
	.faccessat = fh_faccessat,
	.list_dir = fh_list_dir,
	.getrlimit = fh_getrlimit,
	.fstat = fh_fstat,
	.sendmsg = fh_sendmsg,
	.recvmsg = fh_recvmsg,
};

/* The state directory goes when the process exits normally (libFuzzer's
 * -max_total_time and -runs end with exit()). */
static void remove_state_dir(void)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/%s", state_dir, FH_ADDR);
	unlink(path);
	rmdir(state_dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char tmpl[] = "/tmp/libassign-fuzz-host-XXXXXX";

	setenv("ASSIGN_LOG", "0", 1);
	if (!mkdtemp(tmpl))
		abort();
	snprintf(state_dir, sizeof(state_dir), "%s", tmpl);
	atexit(remove_state_dir);
	return 0;
}

static bool terminated(const char *s, size_t size)
{
	return memchr(s, '\0', size) != NULL;
}

static void check_device(const struct assign_host_device *d)
{
	struct assign_pci_addr a;

	FUZZ_CHECK(terminated(d->address, sizeof(d->address)));
	FUZZ_CHECK(assign_pci_addr_parse(d->address, &a) == 0);
	FUZZ_CHECK(terminated(d->driver, sizeof(d->driver)));
	FUZZ_CHECK(terminated(d->driver_override, sizeof(d->driver_override)));
	FUZZ_CHECK(terminated(d->physfn, sizeof(d->physfn)));
	FUZZ_CHECK(terminated(d->vendor_name, sizeof(d->vendor_name)));
	FUZZ_CHECK(terminated(d->device_name, sizeof(d->device_name)));
	FUZZ_CHECK(d->n_netdevs <= ASSIGN_HOST_MAX_NETDEVS);
	for (unsigned i = 0; i < d->n_netdevs; i++)
		FUZZ_CHECK(terminated(d->netdevs[i], sizeof(d->netdevs[i])));
	FUZZ_CHECK(d->n_vfs == 0 || d->vfs != NULL);
	for (size_t i = 0; i < d->n_vfs; i++)
		FUZZ_CHECK(terminated(d->vfs[i], sizeof(d->vfs[i])));
	FUZZ_CHECK(d->class_code <= 0xffffff);
}

static void write_record(const struct fh_entry *e)
{
	char path[128];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", state_dir, FH_ADDR);
	if (!e) {
		unlink(path);
		return;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		abort();
	if (write(fd, e->content, e->len) != (ssize_t)e->len)
		abort();
	close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct assign_host_opts opts = { .size = sizeof(opts) };
	struct assign_host_group_report *rep = NULL;
	struct assign_host_device *dev = NULL;
	struct assign_host_device_list *all = NULL;
	struct assign_host_record *hrec = NULL;
	struct assign_ctx *ctx = NULL;
	const struct fh_entry *rec = NULL;

	fh_parse(data, size);
	for (size_t i = 0; i < fh.n; i++)
		if (fh.e[i].kind == 3 && !rec)
			rec = &fh.e[i];
	if (assign_ctx_new(&ctx) < 0)
		abort();
	assign_ctx_set_log_priority(ctx, 0);
	if (assign_ctx_set_sys(ctx, &fh_ops, NULL, 999) < 0)
		abort();

	if (assign_host_device_get(ctx, FH_ADDR, &dev) == 0) {
		check_device(dev);
		assign_host_device_free(dev);
	}
	if (assign_host_list(ctx, &all) == 0) {
		FUZZ_CHECK(all->count == 0 || all->devices != NULL);
		for (size_t i = 0; i < all->count; i++) {
			check_device(all->devices[i]);
			if (i)
				FUZZ_CHECK(strcmp(all->devices[i - 1]->address,
						  all->devices[i]->address) <=
					   0);
		}
		assign_host_device_list_free(all);
	}
	if (assign_host_group_report(ctx, 7, &rep) == 0) {
		size_t blocking = 0;

		FUZZ_CHECK(rep->group == 7);
		FUZZ_CHECK(rep->n_members == 0 || rep->members != NULL);
		for (size_t i = 0; i < rep->n_members; i++) {
			const struct assign_host_member *m = rep->members[i];

			FUZZ_CHECK(terminated(m->address, sizeof(m->address)));
			FUZZ_CHECK(terminated(m->driver, sizeof(m->driver)));
			FUZZ_CHECK(terminated(m->reason, sizeof(m->reason)));
			FUZZ_CHECK(terminated(m->fix, sizeof(m->fix)));
			blocking += m->blocks;
		}
		FUZZ_CHECK(blocking == rep->n_blocking);
		FUZZ_CHECK(rep->viable == (rep->n_blocking == 0));
		assign_host_group_report_free(rep);
	}
	(void)assign_host_check_device(ctx, FH_ADDR);

	write_record(rec);
	opts.state_dir = state_dir;
	if (assign_host_record_get(ctx, FH_ADDR, &opts, &hrec) == 0) {
		struct assign_pci_addr a;

		/* Only what the library could have written comes back:
		 * driver names, and an owner that is another address. */
		FUZZ_CHECK(terminated(hrec->driver, sizeof(hrec->driver)));
		FUZZ_CHECK(!hrec->driver[0] ||
			   host_valid_driver_name(hrec->driver));
		FUZZ_CHECK(terminated(hrec->driver_override,
				      sizeof(hrec->driver_override)));
		FUZZ_CHECK(!hrec->driver_override[0] ||
			   host_valid_driver_name(hrec->driver_override));
		FUZZ_CHECK(terminated(hrec->owner, sizeof(hrec->owner)));
		FUZZ_CHECK(!hrec->owner[0] ||
			   (assign_pci_addr_parse(hrec->owner, &a) == 0 &&
			    strcmp(hrec->owner, FH_ADDR)));
		assign_host_record_free(hrec);
	}

	assign_ctx_unref(ctx);
	FUZZ_CHECK(fh.open_fds == 0);
	free(fh.copy);
	fh.copy = NULL;
	return 0;
}
