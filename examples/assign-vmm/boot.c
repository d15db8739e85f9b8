/* SPDX-License-Identifier: MIT */
/*
 * Linux x86 boot protocol (Documentation/arch/x86/boot.rst), 64-bit entry:
 * no firmware, no real-mode setup code. We load the protected-mode part of
 * the bzImage at 1 MiB, fill in the zero page (struct boot_params) with
 * the setup header, the command line, the initramfs and an e820 map, build
 * identity page tables for the first 4 GiB and start the BSP in long mode
 * at the 64-bit entry point (load address + 0x200) with %rsi pointing at
 * the zero page.
 *
 * An uncompressed ELF vmlinux is accepted too: its PT_LOAD segments go to
 * their physical addresses and the BSP starts at the ELF entry (the
 * kernel's own startup_64) with the same zero page, now filled from
 * scratch. That skips the decompressor, which is most of the time from
 * VMM start to the kernel's first instruction under nested virtualization
 * (lab/extract-vmlinux.py gets a vmlinux out of a bzImage).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <asm/bootparam.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmm.h"

#define HDRS_MAGIC     0x53726448u     /* "HdrS" */
#define MIN_PROTOCOL   0x020c          /* 2.12: xloadflags, 64-bit entry */
#define XLF_KERNEL_64_BIT (1 << 0)
#define E820_RAM       1
#define E820_RESERVED  2

/* Map a file read-only: the kernel and initramfs are copied from the
 * page cache straight into guest RAM, one copy. MAP_POPULATE maps it
 * whole at once instead of one fault per 64 KiB. */
static int read_file(const char *path, uint8_t **buf, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	if (!S_ISREG(st.st_mode) || st.st_size == 0) {
		close(fd);
		return S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
	}
	void *p = mmap(NULL, (size_t)st.st_size, PROT_READ,
		       MAP_PRIVATE | MAP_POPULATE, fd, 0);
	int e = errno;
	close(fd);
	if (p == MAP_FAILED)
		return -e;
	*buf = p;
	*len = (size_t)st.st_size;
	return 0;
}

static const char *file_error(int r)
{
	return r == -EINVAL ? "empty or not a regular file" : strerror(-r);
}

static void free_file(uint8_t *buf, size_t len)
{
	if (buf)
		munmap(buf, len);
}

/* [off, off + n) lies inside [0, len): written so that no sum can wrap
 * past 2^64, whatever a file claims */
static bool inside(uint64_t off, uint64_t n, uint64_t len)
{
	return off <= len && n <= len - off;
}

static void e820_add(struct boot_params *bp, uint64_t addr, uint64_t size,
		     uint32_t type)
{
	struct boot_e820_entry *e = &bp->e820_table[bp->e820_entries++];
	e->addr = addr;
	e->size = size;
	e->type = type;
}

/* Fill what the zero page needs besides the setup header: command line,
 * initramfs (as high in low RAM as the kernel allows) and the e820 map.
 * kernel_end is the first byte above the kernel's memory. */
static int finish_zero_page(struct vm *vm, const struct boot_config *cfg,
			    struct boot_params *bp, uint64_t kernel_end,
			    const uint8_t *rd, size_t rd_len)
{
	size_t cl = strlen(cfg->cmdline);
	uint32_t cl_max = bp->hdr.cmdline_size ? bp->hdr.cmdline_size : 255;
	if (cl > cl_max || cl >= CMDLINE_MAX) {
		vmm_err("kernel command line is %zu bytes, this kernel takes "
			"at most %u; shorten --append", cl, cl_max);
		return -EINVAL;
	}
	memcpy(vm->ram + CMDLINE_ADDR, cfg->cmdline, cl + 1);
	bp->hdr.cmd_line_ptr = CMDLINE_ADDR;

	if (rd) {
		uint64_t top = vm->low_size;
		uint64_t max = (uint64_t)bp->hdr.initrd_addr_max + 1;
		if (top > max)
			top = max;
		/* below top, page aligned, and at least 1 MiB (less the
		 * alignment) above the kernel */
		uint64_t floor = kernel_end + 0x100000;
		if (top < floor || rd_len > top - floor) {
			vmm_err("initramfs %s (%zu MiB) does not fit beside "
				"the kernel in %llu MiB of RAM; raise --mem",
				cfg->initrd, rd_len >> 20,
				(unsigned long long)(vm->low_size >> 20));
			return -EINVAL;
		}
		uint64_t at = (top - rd_len) & ~0xfffULL;
		memcpy(vm->ram + at, rd, rd_len);
		bp->hdr.ramdisk_image = (uint32_t)at;
		bp->hdr.ramdisk_size = (uint32_t)rd_len;
	}

	/* e820: low RAM minus the EBDA and the BIOS area (ACPI tables, MP
	 * table), the ECAM (Linux checks that MCFG's area is reserved),
	 * then high RAM */
	e820_add(bp, 0, EBDA_START, E820_RAM);
	e820_add(bp, EBDA_START, 0xa0000 - EBDA_START, E820_RESERVED);
	e820_add(bp, ACPI_START, 0x100000 - ACPI_START, E820_RESERVED);
	e820_add(bp, 0x100000, vm->low_size - 0x100000, E820_RAM);
	e820_add(bp, PCI_ECAM_BASE, PCI_ECAM_SIZE, E820_RESERVED);
	if (vm->high_size)
		e820_add(bp, HIGH_RAM_START, vm->high_size, E820_RAM);
	return 0;
}

/* Copy into guest RAM that nothing has written yet (the kernel is
 * loaded first, into RAM just mapped). Fresh anonymous memory reads as
 * zeros, so the zero pages of the source are skipped: neither written
 * nor faulted in, the guest faults them in when it uses them. In the
 * lab's stripped Debian vmlinux that is about half of its 62 MiB (.bss,
 * .brk, zero-filled data); under nested TCG, writing guest RAM is the
 * expensive part of loading. */
static void copy_to_fresh_ram(uint8_t *dst, const uint8_t *src, size_t len)
{
	static const uint8_t zero[4096];
	for (size_t off = 0; off < len; off += sizeof zero) {
		size_t n = len - off < sizeof zero ? len - off : sizeof zero;
		if (memcmp(src + off, zero, n))
			memcpy(dst + off, src + off, n);
	}
}

/* An uncompressed vmlinux: copy its segments, fake a setup header. Every
 * offset and size comes from the file: each is checked against the file
 * or guest RAM with inside(), never by adding first (a sum near 2^64
 * wraps and passes). */
static int load_elf(struct vm *vm, const struct boot_config *cfg,
		    const uint8_t *img, size_t len, const uint8_t *rd,
		    size_t rd_len, uint64_t *entry)
{
	Elf64_Ehdr eh;
	memcpy(&eh, img, sizeof eh);
	if (eh.e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh.e_ident[EI_DATA] != ELFDATA2LSB || eh.e_machine != EM_X86_64 ||
	    eh.e_type != ET_EXEC || eh.e_phentsize != sizeof(Elf64_Phdr)) {
		vmm_err("%s is an ELF file but not an x86-64 vmlinux; pass a "
			"bzImage or an x86-64 vmlinux", cfg->kernel);
		return -EINVAL;
	}
	if (!inside(eh.e_phoff, (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr),
		    len)) {
		vmm_err("%s: its program headers (%u at offset %#llx) lie "
			"beyond the end of the file (%zu bytes); the vmlinux "
			"is truncated or corrupt, extract it again",
			cfg->kernel, eh.e_phnum, (unsigned long long)eh.e_phoff,
			len);
		return -EINVAL;
	}
	uint64_t kernel_start = UINT64_MAX, kernel_end = 0;
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;
		memcpy(&ph, img + eh.e_phoff + i * sizeof ph, sizeof ph);
		if (ph.p_type != PT_LOAD)
			continue;
		if (!inside(ph.p_offset, ph.p_filesz, len) ||
		    ph.p_filesz > ph.p_memsz) {
			vmm_err("%s: segment %u runs past the end of the file; "
				"the vmlinux is truncated, extract it again",
				cfg->kernel, i);
			return -EINVAL;
		}
		if (ph.p_paddr < KERNEL_ADDR) {
			vmm_err("%s loads at %#llx, below 1 MiB: not a Linux "
				"vmlinux; pass a bzImage or a vmlinux",
				cfg->kernel, (unsigned long long)ph.p_paddr);
			return -EINVAL;
		}
		if (!inside(ph.p_paddr, ph.p_memsz, vm->low_size)) {
			vmm_err("%s: segment %u (%#llx, %llu KiB) does not fit "
				"in the guest's low RAM; raise --mem",
				cfg->kernel, i, (unsigned long long)ph.p_paddr,
				(unsigned long long)(ph.p_memsz >> 10));
			return -EINVAL;
		}
		uint8_t *dst = vm->ram + ph.p_paddr;
		if (ph.p_paddr >= kernel_end) {      /* above all so far */
			copy_to_fresh_ram(dst, img + ph.p_offset, ph.p_filesz);
		} else {                    /* overlaps an earlier segment */
			memcpy(dst, img + ph.p_offset, ph.p_filesz);
			memset(dst + ph.p_filesz, 0, ph.p_memsz - ph.p_filesz);
		}
		if (ph.p_paddr < kernel_start)
			kernel_start = ph.p_paddr;
		if (ph.p_paddr + ph.p_memsz > kernel_end)
			kernel_end = ph.p_paddr + ph.p_memsz;
	}
	if (!kernel_end) {
		vmm_err("%s has no loadable segment; pass a vmlinux",
			cfg->kernel);
		return -EINVAL;
	}
	/* e_entry is startup_64's physical address; a virtual one (in the
	 * kernel map at 0xffffffff80000000) is translated */
	uint64_t start = eh.e_entry >= 0xffffffff80000000ULL ?
				 eh.e_entry - 0xffffffff80000000ULL :
				 eh.e_entry;
	if (start < kernel_start || start >= kernel_end) {
		vmm_err("%s: its entry point %#llx lies outside its segments "
			"(%#llx-%#llx); not a Linux vmlinux, pass a bzImage",
			cfg->kernel, (unsigned long long)eh.e_entry,
			(unsigned long long)kernel_start,
			(unsigned long long)kernel_end - 1);
		return -EINVAL;
	}

	struct boot_params *bp = gpa_to_host(vm, BOOT_PARAMS_ADDR,
					     sizeof *bp);
	memset(bp, 0, sizeof *bp);
	bp->hdr.boot_flag = 0xAA55;
	bp->hdr.header = HDRS_MAGIC;
	bp->hdr.version = 0x020f;
	bp->hdr.type_of_loader = 0xff;
	bp->hdr.loadflags = LOADED_HIGH;
	bp->hdr.kernel_alignment = 0x1000000;
	bp->hdr.cmdline_size = 2048;
	bp->hdr.initrd_addr_max = 0x7fffffff;
	bp->hdr.vid_mode = 0xffff;
	int r = finish_zero_page(vm, cfg, bp, kernel_end, rd, rd_len);
	if (r < 0)
		return r;
	*entry = start;
	return 0;
}

/* The bzImage's setup header into *hdr, checked: a Linux kernel with a
 * 64-bit entry point. -EINVAL, said, otherwise. */
static int read_setup_header(const char *name, const uint8_t *img, size_t len,
			     struct setup_header *hdr)
{
	/* The setup header sits at 0x1f1 and ends at 0x202 + the byte at
	 * 0x201 (the length of the jump at 0x200). */
	if (len < 0x250) {
		vmm_err("%s is too small (%zu bytes) to be a bzImage; pass a "
			"Linux x86 bzImage with --kernel",
			name, len);
		return -EINVAL;
	}
	memset(hdr, 0, sizeof *hdr);
	size_t hdr_end = 0x202 + img[0x201];
	if (hdr_end > 0x1f1 + sizeof *hdr)
		hdr_end = 0x1f1 + sizeof *hdr;
	if (hdr_end > len) /* fields past the end of the file read 0 */
		hdr_end = len;
	memcpy(hdr, img + 0x1f1, hdr_end - 0x1f1);

	if (hdr->header != HDRS_MAGIC || hdr->boot_flag != 0xAA55) {
		vmm_err("%s is not a Linux kernel (no \"HdrS\" boot header at "
			"0x202, no ELF header); pass a bzImage or a vmlinux, "
			"not a compressed file",
			name);
		return -EINVAL;
	}
	if (hdr->version < MIN_PROTOCOL ||
	    !(hdr->xloadflags & XLF_KERNEL_64_BIT)) {
		vmm_err("%s speaks boot protocol %u.%02u without a 64-bit "
			"entry; use a 64-bit kernel of 3.8 or later "
			"(protocol >= 2.12)",
			name, hdr->version >> 8, hdr->version & 0xff);
		return -EINVAL;
	}
	return 0;
}

/* The protected-mode part of a bzImage: where it starts in the file and
 * how long the setup header says it is, checked against the file. A
 * bzImage cut short keeps its header intact: without this check it boots
 * and dies in its decompressor. Trailing bytes beyond the size (an
 * appended signature) are allowed and not loaded. */
static int bzimage_payload(const char *name, const struct setup_header *hdr,
			   size_t len, size_t *pm_off, size_t *pm_size)
{
	unsigned setup_sects = hdr->setup_sects ? hdr->setup_sects : 4;
	uint64_t off = (setup_sects + 1) * 512ULL;
	uint64_t size = (uint64_t)hdr->syssize * 16; /* 2.04+: 32 bits */
	if (!size) {
		vmm_err("%s: its boot header gives no kernel size (syssize "
			"0); not a complete bzImage, pass the kernel image "
			"as built",
			name);
		return -EINVAL;
	}
	if (!inside(off, size, len)) {
		vmm_err("%s is truncated: its boot header says %u setup "
			"sectors and %llu bytes of kernel, %llu bytes in all, "
			"but the file has %zu; copy the kernel image again",
			name, setup_sects, (unsigned long long)size,
			(unsigned long long)(off + size), len);
		return -EINVAL;
	}
	/* 2.08+: the compressed kernel inside the protected-mode part */
	if (hdr->version >= 0x0208 &&
	    !inside(hdr->payload_offset, hdr->payload_length, size)) {
		vmm_err("%s: its boot header puts the compressed kernel "
			"(%u bytes at %#x) beyond the kernel's %llu bytes; the "
			"image is corrupt, copy it again",
			name, hdr->payload_length, hdr->payload_offset,
			(unsigned long long)size);
		return -EINVAL;
	}
	*pm_off = (size_t)off;
	*pm_size = (size_t)size;
	return 0;
}

/* A bzImage: its protected-mode part at 1 MiB, the zero page from its
 * setup header, the 64-bit entry at +0x200 */
static int load_bzimage(struct vm *vm, const struct boot_config *cfg,
			const uint8_t *img, size_t len, const uint8_t *rd,
			size_t rd_len, uint64_t *entry)
{
	struct setup_header hdr;
	size_t pm_off, pm_size;
	int r = read_setup_header(cfg->kernel, img, len, &hdr);
	if (r == 0)
		r = bzimage_payload(cfg->kernel, &hdr, len, &pm_off, &pm_size);
	if (r < 0)
		return r;
	uint64_t kernel_room = hdr.init_size > pm_size ? hdr.init_size
						       : pm_size;
	if (!inside(KERNEL_ADDR, kernel_room, vm->low_size)) {
		vmm_err("kernel needs %llu MiB from 1 MiB on but the guest "
			"has %llu MiB; raise --mem",
			(unsigned long long)(kernel_room >> 20) + 1,
			(unsigned long long)(vm->low_size >> 20));
		return -EINVAL;
	}
	memcpy(vm->ram + KERNEL_ADDR, img + pm_off, pm_size);

	struct boot_params *bp = gpa_to_host(vm, BOOT_PARAMS_ADDR,
					     sizeof *bp);
	memset(bp, 0, sizeof *bp);
	memcpy(&bp->hdr, &hdr, sizeof hdr);
	/* the fields a loader writes are ours, not the file's: a bzImage with
	 * its own ramdisk or setup_data pointers would make the kernel read
	 * an initramfs or a setup_data list from wherever they point */
	bp->hdr.ramdisk_image = 0;
	bp->hdr.ramdisk_size = 0;
	bp->hdr.setup_data = 0;
	bp->hdr.hardware_subarch = 0; /* a normal PC */
	bp->hdr.hardware_subarch_data = 0;
	bp->hdr.type_of_loader = 0xff;          /* "undefined" loader */
	bp->hdr.loadflags |= CAN_USE_HEAP;
	bp->hdr.heap_end_ptr = 0xfe00 - 0x200;
	bp->hdr.vid_mode = 0xffff;              /* "normal" */
	bp->hdr.code32_start = KERNEL_ADDR;
	r = finish_zero_page(vm, cfg, bp, KERNEL_ADDR + kernel_room, rd,
			     rd_len);
	if (r < 0)
		return r;
	*entry = KERNEL_ADDR + 0x200;             /* the 64-bit entry */
	return 0;
}

int boot_load_image(struct vm *vm, const struct boot_config *cfg,
		    const uint8_t *kernel, size_t kernel_len,
		    const uint8_t *initrd, size_t initrd_len, uint64_t *entry)
{
	if (kernel_len >= sizeof(Elf64_Ehdr) &&
	    !memcmp(kernel, ELFMAG, SELFMAG))
		return load_elf(vm, cfg, kernel, kernel_len, initrd, initrd_len,
				entry);
	return load_bzimage(vm, cfg, kernel, kernel_len, initrd, initrd_len,
			    entry);
}

int boot_load_linux(struct vm *vm, const struct boot_config *cfg,
		    uint64_t *entry)
{
	uint8_t *img, *rd = NULL;
	size_t len, rd_len = 0;
	int r = read_file(cfg->kernel, &img, &len);
	if (r < 0) {
		vmm_err("cannot read kernel %s: %s; pass a bzImage or "
			"vmlinux with --kernel (e.g. /boot/vmlinuz-$(uname -r))",
			cfg->kernel, file_error(r));
		return r;
	}
	if (cfg->initrd) {
		r = read_file(cfg->initrd, &rd, &rd_len);
		if (r < 0) {
			vmm_err("cannot read initramfs %s: %s; pass a cpio "
				"archive with --initrd",
				cfg->initrd, file_error(r));
			free_file(img, len);
			return r;
		}
	}
	r = boot_load_image(vm, cfg, img, len, rd, rd_len, entry);
	free_file(rd, rd_len);
	free_file(img, len);
	return r;
}

/* Identity map the first 4 GiB with 2 MiB pages: PML4 -> PDPT -> 4 PDs. */
static void build_page_tables(struct vm *vm)
{
	uint64_t *pml4 = gpa_to_host(vm, PML4_ADDR, 0x1000);
	uint64_t *pdpt = gpa_to_host(vm, PML4_ADDR + 0x1000, 0x1000);
	uint64_t *pd = gpa_to_host(vm, PML4_ADDR + 0x2000, 0x4000);
	memset(pml4, 0, 0x6000);
	pml4[0] = (PML4_ADDR + 0x1000) | 0x3;                /* P | RW */
	for (int i = 0; i < 4; i++)
		pdpt[i] = (PML4_ADDR + 0x2000 + i * 0x1000) | 0x3;
	for (uint64_t i = 0; i < 4 * 512; i++)
		pd[i] = (i << 21) | 0x83;                      /* P|RW|PS */
}

/* GDT: 0 null, 1 unused, 2 = __BOOT_CS (0x10), 3 = __BOOT_DS (0x18) */
static void build_gdt(struct vm *vm)
{
	uint64_t *gdt = gpa_to_host(vm, GDT_ADDR, 4 * 8);
	gdt[0] = 0;
	gdt[1] = 0;
	gdt[2] = 0x00af9b000000ffffULL;   /* 64-bit code, present, G */
	gdt[3] = 0x00cf93000000ffffULL;   /* 32-bit data, present, G */
}

static void seg(struct kvm_segment *s, uint16_t sel, uint8_t type, int code)
{
	memset(s, 0, sizeof *s);
	s->base = 0;
	s->limit = 0xffffffff;
	s->selector = sel;
	s->type = type;
	s->present = 1;
	s->s = 1;
	s->g = 1;
	s->l = code;          /* 64-bit code segment */
	s->db = !code;
}

int boot_setup_bsp(struct vm *vm, struct vcpu *cpu, uint64_t entry)
{
	build_page_tables(vm);
	build_gdt(vm);

	struct kvm_sregs sr;
	if (ioctl(cpu->fd, KVM_GET_SREGS, &sr) < 0)
		return -errno;
	seg(&sr.cs, 0x10, 0xb, 1);
	seg(&sr.ds, 0x18, 0x3, 0);
	sr.es = sr.fs = sr.gs = sr.ss = sr.ds;
	sr.gdt.base = GDT_ADDR;
	sr.gdt.limit = 4 * 8 - 1;
	sr.cr3 = PML4_ADDR;
	sr.cr4 = 1u << 5;                                 /* PAE */
	sr.cr0 = (1u << 0) | (1u << 4) | (1u << 5) | (1u << 31); /* PE ET NE PG */
	sr.efer = (1u << 8) | (1u << 10);                 /* LME | LMA */
	if (ioctl(cpu->fd, KVM_SET_SREGS, &sr) < 0)
		return -errno;

	struct kvm_regs regs;
	memset(&regs, 0, sizeof regs);
	regs.rip = entry;
	regs.rsi = BOOT_PARAMS_ADDR;
	regs.rflags = 0x2;
	if (ioctl(cpu->fd, KVM_SET_REGS, &regs) < 0)
		return -errno;
	return 0;
}
