/* SPDX-License-Identifier: MIT */
/*
 * Messages a guest can cause. A guest repeats at will whatever makes the
 * VMM speak: a BAR put over its own RAM and decoding toggled in a loop
 * would print one line per toggle and flood the host's log. Each such
 * message has a limit of its own (struct vmm_ratelimit, zeroed to start):
 * the first VMM_RATELIMIT_BURST occurrences are printed, then only the
 * 20th, 40th, 80th... with the count, so n occurrences cost about
 * 10 + log2(n / 10) lines; after VMM_RATELIMIT_QUIET seconds without one
 * the count starts again, so a problem that comes back later is said
 * again. libassign bounds its own guest-caused messages the same way
 * (docs/errors.md).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>

#include "vmm.h"

#define VMM_RATELIMIT_BURST 10
#define VMM_RATELIMIT_QUIET 60.0

/* one lock for all limits: only taken when a guest makes the VMM speak */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

/* Count an occurrence: 0 when it is not to be printed, else its number */
static uint64_t pass(struct vmm_ratelimit *rl)
{
	double now = vmm_elapsed();
	uint64_t n = 0;

	pthread_mutex_lock(&lock);
	if (rl->seen && now - rl->last >= VMM_RATELIMIT_QUIET)
		rl->seen = 0;
	rl->last = now;
	if (++rl->seen <= VMM_RATELIMIT_BURST) {
		rl->next = 2 * VMM_RATELIMIT_BURST;
		n = rl->seen;
	} else if (rl->seen == rl->next) {
		rl->next *= 2;
		n = rl->seen;
	}
	pthread_mutex_unlock(&lock);
	return n;
}

static void say(void (*out)(const char *, ...), uint64_t n, const char *fmt,
		va_list ap) __attribute__((format(printf, 3, 0)));

static void say(void (*out)(const char *, ...), uint64_t n, const char *fmt,
		va_list ap)
{
	char msg[768];

	vsnprintf(msg, sizeof msg, fmt, ap);
	if (n < VMM_RATELIMIT_BURST)
		out("%s", msg);
	else if (n == VMM_RATELIMIT_BURST)
		out("%s (%d times; from now on said at the %dth, %dth, %dth... "
		    "time)",
		    msg, VMM_RATELIMIT_BURST, 2 * VMM_RATELIMIT_BURST,
		    4 * VMM_RATELIMIT_BURST, 8 * VMM_RATELIMIT_BURST);
	else
		out("%s (%llu times)", msg, (unsigned long long)n);
}

void vmm_err_limited(struct vmm_ratelimit *rl, const char *fmt, ...)
{
	uint64_t n = pass(rl);
	va_list ap;

	if (!n)
		return;
	va_start(ap, fmt);
	say(vmm_err, n, fmt, ap);
	va_end(ap);
}

void vmm_info_limited(struct vmm_ratelimit *rl, const char *fmt, ...)
{
	uint64_t n;
	va_list ap;

	if (!vmm_verbose)
		return;
	n = pass(rl);
	if (!n)
		return;
	va_start(ap, fmt);
	say(vmm_info, n, fmt, ap);
	va_end(ap);
}
