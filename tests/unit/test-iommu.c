// SPDX-License-Identifier: MIT
/*
 * Unit tests of the IOMMU object (include/libassign/iommu.h and the
 * iommu_* functions of src/iommu/iommu.h) against the mock kernel, on the
 * type1, iommufd and no-IOMMU backends. Devices are attached through
 * iommu_attach_device(), the interface device.c uses, so these tests do
 * not depend on the device code.
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include <linux/iommufd.h>
#include <linux/vfio.h>

#include "core/sys.h"
#include "iommu/iommu.h"
#include "mock.h"

#define DEV_A "0000:00:03.0" /* group 3 */
#define DEV_B "0000:00:04.0" /* group 4 */
#define DEV_C "0000:00:04.1" /* group 4 too */
#define MB (1ull << 20)
#define PG 4096ull

struct fx {
	struct mock_kernel *mk;
	struct assign_ctx *ctx;
	struct assign_iommu *iommu;
	struct assign_attach att[4];
	const char *addr[4];
	size_t natt;
	void *mem;      /* 64 MiB of anonymous memory, 2 MiB aligned */
	void *base;
	size_t memlen;
};

static void add_dev(struct fx *f, const char *addr, int group,
		    const char *driver)
{
	struct mock_device_cfg cfg;

	mock_device_cfg_default(&cfg, addr, group);
	cfg.driver = driver;
	assert_int_equal(mock_add_device(f->mk, &cfg), 0);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(mock_kernel_new(&f->mk), 0);
	add_dev(f, DEV_A, 3, "vfio-pci");
	add_dev(f, DEV_B, 4, "vfio-pci");
	add_dev(f, DEV_C, 4, "vfio-pci");
	assert_int_equal(mock_ctx_new(f->mk, &f->ctx), 0);
	f->memlen = 66 * MB;
	f->base = mmap(NULL, f->memlen, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	assert_true(f->base != MAP_FAILED);
	f->mem = (void *)(((uintptr_t)f->base + 2 * MB - 1) &
			  ~(uintptr_t)(2 * MB - 1));
	*state = f;
	return 0;
}

static void detach_all(struct fx *f)
{
	while (f->natt) {
		f->natt--;
		iommu_detach_device(f->iommu, &f->att[f->natt]);
	}
}

static int teardown(void **state)
{
	struct fx *f = *state;

	detach_all(f);
	assign_iommu_unref(f->iommu);
	/* Nothing leaks: every fd and DMA mapping is gone. */
	assert_int_equal(mock_dma_count(f->mk), 0);
	assert_int_equal(mock_open_fds(f->mk), 0);
	assign_ctx_unref(f->ctx);
	mock_kernel_free(f->mk);
	munmap(f->base, f->memlen);
	free(f);
	return 0;
}

static struct assign_iommu *new_iommu(struct fx *f,
				      enum assign_iommu_backend b,
				      uint32_t flags)
{
	struct assign_iommu_opts o = {
		.size = sizeof(o), .backend = b, .flags = flags
	};

	assert_int_equal(assign_iommu_new(f->ctx, &o, &f->iommu), 0);
	assert_non_null(f->iommu);
	return f->iommu;
}

/* The IOMMU type the kernel's container has (0: none set). */
static int container_type(struct fx *f)
{
	return mock_container_type(f->mk, assign_iommu_get_fd(f->iommu));
}

static int attach(struct fx *f, const char *addr)
{
	struct assign_attach a;
	int r;

	memset(&a, 0xa5, sizeof(a));
	r = iommu_attach_device(f->iommu, addr, &a);
	if (r == 0) {
		assert_true(a.devfd >= 0);
		f->att[f->natt] = a;
		f->addr[f->natt] = addr;
		f->natt++;
	}
	return r;
}

static void detach(struct fx *f, const char *addr)
{
	for (size_t i = 0; i < f->natt; i++) {
		if (strcmp(f->addr[i], addr) == 0) {
			iommu_detach_device(f->iommu, &f->att[i]);
			f->att[i] = f->att[f->natt - 1];
			f->addr[i] = f->addr[f->natt - 1];
			f->natt--;
			return;
		}
	}
	fail_msg("%s not attached", addr);
}

static const char *err(struct fx *f)
{
	return assign_ctx_get_last_error(f->ctx);
}

#define assert_err_contains(f, s)                                             \
	do {                                                                   \
		if (!strstr(err(f), (s)))                                      \
			fail_msg("last error \"%s\" lacks \"%s\"", err(f), (s)); \
	} while (0)

static char *mem(struct fx *f, uint64_t off)
{
	return (char *)f->mem + off;
}

/* ---------------------------------------------------------------------- */
/* assign_iommu_new() and the trivial accessors */

static void test_new_args(void **state)
{
	struct fx *f = *state;
	struct assign_iommu *sentinel = (struct assign_iommu *)0x1;
	struct assign_iommu_opts o = { .size = sizeof(o) };

	assert_int_equal(assign_iommu_new(NULL, NULL, &sentinel), -EINVAL);
	assert_int_equal(assign_iommu_new(f->ctx, NULL, NULL), -EINVAL);
	o.size = 4;
	assert_int_equal(assign_iommu_new(f->ctx, &o, &sentinel), -EINVAL);
	assert_err_contains(f, "set .size = sizeof(struct assign_iommu_opts)");
	o.size = sizeof(o);
	o.flags = 0x80;
	assert_int_equal(assign_iommu_new(f->ctx, &o, &sentinel), -EINVAL);
	assert_err_contains(f, "unknown flags");
	o.flags = 0;
	o.backend = (enum assign_iommu_backend)42;
	assert_int_equal(assign_iommu_new(f->ctx, &o, &sentinel), -EINVAL);
	assert_err_contains(f, "unknown backend");
	o.backend = ASSIGN_IOMMU_NOIOMMU;
	assert_int_equal(assign_iommu_new(f->ctx, &o, &sentinel), -EPERM);
	assert_err_contains(f, "ASSIGN_IOMMU_F_ALLOW_NOIOMMU");
	/* Untouched on failure. */
	assert_ptr_equal(sentinel, (struct assign_iommu *)0x1);
	assert_int_equal(mock_open_fds(f->mk), 0);
}

static void test_new_bigger_opts(void **state)
{
	struct fx *f = *state;
	struct {
		struct assign_iommu_opts o;
		uint64_t future;
	} big = { .o = { .size = sizeof(big), .backend = ASSIGN_IOMMU_TYPE1 } };
	struct assign_iommu *sentinel = NULL;

	big.future = 1;
	assert_int_equal(assign_iommu_new(f->ctx, &big.o, &sentinel), -EINVAL);
	assert_null(sentinel);
	big.future = 0;
	assert_int_equal(assign_iommu_new(f->ctx, &big.o, &f->iommu), 0);
	assert_int_equal(assign_iommu_get_backend(f->iommu), ASSIGN_IOMMU_TYPE1);
}

static void test_new_defaults_auto(void **state)
{
	struct fx *f = *state;
	uint32_t id;

	assert_int_equal(assign_iommu_new(f->ctx, NULL, &f->iommu), 0);
	assert_int_equal(assign_iommu_get_backend(f->iommu), ASSIGN_IOMMU_AUTO);
	assert_int_equal(assign_iommu_get_fd(f->iommu), -ENODEV);
	assert_int_equal(assign_iommu_get_ioas_id(f->iommu, &id), -EOPNOTSUPP);
	assert_ptr_equal(assign_iommu_get_ctx(f->iommu), f->ctx);
	/* Nothing opened before the first device. */
	assert_int_equal(mock_open_fds(f->mk), 0);
}

static void test_backend_names(void **state)
{
	(void)state;
	assert_string_equal(assign_iommu_backend_get_name(ASSIGN_IOMMU_AUTO),
			    "auto");
	assert_string_equal(assign_iommu_backend_get_name(ASSIGN_IOMMU_TYPE1),
			    "type1");
	assert_string_equal(assign_iommu_backend_get_name(ASSIGN_IOMMU_IOMMUFD),
			    "iommufd");
	assert_string_equal(assign_iommu_backend_get_name(ASSIGN_IOMMU_NOIOMMU),
			    "no-IOMMU");
	assert_null(assign_iommu_backend_get_name(
		(enum assign_iommu_backend)(ASSIGN_IOMMU_NOIOMMU + 1)));
	assert_null(
		assign_iommu_backend_get_name((enum assign_iommu_backend) - 1));
}

static void test_ref_unref(void **state)
{
	struct fx *f = *state;

	new_iommu(f, ASSIGN_IOMMU_TYPE1, 0);
	assert_ptr_equal(assign_iommu_ref(f->iommu), f->iommu);
	assert_null(assign_iommu_unref(f->iommu));
	assert_true(assign_iommu_get_fd(f->iommu) >= 0); /* still alive */
	assert_null(assign_iommu_ref(NULL));
	assert_null(assign_iommu_unref(NULL));
	assert_null(assign_group_ref(NULL));
	assert_null(assign_group_unref(NULL));
	assert_null(assign_iommu_get_ctx(NULL));
	assert_int_equal(assign_iommu_get_backend(NULL), ASSIGN_IOMMU_AUTO);
	assert_int_equal(assign_iommu_get_fd(NULL), -EINVAL);
	/* The iommu keeps the context alive. */
	assign_ctx_ref(f->ctx);
	assign_ctx_unref(f->ctx);
}

static void test_new_type1(void **state)
{
	struct fx *f = *state;
	uint32_t id;

	new_iommu(f, ASSIGN_IOMMU_TYPE1, 0);
	assert_int_equal(assign_iommu_get_backend(f->iommu), ASSIGN_IOMMU_TYPE1);
	assert_true(assign_iommu_get_fd(f->iommu) >= 0);
	assert_int_equal(assign_iommu_get_ioas_id(f->iommu, &id), -EOPNOTSUPP);
	assert_err_contains(f, "not iommufd");
	assert_int_equal(mock_open_fds(f->mk), 1);
}

static void test_new_type1_faults(void **state)
{
	struct fx *f = *state;
	struct assign_iommu_opts o = { .size = sizeof(o),
				       .backend = ASSIGN_IOMMU_TYPE1 };
	struct assign_iommu *it = NULL;

	mock_fail_nth(f->mk, MOCK_OPEN, 0, 1, -ENOENT);
	assert_int_equal(assign_iommu_new(f->ctx, &o, &it), -ENOENT);
	assert_err_contains(f, "/dev/vfio/vfio");
	assert_err_contains(f, "modprobe vfio-pci");
	mock_fail_nth(f->mk, MOCK_OPEN, 0, 1, -EACCES);
	assert_int_equal(assign_iommu_new(f->ctx, &o, &it), -EACCES);
	assert_err_contains(f, "permission denied");
	mock_fail_nth(f->mk, MOCK_IOCTL, VFIO_GET_API_VERSION, 1, -EIO);
	assert_int_equal(assign_iommu_new(f->ctx, &o, &it), -EIO);
	assert_err_contains(f, "VFIO_GET_API_VERSION");
	assert_null(it);
	assert_int_equal(mock_open_fds(f->mk), 0);
}

static void test_new_iommufd(void **state)
{
	struct fx *f = *state;
	uint32_t id = 0;

	new_iommu(f, ASSIGN_IOMMU_IOMMUFD, 0);
	assert_int_equal(assign_iommu_get_backend(f->iommu),
			 ASSIGN_IOMMU_IOMMUFD);
	assert_int_equal(assign_iommu_get_ioas_id(f->iommu, &id), 0);
	assert_true(id != 0);
	assert_true(assign_iommu_get_fd(f->iommu) >= 0);
	assert_int_equal(assign_iommu_get_ioas_id(f->iommu, NULL), -EINVAL);
}

static void test_new_iommufd_missing(void **state)
{
	struct fx *f = *state;
	struct assign_iommu_opts o = { .size = sizeof(o),
				       .backend = ASSIGN_IOMMU_IOMMUFD };
	struct assign_iommu *it = NULL;

	mock_set_iommufd(f->mk, false);
	assert_int_equal(assign_iommu_new(f->ctx, &o, &it), -ENOENT);
	assert_err_contains(f, "CONFIG_IOMMUFD");
	mock_set_iommufd(f->mk, true);
	mock_fail_nth(f->mk, MOCK_IOCTL, IOMMU_IOAS_ALLOC, 1, -ENOMEM);
	assert_int_equal(assign_iommu_new(f->ctx, &o, &it), -ENOMEM);
	assert_err_contains(f, "IOMMU_IOAS_ALLOC");
	assert_null(it);
	assert_int_equal(mock_open_fds(f->mk), 0);
}

/* ---------------------------------------------------------------------- */
/* Attaching on type1 */

static void test_attach_type1(void **state)
{
	struct fx *f = *state;
	struct assign_group *g = NULL, *g2 = NULL;

	new_iommu(f, ASSIGN_IOMMU_TYPE1, 0);
	assert_int_equal(attach(f, DEV_A), 0);
	assert_int_equal(f->att[0].group_id, 3);
	assert_non_null(f->att[0].group);
	assert_int_equal(container_type(f), VFIO_TYPE1v2_IOMMU);
	assert_int_equal(assign_iommu_get_group(f->iommu, 3, &g), 0);
	assert_ptr_equal(g, f->att[0].group);
	assert_int_equal(assign_group_get_id(g), 3);
	assert_true(assign_group_get_fd(g) >= 0);
	assert_int_equal(assign_iommu_get_group(f->iommu, 4, &g2), -ENOENT);
	assert_err_contains(f, "group 4 is not open");
	assert_null(g2);
	/* Two devices of group 4 share one group object; two groups in one
	 * container. */
	assert_int_equal(attach(f, DEV_B), 0);
	assert_int_equal(attach(f, DEV_C), 0);
	assert_ptr_equal(f->att[1].group, f->att[2].group);
	assert_int_equal(f->iommu->ngroups, 2);
	assert_int_equal(assign_iommu_get_group(f->iommu, 4, &g2), 0);
	assert_true(assign_group_get_fd(g2) >= 0);
	assert_int_not_equal(assign_group_get_fd(g2), assign_group_get_fd(g));
	assign_group_unref(g2);
	assign_group_unref(g);
	assert_int_equal(assign_group_get_id(NULL), -EINVAL);
	assert_int_equal(assign_group_get_fd(NULL), -EINVAL);
	assert_int_equal(assign_iommu_get_group(NULL, 3, &g), -EINVAL);
}

static void test_attach_short_address(void **state)
{
	struct fx *f = *state;

	new_iommu(f, ASSIGN_IOMMU_TYPE1, 0);
	assert_int_equal(attach(f, "00:03.0"), 0);
	assert_int_equal(f->att[0].group_id, 3);
	assert_int_equal(attach(f, "not-an-address"), -EINVAL);
	assert_err_contains(f, "not a PCI address");
	assert_int_equal(iommu_attach_device(NULL, DEV_A, &f->att[3]), -EINVAL);
	assert_int_equal(iommu_attach_device(f->iommu, NULL, &f->att[3]),
			 -EINVAL);
}

static void test_group_ref_outlives_device(void **state)
{
	struct fx *f = *state;
	struct assign_group *g = NULL;
	size_t fds;

	new_iommu(f, ASSIGN_IOMMU_TYPE1, 0);
	assert_int_equal(attach(f, DEV_A), 0);
	assert_int_equal(assign_iommu_get_group(f->iommu, 3, &g), 0);
	fds = mock_open_fds(f->mk);
	detach(f, DEV_A);
	/* The device fd is gone, the group stays for our reference. */
	assert_int_equal(mock_open_fds(f->mk), fds - 1);
	assert_int_equal(assign_iommu_get_group(f->iommu, 3, &g), 0);
	assign_group_unref(g);
	/* Reattaching reuses it. */
	assert_int_equal(attach(f, DEV_A), 0);
	assert_ptr_equal(f->att[0].group, g);
	assign_group_unref(g);
	/* A group holds the iommu: dropping ours keeps it alive. */
	assign_iommu_ref(f->iommu);
	assign_iommu_unref(f->iommu);
}

static void test_attach_not_viable(void **state)
{
	struct fx *f = *state;

	add_dev(f, "0000:00:1f.0", 7, "vfio-pci");
	add_dev(f, "0000:00:1f.3", 7, "i801_smbus");
	new_iommu(f, ASSIGN_IOMMU_TYPE1, 0);
	assert_int_equal(attach(f, "0000:00:1f.0"), -EBUSY);
	assert_string_equal(err(f),
			    "group 7 is not viable: 0000:00:1f.3 is bound to "
			    "i801_smbus; bind it to vfio-pci or unbind it");
	assert_int_equal(mock_open_fds(f->mk), 1);
	/* Two offenders are both named. */
	add_dev(f, "0000:00:1f.4", 7, "snd_hda_intel");
	assert_int_equal(attach(f, "0000:00:1f.0"), -EBUSY);
	assert_err_contains(f, "0000:00:1f.3 is bound to i801_smbus");
	assert_err_contains(f, "0000:00:1f.4 is bound to snd_hda_intel");
	assert_err_contains(f, "bind them to vfio-pci or unbind them");
	/* Unbinding them makes the group viable. */
	mock_set_driver(f->mk, "0000:00:1f.3", NULL);
	mock_set_driver(f->mk, "0000:00:1f.4", "vfio-pci");
	assert_int_equal(attach(f, "0000:00:1f.0"), 0);
}

static void test_attach_wrong_driver(void **state)
{
	struct fx *f = *state;

	add_dev(f, "0000:00:05.0", 5, "e1000e");
	add_dev(f, "0000:00:06.0", 6, NULL);
	new_iommu(f, ASSIGN_IOMMU_TYPE1, 0);
	assert_int_equal(attach(f, "0000:00:05.0"), -ENODEV);
	assert_err_contains(f, "0000:00:05.0 is bound to e1000e, not vfio-pci");
	assert_err_contains(f, "assign-host bind 0000:00:05.0");
	assert_int_equal(attach(f, "0000:00:06.0"), -ENODEV);
	assert_err_contains(f, "not bound to any driver");
	assert_err_contains(f, "vfio-pci");
	assert_int_equal(attach(f, "0000:00:09.0"), -ENODEV);
	assert_err_contains(f, "no PCI device 0000:00:09.0");
	/* Nothing was opened for them beyond the container. */
	assert_int_equal(mock_open_fds(f->mk), 1);
}

static void test_attach_type1_v1(void **state)
{
	struct fx *f = *state;

	mock_set_type1v2(f->mk, false);
	new_iommu(f, ASSIGN_IOMMU_TYPE1, 0);
	assert_int_equal(attach(f, DEV_A), 0);
	assert_int_equal(container_type(f), VFIO_TYPE1_IOMMU);
}

static void test_attach_unsafe_interrupts(void **state)
{
	struct fx *f = *state;
	int r;

	mock_set_irq_remap(f->mk, false);
	new_iommu(f, ASSIGN_IOMMU_TYPE1, 0);
	r = attach(f, DEV_A);
	if (r == 0) {
		/* A mock that lets it through must say "not remapped". */
		r = assign_iommu_get_irq_remapping(f->iommu);
		assert_true(r == 0 || r == -EOPNOTSUPP);
		return;
	}
	assert_int_equal(r, -EPERM);
	assert_err_contains(f, "allow_unsafe_interrupts");
	assert_int_equal(mock_open_fds(f->mk), 1);
}

static void test_attach_type1_fault_sweep(void **state)
{
	struct fx *f = *state;
	unsigned long calls, before;

	new_iommu(f, ASSIGN_IOMMU_TYPE1, 0);
	/* Count the calls of a successful attach + detach. */
	before = mock_calls(f->mk, MOCK_ANY);
	assert_int_equal(attach(f, DEV_A), 0);
	calls = mock_calls(f->mk, MOCK_ANY) - before;
	detach(f, DEV_A);
	assert_int_equal(mock_open_fds(f->mk), 1);
	for (unsigned long k = 1; k <= calls; k++) {
		int r;

		mock_fail_nth(f->mk, MOCK_ANY, 0, k, -EIO);
		r = attach(f, DEV_A);
		mock_fail_clear(f->mk);
		if (r == 0) {
			detach(f, DEV_A);
		} else {
			assert_true(r < 0);
			assert_true(err(f)[0] != '\0');
		}
		assert_int_equal(mock_open_fds(f->mk), 1);
		assert_int_equal(f->iommu->ngroups, 0);
		assign_ctx_clear_last_error(f->ctx);
	}
	/* Still usable afterwards. */
	assert_int_equal(attach(f, DEV_A), 0);
}


static void test_attach_type1_errors(void **state)
{
	struct fx *f = *state;

	new_iommu(f, ASSIGN_IOMMU_TYPE1, 0);
	/* Opening /dev/vfio/3 (the container is open already). */
	mock_fail_nth(f->mk, MOCK_OPEN, 0, 1, -ENOENT);
	assert_int_equal(attach(f, DEV_A), -ENOENT);
	assert_err_contains(f, "/dev/vfio/3 does not exist");
	mock_fail_nth(f->mk, MOCK_OPEN, 0, 1, -EPERM);
	assert_int_equal(attach(f, DEV_A), -EACCES);
	assert_err_contains(f, "permission denied opening /dev/vfio/3");
	mock_fail_nth(f->mk, MOCK_OPEN, 0, 1, -EBUSY);
	assert_int_equal(attach(f, DEV_A), -EBUSY);
	assert_err_contains(f, "group 3 is already open");
	mock_fail_nth(f->mk, MOCK_IOCTL, VFIO_GROUP_GET_STATUS, 1, -EIO);
	assert_int_equal(attach(f, DEV_A), -EIO);
	assert_err_contains(f, "VFIO_GROUP_GET_STATUS");
	mock_fail_nth(f->mk, MOCK_IOCTL, VFIO_GROUP_SET_CONTAINER, 1, -EBUSY);
	assert_int_equal(attach(f, DEV_A), -EBUSY);
	assert_err_contains(f, "adding group 3 to the VFIO container");
	/* The kernel's MSI isolation check fails SET_IOMMU for the first
	 * group... */
	mock_fail_nth(f->mk, MOCK_IOCTL, VFIO_SET_IOMMU, 1, -EPERM);
	assert_int_equal(attach(f, DEV_A), -EPERM);
	assert_err_contains(f, "group 3 refused by vfio_iommu_type1");
	assert_err_contains(f, "allow_unsafe_interrupts=1");
	mock_fail_nth(f->mk, MOCK_IOCTL, VFIO_SET_IOMMU, 1, -EINVAL);
	assert_int_equal(attach(f, DEV_A), -EINVAL);
	assert_err_contains(f, "VFIO_SET_IOMMU(TYPE1v2)");
	/* GET_DEVICE_FD. */
	mock_fail_nth(f->mk, MOCK_IOCTL, VFIO_GROUP_GET_DEVICE_FD, 1, -EBUSY);
	assert_int_equal(attach(f, DEV_A), -EBUSY);
	assert_err_contains(f, "0000:00:03.0 is busy");
	mock_fail_nth(f->mk, MOCK_IOCTL, VFIO_GROUP_GET_DEVICE_FD, 1, -ENODEV);
	assert_int_equal(attach(f, DEV_A), -ENODEV);
	assert_err_contains(f, "not in group 3");
	mock_fail_nth(f->mk, MOCK_IOCTL, VFIO_GROUP_GET_DEVICE_FD, 1, -EIO);
	assert_int_equal(attach(f, DEV_A), -EIO);
	assert_err_contains(f, "VFIO_GROUP_GET_DEVICE_FD for 0000:00:03.0");
	assert_int_equal(f->iommu->ngroups, 0);
	assert_int_equal(mock_open_fds(f->mk), 1);
	/* ...and SET_CONTAINER for the later ones. */
	assert_int_equal(attach(f, DEV_A), 0);
	mock_fail_nth(f->mk, MOCK_IOCTL, VFIO_GROUP_SET_CONTAINER, 1, -EPERM);
	assert_int_equal(attach(f, DEV_B), -EPERM);
	assert_err_contains(f, "group 4 refused by vfio_iommu_type1");
	assert_int_equal(f->iommu->ngroups, 1);
	assert_int_equal(assign_iommu_map(f->iommu, 0, mem(f, 0), MB,
					  ASSIGN_DMA_F_RW), 0);
	mock_fail_nth(f->mk, MOCK_IOCTL, VFIO_GROUP_SET_CONTAINER, 1, -EINVAL);
	assert_int_equal(attach(f, DEV_B), -EINVAL);
	assert_err_contains(f, "conflict with the 1 existing DMA mappings");
	/* A failed attach of a device of an open group keeps the group. */
	assert_int_equal(attach(f, DEV_B), 0);
	mock_fail_nth(f->mk, MOCK_IOCTL, VFIO_GROUP_GET_DEVICE_FD, 1, -EIO);
	assert_int_equal(attach(f, DEV_C), -EIO);
	assert_int_equal(f->iommu->ngroups, 2);
}

static void test_attach_type1_no_type(void **state)
{
	struct fx *f = *state;

	mock_set_type1v2(f->mk, false);
	new_iommu(f, ASSIGN_IOMMU_TYPE1, 0);
	/* v2 says 0, then the v1 check fails. */
	mock_fail_nth(f->mk, MOCK_IOCTL, VFIO_CHECK_EXTENSION, 2, -EIO);
	assert_int_equal(attach(f, DEV_A), -EIO);
	assert_err_contains(f, "VFIO_CHECK_EXTENSION");
	assert_int_equal(mock_open_fds(f->mk), 1);
}

/* The TYPE1v2 check fails (not "0: not offered"): reported, no silent
 * fall back to type1 v1 and its other unmap rules. */
static void test_attach_type1v2_check_error(void **state)
{
	struct fx *f = *state;

	new_iommu(f, ASSIGN_IOMMU_TYPE1, 0);
	mock_fail_nth(f->mk, MOCK_IOCTL, VFIO_CHECK_EXTENSION, 1, -EIO);
	assert_int_equal(attach(f, DEV_A), -EIO);
	assert_err_contains(f, "VFIO_CHECK_EXTENSION(TYPE1v2)");
	assert_err_contains(f, "Input/output error");
	assert_int_equal(container_type(f), 0);
	assert_int_equal(f->iommu->ngroups, 0);
	assert_int_equal(mock_open_fds(f->mk), 1);
	/* Next time it answers: type1 v2. */
	assert_int_equal(attach(f, DEV_A), 0);
	assert_int_equal(container_type(f), VFIO_TYPE1v2_IOMMU);
}

static void test_new_other_errors(void **state)
{
	struct fx *f = *state;
	struct assign_iommu_opts o = { .size = sizeof(o),
				       .backend = ASSIGN_IOMMU_TYPE1 };
	struct assign_iommu *it = NULL;

	mock_fail_nth(f->mk, MOCK_OPEN, 0, 1, -EIO);
	assert_int_equal(assign_iommu_new(f->ctx, &o, &it), -EIO);
	assert_err_contains(f, "cannot open /dev/vfio/vfio");
	o.backend = ASSIGN_IOMMU_IOMMUFD;
	mock_fail_nth(f->mk, MOCK_OPEN, 0, 1, -EACCES);
	assert_int_equal(assign_iommu_new(f->ctx, &o, &it), -EACCES);
	assert_err_contains(f, "permission denied opening /dev/iommu");
	mock_fail_nth(f->mk, MOCK_OPEN, 0, 1, -EIO);
	assert_int_equal(assign_iommu_new(f->ctx, &o, &it), -EIO);
	assert_err_contains(f, "cannot open /dev/iommu");
	assert_null(it);
	assert_int_equal(mock_open_fds(f->mk), 0);
}

static void test_attach_iommufd_errors(void **state)
{
	struct fx *f = *state;

	new_iommu(f, ASSIGN_IOMMU_IOMMUFD, 0);
	mock_fail_nth(f->mk, MOCK_OPEN, 0, 1, -ENOENT);
	assert_int_equal(attach(f, DEV_A), -ENOENT);
	assert_err_contains(f, "does not exist although sysfs");
	mock_fail_nth(f->mk, MOCK_OPEN, 0, 1, -EBUSY);
	assert_int_equal(attach(f, DEV_A), -EBUSY);
	assert_err_contains(f, "is busy");
	mock_fail_nth(f->mk, MOCK_OPEN, 0, 1, -EIO);
	assert_int_equal(attach(f, DEV_A), -EIO);
	assert_err_contains(f, "cannot open /dev/vfio/devices/vfio");
	mock_fail_nth(f->mk, MOCK_IOCTL, VFIO_DEVICE_BIND_IOMMUFD, 1, -EBUSY);
	assert_int_equal(attach(f, DEV_A), -EBUSY);
	assert_err_contains(f, "in use");
	mock_fail_nth(f->mk, MOCK_IOCTL, VFIO_DEVICE_BIND_IOMMUFD, 1, -EIO);
	assert_int_equal(attach(f, DEV_A), -EIO);
	assert_err_contains(f, "VFIO_DEVICE_BIND_IOMMUFD");
	mock_fail_nth(f->mk, MOCK_IOCTL, VFIO_DEVICE_ATTACH_IOMMUFD_PT, 1,
		      -EPERM);
	assert_int_equal(attach(f, DEV_A), -EPERM);
	assert_err_contains(f, "allow_unsafe_interrupts");
	mock_fail_nth(f->mk, MOCK_IOCTL, VFIO_DEVICE_ATTACH_IOMMUFD_PT, 1,
		      -EIO);
	assert_int_equal(attach(f, DEV_A), -EIO);
	assert_int_equal(mock_open_fds(f->mk), 1);
}

static void test_attach_iommufd_not_viable(void **state)
{
	struct fx *f = *state;
	int r;

	add_dev(f, "0000:00:1f.0", 7, "vfio-pci");
	add_dev(f, "0000:00:1f.3", 7, "i801_smbus");
	new_iommu(f, ASSIGN_IOMMU_IOMMUFD, 0);
	/* Linux refuses the bind with EPERM (DMA ownership is taken by the
	 * host driver): the library names the blocking device. */
	mock_fail_nth(f->mk, MOCK_IOCTL, VFIO_DEVICE_BIND_IOMMUFD, 1, -EPERM);
	assert_int_equal(attach(f, "0000:00:1f.0"), -EBUSY);
	assert_string_equal(err(f),
			    "group 7 is not viable: 0000:00:1f.3 is bound to "
			    "i801_smbus; bind it to vfio-pci or unbind it");
	/* Whatever the mock does on its own, it is refused and explained. */
	r = attach(f, "0000:00:1f.0");
	if (r != 0) {
		assert_int_equal(r, -EBUSY);
		assert_err_contains(f, "group 7 is not viable");
	} else {
		detach(f, "0000:00:1f.0");
	}
	assert_int_equal(mock_open_fds(f->mk), 1);
	/* EPERM with a viable group is about interrupts. */
	mock_set_driver(f->mk, "0000:00:1f.3", NULL);
	mock_fail_nth(f->mk, MOCK_IOCTL, VFIO_DEVICE_BIND_IOMMUFD, 1, -EPERM);
	assert_int_equal(attach(f, "0000:00:1f.0"), -EPERM);
	assert_err_contains(f, "allow_unsafe_interrupts");
}

static void test_geometry_type1_no_cap(void **state)
{
	struct fx *f = *state;
	const struct assign_iova_range *rg;
	size_t n;

	/* No aperture: the kernel reports no IOVA range capability. */
	mock_set_iova_ranges(f->mk, NULL, 0);
	new_iommu(f, ASSIGN_IOMMU_TYPE1, 0);
	assert_int_equal(attach(f, DEV_A), 0);
	assert_int_equal(assign_iommu_get_iova_ranges(f->iommu, &rg, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(rg[0].start, 0);
	assert_int_equal(rg[0].last, UINT64_MAX);
	assert_int_equal(assign_iommu_map(f->iommu, UINT64_MAX - MB + 1,
					  mem(f, 0), MB,
					  ASSIGN_DMA_F_RW), 0);
	assert_int_equal(assign_iommu_unmap(f->iommu, UINT64_MAX - MB + 1, MB),
			 0);
}

/*
 * Interrupt remapping: the kernel's own check when allow_unsafe_interrupts
 * reads N; otherwise what it reports per group: the IOMMU unit's VT-d
 * capabilities (IOMMU_GET_HW_INFO for iommufd devices, sysfs for all) and
 * whether its interrupt chips remap ("IR-" names).
 */
static void irq_remap_on(struct fx *f, enum assign_iommu_backend b)
{
	new_iommu(f, b, 0);
	assert_int_equal(attach(f, DEV_A), 0);
	/* The kernel checked at attach. */
	assert_int_equal(assign_iommu_get_irq_remapping(f->iommu), 1);
	/* The admin allowed unsafe interrupts: the kernel checked nothing,
	 * the unit and the chips say remapped. */
	mock_set_unsafe_param(f->mk, true);
	assert_int_equal(assign_iommu_get_irq_remapping(f->iommu), 1);
	/* The parameter cannot be read: the same answer from the rest. */
	mock_fail_nth(f->mk, MOCK_OPENAT, 0, 1, -ENOENT);
	assert_int_equal(assign_iommu_get_irq_remapping(f->iommu), 1);
	mock_fail_clear(f->mk);
	/* Capable, but the kernel does not remap (intremap=off). */
	mock_set_irq_remap(f->mk, false);
	assert_int_equal(assign_iommu_get_irq_remapping(f->iommu), 0);
	/* A unit without the capability, whatever the chips say. */
	mock_set_irq_remap(f->mk, true);
	mock_set_ir_capable(f->mk, false);
	assert_int_equal(assign_iommu_get_irq_remapping(f->iommu), 0);
	/* No interrupt chips to read and no unit in sysfs: for iommufd the
	 * kernel's hardware info still tells; for type1 nothing does. */
	mock_fail_nth(f->mk, MOCK_LIST_DIR, 0, 1, -ENOENT);
	mock_fail_nth(f->mk, MOCK_LIST_DIR, 0, 2, -ENOENT);
	mock_fail_nth(f->mk, MOCK_LIST_DIR, 0, 3, -ENOENT);
	if (b == ASSIGN_IOMMU_IOMMUFD) {
		assert_int_equal(assign_iommu_get_irq_remapping(f->iommu), 0);
	} else {
		assert_int_equal(assign_iommu_get_irq_remapping(f->iommu),
				 -EOPNOTSUPP);
		assert_err_contains(f, "allow_unsafe_interrupts is set");
		assert_err_contains(f, "without checking");
	}
	mock_fail_clear(f->mk);
	mock_set_ir_capable(f->mk, true);
	mock_fail_nth(f->mk, MOCK_LIST_DIR, 0, 1, -ENOENT);
	mock_fail_nth(f->mk, MOCK_LIST_DIR, 0, 2, -ENOENT);
	mock_fail_nth(f->mk, MOCK_LIST_DIR, 0, 3, -ENOENT);
	assert_int_equal(assign_iommu_get_irq_remapping(f->iommu), -EOPNOTSUPP);
	assert_err_contains(f, "cannot tell whether interrupts are remapped");
	mock_fail_clear(f->mk);
}

static void test_irq_remap_type1(void **state)
{
	irq_remap_on(*state, ASSIGN_IOMMU_TYPE1);
}

static void test_irq_remap_iommufd(void **state)
{
	struct fx *f = *state;

	irq_remap_on(f, ASSIGN_IOMMU_IOMMUFD);
	/* IOMMU_GET_HW_INFO failing (a kernel before 6.6): sysfs tells. */
	mock_set_ir_capable(f->mk, false);
	mock_fail_nth(f->mk, MOCK_IOCTL, IOMMU_GET_HW_INFO, 1, -ENOTTY);
	assert_int_equal(assign_iommu_get_irq_remapping(f->iommu), 0);
	mock_fail_clear(f->mk);
}

/* ---------------------------------------------------------------------- */
/* AUTO */

static void test_auto_picks_iommufd(void **state)
{
	struct fx *f = *state;

	assert_int_equal(assign_iommu_new(f->ctx, NULL, &f->iommu), 0);
	assert_int_equal(attach(f, DEV_A), 0);
	assert_int_equal(assign_iommu_get_backend(f->iommu),
			 ASSIGN_IOMMU_IOMMUFD);
	assert_true(assign_iommu_get_fd(f->iommu) >= 0);
}

static void test_auto_picks_type1(void **state)
{
	struct fx *f = *state;

	mock_set_iommufd(f->mk, false);
	assert_int_equal(assign_iommu_new(f->ctx, NULL, &f->iommu), 0);
	assert_int_equal(attach(f, DEV_A), 0);
	assert_int_equal(assign_iommu_get_backend(f->iommu), ASSIGN_IOMMU_TYPE1);
}

static void test_auto_no_cdev(void **state)
{
	struct fx *f = *state;
	struct mock_device_cfg cfg;

	mock_device_cfg_default(&cfg, "0000:00:08.0", 8);
	cfg.no_cdev = true;
	assert_int_equal(mock_add_device(f->mk, &cfg), 0);
	assert_int_equal(assign_iommu_new(f->ctx, NULL, &f->iommu), 0);
	assert_int_equal(attach(f, "0000:00:08.0"), 0);
	assert_int_equal(assign_iommu_get_backend(f->iommu), ASSIGN_IOMMU_TYPE1);
	/* Later devices follow the choice. */
	assert_int_equal(attach(f, DEV_A), 0);
	assert_int_equal(f->att[1].group_id, 3);
	assert_non_null(f->att[1].group);
}

/* ---------------------------------------------------------------------- */
/* iommufd */

static void test_attach_iommufd(void **state)
{
	struct fx *f = *state;
	struct assign_group *g = NULL;

	new_iommu(f, ASSIGN_IOMMU_IOMMUFD, 0);
	assert_int_equal(attach(f, DEV_A), 0);
	assert_null(f->att[0].group);
	assert_int_equal(f->att[0].group_id, 3);
	assert_int_equal(assign_iommu_get_group(f->iommu, 3, &g),
			 -EOPNOTSUPP);
	assert_null(g);
	assert_int_equal(attach(f, DEV_B), 0);
	assert_int_equal(attach(f, DEV_C), 0);
}

static void test_attach_iommufd_no_cdev(void **state)
{
	struct fx *f = *state;
	struct mock_device_cfg cfg;

	mock_device_cfg_default(&cfg, "0000:00:08.0", 8);
	cfg.no_cdev = true;
	assert_int_equal(mock_add_device(f->mk, &cfg), 0);
	new_iommu(f, ASSIGN_IOMMU_IOMMUFD, 0);
	assert_int_equal(attach(f, "0000:00:08.0"), -ENODEV);
	assert_err_contains(f, "no vfio cdev");
	assert_err_contains(f, "type1");
}

/* Only a missing or empty vfio-dev means "no cdev support"; another error
 * listing it is reported as itself. */
static void test_attach_iommufd_cdev_list_error(void **state)
{
	struct fx *f = *state;
	static const int errs[] = { -EIO, -ENOMEM, -EACCES };

	new_iommu(f, ASSIGN_IOMMU_IOMMUFD, 0);
	for (size_t i = 0; i < sizeof(errs) / sizeof(errs[0]); i++) {
		mock_fail_nth(f->mk, MOCK_LIST_DIR, 0, 1, errs[i]);
		assert_int_equal(attach(f, DEV_A), errs[i]);
		mock_fail_clear(f->mk);
		assert_err_contains(f, "cannot list /sys/devices/pci0000:00/"
				       "0000:00:03.0/vfio-dev");
		assert_err_contains(f, strerror(-errs[i]));
		assert_null(strstr(assign_ctx_get_last_error(f->ctx),
				   "CONFIG_VFIO_DEVICE_CDEV"));
	}
	/* ENOENT is the missing directory: no cdev support. */
	mock_fail_nth(f->mk, MOCK_LIST_DIR, 0, 1, -ENOENT);
	assert_int_equal(attach(f, DEV_A), -ENODEV);
	mock_fail_clear(f->mk);
	assert_err_contains(f, "CONFIG_VFIO_DEVICE_CDEV");
	assert_int_equal(mock_open_fds(f->mk), 1);
	assert_int_equal(attach(f, DEV_A), 0);
}

static void test_attach_iommufd_faults(void **state)
{
	struct fx *f = *state;

	new_iommu(f, ASSIGN_IOMMU_IOMMUFD, 0);
	mock_fail_nth(f->mk, MOCK_IOCTL, VFIO_DEVICE_BIND_IOMMUFD, 1, -EPERM);
	assert_int_equal(attach(f, DEV_A), -EPERM);
	assert_err_contains(f, "allow_unsafe_interrupts");
	mock_fail_nth(f->mk, MOCK_IOCTL, VFIO_DEVICE_ATTACH_IOMMUFD_PT, 1,
		      -EINVAL);
	assert_int_equal(attach(f, DEV_A), -EINVAL);
	assert_err_contains(f, "IOAS");
	mock_fail_nth(f->mk, MOCK_IOCTL, IOMMU_IOAS_IOVA_RANGES, 1, -EIO);
	assert_int_equal(attach(f, DEV_A), -EIO);
	assert_err_contains(f, "IOMMU_IOAS_IOVA_RANGES");
	mock_fail_nth(f->mk, MOCK_OPEN, 0, 1, -EACCES);
	assert_int_equal(attach(f, DEV_A), -EACCES);
	assert_err_contains(f, "/dev/vfio/devices/vfio");
	assert_int_equal(mock_open_fds(f->mk), 1);
	assert_int_equal(attach(f, DEV_A), 0);
}

static void test_iommufd_fault_sweep(void **state)
{
	struct fx *f = *state;
	unsigned long calls, before;

	new_iommu(f, ASSIGN_IOMMU_IOMMUFD, 0);
	before = mock_calls(f->mk, MOCK_ANY);
	assert_int_equal(attach(f, DEV_A), 0);
	assert_int_equal(assign_iommu_map(f->iommu, 0, mem(f, 0), MB,
					  ASSIGN_DMA_F_RW), 0);
	calls = mock_calls(f->mk, MOCK_ANY) - before;
	assert_int_equal(assign_iommu_unmap_all(f->iommu), 0);
	detach(f, DEV_A);
	for (unsigned long k = 1; k <= calls; k++) {
		int r;

		mock_fail_nth(f->mk, MOCK_ANY, 0, k, -EIO);
		r = attach(f, DEV_A);
		if (r == 0)
			r = assign_iommu_map(f->iommu, 0, mem(f, 0), MB,
					     ASSIGN_DMA_F_RW);
		mock_fail_clear(f->mk);
		if (r < 0)
			assert_true(err(f)[0] != '\0');
		assert_int_equal(assign_iommu_unmap_all(f->iommu), 0);
		assert_int_equal(mock_dma_count(f->mk), 0);
		if (f->natt)
			detach(f, DEV_A);
		assert_int_equal(mock_open_fds(f->mk), 1);
	}
}

static void test_iommufd_mappings_outlive_devices(void **state)
{
	struct fx *f = *state;
	const struct assign_iova_range *rg;
	size_t n;

	new_iommu(f, ASSIGN_IOMMU_IOMMUFD, 0);
	assert_int_equal(attach(f, DEV_A), 0);
	assert_int_equal(assign_iommu_map(f->iommu, 0x100000, mem(f, 0), MB,
					  ASSIGN_DMA_F_RW), 0);
	detach(f, DEV_A);
	/* The IOAS keeps the mapping; the geometry needs a device. */
	assert_int_equal(mock_dma_count(f->mk), 1);
	assert_int_equal(assign_iommu_get_iova_ranges(f->iommu, &rg, &n),
			 -ENODEV);
	assert_int_equal(assign_iommu_map(f->iommu, 0x400000, mem(f, MB), MB,
					  ASSIGN_DMA_F_RW), -ENODEV);
	assert_int_equal(attach(f, DEV_A), 0);
	assert_int_equal(assign_iommu_get_iova_ranges(f->iommu, &rg, &n), 0);
	assert_int_equal(assign_iommu_unmap(f->iommu, 0x100000, MB), 0);
	assert_int_equal(mock_dma_count(f->mk), 0);
}

/* ---------------------------------------------------------------------- */
/* Geometry */

static void test_geometry_needs_device(void **state)
{
	struct fx *f = *state;
	const struct assign_iova_range *rg;
	const struct assign_reserved_region *rr;
	struct assign_iova_range prop = { 0, MB - 1 };
	struct assign_conflict c = { .size = sizeof(c) };
	uint64_t pg;
	uint32_t avail;
	size_t n;

	new_iommu(f, ASSIGN_IOMMU_TYPE1, 0);
	assert_int_equal(assign_iommu_get_iova_ranges(f->iommu, &rg, &n),
			 -ENODEV);
	assert_err_contains(f, "no device is attached");
	assert_int_equal(assign_iommu_get_pgsizes(f->iommu, &pg), -ENODEV);
	assert_int_equal(assign_iommu_get_dma_avail(f->iommu, &avail), -ENODEV);
	assert_int_equal(assign_iommu_get_reserved_regions(f->iommu, &rr, &n),
			 -ENODEV);
	assert_int_equal(assign_iommu_get_irq_remapping(f->iommu), -ENODEV);
	assert_int_equal(assign_iommu_map(f->iommu, 0, mem(f, 0), MB,
					  ASSIGN_DMA_F_RW), -ENODEV);
	assert_int_equal(assign_iommu_check_layout(f->iommu, &prop, 1, &c, 1,
						   &n), -ENODEV);
	/* NULL arguments. */
	assert_int_equal(assign_iommu_get_iova_ranges(NULL, &rg, &n), -EINVAL);
	assert_int_equal(assign_iommu_get_iova_ranges(f->iommu, NULL, &n),
			 -EINVAL);
	assert_int_equal(assign_iommu_get_pgsizes(f->iommu, NULL), -EINVAL);
	assert_int_equal(assign_iommu_get_dma_avail(f->iommu, NULL), -EINVAL);
	assert_int_equal(assign_iommu_get_reserved_regions(f->iommu, NULL, &n),
			 -EINVAL);
	assert_int_equal(assign_iommu_get_irq_remapping(NULL), -EINVAL);
}

static void check_default_ranges(struct fx *f)
{
	const struct assign_iova_range *rg;
	size_t n;

	assert_int_equal(assign_iommu_get_iova_ranges(f->iommu, &rg, &n), 0);
	/* [0, 2^48-1] minus the x86 MSI window. */
	assert_int_equal(n, 2);
	assert_int_equal(rg[0].start, 0);
	assert_int_equal(rg[0].last, 0xfedfffffull);
	assert_int_equal(rg[1].start, 0xfef00000ull);
	assert_int_equal(rg[1].last, (1ull << 48) - 1);
}

static void geometry_common(struct fx *f)
{
	uint64_t pg = 0;

	check_default_ranges(f);
	assert_int_equal(assign_iommu_get_pgsizes(f->iommu, &pg), 0);
	if (assign_iommu_get_backend(f->iommu) == ASSIGN_IOMMU_TYPE1)
		assert_int_equal(pg, (1ull << 12) | (1ull << 21) | (1ull << 30));
	else
		assert_true(pg & (1ull << 12));
	assert_int_equal(assign_iommu_get_irq_remapping(f->iommu), 1);
}

static void test_geometry_type1(void **state)
{
	struct fx *f = *state;
	uint32_t avail = 0;

	new_iommu(f, ASSIGN_IOMMU_TYPE1, 0);
	assert_int_equal(attach(f, DEV_A), 0);
	geometry_common(f);
	assert_int_equal(assign_iommu_get_dma_avail(f->iommu, &avail), 0);
	assert_int_equal(avail, 65535);
	assert_int_equal(assign_iommu_map(f->iommu, 0, mem(f, 0), MB,
					  ASSIGN_DMA_F_RW), 0);
	assert_int_equal(assign_iommu_get_dma_avail(f->iommu, &avail), 0);
	assert_int_equal(avail, 65534);
	mock_fail_nth(f->mk, MOCK_IOCTL, VFIO_IOMMU_GET_INFO, 1, -EIO);
	assert_int_equal(assign_iommu_get_dma_avail(f->iommu, &avail), -EIO);
	assert_err_contains(f, "VFIO_IOMMU_GET_INFO");
}

static void test_geometry_iommufd(void **state)
{
	struct fx *f = *state;
	uint32_t avail;

	new_iommu(f, ASSIGN_IOMMU_IOMMUFD, 0);
	assert_int_equal(attach(f, DEV_A), 0);
	geometry_common(f);
	/* The kernel has no limit for an IOAS; the library's own applies. */
	assert_int_equal(assign_iommu_get_dma_avail(f->iommu, &avail), 0);
	assert_int_equal(avail, ASSIGN_IOMMU_DEFAULT_MAX_MAPPINGS);
}

static void test_geometry_custom_ranges(void **state)
{
	struct fx *f = *state;
	static const uint64_t rs[][2] = {
		{ 0x100000000ull, 0x1ffffffffull },
		{ 0x0, 0xfffff },
		{ 0x200000000ull, 0x2ffffffffull }, /* adjacent: merged */
		{ 0x400000000ull, 0x4ffffffffull },
		{ 0x500000000ull, 0x5ffffffffull },
		{ 0x700000000ull, 0x7ffffffffull },
		{ 0x900000000ull, 0x9ffffffffull },
		{ 0xb00000000ull, 0xbffffffffull },
		{ 0xd00000000ull, 0xdffffffffull },
		{ 0xf00000000ull, 0xfffffffffull },
	};
	enum assign_iommu_backend bs[] = { ASSIGN_IOMMU_TYPE1,
					   ASSIGN_IOMMU_IOMMUFD };

	mock_set_iova_ranges(f->mk, rs, ARRAY_SIZE(rs));
	mock_set_pgsizes(f->mk, (1ull << 16) | (1ull << 21));
	for (size_t b = 0; b < ARRAY_SIZE(bs); b++) {
		const struct assign_iova_range *rg;
		size_t n;
		uint64_t pg;

		new_iommu(f, bs[b], 0);
		assert_int_equal(attach(f, DEV_A), 0);
		assert_int_equal(assign_iommu_get_iova_ranges(f->iommu, &rg, &n),
				 0);
		/* Sorted, merged: 0-fffff, 1_0000_0000-2_ffff_ffff, ... */
		assert_int_equal(n, 8);
		assert_int_equal(rg[0].start, 0);
		assert_int_equal(rg[0].last, 0xfffff);
		assert_int_equal(rg[1].start, 0x100000000ull);
		assert_int_equal(rg[1].last, 0x2ffffffffull);
		assert_int_equal(rg[2].start, 0x400000000ull);
		assert_int_equal(rg[2].last, 0x5ffffffffull);
		if (bs[b] == ASSIGN_IOMMU_TYPE1) {
			assert_int_equal(assign_iommu_get_pgsizes(f->iommu,
								  &pg), 0);
			assert_int_equal(pg, (1ull << 16) | (1ull << 21));
			/* 4K is below the smallest IOMMU page. */
			assert_int_equal(assign_iommu_map(f->iommu, 0,
							  mem(f, 0), PG, ASSIGN_DMA_F_RW),
					 -EINVAL);
			assert_err_contains(f, "IOMMU page size 0x10000");
		}
		assert_int_equal(assign_iommu_map(f->iommu, 0x300000000ull,
						  mem(f, 0), MB,
						  ASSIGN_DMA_F_RW), -ERANGE);
		assert_err_contains(f, "outside the IOVA ranges");
		assert_int_equal(assign_iommu_map(f->iommu, 0x2fff00000ull,
						  mem(f, 0), 2 * MB,
						  ASSIGN_DMA_F_RW), -ERANGE);
		assert_err_contains(f, "0x300000000-0x3000fffff is not in any");
		assert_int_equal(assign_iommu_map(f->iommu, 0x2fff00000ull,
						  mem(f, 0), MB,
						  ASSIGN_DMA_F_RW), 0);
		detach_all(f);
		f->iommu = assign_iommu_unref(f->iommu);
	}
}

static size_t count_kind(const struct assign_conflict *c, size_t n,
			 enum assign_conflict_kind k, size_t index);

static void test_reserved_regions(void **state)
{
	struct fx *f = *state;
	const struct assign_reserved_region *rr;
	size_t n;

	mock_set_reserved_regions(f->mk, 3,
				  "0x00000000fee00000 0x00000000feefffff msi\n");
	mock_set_reserved_regions(f->mk, 4,
				  "0x00000000fee00000 0x00000000feefffff msi\n"
				  "0x000000003f000000 0x000000003fffffff direct\n"
				  "0x0000000040000000 0x00000000400fffff "
				  "direct-relaxable\n");
	new_iommu(f, ASSIGN_IOMMU_TYPE1, 0);
	assert_int_equal(attach(f, DEV_A), 0);
	assert_int_equal(assign_iommu_get_reserved_regions(f->iommu, &rr, &n),
			 0);
	assert_int_equal(n, 1);
	assert_int_equal(rr[0].start, 0xfee00000ull);
	assert_int_equal(rr[0].last, 0xfeefffffull);
	assert_string_equal(rr[0].type, "msi");
	/* The union over groups, sorted, duplicates dropped. */
	assert_int_equal(attach(f, DEV_B), 0);
	assert_int_equal(assign_iommu_get_reserved_regions(f->iommu, &rr, &n),
			 0);
	assert_int_equal(n, 3);
	assert_string_equal(rr[0].type, "direct");
	assert_string_equal(rr[1].type, "direct-relaxable");
	assert_string_equal(rr[2].type, "msi");
	/* Reserved (direct) refuses DMA, relaxable does not. */
	assert_int_equal(assign_iommu_map(f->iommu, 0x3f000000ull, mem(f, 0),
					  MB, ASSIGN_DMA_F_RW), -ERANGE);
	assert_err_contains(f, "reserved region direct 0x3f000000-0x3fffffff");
	{
		/* Whatever the IOVA ranges say about it, the relaxable region
		 * is never reported as a reserved-region conflict. */
		struct assign_iova_range prop = { 0x40000000ull,
						  0x400fffffull };
		struct assign_conflict c[4] = { { .size = sizeof(c[0]) } };

		assign_iommu_check_layout(f->iommu, &prop, 1, c, 4, &n);
		assert_true(n <= 4);
		assert_int_equal(count_kind(c, n, ASSIGN_CONFLICT_RESERVED, 0),
				 0);
	}
}

static void test_reserved_regions_unreadable(void **state)
{
	struct fx *f = *state;
	const struct assign_reserved_region *rr;
	size_t n;

	mock_set_reserved_regions(f->mk, 3,
				  "0x00000000fee00000 0x00000000feefffff msi\n");
	new_iommu(f, ASSIGN_IOMMU_IOMMUFD, 0);
	/* Reading the file fails: the attach fails and says which file.
	 * (The first file read, two preads to its end, is the device's
	 * class: is it a bridge?) */
	mock_fail_nth(f->mk, MOCK_PREAD, 0, 3, -EIO);
	assert_int_equal(attach(f, DEV_A), -EIO);
	assert_err_contains(f, "kernel/iommu_groups/3/reserved_regions");
	assert_int_equal(mock_open_fds(f->mk), 1);
	/* A group without the file (Linux before 4.11) has none. */
	mock_fail_nth(f->mk, MOCK_OPENAT, 0, 2, -ENOENT);
	assert_int_equal(attach(f, DEV_A), 0);
	assert_int_equal(assign_iommu_get_reserved_regions(f->iommu, &rr, &n),
			 0);
	assert_int_equal(n, 0);
}

static void test_reserved_regions_bad(void **state)
{
	struct fx *f = *state;

	mock_set_reserved_regions(f->mk, 3,
				  "0x00000000fee00000 0x00000000feefffff msi\n"
				  "garbage here\n");
	new_iommu(f, ASSIGN_IOMMU_TYPE1, 0);
	assert_int_equal(attach(f, DEV_A), -EIO);
	assert_err_contains(f, "kernel/iommu_groups/3/reserved_regions line 2");
	/* The attach was undone. */
	assert_int_equal(mock_open_fds(f->mk), 1);
	assert_int_equal(f->iommu->ngroups, 0);
}

/* ---------------------------------------------------------------------- */
/* Mapping */

static void map_basic(struct fx *f)
{
	struct assign_dma_stats st = {
		.size = sizeof(st),
		.mappings = 7,
		.bytes = 7,
	};
	void *va = NULL;
	uint32_t fl = 0;

	assert_int_equal(assign_iommu_get_dma_stats(f->iommu, &st), 0);
	assert_int_equal(st.mappings, 0);
	assert_int_equal(st.bytes, 0);
	assert_int_equal(assign_iommu_map(f->iommu, 0x100000, mem(f, 0),
					  2 * MB, ASSIGN_DMA_F_RW), 0);
	assert_int_equal(assign_iommu_map(f->iommu, 0x800000, mem(f, 4 * MB),
					  MB, ASSIGN_DMA_F_READ), 0);
	assert_int_equal(mock_dma_count(f->mk), 2);
	assert_int_equal(mock_dma_bytes(f->mk), 3 * MB);
	assert_int_equal(mock_dma_lookup(f->mk, 0x100000 + PG, &va, &fl), 0);
	assert_ptr_equal(va, mem(f, PG));
	assert_int_equal(assign_iommu_get_dma_stats(f->iommu, &st), 0);
	assert_int_equal(st.mappings, 2);
	assert_int_equal(st.bytes, 3 * MB);
	assert_int_equal(assign_iommu_unmap(f->iommu, 0x100000, 2 * MB), 0);
	assert_int_equal(mock_dma_lookup(f->mk, 0x100000, &va, &fl), -ENOENT);
	assert_int_equal(assign_iommu_unmap_all(f->iommu), 0);
	assert_int_equal(mock_dma_count(f->mk), 0);
	assert_int_equal(assign_iommu_get_dma_stats(f->iommu, &st), 0);
	assert_int_equal(st.mappings, 0);
	assert_int_equal(assign_iommu_get_dma_stats(NULL, &st), -EINVAL);
	assert_int_equal(assign_iommu_get_dma_stats(f->iommu, NULL), -EINVAL);
}

static void test_map_basic_type1(void **state)
{
	struct fx *f = *state;

	new_iommu(f, ASSIGN_IOMMU_TYPE1, 0);
	assert_int_equal(attach(f, DEV_A), 0);
	map_basic(f);
}

static void test_map_basic_iommufd(void **state)
{
	struct fx *f = *state;

	new_iommu(f, ASSIGN_IOMMU_IOMMUFD, 0);
	assert_int_equal(attach(f, DEV_A), 0);
	map_basic(f);
}

static void map_checks(struct fx *f)
{
	assert_int_equal(assign_iommu_map(NULL, 0, mem(f, 0), MB,
					  ASSIGN_DMA_F_RW), -EINVAL);
	assert_int_equal(assign_iommu_map(f->iommu, 0, mem(f, 0), MB, 0),
			 -EINVAL);
	assert_err_contains(f, "ASSIGN_DMA_F_READ");
	assert_int_equal(assign_iommu_map(f->iommu, 0, mem(f, 0), MB, 0x10),
			 -EINVAL);
	assert_int_equal(assign_iommu_map(f->iommu, 0, mem(f, 0), 0,
					  ASSIGN_DMA_F_RW), -EINVAL);
	assert_err_contains(f, "size 0");
	assert_int_equal(assign_iommu_map(f->iommu, 0x1000, mem(f, 0), 0x800,
					  ASSIGN_DMA_F_RW), -EINVAL);
	assert_err_contains(f, "not aligned");
	assert_int_equal(assign_iommu_map(f->iommu, 0x1800, mem(f, 0), PG,
					  ASSIGN_DMA_F_RW), -EINVAL);
	assert_int_equal(assign_iommu_map(f->iommu, 0x1000, mem(f, 0x800), PG,
					  ASSIGN_DMA_F_RW), -EINVAL);
	assert_int_equal(assign_iommu_map(f->iommu, UINT64_MAX - PG + 1,
					  mem(f, 0), 2 * PG,
					  ASSIGN_DMA_F_RW), -EINVAL);
	assert_err_contains(f, "wraps");
	/* Outside the aperture (2^48). */
	assert_int_equal(assign_iommu_map(f->iommu, 1ull << 48, mem(f, 0), MB,
					  ASSIGN_DMA_F_RW), -ERANGE);
	assert_err_contains(f, "outside the IOVA ranges");
	/* The MSI window is not in the IOVA ranges either. */
	assert_int_equal(assign_iommu_map(f->iommu, 0xfee00000ull, mem(f, 0),
					  MB, ASSIGN_DMA_F_RW), -ERANGE);
	/* DMA limit. */
	assert_int_equal(assign_iommu_set_dma_limit(f->iommu, (1ull << 28) - 1),
			 0);
	assert_int_equal(assign_iommu_map(f->iommu, 1ull << 28, mem(f, 0), MB,
					  ASSIGN_DMA_F_RW), -ERANGE);
	assert_err_contains(f, "above the DMA limit 0xfffffff");
	assert_int_equal(assign_iommu_map(f->iommu, (1ull << 28) - MB,
					  mem(f, 0), 2 * MB,
					  ASSIGN_DMA_F_RW), -ERANGE);
	/* Overlap names the existing mapping. */
	assert_int_equal(assign_iommu_map(f->iommu, 0x200000, mem(f, 0),
					  2 * MB, ASSIGN_DMA_F_RW), 0);
	assert_int_equal(assign_iommu_map(f->iommu, 0x300000, mem(f, 8 * MB),
					  2 * MB, ASSIGN_DMA_F_RW), -EEXIST);
	assert_err_contains(f, "existing mapping 0x200000-0x3fffff");
	assert_int_equal(assign_iommu_map(f->iommu, 0x100000, mem(f, 8 * MB),
					  2 * MB, ASSIGN_DMA_F_RW), -EEXIST);
	assert_int_equal(assign_iommu_map(f->iommu, 0x100000, mem(f, 8 * MB),
					  MB, ASSIGN_DMA_F_RW), 0);
	assert_int_equal(assign_iommu_map(f->iommu, 0x400000, mem(f, 8 * MB),
					  MB, ASSIGN_DMA_F_RW), 0);
	/* Limit cannot go below a mapping; UINT64_MAX lifts it. */
	assert_int_equal(assign_iommu_set_dma_limit(f->iommu, 0x3fffff),
			 -EEXIST);
	assert_err_contains(f, "0x400000-0x4fffff");
	assert_int_equal(assign_iommu_set_dma_limit(f->iommu, 0x4fffff), 0);
	assert_int_equal(assign_iommu_set_dma_limit(f->iommu, UINT64_MAX), 0);
	assert_int_equal(assign_iommu_set_dma_limit(NULL, 0), -EINVAL);
	/* Nothing reached the kernel for the refused ones. */
	assert_int_equal(mock_dma_count(f->mk), 3);
}

static void test_map_checks_type1(void **state)
{
	struct fx *f = *state;

	new_iommu(f, ASSIGN_IOMMU_TYPE1, 0);
	assert_int_equal(attach(f, DEV_A), 0);
	map_checks(f);
}

static void test_map_checks_iommufd(void **state)
{
	struct fx *f = *state;

	new_iommu(f, ASSIGN_IOMMU_IOMMUFD, 0);
	assert_int_equal(attach(f, DEV_A), 0);
	map_checks(f);
}

static void test_map_reserved_msi(void **state)
{
	struct fx *f = *state;
	/* A platform where the MSI window is inside the IOVA ranges but
	 * reserved (as on Arm's software MSI). */
	static const uint64_t rs[][2] = { { 0, (1ull << 40) - 1 } };

	mock_set_iova_ranges(f->mk, rs, 1);
	mock_set_reserved_regions(f->mk, 3,
				  "0x0000000008000000 0x00000000080fffff msi\n");
	new_iommu(f, ASSIGN_IOMMU_TYPE1, 0);
	assert_int_equal(attach(f, DEV_A), 0);
	assert_int_equal(assign_iommu_map(f->iommu, 0x7f00000, mem(f, 0),
					  2 * MB, ASSIGN_DMA_F_RW), -ERANGE);
	assert_err_contains(f, "reserved region msi 0x8000000-0x80fffff");
	assert_int_equal(mock_dma_count(f->mk), 0);
}

static void test_map_memlock(void **state)
{
	struct fx *f = *state;

	mock_set_memlock(f->mk, 4 * MB);
	new_iommu(f, ASSIGN_IOMMU_TYPE1, 0);
	assert_int_equal(attach(f, DEV_A), 0);
	assert_int_equal(assign_iommu_check_memlock(f->iommu, 4 * MB), 0);
	assert_int_equal(assign_iommu_map(f->iommu, 0, mem(f, 0), 3 * MB,
					  ASSIGN_DMA_F_RW), 0);
	assert_int_equal(assign_iommu_check_memlock(f->iommu, MB), 0);
	assert_int_equal(assign_iommu_check_memlock(f->iommu, 2 * MB), -ENOMEM);
	assert_err_contains(f, "2097152 more bytes");
	assert_err_contains(f, "needs 5242880 bytes");
	assert_err_contains(f, "RLIMIT_MEMLOCK is 4194304 bytes");
	assert_err_contains(f, "ulimit -l");
	assert_err_contains(f, "CAP_IPC_LOCK");
	assert_int_equal(assign_iommu_check_memlock(f->iommu, UINT64_MAX),
			 -ENOMEM);
	assert_err_contains(f, "needs 18446744073709551615 bytes");
	/* The kernel refuses past the limit; the message explains it. */
	assert_int_equal(assign_iommu_map(f->iommu, 4 * MB, mem(f, 4 * MB),
					  2 * MB, ASSIGN_DMA_F_RW), -ENOMEM);
	assert_err_contains(f, "RLIMIT_MEMLOCK is 4194304 bytes");
	assert_err_contains(f, "needs 5242880 bytes");
	assert_int_equal(mock_dma_count(f->mk), 1);
	mock_fail_nth(f->mk, MOCK_GETRLIMIT, 0, 1, -EIO);
	assert_int_equal(assign_iommu_check_memlock(f->iommu, 1), -EIO);
	assert_int_equal(assign_iommu_check_memlock(NULL, 1), -EINVAL);
}

/* A seam that is the mock's, except for /proc/self/status and, when
 * cap_uid_map is set, /proc/self/uid_map (one open at a time). */
static struct assign_sys_ops cap_ops;
static const struct assign_sys_ops *cap_base;
static int cap_fd = -1;
static const char *cap_status, *cap_uid_map;

static int cap_open(void *data, const char *path, int flags)
{
	const char *text = NULL;

	if (strcmp(path, "/proc/self/status") == 0)
		text = cap_status;
	else if (strcmp(path, "/proc/self/uid_map") == 0)
		text = cap_uid_map;
	if (text) {
		assert_int_equal(cap_fd, -1);
		cap_fd = memfd_create("proc", MFD_CLOEXEC);
		assert_true(cap_fd >= 0);
		assert_int_equal(write(cap_fd, text, strlen(text)),
				 (ssize_t)strlen(text));
		return cap_fd;
	}
	return cap_base->open(data, path, flags);
}

static ssize_t cap_pread(void *data, int fd, void *buf, size_t n,
			 uint64_t off)
{
	if (fd == cap_fd)
		return pread(fd, buf, n, (off_t)off);
	return cap_base->pread(data, fd, buf, n, off);
}

static int cap_close(void *data, int fd)
{
	if (fd == cap_fd) {
		cap_fd = -1;
		return close(fd);
	}
	return cap_base->close(data, fd);
}

static void test_memlock_cap_ipc_lock(void **state)
{
	struct fx *f = *state;

	mock_set_memlock(f->mk, MB);
	cap_base = f->ctx->sys;
	cap_ops = *cap_base;
	cap_ops.open = cap_open;
	cap_ops.pread = cap_pread;
	cap_ops.close = cap_close;
	f->ctx->sys = &cap_ops;
	new_iommu(f, ASSIGN_IOMMU_TYPE1, 0);
	/* CAP_IPC_LOCK (bit 14) in CapEff: the limit does not apply. */
	cap_status = "Name:\tvmm\nCapInh:\t0000000000000000\n"
		     "CapEff:\t0000000000004000\nCapBnd:\t000001ffffffffff\n";
	assert_int_equal(assign_iommu_check_memlock(f->iommu, 2 * MB), 0);
	assert_int_equal(cap_fd, -1); /* closed again */
	/* The same in the initial user namespace, named by uid_map. */
	cap_uid_map = "         0          0 4294967295\n";
	assert_int_equal(assign_iommu_check_memlock(f->iommu, 2 * MB), 0);
	assert_int_equal(cap_fd, -1);
	/* Inside a container's user namespace the kernel's capable() does
	 * not see it: the limit holds, and the message says where the
	 * capability would count. */
	cap_uid_map = "         0     100000      65536\n";
	assert_int_equal(assign_iommu_check_memlock(f->iommu, 2 * MB), -ENOMEM);
	assert_err_contains(f, "CAP_IPC_LOCK (outside any user namespace)");
	assert_int_equal(cap_fd, -1);
	cap_uid_map = "0 0 4294967295\n1 1 1\n"; /* not the initial map */
	assert_int_equal(assign_iommu_check_memlock(f->iommu, 2 * MB), -ENOMEM);
	cap_uid_map = NULL;
	/* Without it, the limit holds. */
	cap_status = "Name:\tvmm\nCapEff:\t0000000000000000\n"
		     "CapBnd:\t0000000000004000\n";
	assert_int_equal(assign_iommu_check_memlock(f->iommu, 2 * MB), -ENOMEM);
	assert_err_contains(f, "RLIMIT_MEMLOCK is 1048576 bytes");
	cap_status = "garbage";
	assert_int_equal(assign_iommu_check_memlock(f->iommu, 2 * MB), -ENOMEM);
	assert_int_equal(assign_iommu_check_memlock(f->iommu, MB), 0);
	f->iommu = assign_iommu_unref(f->iommu);
	f->ctx->sys = cap_base;
}

static void test_memlock_unlimited(void **state)
{
	struct fx *f = *state;

	new_iommu(f, ASSIGN_IOMMU_IOMMUFD, 0);
	assert_int_equal(assign_iommu_check_memlock(f->iommu, UINT64_MAX), 0);
}

/* ENOMEM from the kernel while the memlock limit does not apply: the
 * message says the kernel ran out of memory, not "raise the limit". */
static void test_map_enomem_no_limit(void **state)
{
	struct fx *f = *state;
	const char *msg;

	new_iommu(f, ASSIGN_IOMMU_TYPE1, 0);
	assert_int_equal(attach(f, DEV_A), 0);
	/* RLIMIT_MEMLOCK unlimited (the mock's default). */
	mock_fail_nth(f->mk, MOCK_IOCTL, VFIO_IOMMU_MAP_DMA, 1, -ENOMEM);
	assert_int_equal(assign_iommu_map(f->iommu, 0, mem(f, 0), MB,
					  ASSIGN_DMA_F_RW), -ENOMEM);
	mock_fail_clear(f->mk);
	assert_err_contains(f, "the kernel ran out of memory");
	assert_err_contains(f, "RLIMIT_MEMLOCK is unlimited");
	msg = assign_ctx_get_last_error(f->ctx);
	assert_null(strstr(msg, "ulimit -l"));
	/* A limit, but CAP_IPC_LOCK lifts it. */
	mock_set_memlock(f->mk, 4 * MB);
	mock_set_cap_ipc_lock(f->mk, true);
	mock_fail_nth(f->mk, MOCK_IOCTL, VFIO_IOMMU_MAP_DMA, 1, -ENOMEM);
	assert_int_equal(assign_iommu_map(f->iommu, 0, mem(f, 0), MB,
					  ASSIGN_DMA_F_RW), -ENOMEM);
	mock_fail_clear(f->mk);
	assert_err_contains(f, "the kernel ran out of memory");
	assert_err_contains(f, "CAP_IPC_LOCK");
	assert_null(strstr(assign_ctx_get_last_error(f->ctx), "ulimit -l"));
	/* A limit that applies: it is blamed. */
	mock_set_cap_ipc_lock(f->mk, false);
	mock_fail_nth(f->mk, MOCK_IOCTL, VFIO_IOMMU_MAP_DMA, 1, -ENOMEM);
	assert_int_equal(assign_iommu_map(f->iommu, 0, mem(f, 0), MB,
					  ASSIGN_DMA_F_RW), -ENOMEM);
	mock_fail_clear(f->mk);
	assert_err_contains(f, "RLIMIT_MEMLOCK is 4194304 bytes");
	assert_err_contains(f, "ulimit -l");
	assert_int_equal(mock_dma_count(f->mk), 0);
	assert_int_equal(assign_iommu_map(f->iommu, 0, mem(f, 0), MB,
					  ASSIGN_DMA_F_RW), 0);
}

static void test_map_dma_entry_limit(void **state)
{
	struct fx *f = *state;
	uint32_t avail;

	mock_set_dma_entry_limit(f->mk, 2);
	new_iommu(f, ASSIGN_IOMMU_TYPE1, 0);
	assert_int_equal(attach(f, DEV_A), 0);
	assert_int_equal(assign_iommu_map(f->iommu, 0, mem(f, 0), PG,
					  ASSIGN_DMA_F_RW), 0);
	assert_int_equal(assign_iommu_map(f->iommu, PG, mem(f, PG), PG,
					  ASSIGN_DMA_F_RW), 0);
	assert_int_equal(assign_iommu_get_dma_avail(f->iommu, &avail), 0);
	assert_int_equal(avail, 0);
	assert_int_equal(assign_iommu_map(f->iommu, 2 * PG, mem(f, 2 * PG), PG,
					  ASSIGN_DMA_F_RW), -ENOSPC);
	assert_err_contains(f, "dma_entry_limit");
}

/* A seam that is the mock's, except that VFIO_IOMMU_GET_INFO hides the
 * DMA_AVAIL capability, as kernels before 5.10 do. */
static struct assign_sys_ops old_ops;
static const struct assign_sys_ops *old_base;

static int old_kernel_ioctl(void *data, int fd, unsigned long req, void *arg)
{
	int r = old_base->ioctl(data, fd, req, arg);
	struct vfio_iommu_type1_info *info = arg;
	uint32_t off;

	if (req != VFIO_IOMMU_GET_INFO || r < 0 ||
	    !(info->flags & VFIO_IOMMU_INFO_CAPS))
		return r;
	for (off = info->cap_offset; off && off + 8 <= info->argsz;) {
		struct vfio_info_cap_header *h = (void *)((uint8_t *)arg + off);

		if (h->id == VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL)
			h->id = 0x7fff; /* a capability nobody knows */
		if (h->next <= off)
			break;
		off = h->next;
	}
	return r;
}

/* The object's own limit on mappings (assign_iommu_opts.max_mappings). */
static void max_mappings_on(struct fx *f, enum assign_iommu_backend b)
{
	struct assign_iommu_opts o = { .size = sizeof(o),
				       .backend = b,
				       .max_mappings = 3 };
	struct assign_dma_map req[2] = {
		{ 0x100000, mem(f, 0), PG, ASSIGN_DMA_F_RW },
		{ 0x200000, mem(f, 0), PG, ASSIGN_DMA_F_RW },
	};
	uint32_t avail;

	assert_int_equal(assign_iommu_new(f->ctx, &o, &f->iommu), 0);
	assert_int_equal(attach(f, DEV_A), 0);
	assert_int_equal(assign_iommu_get_dma_avail(f->iommu, &avail), 0);
	assert_int_equal(avail, 3);
	/* One page at ever more IOVAs: what a guest could do. */
	for (int i = 0; i < 3; i++)
		assert_int_equal(
			assign_iommu_map(f->iommu, (uint64_t)(i + 1) * PG,
					 mem(f, 0), PG, ASSIGN_DMA_F_RW),
			0);
	assert_int_equal(assign_iommu_get_dma_avail(f->iommu, &avail), 0);
	assert_int_equal(avail, 0);
	assert_int_equal(assign_iommu_map(f->iommu, 4 * PG, mem(f, 0), PG,
					  ASSIGN_DMA_F_RW),
			 -ENOSPC);
	assert_err_contains(f, "limit of 3 DMA mappings is reached");
	assert_err_contains(f, "assign_iommu_opts.max_mappings");
	assert_int_equal(mock_dma_count(f->mk), 3);
	/* All or nothing. */
	assert_int_equal(assign_iommu_unmap(f->iommu, PG, PG), 0);
	assert_int_equal(assign_iommu_map_many(f->iommu, req, 2), -ENOSPC);
	assert_err_contains(f, "2 more asked");
	assert_int_equal(mock_dma_count(f->mk), 2);
	assert_int_equal(assign_iommu_map_many(f->iommu, req, 1), 0);
	assert_int_equal(mock_dma_count(f->mk), 3);
	assert_int_equal(assign_iommu_unmap_all(f->iommu), 0);
}

static void test_max_mappings_iommufd(void **state)
{
	max_mappings_on(*state, ASSIGN_IOMMU_IOMMUFD);
}

static void test_max_mappings_type1(void **state)
{
	struct fx *f = *state;

	/* On type1 the library refuses before the kernel's limit. */
	mock_set_dma_entry_limit(f->mk, 10);
	max_mappings_on(f, ASSIGN_IOMMU_TYPE1);
}

/* The defaults: iommufd gets type1's 65535, type1 the kernel's own. */
static void test_max_mappings_defaults(void **state)
{
	struct fx *f = *state;
	char before[ASSIGN_ERROR_MAX];
	uint32_t avail;

	new_iommu(f, ASSIGN_IOMMU_AUTO, 0); /* picks iommufd */
	assert_int_equal(attach(f, DEV_A), 0);
	assert_int_equal(assign_iommu_get_backend(f->iommu),
			 ASSIGN_IOMMU_IOMMUFD);
	assert_int_equal(assign_iommu_map(f->iommu, PG, mem(f, 0), PG,
					  ASSIGN_DMA_F_RW),
			 0);
	assert_int_equal(assign_iommu_get_dma_avail(f->iommu, &avail), 0);
	assert_int_equal(avail, ASSIGN_IOMMU_DEFAULT_MAX_MAPPINGS - 1);
	assert_int_equal(ASSIGN_IOMMU_DEFAULT_MAX_MAPPINGS, 65535);
	assert_int_equal(assign_iommu_unmap_all(f->iommu), 0);
	detach_all(f);
	f->iommu = assign_iommu_unref(f->iommu);

	mock_set_dma_entry_limit(f->mk, 100);
	new_iommu(f, ASSIGN_IOMMU_TYPE1, 0);
	assert_int_equal(attach(f, DEV_A), 0);
	assert_int_equal(assign_iommu_map(f->iommu, PG, mem(f, 0), PG,
					  ASSIGN_DMA_F_RW),
			 0);
	assert_int_equal(assign_iommu_get_dma_avail(f->iommu, &avail), 0);
	assert_int_equal(avail, 99);
	assert_int_equal(assign_iommu_unmap_all(f->iommu), 0);
	detach_all(f);
	f->iommu = assign_iommu_unref(f->iommu);

	/* A type1 kernel too old to report the entries left (before 5.10):
	 * the object's own limit answers, and no error is left behind. */
	{
		struct assign_iommu_opts o = { .size = sizeof(o),
					       .backend = ASSIGN_IOMMU_TYPE1,
					       .max_mappings = 7 };

		old_base = f->ctx->sys;
		old_ops = *old_base;
		old_ops.ioctl = old_kernel_ioctl;
		f->ctx->sys = &old_ops;
		assert_int_equal(assign_iommu_new(f->ctx, &o, &f->iommu), 0);
		assert_int_equal(attach(f, DEV_A), 0);
		/* An earlier failure's message stays. */
		assert_int_equal(assign_iommu_map(f->iommu, 1, mem(f, 0), PG,
						  ASSIGN_DMA_F_RW),
				 -EINVAL);
		snprintf(before, sizeof(before), "%s", err(f));
		assert_int_equal(assign_iommu_get_dma_avail(f->iommu, &avail),
				 0);
		assert_int_equal(avail, 7);
		assert_string_equal(err(f), before);
		/* Without a limit of its own there is nothing to say. */
		detach_all(f);
		f->iommu = assign_iommu_unref(f->iommu);
		new_iommu(f, ASSIGN_IOMMU_TYPE1, 0);
		assert_int_equal(attach(f, DEV_A), 0);
		assert_int_equal(assign_iommu_get_dma_avail(f->iommu, &avail),
				 -EOPNOTSUPP);
		assert_err_contains(f, "Linux 5.10");
	}
}

static void test_map_kernel_errors(void **state)
{
	struct fx *f = *state;
	struct assign_dma_stats st = { .size = sizeof(st) };

	new_iommu(f, ASSIGN_IOMMU_TYPE1, 0);
	assert_int_equal(attach(f, DEV_A), 0);
	mock_fail_nth(f->mk, MOCK_IOCTL, VFIO_IOMMU_MAP_DMA, 1, -EFAULT);
	assert_int_equal(assign_iommu_map(f->iommu, 0, mem(f, 0), MB,
					  ASSIGN_DMA_F_RW), -EFAULT);
	assert_err_contains(f, "cannot pin");
	mock_fail_nth(f->mk, MOCK_IOCTL, VFIO_IOMMU_MAP_DMA, 1, -EEXIST);
	assert_int_equal(assign_iommu_map(f->iommu, 0, mem(f, 0), MB,
					  ASSIGN_DMA_F_RW), -EEXIST);
	assert_err_contains(f, "did not make");
	mock_fail_nth(f->mk, MOCK_IOCTL, VFIO_IOMMU_MAP_DMA, 1, -EIO);
	assert_int_equal(assign_iommu_map(f->iommu, 0, mem(f, 0), MB,
					  ASSIGN_DMA_F_RW), -EIO);
	assert_err_contains(f, "failed");
	/* madvise: unmapped memory is refused; EINVAL (a VM_IO area) is not
	 * fatal, see test_map_dontfork_failure for the others. */
	mock_fail_nth(f->mk, MOCK_MADVISE, 0, 1, -ENOMEM);
	assert_int_equal(assign_iommu_map(f->iommu, 0, mem(f, 0), MB,
					  ASSIGN_DMA_F_RW), -EFAULT);
	assert_err_contains(f, "not mapped in this process");
	mock_fail_nth(f->mk, MOCK_MADVISE, 0, 1, -EINVAL);
	assert_int_equal(assign_iommu_map(f->iommu, 0, mem(f, 0), MB,
					  ASSIGN_DMA_F_RW), 0);
	assert_int_equal(assign_iommu_get_dma_stats(f->iommu, &st), 0);
	assert_int_equal(st.mappings, 1);
	assert_int_equal(mock_dma_count(f->mk), 1);
}

static void test_map_dontfork(void **state)
{
	struct fx *f = *state;
	unsigned long before;

	new_iommu(f, ASSIGN_IOMMU_TYPE1, 0);
	assert_int_equal(attach(f, DEV_A), 0);
	before = mock_calls(f->mk, MOCK_MADVISE);
	assert_int_equal(assign_iommu_map(f->iommu, 0, mem(f, 0), MB,
					  ASSIGN_DMA_F_RW), 0);
	assert_int_equal(mock_calls(f->mk, MOCK_MADVISE), before + 1);
}

/* madvise(MADV_DONTFORK) failing with anything but EINVAL (VM_IO, e.g. a
 * BAR mmap) fails the map before the kernel sees it: DMA memory is never
 * left COW-breakable by fork(). */
static void test_map_dontfork_failure(void **state)
{
	struct fx *f = *state;
	static const int errs[] = { -EAGAIN, -EINTR, -EIO };
	struct assign_dma_map m[2] = {
		{ 0, mem(f, 0), MB, ASSIGN_DMA_F_RW },
		{ MB, mem(f, MB), MB, ASSIGN_DMA_F_RW },
	};
	unsigned long before;

	new_iommu(f, ASSIGN_IOMMU_TYPE1, 0);
	assert_int_equal(attach(f, DEV_A), 0);
	for (size_t i = 0; i < sizeof(errs) / sizeof(errs[0]); i++) {
		before = mock_calls(f->mk, MOCK_IOCTL);
		mock_fail_nth(f->mk, MOCK_MADVISE, 0, 1, errs[i]);
		assert_int_equal(assign_iommu_map(f->iommu, 0, mem(f, 0), MB,
						  ASSIGN_DMA_F_RW),
				 errs[i]);
		mock_fail_clear(f->mk);
		assert_err_contains(f, "MADV_DONTFORK");
		assert_err_contains(f, strerror(-errs[i]));
		/* The kernel never saw it. */
		assert_int_equal(mock_calls(f->mk, MOCK_IOCTL), before);
		assert_int_equal(mock_dma_count(f->mk), 0);
		assert_int_equal(f->iommu->maps.count, 0);
	}
	/* map_many: the second request's madvise fails, the first is
	 * undone, the message names the request. */
	mock_fail_nth(f->mk, MOCK_MADVISE, 0, 2, -EAGAIN);
	assert_int_equal(assign_iommu_map_many(f->iommu, m, 2), -EAGAIN);
	mock_fail_clear(f->mk);
	assert_err_contains(f, "request 1: cannot mark");
	assert_int_equal(mock_dma_count(f->mk), 0);
	assert_int_equal(f->iommu->maps.count, 0);
	/* EINVAL (a VM_IO area) is mapped unmarked. */
	mock_fail_nth(f->mk, MOCK_MADVISE, 0, 1, -EINVAL);
	assert_int_equal(assign_iommu_map(f->iommu, 0, mem(f, 0), MB,
					  ASSIGN_DMA_F_RW),
			 0);
	mock_fail_clear(f->mk);
	assert_int_equal(mock_dma_count(f->mk), 1);
}

static void map_many(struct fx *f, unsigned long map_req)
{
	struct assign_dma_map m[4];
	struct assign_dma_stats st = { .size = sizeof(st) };

	for (size_t i = 0; i < 4; i++) {
		m[i].vaddr = mem(f, i * 2 * MB);
		m[i].iova = 0x1000000 + i * 2 * MB;
		m[i].size = 2 * MB;
		m[i].flags = ASSIGN_DMA_F_RW;
	}
	assert_int_equal(assign_iommu_map_many(f->iommu, m, 0), 0);
	assert_int_equal(assign_iommu_map_many(f->iommu, NULL, 1), -EINVAL);
	assert_int_equal(assign_iommu_map_many(NULL, m, 1), -EINVAL);
	/* A bad request: nothing is made. */
	m[2].flags = 0;
	assert_int_equal(assign_iommu_map_many(f->iommu, m, 4), -EINVAL);
	assert_err_contains(f, "request 2: ");
	assert_int_equal(mock_dma_count(f->mk), 0);
	m[2].flags = ASSIGN_DMA_F_RW;
	/* Requests overlapping each other. */
	m[3].iova = m[1].iova + MB;
	assert_int_equal(assign_iommu_map_many(f->iommu, m, 4), -EEXIST);
	assert_err_contains(f, "request 3: ");
	assert_err_contains(f, "overlaps request 1");
	m[3].iova = 0x1000000 + 6 * MB;
	/* The kernel fails the third: the first two are rolled back. */
	mock_fail_nth(f->mk, MOCK_IOCTL, map_req, 3, -EIO);
	assert_int_equal(assign_iommu_map_many(f->iommu, m, 4), -EIO);
	assert_err_contains(f, "request 2: ");
	assert_int_equal(mock_dma_count(f->mk), 0);
	assert_int_equal(assign_iommu_get_dma_stats(f->iommu, &st), 0);
	assert_int_equal(st.mappings, 0);
	assert_int_equal(st.bytes, 0);
	/* And all of them. */
	assert_int_equal(assign_iommu_map_many(f->iommu, m, 4), 0);
	assert_int_equal(mock_dma_count(f->mk), 4);
	assert_int_equal(assign_iommu_get_dma_stats(f->iommu, &st), 0);
	assert_int_equal(st.mappings, 4);
	assert_int_equal(st.bytes, 8 * MB);
	/* Overlap with an existing mapping is named. */
	assert_int_equal(assign_iommu_map_many(f->iommu, m + 1, 1), -EEXIST);
	assert_err_contains(f, "request 0: ");
	assert_err_contains(f, "existing mapping 0x1200000-0x13fffff");
}

static void test_map_many_type1(void **state)
{
	struct fx *f = *state;

	new_iommu(f, ASSIGN_IOMMU_TYPE1, 0);
	assert_int_equal(attach(f, DEV_A), 0);
	map_many(f, VFIO_IOMMU_MAP_DMA);
}

static void test_map_many_iommufd(void **state)
{
	struct fx *f = *state;

	new_iommu(f, ASSIGN_IOMMU_IOMMUFD, 0);
	assert_int_equal(attach(f, DEV_A), 0);
	map_many(f, IOMMU_IOAS_MAP);
}

static void unmap_cases(struct fx *f, unsigned long unmap_req)
{
	struct assign_dma_stats st = { .size = sizeof(st) };

	/* Three adjacent mappings and one apart. */
	assert_int_equal(assign_iommu_map(f->iommu, 0x100000, mem(f, 0), MB,
					  ASSIGN_DMA_F_RW), 0);
	assert_int_equal(assign_iommu_map(f->iommu, 0x200000, mem(f, MB), MB,
					  ASSIGN_DMA_F_RW), 0);
	assert_int_equal(assign_iommu_map(f->iommu, 0x300000, mem(f, 2 * MB),
					  MB, ASSIGN_DMA_F_RW), 0);
	assert_int_equal(assign_iommu_map(f->iommu, 0x1000000, mem(f, 3 * MB),
					  MB, ASSIGN_DMA_F_RW), 0);
	assert_int_equal(assign_iommu_unmap(NULL, 0, PG), -EINVAL);
	assert_int_equal(assign_iommu_unmap(f->iommu, 0x100000, 0), -EINVAL);
	assert_int_equal(assign_iommu_unmap(f->iommu, 0x100800, PG), -EINVAL);
	assert_err_contains(f, "aligned");
	assert_int_equal(assign_iommu_unmap(f->iommu, 0x800000, MB), -ENOENT);
	assert_err_contains(f, "nothing is mapped");
	/* Cutting through: the message names the mapping. */
	assert_int_equal(assign_iommu_unmap(f->iommu, 0x180000, MB), -EBUSY);
	assert_err_contains(f, "cuts through the mapping 0x100000-0x1fffff");
	assert_int_equal(assign_iommu_unmap(f->iommu, 0x100000, 0x280000),
			 -EBUSY);
	assert_err_contains(f, "cuts through the mapping 0x300000-0x3fffff");
	assert_int_equal(mock_dma_count(f->mk), 4);
	/* A range covering two whole mappings plus a hole. */
	assert_int_equal(assign_iommu_unmap(f->iommu, 0, 0x300000), 0);
	assert_int_equal(mock_dma_count(f->mk), 2);
	assert_int_equal(assign_iommu_get_dma_stats(f->iommu, &st), 0);
	assert_int_equal(st.mappings, 2);
	assert_int_equal(st.bytes, 2 * MB);
	/* Kernel failure: the mapping stays accounted. */
	mock_fail_nth(f->mk, MOCK_IOCTL, unmap_req, 1, -EIO);
	assert_int_equal(assign_iommu_unmap(f->iommu, 0x300000, MB), -EIO);
	assert_err_contains(f, "0x300000-0x3fffff");
	assert_int_equal(assign_iommu_get_dma_stats(f->iommu, &st), 0);
	assert_int_equal(st.mappings, 2);
	mock_fail_nth(f->mk, MOCK_IOCTL, unmap_req, 1, -EIO);
	assert_int_equal(assign_iommu_unmap_all(f->iommu), -EIO);
	assert_err_contains(f, "1 remain");
	assert_int_equal(assign_iommu_unmap_all(f->iommu), 0);
	assert_int_equal(mock_dma_count(f->mk), 0);
	assert_int_equal(assign_iommu_unmap_all(f->iommu), 0);
	assert_int_equal(assign_iommu_unmap_all(NULL), -EINVAL);
	/* A range ending in a hole before the next mapping. */
	assert_int_equal(assign_iommu_map(f->iommu, 0x100000, mem(f, 0), MB,
					  ASSIGN_DMA_F_RW), 0);
	assert_int_equal(assign_iommu_map(f->iommu, 0x1000000, mem(f, MB), MB,
					  ASSIGN_DMA_F_RW), 0);
	assert_int_equal(assign_iommu_unmap(f->iommu, 0, 0x800000), 0);
	assert_int_equal(mock_dma_count(f->mk), 1);
	assert_int_equal(mock_dma_lookup(f->mk, 0x1000000, NULL, NULL), 0);
}

static void test_unmap_type1(void **state)
{
	struct fx *f = *state;

	new_iommu(f, ASSIGN_IOMMU_TYPE1, 0);
	assert_int_equal(attach(f, DEV_A), 0);
	unmap_cases(f, VFIO_IOMMU_UNMAP_DMA);
}

static void test_unmap_iommufd(void **state)
{
	struct fx *f = *state;

	new_iommu(f, ASSIGN_IOMMU_IOMMUFD, 0);
	assert_int_equal(attach(f, DEV_A), 0);
	unmap_cases(f, IOMMU_IOAS_UNMAP);
}

static void test_unref_unmaps(void **state)
{
	struct fx *f = *state;

	new_iommu(f, ASSIGN_IOMMU_TYPE1, 0);
	assert_int_equal(attach(f, DEV_A), 0);
	assert_int_equal(assign_iommu_map(f->iommu, 0, mem(f, 0), MB,
					  ASSIGN_DMA_F_RW), 0);
	assert_int_equal(assign_iommu_map(f->iommu, MB, mem(f, MB), MB,
					  ASSIGN_DMA_F_RW), 0);
	detach_all(f);
	/* type1: the last group leaving the container drops the mappings;
	 * the library unmaps them first. */
	assert_int_equal(mock_dma_count(f->mk), 0);
	assert_int_equal(mock_open_fds(f->mk), 1);
	/* Reattaching sets the IOMMU type again. */
	assert_int_equal(attach(f, DEV_A), 0);
	assert_int_equal(assign_iommu_map(f->iommu, 0, mem(f, 0), MB,
					  ASSIGN_DMA_F_RW), 0);
	/* teardown: detach, unref, and checks nothing is left. */
}

static void test_unref_iommufd_unmaps(void **state)
{
	struct fx *f = *state;

	new_iommu(f, ASSIGN_IOMMU_IOMMUFD, 0);
	assert_int_equal(attach(f, DEV_A), 0);
	assert_int_equal(assign_iommu_map(f->iommu, 0, mem(f, 0), MB,
					  ASSIGN_DMA_F_RW), 0);
	detach_all(f);
	f->iommu = assign_iommu_unref(f->iommu);
	assert_int_equal(mock_dma_count(f->mk), 0);
	assert_int_equal(mock_open_fds(f->mk), 0);
}

/* ---------------------------------------------------------------------- */
/* Layout checks */

static size_t count_kind(const struct assign_conflict *c, size_t n,
			 enum assign_conflict_kind k, size_t index)
{
	size_t cnt = 0;

	for (size_t i = 0; i < n; i++)
		if (c[i].kind == k && c[i].index == index)
			cnt++;
	return cnt;
}

/* ---------------------------------------------------------------------- */
/* Placing DMA memory: assign_iommu_iova_find(), assign_dma_buf_*() */

static void iova_find_on(struct fx *f, enum assign_iommu_backend b)
{
	static const uint64_t rs[][2] = { { 0x0, 0x7fffff },
					  { 0x10000000, 0x1fffffff } };
	uint64_t iova = 0xdead;

	mock_set_iova_ranges(f->mk, rs, ARRAY_SIZE(rs));
	/* A reserved region, and a relaxable one that does not count. */
	mock_set_reserved_regions(f->mk, 3,
				  "0x0000000000004000 0x0000000000005fff "
				  "reserved\n"
				  "0x0000000000008000 0x0000000000008fff "
				  "direct-relaxable\n");
	new_iommu(f, b, 0);
	assert_int_equal(assign_iommu_iova_find(f->iommu, PG, 0, &iova),
			 -ENODEV);
	assert_int_equal(iova, 0xdead);
	assert_int_equal(attach(f, DEV_A), 0);

	/* Never 0: the first page up. */
	assert_int_equal(assign_iommu_iova_find(f->iommu, PG, 0, &iova), 0);
	assert_int_equal(iova, PG);
	/* Rounded up to the page; around mappings and the reserved region. */
	assert_int_equal(assign_iommu_map(f->iommu, PG, mem(f, 0), 2 * PG,
					  ASSIGN_DMA_F_RW),
			 0);
	assert_int_equal(assign_iommu_iova_find(f->iommu, 1, 0, &iova), 0);
	assert_int_equal(iova, 3 * PG);
	assert_int_equal(assign_iommu_iova_find(f->iommu, 2 * PG, 0, &iova), 0);
	assert_int_equal(iova, 6 * PG); /* 3-4 too small, 4-5 reserved */
	/* The relaxable region is no obstacle. */
	assert_int_equal(assign_iommu_map(f->iommu, 6 * PG, mem(f, PG), 2 * PG,
					  ASSIGN_DMA_F_RW),
			 0);
	assert_int_equal(assign_iommu_iova_find(f->iommu, 2 * PG, 0, &iova), 0);
	assert_int_equal(iova, 8 * PG);
	/* Aligned. */
	assert_int_equal(assign_iommu_iova_find(f->iommu, PG, 2 * MB, &iova),
			 0);
	assert_int_equal(iova, 2 * MB);
	/* Too big for the first range: the second one. */
	assert_int_equal(assign_iommu_iova_find(f->iommu, 16 * MB, 0, &iova),
			 0);
	assert_int_equal(iova, 0x10000000);
	/* Below the DMA limit only. */
	assert_int_equal(assign_iommu_set_dma_limit(f->iommu, 0xfffff), 0);
	assert_int_equal(assign_iommu_iova_find(f->iommu, MB, 0, &iova),
			 -ENOSPC);
	assert_err_contains(f, "no free IOVA range of 0x100000 bytes");
	assert_err_contains(f, "DMA limit 0xfffff");
	assert_err_contains(f, "2 mappings");
	assert_int_equal(assign_iommu_iova_find(f->iommu, 0xf8000, 0, &iova),
			 0);
	assert_int_equal(iova, 8 * PG); /* up to the limit exactly */
	assert_int_equal(assign_iommu_iova_find(f->iommu, 0xf9000, 0, &iova),
			 -ENOSPC);
	assert_int_equal(assign_iommu_set_dma_limit(f->iommu, UINT64_MAX), 0);
	/* Larger than any range. */
	assert_int_equal(assign_iommu_iova_find(f->iommu, 512 * MB, 0, &iova),
			 -ENOSPC);
	/* An alignment no range can meet. */
	assert_int_equal(assign_iommu_iova_find(f->iommu, PG, 1ull << 63,
						&iova),
			 -ENOSPC);
	/* Bad arguments. */
	assert_int_equal(assign_iommu_iova_find(f->iommu, 0, 0, &iova),
			 -EINVAL);
	assert_int_equal(assign_iommu_iova_find(f->iommu, PG, 3 * PG, &iova),
			 -EINVAL);
	assert_err_contains(f, "power of two");
	assert_int_equal(assign_iommu_iova_find(f->iommu, UINT64_MAX, 0, &iova),
			 -EINVAL);
	assert_int_equal(assign_iommu_iova_find(f->iommu, PG, 0, NULL),
			 -EINVAL);
	assert_int_equal(assign_iommu_iova_find(NULL, PG, 0, &iova), -EINVAL);
	assert_int_equal(assign_iommu_unmap_all(f->iommu), 0);
}

static void test_iova_find_type1(void **state)
{
	iova_find_on(*state, ASSIGN_IOMMU_TYPE1);
}

static void test_iova_find_iommufd(void **state)
{
	iova_find_on(*state, ASSIGN_IOMMU_IOMMUFD);
}

/* A range that ends at the top of the address space: no wrap-around. */
static void test_iova_find_top(void **state)
{
	struct fx *f = *state;
	static const uint64_t rs[][2] = { { 0xfffffffffff00000ull,
					    UINT64_MAX } };
	uint64_t iova;

	mock_set_iova_ranges(f->mk, rs, ARRAY_SIZE(rs));
	new_iommu(f, ASSIGN_IOMMU_IOMMUFD, 0);
	assert_int_equal(attach(f, DEV_A), 0);
	assert_int_equal(assign_iommu_iova_find(f->iommu, MB, 0, &iova), 0);
	assert_int_equal(iova, 0xfffffffffff00000ull);
	assert_int_equal(assign_iommu_map(f->iommu, iova + MB - 2 * PG,
					  mem(f, 0), 2 * PG, ASSIGN_DMA_F_RW),
			 0);
	assert_int_equal(assign_iommu_iova_find(f->iommu, MB, 0, &iova),
			 -ENOSPC);
	assert_int_equal(assign_iommu_iova_find(f->iommu, 2 * PG, 0, &iova), 0);
	assert_int_equal(iova, 0xfffffffffff00000ull);
	assert_int_equal(assign_iommu_map(f->iommu, iova, mem(f, 2 * PG),
					  MB - 2 * PG, ASSIGN_DMA_F_RW),
			 0);
	/* Full up to the last byte: nothing, and no wrap to 0. */
	assert_int_equal(assign_iommu_iova_find(f->iommu, PG, 0, &iova),
			 -ENOSPC);
	assert_int_equal(assign_iommu_unmap_all(f->iommu), 0);
}

static void dma_buf_on(struct fx *f, enum assign_iommu_backend b)
{
	struct assign_dma_buf *x = NULL, *y = NULL;
	size_t maps0 = mock_seam_mmaps(f->mk);
	uint64_t pg, align;
	uint32_t fl;
	void *va;

	/* 64 KiB IOMMU pages: the buffer's address is aligned to them. */
	mock_set_pgsizes(f->mk, (1ull << 16) | (1ull << 21));
	new_iommu(f, b, 0);
	assert_int_equal(assign_dma_buf_new(f->iommu, PG, ASSIGN_DMA_F_RW, &x),
			 -ENODEV);
	assert_null(x);
	assert_int_equal(attach(f, DEV_A), 0);
	maps0 = mock_seam_mmaps(f->mk);
	assert_int_equal(assign_iommu_get_pgsizes(f->iommu, &pg), 0);
	align = pg & -pg;

	assert_int_equal(
		assign_dma_buf_new(f->iommu, 3000, ASSIGN_DMA_F_RW, &x), 0);
	assert_non_null(x);
	assert_int_equal(x->length, align);
	assert_int_equal(x->flags, ASSIGN_DMA_F_RW);
	assert_int_equal((uintptr_t)x->vaddr & (align - 1), 0);
	assert_int_equal(x->iova, align); /* the lowest, never 0 */
	for (size_t i = 0; i < x->length; i++)
		assert_int_equal(((uint8_t *)x->vaddr)[i], 0);
	memset(x->vaddr, 0x5a, x->length);
	assert_int_equal(mock_dma_lookup(f->mk, x->iova, &va, &fl), 0);
	assert_ptr_equal(va, x->vaddr);
	assert_int_equal(mock_seam_mmaps(f->mk), maps0 + 1);

	/* A second one lands after it; read-only for the device. */
	assert_int_equal(assign_dma_buf_new(f->iommu, align + 1,
					    ASSIGN_DMA_F_READ, &y),
			 0);
	assert_int_equal(y->length, 2 * align);
	assert_int_equal(y->iova, 2 * align);
	assert_int_equal(mock_dma_lookup(f->mk, y->iova, &va, &fl), 0);
	assert_int_equal(fl, VFIO_DMA_MAP_FLAG_READ);
	assert_int_equal(mock_dma_count(f->mk), 2);
	y = assign_dma_buf_free(y);
	assert_null(y);
	assert_int_equal(mock_dma_count(f->mk), 1);
	assert_int_equal(mock_seam_mmaps(f->mk), maps0 + 1);

	/* Unmapped behind its back and the IOVA reused: free leaves the new
	 * mapping alone. */
	assert_int_equal(assign_iommu_unmap_all(f->iommu), 0);
	assert_int_equal(assign_iommu_map(f->iommu, x->iova, mem(f, 0), align,
					  ASSIGN_DMA_F_RW),
			 0);
	assign_dma_buf_free(x);
	assert_int_equal(mock_dma_lookup(f->mk, align, &va, &fl), 0);
	assert_ptr_equal(va, mem(f, 0));
	assert_int_equal(mock_seam_mmaps(f->mk), maps0);
	assert_int_equal(assign_iommu_unmap(f->iommu, align, align), 0);

	/* The buffer holds its IOMMU object (type1 drops the mappings with
	 * the last group, an IOAS keeps them). */
	assert_int_equal(assign_dma_buf_new(f->iommu, PG, ASSIGN_DMA_F_RW, &x),
			 0);
	detach_all(f);
	f->iommu = assign_iommu_unref(f->iommu);
	assert_int_equal(mock_dma_count(f->mk),
			 b == ASSIGN_IOMMU_IOMMUFD ? 1 : 0);
	assign_dma_buf_free(x);
	assert_int_equal(mock_dma_count(f->mk), 0);
	assert_int_equal(mock_seam_mmaps(f->mk), maps0);
	assign_dma_buf_free(NULL);
}

static void test_dma_buf_type1(void **state)
{
	dma_buf_on(*state, ASSIGN_IOMMU_TYPE1);
}

static void test_dma_buf_iommufd(void **state)
{
	dma_buf_on(*state, ASSIGN_IOMMU_IOMMUFD);
}

static void test_dma_buf_errors(void **state)
{
	struct fx *f = *state;
	struct assign_dma_buf *x = NULL;
	size_t maps0;
	unsigned long calls;

	new_iommu(f, ASSIGN_IOMMU_TYPE1, 0);
	assert_int_equal(attach(f, DEV_A), 0);
	maps0 = mock_seam_mmaps(f->mk);
	assert_int_equal(assign_dma_buf_new(f->iommu, 0, ASSIGN_DMA_F_RW, &x),
			 -EINVAL);
	assert_int_equal(assign_dma_buf_new(f->iommu, PG, 0, &x), -EINVAL);
	assert_err_contains(f, "ASSIGN_DMA_F_READ");
	assert_int_equal(assign_dma_buf_new(f->iommu, PG, 8, &x), -EINVAL);
	assert_int_equal(assign_dma_buf_new(f->iommu, UINT64_MAX,
					    ASSIGN_DMA_F_RW, &x),
			 -EINVAL);
	assert_int_equal(assign_dma_buf_new(f->iommu, PG, ASSIGN_DMA_F_RW,
					    NULL),
			 -EINVAL);
	assert_int_equal(assign_dma_buf_new(NULL, PG, ASSIGN_DMA_F_RW, &x),
			 -EINVAL);
	/* No memory for it. */
	mock_fail_nth(f->mk, MOCK_MMAP, 0, 1, -ENOMEM);
	assert_int_equal(assign_dma_buf_new(f->iommu, PG, ASSIGN_DMA_F_RW, &x),
			 -ENOMEM);
	assert_err_contains(f, "cannot allocate a DMA buffer");
	/* The kernel refuses the map: the memory goes back. */
	mock_fail_nth(f->mk, MOCK_IOCTL, VFIO_IOMMU_MAP_DMA, 1, -ENOSPC);
	assert_int_equal(assign_dma_buf_new(f->iommu, PG, ASSIGN_DMA_F_RW, &x),
			 -ENOSPC);
	assert_err_contains(f, "DMA entry limit");
	mock_fail_clear(f->mk);
	assert_null(x);
	assert_int_equal(mock_seam_mmaps(f->mk), maps0);
	assert_int_equal(mock_dma_count(f->mk), 0);
	/* Every call of a good one failed in turn: nothing leaks. */
	calls = mock_calls(f->mk, MOCK_ANY);
	assert_int_equal(assign_dma_buf_new(f->iommu, PG, ASSIGN_DMA_F_RW, &x),
			 0);
	calls = mock_calls(f->mk, MOCK_ANY) - calls;
	assign_dma_buf_free(x);
	for (unsigned long k = 1; k <= calls; k++) {
		int r;

		x = NULL;
		mock_fail_nth(f->mk, MOCK_ANY, 0, k, -EIO);
		r = assign_dma_buf_new(f->iommu, PG, ASSIGN_DMA_F_RW, &x);
		mock_fail_clear(f->mk);
		if (r == 0) {
			assign_dma_buf_free(x);
			continue;
		}
		assert_null(x);
		assert_int_equal(mock_seam_mmaps(f->mk), maps0);
		assert_int_equal(mock_dma_count(f->mk), 0);
	}
	/* The kernel refuses the unmap at free: warned, the mapping stays
	 * with the IOMMU object (which unmaps it at the end). */
	assert_int_equal(assign_dma_buf_new(f->iommu, PG, ASSIGN_DMA_F_RW, &x),
			 0);
	assign_ctx_clear_last_error(f->ctx);
	mock_fail_nth(f->mk, MOCK_IOCTL, VFIO_IOMMU_UNMAP_DMA, 1, -EIO);
	assign_dma_buf_free(x);
	mock_fail_clear(f->mk);
	assert_string_equal(err(f), "");
	assert_int_equal(mock_dma_count(f->mk), 1);
	assert_int_equal(mock_seam_mmaps(f->mk), maps0);
}

static void test_check_layout(void **state)
{
	struct fx *f = *state;
	struct assign_iova_range good[] = {
		{ 0, 0xbfffffffull },
		{ 0x100000000ull, 0x13fffffffull },
	};
	struct assign_iova_range bad[] = {
		/* 0: RAM straddling the MSI window (outside + reserved) */
		{ 0xc0000000ull, 0x10fffffffull },
		/* 1: misaligned */
		{ 0x200000000ull, 0x200000800ull },
		/* 2: last < start */
		{ 0x5000, 0x4fff },
		/* 3: above the 2^48 aperture and the DMA limit */
		{ (1ull << 48) - MB, (1ull << 48) + MB - 1 },
		/* 4: overlaps range 0 */
		{ 0x100000000ull, 0x100ffffffull },
		/* 5: overlaps an existing mapping */
		{ 0x300000000ull, 0x3001fffffull },
	};
	struct assign_conflict c[32] = { { .size = sizeof(c[0]) } };
	size_t n = 99;

	mock_set_reserved_regions(f->mk, 3,
				  "0x00000000fee00000 0x00000000feefffff msi\n");
	new_iommu(f, ASSIGN_IOMMU_TYPE1, 0);
	assert_int_equal(attach(f, DEV_A), 0);
	assert_int_equal(assign_iommu_check_layout(f->iommu, good, 2, c, 32,
						   &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(assign_iommu_check_layout(f->iommu, good, 0, NULL, 0,
						   &n), 0);
	assert_int_equal(assign_iommu_map(f->iommu, 0x300100000ull,
					  mem(f, 0), MB, ASSIGN_DMA_F_RW), 0);
	assert_int_equal(assign_iommu_set_dma_limit(f->iommu,
						    (1ull << 48) - 1), 0);
	assert_int_equal(assign_iommu_check_layout(f->iommu, bad,
						   ARRAY_SIZE(bad), c, 32, &n),
			 -ERANGE);
	assert_true(n <= 32);
	/* The MSI window is outside the IOVA ranges and reserved: reported
	 * once, as reserved. */
	assert_int_equal(count_kind(c, n, ASSIGN_CONFLICT_OUTSIDE_IOVA, 0), 0);
	assert_int_equal(count_kind(c, n, ASSIGN_CONFLICT_RESERVED, 0), 1);
	assert_int_equal(count_kind(c, n, ASSIGN_CONFLICT_INVALID, 1), 1);
	assert_int_equal(count_kind(c, n, ASSIGN_CONFLICT_INVALID, 2), 1);
	assert_int_equal(count_kind(c, n, ASSIGN_CONFLICT_OUTSIDE_IOVA, 3), 1);
	assert_int_equal(count_kind(c, n, ASSIGN_CONFLICT_DMA_LIMIT, 3), 1);
	assert_int_equal(count_kind(c, n, ASSIGN_CONFLICT_OVERLAP, 4), 1);
	assert_int_equal(count_kind(c, n, ASSIGN_CONFLICT_MAPPED, 5), 1);
	assert_int_equal(n, 7);
	for (size_t i = 0; i < n; i++) {
		assert_true(c[i].what[0] != '\0');
		if (c[i].kind == ASSIGN_CONFLICT_RESERVED) {
			assert_string_equal(c[i].what,
					    "reserved region msi "
					    "0xfee00000-0xfeefffff");
			assert_int_equal(c[i].start, 0xfee00000ull);
			assert_int_equal(c[i].last, 0xfeefffffull);
		}
		if (c[i].kind == ASSIGN_CONFLICT_OUTSIDE_IOVA) {
			assert_int_equal(c[i].start, 1ull << 48);
			assert_int_equal(c[i].last, (1ull << 48) + MB - 1);
		}
		if (c[i].kind == ASSIGN_CONFLICT_MAPPED) {
			assert_int_equal(c[i].start, 0x300100000ull);
			assert_int_equal(c[i].last, 0x3001fffffull);
		}
		if (c[i].kind == ASSIGN_CONFLICT_OVERLAP) {
			assert_int_equal(c[i].start, 0x100000000ull);
			assert_int_equal(c[i].last, 0x100ffffffull);
			assert_non_null(strstr(c[i].what, "range 0"));
		}
	}
	assert_err_contains(f, "7 conflicts");
	assert_err_contains(f, "range 0 (0xfee00000-0xfeefffff) is in a "
			       "reserved region: reserved region msi");
	/* A small array still gets the total. */
	assert_int_equal(assign_iommu_check_layout(f->iommu, bad,
						   ARRAY_SIZE(bad), c, 2, &n),
			 -ERANGE);
	assert_int_equal(n, 7);
	assert_int_equal(assign_iommu_check_layout(f->iommu, bad,
						   ARRAY_SIZE(bad), NULL, 0,
						   &n), -ERANGE);
	assert_int_equal(n, 7);
	assert_int_equal(assign_iommu_check_layout(f->iommu, bad, 1, NULL, 3,
						   &n), -EINVAL);
	assert_int_equal(assign_iommu_check_layout(f->iommu, bad, 1, c, 3,
						   NULL), -EINVAL);
	assert_int_equal(assign_iommu_check_layout(NULL, bad, 1, c, 3, &n),
			 -EINVAL);
	/* An array whose size field was not set is refused, not overrun. */
	c[0].size = 0;
	assert_int_equal(assign_iommu_check_layout(f->iommu, bad,
						   ARRAY_SIZE(bad), c, 32, &n),
			 -EINVAL);
	assert_err_contains(f, "struct assign_conflict: size is 0");

	/*
	 * A caller built against an older, shorter struct assign_conflict
	 * (no @last, no @what): the library steps through the array by the
	 * caller's element size, fills what both know and writes nothing
	 * past each element.
	 */
	struct old_conflict {
		size_t size;
		enum assign_conflict_kind kind;
		size_t index;
		uint64_t start;
		uint32_t guard;
	} old[8];
	const size_t oldsz = offsetof(struct old_conflict, guard);

	memset(old, 0xa5, sizeof(old));
	old[0].size = oldsz;
	assert_int_equal(assign_iommu_check_layout(
				 f->iommu, bad, ARRAY_SIZE(bad),
				 (struct assign_conflict *)(void *)old, 7, &n),
			 -ERANGE);
	assert_int_equal(n, 7);
	for (size_t i = 0; i < 7; i++) {
		/* Elements laid out with the caller's stride. */
		const struct old_conflict *o =
			(const void *)((const char *)old + i * oldsz);

		assert_int_equal(o->size, oldsz);
		assert_true(o->kind >= ASSIGN_CONFLICT_INVALID &&
			    o->kind <= ASSIGN_CONFLICT_MAPPED);
		assert_true(o->index < ARRAY_SIZE(bad));
	}
	/* The bytes after the seventh element are untouched. */
	for (size_t b = 7 * oldsz; b < sizeof(old); b++)
		assert_int_equal(((const unsigned char *)old)[b], 0xa5);
	/* Nothing was mapped by checking. */
	assert_int_equal(mock_dma_count(f->mk), 1);
}

/* ---------------------------------------------------------------------- */
/* no-IOMMU */

static void test_noiommu_disabled(void **state)
{
	struct fx *f = *state;
	struct assign_iommu_opts o = { .size = sizeof(o),
				       .backend = ASSIGN_IOMMU_NOIOMMU,
				       .flags = ASSIGN_IOMMU_F_ALLOW_NOIOMMU };
	struct assign_iommu *it = NULL;

	assert_int_equal(assign_iommu_new(f->ctx, &o, &it), -ENOENT);
	assert_err_contains(f, "enable_unsafe_noiommu_mode");
	assert_null(it);
	assert_int_equal(mock_open_fds(f->mk), 0);
}

static void test_noiommu(void **state)
{
	struct fx *f = *state;
	const struct assign_iova_range *rg;
	struct assign_iova_range prop = { 0, MB - 1 };
	struct assign_dma_map m = { 0, mem(f, 0), MB, ASSIGN_DMA_F_RW };
	struct assign_group *g = NULL;
	struct assign_conflict c = { .size = sizeof(c) };
	uint64_t pg;
	uint32_t avail;
	size_t n;

	mock_set_noiommu(f->mk, true);
	new_iommu(f, ASSIGN_IOMMU_NOIOMMU, ASSIGN_IOMMU_F_ALLOW_NOIOMMU);
	assert_int_equal(assign_iommu_get_backend(f->iommu),
			 ASSIGN_IOMMU_NOIOMMU);
	assert_int_equal(attach(f, DEV_A), 0);
	assert_int_equal(container_type(f), VFIO_NOIOMMU_IOMMU);
	assert_int_equal(assign_iommu_get_group(f->iommu, 3, &g), 0);
	assign_group_unref(g);
	assert_int_equal(assign_iommu_map(f->iommu, 0, mem(f, 0), MB,
					  ASSIGN_DMA_F_RW), -EPERM);
	assert_err_contains(f, "no-IOMMU");
	assert_int_equal(assign_iommu_map_many(f->iommu, &m, 1), -EPERM);
	assert_int_equal(assign_iommu_unmap(f->iommu, 0, MB), -EPERM);
	assert_int_equal(assign_iommu_unmap_all(f->iommu), 0);
	assert_int_equal(assign_iommu_get_iova_ranges(f->iommu, &rg, &n),
			 -EPERM);
	assert_int_equal(assign_iommu_get_pgsizes(f->iommu, &pg), -EPERM);
	assert_int_equal(assign_iommu_get_dma_avail(f->iommu, &avail),
			 -EOPNOTSUPP);
	assert_int_equal(assign_iommu_check_layout(f->iommu, &prop, 1, &c, 1,
						   &n), -EPERM);
	assert_int_equal(assign_iommu_get_irq_remapping(f->iommu), 0);
	assert_int_equal(mock_dma_count(f->mk), 0);
}

/* One full sequence; returns the first error. The library's accounting
 * must equal the kernel's after every step, whatever failed. */
static int sweep_sequence(struct fx *f, enum assign_iommu_backend b)
{
	struct assign_iommu_opts o = {
		.size = sizeof(o), .backend = b,
		.flags = ASSIGN_IOMMU_F_ALLOW_NOIOMMU
	};
	struct assign_dma_map m[2] = {
		{ 0x100000, mem(f, 0), MB, ASSIGN_DMA_F_RW },
		{ 0x400000, mem(f, 2 * MB), 2 * MB, ASSIGN_DMA_F_READ },
	};
	struct assign_dma_stats st = { .size = sizeof(st) };
	int r, first = 0;

	r = assign_iommu_new(f->ctx, &o, &f->iommu);
	if (r < 0)
		return r;
	r = attach(f, DEV_A);
	if (r == 0)
		r = attach(f, DEV_B);
	if (r < 0)
		first = r;
	if (!first && b != ASSIGN_IOMMU_NOIOMMU) {
		r = assign_iommu_map_many(f->iommu, m, 2);
		if (r < 0)
			first = r;
		assert_int_equal(assign_iommu_get_dma_stats(f->iommu, &st), 0);
		assert_int_equal(st.mappings, mock_dma_count(f->mk));
		assert_int_equal(st.bytes, mock_dma_bytes(f->mk));
		if (!first) {
			r = assign_iommu_unmap(f->iommu, 0x100000, MB);
			if (r < 0)
				first = r;
			assert_int_equal(assign_iommu_get_dma_stats(f->iommu,
								    &st), 0);
			assert_int_equal(st.mappings, mock_dma_count(f->mk));
		}
	}
	if (first)
		assert_true(err(f)[0] != '\0');
	detach_all(f);
	f->iommu = assign_iommu_unref(f->iommu);
	return first;
}

static void fault_sweep(struct fx *f, enum assign_iommu_backend b)
{
	unsigned long calls, before;

	if (b == ASSIGN_IOMMU_NOIOMMU)
		mock_set_noiommu(f->mk, true);
	before = mock_calls(f->mk, MOCK_ANY);
	assert_int_equal(sweep_sequence(f, b), 0);
	calls = mock_calls(f->mk, MOCK_ANY) - before;
	assert_true(calls > 10);
	for (unsigned long k = 1; k <= calls; k++) {
		mock_fail_nth(f->mk, MOCK_ANY, 0, k, -EIO);
		sweep_sequence(f, b);
		mock_fail_clear(f->mk);
		/* Nothing leaks, whichever call failed. */
		assert_int_equal(mock_open_fds(f->mk), 0);
		assert_int_equal(mock_dma_count(f->mk), 0);
		assign_ctx_clear_last_error(f->ctx);
	}
}

static void test_sweep_type1(void **state)
{
	fault_sweep(*state, ASSIGN_IOMMU_TYPE1);
}

static void test_sweep_iommufd(void **state)
{
	fault_sweep(*state, ASSIGN_IOMMU_IOMMUFD);
}

static void test_sweep_noiommu(void **state)
{
	fault_sweep(*state, ASSIGN_IOMMU_NOIOMMU);
}

static void test_sweep_auto(void **state)
{
	fault_sweep(*state, ASSIGN_IOMMU_AUTO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
		T(test_new_args),
		T(test_new_bigger_opts),
		T(test_new_defaults_auto),
		T(test_ref_unref),
		T(test_backend_names),
		T(test_new_type1),
		T(test_new_type1_faults),
		T(test_new_iommufd),
		T(test_new_iommufd_missing),
		T(test_attach_type1),
		T(test_attach_short_address),
		T(test_group_ref_outlives_device),
		T(test_attach_not_viable),
		T(test_attach_wrong_driver),
		T(test_attach_type1_v1),
		T(test_attach_unsafe_interrupts),
		T(test_attach_type1_fault_sweep),
		T(test_attach_type1_errors),
		T(test_attach_type1_no_type),
		T(test_attach_type1v2_check_error),
		T(test_new_other_errors),
		T(test_attach_iommufd_errors),
		T(test_attach_iommufd_not_viable),
		T(test_geometry_type1_no_cap),
		T(test_irq_remap_type1),
		T(test_irq_remap_iommufd),
		T(test_auto_picks_iommufd),
		T(test_auto_picks_type1),
		T(test_auto_no_cdev),
		T(test_attach_iommufd),
		T(test_attach_iommufd_no_cdev),
		T(test_attach_iommufd_cdev_list_error),
		T(test_attach_iommufd_faults),
		T(test_iommufd_fault_sweep),
		T(test_iommufd_mappings_outlive_devices),
		T(test_geometry_needs_device),
		T(test_geometry_type1),
		T(test_geometry_iommufd),
		T(test_geometry_custom_ranges),
		T(test_reserved_regions),
		T(test_reserved_regions_bad),
		T(test_reserved_regions_unreadable),
		T(test_map_basic_type1),
		T(test_map_basic_iommufd),
		T(test_map_checks_type1),
		T(test_map_checks_iommufd),
		T(test_map_reserved_msi),
		T(test_map_memlock),
		T(test_memlock_unlimited),
		T(test_memlock_cap_ipc_lock),
		T(test_map_enomem_no_limit),
		T(test_map_dma_entry_limit),
		T(test_max_mappings_iommufd),
		T(test_max_mappings_type1),
		T(test_max_mappings_defaults),
		T(test_map_kernel_errors),
		T(test_map_dontfork),
		T(test_map_dontfork_failure),
		T(test_map_many_type1),
		T(test_map_many_iommufd),
		T(test_unmap_type1),
		T(test_unmap_iommufd),
		T(test_unref_unmaps),
		T(test_unref_iommufd_unmaps),
		T(test_iova_find_type1),
		T(test_iova_find_iommufd),
		T(test_iova_find_top),
		T(test_dma_buf_type1),
		T(test_dma_buf_iommufd),
		T(test_dma_buf_errors),
		T(test_check_layout),
		T(test_noiommu_disabled),
		T(test_noiommu),
		T(test_sweep_type1),
		T(test_sweep_iommufd),
		T(test_sweep_noiommu),
		T(test_sweep_auto),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
