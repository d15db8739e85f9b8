/* SPDX-License-Identifier: MIT */
/*
 * Internals of the mock kernel, shared by mock.c (fd table, seam, fault
 * injection, inspection), mock_sysfs.c (the temporary sysfs tree),
 * mock_iommu.c (type1 container, groups, iommufd) and mock_device.c (device
 * fds: regions, interrupts, resets, features).
 */
#ifndef LIBASSIGN_MOCK_INTERNAL_H
#define LIBASSIGN_MOCK_INTERNAL_H

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "mock.h"

#define MOCK_MAX_DEVICES 64
#define MOCK_MAX_GROUPS 64
#define MOCK_MAX_RANGES 16
#define MOCK_MAX_FAULTS 8
/* The VT-d extended capabilities of the mock's IOMMU unit (QEMU's
 * intel-iommu with intremap=on); bit 3 is interrupt remapping. */
#define MOCK_VTD_ECAP 0xf00f5eull

/* vfio-pci puts region N at N << 40 on the device fd. */
#define MOCK_REGION_SHIFT 40
#define MOCK_REGION_OFFSET(i) ((uint64_t)(i) << MOCK_REGION_SHIFT)
#define MOCK_IRQ_NONE UINT32_MAX

enum mfd_kind {
	MFD_CONTAINER = 1, /* /dev/vfio/vfio */
	MFD_GROUP, /* /dev/vfio/N, /dev/vfio/noiommu-N */
	MFD_IOMMUFD, /* /dev/iommu */
	MFD_DEVICE, /* from VFIO_GROUP_GET_DEVICE_FD or a cdev open */
	MFD_SYSFS, /* a real file of the sysfs tree, opened by openat */
	MFD_MIGFILE, /* a migration data fd (mock_mig.c) */
	MFD_OTHER, /* a real fd the mock does not model, received
			      over a socket: fstat and close reach it */
};

/* Device numbers the mock's VFIO nodes report through fstat, with their
 * /sys/dev/char links (Linux: the misc major, VFIO's minor; the others are
 * dynamic there). */
#define MOCK_MISC_MAJOR 10
#define MOCK_VFIO_MINOR 196
#define MOCK_IOMMU_MINOR 123
#define MOCK_GROUP_MAJOR 243
#define MOCK_CDEV_MAJOR 511

/* One DMA mapping (type1 container or IOAS). */
struct mdma {
	uint64_t iova, size;
	uint64_t vaddr;
	uint32_t flags; /* VFIO_DMA_MAP_FLAG_READ/WRITE */
};

/* A set of DMA mappings sorted by iova (they never overlap). */
struct mdma_set {
	struct mdma *v;
	size_t n, cap;
	uint64_t bytes;            /* sum of the sizes */
};

struct mregion {
	uint64_t size;
	uint32_t flags;
	uint32_t nsparse;
	struct {
		uint64_t offset, size;
	} sparse[4];
	bool msix_mappable;
	bool has_type;
	uint32_t type, subtype;
	int memfd;     /* -1 when size is 0 */
	uint8_t *mem;  /* the memfd mapped for the mock's own access */
	uint64_t bar_init; /* initial BAR register value (flag bits) */
};

struct mirq {
	uint32_t count;
	uint32_t flags;
};

/* A set of dirty 4 KiB pages (IOVAs), sorted, without duplicates. */
struct mpages {
	uint64_t *v;
	size_t n, cap;
};
int mpages_add(struct mpages *s, uint64_t page);
/* Remove and return through @fn the pages in [iova, last]. */
void mpages_take(struct mpages *s, uint64_t iova, uint64_t last,
		 void (*fn)(void *arg, uint64_t page), void *arg);
void mpages_clear(struct mpages *s);

struct mdev;

/* A migration data fd: the saving or the resuming session. */
struct mmigfile {
	struct mdev *dev; /* NULL once disabled */
	bool saving;
	unsigned refs; /* the fd, and the device while active */
	uint8_t *buf; /* saving: produced; resuming: received */
	size_t len, cap, pos; /* pos: read position (saving) */
	size_t initial_end; /* saving: end of the initial snapshot */
};

/* A device's migration model (mock_mig.c). */
struct mmig {
	uint32_t flags; /* VFIO_MIGRATION_*; 0: none */
	bool precopy_zero;
	uint32_t state; /* enum vfio_device_mig_state */
	uint8_t *data; /* internal state */
	size_t size;
	uint8_t *dirty; /* per 4 KiB block, changed since read */
	struct mmigfile *saving, *resuming;
	unsigned arcs[8][8];
	/* one-shot fault on an arc */
	bool fail_armed;
	uint32_t fail_from, fail_to;
	int fail_err;
	bool fail_to_error;
	/* DMA logging */
	bool log_ops;
	bool logging;
	uint64_t log_pgsize;
	uint64_t (*log_ranges)[2]; /* [iova, last] */
	uint32_t log_nranges;
	struct mpages log;
};

struct mkernel;
struct mhwpt;
struct vfio_device_feature;
struct mgroup;
struct mictx;
struct mioas;

enum mbus { MBUS_PCI, MBUS_MDEV, MBUS_PLATFORM };

struct mdev {
	struct mock_kernel *mk;
	char addr[64]; /* PCI address, UUID or platform name */
	enum mbus bus;
	char parent[32]; /* mdev: parent device */
	char mdev_type[48]; /* mdev: type */
	char physfn[16]; /* VF: its PF, "" otherwise */
	bool sriov_pf;
	uint8_t vf_token[16]; /* PF: the VF token (vfio-pci's) */
	unsigned vf_users; /* PF: its VFs open through VFIO */
	int group;
	char driver[64];           /* "" when unbound */
	char home_driver[64];      /* driver it was created with */
	char override[64];         /* driver_override, "" for none */
	uint32_t atomic_comp;      /* PCI atomic completer cap flags */
	uint16_t vendor, device;
	uint32_t class_code;
	size_t config_len;
	uint32_t num_regions;
	struct mregion *regions;
	uint32_t num_irqs;
	struct mirq *irqs;
	bool no_reset;
	bool no_cdev;
	bool no_hot_reset;
	bool intx_no_unmask_fd;
	int vfio_index;            /* N of vfio-dev/vfioN */

	/* Open state. */
	unsigned open_count;       /* device fds (group path) or bound cdev */
	unsigned cdev_open;        /* cdev fds open (bound or not) */
	struct mictx *bound_ictx;  /* cdev bound to this iommufd */
	uint32_t devid;
	struct mioas *ioas;        /* attached IOAS (cdev) */
	uint32_t hwpt_id;

	/* Interrupt state, as vfio-pci keeps it. */
	uint32_t irq_type;         /* MOCK_IRQ_NONE, INTX, MSI or MSIX */
	uint32_t nctx;             /* vectors allocated for MSI/MSI-X */
	int *trig;                 /* dup'ed eventfds per vector, -1 none */
	uint32_t ntrig;
	bool intx_masked;
	bool intx_pending;
	int intx_unmask_fd;        /* dup'ed eventfd, -1 none */
	int err_trig, req_trig;

	unsigned reset_count;
	unsigned hot_reset_count;

	struct mmig mig;
	uint16_t subsys_vendor, subsys_device;
	struct mhwpt *hwpt; /* cdev: attached to this explicit HWPT */
};

struct mcontainer {
	unsigned refs;             /* fd + attached groups */
	bool iommu_set;
	uint32_t type;             /* VFIO_TYPE1_IOMMU etc. */
	bool noiommu;
	struct mdma_set dma;
	bool dirty_tracking; /* VFIO_IOMMU_DIRTY_PAGES_FLAG_START */
	struct mpages dirty; /* pages written by emulated groups */
};

struct mgroup {
	int id;
	bool exists;
	char *reserved;            /* reserved_regions text */
	bool opened;               /* the group file is open */
	bool emulated; /* an mdev's group: type "unknown" */
	unsigned file_refs;        /* group fd + device fds of the group path */
	struct mcontainer *container;
};

struct mioas {
	uint32_t id;
	unsigned users;            /* attached devices */
	struct mdma_set dma;
	struct mioas *next;
};

/* An HWPT allocated with IOMMU_HWPT_ALLOC (mock_dirty.c). */
struct mhwpt {
	uint32_t id;
	struct mioas *ioas;
	unsigned users; /* attached devices */
	bool dirty_capable; /* IOMMU_HWPT_ALLOC_DIRTY_TRACKING */
	bool tracking; /* IOMMU_HWPT_SET_DIRTY_TRACKING on */
	struct mpages dirty;
	struct mhwpt *next;
};

struct mictx {
	unsigned refs;             /* fd + bound devices */
	uint32_t next_id;
	struct mioas *ioas;
	struct mhwpt *hwpts;
};

/* A device file: the group path or a cdev. */
struct mdevfile {
	unsigned refs; /* fds sharing this file (passed over a
				      socket) */
	struct mdev *dev;
	struct mgroup *group;      /* group path: holds a group file ref */
	bool cdev;
	bool bound;                /* cdev: BIND_IOMMUFD done */
};

struct mfd {
	int fd;
	enum mfd_kind kind;
	/* The inode of the open file (a memfd per mock file), so an fd that
	 * comes back through a socket finds its file: 0 for MFD_SYSFS. */
	unsigned long ino;
	union {
		struct mcontainer *container;
		struct mgroup *group;
		struct mictx *ictx;
		struct mdevfile *df;
		char *path;        /* MFD_SYSFS: path relative to the root */
		struct mmigfile *mf;
	} u;
};

struct mmapping {
	uintptr_t start, end;
	bool region;
};

struct mfault {
	enum mock_call kind;
	unsigned long req;
	unsigned long left;
	int err;
};

struct mock_kernel {
	pthread_mutex_t lock;      /* recursive; see mock_lock() */
	char root[512];
	int root_fd; /* O_PATH|O_DIRECTORY of the tree */

	/* Knobs. */
	uint64_t aperture[MOCK_MAX_RANGES][2];
	size_t naperture;
	uint64_t pgsizes;
	uint32_t dma_entry_limit;
	uint64_t memlock;
	bool cap_ipc_lock;         /* pinning ignores memlock */
	bool irq_remap; /* the kernel remaps (IR- irq chips) */
	bool ir_capable; /* the IOMMU unit has ecap.IR */
	bool allow_unsafe;         /* allow_unsafe_interrupts module params */
	bool unsafe_param; /* ... read Y whatever irq_remap says */
	bool type1v2;
	bool iommufd;
	bool noiommu;
	bool dirty_hw; /* IOMMU dirty tracking (iommufd HWPT) */

	/* Test-owned fds read() and write() may reach (mock_pass_fd()). */
	int pass_fds[16];
	size_t npass;
	bool bind_token; /* BIND_IOMMUFD takes a VF token */
	bool no_vfio; /* no VFIO at all */
	bool no_dev_access; /* /dev/vfio, /dev/iommu: -EACCES */

	struct mdev *devs[MOCK_MAX_DEVICES];
	size_t ndevs;
	struct mgroup groups[MOCK_MAX_GROUPS];
	int next_vfio_index;

	struct mfd *fds;
	size_t nfds, capfds;
	/* Files sent over a socket and not received yet: each holds the
	 * reference the fd it will become takes over, as the kernel keeps a
	 * file in flight alive after its sender closed it. */
	struct mfd *inflight;
	size_t ninflight, capinflight;

	struct mmapping *maps;
	size_t nmaps, capmaps;

	/* Every container and iommufd ever alive, for the DMA totals. */
	struct mcontainer **containers;
	size_t ncontainers, capcontainers;
	struct mictx **ictxs;
	size_t nictxs, capictxs;

	bool trace;                /* MOCK_TRACE set */
	unsigned long bad_fd_calls;
	unsigned long calls[MOCK_NCALLS];
	struct mfault faults[MOCK_MAX_FAULTS];
	size_t nfaults;
};

/* A capability chain being built, as vfio_info_cap_add() builds it. */
struct capbuf {
	uint8_t buf[4096];
	size_t size;
};
void *mock_cap_add(struct capbuf *cb, size_t size, uint16_t id,
		   uint16_t version);
void mock_cap_shift(struct capbuf *cb, size_t offset);

/* mock.c */
void mock_lock(const struct mock_kernel *mk);
void mock_unlock(const struct mock_kernel *mk);
struct mfd *mock_fd_get(struct mock_kernel *mk, int fd);
int mock_fd_new(struct mock_kernel *mk, enum mfd_kind kind, void *obj);
struct mdev *mock_dev_find(const struct mock_kernel *mk, const char *addr);
struct mgroup *mock_group_get(struct mock_kernel *mk, int id, bool create);
uint64_t mock_total_pinned(const struct mock_kernel *mk);
void *mock_zalloc(size_t n);
char *mock_strdup(const char *s);
int mock_register_container(struct mock_kernel *mk, struct mcontainer *c);
void mock_unregister_container(struct mock_kernel *mk, struct mcontainer *c);
int mock_register_ictx(struct mock_kernel *mk, struct mictx *ictx);
void mock_unregister_ictx(struct mock_kernel *mk, struct mictx *ictx);

/* DMA sets (mock_iommu.c). */
void mdma_set_free(struct mdma_set *s);
/* Index of the first mapping overlapping [iova, last], or s->n. */
size_t mdma_find(const struct mdma_set *s, uint64_t iova, uint64_t last);
uint64_t mdma_set_bytes(const struct mdma_set *s);
/* Valid IOVA ranges for a set of groups (aperture minus reserved regions).
 * @groups: group ids, @ngroups: how many. Returns count, ranges in @out. */
size_t mock_iova_ranges(const struct mock_kernel *mk, const int *groups,
			size_t ngroups, uint64_t (*out)[2], size_t max);

/* mock_iommu.c: helpers shared with mock_dirty.c. */
uint64_t mock_min_pgsize(const struct mock_kernel *mk);
bool mock_range_inside(const uint64_t (*r)[2], size_t n, uint64_t start,
		       uint64_t last);
struct mioas *mock_ioas_get(struct mictx *ictx, uint32_t id);
/* iommufd's size-prefixed structs in and out (-EINVAL, -E2BIG). */
int mock_ucmd_in(void *dst, size_t size, size_t minsz, const void *arg);
void mock_ucmd_out(void *arg, const void *src, size_t size);

/* mock_iommu.c: ioctl handlers and releases. */
int mock_container_ioctl(struct mock_kernel *mk, struct mcontainer *c,
			 unsigned long req, void *arg);
int mock_group_ioctl(struct mock_kernel *mk, struct mgroup *g,
		     unsigned long req, void *arg);
int mock_iommufd_ioctl(struct mock_kernel *mk, struct mictx *ictx,
		       unsigned long req, void *arg);
void mock_container_put(struct mock_kernel *mk, struct mcontainer *c);
void mock_group_put(struct mock_kernel *mk, struct mgroup *g);
void mock_ictx_put(struct mock_kernel *mk, struct mictx *ictx);
int mock_open_container(struct mock_kernel *mk);
int mock_open_group(struct mock_kernel *mk, int id, bool noiommu_name);
int mock_open_iommufd(struct mock_kernel *mk);
/* cdev bind/attach/detach, called from the device ioctl path. */
int mock_cdev_ioctl(struct mock_kernel *mk, struct mdevfile *df,
		    unsigned long req, void *arg);
void mock_cdev_unbind(struct mock_kernel *mk, struct mdev *dev);

/* mock_device.c */
int mock_device_build(struct mock_kernel *mk, struct mdev *dev,
		      const struct mock_device_cfg *cfg);
void mock_device_free(struct mdev *dev);
int mock_open_cdev(struct mock_kernel *mk, int index);
int mock_device_ioctl(struct mock_kernel *mk, struct mdevfile *df,
		      unsigned long req, void *arg);
ssize_t mock_device_rw(struct mock_kernel *mk, struct mdevfile *df, void *buf,
		       size_t count, uint64_t off, bool write);
int mock_device_mmap(struct mock_kernel *mk, struct mdevfile *df, void *addr,
		     size_t len, int prot, int flags, uint64_t off, void **ret);
/* The VF token rules of vfio-pci for opening @dev (@uuid NULL: none):
 * 0, -EACCES or -EINVAL. */
int mock_vf_token_check(struct mock_kernel *mk, struct mdev *dev,
			const uint8_t *uuid);
/* First open of a device (any path): interrupts off, a VF counted as a
 * user of its PF's token. */
void mock_device_first_open(struct mock_kernel *mk, struct mdev *dev);
/* Last close of a device (any path): disables interrupts. */
void mock_device_last_close(struct mock_kernel *mk, struct mdev *dev);
void mock_devfile_close(struct mock_kernel *mk, struct mdevfile *df);
void mock_irq_disable_all(struct mdev *dev);
/* Opened through the group path? cdev? */
int mock_device_open_group_path(struct mock_kernel *mk, struct mgroup *g,
				const char *name);

/* vfio-pci or a vfio-pci variant driver (mlx5_vfio_pci, ...): makes the
 * vfio group node, the device fd and the cdev. */
bool mock_driver_is_vfio(const char *driver);
/* Whether @dev is a VFIO device now: PCI with a vfio driver, an mdev with
 * any driver (its parent's), a platform device on vfio-platform. */
bool mock_dev_is_vfio(const struct mdev *dev);
/* Its sysfs directory relative to the root, "devices/...". */
void mock_dev_dir(const struct mdev *dev, char *buf, size_t size);
/* mock_sysfs.c: the /sys/dev/char link and device of a group node. */
int mock_sysfs_add_group_node(struct mock_kernel *mk, int group);

/* mock_mig.c */
void mock_mig_init(struct mdev *dev, const struct mock_device_cfg *cfg);
void mock_mig_free(struct mdev *dev);
/* VFIO_DEVICE_FEATURE for the migration and DMA logging features: the
 * result, or 1 when @feature is not one of them. */
int mock_mig_feature(struct mock_kernel *mk, struct mdev *dev,
		     struct vfio_device_feature *f);
/* VFIO_DEVICE_RESET, and the last close: RUNNING, sessions ended. */
void mock_mig_reset(struct mdev *dev);
void mock_mig_last_close(struct mdev *dev);
ssize_t mock_migfile_rw(struct mmigfile *mf, void *buf, size_t n, bool write);
int mock_migfile_ioctl(struct mmigfile *mf, unsigned long req, void *arg);
void mock_migfile_put(struct mmigfile *mf);
/* A DMA write by @dev at [iova, last] reached memory: log it. */
void mock_mig_log_dma(struct mdev *dev, uint64_t iova, uint64_t last);

/* mock_dirty.c */
int mock_type1_dirty_pages(struct mock_kernel *mk, struct mcontainer *c,
			   void *arg);
/* IOMMU_GET_HW_INFO, IOMMU_HWPT_*; 1 when @req is not one of them. */
int mock_iommufd_dirty_ioctl(struct mock_kernel *mk, struct mictx *ictx,
			     unsigned long req, void *arg);
struct mhwpt *mock_hwpt_get(struct mictx *ictx, uint32_t id);
void mock_hwpts_free(struct mictx *ictx);

/* mock_sysfs.c */
int mock_sysfs_init(struct mock_kernel *mk);
void mock_sysfs_cleanup(struct mock_kernel *mk);
int mock_sysfs_add_device(struct mock_kernel *mk, struct mdev *dev);
int mock_sysfs_set_driver(struct mock_kernel *mk, struct mdev *dev,
			  const char *driver);
int mock_sysfs_write_group_file(struct mock_kernel *mk, int group,
				const char *name, const char *text);
void mock_sysfs_update_params(struct mock_kernel *mk);
/* An mdev's sysfs entries go (mock_remove_device()). */
void mock_sysfs_remove_device(struct mock_kernel *mk, struct mdev *dev);
/* mock.c: take @dev out of the kernel (an mdev removed). */
int mock_remove_device(struct mock_kernel *mk, struct mdev *dev);
/* A write through the seam to a sysfs file: emulate bind/unbind etc.
 * Returns 1 if handled (*ret set), 0 to let the write reach the file. */
int mock_sysfs_intercept_write(struct mock_kernel *mk, const char *path,
			       const void *buf, size_t count, ssize_t *ret);
/* Whether the group is viable: every device unbound or bound to a driver
 * that leaves DMA ownership to its user (driver_managed_dma: vfio-pci and
 * its variants, pci-stub, pcieport). */
bool mock_group_viable(const struct mock_kernel *mk, int group);

#endif
