/* SPDX-License-Identifier: MIT */
/* Built without libassign: --device is refused with a clear message. */
#include <errno.h>

#include "vmm.h"

int assign_device_add(struct vm *vm, const char *address,
		      struct assigned **ret)
{
	(void)vm;
	(void)ret;
	vmm_err("cannot assign %s: this assign-vmm was built without "
		"libassign; rebuild it inside the libassign tree", address);
	return -ENOTSUP;
}

void assign_device_remove(struct assigned *dev)
{
	(void)dev;
}

int assign_dma_start(struct vm *vm, enum vmm_dma_mode mode)
{
	(void)vm;
	(void)mode;
	return 0;
}

void assign_global_cleanup(void)
{
}
