// SPDX-License-Identifier: MIT
/*
 * Fuzz target: the PCI config-space helpers of src/pci/config.c, over bytes a
 * device (or a guest, through a VMM that echoes them) controls: standard
 * and extended capability walks, BAR decoding, MSI and MSI-X parsing.
 *
 * Input: 6 x u64 BAR sizes (as VFIO region sizes would give them), u8
 * capability ID and u16 extended ID to look up, then the config space
 * (any length; 256 and 4096 are the real ones). The config space is a
 * heap block of exactly its length so ASan sees any read past it.
 *
 * Checked: every capability reported lies inside the buffer, standard
 * ones in 0x40..0xff, extended ones at 0x100 or above, dword aligned,
 * no offset twice; the list is bounded; find_cap() agrees with the list;
 * decoded BARs are consistent (a 64-bit BAR is never in slot 5, its high
 * half is not present, sizes are powers of two); a parsed MSI capability
 * lies inside the first 256 bytes with its data (and mask/pending)
 * registers; a parsed MSI-X capability has BIRs 0-5 and 1-2048 vectors.
 */
#include <errno.h>

#include "fuzz.h"
#include <libassign/libassign.h>

#define MAXCAPS 1100 /* 48 standard + 960 extended slots, with room */

static void check_caps(const uint8_t *cfg, size_t len)
{
	static struct assign_pci_cap caps[MAXCAPS];
	size_t n = 0, lim = len < 256 ? len : 256;
	int r;

	caps[0].size = sizeof(caps[0]);
	r = assign_pci_list_caps(cfg, len, caps, MAXCAPS, &n);
	if (len < 64) {
		FUZZ_CHECK(r == -EINVAL);
		return;
	}
	FUZZ_CHECK(r == 0 || r == -EPROTO);
	FUZZ_CHECK(n <= 48 + 960);
	for (size_t i = 0; i < n; i++) {
		const struct assign_pci_cap *c = &caps[i];

		FUZZ_CHECK(c->offset % 4 == 0);
		if (c->extended) {
			FUZZ_CHECK(c->offset >= 0x100);
			FUZZ_CHECK((size_t)c->offset + 4 <= MIN(len, 4096));
		} else {
			FUZZ_CHECK(c->offset >= 0x40 && c->offset <= 0xfc);
			FUZZ_CHECK((size_t)c->offset + 2 <= lim);
			FUZZ_CHECK(cfg[c->offset] == c->id);
		}
		for (size_t j = 0; j < i; j++)
			FUZZ_CHECK(caps[j].offset != c->offset ||
				   caps[j].extended != c->extended);
	}
	/* find_cap() agrees with the list for every standard ID seen. */
	for (size_t i = 0; i < n; i++) {
		size_t first = i;
		int f;

		if (caps[i].extended)
			continue;
		for (size_t j = 0; j < i; j++)
			if (!caps[j].extended && caps[j].id == caps[i].id) {
				first = j;
				break;
			}
		f = assign_pci_find_cap(cfg, len, (uint8_t)caps[i].id);
		FUZZ_CHECK(f == caps[first].offset);
	}
	/* Listing with no room still counts. */
	{
		size_t n0 = 0;
		int r0 = assign_pci_list_caps(cfg, len, NULL, 0, &n0);

		FUZZ_CHECK(r0 == r && n0 == n);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct assign_pci_bar bars[6] = { { .size = sizeof(bars[0]) } };
	struct assign_pci_msix msix = { .size = sizeof(msix) };
	struct assign_pci_msi msi = { .size = sizeof(msi) };
	uint64_t sizes[6];
	struct fuzz_in in;
	uint16_t ext_id;
	uint8_t cap_id;
	uint8_t *cfg;
	size_t len;
	int r;

	fuzz_in_init(&in, data, size);
	for (int i = 0; i < 6; i++)
		sizes[i] = fuzz_u64(&in);
	cap_id = fuzz_u8(&in);
	ext_id = fuzz_u16(&in);
	cfg = fuzz_bytes(&in, 8192, &len);

	check_caps(cfg, len);

	r = assign_pci_find_cap(cfg, len, cap_id);
	FUZZ_CHECK(r > 0 || r == -ENOENT || r == -EPROTO || r == -EINVAL);
	if (r > 0)
		FUZZ_CHECK(r >= 0x40 && r < 0x100 && cfg[r] == cap_id);
	r = assign_pci_find_ext_cap(cfg, len, ext_id);
	FUZZ_CHECK(r > 0 || r == -ENOENT || r == -EPROTO || r == -EINVAL);
	if (r > 0)
		FUZZ_CHECK(r >= 0x100 && (size_t)r + 4 <= len &&
			   (cfg[r] | cfg[r + 1] << 8) == ext_id);

	r = assign_pci_decode_bars(cfg, len, sizes, bars);
	FUZZ_CHECK(r == 0 || r == -EINVAL || r == -EPROTO);
	if (r == 0) {
		for (int i = 0; i < 6; i++) {
			const struct assign_pci_bar *b = &bars[i];

			FUZZ_CHECK(b->index == (uint32_t)i);
			FUZZ_CHECK(b->present == (b->length != 0));
			FUZZ_CHECK(!b->length ||
				   !(b->length & (b->length - 1)));
			FUZZ_CHECK(!(b->io && (b->mem64 || b->prefetchable)));
			if (b->mem64) {
				FUZZ_CHECK(i < 5);
				FUZZ_CHECK(!bars[i + 1].present &&
					   !bars[i + 1].mem64);
			}
		}
	}

	r = assign_pci_parse_msi(cfg, len, &msi);
	FUZZ_CHECK(r == 0 || r == -ENOENT || r == -EPROTO || r == -EINVAL);
	if (r == 0) {
		size_t end = msi.per_vector_mask ? msi.mask_offset + 8u
						 : msi.data_offset + 2u;

		FUZZ_CHECK(msi.offset >= 0x40 && cfg[msi.offset] == 0x05);
		FUZZ_CHECK(msi.max_vectors >= 1 && msi.max_vectors <= 32);
		FUZZ_CHECK(!(msi.max_vectors & (msi.max_vectors - 1)));
		FUZZ_CHECK(msi.enabled_vectors >= 1 &&
			   msi.enabled_vectors <= 32);
		FUZZ_CHECK(msi.data_offset > msi.offset);
		FUZZ_CHECK(end <= MIN(len, 256));
		FUZZ_CHECK(!msi.per_vector_mask ||
			   msi.mask_offset == msi.data_offset + 4);
	}

	r = assign_pci_parse_msix(cfg, len, &msix);
	FUZZ_CHECK(r == 0 || r == -ENOENT || r == -EPROTO || r == -EINVAL);
	if (r == 0) {
		FUZZ_CHECK(msix.offset >= 0x40 && cfg[msix.offset] == 0x11);
		FUZZ_CHECK((size_t)msix.offset + 12 <= MIN(len, 256));
		FUZZ_CHECK(msix.table_bar <= 5 && msix.pba_bar <= 5);
		FUZZ_CHECK(msix.table_size >= 1 && msix.table_size <= 2048);
		FUZZ_CHECK(msix.table_offset % 8 == 0 &&
			   msix.pba_offset % 8 == 0);
	}
	free(cfg);
	return 0;
}
