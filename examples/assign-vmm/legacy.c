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
 *              The date is worked out here, not by gmtime_r(): that one
 *              reads the time zone file and allocates on its first call,
 *              and a vCPU thread must not allocate while guest RAM is
 *              being pinned (dma_run_background() in vmm.h says why).
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

void utc_date(int64_t t, struct utc_date *d)
{
	int64_t days = t / 86400, secs = t % 86400;

	if (secs < 0) {
		secs += 86400;
		days--;
	}
	d->sec = (int)(secs % 60);
	d->min = (int)(secs / 60 % 60);
	d->hour = (int)(secs / 3600);
	d->wday = (int)(((days + 4) % 7 + 7) % 7); /* 1970-01-01: Thursday */
	/* Gregorian calendar in 400-year eras of 146097 days, the year
	 * counted from March so that February's leap day comes last */
	int64_t z = days + 719468; /* days from 0000-03-01 */
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097; /* [0, 146096] */
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100); /* from Mar 1 */
	int64_t mp = (5 * doy + 2) / 153; /* March = 0 */
	d->mday = (int)(doy - (153 * mp + 2) / 5 + 1);
	d->mon = (int)(mp < 10 ? mp + 3 : mp - 9);
	d->year = (int)(yoe + era * 400 + (d->mon <= 2));
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
	struct utc_date d;
	utc_date(time(NULL), &d);
	switch (cmos_index) {
	case 0x00:
		*b = bcd(d.sec);
		break;
	case 0x02:
		*b = bcd(d.min);
		break;
	case 0x04:
		*b = bcd(d.hour);
		break;
	case 0x06:
		*b = bcd(d.wday + 1);
		break;
	case 0x07:
		*b = bcd(d.mday);
		break;
	case 0x08:
		*b = bcd(d.mon);
		break;
	case 0x09:
		*b = bcd(d.year % 100);
		break;
	case 0x32:
		*b = bcd(d.year / 100);
		break;
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
