/* SPDX-License-Identifier: MIT */
/*
 * hello-vmm: the smallest VMM that hands a host PCI device to a guest.
 *
 *   hello-vmm PCI_ADDRESS [BAR [OFFSET [VALUE]]]
 *
 * 1. libassign opens the device (bound to vfio-pci) and maps one of its
 *    memory BARs into this process.
 * 2. KVM gets a VM with 64 KiB of RAM and that BAR mapping as a second
 *    memory slot at guest physical 0xc0000000: guest loads and stores go
 *    straight to the device, with no exit to this program.
 * 3. A 23-byte payload runs in 32-bit protected mode: it reads the register
 *    at OFFSET, hands the value out through port 0x500, optionally writes
 *    VALUE and reads the register again, then halts.
 *
 * With QEMU's "edu" device (1234:11e8), BAR 0 offset 0 is its ID register
 * (0x010000ed) and offset 4 its liveness register, which reads back the
 * inverse of what was written:
 *
 *   hello-vmm 0000:00:04.0 0 4 0x12345678   ->  ... then 0xedcba987
 *
 * Interrupts, DMA and a config space for the guest are what assign-vmm
 * adds on top; see examples/assign-vmm.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <libassign/libassign.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#define RAM_SIZE   0x10000
#define CODE_ADDR  0x1000
#define BAR_GPA    0xc0000000u
#define OUT_PORT   0x500

/* The guest program, 32-bit code. The two imm32 fields are patched. */
static const uint8_t payload[] = {
	0xbe, 0, 0, 0, 0,          /* mov esi, BAR_GPA + OFFSET        */
	0x66, 0xba, 0x00, 0x05,    /* mov dx, 0x500                    */
	0x8b, 0x06,                /* mov eax, [esi]    read register  */
	0xef,                      /* out dx, eax       report it      */
	0xb8, 0, 0, 0, 0,          /* mov eax, VALUE                   */
	0x89, 0x06,                /* mov [esi], eax    write register */
	0x8b, 0x06,                /* mov eax, [esi]    read again     */
	0xef,                      /* out dx, eax       report it      */
	0xf4,                      /* hlt                              */
};
#define PATCH_ADDR  1
#define PATCH_VALUE 13
#define WRITE_START 12             /* first byte of the write part */
#define HLT_AT      (sizeof payload - 1)

static int die(struct assign_ctx *ctx, const char *what, int r)
{
	fprintf(stderr, "hello-vmm: %s: %s\n", what,
		ctx && *assign_ctx_get_last_error(ctx) ? assign_ctx_get_last_error(ctx)
						   : strerror(r < 0 ? -r : r));
	return 1;
}

int main(int argc, char **argv)
{
	if (argc < 2 || argc > 5 || !strcmp(argv[1], "--help")) {
		fprintf(argc < 2 ? stderr : stdout,
			"Usage: hello-vmm PCI_ADDRESS [BAR [OFFSET [VALUE]]]\n"
			"Run a tiny guest that reads (and writes) a register "
			"of an assigned device.\n");
		return argc < 2 ? 2 : 0;
	}
	unsigned bar = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 0) : 0;
	uint32_t offset = argc > 3 ? (uint32_t)strtoul(argv[3], NULL, 0) : 0;
	bool do_write = argc > 4;
	uint32_t value = do_write ? (uint32_t)strtoul(argv[4], NULL, 0) : 0;

	/* --- the device, through libassign ------------------------------ */
	struct assign_ctx *ctx = NULL;
	struct assign_iommu *iommu = NULL;
	struct assign_device *dev = NULL;
	int r = assign_ctx_new(&ctx);
	if (r < 0)
		return die(NULL, "libassign", r);
	if (!getenv("ASSIGN_LOG"))      /* we print the last error ourselves */
		assign_ctx_set_log_priority(ctx, 0);
	if ((r = assign_iommu_new(ctx, NULL, &iommu)) < 0)
		return die(ctx, "VFIO", r);
	if ((r = assign_device_open(iommu, argv[1], NULL, &dev)) < 0)
		return die(ctx, argv[1], r);

	const struct assign_region_info *ri;
	void *bar_map;
	if (bar > 5 || assign_device_get_region(dev, bar, &ri) < 0 ||
	    ri->size == 0) {
		fprintf(stderr, "hello-vmm: %s has no BAR %u\n", argv[1], bar);
		return 1;
	}
	if (offset % 4 || offset + 4 > ri->size) {
		fprintf(stderr, "hello-vmm: offset %#x is not a dword inside "
			"BAR %u (%llu bytes)\n", offset, bar,
			(unsigned long long)ri->size);
		return 1;
	}
	if ((r = assign_region_mmap(dev, bar, &bar_map)) < 0)
		return die(ctx, "BAR cannot be mapped (an I/O BAR?)", r);
	uint32_t host_view = 0;
	assign_region_read(dev, bar, offset, &host_view, 4);
	printf("hello-vmm: %s BAR%u (%llu KiB) register %#x reads 0x%08x "
	       "from the host\n", assign_device_get_address(dev), bar,
	       (unsigned long long)(ri->size >> 10), offset, host_view);

	/* --- the VM: RAM, the BAR as a memory slot, one vCPU ------------ */
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		return die(NULL, "/dev/kvm (load kvm-intel or kvm-amd)", errno);
	int vm = ioctl(kvm, KVM_CREATE_VM, 0);
	uint8_t *ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (vm < 0 || ram == MAP_FAILED)
		return die(NULL, "KVM_CREATE_VM", errno);
	struct kvm_userspace_memory_region slots[2] = {
		{ .slot = 0, .guest_phys_addr = 0, .memory_size = RAM_SIZE,
		  .userspace_addr = (uintptr_t)ram },
		{ .slot = 1, .guest_phys_addr = BAR_GPA,
		  .memory_size = ri->size, .userspace_addr = (uintptr_t)bar_map },
	};
	for (int i = 0; i < 2; i++)
		if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &slots[i]) < 0)
			return die(NULL, "KVM_SET_USER_MEMORY_REGION", errno);

	memcpy(ram + CODE_ADDR, payload, sizeof payload);
	uint32_t addr = BAR_GPA + offset;
	memcpy(ram + CODE_ADDR + PATCH_ADDR, &addr, 4);
	memcpy(ram + CODE_ADDR + PATCH_VALUE, &value, 4);
	if (!do_write)              /* stop right after the first report */
		ram[CODE_ADDR + WRITE_START] = 0xf4;

	int cpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	int run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	struct kvm_run *run = mmap(NULL, (size_t)run_size,
				   PROT_READ | PROT_WRITE, MAP_SHARED, cpu, 0);
	if (cpu < 0 || run == MAP_FAILED)
		return die(NULL, "KVM_CREATE_VCPU", errno);

	/* 32-bit protected mode, flat segments, no paging: set the hidden
	 * segment state directly, so no GDT is needed in guest memory */
	struct kvm_sregs sr;
	ioctl(cpu, KVM_GET_SREGS, &sr);
	struct kvm_segment code = { .base = 0, .limit = 0xffffffff,
				    .selector = 8, .type = 0xb, .present = 1,
				    .s = 1, .db = 1, .g = 1 };
	struct kvm_segment data = code;
	data.selector = 0x10;
	data.type = 0x3;
	sr.cs = code;
	sr.ds = sr.es = sr.fs = sr.gs = sr.ss = data;
	sr.cr0 |= 1;                                 /* PE */
	ioctl(cpu, KVM_SET_SREGS, &sr);
	struct kvm_regs regs = { .rip = CODE_ADDR, .rflags = 2 };
	ioctl(cpu, KVM_SET_REGS, &regs);

	/* --- run: every exit is a report or the end -------------------- */
	int reports = 0, rc = 1;
	for (;;) {
		if (ioctl(cpu, KVM_RUN, 0) < 0) {
			if (errno == EINTR)
				continue;
			die(NULL, "KVM_RUN", errno);
			break;
		}
		if (run->exit_reason == KVM_EXIT_IO &&
		    run->io.port == OUT_PORT && run->io.size == 4) {
			uint32_t v;
			memcpy(&v, (uint8_t *)run + run->io.data_offset, 4);
			printf("hello-vmm: the guest %s 0x%08x\n",
			       reports++ ? "then read" : "read", v);
		} else if (run->exit_reason == KVM_EXIT_HLT) {
			printf("hello-vmm: the guest halted after %d "
			       "report(s)%s\n", reports, do_write ?
			       " (it wrote the value in between)" : "");
			rc = 0;
			break;
		} else {
			fprintf(stderr, "hello-vmm: unexpected exit %u\n",
				run->exit_reason);
			break;
		}
	}

	munmap(run, (size_t)run_size);
	close(cpu);
	close(vm);
	close(kvm);
	munmap(ram, RAM_SIZE);
	assign_region_munmap(dev, bar);
	assign_device_unref(dev);
	assign_iommu_unref(iommu);
	assign_ctx_unref(ctx);
	return rc;
}
