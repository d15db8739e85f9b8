// SPDX-License-Identifier: MIT
/*
 * PCI configuration-space helpers: capability walks, BAR decoding, MSI and
 * MSI-X parsing. Pure functions over untrusted bytes (a device or a guest
 * wrote them): every read is bounds-checked against the buffer length and
 * every walk is bounded and loop-safe. These are fuzz targets.
 */
#include <errno.h>
#include <string.h>

#include "pci/pci.h"



static uint16_t rd16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
	       ((uint32_t)p[3] << 24);
}

/*
 * One walker for both lists. @cb sees each capability; a non-zero return
 * stops the walk and is returned. Returns 0 at the end of the list or
 * -EPROTO for a malformed one.
 */
typedef int (*cap_cb)(const struct assign_pci_cap *cap, void *data);

static int walk_std(const uint8_t *cfg, size_t len, cap_cb cb, void *data)
{
	/* Standard capabilities live in 0x40..0xff: 48 dword slots. */
	uint8_t seen[ASSIGN_PCI_CONFIG_SIZE / 4 / 8] = { 0 };
	size_t lim = MIN(len, (size_t)ASSIGN_PCI_CONFIG_SIZE);
	size_t pos;

	if (!(rd16(cfg + ASSIGN_PCI_STATUS) & ASSIGN_PCI_STATUS_CAP_LIST))
		return 0;
	pos = cfg[ASSIGN_PCI_CAPABILITY_LIST];
	while (pos) {
		struct assign_pci_cap c;
		size_t slot = pos / 4;
		int r;

		if (pos < ASSIGN_PCI_STD_HEADER_SIZE || pos % 4 || pos + 2 > lim)
			return -EPROTO;
		if (seen[slot / 8] & (1u << (slot % 8)))
			return -EPROTO;
		seen[slot / 8] |= (uint8_t)(1u << (slot % 8));
		c.id = cfg[pos];
		c.version = 0;
		c.offset = (uint16_t)pos;
		c.extended = false;
		r = cb(&c, data);
		if (r)
			return r;
		pos = cfg[pos + 1];
	}
	return 0;
}

static int walk_ext(const uint8_t *cfg, size_t len, cap_cb cb, void *data)
{
	uint8_t seen[ASSIGN_PCI_CONFIG_EXT_SIZE / 4 / 8] = { 0 };
	size_t lim = MIN(len, (size_t)ASSIGN_PCI_CONFIG_EXT_SIZE);
	size_t pos = ASSIGN_PCI_EXT_CAP_START;
	uint32_t hdr;

	if (lim < ASSIGN_PCI_EXT_CAP_START + 4)
		return 0;
	hdr = rd32(cfg + pos);
	/* Nothing there (conventional device, or all-ones: not readable). */
	if (hdr == 0 || hdr == 0xffffffffu)
		return 0;
	for (;;) {
		struct assign_pci_cap c;
		size_t slot = pos / 4, next;
		int r;

		if (pos < ASSIGN_PCI_EXT_CAP_START || pos % 4 || pos + 4 > lim)
			return -EPROTO;
		if (seen[slot / 8] & (1u << (slot % 8)))
			return -EPROTO;
		seen[slot / 8] |= (uint8_t)(1u << (slot % 8));
		hdr = rd32(cfg + pos);
		c.id = (uint16_t)(hdr & 0xffff);
		c.version = (uint8_t)((hdr >> 16) & 0xf);
		c.offset = (uint16_t)pos;
		c.extended = true;
		r = cb(&c, data);
		if (r)
			return r;
		next = hdr >> 20;
		if (!next)
			return 0;
		pos = next;
	}
}

struct list_arg {
	struct assign_pci_cap *caps;
	size_t stride, max, n;
};

static int list_cb(const struct assign_pci_cap *cap, void *data)
{
	struct list_arg *a = data;

	if (a->n < a->max) {
		struct assign_pci_cap *c = sized_elem(a->caps, a->stride, a->n);

		c->size = a->stride;
		sized_out_fill(c, cap, sizeof(*cap));
	}
	a->n++;
	return 0;
}

ASSIGN_EXPORT int assign_pci_list_caps(const uint8_t *cfg, size_t len,
				       struct assign_pci_cap *caps, size_t max,
				       size_t *n)
{
	struct list_arg a = { .caps = caps, .max = max };
	int r1, r2;

	if (!cfg || len < ASSIGN_PCI_STD_HEADER_SIZE || !n || (max && !caps))
		return -EINVAL;
	if (sized_array_stride(NULL, caps, max, "assign_pci_cap", &a.stride) <
	    0)
		return -EINVAL;
	r1 = walk_std(cfg, len, list_cb, &a);
	r2 = len > ASSIGN_PCI_CONFIG_SIZE ? walk_ext(cfg, len, list_cb, &a) : 0;
	*n = a.n;
	return r1 < 0 ? r1 : r2 < 0 ? r2 : 0;
}

struct find_arg {
	uint16_t id;
	int found;
};

static int find_cb(const struct assign_pci_cap *cap, void *data)
{
	struct find_arg *a = data;

	if (cap->id != a->id)
		return 0;
	a->found = cap->offset;
	return 1;
}

ASSIGN_EXPORT int assign_pci_find_cap(const uint8_t *cfg, size_t len,
				      uint8_t id)
{
	struct find_arg a = { .id = id };
	int r;

	if (!cfg || len < ASSIGN_PCI_STD_HEADER_SIZE)
		return -EINVAL;
	r = walk_std(cfg, len, find_cb, &a);
	if (r < 0)
		return r;
	return a.found ? a.found : -ENOENT;
}

ASSIGN_EXPORT int assign_pci_find_ext_cap(const uint8_t *cfg, size_t len,
					  uint16_t id)
{
	struct find_arg a = { .id = id };
	int r;

	if (!cfg || len < ASSIGN_PCI_STD_HEADER_SIZE)
		return -EINVAL;
	r = walk_ext(cfg, len, find_cb, &a);
	if (r < 0)
		return r;
	return a.found ? a.found : -ENOENT;
}

static bool is_pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

/* Decode into the library's own array; assign_pci_decode_bars() copies it
 * out with the caller's stride. */
static int decode_bars(const uint8_t *cfg, const uint64_t sizes[6],
		       struct assign_pci_bar bars[6])
{
	bool upper = false;

	for (uint32_t i = 0; i < 6; i++) {
		memset(&bars[i], 0, sizeof(bars[i]));
		bars[i].index = i;
	}
	if ((cfg[ASSIGN_PCI_HEADER_TYPE] & ASSIGN_PCI_HEADER_TYPE_MASK) != 0)
		return -EINVAL;
	for (uint32_t i = 0; i < 6; i++) {
		struct assign_pci_bar *b = &bars[i];
		uint32_t reg = rd32(cfg + ASSIGN_PCI_BASE_ADDRESS_0 + 4 * i);

		if (upper) {
			/* High half of the previous 64-bit BAR. */
			upper = false;
			continue;
		}
		if (reg & 1) {
			b->io = true;
			b->addr = reg & ~(uint32_t)3;
		} else {
			switch ((reg >> 1) & 3) {
			case 0: /* 32-bit */
			case 1: /* below 1M (legacy), 32-bit register */
				break;
			case 2:
				if (i == 5)
					return -EPROTO;
				b->mem64 = true;
				upper = true;
				break;
			default:
				return -EPROTO;
			}
			b->prefetchable = reg & 8;
			b->addr = reg & ~(uint32_t)0xf;
			if (b->mem64)
				b->addr |= (uint64_t)rd32(cfg + ASSIGN_PCI_BASE_ADDRESS_0 +
							  4 * (i + 1)) << 32;
		}
		b->length = sizes[i];
		if (b->length && !is_pow2(b->length))
			return -EPROTO;
		b->present = b->length != 0;
	}
	return 0;
}

ASSIGN_EXPORT int assign_pci_decode_bars(const uint8_t *cfg, size_t len,
					 const uint64_t sizes[6],
					 struct assign_pci_bar *bars)
{
	struct assign_pci_bar all[6];
	size_t stride;
	int r;

	if (!cfg || len < ASSIGN_PCI_STD_HEADER_SIZE || !sizes || !bars)
		return -EINVAL;
	if (sized_array_stride(NULL, bars, 6, "assign_pci_bar", &stride) < 0)
		return -EINVAL;
	r = decode_bars(cfg, sizes, all);
	for (uint32_t i = 0; i < 6; i++) {
		struct assign_pci_bar *b = sized_elem(bars, stride, i);

		b->size = stride;
		sized_out_fill(b, &all[i], sizeof(all[i]));
	}
	return r;
}

ASSIGN_EXPORT int assign_pci_parse_msi(const uint8_t *cfg, size_t len,
				       struct assign_pci_msi *msi)
{
	size_t lim = MIN(len, (size_t)ASSIGN_PCI_CONFIG_SIZE), caplen;
	struct assign_pci_msi m;
	uint16_t ctl;
	unsigned mmc, mme;
	int off;

	if (!cfg || len < ASSIGN_PCI_STD_HEADER_SIZE ||
	    sized_out_check(NULL, msi, "assign_pci_msi") < 0)
		return -EINVAL;
	off = assign_pci_find_cap(cfg, len, ASSIGN_PCI_CAP_ID_MSI);
	if (off < 0)
		return off;
	if ((size_t)off + 4 > lim)
		return -EPROTO;
	ctl = rd16(cfg + off + 2);
	mmc = (ctl >> 1) & 7;
	mme = (ctl >> 4) & 7;
	if (mmc > 5 || mme > 5)
		return -EPROTO;
	memset(&m, 0, sizeof(m));
	m.offset = (uint16_t)off;
	m.max_vectors = (uint8_t)(1u << mmc);
	m.enabled_vectors = (uint8_t)(1u << mme);
	m.enabled = ctl & ASSIGN_PCI_MSI_FLAGS_ENABLE;
	m.addr64 = ctl & ASSIGN_PCI_MSI_FLAGS_64BIT;
	m.per_vector_mask = ctl & ASSIGN_PCI_MSI_FLAGS_MASKBIT;
	m.data_offset = (uint16_t)(off + (m.addr64 ? 0x0c : 0x08));
	/* data (2) + reserved (2), then mask (4) and pending (4) */
	caplen = m.data_offset - (size_t)off + 2;
	if (m.per_vector_mask) {
		m.mask_offset = (uint16_t)(m.data_offset + 4);
		caplen = m.mask_offset - (size_t)off + 8;
	}
	if ((size_t)off + caplen > lim)
		return -EPROTO;
	SIZED_OUT_FILL(msi, &m);
	return 0;
}

ASSIGN_EXPORT int assign_pci_parse_msix(const uint8_t *cfg, size_t len,
					struct assign_pci_msix *msix)
{
	size_t lim = MIN(len, (size_t)ASSIGN_PCI_CONFIG_SIZE);
	struct assign_pci_msix x;
	uint32_t table, pba;
	uint16_t ctl;
	int off;

	if (!cfg || len < ASSIGN_PCI_STD_HEADER_SIZE ||
	    sized_out_check(NULL, msix, "assign_pci_msix") < 0)
		return -EINVAL;
	off = assign_pci_find_cap(cfg, len, ASSIGN_PCI_CAP_ID_MSIX);
	if (off < 0)
		return off;
	if ((size_t)off + 12 > lim)
		return -EPROTO;
	ctl = rd16(cfg + off + 2);
	table = rd32(cfg + off + 4);
	pba = rd32(cfg + off + 8);
	if ((table & ASSIGN_PCI_MSIX_BIR) > 5 ||
	    (pba & ASSIGN_PCI_MSIX_BIR) > 5)
		return -EPROTO;
	memset(&x, 0, sizeof(x));
	x.offset = (uint16_t)off;
	x.table_size = (uint16_t)((ctl & ASSIGN_PCI_MSIX_FLAGS_QSIZE) + 1);
	x.function_masked = ctl & ASSIGN_PCI_MSIX_FLAGS_MASKALL;
	x.enabled = ctl & ASSIGN_PCI_MSIX_FLAGS_ENABLE;
	x.table_bar = (uint8_t)(table & ASSIGN_PCI_MSIX_BIR);
	x.table_offset = table & ASSIGN_PCI_MSIX_OFFSET;
	x.pba_bar = (uint8_t)(pba & ASSIGN_PCI_MSIX_BIR);
	x.pba_offset = pba & ASSIGN_PCI_MSIX_OFFSET;
	SIZED_OUT_FILL(msix, &x);
	return 0;
}
