/* SPDX-License-Identifier: MIT */
/*
 * libassign internals shared by every source file. Never installed.
 *
 * Layering (docs/architecture.md): only sys.c calls the kernel; everything
 * else goes through the ops table in struct assign_ctx, which tests replace
 * with the mock kernel (tests/mock).
 */
#ifndef LIBASSIGN_INTERNAL_H
#define LIBASSIGN_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <syslog.h>

#include <libassign/libassign.h>

#define ASSIGN_EXPORT __attribute__((visibility("default")))
#define ASSIGN_PRINTF(a, b) __attribute__((format(printf, a, b)))

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))

/*
 * The syscall seam. Every member returns a non-negative value on success
 * and a negative errno on failure (never -1 with errno). Paths given to
 * open() are absolute: device nodes (/dev/vfio/vfio, /dev/vfio/N,
 * /dev/iommu, /dev/vfio/devices/vfioN) and /proc/self/status (read for
 * CAP_IPC_LOCK by the memlock check); sysfs is only reached with the *at
 * calls relative to ctx->sysfs_fd. The library always adds O_CLOEXEC.
 */
struct assign_sys_ops {
	int (*open)(void *data, const char *path, int flags);
	int (*openat)(void *data, int dirfd, const char *path, int flags);
	int (*close)(void *data, int fd);
	int (*ioctl)(void *data, int fd, unsigned long request, void *arg);
	ssize_t (*pread)(void *data, int fd, void *buf, size_t count,
			 uint64_t offset);
	ssize_t (*pwrite)(void *data, int fd, const void *buf, size_t count,
			  uint64_t offset);
	/* On success stores the mapping in *ret and returns 0. */
	int (*mmap)(void *data, void *addr, size_t length, int prot, int flags,
		    int fd, uint64_t offset, void **ret);
	int (*munmap)(void *data, void *addr, size_t length);
	int (*madvise)(void *data, void *addr, size_t length, int advice);
	ssize_t (*readlinkat)(void *data, int dirfd, const char *path,
			      char *buf, size_t size);
	/* 0 if path (relative to dirfd) exists, -ENOENT etc. otherwise. */
	int (*faccessat)(void *data, int dirfd, const char *path, int mode);
	/*
	 * List the entries of a directory (without "." and ".."). On success
	 * *names is a malloc'ed array of *n malloc'ed strings, sorted.
	 */
	int (*list_dir)(void *data, int dirfd, const char *path, char ***names,
			size_t *n);
	int (*getrlimit)(void *data, int resource, struct rlimit *rlim);
};

/* The real Linux implementation (sys.c). */
extern const struct assign_sys_ops assign_sys_linux;

struct assign_ctx {
	int refcount;
	void (*log_fn)(struct assign_ctx *ctx, int priority, const char *file,
		       int line, const char *fn, const char *format,
		       va_list args);
	void *log_data;
	int log_priority;
	char last_error[512];
	const struct assign_sys_ops *sys;
	void *sys_data;
	int sysfs_fd; /* O_PATH|O_DIRECTORY fd of /sys (or a test tree) */
	bool own_sysfs_fd;
};

/*
 * Test hook (not exported): make @ctx use another kernel. @sysfs_fd becomes
 * the sysfs root; the context does not take ownership of it.
 */
int assign_ctx_set_sys(struct assign_ctx *ctx, const struct assign_sys_ops *ops,
		       void *data, int sysfs_fd);

/* Logging. */
void assign_log(struct assign_ctx *ctx, int priority, const char *file,
		int line, const char *fn, const char *format, ...)
	ASSIGN_PRINTF(6, 7);

#define assign_log_cond(ctx, prio, ...)                                        \
	do {                                                                   \
		if ((ctx)->log_priority >= (prio))                             \
			assign_log((ctx), (prio), __FILE__, __LINE__,          \
				   __func__, __VA_ARGS__);                     \
	} while (0)
#define dbg(ctx, ...) assign_log_cond(ctx, LOG_DEBUG, __VA_ARGS__)
#define info(ctx, ...) assign_log_cond(ctx, LOG_INFO, __VA_ARGS__)
#define notice(ctx, ...) assign_log_cond(ctx, LOG_NOTICE, __VA_ARGS__)
#define warn(ctx, ...) assign_log_cond(ctx, LOG_WARNING, __VA_ARGS__)

/*
 * Record a failure: formats the message into ctx->last_error, logs it at
 * LOG_ERR and returns @err (a negative errno) so callers can write
 * "return set_error(ctx, -EBUSY, "group %d is not viable: ...", id);".
 */
int assign_set_error(struct assign_ctx *ctx, int err, const char *file,
		     int line, const char *fn, const char *format, ...)
	ASSIGN_PRINTF(6, 7);
#define set_error(ctx, err, ...)                                               \
	assign_set_error((ctx), (err), __FILE__, __LINE__, __func__,           \
			 __VA_ARGS__)

/* Thin wrappers over the seam. */
static inline int sys_open(struct assign_ctx *c, const char *path, int flags)
{
	return c->sys->open(c->sys_data, path, flags);
}
static inline int sys_openat(struct assign_ctx *c, int dirfd, const char *path,
			     int flags)
{
	return c->sys->openat(c->sys_data, dirfd, path, flags);
}
static inline int sys_close(struct assign_ctx *c, int fd)
{
	return c->sys->close(c->sys_data, fd);
}
static inline int sys_ioctl(struct assign_ctx *c, int fd, unsigned long req,
			    void *arg)
{
	return c->sys->ioctl(c->sys_data, fd, req, arg);
}
static inline ssize_t sys_pread(struct assign_ctx *c, int fd, void *buf,
				size_t n, uint64_t off)
{
	return c->sys->pread(c->sys_data, fd, buf, n, off);
}
static inline ssize_t sys_pwrite(struct assign_ctx *c, int fd, const void *buf,
				 size_t n, uint64_t off)
{
	return c->sys->pwrite(c->sys_data, fd, buf, n, off);
}
static inline int sys_mmap(struct assign_ctx *c, void *addr, size_t len,
			   int prot, int flags, int fd, uint64_t off, void **ret)
{
	return c->sys->mmap(c->sys_data, addr, len, prot, flags, fd, off, ret);
}
static inline int sys_munmap(struct assign_ctx *c, void *addr, size_t len)
{
	return c->sys->munmap(c->sys_data, addr, len);
}
static inline int sys_madvise(struct assign_ctx *c, void *addr, size_t len,
			      int advice)
{
	return c->sys->madvise(c->sys_data, addr, len, advice);
}
static inline int sys_getrlimit(struct assign_ctx *c, int res,
				struct rlimit *rl)
{
	return c->sys->getrlimit(c->sys_data, res, rl);
}

/*
 * sysfs helpers (util.c). Paths are relative to the sysfs root, e.g.
 * "bus/pci/devices/0000:00:03.0/iommu_group".
 */
/* Read a whole small file, NUL-terminated, trailing newline stripped. */
int sysfs_read(struct assign_ctx *ctx, const char *path, char *buf,
	       size_t size);
/* Read a whole small file at an absolute path (/proc/self/...) through
 * the seam, NUL-terminated, as it is. */
int proc_read(struct assign_ctx *ctx, const char *path, char *buf,
	      size_t size);
/* Parse a file holding one integer (decimal or 0x hex). */
int sysfs_read_u64(struct assign_ctx *ctx, const char *path, uint64_t *val);
/* Write a string to a sysfs attribute. */
int sysfs_write(struct assign_ctx *ctx, const char *path, const char *val);
/* Last path component of a symlink's target (e.g. the group number). */
int sysfs_link_name(struct assign_ctx *ctx, const char *path, char *buf,
		    size_t size);
int sysfs_exists(struct assign_ctx *ctx, const char *path);
int sysfs_list(struct assign_ctx *ctx, const char *path, char ***names,
	       size_t *n);
void strv_free(char **names, size_t n);

/* Parse "start end type" lines of iommu_groups/N/reserved_regions (util.c).
 * On success *out is a malloc'ed array of *n entries. -EIO on bad input. */
struct assign_reserved_region;
int parse_reserved_regions(const char *text,
			   struct assign_reserved_region **out, size_t *n);

/* The device's IOMMU group number, from bus/pci/devices/ADDR/iommu_group. */
int pci_dev_group(struct assign_ctx *ctx, const char *addr);
/* Name of the driver bound to a PCI device, "" when none. */
int pci_dev_driver(struct assign_ctx *ctx, const char *addr, char *buf,
		   size_t size);

/*
 * VFIO info ioctls with argsz negotiation (caps.c): allocates @minsz bytes,
 * sets argsz (the first u32 of every VFIO info struct), calls the ioctl,
 * grows the buffer to the argsz the kernel asks for and calls again. The
 * caller prepares the rest of the request in @init (copied into the buffer
 * each time, @minsz bytes). On success *ret is a malloc'ed buffer of *len
 * bytes.
 */
int vfio_info_ioctl(struct assign_ctx *ctx, int fd, unsigned long req,
		    const void *init, size_t minsz, void **ret, size_t *len);

/*
 * VFIO capability chains (caps.c). struct vfio_info_cap_header is
 * {u16 id, u16 version, u32 next}; @first and each next are offsets from
 * the start of @buf. Offsets must lie after the fixed part (@minsz),
 * be 4-byte aligned, leave room for the header (and @minsz_cap bytes of
 * body when looking one up) and strictly increase: so every walk ends.
 * Return the offset of the capability with @id (> 0), -ENOENT if absent,
 * -EPROTO for a malformed chain.
 */
int vfio_cap_find(const void *buf, size_t len, size_t minsz, uint32_t first,
		  uint16_t id, size_t cap_size);
/* Call @fn for each capability; stops on fn's non-zero return. */
int vfio_cap_foreach(const void *buf, size_t len, size_t minsz, uint32_t first,
		     int (*fn)(const void *cap, size_t off, size_t avail,
			       void *data),
		     void *data);

/*
 * Between iommu*.c and device.c. The device side knows nothing about
 * containers, groups or iommufd: it asks its IOMMU object for a device fd.
 */
struct assign_attach {
	int devfd;                  /* VFIO device fd */
	int group_id;               /* IOMMU group, -1 if unknown */
	struct assign_group *group; /* type1/no-IOMMU: reference held */
	uint32_t devid;             /* iommufd device id, 0 otherwise */
};
/* Open @addr's device fd on @iommu (choosing the backend if AUTO). */
int iommu_attach_device(struct assign_iommu *iommu, const char *addr,
			struct assign_attach *out);
/* Undo iommu_attach_device(): close the fd, drop the group if last. */
void iommu_detach_device(struct assign_iommu *iommu, const char *addr,
			 struct assign_attach *att);
/* Group fds of the groups open on @iommu (for VFIO_DEVICE_PCI_HOT_RESET);
 * *fds is malloc'ed. For iommufd, returns 0 with *n = 0. */
int iommu_group_fds(struct assign_iommu *iommu, int **fds, size_t *n);
/* The iommufd fd, or -1 for other backends. */
int iommu_iommufd(const struct assign_iommu *iommu);

/*
 * Between iommu.c and the guest memory policy (policy/guestmem.c).
 *
 * iommu_map_prepared() and iommu_map_many_prepared() are assign_iommu_map()
 * and assign_iommu_map_many() without the madvise(MADV_DONTFORK) those make
 * on every mapping: the caller guarantees MADV_DONTFORK, i.e. the whole
 * host range was marked before (the policy marks each registered region
 * once) and stays marked while mapped, or is VM_IO/VM_PFNMAP memory, which
 * refuses the advice and is never copied into a child anyway. Messages,
 * accounting and rollback are the same. iommu_map_prepared() leaves the
 * IOVA-range and overlap lookups to the kernel and explains a refusal
 * afterwards with assign_iommu_map()'s error and message (docs/iommu.md).
 */
int iommu_map_prepared(struct assign_iommu *iommu, void *vaddr, uint64_t iova,
		       uint64_t size, uint32_t flags);
int iommu_map_many_prepared(struct assign_iommu *iommu,
			    const struct assign_dma_map *maps, size_t n);
/*
 * The owner of @iommu's mapping state: at most one policy object (the
 * guest memory object) per IOMMU object. iommu_claim_owner() returns 0, or
 * -EBUSY when another owner holds it (no message: the caller explains);
 * iommu_release_owner() gives it back (only @owner's own claim). Atomic, so
 * no lock is needed.
 */
int iommu_claim_owner(struct assign_iommu *iommu, void *owner);
void iommu_release_owner(struct assign_iommu *iommu, void *owner);
/* Whether @iommu's table holds exactly the mapping [@iova, +@size) of
 * @vaddr (say, one a failed rollback of iommu_map_many_prepared() could
 * not remove). */
bool iommu_has_mapping(const struct assign_iommu *iommu, uint64_t iova,
		       uint64_t size, const void *vaddr);

#endif /* LIBASSIGN_INTERNAL_H */
