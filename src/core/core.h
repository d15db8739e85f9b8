/* SPDX-License-Identifier: MIT */
/*
 * The core layer's internal header (docs/architecture.md): the context,
 * logging and the last error, the sysfs helpers, the VFIO capability-chain
 * walker and the interval tree. Every other layer builds on it. Never
 * installed. The syscall seam has its own header, core/sys.h.
 */
#ifndef LIBASSIGN_CORE_H
#define LIBASSIGN_CORE_H

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

struct assign_sys_ops;
struct assign_error_ops;
struct assign_error_store;

/* Longest last-error message kept, with its NUL; longer ones are cut. */
#define ASSIGN_ERROR_MAX 512

struct assign_ctx {
	int refcount;
	void (*log_fn)(struct assign_ctx *ctx, int priority, const char *file,
		       int line, const char *fn, const char *format,
		       va_list args);
	void *log_data;
	int log_priority; /* relaxed atomic: any thread may change it */
	/*
	 * The last errors, one per thread (core/error.c, docs/errors.md).
	 * assign_ctx_new() sets both: libassign-host carries its own hidden
	 * copy of this layer, and reaching the store through the context
	 * makes every copy use the one of the library that made it.
	 */
	const struct assign_error_ops *error_ops;
	struct assign_error_store *errors;
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

/* Whether a message at @prio would be logged. */
static inline bool assign_log_enabled(const struct assign_ctx *ctx, int prio)
{
	return __atomic_load_n(&ctx->log_priority, __ATOMIC_RELAXED) >= prio;
}

#define assign_log_cond(ctx, prio, ...)                               \
	do {                                                          \
		if (assign_log_enabled((ctx), (prio)))                \
			assign_log((ctx), (prio), __FILE__, __LINE__, \
				   __func__, __VA_ARGS__);            \
	} while (0)
#define dbg(ctx, ...) assign_log_cond(ctx, LOG_DEBUG, __VA_ARGS__)
#define info(ctx, ...) assign_log_cond(ctx, LOG_INFO, __VA_ARGS__)
#define notice(ctx, ...) assign_log_cond(ctx, LOG_NOTICE, __VA_ARGS__)
#define warn(ctx, ...) assign_log_cond(ctx, LOG_WARNING, __VA_ARGS__)

/*
 * Messages a guest can cause, and so repeat at will (a guest toggling a
 * BAR's decoding, reprogramming vectors): each such message has a limit,
 * kept in the object whose lock serializes its callers (no global
 * state: one VM's flood never silences another's). The first
 * ASSIGN_LOG_LIMIT_BURST occurrences are logged, then only the 20th,
 * 40th, 80th... with the count, so n occurrences cost about
 * BURST + log2(n / BURST) lines; after ASSIGN_LOG_LIMIT_QUIET_S seconds
 * without one the count starts again (docs/errors.md).
 */
#define ASSIGN_LOG_LIMIT_BURST 10
#define ASSIGN_LOG_LIMIT_QUIET_S 60
struct assign_log_limit {
	uint64_t seen; /* occurrences since the count (re)started */
	uint64_t next; /* the next one logged after the burst */
	uint64_t last_ns; /* CLOCK_MONOTONIC of the last occurrence */
};
/* Count an occurrence: 0 when it is not to be logged, else its number. */
uint64_t assign_log_limit_pass(struct assign_log_limit *lim);
/* Log occurrence @n (from assign_log_limit_pass()), the count appended. */
void assign_log_counted(struct assign_ctx *ctx, int priority, uint64_t n,
			const char *file, int line, const char *fn,
			const char *format, ...) ASSIGN_PRINTF(7, 8);
#define assign_log_limited(ctx, lim, prio, ...)                            \
	do {                                                               \
		if (assign_log_enabled((ctx), (prio))) {                   \
			uint64_t n_ = assign_log_limit_pass(lim);          \
			if (n_)                                            \
				assign_log_counted((ctx), (prio), n_,      \
						   __FILE__, __LINE__,     \
						   __func__, __VA_ARGS__); \
		}                                                          \
	} while (0)
#define dbg_limited(ctx, lim, ...) \
	assign_log_limited(ctx, lim, LOG_DEBUG, __VA_ARGS__)
#define warn_limited(ctx, lim, ...) \
	assign_log_limited(ctx, lim, LOG_WARNING, __VA_ARGS__)

/*
 * Record a failure: formats the message into the calling thread's last
 * error of @ctx and returns @err (a negative errno) so callers can write
 * "return set_error(ctx, -EBUSY, "group %d is not viable: ...", id);".
 * The failure is not logged: the caller learns of it through the return
 * value and the message (docs/errors.md). At LOG_DEBUG it is traced, with
 * the file, line and function that failed.
 */
int assign_set_error(struct assign_ctx *ctx, int err, const char *file,
		     int line, const char *fn, const char *format, ...)
	ASSIGN_PRINTF(6, 7);
#define set_error(ctx, err, ...)                                               \
	assign_set_error((ctx), (err), __FILE__, __LINE__, __func__,           \
			 __VA_ARGS__)

/*
 * The calling thread's last error on @ctx (core/error.c): its message, or
 * "" when it has none. Valid until the thread's next call on @ctx.
 */
const char *assign_error_get(const struct assign_ctx *ctx);
/*
 * Keep the calling thread's message across calls that may fail without
 * the operation failing (a rollback, a probe): copy it to @saved
 * (ASSIGN_ERROR_MAX bytes) and put it back afterwards.
 */
void assign_error_save(const struct assign_ctx *ctx, char *saved);
void assign_error_restore(struct assign_ctx *ctx, const char *saved);

/*
 * The per-thread store (core/error.c). buf() returns the calling thread's
 * message buffer for @ctx (ASSIGN_ERROR_MAX bytes), making it if @create,
 * or NULL (none yet, or out of memory); release() is called by the last
 * assign_ctx_unref(). assign_error_store_new() makes a context's store:
 * 0, -ENOMEM, or -EAGAIN when no thread-specific key is left.
 */
struct assign_error_ops {
	char *(*buf)(const struct assign_ctx *ctx, bool create);
	void (*release)(struct assign_ctx *ctx);
};
extern const struct assign_error_ops assign_error_store_ops;
int assign_error_store_new(struct assign_error_store **ret);

/*
 * Structs that can grow (core/sized.c, docs/api-conventions.md). Each
 * starts with `size_t size`; ASSIGN_SIZED_MAX bounds what a caller may
 * claim (a larger value is garbage, not a newer struct).
 */
#define ASSIGN_SIZED_MAX 4096
/* An input struct (options, a region): zero @dst (@known bytes), copy what
 * @src covers, check that what only a newer caller knows is zero. NULL
 * @src gives the defaults (all zero). -EINVAL with a message naming
 * @type. Afterwards dst->size is @known. */
int sized_in(struct assign_ctx *ctx, void *dst, size_t known, const void *src,
	     const char *type);
#define SIZED_IN(ctx, dst, src, type) \
	sized_in((ctx), (dst), sizeof(*(dst)), (src), type)
/* An output struct: -EINVAL (message naming @type) when @out is NULL or
 * its size is implausible. */
int sized_out_check(struct assign_ctx *ctx, const void *out, const char *type);
/* Fill @out from the library's full struct @src (@known bytes): the bytes
 * both know, then out->size = what was filled. */
void sized_out_fill(void *out, const void *src, size_t known);
#define SIZED_OUT_FILL(out, src) sized_out_fill((out), (src), sizeof(*(src)))
/* The stride of an array of @n growable structs: its first element's size
 * (checked). 0 for an empty array. */
int sized_array_stride(struct assign_ctx *ctx, const void *first, size_t n,
		       const char *type, size_t *stride);
/* Element @i of an array with @stride. */
static inline void *sized_elem(void *base, size_t stride, size_t i)
{
	return (char *)base + i * stride;
}

/*
 * sysfs helpers (core/sysfs.c). Paths are relative to the sysfs root, e.g.
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
/*
 * The canonical form of @path (relative to the sysfs root) into @out:
 * every symlink followed, "." and ".." resolved, relative to the root
 * ("devices/pci0000:00/0000:00:03.0" for "bus/pci/devices/0000:00:03.0").
 * -ENOENT when a component does not exist, -EXDEV when the path or a
 * link leads above the root or to an absolute target, -ELOOP after 40
 * links, -ENAMETOOLONG when it does not fit.
 */
int sysfs_canonical(struct assign_ctx *ctx, const char *path, char *out,
		    size_t size);
int sysfs_list(struct assign_ctx *ctx, const char *path, char ***names,
	       size_t *n);
void strv_free(char **names, size_t n);

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
 * An AVL tree of disjoint, inclusive address ranges keyed by their start
 * (core/iova_tree.c). Intrusive: embed struct iova_node in the object
 * tracked and get back to it with iova_container_of(). Lookup, insert and
 * remove are O(log n); nodes carry a parent pointer so in-order walks need
 * no stack. Not thread-safe: the owner serializes access.
 */
struct iova_node {
	struct iova_node *left, *right, *parent;
	int height;
	uint64_t start; /* first address */
	uint64_t last;  /* last address, inclusive */
};

struct iova_tree {
	struct iova_node *root;
	size_t count;
};

#define iova_container_of(ptr, type, member)                                   \
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))

static inline void iova_tree_init(struct iova_tree *t)
{
	t->root = NULL;
	t->count = 0;
}

/* Insert @n ([n->start, n->last] set by the caller). -EEXIST if it overlaps
 * a node already in the tree (the tree is then unchanged), -EINVAL if
 * start > last. */
int iova_tree_insert(struct iova_tree *t, struct iova_node *n);
/* Remove @n, which must be in @t. */
void iova_tree_remove(struct iova_tree *t, struct iova_node *n);
/* The node containing @addr, or NULL. */
struct iova_node *iova_tree_find(const struct iova_tree *t, uint64_t addr);
/* The lowest node overlapping [start, last], or NULL. */
struct iova_node *iova_tree_first_overlap(const struct iova_tree *t,
					  uint64_t start, uint64_t last);
/* The highest node overlapping [start, last], or NULL. */
struct iova_node *iova_tree_last_overlap(const struct iova_tree *t,
					 uint64_t start, uint64_t last);
/* In-order walk. */
struct iova_node *iova_tree_first(const struct iova_tree *t);
struct iova_node *iova_tree_last(const struct iova_tree *t);
struct iova_node *iova_tree_next(const struct iova_node *n);
struct iova_node *iova_tree_prev(const struct iova_node *n);
/* Check every invariant (order, disjointness, heights, balance, parent
 * links, count): 0 or -EPROTO. Only test-guestmem calls it: the tree's
 * shape is not visible through the public API. */
int iova_tree_check(const struct iova_tree *t);

/*
 * CRC-32C (Castagnoli) of @len bytes at @buf, continuing @crc (0 to
 * start): crc32c(crc32c(0, a, n), b, m) is the CRC of a then b, and
 * crc32c(0, "123456789", 9) is 0xe3069283 (core/crc32c.c). Uses the
 * crc32 instruction where the CPU has it; crc32c_soft() never does (the
 * tests compare the two).
 */
uint32_t crc32c(uint32_t crc, const void *buf, size_t len);
uint32_t crc32c_soft(uint32_t crc, const void *buf, size_t len);

#endif /* LIBASSIGN_CORE_H */
