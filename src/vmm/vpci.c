// SPDX-License-Identifier: MIT
/*
 * Virtual PCI function for an assigned device (include/libassign/vpci.h,
 * docs/vpci.md): the object, its construction and reset, and the virtual
 * config space. The BARs are in vpci_bars.c; INTx, MSI and MSI-X in
 * vpci_irq.c.
 *
 * Lifted from the example VMM's device model (examples/assign-vmm) and made
 * VMM-agnostic. Everything a guest writes is untrusted: config accesses are
 * checked for size and alignment, BAR accesses for bounds, MSI-X table
 * accesses are done byte by byte against the table's bounds, and the bytes
 * of the MSI and MSI-X capabilities are never written to the device.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/sys.h"
#include "vmm/vmm.h"
#include <libassign/vpci.h>

/* ---- emulated bytes ---------------------------------------------------- */

/* Config bytes [off, off + len) are the object's, the guest may write the
 * bits of @wmask in them. */
void vpci_emulate(struct assign_vpci *v, uint32_t off, uint32_t len,
		  uint8_t wmask)
{
	for (uint32_t i = off; i < off + len && i < VPCI_EMU_SIZE; i++) {
		v->emu[i] = 1;
		v->wmask[i] = wmask;
	}
}

/* ---- construction ------------------------------------------------------ */

/* The options and callbacks, checked and copied (unknown fields zero). */
static int read_opts(struct assign_ctx *ctx, const struct assign_vpci_opts *in,
		     struct assign_vpci_opts *o, struct assign_vpci_ops *ops)
{
	const uint32_t known = ASSIGN_VPCI_F_NO_ROM | ASSIGN_VPCI_F_NO_MMAP |
			       ASSIGN_VPCI_F_NO_INTX;
	int r;

	r = SIZED_IN(ctx, o, in, "assign_vpci_opts");
	if (r < 0)
		return r;
	if (o->flags & ~known)
		return set_error(ctx, -EINVAL,
				 "assign_vpci_opts.flags 0x%x has unknown bits",
				 o->flags);
	return SIZED_IN(ctx, ops, o->ops, "assign_vpci_ops");
}

/* The device's config space, @len bytes at @off, up to its end. */
static int dev_cfg_read(struct assign_vpci *v, uint32_t off, uint8_t *out,
			size_t len)
{
	size_t have = off < v->dev_cfg_len ?
			      (size_t)MIN((uint64_t)len, v->dev_cfg_len - off) :
			      0;

	memset(out + have, 0, len - have);
	return have ? assign_device_config_read(v->dev, off, out, have) : 0;
}

static int dev_cfg_write(struct assign_vpci *v, uint32_t off, const uint8_t *in,
			 size_t len)
{
	size_t have = off < v->dev_cfg_len ?
			      (size_t)MIN((uint64_t)len, v->dev_cfg_len - off) :
			      0;

	return have ? assign_device_config_write(v->dev, off, in, have) : 0;
}

static int vpci_setup(struct assign_vpci *v)
{
	const char *name = assign_device_get_name(v->dev);
	struct assign_device_info di = { .size = sizeof(di) };
	const struct assign_region_info *ri;
	uint8_t cfg[VPCI_EMU_SIZE];
	int r;

	if (assign_device_get_info(v->dev, &di) < 0 ||
	    !(di.flags & ASSIGN_DEVICE_F_PCI))
		return set_error(v->ctx, -EINVAL,
				 "%s is not a PCI device: vpci emulates PCI functions only",
				 name);
	r = assign_device_get_region(v->dev, ASSIGN_PCI_CONFIG_REGION, &ri);
	if (r < 0)
		return r;
	if (ri->size < ASSIGN_PCI_STD_HEADER_SIZE)
		return set_error(v->ctx, -EINVAL,
				 "%s: config space of %llu bytes is too small "
				 "for a PCI header",
				 name, (unsigned long long)ri->size);
	v->cfg_size = ri->size >= 4096 ? 4096 : VPCI_EMU_SIZE;
	v->dev_cfg_len = ri->size;
	r = dev_cfg_read(v, 0, cfg, sizeof(cfg));
	if (r < 0)
		return r;
	if (cfg[ASSIGN_PCI_HEADER_TYPE] & 0x7f)
		return set_error(v->ctx, -EINVAL,
				 "%s has header type %u (a bridge?): assign endpoints only",
				 name, cfg[ASSIGN_PCI_HEADER_TYPE] & 0x7f);
	r = vpci_bars_setup(v);
	if (r < 0)
		return r;
	r = vpci_msix_setup(v, cfg);
	if (r < 0)
		return r;
	r = vpci_msi_setup(v, cfg);
	if (r < 0)
		return r;
	r = vpci_bars_setup_parts(v);
	if (r < 0)
		return r;
	r = vpci_intx_setup(v, cfg);
	if (r < 0)
		return r;
	memcpy(v->init, v->shadow, sizeof(v->init));
	return 0;
}

static void vpci_free(struct assign_vpci *v)
{
	for (uint32_t i = 0; i < ASSIGN_VPCI_NUM_BARS; i++)
		vpci_bar_unmap(v, i);
	vpci_irq_free(v);
	vpci_bars_free(v);
	assign_device_unref(v->dev);
	pthread_mutex_destroy(&v->lock);
	free(v);
}

ASSIGN_EXPORT int assign_vpci_new(struct assign_device *dev,
				  const struct assign_vpci_opts *opts,
				  struct assign_vpci **ret)
{
	struct assign_vpci_opts o;
	struct assign_vpci_ops ops;
	char saved[ASSIGN_ERROR_MAX];
	struct assign_ctx *ctx;
	struct assign_vpci *v;
	long ps;
	int r;

	if (!dev || !ret)
		return -EINVAL;
	ctx = assign_iommu_get_ctx(assign_device_get_iommu(dev));
	r = read_opts(ctx, opts, &o, &ops);
	if (r < 0)
		return r;
	v = calloc(1, sizeof(*v));
	if (!v)
		return set_error(ctx, -ENOMEM, "out of memory");
	v->refcount = 1;
	v->ctx = ctx;
	v->dev = assign_device_ref(dev);
	for (uint32_t i = 0; i < VPCI_MSI_MAX; i++)
		v->msi_vec[i].efd = -1;
	v->intx_efd = v->intx_resample = -1;
	ps = sysconf(_SC_PAGESIZE);
	v->page = ps > 0 ? (uint64_t)ps : 4096;
	pthread_mutex_init(&v->lock, NULL);
	v->flags = o.flags;
	v->data = o.data;
	v->ops = ops;
	assign_error_save(ctx, saved);
	r = vpci_setup(v);
	if (r < 0) {
		/* no callbacks for an object the caller never saw */
		memset(&v->ops, 0, sizeof(v->ops));
		vpci_free(v);
		return r;
	}
	/* Probes of optional parts (a ROM, MSI vectors, a BAR's mmap) may
	 * have failed on the way; the call did not. */
	assign_error_restore(ctx, saved);
	*ret = v;
	return 0;
}

ASSIGN_EXPORT struct assign_vpci *assign_vpci_ref(struct assign_vpci *vpci)
{
	if (vpci)
		__atomic_add_fetch(&vpci->refcount, 1, __ATOMIC_RELAXED);
	return vpci;
}

ASSIGN_EXPORT struct assign_vpci *assign_vpci_unref(struct assign_vpci *vpci)
{
	if (vpci && __atomic_sub_fetch(&vpci->refcount, 1, __ATOMIC_ACQ_REL) == 0)
		vpci_free(vpci);
	return NULL;
}

ASSIGN_EXPORT struct assign_device *
assign_vpci_get_device(const struct assign_vpci *vpci)
{
	return vpci ? vpci->dev : NULL;
}

ASSIGN_EXPORT size_t assign_vpci_get_config_size(const struct assign_vpci *vpci)
{
	return vpci ? vpci->cfg_size : 0;
}

/* ---- config space -------------------------------------------------- */

/* A guest's access the caller should not have passed on: say which. */
static int cfg_check(const struct assign_vpci *v, const char *op, uint32_t off,
		     size_t len)
{
	if (len != 1 && len != 2 && len != 4)
		return set_error(v->ctx, -EINVAL,
				 "%s: config %s of %zu bytes at 0x%x: the size "
				 "must be 1, 2 or 4",
				 assign_device_get_name(v->dev), op, len, off);
	if (off % len || off >= v->cfg_size || len > v->cfg_size - off)
		return set_error(v->ctx, -EINVAL,
				 "%s: config %s of %zu bytes at 0x%x: %s",
				 assign_device_get_name(v->dev), op, len, off,
				 off % len ? "misaligned" :
					     "beyond the config space");
	return 0;
}

ASSIGN_EXPORT int assign_vpci_config_read(struct assign_vpci *vpci,
					  uint32_t offset, void *data,
					  size_t len)
{
	uint8_t *out = data;
	bool any_real = false;
	int r = 0;

	if (!vpci || !data)
		return -EINVAL;
	r = cfg_check(vpci, "read", offset, len);
	if (r < 0) {
		memset(data, 0xff, len <= 8 ? len : 0);
		return r;
	}
	pthread_mutex_lock(&vpci->lock);
	for (size_t i = 0; i < len; i++)
		any_real |= offset + i >= VPCI_EMU_SIZE ||
			    !vpci->emu[offset + i];
	if (any_real) {
		r = dev_cfg_read(vpci, offset, out, len);
		if (r < 0)
			memset(out, 0xff, len);
	}
	for (size_t i = 0; i < len; i++) {
		uint32_t o = offset + (uint32_t)i;
		if (o >= VPCI_EMU_SIZE || !vpci->emu[o])
			continue;
		out[i] = vpci->shadow[o];
		if (vpci->has_msi && vpci->msi.per_vector_mask &&
		    o >= vpci->msi.mask_offset + 4u &&
		    o < vpci->msi.mask_offset + 8u)
			out[i] = (uint8_t)(vpci_msi_pending(vpci) >>
					   8 * (o - vpci->msi.mask_offset - 4));
	}
	pthread_mutex_unlock(&vpci->lock);
	return r;
}

/* Does [off, off + len) touch [start, start + n)? */
static bool touches(uint32_t off, size_t len, uint32_t start, uint32_t n)
{
	return off < (uint64_t)start + n && start < (uint64_t)off + len;
}

/* The bytes of a config write: emulated ones into the shadow, through
 * their write mask; the others to the device, in one write when no byte
 * of the access is emulated. */
static int cfg_store(struct assign_vpci *v, uint32_t offset, const uint8_t *in,
		     size_t len)
{
	bool all_real = true;
	int r = 0, e;

	for (size_t i = 0; i < len; i++)
		all_real &= offset + i >= VPCI_EMU_SIZE || !v->emu[offset + i];
	if (all_real)
		return dev_cfg_write(v, offset, in, len);
	for (size_t i = 0; i < len; i++) {
		uint32_t o = offset + (uint32_t)i;
		if (o < VPCI_EMU_SIZE && v->emu[o]) {
			uint8_t m = v->wmask[o];
			v->shadow[o] =
				(uint8_t)((v->shadow[o] & ~m) | (in[i] & m));
		} else {
			e = dev_cfg_write(v, o, &in[i], 1);
			if (e < 0 && !r)
				r = e;
		}
	}
	return r;
}

/* The guest's command register, tracked for BAR placement (the device
 * gets it too). */
static void cfg_command(struct assign_vpci *v, uint32_t offset,
			const uint8_t *in, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		uint32_t o = offset + (uint32_t)i;
		if (o == ASSIGN_PCI_COMMAND)
			v->command = (uint16_t)((v->command & 0xff00) | in[i]);
		else if (o == ASSIGN_PCI_COMMAND + 1)
			v->command =
				(uint16_t)((v->command & 0x00ff) | in[i] << 8);
	}
}

/* What a config write changed: decoding and BAR registers move BARs, the
 * MSI-X control word and the MSI capability switch interrupts. */
static int cfg_written(struct assign_vpci *v, uint32_t offset,
		       const uint8_t *in, size_t len)
{
	bool bars_changed = false;
	int r = 0, e;

	if (touches(offset, len, ASSIGN_PCI_COMMAND, 2)) {
		cfg_command(v, offset, in, len);
		bars_changed = true;
	}
	for (uint32_t b = 0; b < 6; b++)
		if (touches(offset, len, ASSIGN_PCI_BASE_ADDRESS_0 + 4 * b, 4)) {
			vpci_bar_reg_fixup(v, b);
			bars_changed = true;
		}
	if (touches(offset, len, ASSIGN_PCI_ROM_ADDRESS, 4)) {
		vpci_rom_reg_fixup(v);
		bars_changed = true;
	}
	if (bars_changed)
		vpci_bars_update(v);
	if (v->has_msix && touches(offset, len, v->msix.offset + 2, 2))
		r = vpci_msix_control(v);
	if (v->has_msi && touches(offset, len, v->msi.offset + 2,
				  v->msi_end - v->msi.offset - 2u)) {
		e = vpci_msi_changed(v);
		if (e < 0 && !r)
			r = e;
	}
	return r;
}

ASSIGN_EXPORT int assign_vpci_config_write(struct assign_vpci *vpci,
					   uint32_t offset, const void *data,
					   size_t len)
{
	int r, e;

	if (!vpci || !data)
		return -EINVAL;
	r = cfg_check(vpci, "write", offset, len);
	if (r < 0)
		return r;
	pthread_mutex_lock(&vpci->lock);
	r = cfg_store(vpci, offset, data, len);
	e = cfg_written(vpci, offset, data, len);
	if (e < 0 && !r)
		r = e;
	vpci_reports_end(vpci);
	pthread_mutex_unlock(&vpci->lock);
	return r;
}

/* ---- reset -------------------------------------------------------------- */

ASSIGN_EXPORT int assign_vpci_reset(struct assign_vpci *vpci)
{
	int r, e;

	if (!vpci)
		return -EINVAL;
	pthread_mutex_lock(&vpci->lock);
	vpci->command = 0;
	vpci_bars_update(vpci); /* decoding off: everything unmapped */
	vpci_msix_disable(vpci);
	vpci_msi_disable(vpci);
	vpci_intx_set(vpci, false, true);
	r = assign_device_reset(vpci->dev);
	if (r == -ENOTTY)
		r = 0;
	memcpy(vpci->shadow, vpci->init, sizeof(vpci->shadow));
	e = vpci_irq_reset(vpci);
	if (e < 0 && !r)
		r = e;
	pthread_mutex_unlock(&vpci->lock);
	return r;
}
