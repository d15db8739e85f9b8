// SPDX-License-Identifier: MIT
/*
 * assign-inspect: print what VFIO says about a device: regions and their
 * capabilities, PCI capabilities and BARs, interrupts, and the IOMMU
 * geometry of its address space. Uses only the public libassign API, and
 * builds against an installed libassign with pkg-config alone:
 *
 *   cc -o assign-inspect assign-inspect.c $(pkg-config --cflags --libs libassign)
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libassign/libassign.h>

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: assign-inspect [--backend auto|type1|iommufd|noiommu] "
		"[--allow-noiommu] DEVICE\n"
		"Print regions, capabilities, interrupts and IOMMU geometry of a "
		"VFIO device: a PCI address, an mdev UUID or path, a platform\n"
		"device's name.\n");
}

static const char *backend_name(enum assign_iommu_backend b)
{
	switch (b) {
	case ASSIGN_IOMMU_TYPE1: return "type1";
	case ASSIGN_IOMMU_IOMMUFD: return "iommufd";
	case ASSIGN_IOMMU_NOIOMMU: return "no-IOMMU";
	default: return "auto";
	}
}

static void print_regions(struct assign_device *dev, uint32_t n)
{
	printf("regions:\n");
	for (uint32_t i = 0; i < n; i++) {
		const struct assign_region_info *r;

		if (assign_device_get_region(dev, i, &r) < 0) {
			printf("  %u: error: %s\n", i,
			       assign_ctx_get_last_error(assign_iommu_get_ctx(
				       assign_device_get_iommu(dev))));
			continue;
		}
		if (!r->size)
			continue;
		printf("  %u: size 0x%" PRIx64 "%s%s%s", i, r->size,
		       r->flags & ASSIGN_REGION_F_READ ? " read" : "",
		       r->flags & ASSIGN_REGION_F_WRITE ? " write" : "",
		       r->flags & ASSIGN_REGION_F_MMAP ? " mmap" : "");
		if (r->has_type)
			printf(" type %u/%u", r->type, r->subtype);
		if (r->msix_mappable)
			printf(" msix-mappable");
		printf("\n");
		for (uint32_t a = 0; a < r->nareas; a++)
			printf("     mmap area 0x%" PRIx64 "+0x%" PRIx64 "\n",
			       r->areas[a].offset, r->areas[a].size);
	}
}

static void print_pci(struct assign_device *dev)
{
	uint8_t cfg[ASSIGN_PCI_CONFIG_EXT_SIZE];
	struct assign_pci_cap caps[64] = { { .size = sizeof(caps[0]) } };
	struct assign_pci_bar bars[6] = { { .size = sizeof(bars[0]) } };
	struct assign_pci_msix msix = { .size = sizeof(msix) };
	struct assign_pci_msi msi = { .size = sizeof(msi) };
	size_t len = sizeof(cfg), n = 0;
	int r;

	memset(cfg, 0, sizeof(cfg));
	if (assign_device_config_read(dev, 0, cfg, len) < 0) {
		len = ASSIGN_PCI_CONFIG_SIZE;
		if (assign_device_config_read(dev, 0, cfg, len) < 0) {
			printf("config space: unreadable\n");
			return;
		}
	}
	printf("config: vendor %02x%02x device %02x%02x class %02x%02x%02x\n",
	       cfg[1], cfg[0], cfg[3], cfg[2], cfg[11], cfg[10], cfg[9]);
	r = assign_pci_list_caps(cfg, len, caps, 64, &n);
	printf("capabilities:%s\n", r == -EPROTO ? " (list malformed)" : "");
	for (size_t i = 0; i < n && i < 64; i++)
		printf("  %s 0x%02x at 0x%03x\n",
		       caps[i].extended ? "ext" : "std", caps[i].id,
		       caps[i].offset);
	if (assign_device_get_bars(dev, bars) == 0) {
		for (int i = 0; i < 6; i++) {
			if (!bars[i].present)
				continue;
			printf("BAR%d: %s%s%s size 0x%" PRIx64 " at 0x%" PRIx64
			       "\n",
			       i, bars[i].io ? "io" : "mem",
			       bars[i].mem64 ? " 64-bit" : "",
			       bars[i].prefetchable ? " prefetchable" : "",
			       bars[i].length, bars[i].addr);
		}
	}
	if (assign_pci_parse_msi(cfg, len, &msi) == 0)
		printf("MSI: %u vectors%s%s\n", msi.max_vectors,
		       msi.addr64 ? ", 64-bit" : "",
		       msi.per_vector_mask ? ", per-vector mask" : "");
	if (assign_pci_parse_msix(cfg, len, &msix) == 0)
		printf("MSI-X: %u vectors, table BAR%u+0x%x, PBA BAR%u+0x%x\n",
		       msix.table_size, msix.table_bar, msix.table_offset,
		       msix.pba_bar, msix.pba_offset);
}

static void print_irqs(struct assign_device *dev, uint32_t n)
{
	static const char *const names[] = { "INTx", "MSI", "MSI-X", "ERR",
					     "REQ" };
	printf("interrupts:\n");
	for (uint32_t i = 0; i < n; i++) {
		struct assign_irq_info info = { .size = sizeof(info) };

		if (assign_device_get_irq_info(dev, i, &info) < 0 ||
		    !info.count)
			continue;
		printf("  %s: %u%s%s%s\n", i < 5 ? names[i] : "?", info.count,
		       info.flags & ASSIGN_IRQ_F_MASKABLE ? " maskable" : "",
		       info.flags & ASSIGN_IRQ_F_AUTOMASKED ? " automasked"
							     : "",
		       info.flags & ASSIGN_IRQ_F_NORESIZE ? " noresize" : "");
	}
}

static void print_geometry(struct assign_iommu *iommu)
{
	const struct assign_iova_range *ranges;
	const struct assign_reserved_region *rr;
	uint64_t pgsizes;
	uint32_t avail;
	size_t n;
	int r;

	printf("iommu: %s\n", backend_name(assign_iommu_get_backend(iommu)));
	if (assign_iommu_get_iova_ranges(iommu, &ranges, &n) == 0)
		for (size_t i = 0; i < n; i++)
			printf("  iova range 0x%" PRIx64 "-0x%" PRIx64 "\n",
			       ranges[i].start, ranges[i].last);
	if (assign_iommu_get_pgsizes(iommu, &pgsizes) == 0)
		printf("  page sizes 0x%" PRIx64 "\n", pgsizes);
	if (assign_iommu_get_dma_avail(iommu, &avail) == 0)
		printf("  DMA mappings left %u\n", avail);
	if (assign_iommu_get_reserved_regions(iommu, &rr, &n) == 0)
		for (size_t i = 0; i < n; i++)
			printf("  reserved 0x%" PRIx64 "-0x%" PRIx64 " %s\n",
			       rr[i].start, rr[i].last, rr[i].type);
	r = assign_iommu_get_irq_remapping(iommu);
	printf("  interrupt remapping: %s\n",
	       r == 1 ? "yes" : r == 0 ? "NO (assignment is not isolated)"
				       : "unknown");
}

int main(int argc, char **argv)
{
	struct assign_iommu_opts opts = { .size = sizeof(opts) };
	struct assign_device_info info = { .size = sizeof(info) };
	struct assign_iommu *iommu = NULL;
	struct assign_device *dev = NULL;
	struct assign_ctx *ctx = NULL;
	const char *addr = NULL;
	int r;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return 0;
		} else if (!strcmp(argv[i], "--version")) {
			printf("assign-inspect (libassign %s)\n",
			       assign_version());
			return 0;
		} else if (!strcmp(argv[i], "--allow-noiommu")) {
			opts.flags |= ASSIGN_IOMMU_F_ALLOW_NOIOMMU;
		} else if (!strcmp(argv[i], "--backend") && i + 1 < argc) {
			const char *b = argv[++i];
			if (!strcmp(b, "type1"))
				opts.backend = ASSIGN_IOMMU_TYPE1;
			else if (!strcmp(b, "iommufd"))
				opts.backend = ASSIGN_IOMMU_IOMMUFD;
			else if (!strcmp(b, "noiommu"))
				opts.backend = ASSIGN_IOMMU_NOIOMMU;
			else if (strcmp(b, "auto")) {
				fprintf(stderr, "assign-inspect: unknown backend '%s'\n", b);
				return 2;
			}
		} else if (argv[i][0] == '-' || addr) {
			usage(stderr);
			return 2;
		} else {
			addr = argv[i];
		}
	}
	if (!addr) {
		usage(stderr);
		return 2;
	}
	r = assign_ctx_new(&ctx);
	if (r < 0) {
		fprintf(stderr, "assign-inspect: %s\n", strerror(-r));
		return 1;
	}
	r = assign_iommu_new(ctx, &opts, &iommu);
	if (r == 0)
		r = assign_device_open(iommu, addr, NULL, &dev);
	if (r < 0) {
		fprintf(stderr, "assign-inspect: %s\n",
			assign_ctx_get_last_error(ctx)[0] ? assign_ctx_get_last_error(ctx)
						       : strerror(-r));
		goto out;
	}
	assign_device_get_info(dev, &info);
	printf("device %s (bus %s), group %d:%s%s%s, %u regions, %u irq "
	       "indexes\n",
	       assign_device_get_name(dev),
	       info.bus == ASSIGN_DEVICE_BUS_PCI      ? "pci" :
	       info.bus == ASSIGN_DEVICE_BUS_MDEV     ? "mdev" :
	       info.bus == ASSIGN_DEVICE_BUS_PLATFORM ? "platform" :
							"other",
	       assign_device_get_group_id(dev),
	       info.flags & ASSIGN_DEVICE_F_PCI ? " pci" : "",
	       info.flags & ASSIGN_DEVICE_F_PLATFORM ? " platform" : "",
	       info.flags & ASSIGN_DEVICE_F_RESET ? " reset" : "",
	       info.num_regions, info.num_irqs);
	print_regions(dev, info.num_regions);
	if (info.flags & ASSIGN_DEVICE_F_PCI)
		print_pci(dev);
	print_irqs(dev, info.num_irqs);
	print_geometry(iommu);
out:
	assign_device_unref(dev);
	assign_iommu_unref(iommu);
	assign_ctx_unref(ctx);
	return r < 0 ? 1 : 0;
}
