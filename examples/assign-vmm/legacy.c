/* SPDX-License-Identifier: MIT */
/*
 * The few legacy PC ports Linux touches that KVM does not emulate itself
 * (the in-kernel irqchip covers the PICs, the IOAPIC and the LAPICs;
 * KVM_CREATE_PIT2 the PIT and port 0x61):
 *
 *   0x60/0x64  no keyboard controller: status reads "output full, input
 *              empty" so Linux's i8042 probe gives up at once, and a write
 *              of 0xfe to 0x64 (pulse reset, Linux's default reboot) ends
 *              the VM. Port 0xcf9 (reset control) is handled in pci.c
 *              because it shares the dword at 0xcf8.
 *   0x70/0x71  CMOS clock: the host's UTC time in BCD, never "updating".
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <string.h>
#include <time.h>

#include "vmm.h"

static struct vm *the_vm;
static uint8_t cmos_index;

static void i8042_io(void *opaque, uint64_t off, void *data, unsigned len,
		     bool is_write)
{
	(void)opaque;
	uint8_t *b = data;
	if (is_write) {
		if (off == 4 && len == 1 && *b == 0xfe)
			vm_request_stop(the_vm, 0, "guest reset (keyboard "
					"controller)");
		return;
	}
	memset(data, 0xff, len);
	if (off == 4)
		*b = 0x01;      /* output buffer full, input buffer empty */
}

static uint8_t bcd(int v)
{
	return (uint8_t)(((v / 10) << 4) | (v % 10));
}

static void cmos_io(void *opaque, uint64_t off, void *data, unsigned len,
		    bool is_write)
{
	(void)opaque;
	uint8_t *b = data;
	if (len != 1) {
		if (!is_write)
			memset(data, 0xff, len);
		return;
	}
	if (is_write) {
		if (off == 0)
			cmos_index = *b & 0x7f;   /* bit 7 is the NMI mask */
		return;
	}
	if (off == 0) {
		*b = 0xff;
		return;
	}
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	switch (cmos_index) {
	case 0x00: *b = bcd(tm.tm_sec); break;
	case 0x02: *b = bcd(tm.tm_min); break;
	case 0x04: *b = bcd(tm.tm_hour); break;
	case 0x06: *b = bcd(tm.tm_wday + 1); break;
	case 0x07: *b = bcd(tm.tm_mday); break;
	case 0x08: *b = bcd(tm.tm_mon + 1); break;
	case 0x09: *b = bcd(tm.tm_year % 100); break;
	case 0x32: *b = bcd(19 + tm.tm_year / 100); break;
	case 0x0a: *b = 0x26; break;    /* 32.768 kHz, no update in progress */
	case 0x0b: *b = 0x02; break;    /* 24-hour, BCD */
	case 0x0d: *b = 0x80; break;    /* valid RAM and time */
	default: *b = 0; break;
	}
}

int legacy_init(struct vm *vm)
{
	the_vm = vm;
	int r = io_register(IO_PORT, 0x60, 5, i8042_io, NULL);
	if (r == 0)
		r = io_register(IO_PORT, 0x70, 2, cmos_io, NULL);
	return r;
}
