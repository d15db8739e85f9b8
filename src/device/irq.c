// SPDX-License-Identifier: MIT
/*
 * Device interrupts: VFIO_DEVICE_GET_IRQ_INFO and VFIO_DEVICE_SET_IRQS.
 *
 * The library remembers, per index, the eventfds it was given so vectors
 * can be added later: when the kernel can grow an enabled MSI-X set (no
 * VFIO_IRQ_INFO_NORESIZE) only the new vectors are set, otherwise the whole
 * set is disabled and re-enabled with every remembered eventfd.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <linux/vfio.h>

#include "core/sys.h"
#include "device/device.h"

ASSIGN_EXPORT const char *assign_pci_irq_get_name(uint32_t index)
{
	switch (index) {
	case ASSIGN_IRQ_INTX:
		return "INTx";
	case ASSIGN_IRQ_MSI:
		return "MSI";
	case ASSIGN_IRQ_MSIX:
		return "MSI-X";
	case ASSIGN_IRQ_ERR:
		return "ERR";
	case ASSIGN_IRQ_REQ:
		return "REQ";
	default:
		return NULL;
	}
}

/* For messages: never NULL. */
static const char *irq_name(uint32_t index)
{
	const char *name = assign_pci_irq_get_name(index);

	return name ? name : "irq";
}

static bool irq_exclusive(uint32_t index)
{
	return index == ASSIGN_IRQ_INTX || index == ASSIGN_IRQ_MSI ||
	       index == ASSIGN_IRQ_MSIX;
}

/* VFIO_DEVICE_SET_IRQS with @nfds eventfds (or none when @fds is NULL). */
static int set_irqs(struct assign_device *dev, uint32_t flags, uint32_t index,
		    uint32_t start, uint32_t count, const int32_t *fds)
{
	struct vfio_irq_set *s;
	size_t sz = sizeof(*s) + (fds ? (size_t)count * sizeof(int32_t) : 0);
	int r;

	s = calloc(1, sz);
	if (!s)
		return -ENOMEM;
	s->argsz = (uint32_t)sz;
	s->flags = flags;
	s->index = index;
	s->start = start;
	s->count = count;
	if (fds && count)
		memcpy(s->data, fds, (size_t)count * sizeof(int32_t));
	r = sys_ioctl(dev->ctx, dev->att.devfd, VFIO_DEVICE_SET_IRQS, s);
	free(s);
	return r < 0 ? r : 0;
}

static int irq_disable_raw(struct assign_device *dev, uint32_t index)
{
	return set_irqs(dev, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER,
			index, 0, 0, NULL);
}

static int irq_load(struct assign_device *dev, uint32_t index,
		    struct dev_irq **out)
{
	struct dev_irq *irq;
	struct vfio_irq_info ii;
	int r;

	if (index >= dev->info.num_irqs)
		return set_error(dev->ctx, -EINVAL,
				 "%s has no interrupt index %u (it has %u)",
				 dev->addr, index, dev->info.num_irqs);
	irq = &dev->irqs[index];
	if (!irq->info_loaded) {
		memset(&ii, 0, sizeof(ii));
		ii.argsz = sizeof(ii);
		ii.index = index;
		r = sys_ioctl(dev->ctx, dev->att.devfd,
			      VFIO_DEVICE_GET_IRQ_INFO, &ii);
		if (r == -EINVAL && index == ASSIGN_IRQ_ERR) {
			/*
			 * vfio-pci reports AER errors only for PCI Express
			 * devices and answers -EINVAL for the ERR index of
			 * a conventional one: it has none.
			 */
			ii.count = 0;
			ii.flags = 0;
			r = 0;
		}
		if (r < 0)
			return set_error(dev->ctx, r,
					 "VFIO_DEVICE_GET_IRQ_INFO(%s) on %s failed: %s",
					 irq_name(index), dev->addr,
					 strerror(-r));
		/* MSI-X has at most 2048 vectors; nothing has more. */
		if (ii.count > 2048)
			return set_error(dev->ctx, -EPROTO,
					 "%s: the kernel reports %u %s vectors",
					 dev->addr, ii.count, irq_name(index));
		irq->info.size = sizeof(irq->info);
		irq->info.index = index;
		irq->info.count = ii.count;
		irq->info.flags = 0;
		if (ii.flags & VFIO_IRQ_INFO_EVENTFD)
			irq->info.flags |= ASSIGN_IRQ_F_EVENTFD;
		if (ii.flags & VFIO_IRQ_INFO_MASKABLE)
			irq->info.flags |= ASSIGN_IRQ_F_MASKABLE;
		if (ii.flags & VFIO_IRQ_INFO_AUTOMASKED)
			irq->info.flags |= ASSIGN_IRQ_F_AUTOMASKED;
		if (ii.flags & VFIO_IRQ_INFO_NORESIZE)
			irq->info.flags |= ASSIGN_IRQ_F_NORESIZE;
		irq->info_loaded = true;
	}
	*out = irq;
	return 0;
}

ASSIGN_EXPORT int assign_device_get_irq_info(struct assign_device *dev,
					     uint32_t index,
					     struct assign_irq_info *info)
{
	struct dev_irq *irq;
	int r;

	if (!dev)
		return -EINVAL;
	r = sized_out_check(dev->ctx, info, "assign_irq_info");
	if (r < 0)
		return r;
	r = irq_load(dev, index, &irq);
	if (r < 0)
		return r;
	SIZED_OUT_FILL(info, &irq->info);
	return 0;
}

static int check_range(struct assign_device *dev, struct dev_irq *irq,
		       uint32_t start, uint32_t count)
{
	if (irq->info.count == 0)
		return set_error(dev->ctx, -EINVAL, "%s has no %s interrupt%s",
				 dev->addr, irq_name(irq->info.index),
				 irq->info.index == ASSIGN_IRQ_ERR ?
					 " (AER errors are reported for PCI "
					 "Express devices only)" :
					 "");
	if (count == 0 || start >= irq->info.count ||
	    count > irq->info.count - start)
		return set_error(dev->ctx, -EINVAL,
				 "%s vectors %u..%u of %s: the device has %u",
				 irq_name(irq->info.index), start,
				 count ? start + count - 1 : start, dev->addr,
				 irq->info.count);
	return 0;
}

static void irq_state_clear(struct dev_irq *irq)
{
	irq->nvec = 0;
	if (irq->fds)
		for (uint32_t i = 0; i < irq->info.count; i++)
			irq->fds[i] = -1;
}

#define IRQ_SET_EVENTFDS \
	(VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER)

/* INTx, MSI and MSI-X exclude each other: -EBUSY if another is enabled. */
static int irq_check_exclusive(struct assign_device *dev, uint32_t index)
{
	if (!irq_exclusive(index))
		return 0;
	for (uint32_t i = 0; i < dev->info.num_irqs && i <= ASSIGN_IRQ_MSIX;
	     i++)
		if (i != index && irq_exclusive(i) && dev->irqs[i].nvec)
			return set_error(
				dev->ctx, -EBUSY,
				"cannot enable %s on %s: %s is enabled and they exclude each other; call assign_irq_disable(dev, %u) first",
				irq_name(index), dev->addr, irq_name(i), i);
	return 0;
}

/* The array remembering the eventfd of each vector, all -1 at first. */
static int irq_fds_alloc(struct assign_device *dev, struct dev_irq *irq)
{
	if (irq->fds)
		return 0;
	irq->fds = malloc((size_t)irq->info.count * sizeof(int));
	if (!irq->fds)
		return set_error(dev->ctx, -ENOMEM,
				 "out of memory enabling %s on %s",
				 irq_name(irq->info.index), dev->addr);
	for (uint32_t i = 0; i < irq->info.count; i++)
		irq->fds[i] = -1;
	return 0;
}

/* Room for @n eventfds of a VFIO_DEVICE_SET_IRQS request on @index. */
static int irq_set_array(struct assign_device *dev, uint32_t index, uint32_t n,
			 int32_t **ret)
{
	*ret = malloc((size_t)n * sizeof(int32_t));
	if (!*ret)
		return set_error(dev->ctx, -ENOMEM,
				 "out of memory enabling %s on %s",
				 irq_name(index), dev->addr);
	return 0;
}

/* Enable, or change/add vectors in place. */
static int irq_set_in_place(struct assign_device *dev, struct dev_irq *irq,
			    uint32_t start, uint32_t count, const int *fds)
{
	uint32_t index = irq->info.index, newn = start + count;
	int32_t *v;
	int r;

	r = irq_set_array(dev, index, count, &v);
	if (r < 0)
		return r;
	for (uint32_t i = 0; i < count; i++)
		v[i] = fds[i];
	r = set_irqs(dev, IRQ_SET_EVENTFDS, index, start, count, v);
	free(v);
	if (r < 0)
		return set_error(
			dev->ctx, r,
			"cannot set eventfds for %s vectors %u..%u of %s: %s",
			irq_name(index), start, newn - 1, dev->addr,
			strerror(-r));
	memcpy(irq->fds + start, fds, (size_t)count * sizeof(int));
	irq->nvec = MAX(irq->nvec, newn);
	return 0;
}

/* Growing the set failed with @err: put the old set back (@all has room
 * for it); if even that fails, the index is left disabled. */
static int irq_restore_set(struct assign_device *dev, struct dev_irq *irq,
			   int32_t *all, uint32_t newn, int err)
{
	uint32_t index = irq->info.index, oldn = irq->nvec;
	int r;

	for (uint32_t i = 0; i < oldn; i++)
		all[i] = irq->fds[i];
	r = set_irqs(dev, IRQ_SET_EVENTFDS, index, 0, oldn, all);
	if (r < 0) {
		irq_state_clear(irq);
		return set_error(
			dev->ctx, err,
			"cannot grow %s of %s to %u vectors (%s) and could not restore the %u it had (%s): it is now disabled",
			irq_name(index), dev->addr, newn, strerror(-err), oldn,
			strerror(-r));
	}
	return set_error(
		dev->ctx, err,
		"cannot grow %s of %s to %u vectors: %s; the previous %u vectors are still enabled",
		irq_name(index), dev->addr, newn, strerror(-err), oldn);
}

/* NORESIZE and growing: re-make the whole set. */
static int irq_set_regrow(struct assign_device *dev, struct dev_irq *irq,
			  uint32_t start, uint32_t count, const int *fds)
{
	uint32_t index = irq->info.index, newn = start + count;
	int32_t *all;
	int r;

	r = irq_set_array(dev, index, newn, &all);
	if (r < 0)
		return r;
	for (uint32_t i = 0; i < newn; i++)
		all[i] = i >= start ? fds[i - start] : irq->fds[i];
	r = irq_disable_raw(dev, index);
	if (r < 0) {
		free(all);
		return set_error(dev->ctx, r,
				 "cannot disable %s of %s to add vectors: %s",
				 irq_name(index), dev->addr, strerror(-r));
	}
	r = set_irqs(dev, IRQ_SET_EVENTFDS, index, 0, newn, all);
	if (r < 0)
		r = irq_restore_set(dev, irq, all, newn, r);
	free(all);
	if (r < 0)
		return r;
	memcpy(irq->fds + start, fds, (size_t)count * sizeof(int));
	irq->nvec = newn;
	return 0;
}

ASSIGN_EXPORT int assign_irq_set_eventfds(struct assign_device *dev,
					  uint32_t index, uint32_t start,
					  uint32_t count, const int *fds)
{
	struct dev_irq *irq;
	int r;

	if (!dev)
		return -EINVAL;
	if (!fds)
		return set_error(dev->ctx, -EINVAL,
				 "assign_irq_set_eventfds: fds is NULL");
	r = irq_load(dev, index, &irq);
	if (r < 0)
		return r;
	r = check_range(dev, irq, start, count);
	if (r < 0)
		return r;
	if (!(irq->info.flags & ASSIGN_IRQ_F_EVENTFD))
		return set_error(dev->ctx, -EINVAL,
				 "%s of %s cannot signal an eventfd",
				 irq_name(index), dev->addr);
	r = irq_check_exclusive(dev, index);
	if (r < 0)
		return r;
	r = irq_fds_alloc(dev, irq);
	if (r < 0)
		return r;
	if (!irq->nvec || start + count <= irq->nvec ||
	    !(irq->info.flags & ASSIGN_IRQ_F_NORESIZE))
		return irq_set_in_place(dev, irq, start, count, fds);
	return irq_set_regrow(dev, irq, start, count, fds);
}

ASSIGN_EXPORT int assign_irq_set_unmask_eventfd(struct assign_device *dev,
						uint32_t index, int fd)
{
	struct dev_irq *irq;
	int32_t v = fd < 0 ? -1 : fd;
	int r;

	if (!dev)
		return -EINVAL;
	if (index != ASSIGN_IRQ_INTX)
		return set_error(dev->ctx, -EINVAL,
				 "an unmask eventfd only exists for INTx (index %u), not %s",
				 ASSIGN_IRQ_INTX, irq_name(index));
	r = irq_load(dev, index, &irq);
	if (r < 0)
		return r;
	if (!irq->nvec)
		return set_error(dev->ctx, -EINVAL,
				 "INTx of %s is not enabled: call assign_irq_set_eventfds() before setting its unmask eventfd",
				 dev->addr);
	r = set_irqs(dev, VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_UNMASK,
		     index, 0, 1, &v);
	if (r < 0)
		return set_error(dev->ctx, r,
				 "cannot set the INTx unmask eventfd of %s: %s",
				 dev->addr, strerror(-r));
	return 0;
}

static int irq_action(struct assign_device *dev, uint32_t index,
		      uint32_t start, uint32_t count, uint32_t action,
		      const char *what)
{
	struct dev_irq *irq;
	int r;

	if (!dev)
		return -EINVAL;
	r = irq_load(dev, index, &irq);
	if (r < 0)
		return r;
	if (action != VFIO_IRQ_SET_ACTION_TRIGGER &&
	    !(irq->info.flags & ASSIGN_IRQ_F_MASKABLE))
		return set_error(dev->ctx, -EOPNOTSUPP,
				 "%s of %s cannot be masked or unmasked (mask in the device, e.g. the MSI-X vector control word)",
				 irq_name(index), dev->addr);
	r = check_range(dev, irq, start, count);
	if (r < 0)
		return r;
	r = set_irqs(dev, VFIO_IRQ_SET_DATA_NONE | action, index, start, count,
		     NULL);
	if (r < 0)
		return set_error(dev->ctx, r,
				 "cannot %s %s vectors %u..%u of %s: %s%s", what,
				 irq_name(index), start, start + count - 1,
				 dev->addr, strerror(-r),
				 r == -EINVAL && !irq->nvec ?
					 " (the index is not enabled: call assign_irq_set_eventfds() first)" : "");
	return 0;
}

ASSIGN_EXPORT int assign_irq_mask(struct assign_device *dev, uint32_t index,
				  uint32_t start, uint32_t count)
{
	return irq_action(dev, index, start, count, VFIO_IRQ_SET_ACTION_MASK,
			  "mask");
}

ASSIGN_EXPORT int assign_irq_unmask(struct assign_device *dev, uint32_t index,
				    uint32_t start, uint32_t count)
{
	return irq_action(dev, index, start, count, VFIO_IRQ_SET_ACTION_UNMASK,
			  "unmask");
}

ASSIGN_EXPORT int assign_irq_trigger(struct assign_device *dev, uint32_t index,
				     uint32_t start, uint32_t count)
{
	return irq_action(dev, index, start, count,
			  VFIO_IRQ_SET_ACTION_TRIGGER, "trigger");
}

ASSIGN_EXPORT int assign_irq_disable(struct assign_device *dev, uint32_t index)
{
	struct dev_irq *irq;
	int r;

	if (!dev)
		return -EINVAL;
	if (index >= dev->info.num_irqs)
		return set_error(dev->ctx, -EINVAL,
				 "%s has no interrupt index %u (it has %u)",
				 dev->addr, index, dev->info.num_irqs);
	irq = &dev->irqs[index];
	if (!irq->nvec)
		return 0;
	r = irq_disable_raw(dev, index);
	if (r < 0)
		return set_error(dev->ctx, r, "cannot disable %s of %s: %s",
				 irq_name(index), dev->addr, strerror(-r));
	irq_state_clear(irq);
	return 0;
}

ASSIGN_EXPORT int assign_irq_get_enabled_count(const struct assign_device *dev,
					   uint32_t index)
{
	if (!dev || index >= dev->info.num_irqs)
		return -EINVAL;
	return (int)dev->irqs[index].nvec;
}

int dev_irqs_disable_all(struct assign_device *dev, bool device_only)
{
	int first = 0;

	for (uint32_t i = 0; dev->irqs && i < dev->info.num_irqs; i++) {
		int r;

		if (device_only && !irq_exclusive(i))
			continue;
		r = assign_irq_disable(dev, i);
		if (r < 0 && !first)
			first = r;
	}
	return first;
}

void dev_irqs_forget(struct assign_device *dev)
{
	for (uint32_t i = 0; dev->irqs && i < dev->info.num_irqs; i++)
		if (irq_exclusive(i))
			irq_state_clear(&dev->irqs[i]);
}

void dev_irqs_release(struct assign_device *dev)
{
	if (!dev->irqs)
		return;
	for (uint32_t i = 0; i < dev->info.num_irqs; i++)
		free(dev->irqs[i].fds);
	free(dev->irqs);
	dev->irqs = NULL;
}
