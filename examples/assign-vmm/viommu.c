/* SPDX-License-Identifier: MIT */
/*
 * --viommu: a virtio-iommu device (virtio 1.x, device ID 23, over
 * virtio-pci: virtio.c) that puts the assigned devices behind an IOMMU the
 * guest can see and program. The ACPI VIOT table (acpi.c) tells the guest
 * which endpoints it translates: each assigned device, endpoint ID = its
 * PCI requester ID (bus 0: slot << 3).
 *
 * The guest's view drives libassign's guest memory policy (dma.c): every
 * endpoint has a host address space of its own, in identity (map-all)
 * while the endpoint bypasses the IOMMU and in the guest-IOMMU policy
 * while it is attached to a translated domain, where each MAP and UNMAP of
 * the domain is forwarded to the host IOMMU of each of its endpoints. A
 * stock Linux guest puts every endpoint in a domain of its own, so one
 * guest request is one host request; a domain with several endpoints (a
 * guest VFIO container with two devices) costs one host request per
 * endpoint. docs/guestmem.md and README.md say why it is done this way.
 *
 * What the device offers (features): MAP_UNMAP; INPUT_RANGE, the IOVAs
 * every endpoint's host IOMMU can map (the intersection of their IOVA
 * ranges' hulls; the holes inside go out as reserved regions);
 * DOMAIN_RANGE 0-65535; PROBE, which reports per endpoint the host's
 * reserved regions as libassign reads them (the MSI doorbell window as an
 * MSI region, the rest as reserved); BYPASS_CONFIG, with the bypass field
 * 1 at boot (endpoints the guest has not attached reach all RAM, as on
 * QEMU with boot-bypass=on). The page-size mask is the host IOMMUs'
 * (the pages all of them support). No MMIO mapping flag, no fault
 * events: the host IOMMU faults are the host's.
 *
 * Requests are served synchronously, on the vCPU thread that notifies the
 * request queue, under the transport's lock. Each is checked before the
 * host sees it; a bad one gets its virtio-iommu error status and changes
 * nothing:
 *
 *   ATTACH  reserved bytes or unknown flags: INVAL; no such endpoint:
 *           NOENT; domain outside the range: RANGE; bypass flag unlike the
 *           domain's: INVAL; a domain whose mappings overlap the
 *           endpoint's reserved regions: UNSUPP; the host cannot follow
 *           (map-all fails): NOMEM or DEVERR, endpoint left detached with
 *           nothing reachable
 *   DETACH  no such endpoint: NOENT; not attached to that domain: INVAL
 *   MAP     no such domain: NOENT; bypass domain, unknown flags, end
 *           before start, overlap with a mapping: INVAL; not aligned to
 *           the page granule, end or physical end past 2^64, outside the
 *           input range, over a reserved region: RANGE; not guest RAM:
 *           FAULT; past the domain's budget (VIOMMU_MAX_MAPPINGS) or the
 *           host's DMA entries: NOMEM
 *   UNMAP   no such domain: NOENT; bypass domain, end before start: INVAL;
 *           would split a mapping: RANGE. A range with nothing mapped is
 *           not an error (the spec's example 1)
 *   PROBE   no such endpoint: NOENT; property buffer smaller than
 *           probe_size: INVAL
 *
 * A request whose status cannot be written (no device-writable tail) or of
 * an unknown type is returned unwritten, used length 0; a chain the
 * transport cannot parse likewise (virtio.c).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <libassign/libassign.h>
#include <linux/virtio_config.h>
#include <linux/virtio_iommu.h>
#include <search.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vmm.h"

#define VIRTIO_ID_IOMMU 23
#define REQ_QUEUE 0
#define EVT_QUEUE 1
#define RESV_PROP_LEN 24 /* struct virtio_iommu_probe_resv_mem */
#define MAX_RESV 32 /* reserved regions per endpoint */
#define DOMAIN_LAST 0xffffu
#define REQ_MAX 128 /* readable bytes we look at */
#define RESP_MAX 4096u /* device-writable bytes we fill */

struct vmapping { /* one MAP of a domain */
	uint64_t iova, last, gpa;
	uint32_t flags;
};

struct vdomain {
	uint32_t id;
	bool bypass;
	unsigned nendpoints;
	void *tree; /* tsearch() tree of struct vmapping */
	size_t nmappings;
	struct vdomain *next;
};

struct vresv {
	uint64_t start, last;
	uint8_t subtype; /* VIRTIO_IOMMU_RESV_MEM_T_* */
};

struct vendpoint {
	uint32_t id;
	void *ep; /* the host side (viommu_host_ops) */
	struct vdomain *domain; /* NULL: not attached */
	struct vresv resv[MAX_RESV];
	size_t nresv;
};

struct viommu {
	struct vm *vm;
	const struct viommu_host_ops *ops;
	struct virtio_dev *vdev;
	uint64_t features; /* negotiated */
	uint64_t pgsizes;
	uint64_t input_start, input_last;
	uint32_t probe_size;
	uint8_t bypass;
	struct vendpoint eps[VMM_MAX_DEVICES];
	size_t neps;
	struct vdomain *domains;
	uint16_t epids[VMM_MAX_DEVICES]; /* for the VIOT */
	struct viommu_stats stats;
	unsigned logged; /* guest-caused messages so far */
};

static uint32_t le32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}
static uint64_t le64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}
static void put16(uint8_t *p, uint16_t v)
{
	memcpy(p, &v, 2);
}
static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}
static void put64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

/* Messages a guest can cause: with --verbose, and only the first few. */
#define GUEST_LOG_MAX 32
static void guest_log(struct viommu *v, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void guest_log(struct viommu *v, const char *fmt, ...)
{
	char buf[256];
	va_list ap;

	if (v->logged >= GUEST_LOG_MAX)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	v->logged++;
	vmm_info("viommu: %s%s", buf,
		 v->logged == GUEST_LOG_MAX ? " (no more such messages)" : "");
}

/* ---- the mappings of a domain ----------------------------------------
 * Disjoint ranges in a tsearch() tree: two ranges compare equal when they
 * overlap, so a lookup with [a, b] finds a mapping that meets it. */

static int range_cmp(const void *a, const void *b)
{
	const struct vmapping *x = a, *y = b;

	if (x->last < y->iova)
		return -1;
	if (x->iova > y->last)
		return 1;
	return 0;
}

static struct vmapping *find(struct vdomain *d, uint64_t first, uint64_t last)
{
	struct vmapping key = { .iova = first, .last = last };
	void *n = tfind(&key, &d->tree, range_cmp);

	return n ? *(struct vmapping **)n : NULL;
}

static void forget(struct vdomain *d, struct vmapping *m)
{
	tdelete(m, &d->tree, range_cmp);
	d->nmappings--;
	free(m);
}

/* ---- domains and endpoints ----------------------------------------------- */

static struct vdomain *domain_find(struct viommu *v, uint32_t id)
{
	for (struct vdomain *d = v->domains; d; d = d->next)
		if (d->id == id)
			return d;
	return NULL;
}

static struct vendpoint *endpoint_find(struct viommu *v, uint32_t id)
{
	for (size_t i = 0; i < v->neps; i++)
		if (v->eps[i].id == id)
			return &v->eps[i];
	return NULL;
}

static void domain_free(struct viommu *v, struct vdomain *d)
{
	for (struct vdomain **p = &v->domains; *p; p = &(*p)->next) {
		if (*p == d) {
			*p = d->next;
			break;
		}
	}
	tdestroy(d->tree, free);
	free(d);
}

static bool overlaps_resv(const struct vendpoint *e, uint64_t first,
			  uint64_t last)
{
	for (size_t i = 0; i < e->nresv; i++)
		if (first <= e->resv[i].last && e->resv[i].start <= last)
			return true;
	return false;
}

/* The host side of an endpoint takes its new state: translated (nothing
 * reachable but what is mapped next) or bypass. */
static int host_mode(struct viommu *v, struct vendpoint *e, bool translated)
{
	int r = v->ops->set_translated(e->ep, translated);

	if (r < 0)
		guest_log(v, "endpoint %#x: host cannot switch to %s: %s",
			  e->id, translated ? "translation" : "bypass",
			  strerror(-r));
	return r;
}

/* Detach @e from its domain (which goes when it is left empty). The host
 * side is not touched. */
static void unlink_endpoint(struct viommu *v, struct vendpoint *e)
{
	struct vdomain *d = e->domain;

	if (!d)
		return;
	e->domain = NULL;
	if (--d->nendpoints == 0)
		domain_free(v, d);
}

/* An endpoint that is not attached: bypass or nothing, by the config. */
static int host_unattached(struct viommu *v, struct vendpoint *e)
{
	int r = host_mode(v, e, !v->bypass);

	if (r < 0 && v->bypass)
		host_mode(v, e, true); /* at least nothing reachable */
	return r;
}

static uint8_t errno_status(int r)
{
	switch (r) {
	case 0:
		return VIRTIO_IOMMU_S_OK;
	case -EFAULT:
	case -EACCES:
		return VIRTIO_IOMMU_S_FAULT;
	case -ENOSPC:
	case -ENOMEM:
		return VIRTIO_IOMMU_S_NOMEM;
	case -ERANGE:
		return VIRTIO_IOMMU_S_RANGE;
	case -EEXIST:
	case -EINVAL:
		return VIRTIO_IOMMU_S_INVAL;
	default:
		return VIRTIO_IOMMU_S_DEVERR;
	}
}

struct replay {
	struct viommu *v;
	struct vendpoint *e;
	int r;
};

static void replay_one(const void *node, VISIT which, void *data)
{
	const struct vmapping *m = *(struct vmapping *const *)node;
	struct replay *rp = data;

	/* a mapping without permissions reaches nothing: no host mapping */
	if ((which != postorder && which != leaf) || rp->r < 0 || !m->flags)
		return;
	rp->r = rp->v->ops->map(rp->e->ep, m->iova, m->gpa,
				m->last - m->iova + 1, m->flags);
}

/* ---- requests ------------------------------------------------------------ */

static uint8_t req_attach(struct viommu *v, const uint8_t *in)
{
	uint32_t dom = le32(in + 4), epid = le32(in + 8), flags = le32(in + 12);
	bool bypass = flags & VIRTIO_IOMMU_ATTACH_F_BYPASS;
	struct vendpoint *e;
	struct vdomain *d, *fresh = NULL;
	struct replay rp;
	int r;

	if (le32(in + 16) ||
	    (flags & ~(uint32_t)VIRTIO_IOMMU_ATTACH_F_BYPASS) ||
	    (bypass && !(v->features & (1ull << VIRTIO_IOMMU_F_BYPASS_CONFIG))))
		return VIRTIO_IOMMU_S_INVAL;
	e = endpoint_find(v, epid);
	if (!e)
		return VIRTIO_IOMMU_S_NOENT;
	if (dom > DOMAIN_LAST)
		return VIRTIO_IOMMU_S_RANGE;
	d = domain_find(v, dom);
	if (d && d->bypass != bypass)
		return VIRTIO_IOMMU_S_INVAL;
	if (d && e->domain == d)
		return VIRTIO_IOMMU_S_OK;
	if (d) { /* its mappings must suit e */
		rp.r = 0;
		for (size_t i = 0; i < e->nresv && !rp.r; i++)
			if (find(d, e->resv[i].start, e->resv[i].last))
				rp.r = -1;
		if (rp.r)
			return VIRTIO_IOMMU_S_UNSUPP;
	} else {
		fresh = calloc(1, sizeof(*fresh));
		if (!fresh)
			return VIRTIO_IOMMU_S_NOMEM;
		fresh->id = dom;
		fresh->bypass = bypass;
		d = fresh;
	}
	/* The host side leaves the old domain first (a translated space
	 * drops its mappings), then takes the new one's. */
	r = host_mode(v, e, !bypass);
	if (r == 0 && !bypass) {
		rp = (struct replay){ v, e, 0 };
		twalk_r(d->tree, replay_one, &rp);
		r = rp.r;
	}
	unlink_endpoint(v, e);
	if (r < 0) {
		/* neither domain: nothing of the old one may stay reachable,
		 * and the new one could not be followed */
		host_mode(v, e, true);
		free(fresh);
		return errno_status(r);
	}
	if (fresh) {
		fresh->next = v->domains;
		v->domains = fresh;
	}
	e->domain = d;
	d->nendpoints++;
	return VIRTIO_IOMMU_S_OK;
}

static uint8_t req_detach(struct viommu *v, const uint8_t *in)
{
	uint32_t dom = le32(in + 4), epid = le32(in + 8);
	struct vendpoint *e = endpoint_find(v, epid);

	if (!e)
		return VIRTIO_IOMMU_S_NOENT;
	if (!e->domain || e->domain->id != dom)
		return VIRTIO_IOMMU_S_INVAL;
	unlink_endpoint(v, e);
	/* nothing of the domain stays reachable, whatever comes next */
	if (host_unattached(v, e) < 0)
		return VIRTIO_IOMMU_S_NOMEM;
	return VIRTIO_IOMMU_S_OK;
}

static uint8_t req_map(struct viommu *v, const uint8_t *in)
{
	uint32_t dom = le32(in + 4), flags = le32(in + 32);
	uint64_t start = le64(in + 8), last = le64(in + 16);
	uint64_t phys = le64(in + 24), gran = v->pgsizes & -v->pgsizes;
	uint64_t size;
	uint32_t perms = 0;
	struct vdomain *d = domain_find(v, dom);
	struct vmapping *m;
	size_t done = 0;
	int r = 0;

	if (!d)
		return VIRTIO_IOMMU_S_NOENT;
	if (d->bypass ||
	    (flags &
	     ~(uint32_t)(VIRTIO_IOMMU_MAP_F_READ | VIRTIO_IOMMU_MAP_F_WRITE)) ||
	    last < start)
		return VIRTIO_IOMMU_S_INVAL;
	if (last == UINT64_MAX || ((start | phys | (last + 1)) & (gran - 1)))
		return VIRTIO_IOMMU_S_RANGE;
	size = last - start + 1;
	if (phys + size - 1 < phys || start < v->input_start ||
	    last > v->input_last)
		return VIRTIO_IOMMU_S_RANGE;
	for (size_t i = 0; i < v->neps; i++)
		if (v->eps[i].domain == d &&
		    overlaps_resv(&v->eps[i], start, last))
			return VIRTIO_IOMMU_S_RANGE;
	if (find(d, start, last))
		return VIRTIO_IOMMU_S_INVAL;
	if (d->nmappings >= VIOMMU_MAX_MAPPINGS)
		return VIRTIO_IOMMU_S_NOMEM;
	m = malloc(sizeof(*m));
	if (!m)
		return VIRTIO_IOMMU_S_NOMEM;
	*m = (struct vmapping){ start, last, phys, flags };
	if (flags & VIRTIO_IOMMU_MAP_F_READ)
		perms |= ASSIGN_DMA_F_READ;
	if (flags & VIRTIO_IOMMU_MAP_F_WRITE)
		perms |= ASSIGN_DMA_F_WRITE;
	/* A mapping without either permission reaches nothing: the host
	 * has no such mapping, the domain records it. */
	for (; perms && done < v->neps && r == 0; done++)
		if (v->eps[done].domain == d)
			r = v->ops->map(v->eps[done].ep, start, phys, size,
					perms);
	if (r < 0) {
		for (size_t i = 0; i + 1 < done; i++)
			if (v->eps[i].domain == d)
				v->ops->unmap(v->eps[i].ep, start, size);
		free(m);
		guest_log(v, "MAP domain %u %#llx-%#llx -> %#llx refused: %s",
			  dom, (unsigned long long)start,
			  (unsigned long long)last, (unsigned long long)phys,
			  strerror(-r));
		return errno_status(r);
	}
	m->flags = perms;
	if (!tsearch(m, &d->tree, range_cmp)) {
		for (size_t i = 0; perms && i < v->neps; i++)
			if (v->eps[i].domain == d)
				v->ops->unmap(v->eps[i].ep, start, size);
		free(m);
		return VIRTIO_IOMMU_S_NOMEM;
	}
	d->nmappings++;
	return VIRTIO_IOMMU_S_OK;
}

static uint8_t req_unmap(struct viommu *v, const uint8_t *in)
{
	uint32_t dom = le32(in + 4);
	uint64_t start = le64(in + 8), last = le64(in + 16);
	struct vdomain *d = domain_find(v, dom);
	struct vmapping *m;
	uint8_t status = VIRTIO_IOMMU_S_OK;

	if (!d)
		return VIRTIO_IOMMU_S_NOENT;
	if (d->bypass || last < start)
		return VIRTIO_IOMMU_S_INVAL;
	/* no split: the ends must not fall inside a mapping's middle */
	m = find(d, start, start);
	if (m && m->iova < start)
		return VIRTIO_IOMMU_S_RANGE;
	m = find(d, last, last);
	if (m && m->last > last)
		return VIRTIO_IOMMU_S_RANGE;
	while ((m = find(d, start, last))) {
		for (size_t i = 0; m->flags && i < v->neps; i++) {
			int r;

			if (v->eps[i].domain != d)
				continue;
			r = v->ops->unmap(v->eps[i].ep, m->iova,
					  m->last - m->iova + 1);
			if (r < 0)
				status = VIRTIO_IOMMU_S_DEVERR;
		}
		forget(d, m);
	}
	return status;
}

/* PROBE: the endpoint's reserved regions, then zeroes. */
static uint8_t req_probe(struct viommu *v, const uint8_t *in, uint8_t *props,
			 size_t len)
{
	struct vendpoint *e = endpoint_find(v, le32(in + 4));

	if (!e)
		return VIRTIO_IOMMU_S_NOENT;
	if (len < v->probe_size)
		return VIRTIO_IOMMU_S_INVAL;
	memset(props, 0, len);
	for (size_t i = 0; i < e->nresv; i++) {
		uint8_t *p = props + i * RESV_PROP_LEN;

		put16(p, VIRTIO_IOMMU_PROBE_T_RESV_MEM);
		put16(p + 2, RESV_PROP_LEN - 4);
		p[4] = e->resv[i].subtype;
		put64(p + 8, e->resv[i].start);
		put64(p + 16, e->resv[i].last);
	}
	return VIRTIO_IOMMU_S_OK;
}

/* The readable size of each request type, without the tail. */
static size_t req_len(uint8_t type)
{
	switch (type) {
	case VIRTIO_IOMMU_T_ATTACH:
		return 20;
	case VIRTIO_IOMMU_T_DETACH:
		return 20;
	case VIRTIO_IOMMU_T_MAP:
		return 36;
	case VIRTIO_IOMMU_T_UNMAP:
		return 28;
	case VIRTIO_IOMMU_T_PROBE:
		return 72;
	default:
		return 0;
	}
}

size_t viommu_request(struct viommu *v, const uint8_t *in, size_t inlen,
		      uint8_t *out, size_t outlen)
{
	uint8_t req[REQ_MAX] = { 0 };
	uint8_t type, status;

	if (inlen < 1 || outlen < 4)
		return 0; /* no type, or no room for a status */
	type = in[0];
	if (!req_len(type) || (type == VIRTIO_IOMMU_T_PROBE &&
			       !(v->features & (1ull << VIRTIO_IOMMU_F_PROBE))))
		return 0; /* unknown: returned unwritten */
	__atomic_fetch_add(&v->stats.requests[type], 1, __ATOMIC_RELAXED);
	memset(out, 0, outlen);
	memcpy(req, in, inlen < req_len(type) ? inlen : req_len(type));
	if (inlen < req_len(type))
		status = VIRTIO_IOMMU_S_INVAL;
	else if (type == VIRTIO_IOMMU_T_ATTACH)
		status = req_attach(v, req);
	else if (type == VIRTIO_IOMMU_T_DETACH)
		status = req_detach(v, req);
	else if (type == VIRTIO_IOMMU_T_MAP)
		status = req_map(v, req);
	else if (type == VIRTIO_IOMMU_T_UNMAP)
		status = req_unmap(v, req);
	else
		status = req_probe(v, req, out, outlen - 4);
	if (status != VIRTIO_IOMMU_S_OK) {
		__atomic_fetch_add(&v->stats.errors, 1, __ATOMIC_RELAXED);
		guest_log(v, "request type %u: status %u", type, status);
	}
	out[outlen - 4] = status;
	return outlen;
}

/* ---- the virtio device --------------------------------------------------- */

#define FEATURES                                                               \
	((1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_IOMMU_F_INPUT_RANGE) | \
	 (1ull << VIRTIO_IOMMU_F_DOMAIN_RANGE) |                               \
	 (1ull << VIRTIO_IOMMU_F_MAP_UNMAP) | (1ull << VIRTIO_IOMMU_F_PROBE) | \
	 (1ull << VIRTIO_IOMMU_F_BYPASS_CONFIG))

static void build_cfg(const struct viommu *v, uint8_t *c)
{
	memset(c, 0, sizeof(struct virtio_iommu_config));
	put64(c + 0, v->pgsizes);
	put64(c + 8, v->input_start);
	put64(c + 16, v->input_last);
	put32(c + 24, 0);
	put32(c + 28, DOMAIN_LAST);
	put32(c + 32, v->probe_size);
	c[36] = v->bypass;
}

static void config_read(void *opaque, uint32_t off, void *data, unsigned len)
{
	uint8_t c[sizeof(struct virtio_iommu_config)];

	build_cfg(opaque, c);
	memcpy(data, c + off, len); /* virtio.c checked the bounds */
}

/* Only bypass is the driver's, with BYPASS_CONFIG: endpoints not attached
 * follow it at once. */
static void config_write(void *opaque, uint32_t off, const void *data,
			 unsigned len)
{
	struct viommu *v = opaque;
	uint32_t at = offsetof(struct virtio_iommu_config, bypass);
	uint8_t b;

	if (!(v->features & (1ull << VIRTIO_IOMMU_F_BYPASS_CONFIG)) ||
	    off > at || off + len <= at)
		return;
	b = ((const uint8_t *)data)[at - off] & 1;
	if (b == v->bypass)
		return;
	v->bypass = b;
	for (size_t i = 0; i < v->neps; i++)
		if (!v->eps[i].domain)
			host_unattached(v, &v->eps[i]);
}

static void set_features(void *opaque, uint64_t features)
{
	struct viommu *v = opaque;

	v->features = features;
}

/* Device reset: no endpoint attached, the bypass config as it was. */
static void reset(void *opaque)
{
	struct viommu *v = opaque;

	v->features = 0;
	for (size_t i = 0; i < v->neps; i++) {
		bool was = v->eps[i].domain != NULL;

		unlink_endpoint(v, &v->eps[i]);
		if (was)
			host_unattached(v, &v->eps[i]);
	}
}

static void notify(void *opaque, struct virtio_dev *vd, uint16_t q)
{
	struct viommu *v = opaque;
	uint8_t in[REQ_MAX], out[RESP_MAX];
	struct virtq_req req;
	struct timespec t0, t1;
	int r;

	if (q != REQ_QUEUE)
		return; /* the event queue: we send none */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while ((r = virtq_pop(vd, q, &req)) != 0) {
		size_t n = 0, inlen;

		if (r > 0 && req.wlen <= sizeof(out)) {
			inlen = virtq_read(&req, 0, in, sizeof(in));
			if (inlen > req.rlen)
				inlen = req.rlen;
			n = viommu_request(v, in, inlen, out, req.wlen);
			virtq_write(&req, 0, out, n);
		} else {
			__atomic_fetch_add(&v->stats.malformed, 1,
					   __ATOMIC_RELAXED);
			guest_log(v,
				  "request chain %u malformed (%llu bytes "
				  "writable): returned unused",
				  req.head, (unsigned long long)req.wlen);
		}
		virtq_push(vd, q, &req, (uint32_t)n);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	__atomic_fetch_add(&v->stats.notifies, 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&v->stats.busy_ns,
			   (uint64_t)((t1.tv_sec - t0.tv_sec) * 1000000000LL +
				      (t1.tv_nsec - t0.tv_nsec)),
			   __ATOMIC_RELAXED);
}

static const struct virtio_model viommu_model = {
	.device_id = VIRTIO_ID_IOMMU,
	.class_code = 0x088000, /* system peripheral, other */
	.features = FEATURES,
	.nqueues = 2,
	.config_len = sizeof(struct virtio_iommu_config),
	.config_read = config_read,
	.config_write = config_write,
	.set_features = set_features,
	.reset = reset,
	.notify = notify,
};

/* ---- setup --------------------------------------------------------------- */

int viommu_new(struct vm *vm, const struct viommu_host_ops *ops,
	       struct viommu **ret)
{
	struct viommu *v = calloc(1, sizeof(*v));

	if (!v)
		return -ENOMEM;
	v->vm = vm;
	v->ops = ops;
	v->bypass = 1;
	v->pgsizes = ~0xfffull; /* narrowed by each endpoint */
	v->input_start = 0;
	v->input_last = UINT64_MAX;
	v->probe_size = RESV_PROP_LEN;
	*ret = v;
	return 0;
}

/* Sort and add @n regions of @add to @e, leaving out what overlaps a region
 * already there; false when there is no room. */
static bool resv_add(struct vendpoint *e, uint64_t start, uint64_t last,
		     uint8_t subtype)
{
	size_t i;

	if (start > last || overlaps_resv(e, start, last))
		return true;
	if (e->nresv == MAX_RESV)
		return false;
	for (i = e->nresv; i > 0 && e->resv[i - 1].start > start; i--)
		e->resv[i] = e->resv[i - 1];
	e->resv[i] = (struct vresv){ start, last, subtype };
	e->nresv++;
	return true;
}

int viommu_add_endpoint(struct viommu *v, uint32_t id, void *ep,
			const struct viommu_geometry *g)
{
	struct vendpoint *e;
	bool msi = false, ok = true;

	if (v->neps == VMM_MAX_DEVICES || endpoint_find(v, id) || !g->nranges)
		return -EINVAL;
	e = &v->eps[v->neps];
	memset(e, 0, sizeof(*e));
	e->id = id;
	e->ep = ep;
	/* the host's reserved regions: the MSI doorbell window as the
	 * endpoint's MSI region (the guest then leaves MSIs untranslated),
	 * the others reserved */
	for (size_t i = 0; i < g->nresv && ok; i++) {
		bool is_msi = !msi && !strcmp(g->resv[i].type, "msi");

		ok = resv_add(e, g->resv[i].start, g->resv[i].last,
			      is_msi ? VIRTIO_IOMMU_RESV_MEM_T_MSI :
				       VIRTIO_IOMMU_RESV_MEM_T_RESERVED);
		msi |= is_msi;
	}
	/* holes in the host's IOVA ranges: reserved too */
	for (size_t i = 0; i + 1 < g->nranges && ok; i++)
		ok = resv_add(e, g->ranges[i].last + 1,
			      g->ranges[i + 1].start - 1,
			      VIRTIO_IOMMU_RESV_MEM_T_RESERVED);
	if (!ok)
		return -E2BIG;
	v->pgsizes &= g->pgsizes;
	if (g->ranges[0].start > v->input_start)
		v->input_start = g->ranges[0].start;
	if (g->ranges[g->nranges - 1].last < v->input_last)
		v->input_last = g->ranges[g->nranges - 1].last;
	if (e->nresv * RESV_PROP_LEN > v->probe_size)
		v->probe_size = (uint32_t)(e->nresv * RESV_PROP_LEN);
	v->neps++;
	return 0;
}

int viommu_plug(struct viommu *v)
{
	if (!v->pgsizes || v->input_start > v->input_last)
		return -ERANGE;
	return virtio_pci_add(v->vm, &viommu_model, v, &v->vdev);
}

int viommu_slot(const struct viommu *v)
{
	return v->vdev ? virtio_pci_slot(v->vdev) : -1;
}

void viommu_get_stats(const struct viommu *v, struct viommu_stats *st)
{
	for (size_t i = 0; i < sizeof(st->requests) / sizeof(st->requests[0]);
	     i++)
		st->requests[i] = __atomic_load_n(&v->stats.requests[i],
						  __ATOMIC_RELAXED);
	st->errors = __atomic_load_n(&v->stats.errors, __ATOMIC_RELAXED);
	st->malformed = __atomic_load_n(&v->stats.malformed, __ATOMIC_RELAXED);
	st->notifies = __atomic_load_n(&v->stats.notifies, __ATOMIC_RELAXED);
	st->busy_ns = __atomic_load_n(&v->stats.busy_ns, __ATOMIC_RELAXED);
}

/* What the host IOMMU of a device allows, from libassign */
static int host_geometry(struct vm *vm, struct assigned *d,
			 struct viommu_geometry *g)
{
	struct assign_iommu *io = dma_space_iommu(assign_device_space(d));
	int r;

	memset(g, 0, sizeof(*g));
	r = assign_iommu_get_pgsizes(io, &g->pgsizes);
	if (r == 0)
		r = assign_iommu_get_iova_ranges(io, &g->ranges, &g->nranges);
	if (r == 0)
		r = assign_iommu_get_reserved_regions(io, &g->resv, &g->nresv);
	if (r < 0)
		vmm_err("--viommu: %s: %s", assign_device_name(d),
			assign_ctx_get_last_error(vm->ctx));
	else if (!g->nranges)
		vmm_err("--viommu: %s: the host IOMMU allows no IOVA at all",
			assign_device_name(d));
	return r < 0 ? r : g->nranges ? 0 : -ERANGE;
}

int viommu_setup(struct vm *vm, struct assigned *const *devs, int n,
		 struct viommu **ret)
{
	struct viommu *v = NULL;
	int r = viommu_new(vm, &dma_viommu_ops, &v);

	for (int i = 0; r == 0 && i < n; i++) {
		struct viommu_geometry g;
		uint16_t id = (uint16_t)(assign_device_slot(devs[i]) << 3);

		r = host_geometry(vm, devs[i], &g);
		if (r == 0)
			r = viommu_add_endpoint(
				v, id, assign_device_space(devs[i]), &g);
		if (r == -E2BIG)
			vmm_err("--viommu: %s: the host reserves more than %d "
				"IOVA ranges; the virtio-iommu cannot report "
				"them all",
				assign_device_name(devs[i]), MAX_RESV);
		if (r == 0)
			v->epids[i] = id;
	}
	if (r == 0) {
		r = viommu_plug(v);
		if (r == -ERANGE)
			vmm_err("--viommu: the host IOMMUs of the devices have "
				"no page size or IOVA range in common; assign "
				"them to separate VMs");
		else if (r < 0)
			vmm_err("--viommu: cannot add the virtio-iommu: %s",
				strerror(-r));
	}
	if (r < 0) {
		viommu_free(v);
		return r;
	}
	*ret = v;
	return 0;
}

void viommu_get_viot(const struct viommu *v, struct acpi_viot *viot)
{
	viot->iommu_bdf = (uint16_t)(viommu_slot(v) << 3);
	viot->endpoints = v->epids;
	viot->nendpoints = v->neps;
}

/* For the statistics port: the requests, and per endpoint its host side */
void viommu_log_stats(const struct viommu *v)
{
	struct viommu_stats st;

	viommu_get_stats(v, &st);
	vmm_info("viommu stats: requests attach %llu, detach %llu, map %llu, "
		 "unmap %llu, probe %llu; errors %llu, malformed %llu; "
		 "notifies %llu, busy %llu us",
		 (unsigned long long)st.requests[VIRTIO_IOMMU_T_ATTACH],
		 (unsigned long long)st.requests[VIRTIO_IOMMU_T_DETACH],
		 (unsigned long long)st.requests[VIRTIO_IOMMU_T_MAP],
		 (unsigned long long)st.requests[VIRTIO_IOMMU_T_UNMAP],
		 (unsigned long long)st.requests[VIRTIO_IOMMU_T_PROBE],
		 (unsigned long long)st.errors,
		 (unsigned long long)st.malformed,
		 (unsigned long long)st.notifies,
		 (unsigned long long)(st.busy_ns / 1000));
	for (size_t i = 0; i < v->neps; i++) {
		struct assign_guestmem_stats gs = { .size = sizeof(gs) };

		if (dma_space_get_stats(v->eps[i].ep, &gs) < 0)
			continue;
		vmm_info("viommu stats: endpoint %#x: host mappings %llu "
			 "(%llu bytes), guest maps %llu, guest unmaps %llu, "
			 "splits %llu, merges %llu, host map calls %llu, "
			 "host unmap calls %llu",
			 v->eps[i].id, (unsigned long long)gs.host_mappings,
			 (unsigned long long)gs.mapped_bytes,
			 (unsigned long long)gs.guest_maps,
			 (unsigned long long)gs.guest_unmaps,
			 (unsigned long long)gs.splits,
			 (unsigned long long)gs.merges,
			 (unsigned long long)gs.host_maps,
			 (unsigned long long)gs.host_unmaps);
	}
}

/* The VM is stopped. The host sides are the caller's. */
void viommu_free(struct viommu *v)
{
	if (!v)
		return;
	while (v->domains)
		domain_free(v, v->domains);
	virtio_pci_free(v->vdev);
	free(v);
}
