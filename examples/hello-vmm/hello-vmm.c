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

/* What the program works with, from the command line to the vCPU */
struct hello {
	const char *address;
	unsigned bar;
	uint32_t offset;
	bool do_write;
	uint32_t value;

	struct assign_ctx *ctx;
	struct assign_iommu *iommu;
	struct assign_device *dev;
	void *bar_map; /* the BAR, mapped in this process */
	uint64_t bar_size;

	int kvm, vm, cpu;
	uint8_t *ram;
	struct kvm_run *run;
	int run_size;
};

/* -1 to go on, or the exit code (usage, --help) */
static int parse_args(int argc, char **argv, struct hello *h)
{
	if (argc < 2 || argc > 5 || !strcmp(argv[1], "--help")) {
		fprintf(argc < 2 ? stderr : stdout,
			"Usage: hello-vmm PCI_ADDRESS [BAR [OFFSET [VALUE]]]\n"
			"Run a tiny guest that reads (and writes) a register "
			"of an assigned device.\n");
		return argc < 2 ? 2 : 0;
	}
	h->address = argv[1];
	h->bar = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 0) : 0;
	h->offset = argc > 3 ? (uint32_t)strtoul(argv[3], NULL, 0) : 0;
	h->do_write = argc > 4;
	h->value = h->do_write ? (uint32_t)strtoul(argv[4], NULL, 0) : 0;
	return -1;
}

/* The device, through libassign: opened, the BAR checked and mapped.
 * 0, or the exit code. */
static int open_device(struct hello *h)
{
	int r = assign_ctx_new(&h->ctx);
	if (r < 0)
		return die(NULL, "libassign", r);
	if ((r = assign_iommu_new(h->ctx, NULL, &h->iommu)) < 0)
		return die(h->ctx, "VFIO", r);
	if ((r = assign_device_open(h->iommu, h->address, NULL, &h->dev)) < 0)
		return die(h->ctx, h->address, r);

	const struct assign_region_info *ri;
	if (h->bar > 5 || assign_device_get_region(h->dev, h->bar, &ri) < 0 ||
	    ri->size == 0) {
		fprintf(stderr, "hello-vmm: %s has no BAR %u\n", h->address,
			h->bar);
		return 1;
	}
	if (h->offset % 4 || h->offset + 4 > ri->size) {
		fprintf(stderr,
			"hello-vmm: offset %#x is not a dword inside "
			"BAR %u (%llu bytes)\n",
			h->offset, h->bar, (unsigned long long)ri->size);
		return 1;
	}
	h->bar_size = ri->size;
	if ((r = assign_region_mmap(h->dev, h->bar, &h->bar_map)) < 0)
		return die(h->ctx, "BAR cannot be mapped (an I/O BAR?)", r);
	uint32_t host_view = 0;
	assign_region_read(h->dev, h->bar, h->offset, &host_view, 4);
	printf("hello-vmm: %s BAR%u (%llu KiB) register %#x reads 0x%08x "
	       "from the host\n",
	       assign_device_get_name(h->dev), h->bar,
	       (unsigned long long)(h->bar_size >> 10), h->offset, host_view);
	return 0;
}

/* The VM: RAM with the payload in it, the BAR as a second memory slot.
 * 0, or the exit code. */
static int create_vm(struct hello *h)
{
	h->kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (h->kvm < 0)
		return die(NULL, "/dev/kvm (load kvm-intel or kvm-amd)", errno);
	h->vm = ioctl(h->kvm, KVM_CREATE_VM, 0);
	h->ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (h->vm < 0 || h->ram == MAP_FAILED)
		return die(NULL, "KVM_CREATE_VM", errno);
	struct kvm_userspace_memory_region slots[2] = {
		{ .slot = 0,
		  .guest_phys_addr = 0,
		  .memory_size = RAM_SIZE,
		  .userspace_addr = (uintptr_t)h->ram },
		{ .slot = 1,
		  .guest_phys_addr = BAR_GPA,
		  .memory_size = h->bar_size,
		  .userspace_addr = (uintptr_t)h->bar_map },
	};
	for (int i = 0; i < 2; i++)
		if (ioctl(h->vm, KVM_SET_USER_MEMORY_REGION, &slots[i]) < 0)
			return die(NULL, "KVM_SET_USER_MEMORY_REGION", errno);

	memcpy(h->ram + CODE_ADDR, payload, sizeof payload);
	uint32_t addr = BAR_GPA + h->offset;
	memcpy(h->ram + CODE_ADDR + PATCH_ADDR, &addr, 4);
	memcpy(h->ram + CODE_ADDR + PATCH_VALUE, &h->value, 4);
	if (!h->do_write) /* stop right after the first report */
		h->ram[CODE_ADDR + WRITE_START] = 0xf4;
	return 0;
}

/* One vCPU at the payload, in 32-bit protected mode with flat segments
 * and no paging. 0, or the exit code. */
static int create_vcpu(struct hello *h)
{
	h->cpu = ioctl(h->vm, KVM_CREATE_VCPU, 0);
	h->run_size = ioctl(h->kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	h->run = mmap(NULL, (size_t)h->run_size, PROT_READ | PROT_WRITE,
		      MAP_SHARED, h->cpu, 0);
	if (h->cpu < 0 || h->run == MAP_FAILED)
		return die(NULL, "KVM_CREATE_VCPU", errno);

	/* the hidden segment state is set directly, so no GDT is needed in
	 * guest memory */
	struct kvm_sregs sr;
	ioctl(h->cpu, KVM_GET_SREGS, &sr);
	struct kvm_segment code = { .base = 0, .limit = 0xffffffff,
				    .selector = 8, .type = 0xb, .present = 1,
				    .s = 1, .db = 1, .g = 1 };
	struct kvm_segment data = code;
	data.selector = 0x10;
	data.type = 0x3;
	sr.cs = code;
	sr.ds = sr.es = sr.fs = sr.gs = sr.ss = data;
	sr.cr0 |= 1;                                 /* PE */
	ioctl(h->cpu, KVM_SET_SREGS, &sr);
	struct kvm_regs regs = { .rip = CODE_ADDR, .rflags = 2 };
	ioctl(h->cpu, KVM_SET_REGS, &regs);
	return 0;
}

/* Run: every exit is a report or the end. The exit code. */
static int run_guest(struct hello *h)
{
	struct kvm_run *run = h->run;
	int reports = 0;
	for (;;) {
		if (ioctl(h->cpu, KVM_RUN, 0) < 0) {
			if (errno == EINTR)
				continue;
			return die(NULL, "KVM_RUN", errno);
		}
		if (run->exit_reason == KVM_EXIT_IO &&
		    run->io.port == OUT_PORT && run->io.size == 4) {
			uint32_t v;
			memcpy(&v, (uint8_t *)run + run->io.data_offset, 4);
			printf("hello-vmm: the guest %s 0x%08x\n",
			       reports++ ? "then read" : "read", v);
		} else if (run->exit_reason == KVM_EXIT_HLT) {
			printf("hello-vmm: the guest halted after %d "
			       "report(s)%s\n",
			       reports,
			       h->do_write ?
				       " (it wrote the value in between)" :
				       "");
			return 0;
		} else {
			fprintf(stderr, "hello-vmm: unexpected exit %u\n",
				run->exit_reason);
			return 1;
		}
	}
}

static void release(struct hello *h)
{
	munmap(h->run, (size_t)h->run_size);
	close(h->cpu);
	close(h->vm);
	close(h->kvm);
	munmap(h->ram, RAM_SIZE);
	assign_region_munmap(h->dev, h->bar);
	assign_device_unref(h->dev);
	assign_iommu_unref(h->iommu);
	assign_ctx_unref(h->ctx);
}

int main(int argc, char **argv)
{
	struct hello h = { .kvm = -1, .vm = -1, .cpu = -1 };
	int rc = parse_args(argc, argv, &h);
	if (rc >= 0)
		return rc;
	/* 1. the device, 2. the VM around its BAR, 3. the guest program */
	if (open_device(&h) || create_vm(&h) || create_vcpu(&h))
		return 1;
	rc = run_guest(&h);
	release(&h);
	return rc;
}
