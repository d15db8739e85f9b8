/* SPDX-License-Identifier: MIT */
/*
 * utc_date() (legacy.c, the CMOS clock's calendar) against the C
 * library's gmtime_r() over every day from 1600 to 2400, at times of day
 * that touch each field's ends, and across the leap days and centuries
 * where such code goes wrong. Exit 0 when every field agrees.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdio.h>
#include <time.h>

#include "vmm.h"

/* legacy.c's other half needs these; this test never calls them */
int io_register(enum io_space space, uint64_t base, uint64_t len, io_handler fn,
		void *opaque)
{
	(void)space, (void)base, (void)len, (void)fn, (void)opaque;
	return -1;
}

void vm_request_stop(struct vm *vm, int code, const char *why)
{
	(void)vm, (void)code, (void)why;
}

static int check(int64_t t)
{
	struct utc_date d;
	struct tm tm;
	time_t tt = (time_t)t;

	if (!gmtime_r(&tt, &tm)) {
		fprintf(stderr, "gmtime_r(%lld) failed\n", (long long)t);
		return 1;
	}
	utc_date(t, &d);
	if (d.year != tm.tm_year + 1900 || d.mon != tm.tm_mon + 1 ||
	    d.mday != tm.tm_mday || d.hour != tm.tm_hour ||
	    d.min != tm.tm_min || d.sec != tm.tm_sec || d.wday != tm.tm_wday) {
		fprintf(stderr,
			"utc_date(%lld) = %04d-%02d-%02d %02d:%02d:%02d wday %d, "
			"gmtime_r says %04d-%02d-%02d %02d:%02d:%02d wday %d\n",
			(long long)t, d.year, d.mon, d.mday, d.hour, d.min,
			d.sec, d.wday, tm.tm_year + 1900, tm.tm_mon + 1,
			tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
			tm.tm_wday);
		return 1;
	}
	return 0;
}

int main(void)
{
	/* 1600-01-01 to 2400-12-31: both sides of the epoch, four
	 * century leap rules (1600 and 2000 leap, 1700-1900, 2100-2300 not) */
	const int64_t first = -11676096000LL, last = 13601088000LL;
	const int64_t tod[] = { 0, 1, 59, 60, 3599, 3600, 43200, 86399 };
	long checked = 0;
	int bad = 0;

	for (int64_t day = first; day <= last && bad < 10; day += 86400) {
		for (size_t i = 0; i < sizeof tod / sizeof tod[0]; i++) {
			bad += check(day + tod[i]);
			checked++;
		}
	}
	if (bad) {
		fprintf(stderr, "test-utc-date: %d of %ld times wrong\n", bad,
			checked);
		return 1;
	}
	printf("test-utc-date: %ld times from 1600 to 2400 agree with "
	       "gmtime_r\n",
	       checked);
	return 0;
}
