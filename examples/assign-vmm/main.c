/* SPDX-License-Identifier: MIT */
/*
 * assign-vmm: boot a Linux guest on KVM, optionally with host PCI devices
 * assigned through libassign.
 *
 *   assign-vmm --kernel bzImage --initrd initrd.gz \
 *              --append "console=ttyS0 acpi=noirq" --mem 256M --cpus 1 \
 *              [--device 0000:00:03.0]...
 *
 * Threads: one per vCPU running KVM_RUN and handling its exits, and the
 * main thread, which polls stdin (into the UART), a signalfd for
 * SIGINT/SIGTERM, an eventfd by which a vCPU asks to stop (guest
 * power-off or reset, triple fault, error) and the assigned devices'
 * request and error eventfds (the host wants a device back, or it
 * failed). Stopping sets immediate_exit on every vCPU and
 * kicks it out of KVM_RUN with SIGUSR1.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <libassign/kvm.h>
#include <libassign/libassign.h>
#include <linux/kvm.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "vmm.h"


int vmm_verbose;
static bool tty_raw;
static struct termios tty_saved;
static struct timespec t_start;
static volatile int stopping;

/* ---- logging --------------------------------------------------------- */

static void vlog(const char *fmt, va_list ap)
	__attribute__((format(printf, 1, 0)));

static void vlog(const char *fmt, va_list ap)
{
	char buf[1024];
	vsnprintf(buf, sizeof buf, fmt, ap);
	/* in raw mode the terminal does not turn \n into \r\n for us */
	fprintf(stderr, "assign-vmm: %s%s", buf, tty_raw ? "\r\n" : "\n");
}

void vmm_err(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog(fmt, ap);
	va_end(ap);
}

void vmm_info(const char *fmt, ...)
{
	if (!vmm_verbose)
		return;
	va_list ap;
	va_start(ap, fmt);
	vlog(fmt, ap);
	va_end(ap);
}

/* The library's log (its warnings, and debug traces with ASSIGN_LOG),
 * shown with --verbose. Its errors come back as return values and
 * assign_ctx_get_last_error(), which the VMM prints where it fails. */
static void lib_log(struct assign_ctx *c, int prio, const char *file, int line,
		    const char *fn, const char *fmt, va_list ap)
	__attribute__((format(printf, 6, 0)));

static void lib_log(struct assign_ctx *c, int prio, const char *file, int line,
		    const char *fn, const char *fmt, va_list ap)
{
	(void)c;
	(void)prio;
	(void)file;
	(void)line;
	(void)fn;
	if (!vmm_verbose)
		return;
	char buf[512];
	vsnprintf(buf, sizeof buf, fmt, ap);
	vmm_info("libassign: %s", buf);
}

double vmm_elapsed(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t_start.tv_sec) +
	       (double)(t.tv_nsec - t_start.tv_nsec) / 1e9;
}

/* ---- terminal ------------------------------------------------------------ */

static void tty_restore(void)
{
	if (tty_raw) {
		tcsetattr(STDIN_FILENO, TCSANOW, &tty_saved);
		tty_raw = false;
	}
}

/* Raw input so keys reach the guest's own line discipline, but keep ISIG:
 * Ctrl-C stops the VMM (use the guest's `poweroff -f` to end it cleanly). */
static void tty_make_raw(void)
{
	if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &tty_saved) < 0)
		return;
	struct termios t = tty_saved;
	cfmakeraw(&t);
	t.c_lflag |= ISIG;
	if (tcsetattr(STDIN_FILENO, TCSANOW, &t) == 0) {
		tty_raw = true;
		atexit(tty_restore);
	}
}

/* ---- guest memory and interrupts ------------------------------------- */

void *gpa_to_host(struct vm *vm, uint64_t gpa, uint64_t len)
{
	if (gpa + len >= gpa && gpa + len <= vm->low_size)
		return vm->ram + gpa;
	if (gpa >= HIGH_RAM_START && gpa + len >= gpa &&
	    gpa + len <= HIGH_RAM_START + vm->high_size)
		return vm->ram + vm->low_size + (gpa - HIGH_RAM_START);
	return NULL;
}

/* KVM memory slots: 0 and 1 are RAM, the rest come and go with BARs */
#define MAX_SLOTS 512
static uint8_t slot_used[MAX_SLOTS];
static pthread_mutex_t slot_lock = PTHREAD_MUTEX_INITIALIZER;

int vm_map_memory(struct vm *vm, uint64_t gpa, uint64_t size, void *host,
		  bool readonly)
{
	pthread_mutex_lock(&slot_lock);
	int slot = 0;
	while (slot < MAX_SLOTS && slot_used[slot])
		slot++;
	if (slot == MAX_SLOTS) {
		pthread_mutex_unlock(&slot_lock);
		return -ENOSPC;
	}
	struct kvm_userspace_memory_region r = {
		.slot = (uint32_t)slot,
		.flags = readonly ? KVM_MEM_READONLY : 0,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = (uintptr_t)host,
	};
	int ret = slot;
	if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0)
		ret = -errno;
	else
		slot_used[slot] = 1;
	pthread_mutex_unlock(&slot_lock);
	return ret;
}

void vm_unmap_memory(struct vm *vm, int slot)
{
	struct kvm_userspace_memory_region r = { .slot = (uint32_t)slot };
	pthread_mutex_lock(&slot_lock);
	if (slot >= 0 && slot < MAX_SLOTS && slot_used[slot]) {
		ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r);
		slot_used[slot] = 0;
	}
	pthread_mutex_unlock(&slot_lock);
}

void vm_set_irq(struct vm *vm, unsigned gsi, int level)
{
	struct kvm_irq_level l = { .irq = gsi, .level = (uint32_t)level };
	ioctl(vm->vm_fd, KVM_IRQ_LINE, &l);
}

/* The GSI routing table. KVM replaces the whole table on every update,
 * so it has one owner, libassign's KVM glue (vm->kvm): the VMM gives it
 * the interrupt controllers' routes here, once, as the MP table describes
 * them (mptable.c); the MSI and MSI-X routes of assigned devices come and
 * go through the same object (assign.c), from MSI_GSI_BASE up. */
static int routing_init(struct vm *vm)
{
	struct assign_kvm_opts o = { .size = sizeof o,
				     .gsi_base = MSI_GSI_BASE };
	int r = assign_kvm_new(vm->ctx, vm->vm_fd, &o, &vm->kvm);
	for (unsigned gsi = 0; r == 0 && gsi < IOAPIC_PINS; gsi++) {
		if (gsi == 2) /* the cascade: not a device line */
			continue;
		/* ISA IRQ 0, the PIT, is on IOAPIC pin 2 */
		r = assign_kvm_irqchip_route_add(vm->kvm, gsi,
						 ASSIGN_KVM_IRQCHIP_IOAPIC,
						 gsi == 0 ? 2 : gsi);
		if (r == 0 && gsi < 16)
			r = assign_kvm_irqchip_route_add(
				vm->kvm, gsi,
				gsi < 8 ? ASSIGN_KVM_IRQCHIP_PIC_MASTER :
					  ASSIGN_KVM_IRQCHIP_PIC_SLAVE,
				gsi & 7);
	}
	/* KVM uses them without an irqfd (the PIT, the serial line): send
	 * them now, before the first vCPU runs */
	if (r == 0)
		r = assign_kvm_route_commit(vm->kvm);
	if (r < 0)
		vmm_err("cannot set up interrupt routing: %s",
			assign_ctx_get_last_error(vm->ctx));
	return r;
}

/* ---- stopping -------------------------------------------------------- */

void vm_request_stop(struct vm *vm, int code, const char *why)
{
	if (__sync_bool_compare_and_swap(&vm->exit_code, -1, code))
		vmm_info("%s after %.3f s", why, vmm_elapsed());
	uint64_t one = 1;
	ssize_t n = write(vm->stop_fd, &one, sizeof one);
	(void)n;
}

static void kick_handler(int sig)
{
	(void)sig;   /* only interrupts KVM_RUN */
}

/* ---- vCPUs ------------------------------------------------------------- */

static int setup_cpuid(struct vm *vm, struct vcpu *cpu)
{
	int n = 128;
	struct kvm_cpuid2 *c;
	for (;;) {
		c = calloc(1, sizeof *c + n * sizeof(struct kvm_cpuid_entry2));
		if (!c)
			return -ENOMEM;
		c->nent = (uint32_t)n;
		if (ioctl(vm->kvm_fd, KVM_GET_SUPPORTED_CPUID, c) == 0)
			break;
		int e = errno;
		free(c);
		if (e != E2BIG)
			return -e;
		n *= 2;
	}
	for (uint32_t i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];
		if (e->function == 1) {
			/* initial APIC ID and logical processor count */
			e->ebx = (e->ebx & 0x0000ffff) |
				 ((uint32_t)cpu->id << 24) |
				 ((uint32_t)(vm->ncpus & 0xff) << 16);
			/* "running under a hypervisor": without it Linux
			 * never looks for KVM's leaves, so no kvmclock */
			e->ecx |= 1u << 31;
		} else if (e->function == 0xb || e->function == 0x1f) {
			e->edx = (uint32_t)cpu->id;   /* x2APIC ID */
		}
	}
	int r = ioctl(cpu->fd, KVM_SET_CPUID2, c) < 0 ? -errno : 0;
	free(c);
	return r;
}

/* Whether @word is one of the blank-separated words of @line */
static bool has_word(const char *line, const char *word)
{
	size_t n = strlen(word);
	for (const char *p = line; (p = strstr(p, word)); p += n) {
		if ((p == line || isspace((unsigned char)p[-1])) &&
		    (p[n] == '\0' || isspace((unsigned char)p[n])))
			return true;
	}
	return false;
}

static void dump_regs(struct vcpu *cpu)
{
	struct kvm_regs r;
	struct kvm_sregs s;
	if (ioctl(cpu->fd, KVM_GET_REGS, &r) == 0 &&
	    ioctl(cpu->fd, KVM_GET_SREGS, &s) == 0)
		vmm_err("vcpu %d: rip=%#llx rsp=%#llx cr0=%#llx cr3=%#llx "
			"cr4=%#llx efer=%#llx", cpu->id, r.rip, r.rsp, s.cr0,
			s.cr3, s.cr4, s.efer);
}

/* exit statistics, printed with --verbose: every exit is a wake-up of
 * the VMM, the thing a device model wants to keep at zero in steady state */
static unsigned long stat_exits, stat_mmio, stat_port[65536];

static void print_stats(void)
{
	unsigned long io = 0;
	for (int p = 0; p < 65536; p++)
		io += stat_port[p];
	vmm_info("exits to the VMM: %lu (port I/O %lu, MMIO %lu)",
		 stat_exits, io, stat_mmio);
	for (int k = 0; k < 4; k++) {      /* the busiest ports */
		int best = -1;
		for (int p = 0; p < 65536; p++)
			if (stat_port[p] && (best < 0 ||
					     stat_port[p] > stat_port[best]))
				best = p;
		if (best < 0)
			break;
		vmm_info("  port %#06x: %lu", best, stat_port[best]);
		stat_port[best] = 0;
	}
}

/* Reading the statistics port logs the exit counters (with --verbose),
 * so a guest can bracket a workload: `dd if=/dev/port bs=1 skip=1504
 * count=1` before and after, and the difference is the number of times
 * the workload woke the VMM. */
#define STATS_PORT 0x5e0

static struct viommu *the_viommu; /* --viommu, for its statistics */

static void stats_port(struct kvm_run *run)
{
	unsigned long io = 0;
	for (int p = 0; p < 65536; p++)
		io += __atomic_load_n(&stat_port[p], __ATOMIC_RELAXED);
	vmm_info("stats at %.3f s: exits %lu (port I/O %lu, MMIO %lu)",
		 vmm_elapsed(), stat_exits, io, stat_mmio);
	if (the_viommu)
		viommu_log_stats(the_viommu);
	memset((uint8_t *)run + run->io.data_offset, 0,
	       (size_t)run->io.size * run->io.count);
}

static void handle_io(struct kvm_run *run)
{
	__atomic_fetch_add(&stat_port[run->io.port], run->io.count,
			   __ATOMIC_RELAXED);
	if (run->io.port == STATS_PORT &&
	    run->io.direction == KVM_EXIT_IO_IN) {
		stats_port(run);
		return;
	}
	uint8_t *p = (uint8_t *)run + run->io.data_offset;
	bool w = run->io.direction == KVM_EXIT_IO_OUT;
	for (uint32_t i = 0; i < run->io.count; i++) {
		io_dispatch(IO_PORT, run->io.port, p, run->io.size, w);
		p += run->io.size;
	}
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *cpu = arg;
	struct vm *vm = cpu->vm;
	struct kvm_run *run = cpu->run;

	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);

	while (!stopping) {
		if (ioctl(cpu->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			vmm_err("vcpu %d: KVM_RUN failed: %s", cpu->id,
				strerror(errno));
			vm_request_stop(vm, 1, "KVM_RUN failed");
			break;
		}
		__atomic_fetch_add(&stat_exits, 1, __ATOMIC_RELAXED);
		switch (run->exit_reason) {
		case KVM_EXIT_IO:
			handle_io(run);
			break;
		case KVM_EXIT_MMIO:
			__atomic_fetch_add(&stat_mmio, 1, __ATOMIC_RELAXED);
			io_dispatch(IO_MMIO, run->mmio.phys_addr,
				    run->mmio.data, run->mmio.len,
				    run->mmio.is_write);
			break;
		case KVM_EXIT_SHUTDOWN:
			/* triple fault: Linux's last resort to reboot, but
			 * before the guest said a word it is a kernel that
			 * never started (a corrupt image, one that does not
			 * suit this VMM), not a reboot; with "quiet" a running
			 * kernel is silent too, so the message says less */
			if (!serial_output_seen()) {
				if (vm->quiet)
					vmm_err("vcpu %d: the guest triple-faulted "
						"before it wrote anything to its "
						"console; its command line has "
						"\"quiet\", so its kernel may have "
						"been running: take quiet out of "
						"--append (or add earlyprintk=serial) "
						"to see how far it got",
						cpu->id);
				else
					vmm_err("the guest triple-faulted before it "
						"wrote anything to its console: its "
						"kernel did not start; check --kernel "
						"(a corrupt or truncated image?), or "
						"add earlyprintk=serial to --append to "
						"see how far it got");
				vm_request_stop(vm, 1,
						"guest triple fault "
						"before any output");
				return NULL;
			}
			vm_request_stop(vm, 0, "guest shutdown (triple fault)");
			return NULL;
		case KVM_EXIT_SYSTEM_EVENT:
			if (run->system_event.type == KVM_SYSTEM_EVENT_CRASH) {
				vm_request_stop(vm, 1, "guest crashed");
			} else {
				vm_request_stop(vm, 0, "guest system event "
						"(power-off or reset)");
			}
			return NULL;
		case KVM_EXIT_HLT:
			vm_request_stop(vm, 0, "guest halted");
			return NULL;
		case KVM_EXIT_INTR:
			break;
		case KVM_EXIT_FAIL_ENTRY:
			vmm_err("vcpu %d: entry failed, hardware reason %#llx",
				cpu->id, (unsigned long long)
				run->fail_entry.hardware_entry_failure_reason);
			dump_regs(cpu);
			vm_request_stop(vm, 1, "entry failure");
			return NULL;
		case KVM_EXIT_INTERNAL_ERROR:
			vmm_err("vcpu %d: KVM internal error, suberror %u",
				cpu->id, run->internal.suberror);
			dump_regs(cpu);
			vm_request_stop(vm, 1, "internal error");
			return NULL;
		default:
			vmm_err("vcpu %d: unhandled exit reason %u", cpu->id,
				run->exit_reason);
			dump_regs(cpu);
			vm_request_stop(vm, 1, "unhandled exit");
			return NULL;
		}
	}
	return NULL;
}

/* ---- command line ---------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: assign-vmm --kernel FILE [--initrd FILE] [--append CMDLINE]\n"
		"                  [--mem SIZE] [--cpus N] [--device DEVICE]...\n"
		"                  [--handoff SOCKET | --viommu]\n"
		"\n"
		"Boot a Linux guest on KVM with an 8250 console on stdio and, with\n"
		"--device, host PCI devices assigned through VFIO (libassign).\n"
		"\n"
		"  -k, --kernel FILE      64-bit Linux bzImage (boot protocol >= 2.12) or\n"
		"                         uncompressed ELF vmlinux (boots faster)\n"
		"  -i, --initrd FILE      initramfs (cpio, optionally compressed)\n"
		"  -a, --append CMDLINE   kernel command line\n"
		"                         (default \"" VMM_DEFAULT_CMDLINE
		"\")\n"
		"  -m, --mem SIZE         guest RAM, with suffix K, M or G (default 256M)\n"
		"  -c, --cpus N           number of vCPUs, 1-%d (default 1)\n"
		"  -d, --device DEVICE    assign a host device: a PCI address (bound to\n"
		"                         vfio-pci), an mdev's UUID or path\n"
		"                         (/sys/bus/mdev/devices/UUID); repeat for more\n"
		"      --handoff SOCKET   take the devices' VFIO fds from a privileged\n"
		"                         helper (assign-host handoff) on SOCKET: no\n"
		"                         access to /dev/vfio needed; without --device,\n"
		"                         every device handed over is assigned\n"
		"      --viommu           the devices behind a virtio-iommu (VIOT):\n"
		"                         the guest's IOMMU decides what their DMA\n"
		"                         reaches (needs the guest's virtio_iommu)\n"
		"      --dma-map WHEN     when guest RAM is mapped for the devices' DMA:\n"
		"                         background (default: while the guest boots),\n"
		"                         on-demand (when a device first enables bus\n"
		"                         mastering) or before-boot\n"
		"  -v, --verbose          say what the VMM does, with timings\n"
		"  -h, --help             show this help\n"
		"\n"
		"Interrupts are routed by an MP table; ACPI lists the CPUs and lets the\n"
		"guest power off: boot with acpi=noirq. The VMM exits 0 when the guest\n"
		"powers off (ACPI S5), reboots or triple-faults; 1 on errors, among them a\n"
		"triple fault before the guest's first console output (a kernel that never\n"
		"started); 3 when the host took an assigned device back (an unbind from\n"
		"vfio-pci: the VM is stopped to release it); 4 when a device reported an\n"
		"uncorrectable error. Ctrl-C stops it (exit 130).\n",
		VMM_MAX_CPUS);
}

/* ---- main ------------------------------------------------------------- */

static int open_kvm(void)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			vmm_err("no /dev/kvm: load the KVM module (modprobe "
				"kvm-intel or kvm-amd) and enable "
				"virtualization in the firmware");
		else if (errno == EACCES)
			vmm_err("cannot open /dev/kvm: permission denied; add "
				"yourself to the kvm group or run as root");
		else
			vmm_err("cannot open /dev/kvm: %s", strerror(errno));
		return -1;
	}
	int v = ioctl(fd, KVM_GET_API_VERSION, 0);
	if (v != KVM_API_VERSION) {
		vmm_err("/dev/kvm speaks API %d, this VMM needs %d; use a "
			"newer kernel", v, KVM_API_VERSION);
		close(fd);
		return -1;
	}
	return fd;
}

/* Guest RAM: one anonymous mapping, split around the PCI hole. Made
 * before KVM is opened so the kernel and initramfs are checked (and
 * loaded) first: a bad file is reported even where KVM is missing. */
static int alloc_ram(struct vm *vm)
{
	vm->low_size = vm->ram_size < LOW_RAM_MAX ? vm->ram_size : LOW_RAM_MAX;
	vm->high_size = vm->ram_size - vm->low_size;
	/* 2 MiB aligned, so transparent huge pages can back it: fewer
	 * faults, fewer pages to pin for DMA, larger IOMMU mappings */
	const size_t align = 2u << 20;
	size_t len = vm->ram_size + align;
	uint8_t *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED) {
		vmm_err("cannot allocate %llu MiB of guest RAM: %s; lower "
			"--mem", (unsigned long long)(vm->ram_size >> 20),
			strerror(errno));
		return -1;
	}
	uint8_t *start = (uint8_t *)(((uintptr_t)p + align - 1) &
				     ~(uintptr_t)(align - 1));
	if (start > p)
		munmap(p, (size_t)(start - p));
	size_t tail = (size_t)(p + len - (start + vm->ram_size));
	if (tail)
		munmap(start + vm->ram_size, tail);
	vm->ram = start;
	madvise(vm->ram, vm->ram_size, MADV_HUGEPAGE);
	return 0;
}

static int create_vm(struct vm *vm)
{
	vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0) {
		vmm_err("KVM_CREATE_VM failed: %s; is another hypervisor "
			"holding the CPU's virtualization?", strerror(errno));
		return -1;
	}
	/* Intel needs these three pages out of the guest's way; AMD ignores */
	ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)TSS_ADDR);
	uint64_t idmap = TSS_ADDR - 0x1000;
	ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &idmap);

	if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0) {
		vmm_err("KVM_CREATE_IRQCHIP failed: %s", strerror(errno));
		return -1;
	}
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
	if (ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0) {
		vmm_err("KVM_CREATE_PIT2 failed: %s", strerror(errno));
		return -1;
	}
	if (routing_init(vm) < 0)
		return -1;

	if (vm_map_memory(vm, 0, vm->low_size, vm->ram, false) < 0 ||
	    (vm->high_size && vm_map_memory(vm, HIGH_RAM_START, vm->high_size,
					    vm->ram + vm->low_size,
					    false) < 0)) {
		vmm_err("KVM_SET_USER_MEMORY_REGION failed: %s",
			strerror(errno));
		return -1;
	}
	return 0;
}

static int create_vcpus(struct vm *vm)
{
	vm->run_size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (vm->run_size <= 0)
		return -1;
	vm->cpus = calloc((size_t)vm->ncpus, sizeof *vm->cpus);
	if (!vm->cpus)
		return -1;
	for (int i = 0; i < vm->ncpus; i++) {
		struct vcpu *c = &vm->cpus[i];
		c->vm = vm;
		c->id = i;
		c->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)i);
		if (c->fd < 0) {
			vmm_err("KVM_CREATE_VCPU %d failed: %s; try fewer "
				"--cpus", i, strerror(errno));
			return -1;
		}
		c->run = mmap(NULL, (size_t)vm->run_size,
			      PROT_READ | PROT_WRITE, MAP_SHARED, c->fd, 0);
		if (c->run == MAP_FAILED) {
			c->run = NULL;
			return -1;
		}
		int r = setup_cpuid(vm, c);
		if (r < 0) {
			vmm_err("setting CPUID on vcpu %d failed: %s", i,
				strerror(-r));
			return -1;
		}
	}
	return 0;
}

static void destroy_vm(struct vm *vm)
{
	for (int i = 0; vm->cpus && i < vm->ncpus; i++) {
		if (vm->cpus[i].run)
			munmap(vm->cpus[i].run, (size_t)vm->run_size);
		if (vm->cpus[i].fd > 0)
			close(vm->cpus[i].fd);
	}
	free(vm->cpus);
	/* deassigns what irqfds are left; before the VM fd goes */
	vm->kvm = assign_kvm_unref(vm->kvm);
	vm->ctx = assign_ctx_unref(vm->ctx);
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->ram)
		munmap(vm->ram, vm->ram_size);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	if (vm->stop_fd >= 0)
		close(vm->stop_fd);
}

/* The main thread: stdin to the UART, signals, stop requests, and the
 * host's requests on assigned devices (assign.c). */
static int main_loop(struct vm *vm, int sig_fd, struct assigned **devs,
		     int ndevs)
{
	bool stdin_open = true;
	for (;;) {
		struct pollfd p[3 + 2 * VMM_MAX_DEVICES] = {
			{ .fd = vm->stop_fd, .events = POLLIN },
			{ .fd = sig_fd, .events = POLLIN },
			{ .fd = stdin_open ? STDIN_FILENO : -1,
			  .events = POLLIN },
		};
		struct assigned *owner[2 * VMM_MAX_DEVICES];
		nfds_t np = 3;
		for (int i = 0; i < ndevs; i++) {
			int fds[2];
			int k = assign_device_event_fds(devs[i], fds);
			for (int j = 0; j < k; j++) {
				owner[np - 3] = devs[i];
				p[np++] = (struct pollfd){ .fd = fds[j],
							   .events = POLLIN };
			}
		}
		if (poll(p, np, -1) < 0) {
			if (errno == EINTR)
				continue;
			return 1;
		}
		if (p[0].revents)
			return vm->exit_code < 0 ? 1 : vm->exit_code;
		if (p[1].revents) {
			struct signalfd_siginfo si;
			if (read(sig_fd, &si, sizeof si) == sizeof si) {
				vmm_err("stopped by %s", si.ssi_signo == SIGINT
					? "SIGINT (Ctrl-C)" : "SIGTERM");
				__sync_bool_compare_and_swap(
					&vm->exit_code, -1,
					128 + (int)si.ssi_signo);
				return vm->exit_code;
			}
		}
		if (p[2].revents) {
			uint8_t buf[256];
			ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
			if (n > 0)
				serial_input(buf, (size_t)n);
			else
				stdin_open = false;   /* EOF: keep running */
		}
		for (nfds_t i = 3; i < np; i++)
			if (p[i].revents)
				assign_device_event(owner[i - 3], p[i].fd);
	}
}

/* SIGINT and SIGTERM go to a signalfd read by the main loop; vCPU
 * threads inherit the blocked mask and unblock only SIGUSR1, the kick.
 * Returns the signalfd, or -1. */
static int signals_init(void)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	sigdelset(&set, SIGUSR1);
	int sig_fd = signalfd(-1, &set, SFD_CLOEXEC);
	struct sigaction sa = { .sa_handler = kick_handler };
	sigaction(SIGUSR1, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	return sig_fd;
}

/* Guest RAM, with the kernel and initramfs in it: before KVM, so a bad
 * file is reported even where KVM is missing. */
static int load_guest(struct vm *vm, const struct vmm_options *opt,
		      uint64_t *entry)
{
	struct boot_config boot = {
		.kernel = opt->kernel,
		.initrd = opt->initrd,
		.cmdline = opt->cmdline,
	};
	if (alloc_ram(vm) < 0 || boot_load_linux(vm, &boot, entry) < 0)
		return -1;
	vmm_info("kernel and initramfs loaded at %.3f s", vmm_elapsed());
	return 0;
}

/* The library context: every libassign object of the VM hangs off it */
static int lib_init(struct vm *vm)
{
	int r = assign_ctx_new(&vm->ctx);
	if (r < 0) {
		vmm_err("libassign: cannot create a context: %s", strerror(-r));
		return -1;
	}
	assign_ctx_set_log_fn(vm->ctx, lib_log, NULL);
	return 0;
}

/* KVM, the VM with its interrupt controllers and routing, the emulated
 * devices */
static int setup_vm(struct vm *vm)
{
	vm->stop_fd = eventfd(0, EFD_CLOEXEC);
	vm->kvm_fd = open_kvm();
	if (vm->kvm_fd < 0 || vm->stop_fd < 0)
		return -1;
	if (lib_init(vm) < 0 || create_vm(vm) < 0)
		return -1;
	if (serial_init(vm) < 0 || legacy_init(vm) < 0 || pci_init(vm) < 0)
		return -1;
	vmm_info("KVM VM and devices set up at %.3f s", vmm_elapsed());
	return 0;
}

/* Each --device in the next PCI slot; *n counts those added. With
 * --handoff, the devices come from the helper: those --device names, or
 * all of them. */
static int add_devices(struct vm *vm, const struct vmm_options *opt,
		       struct assigned **devs, int *n)
{
	const char *handed[VMM_MAX_DEVICES];
	const char *const *names = opt->devices;
	int count = opt->ndevices;

	if (opt->handoff) {
		int k = assign_handoff_take(vm, opt->handoff, handed,
					    VMM_MAX_DEVICES);
		if (k < 0)
			return -1;
		if (!count) {
			names = handed;
			count = k;
		}
	}
	for (int i = 0; i < count; i++) {
		if (assign_device_add(vm, names[i], &devs[i]) < 0)
			return -1;
		(*n)++;
	}
	return 0;
}

/* --viommu: the virtio-iommu in front of the devices (each in a host
 * address space of its own, dma.c), on the next PCI slot */
static int add_viommu(struct vm *vm, struct assigned **devs, int n,
		      struct viommu **ret)
{
	if (!vm->viommu)
		return 0;
	if (viommu_setup(vm, devs, n, ret) < 0)
		return -1;
	the_viommu = *ret;
	vmm_info("virtio-iommu at guest 00:%02x.0 in front of %d device(s)",
		 viommu_slot(*ret), n);
	return 0;
}

/* What the guest finds at its first instruction: firmware tables, vCPUs,
 * the boot CPU at the kernel's entry, guest RAM ready for DMA */
static int prepare_boot(struct vm *vm, const struct vmm_options *opt,
			uint64_t entry, int ndevices, struct viommu *vio)
{
	struct acpi_viot viot;

	if (vio)
		viommu_get_viot(vio, &viot);
	if (mptable_write(vm) < 0 || acpi_write(vm, vio ? &viot : NULL) < 0)
		return -1;
	if (create_vcpus(vm) < 0)
		return -1;
	int r = boot_setup_bsp(vm, &vm->cpus[0], entry);
	if (r < 0) {
		vmm_err("setting up the boot CPU failed: %s", strerror(-r));
		return -1;
	}
	/* Checks guest RAM for DMA now; maps it before boot, or from a
	 * thread that run_vm() starts once the vCPU threads exist */
	if (dma_start(vm, opt->dma_mode) < 0)
		return -1;
	vmm_info("VM ready after %.3f s: %llu MiB, %d vCPU(s), %d device(s)",
		 vmm_elapsed(), (unsigned long long)(vm->ram_size >> 20),
		 vm->ncpus, ndevices);
	return 0;
}

/* Start one thread per vCPU; returns how many run */
static int start_vcpus(struct vm *vm)
{
	int started = 0;
	for (; started < vm->ncpus; started++) {
		if (pthread_create(&vm->cpus[started].thread, NULL, vcpu_thread,
				   &vm->cpus[started]) != 0) {
			vmm_err("cannot start vCPU thread %d", started);
			vm_request_stop(vm, 1, "thread creation failed");
			break;
		}
	}
	return started;
}

/* Stop every vCPU: immediate_exit makes a KVM_RUN about to start return
 * at once, the signal interrupts one already running */
static void stop_vcpus(struct vm *vm, int started)
{
	stopping = 1;
	for (int i = 0; i < started; i++) {
		vm->cpus[i].run->immediate_exit = 1;
		pthread_kill(vm->cpus[i].thread, SIGUSR1);
	}
	for (int i = 0; i < started; i++)
		pthread_join(vm->cpus[i].thread, NULL);
}

/* Run the guest until it stops or the VMM is told to; the exit code */
static int run_vm(struct vm *vm, int sig_fd, struct assigned **devs, int ndevs)
{
	tty_make_raw();
	int started = start_vcpus(vm);
	/* last: from here on the address space must not change
	 * (dma_run_background() says why) */
	dma_run_background();
	int code = main_loop(vm, sig_fd, devs, ndevs);
	stop_vcpus(vm, started);
	tty_restore();
	for (int i = 0; vmm_verbose && i < started; i++)
		dump_regs(&vm->cpus[i]);
	if (vmm_verbose)
		print_stats();
	vmm_info("VM stopped after %.3f s, exit code %d", vmm_elapsed(), code);
	return code;
}

int main(int argc, char **argv)
{
	struct vmm_options opt;
	char err[512];

	clock_gettime(CLOCK_MONOTONIC, &t_start);
	if (vmm_parse_args(argc, argv, &opt, err, sizeof err) < 0) {
		vmm_err("%s", err);
		return 2;
	}
	if (opt.help) {
		usage(stdout);
		return 0;
	}
	vmm_verbose = opt.verbose;
	/* One malloc arena for every thread: a thread's first malloc()
	 * would otherwise map an arena of its own, and a vCPU thread doing
	 * that while guest RAM is pinned in the background waits for the
	 * pinning to give up the mmap lock (0.6-0.9 s once, in the lab) */
	mallopt(M_ARENA_MAX, 1);

	struct vm vm = { .kvm_fd = -1,
			 .vm_fd = -1,
			 .stop_fd = -1,
			 .exit_code = -1,
			 .ram_size = opt.mem,
			 .ncpus = opt.ncpus,
			 .viommu = opt.viommu,
			 .quiet = has_word(opt.cmdline, "quiet") };
	struct assigned *devs[VMM_MAX_DEVICES] = { 0 };
	struct viommu *vio = NULL;
	int ndevs = 0, code = 1;
	uint64_t entry;
	int sig_fd = signals_init();

	if (sig_fd < 0 || load_guest(&vm, &opt, &entry) < 0 ||
	    setup_vm(&vm) < 0)
		goto out;
	if (add_devices(&vm, &opt, devs, &ndevs) == 0 &&
	    add_viommu(&vm, devs, ndevs, &vio) == 0 &&
	    prepare_boot(&vm, &opt, entry, ndevs, vio) == 0)
		code = run_vm(&vm, sig_fd, devs, ndevs);

	for (int i = ndevs - 1; i >= 0; i--)
		assign_device_remove(devs[i]);
	the_viommu = NULL;
	viommu_free(vio);
	assign_global_cleanup();
out:
	tty_restore();
	destroy_vm(&vm);
	if (sig_fd >= 0)
		close(sig_fd);
	return code;
}
