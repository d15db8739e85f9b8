// SPDX-License-Identifier: MIT
/*
 * State records (include/libassign/host.h, docs/host.md): one file a
 * device, <state_dir>/<address>, naming the driver and driver_override it
 * had before libassign-host first moved it, so that it gets them back even
 * after the process that took it died; the list and reading of records;
 * and the lock on the state directory that serialises the processes
 * changing bindings.
 *
 * The state directory is the library's own, not a kernel object: it is
 * reached with libc directly, not through the seam.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "host/host.h"

/* ---- records ------------------------------------------------------------ */

static int mkdir_p(const char *dir)
{
	char tmp[512];
	size_t len = strlen(dir);

	if (len == 0 || len >= sizeof(tmp))
		return -ENAMETOOLONG;
	memcpy(tmp, dir, len + 1);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(tmp, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

static int record_path(const struct host_opts *o, const char *addr, char *buf,
		       size_t size)
{
	int n = snprintf(buf, size, "%s/%s", o->state_dir, addr);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/* -ENOENT: no record; -EIO: no driver line, or a name with a '/'. */
int host_record_read(const struct host_opts *o, const char *addr,
		     struct host_record *rec)
{
	char path[512], line[160];
	bool have_driver = false;
	FILE *f;
	int r;

	r = record_path(o, addr, path, sizeof(path));
	if (r < 0)
		return r;
	f = fopen(path, "re");
	if (!f)
		return -errno;
	memset(rec, 0, sizeof(*rec));
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (!strncmp(line, "driver=", 7)) {
			if (strlen(line + 7) >= sizeof(rec->driver))
				break;
			strcpy(rec->driver, line + 7);
			have_driver = true;
		} else if (!strncmp(line, "driver_override=", 16)) {
			if (strlen(line + 16) >= sizeof(rec->override))
				break;
			strcpy(rec->override, line + 16);
		} else if (!strncmp(line, "for=", 4)) {
			if (strlen(line + 4) >= sizeof(rec->owner))
				break;
			strcpy(rec->owner, line + 4);
		}
	}
	fclose(f);
	if (!have_driver || strchr(rec->driver, '/') ||
	    strchr(rec->override, '/'))
		return -EIO;
	return 0;
}

static int record_write(struct assign_ctx *ctx, const struct host_opts *o,
			const char *addr, const struct host_record *rec)
{
	char path[512], tmp[540];
	FILE *f;
	int r, fd;

	r = mkdir_p(o->state_dir);
	if (r < 0)
		return set_error(ctx, r,
				 "cannot create the state directory %s: %s; "
				 "run as root or set ASSIGN_STATE_DIR",
				 o->state_dir, strerror(-r));
	r = record_path(o, addr, path, sizeof(path));
	if (r < 0)
		return set_error(ctx, r, "state directory path too long");
	snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || !(f = fdopen(fd, "w"))) {
		r = -errno;
		if (fd >= 0)
			close(fd);
		return set_error(ctx, r, "cannot write %s: %s", tmp,
				 strerror(-r));
	}
	fprintf(f,
		"# libassign state record: 'assign-host restore %s' gives the\n"
		"# device back to the driver below (empty: no driver).\n"
		"driver=%s\ndriver_override=%s\npid=%ld\ntime=%lld\n",
		addr, rec->driver, rec->override, (long)getpid(),
		(long long)time(NULL));
	if (rec->owner[0])
		fprintf(f, "for=%s\n", rec->owner);
	if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
		r = -errno;
		fclose(f);
		unlink(tmp);
		return set_error(ctx, r, "cannot write %s: %s", tmp,
				 strerror(-r));
	}
	fclose(f);
	if (rename(tmp, path) < 0) {
		r = -errno;
		unlink(tmp);
		return set_error(ctx, r, "cannot create %s: %s", path,
				 strerror(-r));
	}
	return 0;
}

void host_record_remove(const struct host_opts *o, const char *addr)
{
	char path[512];

	if (record_path(o, addr, path, sizeof(path)) == 0)
		unlink(path);
}

/* The first record of @addr: it goes back to @driver with @override. */
int host_record_create(struct assign_ctx *ctx, const struct host_opts *o,
		       const char *addr, const char *driver,
		       const char *override)
{
	struct host_record rec;

	memset(&rec, 0, sizeof(rec));
	if (o->owner)
		snprintf(rec.owner, sizeof(rec.owner), "%s", o->owner);
	snprintf(rec.driver, sizeof(rec.driver), "%s", driver);
	snprintf(rec.override, sizeof(rec.override), "%s", override);
	return record_write(ctx, o, addr, &rec);
}

/* ---- the public calls ------------------------------------------------- */

ASSIGN_EXPORT int assign_host_record_get(struct assign_ctx *ctx,
					 const char *address,
					 const struct assign_host_opts *opts,
					 struct assign_host_record **ret)
{
	struct assign_host_record *out;
	char addr[ASSIGN_PCI_ADDR_LEN];
	struct host_opts o;
	struct host_record rec;
	int r;

	if (!ctx || !ret)
		return -EINVAL;
	r = host_addr_opts(ctx, address, opts, addr, &o);
	if (r < 0)
		return r;
	r = host_record_read(&o, addr, &rec);
	if (r == -ENOENT)
		return set_error(ctx, r, "no state record for %s in %s", addr,
				 o.state_dir);
	if (r < 0)
		return set_error(ctx, r,
				 "cannot read the state record %s/%s: %s",
				 o.state_dir, addr, strerror(-r));
	out = calloc(1, sizeof(*out));
	if (!out)
		return set_error(ctx, -ENOMEM, "out of memory");
	memcpy(out->address, addr, sizeof(out->address));
	memcpy(out->driver, rec.driver, sizeof(out->driver));
	memcpy(out->driver_override, rec.override,
	       sizeof(out->driver_override));
	memcpy(out->owner, rec.owner, sizeof(out->owner));
	*ret = out;
	return 0;
}

ASSIGN_EXPORT struct assign_host_record *
assign_host_record_free(struct assign_host_record *rec)
{
	free(rec);
	return NULL;
}

ASSIGN_EXPORT struct assign_host_record_list *
assign_host_record_list_free(struct assign_host_record_list *list)
{
	if (list) {
		free(list->addresses);
		free(list);
	}
	return NULL;
}

static int cmp_addr(const void *a, const void *b)
{
	return strcmp(a, b);
}

ASSIGN_EXPORT int assign_host_records(struct assign_ctx *ctx,
				      const struct assign_host_opts *opts,
				      struct assign_host_record_list **ret)
{
	struct assign_host_record_list *list;
	size_t cap = 0;
	struct host_opts o;
	struct dirent *de;
	DIR *d;
	int r;

	if (!ctx || !ret)
		return -EINVAL;
	r = host_opts_get(ctx, opts, &o);
	if (r < 0)
		return r;
	list = calloc(1, sizeof(*list));
	if (!list)
		return set_error(ctx, -ENOMEM, "out of memory");
	d = opendir(o.state_dir);
	if (!d) {
		if (errno == ENOENT) {
			*ret = list;
			return 0;
		}
		r = -errno;
		free(list);
		return set_error(ctx, r, "cannot read %s: %s", o.state_dir,
				 strerror(-r));
	}
	while ((de = readdir(d))) {
		struct assign_pci_addr a;
		char canon[ASSIGN_PCI_ADDR_LEN];

		if (assign_pci_addr_parse(de->d_name, &a) < 0 ||
		    assign_pci_addr_format(&a, canon, sizeof(canon)) < 0 ||
		    strcmp(canon, de->d_name))
			continue;
		if (list->count == cap) {
			size_t ncap = cap ? cap * 2 : 8;
			char(*nv)[ASSIGN_PCI_ADDR_LEN] =
				realloc(list->addresses, ncap * sizeof(*nv));
			if (!nv) {
				closedir(d);
				assign_host_record_list_free(list);
				return set_error(ctx, -ENOMEM, "out of memory");
			}
			list->addresses = nv;
			cap = ncap;
		}
		strcpy(list->addresses[list->count++], canon);
	}
	closedir(d);
	if (list->count)
		qsort(list->addresses, list->count, sizeof(*list->addresses),
		      cmp_addr);
	*ret = list;
	return 0;
}

/* ---- the state directory's lock --------------------------------------- */

/* An exclusive flock on <state_dir>/.lock serialises the processes that
 * change bindings, so two of them never interleave their sysfs writes and
 * records. Without a usable state directory (NO_RECORD by a user that
 * cannot create it) the operation goes ahead unlocked. */
int host_state_lock(const struct host_opts *o)
{
	char path[512];
	int fd;

	if (mkdir_p(o->state_dir) < 0)
		return -1;
	if (snprintf(path, sizeof(path), "%s/.lock", o->state_dir) >=
	    (int)sizeof(path))
		return -1;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	while (flock(fd, LOCK_EX) < 0) {
		if (errno != EINTR) {
			close(fd);
			return -1;
		}
	}
	return fd;
}

void host_state_unlock(int fd)
{
	if (fd >= 0)
		close(fd); /* drops the flock */
}
