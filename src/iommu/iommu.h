/* SPDX-License-Identifier: MIT */
/*
 * The IOMMU layer's internal header (docs/architecture.md): the IOMMU
 * object, VFIO groups, the backend ops table and the one table of DMA
 * mappings. Never installed.
 *
 * The first part is what the layers above (device, vmm) use; the second is
 * shared by the files of this layer only: iommu.c (object lifetime,
 * backend choice, attaching devices), geometry.c (IOVA ranges, reserved
 * regions, interrupt remapping, layout checks), map.c (the mapping table
 * and every check made before the kernel sees a mapping) and the backends,
 * which only talk to the kernel: type1.c (type1 and no-IOMMU) and
 * iommufd.c.
 */
#ifndef LIBASSIGN_IOMMU_INTERNAL_H
#define LIBASSIGN_IOMMU_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libassign/iommu.h>
#include <libassign/migration.h>

#include "core/core.h"
#include "pci/pci.h"

struct assign_iommu;

/* ---------------------------------------------------------------------- */
/* For the layers above */

/*
 * For the device layer. The device side knows nothing about
 * containers, groups or iommufd: it asks its IOMMU object for a device fd.
 */
struct assign_attach {
	int devfd;                  /* VFIO device fd */
	int group_id;               /* IOMMU group, -1 if unknown */
	struct assign_group *group; /* type1/no-IOMMU: reference held */
	uint32_t devid; /* iommufd device id, 0 otherwise */
};
/* A device to attach (attach.c). */
struct iommu_dev_req {
	/* Where it is: from devpath_locate(); for a handed fd whose
	 * device sysfs cannot name, only @loc.name (dir ""). */
	struct devpath loc;
	/* A vfio cdev fd the caller opened (assign_device_open_fd()), or
	 * -1: the library opens the device itself. */
	int fd;
	/* The VF token to open it with (vfio-pci SR-IOV). */
	bool has_token;
	uint8_t token[16];
};
/*
 * Open @req's device on @iommu (choosing the backend if AUTO): first the
 * checks that explain a refusal in the order of its causes (a bridge;
 * VFIO missing; no IOMMU group; not bound to a VFIO driver), then the
 * backend. On failure nothing is left open and @req->fd is not closed;
 * on success @out owns the fd (a handed one too).
 */
int iommu_attach(struct assign_iommu *iommu, const struct iommu_dev_req *req,
		 struct assign_attach *out);
/* iommu_attach() of the device @spec names (a PCI address, an mdev UUID,
 * a platform device's name, a sysfs path, or a device handed over with
 * the IOMMU object), without a token. */
int iommu_attach_device(struct assign_iommu *iommu, const char *spec,
			struct assign_attach *out);
/* The device handed over with @iommu (assign_iommu_new_from_handoff())
 * under the name @loc->name: 1 and its bus in @loc, 0 if none. */
int iommu_handed_lookup(const struct assign_iommu *iommu, struct devpath *loc);
/* The handed cdev @fd is taken (by a device, or closed): forget it. */
void iommu_handed_forget(struct assign_iommu *iommu, int fd);
/* Undo iommu_attach_device(): close the fd, drop the group if last. */
void iommu_detach_device(struct assign_iommu *iommu, struct assign_attach *att);
/*
 * Group @group_id if it is open on @iommu (a new reference), else NULL:
 * assign_iommu_get_group() for callers to whom a miss (or iommufd, which
 * has no groups) is an answer. Sets no error and logs nothing.
 */
struct assign_group *iommu_find_group(struct assign_iommu *iommu, int group_id);

/*
 * The one table of DMA mappings (docs/iommu.md). Every mapping made on an
 * IOMMU object is one record in it, whoever asked for it: the caller,
 * through assign_iommu_map(), or the guest memory policy (vmm/guestmem*.c),
 * which keeps no table of its own. A record says who made it and, for the
 * policy, what only the policy knows (the guest physical address). Only
 * this layer writes records; the layers above read them with the functions
 * below and change the table only by mapping and unmapping through it.
 */
enum iommu_map_kind {
	/* assign_iommu_map() or assign_iommu_map_many(): the caller's; the
	 * guest memory policy never counts, returns, changes or unmaps it. */
	IOMMU_MAP_DIRECT = 0,
	/* The guest memory policy's map-all: a chunk of guest RAM at
	 * IOVA = GPA. */
	IOMMU_MAP_CHUNK,
	/* The guest memory policy's shadow of a guest IOMMU mapping. */
	IOMMU_MAP_SHADOW,
	IOMMU_MAP_KINDS
};

/*
 * One DMA mapping: [node.start, node.last] = [iova, iova + size - 1] of
 * host memory at @vaddr, with the device's access in @flags
 * (ASSIGN_DMA_F_*), made by @kind; @gpa is the guest physical address of
 * node.start for the policy's kinds, 0 for DIRECT.
 */
struct iommu_mapping {
	struct iova_node node;
	void *vaddr;
	uint64_t gpa;
	uint32_t flags;
	enum iommu_map_kind kind;
};

static inline uint64_t iommu_mapping_size(const struct iommu_mapping *m)
{
	return m->node.last - m->node.start + 1;
}

/* Whether the guest memory policy made @m (map-all chunk or shadow). */
static inline bool iommu_mapping_is_policy(const struct iommu_mapping *m)
{
	return m->kind != IOMMU_MAP_DIRECT;
}

/* The mapping holding @iova, or NULL. O(log n). */
const struct iommu_mapping *iommu_mapping_find(const struct assign_iommu *iommu,
					       uint64_t iova);
/* The lowest mapping overlapping [start, last], or NULL. O(log n). */
const struct iommu_mapping *
iommu_mapping_first(const struct assign_iommu *iommu, uint64_t start,
		    uint64_t last);
/* The mapping after @m in IOVA order, or NULL. */
const struct iommu_mapping *iommu_mapping_next(const struct iommu_mapping *m);
/* How many mappings of @kind the table holds, and their bytes. */
void iommu_mapping_count(const struct assign_iommu *iommu,
			 enum iommu_map_kind kind, uint64_t *mappings,
			 uint64_t *bytes);

/*
 * For the guest memory policy (vmm/guestmem*.c).
 *
 * iommu_map_prepared() and iommu_map_many_prepared() are assign_iommu_map()
 * and assign_iommu_map_many() for the policy: the records they make carry
 * @kind and the guest physical address of each mapping (@gpa, @gpas[i]),
 * and they skip the madvise(MADV_DONTFORK) those make on every mapping:
 * the caller guarantees MADV_DONTFORK, i.e. the whole host range was
 * marked before (the policy marks each registered region once) and stays
 * marked while mapped, or is VM_IO/VM_PFNMAP memory, which refuses the
 * advice and is never copied into a child anyway. Messages, accounting and
 * rollback are the same (a mapping the rollback cannot remove stays in the
 * table with its kind). iommu_map_prepared() leaves the IOVA-range and
 * overlap lookups to the kernel and explains a refusal afterwards with
 * assign_iommu_map()'s error and message (docs/iommu.md).
 */
int iommu_map_prepared(struct assign_iommu *iommu, uint64_t iova, void *vaddr,
		       uint64_t size, uint32_t flags, enum iommu_map_kind kind,
		       uint64_t gpa);
int iommu_map_many_prepared(struct assign_iommu *iommu,
			    const struct assign_dma_map *maps, size_t n,
			    enum iommu_map_kind kind, const uint64_t *gpas);
/* The error and message assign_iommu_map() would give for this request
 * before the kernel sees it (say, -EEXIST naming the mapping it
 * overlaps), or 0. */
int iommu_explain_map(const struct assign_iommu *iommu, uint64_t iova,
		      const void *vaddr, uint64_t size, uint32_t flags);
/* Kernel unmap of exactly the mapping @m (a record of @iommu's table),
 * which then leaves the table; @m is invalid afterwards. On failure it
 * stays mapped and in the table, and the message says why. */
int iommu_unmap_mapping(struct assign_iommu *iommu,
			const struct iommu_mapping *m);
/* Make every CHUNK and SHADOW mapping DIRECT: the policy object goes and
 * leaves what it could not unmap to the IOMMU object (which unmaps it
 * with itself), so that a later policy object never takes it for its
 * own. */
void iommu_disown_mappings(struct assign_iommu *iommu);
/*
 * The owner of @iommu's mapping state: at most one policy object (the
 * guest memory object) per IOMMU object. iommu_claim_owner() returns 0, or
 * -EBUSY when another owner holds it (no message: the caller explains);
 * iommu_release_owner() gives it back (only @owner's own claim). Atomic, so
 * no lock is needed.
 */
int iommu_claim_owner(struct assign_iommu *iommu, void *owner);
void iommu_release_owner(struct assign_iommu *iommu, void *owner);

/*
 * Dirty tracking in the IOMMU (iommu/dirty.c), for device/dirty.c, which
 * owns the public tracker: type1's VFIO_IOMMU_DIRTY_PAGES, and an iommufd
 * HWPT allocated with dirty tracking that the devices are attached to
 * while tracking. One tracker per IOMMU object (iommu->dirty_busy).
 */
struct iommu_dirty_dev {
	struct assign_attach *att;
	const char *addr;
};
struct iommu_dirty {
	enum assign_dirty_tracker kind; /* TYPE1 or IOMMUFD */
	enum assign_dirty_precision precision;
	uint64_t page_size;
	uint64_t max_length; /* IOVA bytes per bitmap call */
	uint32_t hwpt_id; /* iommufd */
};
/* Start: 0, or -EOPNOTSUPP (with why), -EINVAL, kernel errors. A
 * @page_size of 0 picks the smallest the tracker allows. */
int iommu_dirty_type1_start(struct assign_iommu *iommu, uint64_t page_size,
			    struct iommu_dirty *d);
int iommu_dirty_hwpt_start(struct assign_iommu *iommu,
			   const struct iommu_dirty_dev *devs, size_t n,
			   uint64_t page_size, struct iommu_dirty *d);
/* Whether the IOMMU behind every device can track dirty pages: 0, or
 * -EOPNOTSUPP with a message naming the first that cannot. */
int iommu_dirty_hwpt_probe(struct assign_iommu *iommu,
			   const struct iommu_dirty_dev *devs, size_t n);
/* Stop what the start made; the first error. Safe to call again after
 * a failure (each step is repeated or skipped). */
int iommu_dirty_stop(struct assign_iommu *iommu, const struct iommu_dirty *d,
		     const struct iommu_dirty_dev *devs, size_t n);
/* Fetch and clear [iova, iova + length) into @bitmap (zeroed by the
 * caller, large enough). */
int iommu_dirty_bitmap(struct assign_iommu *iommu, const struct iommu_dirty *d,
		       uint64_t iova, uint64_t length, uint64_t *bitmap);
/* How many devices are attached; whether a tracker runs, and say so. */
size_t iommu_attached_devices(const struct assign_iommu *iommu);
bool iommu_dirty_busy(const struct assign_iommu *iommu);
void iommu_dirty_set_busy(struct assign_iommu *iommu, bool busy);
/* [iova, iova + length) is all mapped (-ENOENT naming the first hole);
 * with @whole, no mapping starts before it or ends after it (-EINVAL). */
int iommu_dirty_check_range(struct assign_iommu *iommu, uint64_t iova,
			    uint64_t length, bool whole);

/* ---------------------------------------------------------------------- */
/* Inside the IOMMU layer */

/* What a backend reads from the kernel after a device was attached. */
struct iommu_geometry {
	struct assign_iova_range *ranges; /* malloc'ed, sorted */
	size_t nranges;
	uint64_t pgsizes;                 /* bit N: 2^N-byte pages */
};

struct iommu_backend {
	enum assign_iommu_backend kind;
	const char *name;
	/* Open the container or iommufd (+ IOAS); sets iommu->fd. */
	int (*open)(struct assign_iommu *iommu);
	/* Release what open() made. Mappings are already gone. */
	void (*close)(struct assign_iommu *iommu);
	/* Give a device fd for @req (checked; out->group_id set). */
	int (*attach)(struct assign_iommu *iommu,
		      const struct iommu_dev_req *req,
		      struct assign_attach *out);
	void (*detach)(struct assign_iommu *iommu, struct assign_attach *att);
	/* Read IOVA ranges and page sizes; NULL for no-IOMMU. */
	int (*geometry)(struct assign_iommu *iommu, struct iommu_geometry *g);
	/* DMA entries left; NULL when the backend has no such limit. */
	int (*dma_avail)(const struct assign_iommu *iommu, uint32_t *avail);
	/* 1, 0 or -EOPNOTSUPP; see the comments at the implementations. */
	int (*irq_remapping)(const struct assign_iommu *iommu);
	/* Kernel map/unmap of exactly one mapping; NULL for no-IOMMU. */
	int (*map)(struct assign_iommu *iommu, void *vaddr, uint64_t iova,
		   uint64_t size, uint32_t flags);
	int (*unmap)(struct assign_iommu *iommu, uint64_t iova, uint64_t size);
};

extern const struct iommu_backend iommu_backend_type1;
extern const struct iommu_backend iommu_backend_noiommu;
extern const struct iommu_backend iommu_backend_iommufd;

/* A VFIO group open on a type1/no-IOMMU container. */
struct assign_group {
	int refcount;
	int id;
	int fd;                     /* /dev/vfio/N or /dev/vfio/noiommu-N */
	bool in_container;          /* VFIO_GROUP_SET_CONTAINER done */
	struct assign_iommu *iommu; /* reference held */
};

/* A device whose fds came with a handoff (handoff.c): opened by name
 * without sysfs. */
struct iommu_handed {
	char name[DEVPATH_NAME_MAX];
	char bus[DEVPATH_BUS_MAX];
	int group; /* its IOMMU group, -1 unknown */
	int fd; /* iommufd: its cdev, until taken;
					      type1: -1 */
};
/* A group fd that came with a handoff, until a device of it opens. */
struct iommu_handed_group {
	int id;
	int fd; /* -1 once taken */
};

struct assign_iommu {
	int refcount;
	struct assign_ctx *ctx; /* reference held */
	const struct iommu_backend *ops;   /* NULL while AUTO has not chosen */
	int fd;                            /* container or iommufd, -1 */
	/* The fd (and IOAS) came from the caller (assign_iommu_new_from_fd
	 * and friends): the object was made from them, not opened. */
	bool adopted;
	bool ioas_adopted; /* the IOAS is the caller's */
	struct iommu_handed *handed; /* handoff.c */
	size_t nhanded;
	struct iommu_handed_group *handed_groups;
	size_t nhanded_groups;

	/* type1 / no-IOMMU */
	struct assign_group **groups;      /* weak: a group removes itself */
	size_t ngroups;

	/* iommufd */
	uint32_t ioas_id;

	/* Group numbers of the attached devices, one entry per device, and
	 * their iommufd device ids (0 for type1), in the same order. */
	int *dev_groups;
	uint32_t *dev_ids;
	size_t ndevices;

	/* Geometry, valid while has_geometry(). */
	bool geometry_valid;
	struct assign_iova_range *ranges;
	size_t nranges;
	uint64_t pgsizes;
	uint64_t align;                    /* smallest page size */
	struct assign_reserved_region *resv;
	size_t nresv;
	uint64_t dma_limit;                /* highest IOVA allowed */
	/* assign_iommu_opts.max_mappings as given (0: the default), and the
	 * limit in force once the backend is known (0: none of our own). */
	uint32_t max_mappings_opt;
	uint32_t max_mappings;

	/* The one table of DMA mappings (struct iommu_mapping, malloc'ed),
	 * an AVL tree by IOVA, never overlapping: O(log n) lookup, insert
	 * and removal. maps.count is the number of mappings. */
	struct iova_tree maps;
	uint64_t mapped_bytes;
	/* Mappings and bytes per enum iommu_map_kind. */
	struct {
		uint64_t mappings, bytes;
	} by_kind[IOMMU_MAP_KINDS];
	/* One freed mapping kept for the next map (a guest's map+unmap
	 * pairs then need no malloc/free), or NULL. */
	struct iommu_mapping *spare;

	/* The policy object that owns the mapping state (the guest memory
	 * object of this IOMMU), NULL if none: iommu_claim_owner(). */
	void *owner;

	/* A dirty tracker is running (device/dirty.c). */
	bool dirty_busy;
};

static inline bool iommu_is_noiommu(const struct assign_iommu *iommu)
{
	return iommu->ops && iommu->ops->kind == ASSIGN_IOMMU_NOIOMMU;
}

static inline struct iommu_mapping *iommu_mapping_of(const struct iova_node *n)
{
	return n ? iova_container_of(n, struct iommu_mapping, node) : NULL;
}

/* geometry.c: read the geometry again after a device was attached; @gids
 * are the groups of all attached devices including the new one. Nothing
 * changes on failure. */
int iommu_refresh_geometry(struct assign_iommu *iommu, const int *gids,
			   size_t ngids);
/* geometry.c: -EPERM, "not available in no-IOMMU mode". */
int iommu_refuse_noiommu(const struct assign_iommu *iommu, const char *what);
/* geometry.c: geometry queries and DMA need a real IOMMU whose geometry is
 * known: iommu_refuse_noiommu() or iommu_need_geometry(). */
int iommu_need_iommu_geometry(const struct assign_iommu *iommu,
			      const char *what);
/* geometry.c: the first piece [*ps, *pl] of [*cur, last] not covered by
 * the IOVA ranges; advances *cur past it (*done when the end is reached).
 * Returns false when the rest is covered. */
bool iommu_next_uncovered(const struct assign_iommu *iommu, uint64_t *cur,
			  uint64_t last, bool *done, uint64_t *ps,
			  uint64_t *pl);
/* geometry.c: the IOVA ranges as text, for messages. */
void iommu_fmt_ranges(const struct assign_iommu *iommu, char *buf, size_t size);
/* geometry.c: the first reserved region that [iova, last] must stay out
 * of, or NULL. */
const struct assign_reserved_region *
iommu_blocking_resv(const struct assign_iommu *iommu, uint64_t iova,
		    uint64_t last);

/* iommu.c: set iommu->max_mappings from the option and the backend
 * (called when the backend is chosen). */
void iommu_set_max_mappings(struct assign_iommu *iommu);

/* map.c: drop every library mapping (kernel unmap), keep going on
 * errors; returns the first error. */
int iommu_unmap_everything(struct assign_iommu *iommu);
/* map.c: drop every mapping from the table without a kernel call (the
 * kernel dropped them itself, or the object goes). */
void iommu_forget_mappings(struct assign_iommu *iommu);
/* geometry.c: forget the geometry (type1 container lost its IOMMU). */
void iommu_geometry_invalidate(struct assign_iommu *iommu);

/* attach.c: the VF token's part in a refusal to open @req's device
 * (-EACCES: missing or wrong; -EINVAL with a token: one the device does
 * not take): sets the message and returns @err, or 0 when the token is
 * not the cause. */
int iommu_vf_token_error(struct assign_iommu *iommu,
			 const struct iommu_dev_req *req, int err);

/* iommu.c */ /* The checks of assign_iommu_new()'s options (flags, backend, the
 * no-IOMMU opt-in), with a message. */
int iommu_check_opts(struct assign_ctx *ctx, const struct assign_iommu_opts *o);
/* A new object of @ops (NULL: AUTO), nothing opened; NULL when out of
 * memory. */
struct assign_iommu *iommu_alloc(struct assign_ctx *ctx,
				 const struct iommu_backend *ops);
/* The object's fds are ready: the no-IOMMU warning, the context's
 * reference. */
void iommu_opened(struct assign_iommu *iommu,
		  const struct assign_iommu_opts *o);

/* adopt.c: what an fd is, as the kernel says (fstat, /sys/dev/char). */
enum iommu_fd_kind {
	IOMMU_FD_OTHER, /* not a VFIO fd (or one sysfs does not know) */
	IOMMU_FD_CONTAINER, /* /dev/vfio/vfio */
	IOMMU_FD_IOMMUFD, /* /dev/iommu */
	IOMMU_FD_GROUP, /* /dev/vfio/N, /dev/vfio/noiommu-N */
	IOMMU_FD_CDEV, /* /dev/vfio/devices/vfioN */
};
struct iommu_fd_id {
	enum iommu_fd_kind kind;
	int group; /* GROUP: its number */
	bool noiommu; /* GROUP: a no-IOMMU group */
	bool unknown; /* a character device /sys/dev/char lacks */
	struct devpath dev; /* CDEV: its device */
	char what[DEVPATH_DIR_MAX + 64]; /* "VFIO group 7", for messages */
};
/* 0 and *id (also for an fd that is no VFIO fd: kind OTHER); -EBADF
 * (message) for an fd that is not open. */
int iommu_fd_identify(struct assign_ctx *ctx, int fd, struct iommu_fd_id *id);

/* handoff.c: close the handed fds no device took. */
void iommu_handed_release(struct assign_iommu *iommu);
/* handoff.c: the handed fd of group @gid, or -1; iommu_handed_forget()
 * it once a group object owns it. */
int iommu_handed_group_fd(const struct assign_iommu *iommu, int gid);
/* attach.c: the checks of iommu_attach() that sysfs answers, in the order
 * of the causes; *gid gets the device's group (-1: none yet). */
int iommu_check_device(struct assign_iommu *iommu,
		       const struct iommu_dev_req *req, int *gid);
/* handoff.c: what a handoff message says (iommu/handoff.c,
 * fuzz/fuzz-handoff.c). */
#define HANDOFF_MAX_DEVICES 64
#define HANDOFF_MAX_MSG 8192
#define HANDOFF_MAX_FDS (1 + 2 * HANDOFF_MAX_DEVICES)
struct handoff_dev {
	char name[DEVPATH_NAME_MAX];
	char bus[DEVPATH_BUS_MAX];
	int group; /* -1: unknown (iommufd) */
	int fd;
};
struct handoff_desc {
	enum assign_iommu_backend backend; /* TYPE1 or IOMMUFD */
	size_t ngroups;
	int groups[HANDOFF_MAX_DEVICES];
	size_t ndevs;
	struct handoff_dev devs[HANDOFF_MAX_DEVICES];
	size_t nfds; /* the fds the message says come with it */
};
/* Parse a handoff message of @len bytes: 0, or -EPROTO with *why. */
int handoff_parse(const char *msg, size_t len, struct handoff_desc *d,
		  const char **why);
/* The backend @b forces; NULL for AUTO. */
const struct iommu_backend *iommu_backend_ops(enum assign_iommu_backend b);

/* type1.c */
/* The container in iommu->fd speaks our VFIO API (and offers no-IOMMU
 * for that backend); message on failure, iommu->fd left alone. */
int type1_setup(struct assign_iommu *iommu);
/* Add the group fd @fd (group @gid, not in a container) to @iommu's
 * container: the group object, with a reference for the caller. On
 * failure @fd is left open and as it was. */
int type1_group_adopt(struct assign_iommu *iommu, int fd, int gid,
		      struct assign_group **ret);
/* -EBUSY with "group N is not viable: ADDR is bound to DRV; ..." naming
 * the devices of group @gid bound to host drivers. With @only_if_found,
 * 0 (and no message) when there is none. */
int iommu_not_viable_error(struct assign_iommu *iommu, int gid,
			   bool only_if_found);
/* iommufd.c: the name of the vfio cdev ("vfioN") of the device in sysfs
 * directory @dir into @buf: 0, -ENOENT when it has none (or none that
 * fits), another -errno when sysfs cannot say. No message. */
int iommu_vfio_cdev(struct assign_ctx *ctx, const char *dir, char *buf,
		    size_t size);
/* irq_remap.c: whether the interrupts of the attached devices are
 * remapped: 1, 0, or -EOPNOTSUPP with a message; @module is the module
 * whose allow_unsafe_interrupts decides whether the kernel checked. */
int iommu_irq_remapping(const struct assign_iommu *iommu, const char *module);
/* iommufd.c: make @iommu's IOAS: allocate one, or check that @ioas_id
 * exists in the iommufd (adopted). */
int ifd_setup_ioas(struct assign_iommu *iommu, uint32_t ioas_id);

/* Host page size (sysconf), never 0. */
uint64_t iommu_host_page_size(void);

/* Parse "start end type" lines of iommu_groups/N/reserved_regions (geometry.c).
 * On success *out is a malloc'ed array of *n entries. -EIO on bad input.
 * Not static: test-ctx and fuzz-reserved-regions feed it text no mock
 * sysfs file could carry as directly. */
int parse_reserved_regions(const char *text,
			   struct assign_reserved_region **out, size_t *n);

#endif /* LIBASSIGN_IOMMU_INTERNAL_H */
