// SPDX-License-Identifier: MIT
/*
 * Unit test: the thread-safe objects of one context (vpci, guestmem, kvm)
 * driven from several threads at once, each thread failing on purpose
 * with errors of its own and checking, every time, that
 * assign_ctx_get_last_error() gives its own message (the last error is
 * per thread: docs/errors.md). Meant to run under ThreadSanitizer too
 * (docs/testing.md): it reports any race the objects' locks, the error
 * store or the mock kernel leave.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include <libassign/libassign.h>
#include <linux/kvm.h>
#include <linux/vfio.h>

#include "core/sys.h"
#include "mock.h"

#define ADDR "0000:00:03.0"
#define GROUP 7
#define NTHREADS 6
#define ROUNDS 300
#define PG ((uint64_t)0x1000)
#define RAM (NTHREADS * PG)

/* ---- a fake KVM VM fd behind the seam ---------------------------------
 *
 * The mock kernel has no KVM. This wrapper answers KVM_SET_GSI_ROUTING
 * and KVM_IRQFD on one fd number the mock never hands out, and passes
 * everything else to the mock. It has no lock of its own: the kvm object
 * promises to serialize its calls, and ThreadSanitizer checks that.
 */
#define FAKE_VM 9000

static struct {
	const struct assign_sys_ops *real;
	unsigned int pushes;
	int irqfds[64];
	size_t nirqfds;
	/* Reads of the device, counted without a lock: every one comes
	 * through the vpci object, which promises to serialize its use of
	 * the device (ThreadSanitizer checks that), its ROM's included. */
	unsigned long dev_reads;
	int devfd;
} fk;

static int fk_vm_ioctl(unsigned long req, void *arg)
{
	if (req == KVM_SET_GSI_ROUTING) {
		fk.pushes++;
		return 0;
	}
	if (req == KVM_IRQFD) {
		const struct kvm_irqfd *f = arg;

		if (f->flags & KVM_IRQFD_FLAG_DEASSIGN) {
			for (size_t i = 0; i < fk.nirqfds; i++)
				if (fk.irqfds[i] == (int)f->fd) {
					fk.irqfds[i] = fk.irqfds[--fk.nirqfds];
					return 0;
				}
			return -ENOENT;
		}
		if (fk.nirqfds == 64)
			return -ENOSPC;
		fk.irqfds[fk.nirqfds++] = (int)f->fd;
		return 0;
	}
	return -ENOTTY;
}

static int fk_open(void *d, const char *p, int f)
{
	return fk.real->open(d, p, f);
}
static int fk_openat(void *d, int dfd, const char *p, int f)
{
	return fk.real->openat(d, dfd, p, f);
}
static int fk_close(void *d, int fd)
{
	return fk.real->close(d, fd);
}
static int fk_ioctl(void *d, int fd, unsigned long req, void *arg)
{
	if (fd == FAKE_VM)
		return fk_vm_ioctl(req, arg);
	return fk.real->ioctl(d, fd, req, arg);
}
static ssize_t fk_pread(void *d, int fd, void *b, size_t n, uint64_t o)
{
	if (fd == fk.devfd)
		fk.dev_reads++;
	return fk.real->pread(d, fd, b, n, o);
}
static ssize_t fk_pwrite(void *d, int fd, const void *b, size_t n, uint64_t o)
{
	return fk.real->pwrite(d, fd, b, n, o);
}
static ssize_t fk_read(void *d, int fd, void *b, size_t n)
{
	return fk.real->read(d, fd, b, n);
}
static ssize_t fk_write(void *d, int fd, const void *b, size_t n)
{
	return fk.real->write(d, fd, b, n);
}
static int fk_mmap(void *d, void *a, size_t l, int p, int f, int fd, uint64_t o,
		   void **r)
{
	return fk.real->mmap(d, a, l, p, f, fd, o, r);
}
static int fk_munmap(void *d, void *a, size_t l)
{
	return fk.real->munmap(d, a, l);
}
static int fk_madvise(void *d, void *a, size_t l, int adv)
{
	return fk.real->madvise(d, a, l, adv);
}
static ssize_t fk_readlinkat(void *d, int dfd, const char *p, char *b, size_t n)
{
	return fk.real->readlinkat(d, dfd, p, b, n);
}
static int fk_faccessat(void *d, int dfd, const char *p, int m)
{
	return fk.real->faccessat(d, dfd, p, m);
}
static int fk_list_dir(void *d, int dfd, const char *p, char ***names,
		       size_t *n)
{
	return fk.real->list_dir(d, dfd, p, names, n);
}
static int fk_getrlimit(void *d, int res, struct rlimit *rl)
{
	return fk.real->getrlimit(d, res, rl);
}

static int fk_fstat(void *d, int fd, struct stat *st)
{
	return fk.real->fstat(d, fd, st);
}
static ssize_t fk_sendmsg(void *d, int sock, const void *buf, size_t len,
			  const int *fds, size_t nfds)
{
	return fk.real->sendmsg(d, sock, buf, len, fds, nfds);
}
static ssize_t fk_recvmsg(void *d, int sock, void *buf, size_t len, int *fds,
			  size_t maxfds, size_t *nfds)
{
	return fk.real->recvmsg(d, sock, buf, len, fds, maxfds, nfds);
}

static const struct assign_sys_ops fk_ops = {
	.open = fk_open,
	.openat = fk_openat,
	.close = fk_close,
	.ioctl = fk_ioctl,
	.pread = fk_pread,
	.pwrite = fk_pwrite,
	.read = fk_read,
	.write = fk_write,
	.mmap = fk_mmap,
	.munmap = fk_munmap,
	.madvise = fk_madvise,
	.readlinkat = fk_readlinkat,
	.faccessat = fk_faccessat,
	.list_dir = fk_list_dir,
	.getrlimit = fk_getrlimit,
	.fstat = fk_fstat,
	.sendmsg = fk_sendmsg,
	.recvmsg = fk_recvmsg,
};

/* ---- fixture ----------------------------------------------------------- */

struct fx {
	struct mock_kernel *mk;
	struct assign_ctx *ctx;
	struct assign_iommu *iommu;
	struct assign_device *dev;
	struct assign_vpci *vpci;
	struct assign_guestmem *gm;
	struct assign_kvm *kvm;
	uint8_t *ram;
	pthread_barrier_t start;
};

static int setup(void **state)
{
	static struct fx f;
	static struct mock_region_cfg regions[16];
	struct mock_device_cfg cfg;
	struct assign_guestmem_opts go = {
		.size = sizeof(go),
		.policy = ASSIGN_GUESTMEM_GUEST_IOMMU,
	};
	struct assign_guestmem_region reg = {
		.size = sizeof(reg),
		.gpa = 0,
		.length = RAM,
		.fd = -1,
	};

	memset(&f, 0, sizeof(f));
	memset(&fk, 0, sizeof(fk));
	fk.devfd = -1;
	if (mock_kernel_new(&f.mk) < 0)
		return -1;
	mock_device_cfg_default(&cfg, ADDR, GROUP);
	/* The default device and an expansion ROM. */
	if (cfg.nregions >= ARRAY_SIZE(regions))
		return -1;
	memcpy(regions, cfg.regions, cfg.nregions * sizeof(*regions));
	regions[cfg.nregions++] = (struct mock_region_cfg){
		.index = VFIO_PCI_ROM_REGION_INDEX,
		.size = 0x8000,
		.flags = VFIO_REGION_INFO_FLAG_READ,
	};
	cfg.regions = regions;
	if (mock_add_device(f.mk, &cfg) < 0 || mock_ctx_new(f.mk, &f.ctx) < 0)
		return -1;
	fk.real = f.ctx->sys;
	if (assign_ctx_set_sys(f.ctx, &fk_ops, f.ctx->sys_data,
			       f.ctx->sysfs_fd) < 0)
		return -1;
	f.ram = mmap(NULL, RAM, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (f.ram == MAP_FAILED)
		return -1;
	reg.vaddr = f.ram;
	if (assign_iommu_new(f.ctx, NULL, &f.iommu) < 0 ||
	    assign_device_open(f.iommu, ADDR, NULL, &f.dev) < 0 ||
	    assign_vpci_new(f.dev, NULL, &f.vpci) < 0 ||
	    assign_guestmem_new(f.iommu, &go, &f.gm) < 0 ||
	    assign_guestmem_add_regions(f.gm, &reg, 1, NULL, 0, NULL) < 0 ||
	    assign_kvm_new(f.ctx, FAKE_VM, NULL, &f.kvm) < 0) {
		fprintf(stderr, "setup: %s\n",
			assign_ctx_get_last_error(f.ctx));
		return -1;
	}
	fk.devfd = assign_device_get_fd(f.dev);
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	assign_kvm_unref(f->kvm);
	assign_guestmem_unref(f->gm);
	assign_vpci_unref(f->vpci);
	assign_device_unref(f->dev);
	assign_iommu_unref(f->iommu);
	assign_ctx_unref(f->ctx);
	assert_int_equal(mock_open_fds(f->mk), 0);
	assert_int_equal(mock_dma_count(f->mk), 0);
	mock_kernel_free(f->mk);
	munmap(f->ram, RAM);
	return 0;
}

/* ---- the threads ------------------------------------------------------- */

struct worker {
	struct fx *f;
	unsigned int id;
	unsigned int checks; /* messages compared */
	unsigned int bad; /* calls that did not answer as expected */
	char first_bad[640]; /* what went wrong first */
};

static void note_bad(struct worker *w, const char *what, const char *got,
		     const char *want)
{
	if (!w->bad++)
		snprintf(w->first_bad, sizeof(w->first_bad),
			 "thread %u, %s: got \"%.250s\", want \"%.250s\"",
			 w->id, what, got, want);
}

/* @r must be @want_r, and the thread's last error exactly @want. */
static void expect(struct worker *w, const char *what, int r, int want_r,
		   const char *want)
{
	const char *got = assign_ctx_get_last_error(w->f->ctx);

	w->checks++;
	if (r != want_r) {
		char buf[32];

		snprintf(buf, sizeof(buf), "returned %d", r);
		note_bad(w, what, buf, want);
	} else if (strcmp(got, want) != 0) {
		note_bad(w, what, got, want);
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct fx *f = w->f;
	const uint32_t id = w->id;
	const uint64_t iova = (uint64_t)0x100000000 + id * (uint64_t)0x10000000;
	uint32_t bogus_gsi = 2000 + id, gsi, val;
	uint64_t q;
	char want[512];
	int efd = eventfd(0, EFD_CLOEXEC), stray = eventfd(0, EFD_CLOEXEC);
	int r;

	if (efd < 0 || stray < 0) {
		note_bad(w, "eventfd", strerror(errno), "an eventfd");
		goto out;
	}
	pthread_barrier_wait(&f->start);
	for (unsigned int round = 0; round < ROUNDS; round++) {
		/* vpci: a misaligned config read, then accesses that work
		 * (a config read, a trapped BAR read, the MSI-X table). */
		r = assign_vpci_config_read(f->vpci, 0x41 + 4 * id, &val, 4);
		snprintf(want, sizeof(want),
			 "%s: config read of 4 bytes at 0x%x: misaligned", ADDR,
			 0x41 + 4 * id);
		expect(w, "config read", r, -EINVAL, want);
		r = assign_vpci_config_read(f->vpci, 0, &val, 4);
		r |= assign_vpci_bar_read(f->vpci, 0, 0x100 + 8 * id, &q, 8);
		r |= assign_vpci_bar_read(f->vpci, 0, 0x10000, &q, 4);
		r |= assign_vpci_bar_read(f->vpci, ASSIGN_VPCI_ROM_BAR, 8 * id,
					  &q, 4);
		expect(w, "vpci accesses after a failure", r, 0, want);

		/* guestmem: a map the policy refuses, then one it makes. */
		r = assign_guestmem_guest_map(f->gm, iova + 0x800, id * PG, PG,
					      ASSIGN_DMA_F_RW);
		snprintf(want, sizeof(want),
			 "guest memory: guest IOMMU map of IOVA 0x%" PRIx64
			 "+0x%" PRIx64 ": size must be non-zero and both "
			 "aligned to 0x%" PRIx64,
			 iova + 0x800, PG, PG);
		expect(w, "guest map", r, -EINVAL, want);
		r = assign_guestmem_guest_map(f->gm, iova, id * PG, PG,
					      ASSIGN_DMA_F_RW);
		r |= assign_guestmem_guest_unmap(f->gm, iova, PG);
		expect(w, "guest map and unmap after a failure", r, 0, want);

		/* kvm: an unknown GSI, then a route and an irqfd that work. */
		r = assign_kvm_msi_route_set(f->kvm, bogus_gsi, 0xfee00000, 0);
		snprintf(want, sizeof(want), "GSI %u has no MSI route",
			 bogus_gsi);
		expect(w, "MSI route", r, -ENOENT, want);
		r = assign_kvm_msi_route_add(f->kvm, 0xfee00000 + 0x1000 * id,
					     0x40 + id, &gsi);
		if (r == 0) {
			r |= assign_kvm_msi_route_set(f->kvm, gsi, 0xfee00000,
						      0x80 + id);
			r |= assign_kvm_irqfd_add(f->kvm, efd, gsi, -1);
			r |= assign_kvm_irqfd_remove(f->kvm, efd);
			r |= assign_kvm_route_remove(f->kvm, gsi);
		}
		expect(w, "routes and irqfds after a failure", r, 0, want);
		r = assign_kvm_irqfd_remove(f->kvm, stray);
		snprintf(want, sizeof(want), "eventfd %d is not an irqfd here",
			 stray);
		expect(w, "irqfd", r, -ENOENT, want);

		/* Cleared for this thread only; the next failure fills it. */
		assign_ctx_clear_last_error(f->ctx);
		expect(w, "cleared", 0, 0, "");
		r = assign_vpci_bar_read(f->vpci, 0, 0x20000 + 8 * id, &q, 4);
		snprintf(want, sizeof(want),
			 "%s: BAR 0 read of 4 bytes at 0x%x: outside the BAR "
			 "(0x20000 bytes)",
			 ADDR, 0x20000 + 8 * id);
		expect(w, "BAR read", r, -EINVAL, want);
	}
out:
	if (efd >= 0)
		close(efd);
	if (stray >= 0)
		close(stray);
	return NULL;
}

static void test_threads_own_errors(void **state)
{
	struct fx *f = *state;
	struct worker w[NTHREADS];
	pthread_t t[NTHREADS];

	assert_int_equal(pthread_barrier_init(&f->start, NULL, NTHREADS), 0);
	for (unsigned int i = 0; i < NTHREADS; i++) {
		w[i] = (struct worker){ .f = f, .id = i };
		assert_int_equal(
			pthread_create(&t[i], NULL, worker_main, &w[i]), 0);
	}
	for (unsigned int i = 0; i < NTHREADS; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	pthread_barrier_destroy(&f->start);
	for (unsigned int i = 0; i < NTHREADS; i++) {
		if (w[i].bad)
			fail_msg("%u of %u checks failed; first: %s", w[i].bad,
				 w[i].checks, w[i].first_bad);
		assert_int_equal(w[i].checks, ROUNDS * 9);
	}
	/* The main thread failed on nothing: the workers' messages are
	 * theirs alone. */
	assert_string_equal(assign_ctx_get_last_error(f->ctx), "");
	/* Every route, irqfd and guest mapping made was undone. */
	assert_int_equal(fk.nirqfds, 0);
	/* The table reaches KVM before an irqfd is attached when it changed,
	 * and a freed route reaches it at the next call that may push (kvm.h):
	 * one push can carry several threads' changes, so there is no exact
	 * count, but at most one per attach and one per route freed. */
	assert_true(fk.pushes >= 1 && fk.pushes <= 2 * NTHREADS * ROUNDS);
	assert_int_equal(mock_dma_count(f->mk), 0);
	assert_true(fk.dev_reads >= NTHREADS * ROUNDS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_threads_own_errors, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
