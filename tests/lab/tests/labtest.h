/* SPDX-License-Identifier: MIT */
/*
 * Helpers for the lab integration tests: they run inside the lab guest
 * (tests/lab/run-lab.sh) and report on the serial console with
 *   LAB-RESULT <name> PASS|FAIL|SKIP [detail]
 * They use the public libassign API only.
 */
#ifndef LIBASSIGN_LABTEST_H
#define LIBASSIGN_LABTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libassign/libassign.h>

enum lab_verdict { LAB_PASS, LAB_FAIL, LAB_SKIP };

/* Prefix for result names (e.g. "type1" or "iommufd"), may be NULL. */
void lab_set_prefix(const char *prefix);

/* Print one LAB-RESULT line; counts failures. */
void lab_result(const char *name, enum lab_verdict v, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Number of FAIL results so far. */
int lab_failures(void);
/* Whether test @name runs: every test when no names follow argv[@first],
 * else those whose name contains one of them. */
bool lab_selected(int argc, char **argv, int first, const char *name);

/* A lab environment variable (/lab/env), or NULL. */
const char *lab_env(const char *name);

/* An anonymous, page-aligned, populated buffer; NULL on failure. */
void *lab_alloc(size_t size);
void lab_free(void *p, size_t size);

/* New eventfd (non-blocking, close-on-exec), or a negative errno. */
int lab_eventfd(void);
/* Wait up to @ms for @fd to be signalled; returns the count read, 0 on
 * timeout, a negative errno on error. */
int64_t lab_eventfd_wait(int fd, int ms);
/* Drain an eventfd without waiting. */
void lab_eventfd_drain(int fd);

/* Monotonic milliseconds. */
uint64_t lab_now_ms(void);
void lab_sleep_ms(unsigned ms);

/* 32- and 64-bit register access through assign_region_read/write. */
int lab_rd32(struct assign_device *dev, uint32_t region, uint64_t off,
	     uint32_t *val);
int lab_wr32(struct assign_device *dev, uint32_t region, uint64_t off,
	     uint32_t val);
int lab_rd64(struct assign_device *dev, uint32_t region, uint64_t off,
	     uint64_t *val);
int lab_wr64(struct assign_device *dev, uint32_t region, uint64_t off,
	     uint64_t val);

/* Set Memory Space and Bus Master Enable in the command register (DMA and
 * MSI delivery need bus mastering). */
int lab_enable_bus_master(struct assign_device *dev);

/* Parse /sys/kernel/iommu_groups/@group/reserved_regions into @out (up to
 * @max); returns the count or a negative errno. */
int lab_sysfs_reserved(int group, struct assign_reserved_region *out,
		       size_t max);

/* QEMU's edu device: BAR0 registers (docs/specs/edu.rst in QEMU) */
/*
 * mtty, the kernel's mdev sample (own kernel only): make an instance of
 * type "mtty-N" (N ports, 1 or 2) with a fresh UUID into @uuid (37 bytes):
 * 0, -ENOENT without mtty, another -errno from the create attribute.
 * lab_mtty_remove() removes it again (0 or -errno).
 */
int lab_mtty_create(int ports, char *uuid);
int lab_mtty_remove(const char *uuid);
/* mtty's registers (a 16550 at BAR0, BAR1 for the second port). */
#define MTTY_RBR_THR 0
#define MTTY_IER 1
#define MTTY_FCR 2
#define MTTY_LSR 5
#define MTTY_IER_RDI 0x01
#define MTTY_LSR_DR 0x01

#define EDU_IRQ_STATUS 0x24
#define EDU_IRQ_RAISE 0x60
#define EDU_IRQ_ACK 0x64
#define EDU_DMA_SRC 0x80
#define EDU_DMA_DST 0x88
#define EDU_DMA_CNT 0x90
#define EDU_DMA_CMD 0x98
#define EDU_DMA_START 0x1
#define EDU_DMA_TO_RAM 0x2
#define EDU_BUF 0x40000u /* the DMA buffer, in the device's address space */

#endif
