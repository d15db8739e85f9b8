// SPDX-License-Identifier: MIT
/*
 * viommu-nested PCI_ADDRESS: nested assignment over assign-vmm's
 * virtio-iommu, run inside the inner guest (inner-init.sh, "nested").
 *
 * The inner guest has given QEMU's edu device (assigned to assign-vmm by
 * the lab guest) to its own vfio-pci; this program drives it with
 * libassign, as a userspace driver or a VMM inside the guest would, over
 * a type1 container that the guest kernel builds on the virtio-iommu. Each
 * check prints one line "INNER-NESTED name PASS|FAIL detail":
 *
 *  - dma-roundtrip: two buffers mapped at IOVAs of our choosing; the edu
 *    reads one by DMA into its own buffer and writes that into the other;
 *    the bytes must match;
 *  - unmapped-iova: the edu writes to the IOVA equal to the guest
 *    physical address of a buffer of ours that is mapped nowhere (under
 *    map-all, IOVA = GPA, that write would land in it); the buffer must
 *    be untouched;
 *  - unmapped-after-unmap: the same to the IOVA of a buffer we mapped
 *    and unmapped again;
 *  - still-working: a last round trip, the device is not wedged.
 *
 * The edu's DMA engine (QEMU docs/specs/edu.rst): source, destination and
 * count at BAR0 + 0x80/0x88/0x90, command at 0x98 (bit 0 start, bit 1
 * direction to RAM), its 4 KiB buffer at device address 0x40000; its
 * default DMA mask is 28 bits, so every IOVA here is below 256 MiB.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <libassign/libassign.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define EDU_DMA_SRC 0x80
#define EDU_DMA_DST 0x88
#define EDU_DMA_CNT 0x90
#define EDU_DMA_CMD 0x98
#define EDU_DMA_START 0x1
#define EDU_DMA_TO_RAM 0x2
#define EDU_BUF 0x40000u
#define LEN \
	2048u /* QEMU 7.2's edu aborts on a DMA that
				     ends at the end of its buffer */
#define IOVA_SRC 0x100000u
#define IOVA_DST 0x200000u

static struct assign_device *dev;
static struct assign_ctx *ctx;
static int failures;

static void result(const char *name, bool ok, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void result(const char *name, bool ok, const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	printf("INNER-NESTED %s %s %s\n", name, ok ? "PASS" : "FAIL", buf);
	fflush(stdout);
	failures += !ok;
}

static int wr64(uint64_t off, uint64_t v)
{
	return assign_region_write(dev, ASSIGN_PCI_BAR0_REGION, off, &v, 8);
}

/* One DMA of LEN bytes; waits for the engine to finish. */
static int edu_dma(uint64_t src, uint64_t dst, bool to_ram)
{
	uint64_t cmd = EDU_DMA_START | (to_ram ? EDU_DMA_TO_RAM : 0);
	struct timespec t0, t;

	if (wr64(EDU_DMA_SRC, src) < 0 || wr64(EDU_DMA_DST, dst) < 0 ||
	    wr64(EDU_DMA_CNT, LEN) < 0 || wr64(EDU_DMA_CMD, cmd) < 0)
		return -EIO;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		uint64_t v = 0;

		if (assign_region_read(dev, ASSIGN_PCI_BAR0_REGION, EDU_DMA_CMD,
				       &v, 8) < 0)
			return -EIO;
		if (!(v & EDU_DMA_START))
			return 0;
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (t.tv_sec - t0.tv_sec > 10)
			return -ETIMEDOUT;
		usleep(1000);
	}
}

static void *page(void)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	mlock(p, 4096);
	return p;
}

/* The guest physical address of a locked page, 0 if unknown. */
static uint64_t phys_of(void *p)
{
	uint64_t e = 0;
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	off_t off = (off_t)((uintptr_t)p / 4096 * 8);

	if (fd < 0)
		return 0;
	if (pread(fd, &e, 8, off) != 8)
		e = 0;
	close(fd);
	if (!(e >> 63) || !(e & ((1ull << 55) - 1)))
		return 0;
	return (e & ((1ull << 55) - 1)) * 4096;
}

static bool all(const uint8_t *p, uint8_t v)
{
	for (unsigned i = 0; i < 4096; i++)
		if (p[i] != v)
			return false;
	return true;
}

/* src -> edu buffer -> dst, both by DMA; the bytes must arrive */
static void roundtrip(const char *name, uint8_t *src, uint8_t *dst,
		      uint8_t seed)
{
	int r;

	for (unsigned i = 0; i < LEN; i++)
		src[i] = (uint8_t)(seed + i * 7);
	memset(dst, 0, 4096);
	r = edu_dma(IOVA_SRC, EDU_BUF, false);
	if (r == 0)
		r = edu_dma(EDU_BUF, IOVA_DST, true);
	result(name, r == 0 && !memcmp(src, dst, LEN),
	       "IOVA %#x -> edu -> IOVA %#x, %u bytes: %s", IOVA_SRC, IOVA_DST,
	       LEN,
	       r < 0		     ? strerror(-r) :
	       memcmp(src, dst, LEN) ? "bytes differ" :
				       "bytes checked");
}

int main(int argc, char **argv)
{
	struct assign_iommu *iommu;
	uint8_t *src = page(), *dst = page(), *canary = page();
	uint64_t canary_pa;
	uint16_t cmd;
	int r;

	if (argc != 2 || !src || !dst || !canary) {
		fprintf(stderr, "usage: viommu-nested PCI_ADDRESS\n");
		return 2;
	}
	r = assign_ctx_new(&ctx);
	if (r == 0)
		r = assign_iommu_new(ctx, NULL, &iommu);
	if (r == 0)
		r = assign_device_open(iommu, argv[1], NULL, &dev);
	if (r == 0)
		r = assign_device_config_read(dev, ASSIGN_PCI_COMMAND, &cmd, 2);
	if (r == 0) {
		cmd |= ASSIGN_PCI_COMMAND_MEMORY | ASSIGN_PCI_COMMAND_MASTER;
		r = assign_device_config_write(dev, ASSIGN_PCI_COMMAND, &cmd,
					       2);
	}
	if (r == 0)
		r = assign_iommu_map(iommu, IOVA_SRC, src, 4096,
				     ASSIGN_DMA_F_RW);
	if (r == 0)
		r = assign_iommu_map(iommu, IOVA_DST, dst, 4096,
				     ASSIGN_DMA_F_RW);
	if (r < 0) {
		result("setup", false, "%s",
		       ctx ? assign_ctx_get_last_error(ctx) : strerror(-r));
		return 1;
	}
	result("setup", true, "%s on the %s backend, interrupt remapping %d",
	       argv[1],
	       assign_iommu_get_backend(iommu) == ASSIGN_IOMMU_IOMMUFD ?
		       "iommufd" :
		       "type1",
	       assign_iommu_get_irq_remapping(iommu));

	roundtrip("dma-roundtrip", src, dst, 0x11);

	/* an IOVA nobody mapped: the guest physical address of a buffer of
	 * ours that is mapped nowhere */
	memset(canary, 0x5a, 4096);
	canary_pa = phys_of(canary);
	if (!canary_pa || canary_pa >= (1u << 28) ||
	    (canary_pa >= IOVA_SRC && canary_pa < IOVA_DST + 4096)) {
		result("unmapped-iova", false,
		       "no usable guest physical address (%#llx)",
		       (unsigned long long)canary_pa);
	} else {
		r = edu_dma(EDU_BUF, canary_pa, true);
		result("unmapped-iova", r == 0 && all(canary, 0x5a),
		       "DMA to IOVA %#llx (= the GPA of an unmapped buffer): "
		       "%s",
		       (unsigned long long)canary_pa,
		       r < 0		 ? strerror(-r) :
		       all(canary, 0x5a) ? "did not land" :
					   "LANDED");
	}

	/* a mapping taken away */
	memset(dst, 0x33, 4096);
	r = assign_iommu_unmap(iommu, IOVA_DST, 4096);
	if (r == 0)
		r = edu_dma(EDU_BUF, IOVA_DST, true);
	result("unmapped-after-unmap", r == 0 && all(dst, 0x33),
	       "DMA to IOVA %#x after its unmap: %s", IOVA_DST,
	       r < 0	      ? assign_ctx_get_last_error(ctx) :
	       all(dst, 0x33) ? "did not land" :
				"LANDED");

	r = assign_iommu_map(iommu, IOVA_DST, dst, 4096, ASSIGN_DMA_F_RW);
	if (r == 0)
		roundtrip("still-working", src, dst, 0x77);
	else
		result("still-working", false, "map again: %s",
		       assign_ctx_get_last_error(ctx));

	assign_device_unref(dev);
	assign_iommu_unref(iommu);
	assign_ctx_unref(ctx);
	return failures ? 1 : 0;
}
