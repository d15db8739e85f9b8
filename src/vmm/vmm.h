/* SPDX-License-Identifier: MIT */
/*
 * The VMM layer's internal header (docs/architecture.md): what a VMM
 * builds on top of an assigned device, each piece public in its own
 * header: the guest memory policy (guestmem.c, <libassign/guestmem.h>),
 * the guest-facing virtual PCI function (vpci.c, <libassign/vpci.h>) and
 * the KVM glue (kvm.c, <libassign/kvm.h>). Never installed.
 */
#ifndef LIBASSIGN_VMM_INTERNAL_H
#define LIBASSIGN_VMM_INTERNAL_H

#include <libassign/guestmem.h>
#include <libassign/kvm.h>
#include <libassign/vpci.h>

#include "device/device.h"

#endif /* LIBASSIGN_VMM_INTERNAL_H */
