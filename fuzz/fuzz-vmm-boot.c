// SPDX-License-Identifier: MIT
/*
 * Fuzz target: the example VMM's kernel loaders
 * (examples/assign-vmm/boot.c, compiled unchanged): boot_load_image()
 * with a bzImage or an ELF vmlinux, an optional initramfs and a command
 * line, into a guest of 32 MiB of low RAM and 1 MiB at 4 GiB.
 *
 * Input: u8 flags (bit 0: an initramfs, bit 1: a command line from the
 * input), u16 command-line length and its bytes, u32 initramfs length and
 * its bytes, then the kernel image (the rest, in a heap block of exactly
 * its size, so AddressSanitizer sees every read past the file). Checks:
 *  - failure: a negative errno and exactly one message, one line;
 *  - success: no message; the zero page at 0x7000 says "HdrS" and
 *    0xAA55, points at the command line, which is there, whole, and at
 *    no setup_data; the initramfs lies page aligned in low RAM above
 *    1 MiB, byte for byte, and without one the zero page names none
 *    (whatever the bzImage's own header held);
 *    the entry point is in low RAM above 1 MiB (a bzImage's at
 *    1 MiB + 0x200); a bzImage's kernel is at 1 MiB byte for byte; the
 *    e820 map is 6 entries at most, none wrapping.
 */
#include <asm/bootparam.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>

#include "fuzz.h"
#include "vmm.h"

#define LOW_RAM (32u << 20)
#define HIGH_RAM (1u << 20)

static struct vm the_vm;
static unsigned nerr;
static char last_err[1024];

/* ---- what boot.c needs of the rest of the VMM -------------------------- */

int vmm_verbose;

void vmm_err(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(last_err, sizeof(last_err), fmt, ap);
	va_end(ap);
	nerr++;
	if (getenv("FUZZ_DEBUG"))
		fprintf(stderr, "vmm err: %s\n", last_err);
}

void vmm_info(const char *fmt, ...)
{
	(void)fmt;
}

double vmm_elapsed(void)
{
	return 0.0;
}

/* As main.c's: low RAM at 0, high RAM at HIGH_RAM_START, one mapping. */
void *gpa_to_host(struct vm *vm, uint64_t gpa, uint64_t len)
{
	if (gpa + len >= gpa && gpa + len <= vm->low_size)
		return vm->ram + gpa;
	if (gpa >= HIGH_RAM_START && gpa + len >= gpa &&
	    gpa + len <= HIGH_RAM_START + vm->high_size)
		return vm->ram + vm->low_size + (gpa - HIGH_RAM_START);
	return NULL;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	the_vm.ram = aligned_alloc(4096, LOW_RAM + HIGH_RAM);
	if (!the_vm.ram)
		abort();
	memset(the_vm.ram, 0, LOW_RAM + HIGH_RAM);
	the_vm.ram_size = LOW_RAM + HIGH_RAM;
	the_vm.low_size = LOW_RAM;
	the_vm.high_size = HIGH_RAM;
	return 0;
}

static void check_loaded(const struct boot_config *cfg, const uint8_t *img,
			 size_t len, const uint8_t *rd, size_t rd_len,
			 uint64_t entry)
{
	const struct boot_params *bp =
		(const void *)(the_vm.ram + BOOT_PARAMS_ADDR);
	const char *cl = (const char *)the_vm.ram + CMDLINE_ADDR;
	bool elf = len >= 4 && !memcmp(img, "\177ELF", 4);

	FUZZ_CHECK(nerr == 0);
	FUZZ_CHECK(bp->hdr.header == 0x53726448 && bp->hdr.boot_flag == 0xAA55);
	FUZZ_CHECK(bp->hdr.cmd_line_ptr == CMDLINE_ADDR);
	FUZZ_CHECK(bp->hdr.setup_data == 0);
	FUZZ_CHECK(strlen(cfg->cmdline) < CMDLINE_MAX &&
		   strcmp(cl, cfg->cmdline) == 0);
	FUZZ_CHECK(entry >= KERNEL_ADDR && entry < the_vm.low_size);
	if (!elf) {
		uint64_t off = ((img[0x1f1] ? img[0x1f1] : 4) + 1) * 512ULL;
		uint64_t size = (uint64_t)bp->hdr.syssize * 16;

		FUZZ_CHECK(entry == KERNEL_ADDR + 0x200);
		FUZZ_CHECK(off <= len && size && size <= len - off);
		FUZZ_CHECK(memcmp(the_vm.ram + KERNEL_ADDR, img + off, size) ==
			   0);
	}
	if (rd) {
		uint64_t at = bp->hdr.ramdisk_image;

		FUZZ_CHECK(bp->hdr.ramdisk_size == rd_len);
		FUZZ_CHECK(at % 4096 == 0 && at >= KERNEL_ADDR);
		FUZZ_CHECK(at <= the_vm.low_size &&
			   rd_len <= the_vm.low_size - at);
		FUZZ_CHECK(memcmp(the_vm.ram + at, rd, rd_len) == 0);
	} else {
		FUZZ_CHECK(bp->hdr.ramdisk_image == 0 &&
			   bp->hdr.ramdisk_size == 0);
	}
	FUZZ_CHECK(bp->e820_entries <= 6);
	for (unsigned i = 0; i < bp->e820_entries; i++) {
		const struct boot_e820_entry *e = &bp->e820_table[i];

		FUZZ_CHECK(e->size && e->addr + e->size > e->addr);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in;
	struct boot_config cfg = {
		.kernel = "fuzz-kernel",
		.cmdline = VMM_DEFAULT_CMDLINE,
	};
	uint8_t *rd = NULL, *img;
	size_t rd_len = 0, cl_len, len;
	char *cl = NULL;
	uint64_t entry = 0;
	uint8_t flags;
	int r;

	fuzz_in_init(&in, data, size);
	flags = fuzz_u8(&in);
	cl_len = fuzz_u16(&in);
	if (flags & 2) {
		uint8_t *b = fuzz_bytes(&in, cl_len, &cl_len);

		cl = malloc(cl_len + 1);
		if (!cl)
			abort();
		memcpy(cl, b, cl_len);
		cl[cl_len] = '\0';
		free(b);
		cfg.cmdline = cl;
	}
	rd_len = fuzz_u32(&in);
	if (flags & 1) {
		rd = fuzz_bytes(&in, rd_len, &rd_len);
		cfg.initrd = "fuzz-initrd";
	}
	img = fuzz_bytes(&in, in.left, &len);

	nerr = 0;
	last_err[0] = '\0';
	r = boot_load_image(&the_vm, &cfg, img, len, rd, rd_len, &entry);
	if (r < 0) {
		FUZZ_CHECK(r >= -4095);
		FUZZ_CHECK(nerr == 1);
		FUZZ_CHECK(last_err[0] != '\0' && !strchr(last_err, '\n'));
	} else {
		FUZZ_CHECK(r == 0);
		check_loaded(&cfg, img, len, rd, rd_len, entry);
	}
	free(img);
	free(rd);
	free(cl);
	return 0;
}
