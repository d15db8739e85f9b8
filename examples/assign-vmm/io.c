/* SPDX-License-Identifier: MIT */
/*
 * Port and MMIO dispatch. Every KVM_EXIT_IO and KVM_EXIT_MMIO lands here
 * and goes to the handler whose range covers the address. Unclaimed reads
 * return all ones, as on a real bus, and unclaimed writes are dropped.
 * Handlers may be added and removed while vCPUs run (a guest moving a BAR),
 * hence the read-write lock.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "vmm.h"

#define MAX_RANGES 64

struct range {
	enum io_space space;
	uint64_t base, len;
	io_handler fn;
	void *opaque;
};

static struct range ranges[MAX_RANGES];
static int nranges;
static pthread_rwlock_t lock = PTHREAD_RWLOCK_INITIALIZER;

int io_register(enum io_space space, uint64_t base, uint64_t len,
		io_handler fn, void *opaque)
{
	int r = -ENOSPC;
	pthread_rwlock_wrlock(&lock);
	for (int i = 0; i < nranges; i++) {
		struct range *o = &ranges[i];
		if (o->space == space && base < o->base + o->len &&
		    o->base < base + len) {
			r = -EBUSY;
			goto out;
		}
	}
	if (nranges < MAX_RANGES) {
		ranges[nranges++] = (struct range){ space, base, len, fn,
						    opaque };
		r = 0;
	}
out:
	pthread_rwlock_unlock(&lock);
	return r;
}

void io_unregister(enum io_space space, uint64_t base, void *opaque)
{
	pthread_rwlock_wrlock(&lock);
	for (int i = 0; i < nranges; i++) {
		if (ranges[i].space == space && ranges[i].base == base &&
		    ranges[i].opaque == opaque) {
			ranges[i] = ranges[--nranges];
			break;
		}
	}
	pthread_rwlock_unlock(&lock);
}

void io_dispatch(enum io_space space, uint64_t addr, void *data,
		 unsigned len, bool is_write)
{
	pthread_rwlock_rdlock(&lock);
	for (int i = 0; i < nranges; i++) {
		struct range *r = &ranges[i];
		if (r->space == space && addr >= r->base &&
		    addr + len <= r->base + r->len) {
			io_handler fn = r->fn;
			void *opaque = r->opaque;
			uint64_t off = addr - r->base;
			pthread_rwlock_unlock(&lock);
			fn(opaque, off, data, len, is_write);
			return;
		}
	}
	pthread_rwlock_unlock(&lock);
	if (!is_write)
		memset(data, 0xff, len);
}
