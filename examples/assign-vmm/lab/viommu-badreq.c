// SPDX-License-Identifier: MIT
/*
 * viommu-badreq VIOMMU_PCI ENDPOINT_PCI [--budget N]: bad requests to
 * assign-vmm's virtio-iommu, from inside the inner guest (inner-init.sh,
 * "badreq"), with no driver bound to the device.
 *
 * A minimal virtio-pci driver of our own: the device's BAR through sysfs
 * (resource0), one request queue of 8 entries in a locked page whose guest
 * physical address comes from /proc/self/pagemap, requests in another
 * one. Each check sends one request (or one malformed chain) and prints
 * "INNER-BADREQ name PASS|FAIL detail": the status the device must answer,
 * or for what it cannot parse, the buffers returned unwritten (used length
 * 0). In between, good requests show the device still works; at the end
 * everything mapped is unmapped, the statistics port (0x5e0) is read so
 * the VMM logs its host mappings (the lab script wants none left), and the
 * device is reset for the guest's own driver.
 *
 * With --budget N (the host's type1 dma_entry_limit left for the
 * endpoint), N + 1 single-page maps are sent: the last must be answered
 * NOMEM, and everything is unmapped again.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <linux/virtio_config.h>
#include <linux/virtio_iommu.h>
#include <linux/virtio_pci.h>
#include <linux/virtio_ring.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/io.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define QSIZE 8
#define NO_STATUS 0xff /* used length 0: nothing written */

static volatile uint8_t *bar;
static uint32_t common, isr, devcfg, notify_off;
static uint8_t *ring, *buf; /* one page each */
static uint64_t ring_pa, buf_pa;
static struct vring_desc *desc;
static struct vring_avail *avail;
static struct vring_used *used;
static uint16_t avail_idx, used_seen;
static int failures;

static void result(const char *name, bool ok, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void result(const char *name, bool ok, const char *fmt, ...)
{
	char text[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	printf("INNER-BADREQ %s %s %s\n", name, ok ? "PASS" : "FAIL", text);
	fflush(stdout);
	failures += !ok;
}

static void die(const char *what)
{
	printf("INNER-BADREQ setup FAIL %s: %s\n", what, strerror(errno));
	exit(1);
}

/* ---- the device -------------------------------------------------------- */

static void w8(uint32_t off, uint8_t v)
{
	bar[off] = v;
}
static void w16(uint32_t off, uint16_t v)
{
	*(volatile uint16_t *)(bar + off) = v;
}
static void w32(uint32_t off, uint32_t v)
{
	*(volatile uint32_t *)(bar + off) = v;
}
static uint8_t r8(uint32_t off)
{
	return bar[off];
}
static uint32_t r32(uint32_t off)
{
	return *(volatile uint32_t *)(bar + off);
}
static uint64_t cfg64(uint32_t off)
{
	return r32(devcfg + off) | (uint64_t)r32(devcfg + off + 4) << 32;
}

static uint64_t phys_of(void *p)
{
	uint64_t e = 0;
	int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);

	if (fd < 0 || pread(fd, &e, 8, (off_t)((uintptr_t)p / 4096 * 8)) != 8)
		die("pagemap");
	close(fd);
	if (!(e >> 63))
		die("page not present");
	return (e & ((1ull << 55) - 1)) * 4096;
}

/*
 * The device reaches our pages by guest physical address, read once from
 * pagemap; mlock keeps a page in memory but lets compaction move it, and a
 * moved ring has the device write into whatever page took its place (an
 * inner guest once triple-faulted right after an answer). Forbid that
 * before taking any page.
 */
static void keep_pages_in_place(void)
{
	int fd = open("/proc/sys/vm/compact_unevictable_allowed",
		      O_WRONLY | O_CLOEXEC);

	if (fd < 0 || write(fd, "0\n", 2) != 2)
		die("cannot set vm.compact_unevictable_allowed to 0");
	close(fd);
}

static void *locked_page(void)
{
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE | MAP_LOCKED,
		       -1, 0);

	if (p == MAP_FAILED)
		die("mmap");
	memset(p, 0, 4096);
	return p;
}

/* The virtio capabilities in config space: where each structure is. */
static void find_caps(const char *pci)
{
	char path[128];
	uint8_t cfg[256];
	int fd;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/config", pci);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0 || pread(fd, cfg, sizeof(cfg), 0) != sizeof(cfg))
		die("config");
	for (uint8_t at = cfg[0x34]; at && at < 0xf0; at = cfg[at + 1]) {
		uint32_t off;

		if (cfg[at] != 0x09)
			continue;
		memcpy(&off, cfg + at + 8, 4);
		switch (cfg[at + 3]) {
		case VIRTIO_PCI_CAP_COMMON_CFG:
			common = off;
			break;
		case VIRTIO_PCI_CAP_ISR_CFG:
			isr = off;
			break;
		case VIRTIO_PCI_CAP_DEVICE_CFG:
			devcfg = off;
			break;
		case VIRTIO_PCI_CAP_NOTIFY_CFG:
			notify_off = off;
			break;
		}
	}
	cfg[4] |= 0x2; /* memory decoding */
	if (pwrite(fd, cfg + 4, 1, 4) != 1)
		die("command register");
	close(fd);
}

static void device_setup(const char *pci)
{
	char path[128];
	uint32_t f0, f1;
	int fd;

	find_caps(pci);
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/resource0", pci);
	fd = open(path, O_RDWR | O_SYNC | O_CLOEXEC);
	if (fd < 0)
		die(path);
	bar = mmap(NULL, 0x4000, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (bar == MAP_FAILED)
		die("mmap resource0");
	keep_pages_in_place();
	ring = locked_page();
	buf = locked_page();
	ring_pa = phys_of(ring);
	buf_pa = phys_of(buf);
	desc = (void *)ring;
	avail = (void *)(ring + 16 * QSIZE);
	used = (void *)(ring + 1024);

	w8(common + VIRTIO_PCI_COMMON_STATUS, 0);
	w8(common + VIRTIO_PCI_COMMON_STATUS,
	   VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER);
	w32(common + VIRTIO_PCI_COMMON_DFSELECT, 0);
	f0 = r32(common + VIRTIO_PCI_COMMON_DF);
	w32(common + VIRTIO_PCI_COMMON_DFSELECT, 1);
	f1 = r32(common + VIRTIO_PCI_COMMON_DF);
	w32(common + VIRTIO_PCI_COMMON_GFSELECT, 0);
	w32(common + VIRTIO_PCI_COMMON_GF, f0);
	w32(common + VIRTIO_PCI_COMMON_GFSELECT, 1);
	w32(common + VIRTIO_PCI_COMMON_GF, f1);
	w8(common + VIRTIO_PCI_COMMON_STATUS,
	   VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
		   VIRTIO_CONFIG_S_FEATURES_OK);
	if (!(r8(common + VIRTIO_PCI_COMMON_STATUS) &
	      VIRTIO_CONFIG_S_FEATURES_OK)) {
		errno = EPROTO;
		die("features");
	}
	w16(common + VIRTIO_PCI_COMMON_Q_SELECT, 0);
	w16(common + VIRTIO_PCI_COMMON_Q_SIZE, QSIZE);
	w32(common + VIRTIO_PCI_COMMON_Q_DESCLO, (uint32_t)ring_pa);
	w32(common + VIRTIO_PCI_COMMON_Q_DESCHI, (uint32_t)(ring_pa >> 32));
	w32(common + VIRTIO_PCI_COMMON_Q_AVAILLO,
	    (uint32_t)(ring_pa + 16 * QSIZE));
	w32(common + VIRTIO_PCI_COMMON_Q_AVAILHI, (uint32_t)(ring_pa >> 32));
	w32(common + VIRTIO_PCI_COMMON_Q_USEDLO, (uint32_t)(ring_pa + 1024));
	w32(common + VIRTIO_PCI_COMMON_Q_USEDHI, (uint32_t)(ring_pa >> 32));
	w16(common + VIRTIO_PCI_COMMON_Q_ENABLE, 1);
	avail->flags = VRING_AVAIL_F_NO_INTERRUPT;
	w8(common + VIRTIO_PCI_COMMON_STATUS,
	   VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER |
		   VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK);
}

/* Put chain @head in the available ring, notify, wait for it to be used;
 * its used length, or -1 on a timeout. */
static int64_t submit(uint16_t head)
{
	struct timespec t0, t;

	avail->ring[avail_idx % QSIZE] = head;
	__atomic_store_n(&avail->idx, (uint16_t)(avail_idx + 1),
			 __ATOMIC_RELEASE);
	avail_idx++;
	w16(notify_off, 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (__atomic_load_n(&used->idx, __ATOMIC_ACQUIRE) == used_seen) {
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (t.tv_sec - t0.tv_sec > 5)
			return -1;
	}
	used_seen++;
	return used->ring[(used_seen - 1) % QSIZE].len;
}

/* A well-formed request: @in readable bytes at buf, @out writable bytes
 * at buf + 2048. The status, or NO_STATUS when the device wrote
 * nothing. */
static int request(const void *in, uint32_t inlen, uint32_t outlen)
{
	int64_t n;

	memcpy(buf, in, inlen);
	memset(buf + 2048, 0xee, outlen);
	desc[0] = (struct vring_desc){ buf_pa, inlen, VRING_DESC_F_NEXT, 1 };
	desc[1] = (struct vring_desc){ buf_pa + 2048, outlen,
				       VRING_DESC_F_WRITE, 0 };
	n = submit(0);
	if (n < 0)
		return -1;
	return n ? buf[2048 + outlen - 4] : NO_STATUS;
}

/* ---- requests ------------------------------------------------------------ */

static int attach(uint32_t dom, uint32_t ep, uint32_t flags, uint8_t rsv)
{
	struct virtio_iommu_req_attach r = {
		.head.type = VIRTIO_IOMMU_T_ATTACH,
		.domain = dom,
		.endpoint = ep,
		.flags = flags,
	};

	r.reserved[0] = rsv;
	return request(&r, sizeof(r) - 4, 4);
}

static int detach(uint32_t dom, uint32_t ep)
{
	struct virtio_iommu_req_detach r = {
		.head.type = VIRTIO_IOMMU_T_DETACH,
		.domain = dom,
		.endpoint = ep,
	};

	return request(&r, sizeof(r) - 4, 4);
}

static int map(uint32_t dom, uint64_t start, uint64_t end, uint64_t phys,
	       uint32_t flags)
{
	struct virtio_iommu_req_map r = {
		.head.type = VIRTIO_IOMMU_T_MAP,
		.domain = dom,
		.virt_start = start,
		.virt_end = end,
		.phys_start = phys,
		.flags = flags,
	};

	return request(&r, sizeof(r) - 4, 4);
}

static int unmap(uint32_t dom, uint64_t start, uint64_t end)
{
	struct virtio_iommu_req_unmap r = {
		.head.type = VIRTIO_IOMMU_T_UNMAP,
		.domain = dom,
		.virt_start = start,
		.virt_end = end,
	};

	return request(&r, sizeof(r) - 4, 4);
}

static const char *sname(int s)
{
	static const char *const n[] = { "OK",	   "IOERR", "UNSUPP",
					 "DEVERR", "INVAL", "RANGE",
					 "NOENT",  "FAULT", "NOMEM" };

	if (s == NO_STATUS)
		return "unwritten";
	if (s < 0)
		return "timeout";
	return s < 9 ? n[s] : "?";
}

static void expect(const char *name, int got, int want)
{
	result(name, got == want, "status %s, want %s", sname(got),
	       sname(want));
}

/* A chain as given, the used length wanted 0 */
static void malformed(const char *name, uint16_t head)
{
	int64_t n = submit(head);

	result(name, n == 0, "used length %lld, want 0 (returned unused)",
	       (long long)n);
}

int main(int argc, char **argv)
{
	uint32_t rw = VIRTIO_IOMMU_MAP_F_READ | VIRTIO_IOMMU_MAP_F_WRITE;
	uint32_t ep, dom = 7;
	uint64_t in_end, ram = 0, pg, ring_now, buf_now;
	long budget = -1;
	uint8_t probe[72 + 4096];

	if (argc >= 5 && !strcmp(argv[3], "--budget"))
		budget = strtol(argv[4], NULL, 0);
	if (argc < 3) {
		fprintf(stderr, "usage: viommu-badreq VIOMMU_PCI ENDPOINT_PCI "
				"[--budget N]\n");
		return 2;
	}
	{
		unsigned b, d, f;

		if (sscanf(argv[2], "%*x:%x:%x.%x", &b, &d, &f) != 3)
			return 2;
		ep = b << 8 | d << 3 | f;
	}
	device_setup(argv[1]);
	pg = cfg64(0) & -cfg64(0);
	in_end = cfg64(16);
	ram = phys_of(locked_page()); /* a page of guest RAM to map */
	result("setup", pg == 4096,
	       "page size mask %#llx, input range "
	       "%#llx-%#llx, probe size %u, bypass %u",
	       (unsigned long long)cfg64(0), (unsigned long long)cfg64(8),
	       (unsigned long long)in_end, r32(devcfg + 32), r8(devcfg + 36));

	/* PROBE: the MSI window among the endpoint's reserved regions */
	{
		struct virtio_iommu_req_probe *p = (void *)probe;
		uint32_t psize = r32(devcfg + 32);
		int st;
		bool msi = false;

		memset(probe, 0, sizeof(probe));
		p->head.type = VIRTIO_IOMMU_T_PROBE;
		p->endpoint = ep;
		st = request(probe, 72, psize + 4);
		for (uint32_t o = 0; st == 0 && o + 24 <= psize; o += 24) {
			uint8_t *q = buf + 2048 + o;
			uint64_t s, e;

			if (q[0] != VIRTIO_IOMMU_PROBE_T_RESV_MEM)
				break;
			memcpy(&s, q + 8, 8);
			memcpy(&e, q + 16, 8);
			printf("INNER-BADREQ-RESV %#llx-%#llx %s\n",
			       (unsigned long long)s, (unsigned long long)e,
			       q[4] == VIRTIO_IOMMU_RESV_MEM_T_MSI ?
				       "msi" :
				       "reserved");
			msi |= q[4] == VIRTIO_IOMMU_RESV_MEM_T_MSI &&
			       s == 0xfee00000 && e == 0xfeefffff;
		}
		result("probe", st == 0 && msi, "status %s, MSI window %s",
		       sname(st), msi ? "reported" : "MISSING");
		p->endpoint = 0xfff8;
		expect("probe-no-endpoint", request(probe, 72, psize + 4),
		       VIRTIO_IOMMU_S_NOENT);
		p->endpoint = ep;
		expect("probe-short-buffer", request(probe, 72, psize),
		       VIRTIO_IOMMU_S_INVAL);
	}

	expect("attach-no-endpoint", attach(dom, 0xfff8, 0, 0),
	       VIRTIO_IOMMU_S_NOENT);
	expect("attach-reserved-set", attach(dom, ep, 0, 1),
	       VIRTIO_IOMMU_S_INVAL);
	expect("attach-unknown-flag", attach(dom, ep, 0x80, 0),
	       VIRTIO_IOMMU_S_INVAL);
	expect("attach-domain-range", attach(0x10000, ep, 0, 0),
	       VIRTIO_IOMMU_S_RANGE);
	expect("attach", attach(dom, ep, 0, 0), VIRTIO_IOMMU_S_OK);
	expect("attach-bypass-mismatch",
	       attach(dom, ep, VIRTIO_IOMMU_ATTACH_F_BYPASS, 0),
	       VIRTIO_IOMMU_S_INVAL);

	expect("map", map(dom, 0x100000, 0x100fff, ram, rw), VIRTIO_IOMMU_S_OK);
	expect("map-overlap", map(dom, 0x100000, 0x100fff, ram, rw),
	       VIRTIO_IOMMU_S_INVAL);
	expect("map-reserved-msi", map(dom, 0xfee00000, 0xfee00fff, ram, rw),
	       VIRTIO_IOMMU_S_RANGE);
	if (in_end < UINT64_MAX - 0x2000)
		expect("map-outside-input-range",
		       map(dom, in_end + 1, in_end + 0x1000, ram, rw),
		       VIRTIO_IOMMU_S_RANGE);
	expect("map-end-overflow", map(dom, 0x200000, UINT64_MAX, ram, rw),
	       VIRTIO_IOMMU_S_RANGE);
	expect("map-phys-overflow",
	       map(dom, 0x200000, 0x201fff, 0xfffffffffffff000ull, rw),
	       VIRTIO_IOMMU_S_RANGE);
	expect("map-end-before-start", map(dom, 0x200000, 0x1fffff, ram, rw),
	       VIRTIO_IOMMU_S_INVAL);
	expect("map-unaligned", map(dom, 0x200800, 0x2017ff, ram, rw),
	       VIRTIO_IOMMU_S_RANGE);
	expect("map-not-ram", map(dom, 0x200000, 0x200fff, 0xd0000000, rw),
	       VIRTIO_IOMMU_S_FAULT);
	expect("map-unknown-flag", map(dom, 0x200000, 0x200fff, ram, 0x8),
	       VIRTIO_IOMMU_S_INVAL);
	expect("map-no-domain", map(99, 0x200000, 0x200fff, ram, rw),
	       VIRTIO_IOMMU_S_NOENT);

	expect("map-two-pages", map(dom, 0x300000, 0x301fff, ram, rw),
	       VIRTIO_IOMMU_S_OK);
	expect("unmap-split", unmap(dom, 0x300000, 0x300fff),
	       VIRTIO_IOMMU_S_RANGE);
	expect("unmap-nothing-there", unmap(dom, 0x400000, 0x400fff),
	       VIRTIO_IOMMU_S_OK);
	expect("unmap-no-domain", unmap(99, 0x300000, 0x301fff),
	       VIRTIO_IOMMU_S_NOENT);
	expect("unmap-end-before-start", unmap(dom, 0x301fff, 0x300000),
	       VIRTIO_IOMMU_S_INVAL);
	expect("unmap-two-pages", unmap(dom, 0x300000, 0x301fff),
	       VIRTIO_IOMMU_S_OK);
	expect("detach-wrong-domain", detach(dom + 1, ep),
	       VIRTIO_IOMMU_S_INVAL);
	expect("detach-no-endpoint", detach(dom, 0xfff8), VIRTIO_IOMMU_S_NOENT);

	if (budget >= 0) {
		int st = 0;
		long n = 0;

		for (; n <= budget && st == 0; n++)
			st = map(dom, 0x10000000 + (uint64_t)n * 0x2000,
				 0x10000fff + (uint64_t)n * 0x2000, ram, rw);
		result("map-beyond-budget",
		       st == VIRTIO_IOMMU_S_NOMEM && n == budget + 1,
		       "map %ld of %ld answered %s, want "
		       "NOMEM at %ld",
		       n, budget + 1, sname(st), budget + 1);
		expect("unmap-budget", unmap(dom, 0x10000000, 0x1fffffff),
		       VIRTIO_IOMMU_S_OK);
	}

	/* what cannot be parsed: returned unwritten */
	{
		uint8_t t = 0x42;
		uint8_t shortmap[8] = { VIRTIO_IOMMU_T_MAP };

		result("unknown-type", request(&t, 1, 4) == NO_STATUS,
		       "buffers returned unwritten");
		expect("short-request", request(shortmap, 8, 4),
		       VIRTIO_IOMMU_S_INVAL);
		result("no-room-for-status",
		       request(shortmap, 8, 2) == NO_STATUS,
		       "buffers returned unwritten");
	}
	desc[0] = (struct vring_desc){ buf_pa, 20, VRING_DESC_F_NEXT, 0 };
	malformed("chain-loop", 0);
	desc[0] = (struct vring_desc){ buf_pa, 4,
				       VRING_DESC_F_WRITE | VRING_DESC_F_NEXT,
				       1 };
	desc[1] = (struct vring_desc){ buf_pa, 20, 0, 0 };
	malformed("readable-after-writable", 0);
	desc[0] = (struct vring_desc){ 0xfed00000, 20, VRING_DESC_F_NEXT, 1 };
	desc[1] =
		(struct vring_desc){ buf_pa + 2048, 4, VRING_DESC_F_WRITE, 0 };
	malformed("buffer-outside-ram", 0);
	desc[0] = (struct vring_desc){ buf_pa, 32, VRING_DESC_F_INDIRECT, 0 };
	malformed("indirect-not-offered", 0);
	desc[0] = (struct vring_desc){ buf_pa, 20, VRING_DESC_F_NEXT, 9 };
	malformed("next-outside-queue", 0);

	/* still working: map and unmap again */
	expect("map-after-bad", map(dom, 0x500000, 0x500fff, ram, rw),
	       VIRTIO_IOMMU_S_OK);
	expect("unmap-all", unmap(dom, 0, in_end & ~0xfffull),
	       VIRTIO_IOMMU_S_OK);
	/* the VMM logs its host mappings: none may be left */
	if (iopl(3) == 0) {
		inb(0x5e0);
		printf("INNER-BADREQ-STATS read\n");
	}
	expect("detach", detach(dom, ep), VIRTIO_IOMMU_S_OK);
	w8(common + VIRTIO_PCI_COMMON_STATUS, 0); /* reset */
	ring_now = phys_of(ring);
	buf_now = phys_of(buf);
	result("pages-stayed", ring_now == ring_pa && buf_now == buf_pa,
	       "ring %#llx, requests %#llx", (unsigned long long)ring_now,
	       (unsigned long long)buf_now);
	fflush(stdout);
	return failures ? 1 : 0;
}
