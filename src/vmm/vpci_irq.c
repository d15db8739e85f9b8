// SPDX-License-Identifier: MIT
/*
 * The interrupts of a virtual PCI function (docs/vpci.md): INTx with a
 * resample eventfd, the emulated MSI and MSI-X capabilities, the virtual
 * MSI-X table and PBA, and the vector updates a VMM follows. The eventfds
 * are the library's: one a vector, the same for the object's lifetime.
 *
 * Layering note: the eventfds (and the poll() that reads their pending
 * state) are made here with eventfd(2)/poll(2) directly; the sys seam has
 * no eventfd entry yet. They are not VFIO objects, so the mock kernel is
 * not bypassed: it takes real eventfds.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "vmm/vmm.h"
#include <libassign/vpci.h>

/* The MSI-X control bits in the control word's high byte */
#define MSIX_CTRL_ENABLE (ASSIGN_PCI_MSIX_FLAGS_ENABLE >> 8)
#define MSIX_CTRL_MASKALL (ASSIGN_PCI_MSIX_FLAGS_MASKALL >> 8)

/* ---- eventfds ---------------------------------------------------------- */

static int new_eventfd(struct assign_vpci *v, int *fd)
{
	int r = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (r < 0)
		return set_error(v->ctx, -errno,
				 "%s: cannot create an eventfd: %s",
				 assign_device_get_name(v->dev),
				 strerror(errno));
	*fd = r;
	return 0;
}

static bool efd_pending(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	return fd >= 0 && poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* ---- INTx ------------------------------------------------------------ */

int vpci_intx_set(struct assign_vpci *v, bool on, bool notify)
{
	char saved[ASSIGN_ERROR_MAX];
	int r;

	if (!v->pin || v->intx_on == on)
		return 0;
	if (on) {
		r = assign_irq_set_eventfds(v->dev, ASSIGN_IRQ_INTX, 0, 1,
					    &v->intx_efd);
		if (r < 0)
			return r;
		assign_error_save(v->ctx, saved);
		r = assign_irq_set_unmask_eventfd(v->dev, ASSIGN_IRQ_INTX,
						  v->intx_resample);
		v->intx_unmask_by_access = r == -ENOTTY;
		if (r == -ENOTTY) {
			/* The device cannot unmask on an eventfd (mtty):
			 * the resample eventfd is read at the guest's next
			 * access instead, as QEMU does for such devices. Not
			 * a failure: its message goes. */
			assign_error_restore(v->ctx, saved);
			info(v->ctx,
			     "%s: INTx takes no unmask eventfd; unmasked at the "
			     "guest's next access after its EOI",
			     assign_device_get_name(v->dev));
			r = 0;
		}
		if (r < 0) {
			assign_irq_disable(v->dev, ASSIGN_IRQ_INTX);
			return r;
		}
	} else {
		assign_irq_disable(v->dev, ASSIGN_IRQ_INTX);
	}
	v->intx_on = on;
	if (notify && v->ops.intx_update)
		v->ops.intx_update(v->data, on);
	return 0;
}

void vpci_intx_poll(struct assign_vpci *v)
{
	uint64_t n;

	if (!v->intx_unmask_by_access || !v->intx_on)
		return;
	/* Nonblocking: nothing there, the guest has not ended one. */
	if (read(v->intx_resample, &n, sizeof(n)) == (ssize_t)sizeof(n) && n)
		assign_irq_unmask(v->dev, ASSIGN_IRQ_INTX, 0, 1);
}

/* INTx is live when neither MSI nor MSI-X is. */
static void intx_follow(struct assign_vpci *v)
{
	int r = vpci_intx_set(v, !v->msi_on && !v->msix_on, true);
	if (r < 0)
		warn_limited(v->ctx, &v->log_intx,
			     "%s: re-arming INTx failed: %s",
			     assign_device_get_name(v->dev), strerror(-r));
}

/* The interrupt line is the guest's, the pin the device's; with a pin and
 * eventfd-capable INTx (unless the caller turned it off) INTx is armed:
 * trigger and resample eventfds wired to the device. */
int vpci_intx_setup(struct assign_vpci *v, const uint8_t *cfg)
{
	struct assign_irq_info ii = { .size = sizeof(ii) };
	int r;

	vpci_emulate(v, ASSIGN_PCI_INTERRUPT_LINE, 1, 0xff);
	vpci_emulate(v, ASSIGN_PCI_INTERRUPT_PIN, 1, 0);
	if (!(v->flags & ASSIGN_VPCI_F_NO_INTX) &&
	    cfg[ASSIGN_PCI_INTERRUPT_PIN] >= 1 &&
	    cfg[ASSIGN_PCI_INTERRUPT_PIN] <= 4 &&
	    assign_device_get_irq_info(v->dev, ASSIGN_IRQ_INTX, &ii) == 0 &&
	    ii.count && (ii.flags & ASSIGN_IRQ_F_EVENTFD)) {
		v->pin = cfg[ASSIGN_PCI_INTERRUPT_PIN];
		v->shadow[ASSIGN_PCI_INTERRUPT_PIN] = v->pin;
		r = new_eventfd(v, &v->intx_efd);
		if (r < 0)
			return r;
		r = new_eventfd(v, &v->intx_resample);
		if (r < 0)
			return r;
		return vpci_intx_set(v, true, false);
	}
	return 0;
}

/* ---- vectors ---------------------------------------------------------- */

/*
 * Vector updates are given one behind, so the last of an access can say
 * that no more follow (@more false): report() gives the one it held with
 * @more true and holds the new one; vpci_reports_end(), at the end of every
 * access that may report, gives the held one with @more false.
 */
static void report(struct assign_vpci *v, struct vvec *vv,
		   const struct assign_vpci_vector *now)
{
	if (vv->reported && !memcmp(&vv->last, now, sizeof(*now)))
		return;
	memcpy(&vv->last, now, sizeof(*now)); /* padding included */
	vv->reported = true;
	if (!v->ops.vector_update)
		return;
	if (v->holding) {
		v->held.more = true;
		v->ops.vector_update(v->data, &v->held);
	}
	v->held = *now;
	v->holding = true;
}

void vpci_reports_end(struct assign_vpci *v)
{
	if (!v->holding)
		return;
	v->holding = false;
	v->held.more = false;
	v->ops.vector_update(v->data, &v->held);
}

static bool msix_fmasked(const struct assign_vpci *v)
{
	return v->shadow[v->msix.offset + 3] & MSIX_CTRL_MASKALL;
}

static bool msix_entry_masked(const struct assign_vpci *v, uint32_t i)
{
	return msix_fmasked(v) ||
	       (v->table[i * ASSIGN_PCI_MSIX_ENTRY_SIZE + 12] & 1);
}

static void msix_report(struct assign_vpci *v, uint32_t i)
{
	struct assign_vpci_vector now;
	const uint8_t *e = v->table + (size_t)i * ASSIGN_PCI_MSIX_ENTRY_SIZE;

	if (i >= v->msix_nvec || !v->msix_vec)
		return;
	memset(&now, 0, sizeof(now));
	now.index = ASSIGN_IRQ_MSIX;
	now.vector = i;
	now.enabled = v->msix_on;
	now.masked = msix_entry_masked(v, i);
	now.addr = (uint64_t)vpci_get32(e + 4) << 32 | vpci_get32(e);
	now.data = vpci_get32(e + 8);
	now.eventfd = v->msix_vec[i].efd;
	report(v, &v->msix_vec[i], &now);
}

static void msix_report_all(struct assign_vpci *v)
{
	for (uint32_t i = 0; i < v->msix_nvec; i++)
		msix_report(v, i);
}

/* Multiple Message Enable: log2 of the vectors the guest enabled, never
 * more than offered */
static uint32_t msi_mme(const struct assign_vpci *v)
{
	uint32_t mme = (v->shadow[v->msi.offset + 2] >> 4) & 7;

	return mme > v->msi_mmc ? v->msi_mmc : mme;
}

static bool msi_masked(const struct assign_vpci *v, uint32_t i)
{
	return v->msi.per_vector_mask &&
	       (vpci_get32(v->shadow + v->msi.mask_offset) >> i & 1);
}

/* Vector @i: the message address, and the data with the vector number in
 * its low bits (as many as the vectors enabled, PCI Local Bus 3.0
 * 6.8.3.5). */
static void msi_report_one(struct assign_vpci *v, uint32_t i)
{
	struct assign_vpci_vector now;
	const struct assign_pci_msi *m = &v->msi;
	const uint8_t *cap = v->shadow + m->offset;
	uint32_t data, nvec = v->msi_on ? v->msi_nvec : 1u << msi_mme(v);

	if (v->msi_vec[i].efd < 0)
		return;
	data = (uint32_t)v->shadow[m->data_offset] |
	       (uint32_t)v->shadow[m->data_offset + 1] << 8;
	memset(&now, 0, sizeof(now));
	now.index = ASSIGN_IRQ_MSI;
	now.vector = i;
	now.enabled = v->msi_on && i < v->msi_nvec;
	now.masked = msi_masked(v, i);
	now.addr = vpci_get32(cap + 4);
	if (m->addr64)
		now.addr |= (uint64_t)vpci_get32(cap + 8) << 32;
	now.data = (data & ~(nvec - 1)) | (i & (nvec - 1));
	now.eventfd = v->msi_vec[i].efd;
	report(v, &v->msi_vec[i], &now);
}

static void msi_report(struct assign_vpci *v)
{
	for (uint32_t i = 0; i < VPCI_MSI_MAX; i++)
		msi_report_one(v, i);
}

uint32_t vpci_msi_pending(const struct assign_vpci *v)
{
	uint32_t bits = 0;

	for (uint32_t i = 0; v->msi_on && i < v->msi_nvec; i++)
		if (msi_masked(v, i) && efd_pending(v->msi_vec[i].efd))
			bits |= 1u << i;
	return bits;
}

int vpci_msix_disable(struct assign_vpci *v)
{
	int r;

	if (!v->msix_on)
		return 0;
	r = assign_irq_disable(v->dev, ASSIGN_IRQ_MSIX);
	v->msix_on = false;
	msix_report_all(v);
	return r;
}

int vpci_msi_disable(struct assign_vpci *v)
{
	int r;

	if (!v->msi_on)
		return 0;
	r = assign_irq_disable(v->dev, ASSIGN_IRQ_MSI);
	v->msi_on = false;
	msi_report(v);
	return r;
}

static int msix_enable(struct assign_vpci *v)
{
	int *fds, r;

	if (!v->msix_nvec)
		return set_error(
			v->ctx, -ENODEV,
			"%s: the guest enabled MSI-X but the kernel offers no MSI-X vectors",
			assign_device_get_name(v->dev));
	if (!v->msix_vec) {
		v->msix_vec = calloc(v->msix_nvec, sizeof(*v->msix_vec));
		if (!v->msix_vec)
			return set_error(v->ctx, -ENOMEM, "out of memory");
		for (uint32_t i = 0; i < v->msix_nvec; i++)
			v->msix_vec[i].efd = -1;
	}
	fds = calloc(v->msix_nvec, sizeof(*fds));
	if (!fds)
		return set_error(v->ctx, -ENOMEM, "out of memory");
	for (uint32_t i = 0; i < v->msix_nvec; i++) {
		if (v->msix_vec[i].efd < 0) {
			r = new_eventfd(v, &v->msix_vec[i].efd);
			if (r < 0) {
				free(fds);
				return r;
			}
		}
		fds[i] = v->msix_vec[i].efd;
	}
	vpci_msi_disable(v);
	vpci_intx_set(v, false, true);
	r = assign_irq_set_eventfds(v->dev, ASSIGN_IRQ_MSIX, 0, v->msix_nvec,
				    fds);
	free(fds);
	if (r < 0) {
		intx_follow(v);
		return r;
	}
	v->msix_on = true;
	return 0;
}

static int msi_enable(struct assign_vpci *v)
{
	uint32_t nvec = 1u << msi_mme(v);
	int fds[VPCI_MSI_MAX], r;

	for (uint32_t i = 0; i < nvec; i++) {
		if (v->msi_vec[i].efd < 0) {
			r = new_eventfd(v, &v->msi_vec[i].efd);
			if (r < 0)
				return r;
		}
		fds[i] = v->msi_vec[i].efd;
	}
	vpci_msix_disable(v);
	vpci_intx_set(v, false, true);
	r = assign_irq_set_eventfds(v->dev, ASSIGN_IRQ_MSI, 0, nvec, fds);
	if (r < 0) {
		intx_follow(v);
		return r;
	}
	v->msi_nvec = nvec;
	v->msi_on = true;
	return 0;
}

/* The guest wrote the MSI-X control word. */
int vpci_msix_control(struct assign_vpci *v)
{
	bool on = v->shadow[v->msix.offset + 3] & MSIX_CTRL_ENABLE;
	int r = 0;

	if (on && !v->msix_on)
		r = msix_enable(v);
	else if (!on && v->msix_on) {
		r = vpci_msix_disable(v);
		intx_follow(v);
		return r;
	}
	msix_report_all(v);
	return r;
}

/* The guest wrote somewhere in the MSI capability. */
int vpci_msi_changed(struct assign_vpci *v)
{
	uint8_t *ctrl = &v->shadow[v->msi.offset + 2];
	bool on = *ctrl & ASSIGN_PCI_MSI_FLAGS_ENABLE;
	int r = 0;

	/* Multiple Message Enable reads back what is enabled: at most
	 * what is offered */
	*ctrl = (uint8_t)((*ctrl & ~ASSIGN_PCI_MSI_FLAGS_QSIZE) | msi_mme(v)
									  << 4);
	if (on && v->msi_on && v->msi_nvec != 1u << msi_mme(v)) {
		/* a new vector count while enabled: off and on again */
		r = vpci_msi_disable(v);
		if (r < 0)
			return r;
	}
	if (on && !v->msi_on)
		r = msi_enable(v);
	else if (!on && v->msi_on) {
		r = vpci_msi_disable(v);
		intx_follow(v);
		return r;
	}
	msi_report(v);
	return r;
}

/* ---- the MSI-X table and PBA ------------------------------------------- */

static bool in_table(const struct assign_vpci *v, uint32_t bar, uint64_t off)
{
	return v->has_msix && bar == v->msix.table_bar &&
	       off >= v->msix.table_offset &&
	       off - v->msix.table_offset < vpci_msix_table_bytes(&v->msix);
}

static bool in_pba(const struct assign_vpci *v, uint32_t bar, uint64_t off)
{
	return v->has_msix && bar == v->msix.pba_bar &&
	       off >= v->msix.pba_offset &&
	       off - v->msix.pba_offset < vpci_msix_pba_bytes(&v->msix);
}

/* Writable bits of each byte of an MSI-X table entry. */
static const uint8_t msix_entry_wmask[ASSIGN_PCI_MSIX_ENTRY_SIZE] = {
	0xfc, 0xff, 0xff, 0xff, /* message address, dword aligned */
	0xff, 0xff, 0xff, 0xff, /* upper address */
	0xff, 0xff, 0xff, 0xff, /* data */
	0x01, 0x00, 0x00, 0x00, /* vector control: mask bit */
};

static uint8_t pba_byte(const struct assign_vpci *v, uint64_t byte)
{
	uint8_t out = 0;

	if (!v->msix_on)
		return 0;
	for (uint32_t bit = 0; bit < 8; bit++) {
		uint64_t i = byte * 8 + bit;
		if (i >= v->msix_nvec)
			break;
		if (msix_entry_masked(v, (uint32_t)i) &&
		    efd_pending(v->msix_vec[i].efd))
			out |= (uint8_t)(1u << bit);
	}
	return out;
}

bool vpci_msix_touches(const struct assign_vpci *v, uint32_t bar, uint64_t off,
		       size_t len)
{
	bool touched = false;

	for (size_t i = 0; i < len; i++)
		touched |= in_table(v, bar, off + i) || in_pba(v, bar, off + i);
	return touched;
}

/* One byte of the virtual table, @t bytes into it. */
static void table_byte(struct assign_vpci *v, uint64_t t, uint8_t *p,
		       bool is_write)
{
	uint8_t *cell = v->table + t;

	if (is_write) {
		uint8_t m = msix_entry_wmask[t % ASSIGN_PCI_MSIX_ENTRY_SIZE];
		*cell = (uint8_t)((*cell & ~m) | (*p & m));
	} else {
		*p = *cell;
	}
}

/* Partly or wholly the table or PBA: byte by byte, the bytes outside them
 * to the device; then the vectors of the entries written are reported. */
int vpci_msix_access(struct assign_vpci *v, uint32_t bar, uint64_t off,
		     uint8_t *p, size_t len, bool is_write)
{
	uint64_t first = UINT64_MAX, last = 0;
	int r = 0, e;

	for (size_t i = 0; i < len; i++) {
		uint64_t o = off + i;
		if (in_table(v, bar, o)) {
			uint64_t t = o - v->msix.table_offset;
			uint64_t entry = t / ASSIGN_PCI_MSIX_ENTRY_SIZE;

			table_byte(v, t, &p[i], is_write);
			if (is_write) {
				first = MIN(first, entry);
				last = MAX(last, entry);
			}
		} else if (in_pba(v, bar, o)) {
			if (!is_write)
				p[i] = pba_byte(v, o - v->msix.pba_offset);
		} else {
			e = vpci_region_access(v, bar, o, &p[i], 1, is_write);
			if (e < 0 && !r)
				r = e;
		}
	}
	for (uint64_t i = first; first != UINT64_MAX && i <= last; i++)
		msix_report(v, (uint32_t)i);
	vpci_reports_end(v);
	return r;
}

/* Every entry cleared and masked, as after a reset. */
static void table_reset(struct assign_vpci *v)
{
	for (uint32_t i = 0; i < v->msix.table_size; i++) {
		uint8_t *e = v->table + (size_t)i * ASSIGN_PCI_MSIX_ENTRY_SIZE;

		memset(e, 0, ASSIGN_PCI_MSIX_ENTRY_SIZE);
		e[12] = 1; /* vector control: masked */
	}
}

/* ---- the capabilities --------------------------------------------------- */

int vpci_msix_setup(struct assign_vpci *v, const uint8_t *cfg)
{
	const char *name = assign_device_get_name(v->dev);
	struct assign_pci_msix *x = &v->msix;
	struct assign_irq_info ii = { .size = sizeof(ii) };
	const struct vbar *tb, *pb;
	int r;

	x->size = sizeof(*x);
	r = assign_pci_parse_msix(cfg, VPCI_EMU_SIZE, x);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return set_error(v->ctx, -EPROTO,
				 "%s: malformed MSI-X capability", name);
	tb = &v->bars[x->table_bar];
	pb = &v->bars[x->pba_bar];
	if (!tb->present || tb->io ||
	    x->table_offset + vpci_msix_table_bytes(x) > tb->size)
		return set_error(
			v->ctx, -EPROTO,
			"%s: the MSI-X table (BAR%u + %#x, %u entries) lies outside its BAR",
			name, x->table_bar, x->table_offset, x->table_size);
	if (!pb->present || pb->io ||
	    x->pba_offset + vpci_msix_pba_bytes(x) > pb->size)
		return set_error(
			v->ctx, -EPROTO,
			"%s: the MSI-X PBA (BAR%u + %#x) lies outside its BAR",
			name, x->pba_bar, x->pba_offset);
	v->has_msix = true;
	if (assign_device_get_irq_info(v->dev, ASSIGN_IRQ_MSIX, &ii) == 0 &&
	    (ii.flags & ASSIGN_IRQ_F_EVENTFD))
		v->msix_nvec = MIN(ii.count, (uint32_t)x->table_size);
	v->table = calloc(x->table_size, ASSIGN_PCI_MSIX_ENTRY_SIZE);
	if (!v->table)
		return set_error(v->ctx, -ENOMEM, "out of memory");
	table_reset(v);
	/* header, control, table and PBA registers: only the control
	 * word's Enable and Function Mask bits are the guest's */
	vpci_emulate(v, x->offset, 12, 0);
	memcpy(v->shadow + x->offset, cfg + x->offset, 12);
	v->wmask[x->offset + 3] = MSIX_CTRL_ENABLE | MSIX_CTRL_MASKALL;
	v->shadow[x->offset + 3] &=
		(uint8_t) ~(MSIX_CTRL_ENABLE | MSIX_CTRL_MASKALL);
	return 0;
}

int vpci_msi_setup(struct assign_vpci *v, const uint8_t *cfg)
{
	struct assign_pci_msi *m = &v->msi;
	struct assign_irq_info ii = { .size = sizeof(ii) };
	uint32_t end, mmc, vfio = 0;
	int r;

	m->size = sizeof(*m);
	r = assign_pci_parse_msi(cfg, VPCI_EMU_SIZE, m);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return set_error(v->ctx, -EPROTO,
				 "%s: malformed MSI capability",
				 assign_device_get_name(v->dev));
	if (assign_device_get_irq_info(v->dev, ASSIGN_IRQ_MSI, &ii) < 0 ||
	    !ii.count || !(ii.flags & ASSIGN_IRQ_F_EVENTFD))
		info(v->ctx, "%s: MSI capability without MSI vectors in VFIO",
		     assign_device_get_name(v->dev));
	else
		vfio = ii.count;
	/* as many vectors as both the device and VFIO offer (a power of
	 * two, at most 32), at least one */
	mmc = (cfg[m->offset + 2] & ASSIGN_PCI_MSI_FLAGS_QMASK) >> 1;
	if (mmc > 5)
		mmc = 5;
	while (mmc && (1u << mmc) > vfio)
		mmc--;
	v->msi_mmc = (uint8_t)mmc;
	/* the (extended) data dword, and the mask and pending registers */
	end = m->per_vector_mask ? m->mask_offset + 8u : m->data_offset + 4u;
	v->msi_end = (uint16_t)MIN(end, VPCI_EMU_SIZE);
	vpci_emulate(v, m->offset, v->msi_end - m->offset, 0);
	memset(v->shadow + m->offset, 0, v->msi_end - m->offset);
	v->shadow[m->offset] = cfg[m->offset];
	v->shadow[m->offset + 1] = cfg[m->offset + 1];
	/* control: Multiple Message Capable as offered, Enable and Multiple
	 * Message Enable the guest's; keep 64-bit and per-vector masking;
	 * no extended message data */
	v->shadow[m->offset + 2] =
		(uint8_t)((cfg[m->offset + 2] & 0x80) | mmc << 1);
	v->shadow[m->offset + 3] = cfg[m->offset + 3] & 0x01;
	v->wmask[m->offset + 2] = ASSIGN_PCI_MSI_FLAGS_ENABLE |
				  ASSIGN_PCI_MSI_FLAGS_QSIZE;
	v->wmask[m->offset + 4] = 0xfc;
	memset(v->wmask + m->offset + 5, 0xff, 3);
	if (m->addr64)
		memset(v->wmask + m->offset + 8, 0xff, 4);
	memset(v->wmask + m->data_offset, 0xff, 2);
	/* mask bits: one per vector offered */
	for (uint32_t i = 0; m->per_vector_mask && i < (1u << mmc); i++)
		v->wmask[m->mask_offset + i / 8] |= (uint8_t)(1u << (i % 8));
	v->has_msi = true;
	return 0;
}

/* ---- reset, free, queries ---------------------------------------------- */

int vpci_irq_reset(struct assign_vpci *v)
{
	if (v->table)
		table_reset(v);
	msix_report_all(v);
	msi_report(v);
	vpci_reports_end(v);
	return vpci_intx_set(v, true, true);
}

void vpci_irq_free(struct assign_vpci *v)
{
	vpci_msix_disable(v);
	vpci_msi_disable(v);
	vpci_reports_end(v); /* before the eventfds go */
	vpci_intx_set(v, false, true);
	for (uint32_t i = 0; v->msix_vec && i < v->msix_nvec; i++)
		close_fd(&v->msix_vec[i].efd);
	for (uint32_t i = 0; i < VPCI_MSI_MAX; i++)
		close_fd(&v->msi_vec[i].efd);
	close_fd(&v->intx_efd);
	close_fd(&v->intx_resample);
	free(v->table);
	free(v->msix_vec);
}

ASSIGN_EXPORT int assign_vpci_get_intx(const struct assign_vpci *vpci,
				       struct assign_vpci_intx *info)
{
	struct assign_vpci_intx x = { .size = sizeof(x) };

	if (!vpci || sized_out_check(vpci->ctx, info, "assign_vpci_intx") < 0)
		return -EINVAL;
	pthread_mutex_lock((pthread_mutex_t *)&vpci->lock);
	x.pin = vpci->pin;
	x.trigger_fd = vpci->intx_efd;
	x.resample_fd = vpci->intx_resample;
	x.enabled = vpci->intx_on;
	pthread_mutex_unlock((pthread_mutex_t *)&vpci->lock);
	SIZED_OUT_FILL(info, &x);
	return 0;
}
