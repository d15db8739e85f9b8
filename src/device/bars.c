// SPDX-License-Identifier: MIT
/* The BARs of an open PCI device: its config space decoded with the
 * region sizes the kernel reports. */
#include <errno.h>

#include "device/device.h"

ASSIGN_EXPORT int assign_device_get_bars(struct assign_device *dev,
					 struct assign_pci_bar *bars)
{
	uint8_t cfg[ASSIGN_PCI_STD_HEADER_SIZE];
	uint64_t sizes[6] = { 0 };
	size_t stride;
	int r;

	if (!dev)
		return -EINVAL;
	if (!bars)
		return set_error(dev->ctx, -EINVAL,
				 "assign_device_get_bars: bars is NULL");
	r = sized_array_stride(dev->ctx, bars, 6, "assign_pci_bar", &stride);
	if (r < 0)
		return r;
	if (!(dev->info.flags & ASSIGN_DEVICE_F_PCI))
		return set_error(dev->ctx, -EINVAL,
				 "%s is not a PCI device: it has no BARs",
				 dev->addr);
	r = assign_device_config_read(dev, 0, cfg, sizeof(cfg));
	if (r < 0)
		return r;
	for (uint32_t i = 0; i < 6 && i < dev->info.num_regions; i++) {
		const struct assign_region_info *ri;

		r = assign_device_get_region(dev, i, &ri);
		if (r < 0)
			return r;
		sizes[i] = ri->size;
	}
	r = assign_pci_decode_bars(cfg, sizeof(cfg), sizes, bars);
	if (r == -EINVAL)
		return set_error(dev->ctx, r,
				 "%s: config space header type 0x%02x is not a type 0 (endpoint) header",
				 dev->addr, cfg[ASSIGN_PCI_HEADER_TYPE]);
	if (r < 0)
		return set_error(dev->ctx, r,
				 "%s: the BARs in config space are malformed (64-bit BAR in slot 5, reserved type or a size that is not a power of two)",
				 dev->addr);
	return 0;
}
