/* SPDX-License-Identifier: MIT */
#include "labtest.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static const char *result_prefix;
static int failures;

void lab_set_prefix(const char *prefix)
{
	result_prefix = prefix;
}

void lab_result(const char *name, enum lab_verdict v, const char *fmt, ...)
{
	static const char *const words[] = { "PASS", "FAIL", "SKIP" };
	char detail[512] = "";
	va_list ap;

	if (fmt) {
		va_start(ap, fmt);
		vsnprintf(detail, sizeof(detail), fmt, ap);
		va_end(ap);
	}
	/* One line, whatever the detail holds. */
	for (char *p = detail; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	fflush(stderr);
	printf("LAB-RESULT %s%s%s %s %s\n", result_prefix ? result_prefix : "",
	       result_prefix ? "." : "", name, words[v], detail);
	fflush(stdout);
	if (v == LAB_FAIL)
		failures++;
}

int lab_failures(void)
{
	return failures;
}

const char *lab_env(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

void *lab_alloc(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

void lab_free(void *p, size_t size)
{
	if (p)
		munmap(p, size);
}

int lab_eventfd(void)
{
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

	return fd < 0 ? -errno : fd;
}

int64_t lab_eventfd_wait(int fd, int ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	uint64_t count;
	int r;

	do
		r = poll(&pfd, 1, ms);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	if (r == 0)
		return 0;
	if (read(fd, &count, sizeof(count)) != (ssize_t)sizeof(count))
		return errno == EAGAIN ? 0 : -errno;
	return (int64_t)count;
}

void lab_eventfd_drain(int fd)
{
	uint64_t count;

	while (read(fd, &count, sizeof(count)) == (ssize_t)sizeof(count))
		;
}

uint64_t lab_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void lab_sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000,
			       .tv_nsec = (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int lab_rd32(struct assign_device *dev, uint32_t region, uint64_t off,
	     uint32_t *val)
{
	return assign_region_read(dev, region, off, val, sizeof(*val));
}

int lab_wr32(struct assign_device *dev, uint32_t region, uint64_t off,
	     uint32_t val)
{
	return assign_region_write(dev, region, off, &val, sizeof(val));
}

int lab_rd64(struct assign_device *dev, uint32_t region, uint64_t off,
	     uint64_t *val)
{
	return assign_region_read(dev, region, off, val, sizeof(*val));
}

int lab_wr64(struct assign_device *dev, uint32_t region, uint64_t off,
	     uint64_t val)
{
	return assign_region_write(dev, region, off, &val, sizeof(val));
}

int lab_enable_bus_master(struct assign_device *dev)
{
	int r = assign_device_command_update(
		dev, ASSIGN_PCI_COMMAND_MEMORY | ASSIGN_PCI_COMMAND_MASTER, 0);

	return r < 0 ? r : 0;
}

int lab_sysfs_reserved(int group, struct assign_reserved_region *out,
		       size_t max)
{
	char path[96], line[160];
	FILE *f;
	int n = 0;

	snprintf(path, sizeof(path), "/sys/kernel/iommu_groups/%d/reserved_regions",
		 group);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		uint64_t start, last;
		char type[24];

		if (sscanf(line, "%" SCNx64 " %" SCNx64 " %23s", &start, &last,
			   type) != 3)
			continue;
		if ((size_t)n < max) {
			out[n].start = start;
			out[n].last = last;
			snprintf(out[n].type, sizeof(out[n].type), "%s", type);
		}
		n++;
	}
	fclose(f);
	return n;
}

/* A small sysfs write. */
static int write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "we");
	int r = 0;

	if (!f)
		return -errno;
	if (fputs(text, f) < 0)
		r = -EIO;
	if (fclose(f) != 0 && !r)
		r = -errno;
	return r;
}

int lab_mtty_create(int ports, char *uuid)
{
	char path[160];
	FILE *f;
	int r;

	f = fopen("/proc/sys/kernel/random/uuid", "re");
	if (!f)
		return -errno;
	if (!fgets(uuid, 37, f)) {
		fclose(f);
		return -EIO;
	}
	fclose(f);
	uuid[36] = '\0';
	snprintf(path, sizeof(path),
		 "/sys/class/mdev_bus/mtty/mdev_supported_types/mtty-%d/create",
		 ports);
	if (access(path, F_OK) != 0)
		return -ENOENT;
	r = write_file(path, uuid);
	if (r < 0)
		return r;
	snprintf(path, sizeof(path), "/sys/bus/mdev/devices/%s", uuid);
	return access(path, F_OK) == 0 ? 0 : -EIO;
}

int lab_mtty_remove(const char *uuid)
{
	char path[160];

	snprintf(path, sizeof(path), "/sys/bus/mdev/devices/%s/remove", uuid);
	return write_file(path, "1");
}

bool lab_selected(int argc, char **argv, int first, const char *name)
{
	if (first >= argc)
		return true;
	for (int i = first; i < argc; i++)
		if (strstr(name, argv[i]))
			return true;
	return false;
}
