// SPDX-License-Identifier: MIT
/*
 * The mock kernel: fd table, the syscall seam (struct assign_sys_ops), fault
 * injection, knobs and inspection. The VFIO objects live in mock_iommu.c
 * (containers, groups, iommufd) and mock_device.c (device fds); the sysfs
 * tree in mock_sysfs.c.
 *
 * Every fd the mock hands out is a real fd (a memfd of its own), so its
 * number can never collide with a real fd of the test process, and it can
 * travel over a real unix socket (SCM_RIGHTS) and be found again by its
 * inode on the other side, as the kernel passes files.
 */
#include <pthread.h>
#include <stdarg.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "core/sys.h"
#include "mock_internal.h"

void *mock_zalloc(size_t n)
{
	return calloc(1, n ? n : 1);
}

char *mock_strdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

/* ---- fd table -------------------------------------------------------- */

struct mfd *mock_fd_get(struct mock_kernel *mk, int fd)
{
	if (fd < 0)
		return NULL;
	for (size_t i = 0; i < mk->nfds; i++)
		if (mk->fds[i].fd == fd)
			return &mk->fds[i];
	return NULL;
}

static int fds_grow(struct mock_kernel *mk)
{
	if (mk->nfds == mk->capfds) {
		size_t ncap = mk->capfds ? mk->capfds * 2 : 32;
		struct mfd *n = realloc(mk->fds, ncap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		mk->fds = n;
		mk->capfds = ncap;
	}
	return 0;
}

/* A real fd for a new mock file: a memfd of its own (above 2), and its
 * inode. */
static int identity_fd(unsigned long *ino)
{
	struct stat st;
	int m, fd;

	m = memfd_create("mock-vfio", MFD_CLOEXEC);
	if (m < 0)
		return -errno;
	fd = fcntl(m, F_DUPFD_CLOEXEC, 3);
	close(m);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		close(fd);
		return -EIO;
	}
	*ino = (unsigned long)st.st_ino;
	return fd;
}

int mock_fd_new(struct mock_kernel *mk, enum mfd_kind kind, void *obj)
{
	unsigned long ino = 0;
	int fd;

	if (fds_grow(mk) < 0)
		return -ENOMEM;
	fd = identity_fd(&ino);
	if (fd < 0)
		return fd;
	if (kind == MFD_DEVICE)
		((struct mdevfile *)obj)->refs = 1;
	mk->fds[mk->nfds].fd = fd;
	mk->fds[mk->nfds].kind = kind;
	mk->fds[mk->nfds].ino = ino;
	mk->fds[mk->nfds].u.container = obj;
	mk->nfds++;
	return fd;
}

static int track_real_fd(struct mock_kernel *mk, int fd, char *path)
{
	if (fds_grow(mk) < 0)
		return -ENOMEM;
	mk->fds[mk->nfds].fd = fd;
	mk->fds[mk->nfds].kind = MFD_SYSFS;
	mk->fds[mk->nfds].ino = 0;
	mk->fds[mk->nfds].u.path = path;
	mk->nfds++;
	return 0;
}

static void fd_remove(struct mock_kernel *mk, struct mfd *f)
{
	size_t i = (size_t)(f - mk->fds);

	mk->fds[i] = mk->fds[--mk->nfds];
}

/* Release what an fd refers to, as the kernel's release() would. */
static void fd_release(struct mock_kernel *mk, struct mfd *f)
{
	struct mfd copy = *f;

	fd_remove(mk, f);
	close(copy.fd);
	switch (copy.kind) {
	case MFD_CONTAINER:
		mock_container_put(mk, copy.u.container);
		break;
	case MFD_GROUP:
		mock_group_put(mk, copy.u.group);
		break;
	case MFD_IOMMUFD:
		mock_ictx_put(mk, copy.u.ictx);
		break;
	case MFD_DEVICE:
		if (--copy.u.df->refs == 0)
			mock_devfile_close(mk, copy.u.df);
		break;
	case MFD_SYSFS:
		free(copy.u.path);
		break;
	case MFD_MIGFILE:
		mock_migfile_put(copy.u.mf);
		break;
	case MFD_OTHER:
		break;
	}
}

/* Another reference on the object of mock file @f, for one more fd of it
 * (or one in flight). */
static void file_get(struct mfd *f)
{
	switch (f->kind) {
	case MFD_CONTAINER:
		f->u.container->refs++;
		break;
	case MFD_GROUP:
		f->u.group->file_refs++;
		break;
	case MFD_IOMMUFD:
		f->u.ictx->refs++;
		break;
	case MFD_DEVICE:
		f->u.df->refs++;
		break;
	default:
		break;
	}
}

/* The mock file behind the real fd @fd, by inode: a live fd of it, or NULL. */
static struct mfd *file_of(struct mock_kernel *mk, int fd)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return NULL;
	for (size_t i = 0; i < mk->nfds; i++)
		if (mk->fds[i].ino == (unsigned long)st.st_ino &&
		    mk->fds[i].kind != MFD_SYSFS &&
		    mk->fds[i].kind != MFD_OTHER)
			return &mk->fds[i];
	return NULL;
}

/* A mock file goes into a socket: it stays alive in flight. */
static int send_file(struct mock_kernel *mk, int fd)
{
	struct mfd *f = file_of(mk, fd);

	if (!f)
		return 0; /* a real file, or not ours: the kernel's */
	if (mk->ninflight == mk->capinflight) {
		size_t ncap = mk->capinflight ? mk->capinflight * 2 : 8;
		struct mfd *n = realloc(mk->inflight, ncap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		mk->inflight = n;
		mk->capinflight = ncap;
	}
	file_get(f);
	mk->inflight[mk->ninflight++] = *f;
	return 0;
}

/* A real fd that arrived over a socket: a new fd of the mock file with the
 * same inode (taking over the reference it had in flight), or an
 * MFD_OTHER for a file the mock does not model. */
static int adopt_received_fd(struct mock_kernel *mk, int fd)
{
	struct stat st;
	size_t i;

	if (fds_grow(mk) < 0)
		return -ENOMEM;
	mk->fds[mk->nfds].fd = fd;
	mk->fds[mk->nfds].kind = MFD_OTHER;
	mk->fds[mk->nfds].ino = 0;
	mk->fds[mk->nfds].u.path = NULL;
	if (fstat(fd, &st) == 0) {
		for (i = 0; i < mk->ninflight; i++)
			if (mk->inflight[i].ino == (unsigned long)st.st_ino)
				break;
		if (i < mk->ninflight) {
			mk->fds[mk->nfds] = mk->inflight[i];
			mk->fds[mk->nfds].fd = fd;
			mk->inflight[i] = mk->inflight[--mk->ninflight];
		}
	}
	mk->nfds++;
	return 0;
}

/* ---- registries of DMA spaces --------------------------------------- */

int mock_register_container(struct mock_kernel *mk, struct mcontainer *c)
{
	if (mk->ncontainers == mk->capcontainers) {
		size_t ncap = mk->capcontainers ? mk->capcontainers * 2 : 8;
		struct mcontainer **n = realloc(mk->containers,
						ncap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		mk->containers = n;
		mk->capcontainers = ncap;
	}
	mk->containers[mk->ncontainers++] = c;
	return 0;
}

void mock_unregister_container(struct mock_kernel *mk, struct mcontainer *c)
{
	for (size_t i = 0; i < mk->ncontainers; i++)
		if (mk->containers[i] == c) {
			mk->containers[i] = mk->containers[--mk->ncontainers];
			return;
		}
}

int mock_register_ictx(struct mock_kernel *mk, struct mictx *ictx)
{
	if (mk->nictxs == mk->capictxs) {
		size_t ncap = mk->capictxs ? mk->capictxs * 2 : 8;
		struct mictx **n = realloc(mk->ictxs, ncap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		mk->ictxs = n;
		mk->capictxs = ncap;
	}
	mk->ictxs[mk->nictxs++] = ictx;
	return 0;
}

void mock_unregister_ictx(struct mock_kernel *mk, struct mictx *ictx)
{
	for (size_t i = 0; i < mk->nictxs; i++)
		if (mk->ictxs[i] == ictx) {
			mk->ictxs[i] = mk->ictxs[--mk->nictxs];
			return;
		}
}

uint64_t mock_total_pinned(const struct mock_kernel *mk)
{
	uint64_t total = 0;

	for (size_t i = 0; i < mk->ncontainers; i++)
		total += mdma_set_bytes(&mk->containers[i]->dma);
	for (size_t i = 0; i < mk->nictxs; i++)
		for (struct mioas *a = mk->ictxs[i]->ioas; a; a = a->next)
			total += mdma_set_bytes(&a->dma);
	return total;
}

/* ---- devices and groups ---------------------------------------------- */

struct mdev *mock_dev_find(const struct mock_kernel *mk, const char *addr)
{
	struct assign_pci_addr a, b;
	bool parsed;

	if (!addr)
		return NULL;
	parsed = assign_pci_addr_parse(addr, &a) == 0;
	for (size_t i = 0; i < mk->ndevs; i++) {
		if (!strcasecmp(mk->devs[i]->addr, addr))
			return mk->devs[i];
		if (parsed && mk->devs[i]->bus == MBUS_PCI &&
		    assign_pci_addr_parse(mk->devs[i]->addr, &b) == 0 &&
		    a.domain == b.domain && a.bus == b.bus && a.dev == b.dev &&
		    a.fn == b.fn)
			return mk->devs[i];
	}
	return NULL;
}

struct mgroup *mock_group_get(struct mock_kernel *mk, int id, bool create)
{
	for (size_t i = 0; i < MOCK_MAX_GROUPS; i++)
		if (mk->groups[i].exists && mk->groups[i].id == id)
			return &mk->groups[i];
	if (!create)
		return NULL;
	for (size_t i = 0; i < MOCK_MAX_GROUPS; i++)
		if (!mk->groups[i].exists) {
			memset(&mk->groups[i], 0, sizeof(mk->groups[i]));
			mk->groups[i].exists = true;
			mk->groups[i].id = id;
			return &mk->groups[i];
		}
	return NULL;
}

/* ---- mmap tracking --------------------------------------------------- */

/* Forget [start, end) in the tracked mappings (munmap or MAP_FIXED). */
static int maps_cut(struct mock_kernel *mk, uintptr_t start, uintptr_t end)
{
	for (size_t i = 0; i < mk->nmaps;) {
		struct mmapping *m = &mk->maps[i];

		if (m->end <= start || m->start >= end) {
			i++;
			continue;
		}
		if (m->start < start && m->end > end) {
			/* Split in two. */
			struct mmapping tail = *m;
			if (mk->nmaps == mk->capmaps) {
				size_t ncap = mk->capmaps * 2;
				struct mmapping *n = realloc(mk->maps,
							     ncap * sizeof(*n));
				if (!n)
					return -ENOMEM;
				mk->maps = n;
				mk->capmaps = ncap;
				m = &mk->maps[i];
			}
			tail.start = end;
			m->end = start;
			mk->maps[mk->nmaps++] = tail;
			i++;
			continue;
		}
		if (m->start < start) {
			m->end = start;
			i++;
		} else if (m->end > end) {
			m->start = end;
			i++;
		} else {
			mk->maps[i] = mk->maps[--mk->nmaps];
		}
	}
	return 0;
}

static int maps_add(struct mock_kernel *mk, uintptr_t start, size_t len,
		    bool region)
{
	if (maps_cut(mk, start, start + len) < 0)
		return -ENOMEM;
	if (mk->nmaps == mk->capmaps) {
		size_t ncap = mk->capmaps ? mk->capmaps * 2 : 16;
		struct mmapping *n = realloc(mk->maps, ncap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		mk->maps = n;
		mk->capmaps = ncap;
	}
	mk->maps[mk->nmaps].start = start;
	mk->maps[mk->nmaps].end = start + len;
	mk->maps[mk->nmaps].region = region;
	mk->nmaps++;
	return 0;
}

/* ---- fault injection ------------------------------------------------- */

static const char *const call_names[MOCK_NCALLS] = {
	"any",	      "open",	   "openat",   "close",	    "ioctl",
	"pread",      "pwrite",	   "mmap",     "munmap",    "madvise",
	"readlinkat", "faccessat", "list_dir", "getrlimit", "read",
	"write",      "fstat",	   "sendmsg",  "recvmsg",
};

/* MOCK_TRACE=1: every seam call on stderr, numbered as mock_fail_nth()
 * counts them. */
static void trace(struct mock_kernel *mk, enum mock_call kind, int err,
		  const char *fmt, ...) ASSIGN_PRINTF(4, 5);
static void trace(struct mock_kernel *mk, enum mock_call kind, int err,
		  const char *fmt, ...)
{
	va_list ap;

	if (!mk->trace)
		return;
	fprintf(stderr, "mock: #%lu %s(", mk->calls[MOCK_ANY], call_names[kind]);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, ")%s%s\n", err ? " -> injected " : "",
		err ? strerror(-err) : "");
}

static int mock_enter(struct mock_kernel *mk, enum mock_call kind,
		      unsigned long req)
{
	int err = 0;

	mk->calls[kind]++;
	mk->calls[MOCK_ANY]++;
	for (size_t i = 0; i < mk->nfaults;) {
		struct mfault *f = &mk->faults[i];

		if ((f->kind == MOCK_ANY || f->kind == kind) &&
		    (f->kind != MOCK_IOCTL || !f->req || f->req == req)) {
			if (--f->left == 0) {
				if (!err)
					err = f->err;
				mk->faults[i] = mk->faults[--mk->nfaults];
				continue;
			}
		}
		i++;
	}
	return err;
}

unsigned long mock_calls(const struct mock_kernel *mk, enum mock_call kind)
{
	if ((unsigned)kind >= MOCK_NCALLS)
		return 0;
	return mk->calls[kind];
}

void mock_fail_nth(struct mock_kernel *mk, enum mock_call kind,
		   unsigned long ioctl_req, unsigned long nth, int err)
{
	if (!nth || (unsigned)kind >= MOCK_NCALLS)
		return;
	mock_lock(mk);
	if (mk->nfaults < MOCK_MAX_FAULTS) {
		mk->faults[mk->nfaults].kind = kind;
		mk->faults[mk->nfaults].req = ioctl_req;
		mk->faults[mk->nfaults].left = nth;
		mk->faults[mk->nfaults].err = err < 0 ? err : -err;
		mk->nfaults++;
	}
	mock_unlock(mk);
}

void mock_fail_clear(struct mock_kernel *mk)
{
	mock_lock(mk);
	mk->nfaults = 0;
	mock_unlock(mk);
}

/* ---- the seam -------------------------------------------------------- */

static int parse_uint(const char *s, int *out)
{
	char *end;
	long v;

	if (!*s || *s == '-' || *s == '+')
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < 0 || v > INT32_MAX)
		return -1;
	*out = (int)v;
	return 0;
}

/* /proc/self/status as the library reads it for CAP_IPC_LOCK: a memfd
 * holding the capability lines. */
static int open_proc_status(struct mock_kernel *mk)
{
	char text[256];
	uint64_t eff = mk->cap_ipc_lock ? 1ull << 14 : 0;
	char *path;
	int fd, n;

	n = snprintf(text, sizeof(text),
		     "Name:\tmock\nState:\tR (running)\nCapInh:\t0000000000000000\n"
		     "CapPrm:\t%016llx\nCapEff:\t%016llx\nCapBnd:\t000001ffffffffff\n",
		     (unsigned long long)eff, (unsigned long long)eff);
	fd = memfd_create("mock-proc-status", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	path = strdup("/proc/self/status");
	if (!path || write(fd, text, (size_t)n) != n ||
	    track_real_fd(mk, fd, path) < 0) {
		free(path);
		close(fd);
		return -ENOMEM;
	}
	return fd;
}

static int k_open(void *data, const char *path, int flags)
{
	struct mock_kernel *mk = data;
	const char *p;
	int n, err;

	err = mock_enter(mk, MOCK_OPEN, 0);
	trace(mk, MOCK_OPEN, err, "%s", path ? path : "(null)");
	if (err)
		return err;
	if (!path)
		return -EFAULT;
	if ((!strncmp(path, "/dev/vfio/", 10) || !strcmp(path, "/dev/iommu")) &&
	    (mk->no_vfio || mk->no_dev_access))
		return mk->no_vfio ? -ENOENT : -EACCES;
	if (!strcmp(path, "/dev/vfio/vfio"))
		return mock_open_container(mk);
	if (!strcmp(path, "/proc/self/status"))
		return open_proc_status(mk);
	if (!strcmp(path, "/dev/iommu"))
		return mk->iommufd ? mock_open_iommufd(mk) : -ENOENT;
	if ((p = strncmp(path, "/dev/vfio/devices/vfio", 22) ? NULL
							      : path + 22) &&
	    parse_uint(p, &n) == 0)
		return mock_open_cdev(mk, n);
	if (!strncmp(path, "/dev/vfio/noiommu-", 18)) {
		if (parse_uint(path + 18, &n) < 0 || !mk->noiommu)
			return -ENOENT;
		return mock_open_group(mk, n, true);
	}
	if (!strncmp(path, "/dev/vfio/", 10) && parse_uint(path + 10, &n) == 0) {
		if (mk->noiommu)
			return -ENOENT;
		return mock_open_group(mk, n, false);
	}
	(void)flags;
	return -ENOENT;
}

/* Path of @path opened at @dirfd, relative to the sysfs root, or NULL. */
static char *sysfs_relpath(struct mock_kernel *mk, int dirfd, const char *path)
{
	char link[64], dir[PATH_MAX], full[PATH_MAX * 2];
	size_t rl = strlen(mk->root);
	ssize_t r;

	if (path[0] == '/') {
		snprintf(full, sizeof(full), "%s", path);
	} else if (dirfd == mk->root_fd) {
		return strdup(path);
	} else {
		snprintf(link, sizeof(link), "/proc/self/fd/%d", dirfd);
		r = readlink(link, dir, sizeof(dir) - 1);
		if (r < 0)
			return NULL;
		dir[r] = '\0';
		snprintf(full, sizeof(full), "%s/%s", dir, path);
	}
	if (strncmp(full, mk->root, rl) || (full[rl] != '/' && full[rl]))
		return NULL;
	return strdup(full[rl] ? full + rl + 1 : "");
}

static int k_openat(void *data, int dirfd, const char *path, int flags)
{
	struct mock_kernel *mk = data;
	char *rel;
	int fd, err;

	err = mock_enter(mk, MOCK_OPENAT, 0);
	trace(mk, MOCK_OPENAT, err, "%d, %s", dirfd, path);
	if (err)
		return err;
	fd = openat(dirfd, path, flags | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	rel = sysfs_relpath(mk, dirfd, path);
	if (!rel)
		rel = strdup("");
	if (!rel || track_real_fd(mk, fd, rel) < 0) {
		free(rel);
		close(fd);
		return -ENOMEM;
	}
	return fd;
}

static int k_close(void *data, int fd)
{
	struct mock_kernel *mk = data;
	struct mfd *f;
	int err;

	err = mock_enter(mk, MOCK_CLOSE, 0);
	trace(mk, MOCK_CLOSE, err, "%d", fd);
	f = mock_fd_get(mk, fd);
	if (!f) {
		/* Not one of ours: a double close, or an fd the code under
		 * test never opened through the seam. Leave it alone (it may
		 * belong to the test) and count it. */
		mk->bad_fd_calls++;
		return err ? err : -EBADF;
	}
	fd_release(mk, f);
	return err;
}

static int k_ioctl(void *data, int fd, unsigned long request, void *arg)
{
	struct mock_kernel *mk = data;
	struct mfd *f;
	int err;

	err = mock_enter(mk, MOCK_IOCTL, request);
	trace(mk, MOCK_IOCTL, err, "%d, %#lx", fd, request);
	if (err)
		return err;
	f = mock_fd_get(mk, fd);
	if (!f) {
		mk->bad_fd_calls++;
		return fcntl(fd, F_GETFD) < 0 ? -EBADF : -ENOTTY;
	}
	switch (f->kind) {
	case MFD_CONTAINER:
		return mock_container_ioctl(mk, f->u.container, request, arg);
	case MFD_GROUP:
		return mock_group_ioctl(mk, f->u.group, request, arg);
	case MFD_IOMMUFD:
		return mock_iommufd_ioctl(mk, f->u.ictx, request, arg);
	case MFD_DEVICE:
		return mock_device_ioctl(mk, f->u.df, request, arg);
	case MFD_MIGFILE:
		return mock_migfile_ioctl(f->u.mf, request, arg);
	case MFD_SYSFS:
	case MFD_OTHER:
		return -ENOTTY;
	}
	return -ENOTTY;
}

static ssize_t k_pread(void *data, int fd, void *buf, size_t count,
		       uint64_t offset)
{
	struct mock_kernel *mk = data;
	struct mfd *f;
	ssize_t r;
	int err;

	err = mock_enter(mk, MOCK_PREAD, 0);
	trace(mk, MOCK_PREAD, err, "%d, %zu, %#llx", fd, count,
	      (unsigned long long)offset);
	if (err)
		return err;
	f = mock_fd_get(mk, fd);
	if (!f)
		mk->bad_fd_calls++;
	if (f && f->kind == MFD_DEVICE)
		return mock_device_rw(mk, f->u.df, buf, count, offset, false);
	if (f && f->kind != MFD_SYSFS && f->kind != MFD_OTHER)
		return -EINVAL;
	do
		r = pread(fd, buf, count, (off_t)offset);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : r;
}

static ssize_t k_pwrite(void *data, int fd, const void *buf, size_t count,
			uint64_t offset)
{
	struct mock_kernel *mk = data;
	struct mfd *f;
	ssize_t r;
	int err;

	err = mock_enter(mk, MOCK_PWRITE, 0);
	trace(mk, MOCK_PWRITE, err, "%d, %zu, %#llx", fd, count,
	      (unsigned long long)offset);
	if (err)
		return err;
	f = mock_fd_get(mk, fd);
	if (!f)
		mk->bad_fd_calls++;
	if (f && f->kind == MFD_DEVICE)
		return mock_device_rw(mk, f->u.df, (void *)buf, count, offset,
				      true);
	if (f && f->kind != MFD_SYSFS && f->kind != MFD_OTHER)
		return -EINVAL;
	if (f && f->u.path &&
	    mock_sysfs_intercept_write(mk, f->u.path, buf, count, &r))
		return r;
	do
		r = pwrite(fd, buf, count, (off_t)offset);
	while (r < 0 && errno == EINTR);
	return r < 0 ? -errno : r;
}

static bool passed(const struct mock_kernel *mk, int fd)
{
	for (size_t i = 0; i < mk->npass; i++)
		if (mk->pass_fds[i] == fd)
			return true;
	return false;
}

/* read()/write(): migration data fds are the model's; fds the test
 * passed reach the real kernel; anything else is refused. */
static ssize_t k_rw(struct mock_kernel *mk, enum mock_call kind, int fd,
		    void *buf, size_t count)
{
	bool wr = kind == MOCK_WRITE;
	struct mfd *f;
	ssize_t r;
	int err;

	err = mock_enter(mk, kind, 0);
	trace(mk, kind, err, "%d, %zu", fd, count);
	if (err)
		return err;
	f = mock_fd_get(mk, fd);
	if (f && f->kind == MFD_MIGFILE)
		return mock_migfile_rw(f->u.mf, buf, count, wr);
	if (f)
		return -EINVAL; /* VFIO objects have no read/write */
	if (!passed(mk, fd)) {
		mk->bad_fd_calls++;
		return -EBADF;
	}
	/* The lock is not held across a blocking call on a pipe: the
	 * other end may be this library in another thread. */
	mock_unlock(mk);
	do
		r = wr ? write(fd, buf, count) : read(fd, buf, count);
	while (r < 0 && errno == EINTR);
	r = r < 0 ? -errno : r;
	mock_lock(mk);
	return r;
}

static ssize_t k_read(void *data, int fd, void *buf, size_t count)
{
	return k_rw(data, MOCK_READ, fd, buf, count);
}

static ssize_t k_write(void *data, int fd, const void *buf, size_t count)
{
	return k_rw(data, MOCK_WRITE, fd, (void *)buf, count);
}

static int k_mmap(void *data, void *addr, size_t length, int prot, int flags,
		  int fd, uint64_t offset, void **ret)
{
	struct mock_kernel *mk = data;
	struct mfd *f = NULL;
	bool region = false;
	void *p;
	int err;

	err = mock_enter(mk, MOCK_MMAP, 0);
	trace(mk, MOCK_MMAP, err, "%p, %#zx, %d, %#llx", addr, length, fd,
	      (unsigned long long)offset);
	if (err)
		return err;
	if (!(flags & MAP_ANONYMOUS)) {
		f = mock_fd_get(mk, fd);
		if (!f)
			mk->bad_fd_calls++;
	}
	if (f && f->kind == MFD_DEVICE) {
		err = mock_device_mmap(mk, f->u.df, addr, length, prot, flags,
				       offset, &p);
		if (err)
			return err;
		region = true;
	} else if (f && f->kind != MFD_SYSFS && f->kind != MFD_OTHER) {
		return -ENODEV;
	} else {
		p = mmap(addr, length, prot, flags, fd, (off_t)offset);
		if (p == MAP_FAILED)
			return -errno;
	}
	if (maps_add(mk, (uintptr_t)p, length, region) < 0) {
		munmap(p, length);
		return -ENOMEM;
	}
	*ret = p;
	return 0;
}

static int k_munmap(void *data, void *addr, size_t length)
{
	struct mock_kernel *mk = data;
	int err, r = 0;

	err = mock_enter(mk, MOCK_MUNMAP, 0);
	trace(mk, MOCK_MUNMAP, err, "%p, %#zx", addr, length);
	/* As Linux: an injected failure still releases the mapping. */
	if (munmap(addr, length) < 0)
		r = -errno;
	else
		maps_cut(mk, (uintptr_t)addr, (uintptr_t)addr + length);
	return err ? err : r;
}

static int k_madvise(void *data, void *addr, size_t length, int advice)
{
	struct mock_kernel *mk = data;
	int err;

	err = mock_enter(mk, MOCK_MADVISE, 0);
	trace(mk, MOCK_MADVISE, err, "%p, %#zx, %d", addr, length, advice);
	if (err)
		return err;
	return madvise(addr, length, advice) < 0 ? -errno : 0;
}

static ssize_t k_readlinkat(void *data, int dirfd, const char *path,
			    char *buf, size_t size)
{
	struct mock_kernel *mk = data;
	ssize_t r;
	int err;

	err = mock_enter(mk, MOCK_READLINKAT, 0);
	trace(mk, MOCK_READLINKAT, err, "%d, %s", dirfd, path);
	if (err)
		return err;
	r = readlinkat(dirfd, path, buf, size);
	return r < 0 ? -errno : r;
}

static int k_faccessat(void *data, int dirfd, const char *path, int mode)
{
	struct mock_kernel *mk = data;
	int err;

	err = mock_enter(mk, MOCK_FACCESSAT, 0);
	trace(mk, MOCK_FACCESSAT, err, "%d, %s", dirfd, path);
	if (err)
		return err;
	return faccessat(dirfd, path, mode, 0) < 0 ? -errno : 0;
}

/* sysfs is a real directory tree: after the fault-injection bookkeeping the
 * listing is the library's own real one. */
static int k_list_dir(void *data, int dirfd, const char *path, char ***names,
		      size_t *n)
{
	struct mock_kernel *mk = data;
	int err;

	err = mock_enter(mk, MOCK_LIST_DIR, 0);
	trace(mk, MOCK_LIST_DIR, err, "%d, %s", dirfd, path);
	if (err)
		return err;
	return assign_sys_linux.list_dir(NULL, dirfd, path, names, n);
}

static int k_getrlimit(void *data, int resource, struct rlimit *rlim)
{
	struct mock_kernel *mk = data;
	int err;

	err = mock_enter(mk, MOCK_GETRLIMIT, 0);
	trace(mk, MOCK_GETRLIMIT, err, "%d", resource);
	if (err)
		return err;
	if (resource == RLIMIT_MEMLOCK) {
		rlim->rlim_cur = mk->memlock;
		rlim->rlim_max = mk->memlock;
		return 0;
	}
	return getrlimit(resource, rlim) < 0 ? -errno : 0;
}

/* What the kernel's fstat says of the mock's VFIO files: character
 * devices with the numbers of mock_sysfs.c's dev/char links; a device fd
 * from VFIO_GROUP_GET_DEVICE_FD is an anonymous inode (no file type). Real
 * files (sysfs, received ones, and fds the mock never made, such as the
 * caller's own) are asked for real. */
static int k_fstat(void *data, int fd, struct stat *st)
{
	struct mock_kernel *mk = data;
	struct mfd *f;
	int err;

	err = mock_enter(mk, MOCK_FSTAT, 0);
	trace(mk, MOCK_FSTAT, err, "%d", fd);
	if (err)
		return err;
	f = mock_fd_get(mk, fd);
	if (!f || f->kind == MFD_SYSFS || f->kind == MFD_OTHER)
		return fstat(fd, st) < 0 ? -errno : 0;
	memset(st, 0, sizeof(*st));
	st->st_mode = S_IFCHR | 0600;
	st->st_ino = f->ino;
	switch (f->kind) {
	case MFD_CONTAINER:
		st->st_rdev = makedev(MOCK_MISC_MAJOR, MOCK_VFIO_MINOR);
		break;
	case MFD_IOMMUFD:
		st->st_rdev = makedev(MOCK_MISC_MAJOR, MOCK_IOMMU_MINOR);
		break;
	case MFD_GROUP:
		st->st_rdev =
			makedev(MOCK_GROUP_MAJOR, (unsigned)f->u.group->id);
		break;
	case MFD_DEVICE:
		if (f->u.df->cdev)
			st->st_rdev =
				makedev(MOCK_CDEV_MAJOR,
					(unsigned)f->u.df->dev->vfio_index);
		else
			st->st_mode = 0600;
		break;
	default:
		break;
	}
	return 0;
}

/* The socket is the test's real one; the fds in flight are real too (the
 * mock's memfds), so the real calls carry them. */
static ssize_t k_sendmsg(void *data, int sock, const void *buf, size_t len,
			 const int *fds, size_t nfds)
{
	struct mock_kernel *mk = data;
	ssize_t r;
	int err;

	err = mock_enter(mk, MOCK_SENDMSG, 0);
	trace(mk, MOCK_SENDMSG, err, "%d, %zu bytes, %zu fds", sock, len, nfds);
	if (err)
		return err;
	r = assign_sys_linux.sendmsg(NULL, sock, buf, len, fds, nfds);
	for (size_t i = 0; r >= 0 && i < nfds; i++)
		if (send_file(mk, fds[i]) < 0)
			return -ENOMEM;
	return r;
}

static ssize_t k_recvmsg(void *data, int sock, void *buf, size_t len, int *fds,
			 size_t maxfds, size_t *nfds)
{
	struct mock_kernel *mk = data;
	int got[253];
	size_t n = 0;
	ssize_t r;
	int err;

	err = mock_enter(mk, MOCK_RECVMSG, 0);
	trace(mk, MOCK_RECVMSG, err, "%d, %zu bytes, %zu fds", sock, len,
	      maxfds);
	if (err)
		return err;
	/* Take everything that came, so that the files in flight are found
	 * even when there are too many for the caller (then released, as
	 * the kernel closes what does not fit). */
	r = assign_sys_linux.recvmsg(NULL, sock, buf, len, got, ARRAY_SIZE(got),
				     &n);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		if (adopt_received_fd(mk, got[i]) < 0) {
			for (size_t k = i; k < n; k++)
				close(got[k]);
			n = i;
			r = -ENOMEM;
			break;
		}
	}
	if (r >= 0 && n > maxfds)
		r = -EMSGSIZE;
	if (r < 0) {
		for (size_t i = 0; i < n; i++)
			fd_release(mk, mock_fd_get(mk, got[i]));
		return r;
	}
	memcpy(fds, got, n * sizeof(*got));
	*nfds = n;
	return r;
}

/* The seam may be called from several threads: one lock around each call
 * (recursive: a sysfs write can fire a device's REQ interrupt). The entry
 * points are the m_* functions (bench/callgrind.sh subtracts them); the
 * k_* functions do the work. */
void mock_lock(const struct mock_kernel *mk)
{
	pthread_mutex_lock(&((struct mock_kernel *)mk)->lock);
}

void mock_unlock(const struct mock_kernel *mk)
{
	pthread_mutex_unlock(&((struct mock_kernel *)mk)->lock);
}

#define LOCKED(type, name, params, args)                                       \
	static type m_##name params                                            \
	{                                                                      \
		type r;                                                        \
		mock_lock(data);                                               \
		r = k_##name args;                                             \
		mock_unlock(data);                                             \
		return r;                                                      \
	}
LOCKED(int, open, (void *data, const char *path, int flags),
       (data, path, flags))
LOCKED(int, openat, (void *data, int dirfd, const char *path, int flags),
       (data, dirfd, path, flags))
LOCKED(int, close, (void *data, int fd), (data, fd))
LOCKED(int, ioctl, (void *data, int fd, unsigned long req, void *arg),
       (data, fd, req, arg))
LOCKED(ssize_t, pread,
       (void *data, int fd, void *buf, size_t count, uint64_t offset),
       (data, fd, buf, count, offset))
LOCKED(ssize_t, pwrite,
       (void *data, int fd, const void *buf, size_t count, uint64_t offset),
       (data, fd, buf, count, offset))
LOCKED(int, mmap,
       (void *data, void *addr, size_t length, int prot, int flags, int fd,
	uint64_t offset, void **ret),
       (data, addr, length, prot, flags, fd, offset, ret))
LOCKED(int, munmap, (void *data, void *addr, size_t length),
       (data, addr, length))
LOCKED(int, madvise, (void *data, void *addr, size_t length, int advice),
       (data, addr, length, advice))
LOCKED(ssize_t, readlinkat,
       (void *data, int dirfd, const char *path, char *buf, size_t size),
       (data, dirfd, path, buf, size))
LOCKED(int, faccessat, (void *data, int dirfd, const char *path, int mode),
       (data, dirfd, path, mode))
LOCKED(int, list_dir,
       (void *data, int dirfd, const char *path, char ***names, size_t *n),
       (data, dirfd, path, names, n))
LOCKED(int, getrlimit, (void *data, int resource, struct rlimit *rlim),
       (data, resource, rlim))
LOCKED(ssize_t, read, (void *data, int fd, void *buf, size_t count),
       (data, fd, buf, count))
LOCKED(ssize_t, write, (void *data, int fd, const void *buf, size_t count),
       (data, fd, buf, count))
LOCKED(int, fstat, (void *data, int fd, struct stat *st), (data, fd, st))
LOCKED(ssize_t, sendmsg,
       (void *data, int sock, const void *buf, size_t len, const int *fds,
	size_t nfds),
       (data, sock, buf, len, fds, nfds))
LOCKED(ssize_t, recvmsg,
       (void *data, int sock, void *buf, size_t len, int *fds, size_t maxfds,
	size_t *nfds),
       (data, sock, buf, len, fds, maxfds, nfds))

static const struct assign_sys_ops mock_ops = {
	.open = m_open,
	.openat = m_openat,
	.close = m_close,
	.ioctl = m_ioctl,
	.pread = m_pread,
	.pwrite = m_pwrite,
	.mmap = m_mmap,
	.munmap = m_munmap,
	.madvise = m_madvise,
	.readlinkat = m_readlinkat,
	.faccessat = m_faccessat,
	.list_dir = m_list_dir,
	.getrlimit = m_getrlimit,
	.read = m_read,
	.write = m_write,
	.fstat = m_fstat,
	.sendmsg = m_sendmsg,
	.recvmsg = m_recvmsg,
};

const struct assign_sys_ops *mock_sys_ops(void)
{
	return &mock_ops;
}

/* ---- lifetime -------------------------------------------------------- */

int mock_kernel_new(struct mock_kernel **ret)
{
	struct mock_kernel *mk;
	int r;

	if (!ret)
		return -EINVAL;
	mk = mock_zalloc(sizeof(*mk));
	if (!mk)
		return -ENOMEM;
	mk->root_fd = -1;
	{
		pthread_mutexattr_t a;
		pthread_mutexattr_init(&a);
		pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
		pthread_mutex_init(&mk->lock, &a);
		pthread_mutexattr_destroy(&a);
	}
	mk->aperture[0][0] = 0;
	mk->aperture[0][1] = (1ull << 48) - 1;
	mk->naperture = 1;
	mk->pgsizes = 0x1000ull | 0x200000ull | 0x40000000ull;
	mk->dma_entry_limit = 65535;
	mk->memlock = RLIM_INFINITY;
	mk->irq_remap = true;
	mk->ir_capable = true;
	mk->allow_unsafe = true;
	mk->type1v2 = true;
	mk->iommufd = true;
	mk->noiommu = false;
	{
		const char *t = getenv("MOCK_TRACE");
		mk->trace = t && *t && *t != '0';
	}
	r = mock_sysfs_init(mk);
	if (r < 0) {
		free(mk);
		return r;
	}
	*ret = mk;
	return 0;
}

void mock_kernel_free(struct mock_kernel *mk)
{
	if (!mk)
		return;
	/* Close what the code under test leaked, objects first; files
	 * still in flight go as their socket would take them. */
	while (mk->nfds)
		fd_release(mk, &mk->fds[mk->nfds - 1]);
	mock_drop_inflight(mk);
	free(mk->inflight);
	free(mk->fds);
	/* Containers kept alive by groups and ictx kept by devices are gone
	 * with their fds; anything left is freed here. */
	while (mk->ncontainers) {
		struct mcontainer *c = mk->containers[0];
		mock_unregister_container(mk, c);
		mdma_set_free(&c->dma);
		free(c);
	}
	free(mk->containers);
	while (mk->nictxs) {
		struct mictx *ictx = mk->ictxs[0];
		mock_unregister_ictx(mk, ictx);
		while (ictx->ioas) {
			struct mioas *a = ictx->ioas;
			ictx->ioas = a->next;
			mdma_set_free(&a->dma);
			free(a);
		}
		free(ictx);
	}
	free(mk->ictxs);
	for (size_t i = 0; i < mk->ndevs; i++)
		mock_device_free(mk->devs[i]);
	for (size_t i = 0; i < MOCK_MAX_GROUPS; i++)
		free(mk->groups[i].reserved);
	free(mk->maps);
	mock_sysfs_cleanup(mk);
	pthread_mutex_destroy(&mk->lock);
	free(mk);
}

int mock_attach(struct mock_kernel *mk, struct assign_ctx *ctx)
{
	if (!mk || !ctx)
		return -EINVAL;
	return assign_ctx_set_sys(ctx, &mock_ops, mk, mk->root_fd);
}

int mock_ctx_new(struct mock_kernel *mk, struct assign_ctx **ret)
{
	struct assign_ctx *ctx;
	int r;

	if (!mk || !ret)
		return -EINVAL;
	r = assign_ctx_new(&ctx);
	if (r < 0)
		return r;
	r = mock_attach(mk, ctx);
	if (r < 0) {
		assign_ctx_unref(ctx);
		return r;
	}
	*ret = ctx;
	return 0;
}

const char *mock_sysfs_root(const struct mock_kernel *mk)
{
	return mk->root;
}

/* The bus of @cfg, and whether its name is one that bus can have. */
static int cfg_bus(const struct mock_device_cfg *cfg, enum mbus *bus)
{
	struct assign_pci_addr a;
	size_t n = strlen(cfg->addr);

	if (!cfg->bus || !strcmp(cfg->bus, "pci")) {
		*bus = MBUS_PCI;
		return assign_pci_addr_parse(cfg->addr, &a);
	}
	if (!strcmp(cfg->bus, "mdev")) {
		*bus = MBUS_MDEV;
		return n == 36 ? 0 : -EINVAL;
	}
	if (!strcmp(cfg->bus, "platform")) {
		*bus = MBUS_PLATFORM;
		return n && n < 64 && !strchr(cfg->addr, '/') ? 0 : -EINVAL;
	}
	return -EINVAL;
}

int mock_add_device(struct mock_kernel *mk, const struct mock_device_cfg *cfg)
{
	struct assign_pci_addr a;
	struct mdev *dev;
	enum mbus bus;
	int r;

	if (!mk || !cfg || !cfg->addr || cfg->group < -1 ||
	    cfg_bus(cfg, &bus) < 0)
		return -EINVAL;
	if (mock_dev_find(mk, cfg->addr))
		return -EEXIST;
	if (mk->ndevs == MOCK_MAX_DEVICES)
		return -ENOSPC;
	if (cfg->group >= 0 && !mock_group_get(mk, cfg->group, true))
		return -ENOSPC;
	dev = mock_zalloc(sizeof(*dev));
	if (!dev)
		return -ENOMEM;
	dev->mk = mk;
	dev->bus = bus;
	if (bus == MBUS_PCI) {
		assign_pci_addr_parse(cfg->addr, &a);
		assign_pci_addr_format(&a, dev->addr, sizeof(dev->addr));
	} else {
		/* The mdev core names an instance by its UUID, lower case. */
		for (size_t i = 0; cfg->addr[i] && i + 1 < sizeof(dev->addr);
		     i++)
			dev->addr[i] =
				bus == MBUS_MDEV ?
					(char)tolower(
						(unsigned char)cfg->addr[i]) :
					cfg->addr[i];
	}
	snprintf(dev->parent, sizeof(dev->parent), "%s",
		 cfg->parent ? cfg->parent : "mtty");
	snprintf(dev->mdev_type, sizeof(dev->mdev_type), "%s",
		 cfg->mdev_type ? cfg->mdev_type : "mtty-1");
	snprintf(dev->physfn, sizeof(dev->physfn), "%s",
		 cfg->physfn ? cfg->physfn : "");
	dev->sriov_pf = cfg->sriov_pf;
	/* vfio-pci starts a PF with a random token (uuid_gen()). */
	for (size_t i = 0; i < sizeof(dev->vf_token); i++)
		dev->vf_token[i] = (uint8_t)(0x5a ^ (i * 37) ^ mk->ndevs);
	dev->group = cfg->group;
	dev->vfio_index = mk->next_vfio_index++;
	r = mock_device_build(mk, dev, cfg);
	if (r < 0) {
		mock_device_free(dev);
		return r;
	}
	mk->devs[mk->ndevs++] = dev;
	r = mock_sysfs_add_device(mk, dev);
	if (r < 0) {
		mk->ndevs--;
		mock_device_free(dev);
		return r;
	}
	return 0;
}

int mock_remove_device(struct mock_kernel *mk, struct mdev *dev)
{
	for (size_t i = 0; i < mk->ndevs; i++) {
		if (mk->devs[i] != dev)
			continue;
		mock_sysfs_remove_device(mk, dev);
		memmove(&mk->devs[i], &mk->devs[i + 1],
			(mk->ndevs - i - 1) * sizeof(mk->devs[0]));
		mk->ndevs--;
		mock_device_free(dev);
		return 0;
	}
	return -ENOENT;
}

/* ---- knobs ----------------------------------------------------------- */

void mock_set_reserved_regions(struct mock_kernel *mk, int group,
			       const char *text)
{
	struct mgroup *g = mock_group_get(mk, group, true);

	if (!g)
		return;
	free(g->reserved);
	g->reserved = mock_strdup(text ? text : "");
	mock_sysfs_write_group_file(mk, group, "reserved_regions",
				    g->reserved);
}

void mock_set_iova_ranges(struct mock_kernel *mk, const uint64_t (*ranges)[2],
			  size_t n)
{
	if (n > MOCK_MAX_RANGES)
		n = MOCK_MAX_RANGES;
	for (size_t i = 0; i < n; i++) {
		mk->aperture[i][0] = ranges[i][0];
		mk->aperture[i][1] = ranges[i][1];
	}
	mk->naperture = n;
}

void mock_set_pgsizes(struct mock_kernel *mk, uint64_t pgsizes)
{
	mk->pgsizes = pgsizes;
}

void mock_set_dma_entry_limit(struct mock_kernel *mk, uint32_t limit)
{
	mk->dma_entry_limit = limit;
	mock_sysfs_update_params(mk);
}

void mock_set_memlock(struct mock_kernel *mk, uint64_t bytes)
{
	mk->memlock = bytes;
}

void mock_set_cap_ipc_lock(struct mock_kernel *mk, bool on)
{
	mk->cap_ipc_lock = on;
}

void mock_set_irq_remap(struct mock_kernel *mk, bool on)
{
	mk->irq_remap = on;
	mock_sysfs_update_params(mk);
}

void mock_set_allow_unsafe_interrupts(struct mock_kernel *mk, bool on)
{
	mk->allow_unsafe = on;
	mock_sysfs_update_params(mk);
}

void mock_set_ir_capable(struct mock_kernel *mk, bool on)
{
	mk->ir_capable = on;
	mock_sysfs_update_params(mk);
}

void mock_set_unsafe_param(struct mock_kernel *mk, bool on)
{
	mk->unsafe_param = on;
	mock_sysfs_update_params(mk);
}

void mock_set_type1v2(struct mock_kernel *mk, bool on)
{
	mk->type1v2 = on;
}

void mock_set_iommufd(struct mock_kernel *mk, bool on)
{
	mk->iommufd = on;
}

void mock_drop_inflight(struct mock_kernel *mk)
{
	mock_lock(mk);
	while (mk->ninflight) {
		/* Released as an fd of the file would be: a stand-in. */
		int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

		if (fd < 0 || fds_grow(mk) < 0) {
			if (fd >= 0)
				close(fd);
			break;
		}
		mk->fds[mk->nfds] = mk->inflight[--mk->ninflight];
		mk->fds[mk->nfds++].fd = fd;
		fd_release(mk, &mk->fds[mk->nfds - 1]);
	}
	mock_unlock(mk);
}

void mock_set_vfio(struct mock_kernel *mk, bool on)
{
	mk->no_vfio = !on;
}

void mock_set_dev_access(struct mock_kernel *mk, bool on)
{
	mk->no_dev_access = !on;
}

void mock_set_bind_token(struct mock_kernel *mk, bool on)
{
	mk->bind_token = on;
}

void mock_set_noiommu(struct mock_kernel *mk, bool on)
{
	mk->noiommu = on;
	mock_sysfs_update_params(mk);
}

void mock_set_driver(struct mock_kernel *mk, const char *addr,
		     const char *driver)
{
	struct mdev *dev = mock_dev_find(mk, addr);

	if (dev)
		mock_sysfs_set_driver(mk, dev, driver);
}

int mock_pass_fd(struct mock_kernel *mk, int fd)
{
	int r = 0;

	if (fd < 0)
		return -EBADF;
	mock_lock(mk);
	if (passed(mk, fd))
		r = 0;
	else if (mk->npass == ARRAY_SIZE(mk->pass_fds))
		r = -ENOSPC;
	else
		mk->pass_fds[mk->npass++] = fd;
	mock_unlock(mk);
	return r;
}

void mock_unpass_fd(struct mock_kernel *mk, int fd)
{
	mock_lock(mk);
	for (size_t i = 0; i < mk->npass; i++)
		if (mk->pass_fds[i] == fd) {
			mk->pass_fds[i] = mk->pass_fds[--mk->npass];
			break;
		}
	mock_unlock(mk);
}

/* ---- inspection ------------------------------------------------------ */

size_t mock_open_fds(const struct mock_kernel *mk)
{
	return mk->nfds;
}

size_t mock_mmaps(const struct mock_kernel *mk)
{
	size_t n = 0;

	for (size_t i = 0; i < mk->nmaps; i++)
		n += mk->maps[i].region;
	return n;
}

size_t mock_seam_mmaps(const struct mock_kernel *mk)
{
	return mk->nmaps;
}

unsigned long mock_bad_fd_calls(const struct mock_kernel *mk)
{
	return mk->bad_fd_calls;
}

size_t mock_dma_count(const struct mock_kernel *mk)
{
	size_t n = 0;

	mock_lock(mk);
	for (size_t i = 0; i < mk->ncontainers; i++)
		n += mk->containers[i]->dma.n;
	for (size_t i = 0; i < mk->nictxs; i++)
		for (struct mioas *a = mk->ictxs[i]->ioas; a; a = a->next)
			n += a->dma.n;
	mock_unlock(mk);
	return n;
}

uint64_t mock_dma_bytes(const struct mock_kernel *mk)
{
	uint64_t r;

	mock_lock(mk);
	r = mock_total_pinned(mk);
	mock_unlock(mk);
	return r;
}

static int lookup_in(const struct mdma_set *s, uint64_t iova, void **vaddr,
		     uint32_t *flags)
{
	size_t i = mdma_find(s, iova, iova);

	if (i == s->n)
		return -ENOENT;
	if (vaddr)
		*vaddr = (void *)(uintptr_t)(s->v[i].vaddr +
					     (iova - s->v[i].iova));
	if (flags)
		*flags = s->v[i].flags;
	return 0;
}

int mock_dma_lookup(const struct mock_kernel *mk, uint64_t iova, void **vaddr,
		    uint32_t *flags)
{
	int r = -ENOENT;

	mock_lock(mk);
	for (size_t i = 0; i < mk->ncontainers && r; i++)
		if (!lookup_in(&mk->containers[i]->dma, iova, vaddr, flags))
			r = 0;
	for (size_t i = 0; i < mk->nictxs && r; i++)
		for (struct mioas *a = mk->ictxs[i]->ioas; a && r; a = a->next)
			if (!lookup_in(&a->dma, iova, vaddr, flags))
				r = 0;
	mock_unlock(mk);
	return r;
}

int mock_container_type(struct mock_kernel *mk, int fd)
{
	struct mfd *f;
	int r = -EBADF;

	mock_lock(mk);
	f = mock_fd_get(mk, fd);
	if (f && f->kind == MFD_CONTAINER)
		r = f->u.container->iommu_set ? (int)f->u.container->type : 0;
	mock_unlock(mk);
	return r;
}
