/* SPDX-License-Identifier: MIT */
/*
 * assign-vmm: a small VMM on KVM that boots a Linux guest and hands it
 * host PCI devices through libassign.
 *
 * This header is the map of the program. Each .c file is one piece:
 *
 *   main.c      VM setup, vCPU threads, exits, teardown
 *   cli.c       command line: options and their checks
 *   boot.c      Linux x86 boot protocol: bzImage, initramfs, zero page
 *   mptable.c   Intel MP table: CPUs, IOAPIC, ISA and PCI interrupts
 *   acpi.c      minimal ACPI (RSDP, RSDT, FADT, MADT, DSDT with \_S5): power-off
 *   io.c        port and MMIO dispatch for everything KVM hands back
 *   serial.c    8250 UART on 0x3f8 wired to stdio
 *   legacy.c    CMOS clock, reset ports 0xcf9 and 0x64
 *   pci.c       host bridge, config mechanism #1 and ECAM, device slots
 *   assign.c    an assigned device: libassign's assign_vpci wired to KVM
 *   ratelimit.c bounds the messages a guest can cause
 *   dma.c       guest RAM for the devices' DMA: host address spaces, the
 *               guest memory policy, the Bus Master Enable gate
 *   virtio.c    virtio 1.x over PCI: the function, its BAR, virtqueues
 *   viommu.c    the virtio-iommu device (--viommu) and its requests
 */
#ifndef ASSIGN_VMM_H
#define ASSIGN_VMM_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- guest physical memory layout ------------------------------------ */
#define GDT_ADDR        0x0500ULL
#define BOOT_PARAMS_ADDR 0x7000ULL
#define PML4_ADDR       0x9000ULL      /* + PDPT + 4 PDs up to 0xefff */
#define CMDLINE_ADDR    0x20000ULL
#define CMDLINE_MAX     0x10000ULL
#define EBDA_START      0x9fc00ULL
#define ACPI_START      0xe0000ULL      /* ACPI tables (e820 reserved) */
#define ACPI_LEN        0x1000ULL
#define BIOS_START      0xf0000ULL      /* MP table lives here */
#define KERNEL_ADDR     0x100000ULL
#define LOW_RAM_MAX     0xc0000000ULL   /* RAM above this goes above 4 GiB */
#define PCI_MMIO_START  0xc0000000ULL   /* BARs are placed from here ... */
#define PCI_MMIO_END 0xfeb00000ULL /* ... up to the ECAM */
#define PCI_ECAM_BASE 0xfeb00000ULL /* ECAM (MCFG) of bus 0: 1 MiB */
#define PCI_ECAM_SIZE 0x100000ULL
#define PCI_MMIO64_SIZE (64ULL << 30) /* 64-bit BARs: above RAM, at most */
#define IOAPIC_ADDR     0xfec00000ULL
#define LAPIC_ADDR      0xfee00000ULL
#define HIGH_RAM_START  0x100000000ULL
#define TSS_ADDR        0xfffbd000ULL
#define PCI_IO_START    0xc000          /* I/O BARs are placed from here */
#define PCI_IO_END      0x10000
#define PM_BASE         0x600           /* ACPI PM1a event + control */
#define PM_LEN          6
#define PM_S5_SLP_TYP   5               /* SLP_TYP of \_S5 in the DSDT */

/* IOAPIC pins: ISA IRQs 0-15 as on a PC (IRQ 0 on pin 2), PCI INTx on
 * 16-23. MSI routes start above the IOAPIC's GSIs: libassign's KVM glue
 * gives them from MSI_GSI_BASE up and refuses interrupt-controller routes
 * there, so the two never meet. */
#define IOAPIC_PINS     24
#define PCI_IRQ_BASE    16
#define MSI_GSI_BASE    24
#define SERIAL_IRQ      4

#define PCI_MAX_SLOTS   32

/* Exit codes besides 0 (the guest powered off, rebooted), 1 (an error),
 * 2 (a bad command line) and 128 + signal */
#define VMM_EXIT_DEVICE_REQUEST 3 /* the host took an assigned device back */
#define VMM_EXIT_DEVICE_ERROR 4 /* an assigned device reported an error */

/* ---- the VM ------------------------------------------------------------ */
struct vm;
struct assign_ctx;
struct assign_kvm;

struct vcpu {
	struct vm *vm;
	int id;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
};

struct vm {
	int kvm_fd;
	int vm_fd;
	int run_size;

	uint8_t *ram;           /* one host mapping for all guest RAM */
	uint64_t ram_size;      /* total */
	uint64_t low_size;      /* at GPA 0 */
	uint64_t high_size;     /* at HIGH_RAM_START */

	int ncpus;
	struct vcpu *cpus;

	int stop_fd;            /* eventfd: a vCPU asks the main loop to stop */
	volatile int exit_code; /* -1 while running */

	bool viommu; /* --viommu: devices behind a virtio-iommu */
	bool quiet; /* "quiet" on the guest's command line: no console
			output before init, even from a running kernel */
	struct assign_ctx *ctx; /* libassign: errors and log of the VM */
	struct assign_kvm *kvm; /* libassign's KVM glue: the GSI routing
				   table, irqfds, the KVM-VFIO device */
};

/* translate a guest physical range to a host pointer, NULL if not RAM */
void *gpa_to_host(struct vm *vm, uint64_t gpa, uint64_t len);
/* ask the main loop to stop the VM with this exit code */
void vm_request_stop(struct vm *vm, int code, const char *why);
/* raise/lower an interrupt line (GSI) */
void vm_set_irq(struct vm *vm, unsigned gsi, int level);
/* add a KVM memory slot mapping host memory at a GPA; returns slot id */
int vm_map_memory(struct vm *vm, uint64_t gpa, uint64_t size, void *host,
		  bool readonly);
void vm_unmap_memory(struct vm *vm, int slot);

/* ---- cli.c: the command line ------------------------------------------ */
#define VMM_MAX_DEVICES 8
#define VMM_MAX_CPUS    64
#define VMM_DEFAULT_CMDLINE "console=ttyS0 acpi=noirq panic=-1 pci=noearly"

/* When guest RAM is mapped for DMA (--dma-map) */
enum vmm_dma_mode {
	VMM_DMA_BACKGROUND,     /* on a thread while the guest boots */
	VMM_DMA_ON_DEMAND,      /* at a device's first Bus Master Enable */
	VMM_DMA_BEFORE_BOOT,    /* before the first vCPU runs */
};

struct vmm_options {
	const char *kernel;     /* required */
	const char *initrd;     /* or NULL */
	const char *cmdline;    /* VMM_DEFAULT_CMDLINE unless --append */
	const char *devices[VMM_MAX_DEVICES];
	int ndevices;
	const char *handoff; /* --handoff: a helper's socket, or NULL */
	bool viommu; /* --viommu */
	uint64_t mem;           /* bytes: whole MiB, 64 MiB to 1 TiB */
	int ncpus;              /* 1 to VMM_MAX_CPUS */
	enum vmm_dma_mode dma_mode;
	bool verbose;
	bool help;              /* --help: print usage, nothing else is set */
};
/* Parse and check argv (strings point into it). 0 on success (look at
 * help), -EINVAL with one line in err (no "assign-vmm: " prefix, no
 * newline) otherwise. Uses getopt: not thread-safe. */
int vmm_parse_args(int argc, char **argv, struct vmm_options *out,
		   char *err, size_t errlen);
/* "256M", "1G", "512" (MiB), "1GiB", "65536K"... into bytes; -EINVAL */
int vmm_parse_size(const char *s, uint64_t *out);

/* ---- boot.c ------------------------------------------------------------- */
struct boot_config {
	const char *kernel;
	const char *initrd;
	const char *cmdline;
};
/* Read the files and load them: 0, or an error said with vmm_err() */
int boot_load_linux(struct vm *vm, const struct boot_config *cfg,
		    uint64_t *entry);
/* The same from bytes in memory (cfg's file names only name them in
 * messages; initrd may be NULL); fuzzed by fuzz/fuzz-vmm-boot.c */
int boot_load_image(struct vm *vm, const struct boot_config *cfg,
		    const uint8_t *kernel, size_t kernel_len,
		    const uint8_t *initrd, size_t initrd_len, uint64_t *entry);
int boot_setup_bsp(struct vm *vm, struct vcpu *cpu, uint64_t entry);

/* ---- mptable.c ------------------------------------------------------- */
int mptable_write(struct vm *vm);

/* ---- acpi.c: tables for power-off, the PCI host bridge and ECAM, the
 * virtio-iommu's VIOT, and the PM1a registers ------------------------------ */
struct acpi_viot {
	uint16_t iommu_bdf; /* the virtio-iommu's requester ID */
	const uint16_t *endpoints; /* requester IDs it translates */
	size_t nendpoints;
};
/* @viot NULL: no VIOT */
int acpi_write(struct vm *vm, const struct acpi_viot *viot);

/* ---- io.c: dispatch of port and MMIO exits ------------------------------ */
enum io_space { IO_PORT, IO_MMIO };
/* off is relative to base; data is little-endian, len 1, 2, 4 or 8 */
typedef void (*io_handler)(void *opaque, uint64_t off, void *data,
			   unsigned len, bool is_write);
int io_register(enum io_space space, uint64_t base, uint64_t len,
		io_handler fn, void *opaque);
void io_unregister(enum io_space space, uint64_t base, void *opaque);
void io_dispatch(enum io_space space, uint64_t addr, void *data,
		 unsigned len, bool is_write);

/* ---- serial.c ----------------------------------------------------------- */
int serial_init(struct vm *vm);
void serial_input(const uint8_t *buf, size_t len);
/* whether the guest has written anything to its console yet */
bool serial_output_seen(void);

/* ---- legacy.c ----------------------------------------------------------- */
int legacy_init(struct vm *vm);
/* A time in seconds since 1970 as a UTC calendar date, without the C
 * library's time zone code (no file read, no allocation) */
struct utc_date {
	int year, mon, mday; /* mon 1-12, mday 1-31 */
	int hour, min, sec, wday; /* wday 0 = Sunday */
};
void utc_date(int64_t t, struct utc_date *d);

/* ---- pci.c -------------------------------------------------------------- */
/* A device on bus 0. Config accesses are dword-aligned offsets plus a
 * byte offset inside the dword through size; the model keeps its own
 * config space. */
struct pci_device_ops {
	uint32_t (*cfg_read)(void *opaque, unsigned off, unsigned size);
	void (*cfg_write)(void *opaque, unsigned off, unsigned size,
			  uint32_t val);
};
int pci_init(struct vm *vm);
/* plug a device into the next free slot; returns the slot (>= 1) */
int pci_add_device(const struct pci_device_ops *ops, void *opaque);
/* IOAPIC pin (GSI) behind INTA..INTD (pin 1..4) of a slot */
unsigned pci_intx_gsi(int slot, int pin);
/* simple allocators for the VMM's "firmware" BAR placement: 0 when full */
uint64_t pci_alloc_mmio(uint64_t size);
uint64_t pci_alloc_mmio64(uint64_t size); /* above guest RAM */
uint32_t pci_alloc_io(uint32_t size);
/* the window of 64-bit BARs; size 0 when there is none */
void pci_mmio64_window(uint64_t *base, uint64_t *size);
/* 2^(the guest's physical address width) */
uint64_t pci_guest_phys_limit(void);
int pci_slot_count(void);

/* ---- dma.c: host address spaces for the devices' DMA ------------------- */
struct dma_space;
struct assign_iommu;
struct assign_guestmem_stats;
/* A new host IOMMU address space (VFIO container or IOAS), named for
 * messages ("" or "ADDR: "); freed by dma_cleanup(). */
int dma_space_new(struct vm *vm, const char *name, struct dma_space **ret);
/* The same on an IOMMU object made elsewhere (--handoff); takes it over,
 * also on failure. */
int dma_space_adopt(struct vm *vm, struct assign_iommu *iommu, const char *name,
		    struct dma_space **ret);
struct assign_iommu *dma_space_iommu(const struct dma_space *s);
struct assign_guestmem *dma_space_guestmem(const struct dma_space *s);
/* After the last device is opened: check guest RAM for DMA in every space
 * (errors are reported, nothing is pinned), register it, and map it for
 * the spaces in identity per mode; the first Bus Master Enable of a
 * device waits for its space. 0 without devices. */
int dma_start(struct vm *vm, enum vmm_dma_mode mode);
/* In the background mode, start the mapping thread; call it after the
 * vCPU threads are made. Pinning holds the mmap lock for reading, so a
 * thread that maps or unmaps memory meanwhile (a new thread's stack, a
 * new malloc arena) waits for it, and the vCPUs' page faults behind that
 * writer: nothing may change the address space after this. */
void dma_run_background(void);
/* The gate: a device of @s (named @dev) is enabling bus mastering; true
 * when the write may go on. @seen: first time logged. */
bool dma_bus_master(struct dma_space *s, const char *dev, bool *seen);
/* The guest turned translation on (nothing reachable until mapped) or off
 * (identity: all RAM, at once if the device masters the bus). */
int dma_space_set_translated(struct dma_space *s, bool on);
int dma_space_map(struct dma_space *s, uint64_t iova, uint64_t gpa,
		  uint64_t size, uint32_t flags);
int dma_space_unmap(struct dma_space *s, uint64_t iova, uint64_t size);
int dma_space_get_stats(struct dma_space *s, struct assign_guestmem_stats *st);
/* Stop and join the mapping thread (idempotent). */
void dma_stop(void);
/* After the devices are gone: unpin, release the IOMMUs. */
void dma_cleanup(void);

/* ---- assign.c ----------------------------------------------------------- */
struct assigned;
/* With vm->viommu every device gets a DMA space of its own; without, all
 * share one. */
int assign_device_add(struct vm *vm, const char *address,
		      struct assigned **ret);
void assign_device_remove(struct assigned *dev);
/* --handoff: take the VFIO fds a privileged helper (assign-host handoff)
 * hands over on the unix socket @path; they make the VM's IOMMU object,
 * and assign_device_add() opens the devices by name without /dev/vfio.
 * The names of the devices handed over go to @names (up to @max, valid
 * until assign_global_cleanup()); returns how many, or -1 (said why). */
int assign_handoff_take(struct vm *vm, const char *path, const char **names,
			int max);
/* The host's events on a device (VFIO's device request and error
 * interrupts): up to 2 eventfds for the main loop to poll, and what to do
 * when one of them is readable (stop the VM: assign.c says why) */
int assign_device_event_fds(const struct assigned *dev, int fds[2]);
void assign_device_event(struct assigned *dev, int fd);
int assign_device_slot(const struct assigned *dev);
const char *assign_device_name(const struct assigned *dev);
struct dma_space *assign_device_space(const struct assigned *dev);
void assign_global_cleanup(void);

/* ---- virtio.c: virtio 1.x over PCI --------------------------------------- */
#define VIRTIO_MAX_QUEUES 2
#define VIRTIO_QUEUE_SIZE 256
#define VIRTQ_MAX_SEGS 16
struct virtio_dev;
/* What a device model gives the transport. Every callback runs with the
 * device's lock held (one guest access at a time). */
struct virtio_model {
	uint16_t device_id; /* virtio device ID */
	uint32_t class_code; /* PCI class, 24 bits */
	uint64_t features; /* offered, VERSION_1 included */
	uint16_t nqueues;
	uint32_t config_len; /* device-specific configuration */
	/* in bounds of config_len */
	void (*config_read)(void *opaque, uint32_t off, void *data,
			    unsigned len);
	void (*config_write)(void *opaque, uint32_t off, const void *data,
			     unsigned len);
	void (*set_features)(void *opaque, uint64_t features);
	void (*reset)(void *opaque);
	void (*notify)(void *opaque, struct virtio_dev *vd, uint16_t queue);
};
/* One request popped from a queue: its guest buffers, in host memory. */
struct virtq_seg {
	uint8_t *host;
	uint32_t len;
	bool write; /* device-writable */
};
struct virtq_req {
	uint16_t head;
	unsigned nseg;
	struct virtq_seg seg[VIRTQ_MAX_SEGS];
	uint64_t rlen, wlen; /* readable and writable bytes */
};
/* Plug a device into the next PCI slot, BAR placed, INTx routed. */
int virtio_pci_add(struct vm *vm, const struct virtio_model *model,
		   void *opaque, struct virtio_dev **ret);
int virtio_pci_slot(const struct virtio_dev *d);
void virtio_pci_free(struct virtio_dev *d);
/* From notify: 1 and a request, 0 when the queue is empty, -EINVAL for a
 * chain that cannot be used (push it back with 0 bytes written). */
int virtq_pop(struct virtio_dev *d, uint16_t q, struct virtq_req *req);
void virtq_push(struct virtio_dev *d, uint16_t q, const struct virtq_req *req,
		uint32_t written);
/* Copy from the readable / into the writable buffers; bytes copied. */
size_t virtq_read(const struct virtq_req *req, size_t off, void *buf,
		  size_t len);
size_t virtq_write(const struct virtq_req *req, size_t off, const void *buf,
		   size_t len);
void virtio_config_changed(struct virtio_dev *d);

/* ---- viommu.c: the virtio-iommu device ----------------------------------- */
#define VIOMMU_MAX_MAPPINGS 65536u /* per domain: the guest's budget */
struct viommu;
struct assign_iova_range;
struct assign_reserved_region;
/* The host side of an endpoint (dma.c's spaces through main.c). */
struct viommu_host_ops {
	int (*set_translated)(void *ep, bool on);
	int (*map)(void *ep, uint64_t iova, uint64_t gpa, uint64_t size,
		   uint32_t flags);
	int (*unmap)(void *ep, uint64_t iova, uint64_t size);
};
/* What the host IOMMU of an endpoint allows. */
struct viommu_geometry {
	uint64_t pgsizes;
	const struct assign_iova_range *ranges; /* sorted, at least one */
	size_t nranges;
	const struct assign_reserved_region *resv;
	size_t nresv;
};
struct viommu_stats {
	uint64_t requests[6]; /* by type: ATTACH 1 ... PROBE 5 */
	uint64_t errors; /* requests answered with an error */
	uint64_t malformed; /* chains returned unused */
	uint64_t notifies; /* request-queue notifications (guest exits) */
	uint64_t busy_ns; /* time spent serving them, host calls included */
};
int viommu_new(struct vm *vm, const struct viommu_host_ops *ops,
	       struct viommu **ret);
/* Endpoint @id (its PCI requester ID) behind the IOMMU; before plugging. */
int viommu_add_endpoint(struct viommu *v, uint32_t id, void *ep,
			const struct viommu_geometry *g);
/* Onto the PCI bus, after the endpoints. */
int viommu_plug(struct viommu *v);
int viommu_slot(const struct viommu *v);
/* One request: @in its device-readable bytes, @out (@outlen bytes) its
 * device-writable part; the bytes written, 0 when it cannot be answered. */
size_t viommu_request(struct viommu *v, const uint8_t *in, size_t inlen,
		      uint8_t *out, size_t outlen);
void viommu_get_stats(const struct viommu *v, struct viommu_stats *st);
/* Set up the device for the assigned devices, endpoint ID = requester ID,
 * each in its own DMA space (dma_viommu_ops), and plug it; messages on
 * failure. */
int viommu_setup(struct vm *vm, struct assigned *const *devs, int n,
		 struct viommu **ret);
void viommu_get_viot(const struct viommu *v, struct acpi_viot *viot);
/* With --verbose: its counters and each endpoint's host mappings */
void viommu_log_stats(const struct viommu *v);
void viommu_free(struct viommu *v);
/* dma.c's spaces as the host side of endpoints */
extern const struct viommu_host_ops dma_viommu_ops;

/* ---- logging -------------------------------------------------------------- */
void vmm_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void vmm_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* ratelimit.c: a message a guest can cause, and so repeat at will, goes
 * through a limit of its own (zeroed to start): the first 10 are said,
 * then the 20th, 40th, 80th... with the count */
struct vmm_ratelimit {
	uint64_t seen, next;
	double last;
};
void vmm_err_limited(struct vmm_ratelimit *rl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void vmm_info_limited(struct vmm_ratelimit *rl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
extern int vmm_verbose;
/* seconds since the VMM started */
double vmm_elapsed(void);

#endif
