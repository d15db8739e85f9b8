// SPDX-License-Identifier: MIT
/*
 * Fuzz target: the guest-facing emulation of the example VMM
 * (examples/assign-vmm/assign.c, linked unchanged): virtual config space
 * (BAR sizing and placement, command register, MSI and MSI-X control) and
 * MSI-X table / PBA accesses, driven by a hostile guest, over a device
 * described by the hostile fuzz kernel (fuzz-kernel.h).
 *
 * Around assign.c this file plays the rest of the VMM and KVM, checking
 * what assign.c asks of them:
 *  - pci_add_device() hands back the config-space ops the guest drives;
 *    pci_alloc_mmio()/pci_alloc_io() place BARs as the firmware would;
 *  - io_register()/io_unregister(): a BAR is never claimed over guest RAM
 *    (1 MiB low and 1 MiB at HIGH_RAM_START here), never wrapping, I/O
 *    BARs inside the 64 KiB port space, and every claim is released at
 *    the end;
 *  - vm_map_memory(): direct BAR slots only inside a claimed BAR window,
 *    all removed at the end;
 *  - the device request and error eventfds, when the kernel offers
 *    them, stop the VM with exit 3 and 4;
 *  - no eventfd or other fd is leaked;
 *  - the fuzz kernel sees no leaked VFIO fd or mapping.
 * Like main.c, this file makes the VM's library context (on the fuzz
 * kernel) and its KVM glue (on a VM fd of the fuzz kernel, which plays
 * KVM: every routing table must be one KVM takes, every irqfd attached
 * to a routed GSI, and nothing may be left attached or added at the end).
 * assign_device_config_read(), assign_device_config_write() and
 * assign_region_write() are wrapped at link time
 * to check that no guest write reaches the host device's MSI address/data,
 * MSI-X control or MSI-X table (those are the VMM's to emulate).
 *
 * Guest accesses are FK_GUEST records: u8 op, then
 *   op 0/1: config write/read: u8 offset, u8 size (1, 2, 4), u32 value
 *   op 2/3: MMIO write/read: u32 address above PCI_MMIO_START, u8 size
 *           (1, 2, 4, 8), u64 value
 *   op 4/5: port write/read: u16 port, u8 size, u32 value
 * Config accesses are delivered as the VMM's 0xcf8/0xcfc decoder does:
 * naturally aligned and inside the first 256 bytes.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <unistd.h>

#include "fuzz-kernel.h"
#include "fuzz.h"
#include "vmm.h"
#include <libassign/kvm.h>
#include <libassign/libassign.h>

#define RAM_SIZE (2u << 20) /* 1 MiB low, 1 MiB at HIGH_RAM_START */
#define MAX_RANGES 64
#define MAX_SLOTS 64

static struct fuzz_kernel fk;
static struct vm the_vm;

/* ---- the rest of the VMM, as assign.c sees it --------------------------- */

int vmm_verbose;

/* FUZZ_DEBUG=1 shows the VMM's messages while replaying an input. */
static void say(const char *what, const char *fmt, va_list ap)
{
	if (!getenv("FUZZ_DEBUG"))
		return;
	fprintf(stderr, "vmm %s: ", what);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void vmm_err(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	say("err", fmt, ap);
	va_end(ap);
}

void vmm_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	say("info", fmt, ap);
	va_end(ap);
}

double vmm_elapsed(void)
{
	return 0.0;
}

void *gpa_to_host(struct vm *vm, uint64_t gpa, uint64_t len)
{
	if (gpa + len >= gpa && gpa + len <= vm->low_size)
		return vm->ram + gpa;
	if (gpa >= HIGH_RAM_START && gpa + len >= gpa &&
	    gpa + len - HIGH_RAM_START <= vm->high_size)
		return vm->ram + vm->low_size + (gpa - HIGH_RAM_START);
	return NULL;
}

/* The exit code the last stop request asked for, 0 when none. */
static int stop_code;

void vm_request_stop(struct vm *vm, int code, const char *why)
{
	stop_code = code;
}

void vm_set_irq(struct vm *vm, unsigned gsi, int level)
{
}

/* Guest RAM: [0, low_size) and [HIGH_RAM_START, + high_size). */
static bool over_ram(uint64_t gpa, uint64_t len)
{
	uint64_t last = gpa + len - 1;

	return gpa < the_vm.low_size ||
	       (the_vm.high_size && gpa <= HIGH_RAM_START + the_vm.high_size - 1 &&
		last >= HIGH_RAM_START);
}

static struct {
	bool used;
	uint64_t gpa, size;
} slots[MAX_SLOTS];
static size_t live_slots;

static struct {
	bool used;
	enum io_space space;
	uint64_t base, len;
	io_handler fn;
	void *opaque;
} ranges[MAX_RANGES];
static size_t live_ranges;

int vm_map_memory(struct vm *vm, uint64_t gpa, uint64_t size, void *host,
		  bool readonly)
{
	bool inside = false;

	FUZZ_CHECK(size && gpa + size > gpa);
	FUZZ_CHECK(gpa % 4096 == 0 && size % 4096 == 0);
	/* Never over guest RAM: only inside a BAR the VMM claimed. */
	FUZZ_CHECK(!over_ram(gpa, size));
	for (size_t i = 0; i < MAX_RANGES; i++)
		if (ranges[i].used && ranges[i].space == IO_MMIO &&
		    gpa >= ranges[i].base &&
		    gpa + size <= ranges[i].base + ranges[i].len)
			inside = true;
	FUZZ_CHECK(inside);
	FUZZ_CHECK(host != NULL);
	for (int i = 0; i < MAX_SLOTS; i++) {
		if (slots[i].used)
			continue;
		slots[i].used = true;
		slots[i].gpa = gpa;
		slots[i].size = size;
		live_slots++;
		return i;
	}
	return -ENOSPC;
}

void vm_unmap_memory(struct vm *vm, int slot)
{
	FUZZ_CHECK(slot >= 0 && slot < MAX_SLOTS && slots[slot].used);
	slots[slot].used = false;
	live_slots--;
}

/* The PCI bus: one device slot, firmware-style BAR placement. */
static const struct pci_device_ops *dev_ops;
static void *dev_opaque;
static uint64_t mmio_next;
static uint32_t io_next;

int pci_add_device(const struct pci_device_ops *ops, void *opaque)
{
	if (dev_ops)
		return -ENOSPC;
	dev_ops = ops;
	dev_opaque = opaque;
	return 1;
}

int pci_slot_count(void)
{
	return dev_ops ? 1 : 0;
}

unsigned pci_intx_gsi(int slot, int pin)
{
	return PCI_IRQ_BASE + (unsigned)((slot - 1 + pin - 1) & 7);
}

uint64_t pci_alloc_mmio(uint64_t size)
{
	uint64_t at;

	if (size < 0x1000)
		size = 0x1000;
	if (size > PCI_MMIO_END - PCI_MMIO_START)
		return 0;
	at = (mmio_next + size - 1) & ~(size - 1);
	if (at + size > PCI_MMIO_END || at < mmio_next)
		return 0;
	mmio_next = at + size;
	return at;
}

/* 64-bit BARs: a window from 5 GiB, past the high RAM */
static uint64_t mmio64_next;

uint64_t pci_alloc_mmio64(uint64_t size)
{
	uint64_t at;

	if (size < 0x1000)
		size = 0x1000;
	if (size & (size - 1))
		return 0;
	at = (mmio64_next + size - 1) & ~(size - 1);
	if (at + size > (8ULL << 30))
		return 0;
	mmio64_next = at + size;
	return at;
}

uint64_t pci_guest_phys_limit(void)
{
	return 1ULL << 40;
}

uint32_t pci_alloc_io(uint32_t size)
{
	uint32_t at;

	if (!size || size > PCI_IO_END - PCI_IO_START)
		return 0;
	at = (io_next + size - 1) & ~(size - 1);
	if (at + size > PCI_IO_END || at < io_next)
		return 0;
	io_next = at + size;
	return at;
}

int io_register(enum io_space space, uint64_t base, uint64_t len,
		io_handler fn, void *opaque)
{
	/* A BAR never wraps, never lands on guest RAM (low or high), and an
	 * I/O BAR stays in the 64 KiB port space. */
	if (getenv("FUZZ_DEBUG"))
		fprintf(stderr, "io_register(%s, %#llx, %#llx)\n",
			space == IO_MMIO ? "mmio" : "port",
			(unsigned long long)base, (unsigned long long)len);
	FUZZ_CHECK(len > 0 && base + len > base);
	if (space == IO_MMIO)
		FUZZ_CHECK(!over_ram(base, len));
	else
		FUZZ_CHECK(base + len <= 0x10000);
	for (size_t i = 0; i < MAX_RANGES; i++)
		if (ranges[i].used && ranges[i].space == space &&
		    base < ranges[i].base + ranges[i].len &&
		    ranges[i].base < base + len)
			return -EBUSY;
	for (size_t i = 0; i < MAX_RANGES; i++) {
		if (ranges[i].used)
			continue;
		ranges[i].used = true;
		ranges[i].space = space;
		ranges[i].base = base;
		ranges[i].len = len;
		ranges[i].fn = fn;
		ranges[i].opaque = opaque;
		live_ranges++;
		return 0;
	}
	return -ENOSPC;
}

void io_unregister(enum io_space space, uint64_t base, void *opaque)
{
	for (size_t i = 0; i < MAX_RANGES; i++) {
		if (ranges[i].used && ranges[i].space == space &&
		    ranges[i].base == base && ranges[i].opaque == opaque) {
			/* No direct slot may outlive its BAR window. */
			for (int s = 0; s < MAX_SLOTS; s++)
				FUZZ_CHECK(!slots[s].used ||
					   slots[s].gpa + slots[s].size <= base ||
					   slots[s].gpa >= base + ranges[i].len);
			ranges[i].used = false;
			live_ranges--;
			return;
		}
	}
	FUZZ_CHECK(!"io_unregister of a range never registered");
}

void io_dispatch(enum io_space space, uint64_t addr, void *data, unsigned len,
		 bool is_write)
{
	for (size_t i = 0; i < MAX_RANGES; i++) {
		if (ranges[i].used && ranges[i].space == space &&
		    addr >= ranges[i].base &&
		    addr + len <= ranges[i].base + ranges[i].len) {
			ranges[i].fn(ranges[i].opaque, addr - ranges[i].base,
				     data, len, is_write);
			return;
		}
	}
	if (!is_write)
		memset(data, 0xff, len);
}

/* ---- the VM's library context and KVM glue, on the fuzz kernel ---------- */

/* What main.c's lib_init() and routing_init() do; 0 or -1. */
static int vm_lib_init(struct vm *vm)
{
	struct assign_kvm_opts o = { .size = sizeof(o),
				     .gsi_base = MSI_GSI_BASE };

	if (assign_ctx_new(&vm->ctx) < 0)
		abort();
	assign_ctx_set_log_priority(vm->ctx, getenv("FUZZ_DEBUG") ? 7 : 0);
	if (assign_ctx_set_sys(vm->ctx, &fk_ops, &fk, 999) < 0)
		abort();
	vm->vm_fd = fk_vm_fd(&fk);
	FUZZ_CHECK(vm->vm_fd >= 0);
	FUZZ_CHECK(assign_kvm_new(vm->ctx, vm->vm_fd, &o, &vm->kvm) == 0);
	for (uint32_t gsi = 0; gsi < IOAPIC_PINS; gsi++)
		FUZZ_CHECK(assign_kvm_irqchip_route_add(
				   vm->kvm, gsi, ASSIGN_KVM_IRQCHIP_IOAPIC,
				   gsi) == 0);
	return assign_kvm_route_commit(vm->kvm) == 0 ? 0 : -1;
}

static void vm_lib_fini(struct vm *vm)
{
	vm->kvm = assign_kvm_unref(vm->kvm);
	vm->ctx = assign_ctx_unref(vm->ctx);
	fk_ops.close(&fk, vm->vm_fd);
	vm->vm_fd = -1;
}

/*
 * What the guest must never reach on the host device: the MSI address and
 * data registers, the MSI-X control word, and the MSI-X table in its BAR
 * (the VMM emulates them; host MSI programming belongs to the host).
 * Parsed from the config space the VMM read.
 */
static struct {
	bool msi, msix;
	struct assign_pci_msi m;
	struct assign_pci_msix x;
} caps;

static bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

int __real_assign_device_config_write(struct assign_device *dev,
				      uint32_t offset, const void *buf,
				      size_t len);
int __wrap_assign_device_config_write(struct assign_device *dev,
				      uint32_t offset, const void *buf,
				      size_t len);

int __wrap_assign_device_config_write(struct assign_device *dev,
				      uint32_t offset, const void *buf,
				      size_t len)
{
	if (caps.msi)
		FUZZ_CHECK(!overlaps(offset, len, caps.m.offset + 2u,
				     caps.m.data_offset + 2u -
					     (caps.m.offset + 2u)));
	if (caps.msix)
		FUZZ_CHECK(!overlaps(offset, len, caps.x.offset + 2u, 2));
	return __real_assign_device_config_write(dev, offset, buf, len);
}

int __real_assign_region_write(struct assign_device *dev, uint32_t index,
			       uint64_t offset, const void *buf, size_t len);
int __wrap_assign_region_write(struct assign_device *dev, uint32_t index,
			       uint64_t offset, const void *buf, size_t len);

int __wrap_assign_region_write(struct assign_device *dev, uint32_t index,
			       uint64_t offset, const void *buf, size_t len)
{
	if (caps.msix && index == caps.x.table_bar)
		FUZZ_CHECK(!overlaps(offset, len, caps.x.table_offset,
				     16ull * caps.x.table_size));
	return __real_assign_region_write(dev, index, offset, buf, len);
}

int __real_assign_device_config_read(struct assign_device *dev, uint32_t offset,
				     void *buf, size_t len);
int __wrap_assign_device_config_read(struct assign_device *dev, uint32_t offset,
				     void *buf, size_t len);

/* The config space the VMM sets itself up from (setup_config() reads the
 * first 256 bytes once): parse the capabilities from the same bytes. */
int __wrap_assign_device_config_read(struct assign_device *dev, uint32_t offset,
				     void *buf, size_t len)
{
	int r = __real_assign_device_config_read(dev, offset, buf, len);

	if (r == 0 && offset == 0 && len == 256) {
		caps.m.size = sizeof(caps.m);
		caps.x.size = sizeof(caps.x);
		caps.msi = assign_pci_parse_msi(buf, len, &caps.m) == 0;
		caps.msix = assign_pci_parse_msix(buf, len, &caps.x) == 0;
	}
	return r;
}

/* ---- the guest ------------------------------------------------------------ */

static unsigned pick_size(uint8_t sel, bool allow8)
{
	static const unsigned sizes[4] = { 1, 2, 4, 8 };

	return sizes[sel % (allow8 ? 4 : 3)];
}

static void guest_access(const struct fk_record *g)
{
	struct fuzz_in in;
	uint8_t op;

	fuzz_in_init(&in, g->data, g->len);
	op = fuzz_u8(&in) % 6;
	switch (op) {
	case 0:
	case 1: {
		unsigned off = fuzz_u8(&in), size = pick_size(fuzz_u8(&in), false);
		uint32_t val = fuzz_u32(&in);

		off &= ~(size - 1);
		if (op == 0)
			dev_ops->cfg_write(dev_opaque, off, size, val);
		else
			(void)dev_ops->cfg_read(dev_opaque, off, size);
		break;
	}
	case 2:
	case 3: {
		uint64_t addr = PCI_MMIO_START + fuzz_u32(&in);
		unsigned size = pick_size(fuzz_u8(&in), true);
		uint64_t val = fuzz_u64(&in);
		uint8_t *buf = malloc(size); /* exact size: ASan checks it */

		if (!buf)
			abort();
		memcpy(buf, &val, size);
		io_dispatch(IO_MMIO, addr, buf, size, op == 2);
		free(buf);
		break;
	}
	default: {
		uint16_t port = fuzz_u16(&in);
		unsigned size = pick_size(fuzz_u8(&in), false);
		uint32_t val = fuzz_u32(&in);
		uint8_t *buf = malloc(size);

		if (!buf)
			abort();
		memcpy(buf, &val, size);
		io_dispatch(IO_PORT, port, buf, size, op == 4);
		free(buf);
		break;
	}
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	setenv("ASSIGN_LOG", "0", 1);
	the_vm.ram = aligned_alloc(4096, RAM_SIZE);
	if (!the_vm.ram)
		abort();
	the_vm.ram_size = RAM_SIZE;
	the_vm.low_size = RAM_SIZE / 2;
	the_vm.high_size = RAM_SIZE / 2;
	the_vm.kvm_fd = the_vm.vm_fd = -1;
	the_vm.stop_fd = -1;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct assigned *d = NULL;
	int eventfds_before = fk_count_eventfds();

	fk_init(&fk, data, size);
	memset(&caps, 0, sizeof(caps));
	dev_ops = NULL;
	dev_opaque = NULL;
	mmio_next = PCI_MMIO_START;
	mmio64_next = 5ULL << 30; /* above the high RAM, as pci.c */
	io_next = PCI_IO_START;

	if (vm_lib_init(&the_vm) == 0 &&
	    assign_device_add(&the_vm, FK_ADDR, &d) == 0) {
		FUZZ_CHECK(dev_ops != NULL);
		for (size_t i = 0; i < 64; i++) {
			const struct fk_record *g = fk_nth(&fk, FK_GUEST, i);

			if (!g)
				break;
			guest_access(g);
		}
		/* the host's requests: a device request stops the VM with
		 * exit 3, a device error with exit 4 (assign.c) */
		int fds[2], n = assign_device_event_fds(d, fds);
		FUZZ_CHECK(n >= 0 && n <= 2);
		for (int i = 0; i < n; i++) {
			uint64_t one = 1;

			stop_code = 0;
			FUZZ_CHECK(write(fds[i], &one, sizeof(one)) ==
				   sizeof(one));
			assign_device_event(d, fds[i]);
			FUZZ_CHECK(stop_code == VMM_EXIT_DEVICE_REQUEST ||
				   stop_code == VMM_EXIT_DEVICE_ERROR);
			if (n == 2)
				FUZZ_CHECK(stop_code ==
					   (i ? VMM_EXIT_DEVICE_ERROR :
						VMM_EXIT_DEVICE_REQUEST));
		}
		assign_device_remove(d);
	}
	assign_global_cleanup();
	/* the device took its irqfds (vectors, INTx) and its place in KVM's
	 * VFIO device with it: nothing is left for the KVM glue's unref */
	FUZZ_CHECK(fk.kvm_nfiles == 0);
	FUZZ_CHECK(fk.kvm_nirqfds == 0);
	vm_lib_fini(&the_vm);

	/* Everything the VMM set up is gone again. */
	FUZZ_CHECK(live_ranges == 0);
	FUZZ_CHECK(live_slots == 0);
	FUZZ_CHECK(fk.open_fds == 0);
	FUZZ_CHECK(fk.live_maps == 0);
	FUZZ_CHECK(fk_count_eventfds() == eventfds_before);
	fk_fini(&fk);
	return 0;
}
