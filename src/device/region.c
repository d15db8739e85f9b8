// SPDX-License-Identifier: MIT
/*
 * Device regions: info with capabilities, read/write through the device fd,
 * mmap of the mmap-able areas, PCI config space access.
 */
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/vfio.h>

#include "core/sys.h"
#include "device/device.h"
#include <libassign/pci.h>

/* More sparse areas than this is not a region layout, it is garbage. */
#define MAX_SPARSE_AREAS 1024

struct caps_parse {
	uint64_t region_size;
	bool seen_sparse;
	uint32_t nareas;
	struct assign_mmap_area *areas;
	bool has_type;
	uint32_t type, subtype;
	bool msix_mappable;
	const char *why; /* what is malformed */
};

static int cap_sparse_mmap(struct caps_parse *p, const void *cap, size_t avail)
{
	struct vfio_region_info_cap_sparse_mmap sp;
	const unsigned char *a;
	uint32_t n = 0;

	if (p->seen_sparse) {
		p->why = "two sparse-mmap capabilities";
		return -EPROTO;
	}
	p->seen_sparse = true;
	if (avail < sizeof(sp)) {
		p->why = "sparse-mmap capability runs past the buffer";
		return -EPROTO;
	}
	memcpy(&sp, cap, sizeof(sp));
	if (sp.nr_areas > MAX_SPARSE_AREAS ||
	    sp.nr_areas > (avail - sizeof(sp)) / sizeof(sp.areas[0])) {
		p->why = "sparse-mmap area count runs past the buffer";
		return -EPROTO;
	}
	if (sp.nr_areas) {
		p->areas = calloc(sp.nr_areas, sizeof(*p->areas));
		if (!p->areas)
			return -ENOMEM;
	}
	a = (const unsigned char *)cap + sizeof(sp);
	for (uint32_t i = 0; i < sp.nr_areas; i++) {
		struct vfio_region_sparse_mmap_area ar;

		memcpy(&ar, a + i * sizeof(ar), sizeof(ar));
		if (ar.offset > p->region_size ||
		    ar.size > p->region_size - ar.offset) {
			p->why = "a sparse-mmap area lies outside the region";
			return -EPROTO;
		}
		if (!ar.size)
			continue;
		p->areas[n].offset = ar.offset;
		p->areas[n].size = ar.size;
		n++;
	}
	p->nareas = n;
	return 0;
}

static int cap_type(struct caps_parse *p, const void *cap, size_t avail)
{
	struct vfio_region_info_cap_type t;

	if (p->has_type) {
		p->why = "two type capabilities";
		return -EPROTO;
	}
	if (avail < sizeof(t)) {
		p->why = "type capability runs past the buffer";
		return -EPROTO;
	}
	memcpy(&t, cap, sizeof(t));
	p->has_type = true;
	p->type = t.type;
	p->subtype = t.subtype;
	return 0;
}

static int cap_msix_mappable(struct caps_parse *p)
{
	if (p->msix_mappable) {
		p->why = "two MSI-X mappable capabilities";
		return -EPROTO;
	}
	p->msix_mappable = true;
	return 0;
}

static int region_cap_cb(const void *cap, size_t off, size_t avail, void *data)
{
	struct caps_parse *p = data;
	struct vfio_info_cap_header h;

	(void)off;
	memcpy(&h, cap, sizeof(h));
	switch (h.id) {
	case VFIO_REGION_INFO_CAP_SPARSE_MMAP:
		return cap_sparse_mmap(p, cap, avail);
	case VFIO_REGION_INFO_CAP_TYPE:
		return cap_type(p, cap, avail);
	case VFIO_REGION_INFO_CAP_MSIX_MAPPABLE:
		return cap_msix_mappable(p);
	default:
		/* Capabilities we do not know are skipped. */
		return 0;
	}
}

/* Walk the capability chain of the region info in @buf into @p. */
static int region_parse_caps(struct assign_device *dev, uint32_t index,
			     const void *buf, size_t len, struct caps_parse *p)
{
	const struct vfio_region_info *ri = buf;
	int r;

	if (!(ri->flags & VFIO_REGION_INFO_FLAG_CAPS) || !ri->cap_offset)
		return 0;
	r = vfio_cap_foreach(buf, len, sizeof(*ri), ri->cap_offset,
			     region_cap_cb, p);
	if (r >= 0)
		return 0;
	free(p->areas);
	if (r == -ENOMEM)
		return set_error(dev->ctx, r,
				 "out of memory reading region %u of %s", index,
				 dev->addr);
	return set_error(
		dev->ctx, -EPROTO,
		"region %u of %s: the kernel's capability chain is malformed (%s); this is a kernel or driver bug",
		index, dev->addr,
		p->why ? p->why : "bad offset, alignment or loop");
}

/* An mmap-able region without a sparse-mmap capability is one area. */
static int region_whole_area(struct assign_device *dev, uint32_t index,
			     struct caps_parse *p)
{
	p->areas = calloc(1, sizeof(*p->areas));
	if (!p->areas)
		return set_error(dev->ctx, -ENOMEM,
				 "out of memory reading region %u of %s", index,
				 dev->addr);
	p->areas[0].offset = 0;
	p->areas[0].size = p->region_size;
	p->nareas = 1;
	return 0;
}

/* Fill @reg from the kernel's region info in @buf (@len bytes). */
static int region_fill(struct assign_device *dev, struct dev_region *reg,
		       uint32_t index, const void *buf, size_t len)
{
	const struct vfio_region_info *ri = buf;
	struct caps_parse p = { .region_size = ri->size };
	int r;

	r = region_parse_caps(dev, index, buf, len, &p);
	if (r < 0)
		return r;
	memset(&reg->info, 0, sizeof(reg->info));
	reg->info.index = index;
	reg->info.size = ri->size;
	reg->info.fd_offset = ri->offset;
	if (ri->flags & VFIO_REGION_INFO_FLAG_READ)
		reg->info.flags |= ASSIGN_REGION_F_READ;
	if (ri->flags & VFIO_REGION_INFO_FLAG_WRITE)
		reg->info.flags |= ASSIGN_REGION_F_WRITE;
	if ((ri->flags & VFIO_REGION_INFO_FLAG_MMAP) && ri->size) {
		reg->info.flags |= ASSIGN_REGION_F_MMAP;
		if (!p.seen_sparse) {
			r = region_whole_area(dev, index, &p);
			if (r < 0)
				return r;
		}
	} else {
		/* Not mmap-able: a sparse capability means nothing. */
		free(p.areas);
		p.areas = NULL;
		p.nareas = 0;
	}
	free(reg->areas);
	reg->areas = p.areas;
	reg->info.nareas = p.nareas;
	reg->info.areas = p.areas;
	reg->info.has_type = p.has_type;
	reg->info.type = p.type;
	reg->info.subtype = p.subtype;
	reg->info.msix_mappable = p.msix_mappable;
	reg->loaded = true;
	return 0;
}

static int region_load(struct assign_device *dev, uint32_t index)
{
	struct dev_region *reg = &dev->regions[index];
	struct vfio_region_info req = { 0 };
	size_t minsz =
		offsetof(struct vfio_region_info, offset) + sizeof(req.offset);
	size_t len;
	void *buf;
	int r;

	req.index = index;
	r = vfio_info_ioctl(dev->ctx, dev->att.devfd,
			    VFIO_DEVICE_GET_REGION_INFO, &req, minsz, &buf,
			    &len);
	if (r == -EINVAL && index <= VFIO_PCI_VGA_REGION_INDEX) {
		/*
		 * vfio-pci answers -EINVAL for the fixed PCI indexes a device
		 * does not have (VGA on a non-VGA device): a region of size 0.
		 */
		memset(&reg->info, 0, sizeof(reg->info));
		reg->info.index = index;
		reg->loaded = true;
		return 0;
	}
	if (r == -EPROTO)
		return set_error(
			dev->ctx, r,
			"VFIO_DEVICE_GET_REGION_INFO(%u) on %s: the kernel keeps asking for a larger buffer",
			index, dev->addr);
	if (r < 0)
		return set_error(
			dev->ctx, r,
			"VFIO_DEVICE_GET_REGION_INFO(%u) on %s failed: %s",
			index, dev->addr, strerror(-r));
	r = region_fill(dev, reg, index, buf, len);
	free(buf);
	return r;
}

static int region_get(struct assign_device *dev, uint32_t index,
		      struct dev_region **out)
{
	int r;

	if (index >= dev->info.num_regions)
		return set_error(dev->ctx, -EINVAL,
				 "%s has no region %u (it has %u)", dev->addr,
				 index, dev->info.num_regions);
	if (!dev->regions[index].loaded) {
		r = region_load(dev, index);
		if (r < 0)
			return r;
	}
	*out = &dev->regions[index];
	return 0;
}

ASSIGN_EXPORT const char *assign_pci_region_get_name(uint32_t index)
{
	static const char *const names[] = {
		[ASSIGN_PCI_BAR0_REGION] = "BAR0",
		[ASSIGN_PCI_BAR1_REGION] = "BAR1",
		[ASSIGN_PCI_BAR2_REGION] = "BAR2",
		[ASSIGN_PCI_BAR3_REGION] = "BAR3",
		[ASSIGN_PCI_BAR4_REGION] = "BAR4",
		[ASSIGN_PCI_BAR5_REGION] = "BAR5",
		[ASSIGN_PCI_ROM_REGION] = "ROM",
		[ASSIGN_PCI_CONFIG_REGION] = "config",
		[ASSIGN_PCI_VGA_REGION] = "VGA",
	};

	return index < ARRAY_SIZE(names) ? names[index] : NULL;
}

ASSIGN_EXPORT int assign_device_get_region(struct assign_device *dev,
					   uint32_t index,
					   const struct assign_region_info **info)
{
	struct dev_region *reg = NULL;
	int r;

	if (!dev)
		return -EINVAL;
	if (!info)
		return set_error(dev->ctx, -EINVAL,
				 "assign_device_get_region: info is NULL");
	r = region_get(dev, index, &reg);
	if (r < 0)
		return r;
	*info = &reg->info;
	return 0;
}

static int region_check_rw(struct assign_device *dev, uint32_t index,
			   uint64_t offset, size_t len, bool write,
			   struct dev_region **out)
{
	struct dev_region *reg = NULL;
	uint32_t need = write ? ASSIGN_REGION_F_WRITE : ASSIGN_REGION_F_READ;
	int r;

	r = region_get(dev, index, &reg);
	if (r < 0)
		return r;
	if (!reg->info.size)
		return set_error(dev->ctx, -EINVAL,
				 "region %u of %s does not exist (size 0)",
				 index, dev->addr);
	if (!(reg->info.flags & need))
		return set_error(dev->ctx, -EINVAL,
				 "region %u of %s is not %s", index, dev->addr,
				 write ? "writable" : "readable");
	if (offset > reg->info.size || len > reg->info.size - offset)
		return set_error(dev->ctx, -EINVAL,
				 "%s of %zu bytes at 0x%llx is outside region %u of %s (size 0x%llx)",
				 write ? "write" : "read", len,
				 (unsigned long long)offset, index, dev->addr,
				 (unsigned long long)reg->info.size);
	if (reg->info.fd_offset > UINT64_MAX - reg->info.size)
		return set_error(dev->ctx, -EPROTO,
				 "region %u of %s: offset on the device fd overflows",
				 index, dev->addr);
	*out = reg;
	return 0;
}

static int region_rw(struct assign_device *dev, uint32_t index,
		     uint64_t offset, void *buf, size_t len, bool write)
{
	struct dev_region *reg = NULL;
	size_t done = 0;
	int r;

	if (!dev)
		return -EINVAL;
	if (!buf && len)
		return set_error(dev->ctx, -EINVAL, "%s: buffer is NULL",
				 write ? "assign_region_write" : "assign_region_read");
	r = region_check_rw(dev, index, offset, len, write, &reg);
	if (r < 0)
		return r;
	/*
	 * One call for the whole range: for aligned 1/2/4/8-byte accesses
	 * that is one access of that width; vfio-pci splits longer ones into
	 * naturally aligned accesses itself. Retry short transfers.
	 */
	while (done < len) {
		uint64_t pos = reg->info.fd_offset + offset + done;
		ssize_t n;

		if (write)
			n = sys_pwrite(dev->ctx, dev->att.devfd,
				       (const unsigned char *)buf + done,
				       len - done, pos);
		else
			n = sys_pread(dev->ctx, dev->att.devfd,
				      (unsigned char *)buf + done, len - done,
				      pos);
		if (n < 0)
			return set_error(dev->ctx, (int)n,
					 "%s of %zu bytes at 0x%llx in region %u of %s failed: %s",
					 write ? "write" : "read", len,
					 (unsigned long long)offset, index,
					 dev->addr, strerror((int)-n));
		if (n == 0 || (size_t)n > len - done)
			return set_error(dev->ctx, -EIO,
					 "short %s at 0x%llx in region %u of %s (%zu of %zu bytes)",
					 write ? "write" : "read",
					 (unsigned long long)offset, index,
					 dev->addr, done, len);
		/* A register access is all or nothing. */
		if ((size_t)n < len - done &&
		    (len == 1 || len == 2 || len == 4 || len == 8) &&
		    offset % len == 0)
			return set_error(dev->ctx, -EIO,
					 "short %zu-byte register %s at 0x%llx in region %u of %s",
					 len, write ? "write" : "read",
					 (unsigned long long)offset, index,
					 dev->addr);
		done += (size_t)n;
	}
	return 0;
}

ASSIGN_EXPORT int assign_region_read(struct assign_device *dev, uint32_t index,
				     uint64_t offset, void *buf, size_t len)
{
	return region_rw(dev, index, offset, buf, len, false);
}

ASSIGN_EXPORT int assign_region_write(struct assign_device *dev,
				      uint32_t index, uint64_t offset,
				      const void *buf, size_t len)
{
	return region_rw(dev, index, offset, (void *)buf, len, true);
}

static uint64_t page_size(void)
{
	long ps = sysconf(_SC_PAGESIZE);
	return ps > 0 ? (uint64_t)ps : 4096;
}

/*
 * Reserve @total bytes of PROT_NONE address space. Large regions get a
 * base aligned to their size (up to 1 GiB), so the kernel can back a BAR
 * with huge page table entries and KVM can map it with large pages.
 */
static int reserve(struct assign_device *dev, uint64_t total, void **out)
{
	const int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE;
	uint64_t ps = page_size(), align = ps, pad;
	uintptr_t raw, aligned;
	void *p;
	int r;

	if (total >= (2u << 20)) {
		align = 2u << 20;
		while (align < (1u << 30) && align * 2 <= total)
			align *= 2;
	}
	pad = align - ps;
	if (pad > SIZE_MAX - total)
		pad = 0;
	r = sys_mmap(dev->ctx, NULL, (size_t)(total + pad), PROT_NONE, flags,
		     -1, 0, &p);
	if (r < 0 && pad) {
		/* Not enough room to align: take any base. */
		pad = 0;
		r = sys_mmap(dev->ctx, NULL, (size_t)total, PROT_NONE, flags,
			     -1, 0, &p);
	}
	if (r < 0)
		return r;
	raw = (uintptr_t)p;
	aligned = pad ? (raw + (uintptr_t)align - 1) & ~((uintptr_t)align - 1) : raw;
	/* Trim the slack. Should that fail, release everything rather than
	 * leave address space the region's munmap would not cover. */
	if (aligned > raw) {
		r = sys_munmap(dev->ctx, p, aligned - raw);
		if (r < 0) {
			sys_munmap(dev->ctx, p, (size_t)(total + pad));
			return r;
		}
	}
	if (raw + pad > aligned) {
		r = sys_munmap(dev->ctx, (void *)(aligned + total),
			       raw + pad - aligned);
		if (r < 0) {
			sys_munmap(dev->ctx, (void *)aligned,
				   raw + pad + total - aligned);
			return r;
		}
	}
	*out = (void *)aligned;
	return 0;
}

/* Whether @reg's areas can be mapped at page granularity. */
static int region_check_mmap(struct assign_device *dev, uint32_t index,
			     const struct dev_region *reg, uint64_t ps)
{
	if (!reg->info.nareas)
		return set_error(dev->ctx, -EINVAL,
				 "region %u of %s has no mmap-able part: use assign_region_read()/assign_region_write()",
				 index, dev->addr);
	if (reg->info.size > SIZE_MAX - ps ||
	    reg->info.fd_offset > UINT64_MAX - reg->info.size - ps)
		return set_error(dev->ctx, -ENOMEM,
				 "region %u of %s is too large to map (0x%llx bytes)",
				 index, dev->addr,
				 (unsigned long long)reg->info.size);
	for (uint32_t i = 0; i < reg->info.nareas; i++)
		if (reg->areas[i].offset % ps ||
		    (reg->info.fd_offset + reg->areas[i].offset) % ps)
			return set_error(dev->ctx, -EPROTO,
					 "region %u of %s: mmap-able area at 0x%llx is not page aligned (kernel bug)",
					 index, dev->addr,
					 (unsigned long long)reg->areas[i].offset);
	return 0;
}

/* Map each area of @reg at its offset in the reservation @base (@total
 * bytes); on failure the whole reservation is released. */
static int region_map_areas(struct assign_device *dev, uint32_t index,
			    const struct dev_region *reg, void *base,
			    uint64_t total, uint64_t ps)
{
	int prot = 0, r;

	if (reg->info.flags & ASSIGN_REGION_F_READ)
		prot |= PROT_READ;
	if (reg->info.flags & ASSIGN_REGION_F_WRITE)
		prot |= PROT_WRITE;
	for (uint32_t i = 0; i < reg->info.nareas; i++) {
		const struct assign_mmap_area *a = &reg->areas[i];
		uint64_t alen = (a->size + ps - 1) / ps * ps;
		void *want = (unsigned char *)base + a->offset, *got;

		if (alen > total - a->offset)
			alen = total - a->offset;
		r = sys_mmap(dev->ctx, want, (size_t)alen, prot,
			     MAP_SHARED | MAP_FIXED, dev->att.devfd,
			     reg->info.fd_offset + a->offset, &got);
		if (r == 0 && got != want) {
			sys_munmap(dev->ctx, got, (size_t)alen);
			r = -ENOMEM;
		}
		if (r < 0) {
			sys_munmap(dev->ctx, base, (size_t)total);
			return set_error(dev->ctx, r,
					 "cannot mmap 0x%llx bytes at 0x%llx of region %u of %s: %s",
					 (unsigned long long)a->size,
					 (unsigned long long)a->offset, index,
					 dev->addr, strerror(-r));
		}
	}
	return 0;
}

ASSIGN_EXPORT int assign_region_mmap(struct assign_device *dev, uint32_t index,
				     void **addr)
{
	struct dev_region *reg = NULL;
	uint64_t ps = page_size(), total;
	void *base;
	int r;

	if (!dev)
		return -EINVAL;
	if (!addr)
		return set_error(dev->ctx, -EINVAL,
				 "assign_region_mmap: addr is NULL");
	r = region_get(dev, index, &reg);
	if (r < 0)
		return r;
	if (reg->map) {
		*addr = reg->map;
		return 0;
	}
	r = region_check_mmap(dev, index, reg, ps);
	if (r < 0)
		return r;
	total = (reg->info.size + ps - 1) / ps * ps;
	r = reserve(dev, total, &base);
	if (r < 0)
		return set_error(
			dev->ctx, r,
			"cannot reserve 0x%llx bytes of address space for region %u of %s: %s",
			(unsigned long long)total, index, dev->addr,
			strerror(-r));
	r = region_map_areas(dev, index, reg, base, total, ps);
	if (r < 0)
		return r;
	reg->map = base;
	reg->map_len = (size_t)total;
	*addr = base;
	dbg(dev->ctx, "%s: region %u mapped at %p (%u areas)", dev->addr, index,
	    base, reg->info.nareas);
	return 0;
}

static int region_unmap(struct assign_device *dev, struct dev_region *reg)
{
	int r;

	/* One munmap of the reservation removes the areas inside it too. */
	r = sys_munmap(dev->ctx, reg->map, reg->map_len);
	reg->map = NULL;
	reg->map_len = 0;
	return r;
}

ASSIGN_EXPORT int assign_region_munmap(struct assign_device *dev,
				       uint32_t index)
{
	struct dev_region *reg = NULL;
	int r;

	if (!dev)
		return -EINVAL;
	if (index >= dev->info.num_regions || !dev->regions[index].map)
		return set_error(dev->ctx, -ENOENT,
				 "region %u of %s is not mapped", index,
				 dev->addr);
	reg = &dev->regions[index];
	r = region_unmap(dev, reg);
	if (r < 0)
		/* The kernel releases the mapping even when it complains. */
		return set_error(dev->ctx, r,
				 "munmap of region %u of %s reported: %s",
				 index, dev->addr, strerror(-r));
	return 0;
}

void dev_regions_release(struct assign_device *dev)
{
	if (!dev->regions)
		return;
	for (uint32_t i = 0; i < dev->info.num_regions; i++) {
		if (dev->regions[i].map)
			region_unmap(dev, &dev->regions[i]);
		free(dev->regions[i].areas);
	}
	free(dev->regions);
	dev->regions = NULL;
}

ASSIGN_EXPORT int assign_device_config_read(struct assign_device *dev,
					    uint32_t offset, void *buf,
					    size_t len)
{
	return region_rw(dev, ASSIGN_PCI_CONFIG_REGION, offset, buf, len,
			 false);
}

ASSIGN_EXPORT int assign_device_config_write(struct assign_device *dev,
					     uint32_t offset, const void *buf,
					     size_t len)
{
	return region_rw(dev, ASSIGN_PCI_CONFIG_REGION, offset, (void *)buf,
			 len, true);
}

/* Command-register bits by name, for messages. */
static void command_bits(uint16_t bits, char *buf, size_t size)
{
	static const struct {
		uint16_t bit;
		const char *name;
	} names[] = {
		{ ASSIGN_PCI_COMMAND_IO, "I/O Space" },
		{ ASSIGN_PCI_COMMAND_MEMORY, "Memory Space" },
		{ ASSIGN_PCI_COMMAND_MASTER, "Bus Master" },
		{ ASSIGN_PCI_COMMAND_INTX_DISABLE, "INTx Disable" },
	};
	size_t len = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		if (!(bits & names[i].bit))
			continue;
		len += (size_t)snprintf(buf + len, size - MIN(len, size),
					"%s%s", len ? ", " : "", names[i].name);
		bits &= (uint16_t)~names[i].bit;
	}
	if (bits)
		snprintf(buf + len, size - MIN(len, size), "%s0x%04x",
			 len ? ", " : "", bits);
}

ASSIGN_EXPORT int assign_device_command_update(struct assign_device *dev,
					       uint16_t set, uint16_t clear)
{
	uint16_t cmd, now, wrong;
	char names[96];
	int r;

	if (!dev)
		return -EINVAL;
	if (set & clear)
		return set_error(dev->ctx, -EINVAL,
				 "assign_device_command_update: bits 0x%04x "
				 "are both set and cleared",
				 set & clear);
	r = region_rw(dev, ASSIGN_PCI_CONFIG_REGION, ASSIGN_PCI_COMMAND, &cmd,
		      sizeof(cmd), false);
	if (r < 0)
		return r;
	cmd = le16toh(cmd);
	now = (uint16_t)((cmd | set) & ~clear);
	if (now != cmd) {
		uint16_t le = htole16(now);

		r = region_rw(dev, ASSIGN_PCI_CONFIG_REGION, ASSIGN_PCI_COMMAND,
			      &le, sizeof(le), true);
		if (r < 0)
			return r;
	}
	/* Read back: a bit the device (or vfio-pci) does not let us change
	 * would otherwise look set, and DMA would silently not happen. */
	r = region_rw(dev, ASSIGN_PCI_CONFIG_REGION, ASSIGN_PCI_COMMAND, &cmd,
		      sizeof(cmd), false);
	if (r < 0)
		return r;
	cmd = le16toh(cmd);
	wrong = (uint16_t)((set & ~cmd) | (clear & cmd));
	if (wrong) {
		command_bits(wrong, names, sizeof(names));
		return set_error(dev->ctx, -EIO,
				 "%s: the PCI command register reads 0x%04x "
				 "after writing 0x%04x: %s did not take (the "
				 "device does not implement %s)",
				 dev->addr, cmd, now, names,
				 __builtin_popcount(wrong) > 1 ? "them" : "it");
	}
	return cmd;
}
