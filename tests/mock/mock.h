/* SPDX-License-Identifier: MIT */
/*
 * The mock kernel: a stateful fake of the VFIO (type1 container + groups,
 * no-IOMMU) and iommufd (IOAS + vfio cdev) uAPI, plugged in behind the
 * library's syscall seam (src/core/sys.h, struct assign_sys_ops).
 *
 * It is not a script of expected calls: it keeps an fd table of
 * containers, groups, iommufds and devices; negotiates argsz and lays out
 * capability chains as the kernel does; enforces group viability, the
 * memlock limit (ENOMEM) and dma_entry_limit (ENOSPC); tracks DMA mappings
 * (EEXIST on overlap, type1 v2 unmap semantics); backs regions with memfds
 * so mmap and pread/pwrite reach the same bytes; signals real eventfds;
 * counts resets; and fails the k-th call on demand (fault injection).
 *
 * sysfs is a real temporary directory tree built by the mock (devices,
 * drivers, iommu_group links, reserved_regions, vfio-dev/vfioN), so the
 * library's *at() calls work on it unchanged.
 */
#ifndef LIBASSIGN_MOCK_H
#define LIBASSIGN_MOCK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct assign_ctx;
struct assign_sys_ops;
struct mock_kernel;

/* One region of a mock device (VFIO_REGION_INFO_FLAG_* in @flags). */
struct mock_region_cfg {
	uint32_t index;
	uint64_t size;
	uint32_t flags;
	uint32_t nsparse;            /* sparse-mmap areas, 0 for none */
	struct {
		uint64_t offset;
		uint64_t size;
	} sparse[4];
	bool msix_mappable;          /* add VFIO_REGION_INFO_CAP_MSIX_MAPPABLE */
	bool has_type;               /* add VFIO_REGION_INFO_CAP_TYPE */
	uint32_t type, subtype;
};

/* One interrupt index (VFIO_IRQ_INFO_* in @flags). */
struct mock_irq_cfg {
	uint32_t index;
	uint32_t count;
	uint32_t flags;
};

struct mock_device_cfg {
	const char *addr; /* "0000:00:03.0"; for another @bus the
	                                device's name: an mdev's UUID, a
	                                platform device's name */
	const char *bus; /* "pci" when NULL, "mdev" (an mdev of
	                                @parent: VFIO flags PCI, emulated
	                                IOMMU group, bound to @driver, e.g.
	                                "mtty", which makes it a VFIO device)
	                                or "platform" (VFIO flags PLATFORM, no
	                                config region; vfio-platform) */
	const char *parent; /* mdev: its parent device, "mtty" */
	const char *mdev_type; /* mdev: its type, "mtty-1" */
	const char *physfn; /* an SR-IOV VF: its PF's address */
	bool sriov_pf; /* an SR-IOV PF (VF token rules) */
	int group; /* IOMMU group number; -1: none (no
	                                IOMMU), the device cannot be VFIO's */
	const char *driver;          /* bound driver, "vfio-pci", NULL = none;
	                                vfio-pci variants (*_vfio_pci) act as
	                                vfio-pci; viability: see
	                                mock_set_driver() */
	uint16_t vendor, device;
	uint32_t class_code;         /* 24-bit class, e.g. 0x020000 */
	const uint8_t *config;       /* initial config space, NULL: a minimal
	                                header made from vendor/device/class */
	size_t config_len;           /* 256 or 4096 */
	const struct mock_region_cfg *regions;
	size_t nregions;             /* region indexes not given have size 0,
	                                except the config region (index 7),
	                                made config_len long, read/write */
	uint32_t num_regions;        /* VFIO_PCI_NUM_REGIONS if 0 */
	const struct mock_irq_cfg *irqs;
	size_t nirqs;
	uint32_t num_irqs;           /* VFIO_PCI_NUM_IRQS if 0 */
	bool no_reset;               /* clear VFIO_DEVICE_FLAGS_RESET */
	bool no_cdev;                /* no vfio-dev/vfioN (iommufd unusable) */
	bool no_hot_reset;           /* GET_PCI_HOT_RESET_INFO fails -ENODEV */
	/* INTx takes no unmask eventfd (-ENOTTY, as the kernel's mtty) */
	bool intx_no_unmask_fd;
	uint32_t pci_atomic_comp;    /* != 0: VFIO_DEVICE_GET_INFO carries
	                                VFIO_DEVICE_INFO_CAP_PCI_ATOMIC_COMP
	                                with these flags */
	/* Migration (mock_mig.c), modelled on the kernel's mtty sample:
	 * VFIO_MIGRATION_* flags (0: VFIO_DEVICE_FEATURE_MIGRATION and the
	 * other migration features are -ENOTTY, as on plain vfio-pci). */
	uint32_t migration_flags;
	/* Bytes of internal device state that migrate (default 4096 when
	 * migration is on). */
	size_t mig_state_size;
	/* PRE_COPY's temporary end of stream reads 0, as mtty's does,
	 * instead of -ENOMSG, as vfio.h says. */
	bool mig_precopy_zero;
	/* VFIO_DEVICE_FEATURE_DMA_LOGGING_* */
	bool dma_logging;
	/* {vendor, device} of the subsystem in config space; NULL: the
	 * same as vendor/device. */
	const uint16_t *subsystem;
};

/* The seam calls, mock_fire_irq(), the irq and DMA inspection functions
 * and fault injection may be used from several threads (one lock); the
 * other functions are meant for the test's main thread.
 *
 * Create a mock kernel with an empty temporary sysfs tree. Defaults: type1
 * v2 and iommufd available, no-IOMMU disabled, one IOVA range
 * [0, 2^48-1] minus the x86 MSI window, page sizes 4K|2M|1G,
 * dma_entry_limit 65535, memlock limit unlimited, interrupt remapping on. */
int mock_kernel_new(struct mock_kernel **ret);
/* Free everything, remove the temporary tree. */
void mock_kernel_free(struct mock_kernel *mk);
/* Make @ctx talk to this mock (assign_ctx_set_sys()). */
int mock_attach(struct mock_kernel *mk, struct assign_ctx *ctx);
/* The mock's seam, for tests that call it directly (data: the mock). */
const struct assign_sys_ops *mock_sys_ops(void);
/* A context already attached to the mock (log level from ASSIGN_LOG). */
int mock_ctx_new(struct mock_kernel *mk, struct assign_ctx **ret);
/* Path of the temporary sysfs root. */
const char *mock_sysfs_root(const struct mock_kernel *mk);

/* A standard PCI NIC-like device: BAR0 128K mmap-able with a sparse hole
 * for the MSI-X table, BAR3 16K, config 4096 with MSI and MSI-X caps,
 * INTx(1, maskable|automasked), MSI(1), MSI-X(5), ERR(1), REQ(1), reset. */
void mock_device_cfg_default(struct mock_device_cfg *cfg, const char *addr,
			     int group);
/* Up to 64 devices in up to 64 groups: 0, -EINVAL (bad cfg or address),
 * -EEXIST (address taken), -ENOSPC, or an errno from building the tree. */
int mock_add_device(struct mock_kernel *mk, const struct mock_device_cfg *cfg);

/* Kernel configuration knobs. */
/* iommu_groups/N/reserved_regions content. As the kernel does, the mock
 * removes every reserved region but direct-relaxable ones of the groups
 * attached to a container or IOAS from the IOVA ranges it reports (type1
 * IOVA_RANGE cap, IOMMU_IOAS_IOVA_RANGES) and refuses mappings there with
 * -EINVAL. */
void mock_set_reserved_regions(struct mock_kernel *mk, int group,
			       const char *text);
/* The IOMMU aperture, inclusive [start, last] pairs (reserved regions are
 * taken out of it when reported). */
void mock_set_iova_ranges(struct mock_kernel *mk, const uint64_t (*ranges)[2],
			  size_t n);
void mock_set_pgsizes(struct mock_kernel *mk, uint64_t pgsizes);
void mock_set_dma_entry_limit(struct mock_kernel *mk, uint32_t limit);
void mock_set_memlock(struct mock_kernel *mk, uint64_t bytes); /* RLIMIT_MEMLOCK */
/* The process has CAP_IPC_LOCK: pinning ignores RLIMIT_MEMLOCK (type1 and
 * iommufd), and /proc/self/status, opened through the seam, says so in
 * CapEff. Off by default. */
void mock_set_cap_ipc_lock(struct mock_kernel *mk, bool on);
/* Off: module/{vfio_iommu_type1,iommufd}/parameters/allow_unsafe_interrupts
 * read Y (the admin allowed it, so attaching still works); on: N. */
void mock_set_irq_remap(struct mock_kernel *mk, bool on);
/* With interrupt remapping off: true (default) as above; false: the
 * parameters read N and the kernel refuses the group (type1 SET_IOMMU, or
 * SET_CONTAINER on a set container: -EPERM) or the cdev
 * (VFIO_DEVICE_BIND_IOMMUFD: -EPERM). */
void mock_set_allow_unsafe_interrupts(struct mock_kernel *mk, bool on);
/* The IOMMU unit's VT-d ecap.IR bit (default on), as
 * class/iommu/dmar0/intel-iommu/ecap and IOMMU_GET_HW_INFO report it.
 * Interrupt remapping in force shows as kernel/irq/N/chip_name with an
 * "IR-" prefix (IR-IO-APIC, IR-PCI-MSIX-...), as x86 names its chips,
 * which mock_set_irq_remap() switches. */
void mock_set_ir_capable(struct mock_kernel *mk, bool on);
/* The allow_unsafe_interrupts parameters read Y whatever
 * mock_set_irq_remap() says: the admin allowed unsafe interrupts on a
 * host that has remapping (the kernel then checks nothing). */
void mock_set_unsafe_param(struct mock_kernel *mk, bool on);
void mock_set_type1v2(struct mock_kernel *mk, bool on); /* else only v1 */
void mock_set_iommufd(struct mock_kernel *mk, bool on); /* /dev/iommu exists */
void mock_set_noiommu(struct mock_kernel *mk, bool on); /* noiommu-N groups */
/* The receiving end of the test's socket was closed with files still in
 * flight (a recvmsg() failed or never came): release them, as the kernel
 * does when it frees the socket's queue. */
void mock_drop_inflight(struct mock_kernel *mk);
/* Off: the kernel has no VFIO (no /dev/vfio/vfio, no /dev/iommu). */
void mock_set_vfio(struct mock_kernel *mk, bool on);
/* Off: opening /dev/vfio/... and /dev/iommu is -EACCES, as for a user
 * the nodes' permissions leave out (fds the mock handed out before, and
 * those passed over a socket, work on). */
void mock_set_dev_access(struct mock_kernel *mk, bool on);
/* VFIO_DEVICE_BIND_IOMMUFD takes VFIO_DEVICE_BIND_FLAG_TOKEN (Linux 6.17;
 * off: Linux 6.12, where any flag is -EINVAL and a VF opened through its
 * cdev is not asked for a token). */
void mock_set_bind_token(struct mock_kernel *mk, bool on);
/* Rebind in sysfs; NULL = none. A group is viable when each of its devices
 * is unbound or bound to vfio-pci (or a variant), pci-stub or pcieport
 * (drivers with driver_managed_dma); /dev/vfio/N exists while one of them is
 * bound to vfio-pci. Writes made through the seam to bus/pci/drivers/X/bind,
 * unbind, devices/A/driver/unbind, drivers_probe and driver_override act
 * the same way (unbinding an open vfio device fires its REQ eventfd and
 * fails -EBUSY instead of blocking). */
void mock_set_driver(struct mock_kernel *mk, const char *addr,
		     const char *driver);

/* Inspection, for leak checks and assertions. */
/* fds opened through the seam and not closed yet: VFIO objects, sysfs
 * files, /proc/self/status. */
size_t mock_open_fds(const struct mock_kernel *mk);
size_t mock_mmaps(const struct mock_kernel *mk);        /* live mmaps of regions */
/* Every mapping made through the seam (regions and anonymous reservations)
 * still live, counting the pieces a partial munmap leaves. */
size_t mock_seam_mmaps(const struct mock_kernel *mk);
/* Seam calls (close, ioctl, pread, pwrite, mmap) on an fd the mock never
 * handed out: double closes, use after close. close() of such an fd
 * returns -EBADF and leaves the fd alone. */
unsigned long mock_bad_fd_calls(const struct mock_kernel *mk);
size_t mock_dma_count(const struct mock_kernel *mk);    /* DMA mappings, all
                                                           containers/IOASes */
uint64_t mock_dma_bytes(const struct mock_kernel *mk);  /* bytes pinned */
/* 0 and *vaddr if @iova is mapped, -ENOENT otherwise. *flags gets
 * VFIO_DMA_MAP_FLAG_READ/WRITE (also for iommufd mappings). */
int mock_dma_lookup(const struct mock_kernel *mk, uint64_t iova, void **vaddr,
		    uint32_t *flags);
/* The IOMMU type set on the container behind @fd (VFIO_TYPE1v2_IOMMU,
 * VFIO_TYPE1_IOMMU, VFIO_NOIOMMU_IOMMU), 0 while none is set, -EBADF when
 * @fd is not a container. */
int mock_container_type(struct mock_kernel *mk, int fd);
unsigned mock_reset_count(const struct mock_kernel *mk, const char *addr);
unsigned mock_hot_reset_count(const struct mock_kernel *mk, const char *addr);
/* Bytes backing a region (writes through mmap/pwrite land here). */
uint8_t *mock_region_mem(struct mock_kernel *mk, const char *addr,
			 uint32_t index);
/* Signal the eventfd the library registered for a vector, as a device
 * interrupt would: 0, or -ENOENT if no eventfd is set / index disabled.
 * INTx: a masked line is left pending and -EBUSY returned (it fires on
 * unmask); an AUTOMASKED line masks itself when it fires. A write to the
 * unmask eventfd is noticed the next time INTx state is looked at. */
int mock_fire_irq(struct mock_kernel *mk, const char *addr, uint32_t index,
		  uint32_t vector);
/* Vectors currently enabled on an index (0 if disabled). */
uint32_t mock_irq_enabled(const struct mock_kernel *mk, const char *addr,
			  uint32_t index);
/* Whether a vector is masked. */
bool mock_irq_masked(const struct mock_kernel *mk, const char *addr,
		     uint32_t index, uint32_t vector);

/*
 * Migration and dirty tracking (mock_mig.c, mock_dirty.c).
 *
 * A migratable device (cfg.migration_flags) keeps mig_state_size bytes of
 * internal state. Its data stream, as mtty's, is the device's own format:
 * a header naming the state size, chunks (offset, length, bytes) and an
 * end mark. PRE_COPY streams the whole state, then the 4 KiB blocks the
 * device changed since they were read (mock_mig_state_write() changes
 * them); STOP_COPY streams what is left and the end mark; RESUMING takes
 * such a stream and applies it on RESUMING -> STOP, refusing (-EINVAL,
 * still RESUMING) a stream for another state size, one without its end
 * mark or with chunks out of bounds. A reset and the last close put the
 * device back in RUNNING and end its data sessions (reads then -ENODEV).
 */
/* The device's internal state (mig_state_size bytes), or NULL. */
uint8_t *mock_mig_state(struct mock_kernel *mk, const char *addr, size_t *size);
/* Change the state as the running device would (marks blocks dirty for
 * PRE_COPY). 0, -ENOENT, -EINVAL out of bounds. */
int mock_mig_state_write(struct mock_kernel *mk, const char *addr,
			 size_t offset, const void *buf, size_t len);
/* The device's migration state (enum vfio_device_mig_state), or -ENOENT. */
int mock_mig_get_state(const struct mock_kernel *mk, const char *addr);
/* How many times the device took the arc @from -> @to. */
unsigned mock_mig_arcs(const struct mock_kernel *mk, const char *addr,
		       uint32_t from, uint32_t to);
/* Total arcs taken by the device. */
unsigned mock_mig_arcs_total(const struct mock_kernel *mk, const char *addr);
#define MOCK_MIG_ANY UINT32_MAX
/* The next arc @from -> @to (@from may be MOCK_MIG_ANY) fails with @err;
 * with @to_error the device is left in ERROR, else where it was. */
void mock_mig_fail_arc(struct mock_kernel *mk, const char *addr, uint32_t from,
		       uint32_t to, int err, bool to_error);
/* Migration data fds open (counted in mock_open_fds() too). */
size_t mock_mig_open_files(const struct mock_kernel *mk);

/*
 * The device at @addr writes @len bytes of @buf at @iova by DMA: through
 * its container's or IOAS's mappings into the process's memory (-EFAULT
 * when [iova, iova + len) is not mapped writable, -ENODEV when the device
 * is not open on a container or IOAS), and marked dirty where the kernel
 * would see it: the device's DMA log (when logging covers it), its
 * dirty-tracking HWPT (when tracking is on), its type1 container (reported
 * by VFIO_IOMMU_DIRTY_PAGES when every group of the container is an
 * emulated one, mock_set_group_emulated(); otherwise type1 reports every
 * mapped page, as Linux does).
 */
int mock_dma_write(struct mock_kernel *mk, const char *addr, uint64_t iova,
		   const void *buf, size_t len);
/* The IOMMU reports IOMMU_HW_CAP_DIRTY_TRACKING and allocates HWPTs with
 * IOMMU_HWPT_ALLOC_DIRTY_TRACKING (default off, as the lab's emulated
 * Intel IOMMU). */
void mock_set_dirty_tracking(struct mock_kernel *mk, bool on);
/* The group is an emulated IOMMU group (an mdev's): its sysfs type reads
 * "unknown" and type1 dirty pages are only those its device wrote. */
void mock_set_group_emulated(struct mock_kernel *mk, int group, bool on);
/* Whether type1 dirty tracking is on for the container behind @fd (1/0),
 * -EBADF when @fd is not a container. */
int mock_type1_dirty_tracking(struct mock_kernel *mk, int fd);
/* HWPTs allocated and alive (all iommufds), and how many track dirt. */
size_t mock_hwpts(const struct mock_kernel *mk, size_t *tracking);
/* Whether DMA logging is on for the device (1/0), -ENOENT. */
int mock_dma_logging(const struct mock_kernel *mk, const char *addr);

/*
 * A test-owned fd (a pipe, a socket, a file) the library may read() and
 * write() through the seam: those calls then reach the real kernel. The
 * mock never closes it and does not count it as open. Any other fd it
 * does not know stays refused (-EBADF, counted in mock_bad_fd_calls()).
 */
int mock_pass_fd(struct mock_kernel *mk, int fd);
void mock_unpass_fd(struct mock_kernel *mk, int fd);

/* Fault injection. Calls of every kind are numbered from 1 in order.
 * MOCK_TRACE=1 in the environment prints every seam call with its number
 * (and any injected failure) on stderr. */
enum mock_call {
	MOCK_ANY = 0,
	MOCK_OPEN,
	MOCK_OPENAT,
	MOCK_CLOSE,
	MOCK_IOCTL,
	MOCK_PREAD,
	MOCK_PWRITE,
	MOCK_MMAP,
	MOCK_MUNMAP,
	MOCK_MADVISE,
	MOCK_READLINKAT,
	MOCK_FACCESSAT,
	MOCK_LIST_DIR,
	MOCK_GETRLIMIT,
	MOCK_READ,
	MOCK_WRITE,
	MOCK_FSTAT,
	MOCK_SENDMSG,
	MOCK_RECVMSG,
	MOCK_NCALLS
};
/* Total calls made so far of a kind (MOCK_ANY: all kinds). */
unsigned long mock_calls(const struct mock_kernel *mk, enum mock_call kind);
/* Make the @nth call of @kind from now on (1 = the next one) fail with
 * @err (negative errno). @ioctl_req restricts MOCK_IOCTL to one request
 * (0: any). close() and munmap() failures still release the resource, as
 * Linux does. */
void mock_fail_nth(struct mock_kernel *mk, enum mock_call kind,
		   unsigned long ioctl_req, unsigned long nth, int err);
/* (Up to 8 injections can be pending at once.) Cancel pending fault
 * injection. */
void mock_fail_clear(struct mock_kernel *mk);

#endif /* LIBASSIGN_MOCK_H */
