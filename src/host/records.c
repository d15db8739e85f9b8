// SPDX-License-Identifier: MIT
/*
 * State records (include/libassign/host.h, docs/host.md): one file a
 * device, <state_dir>/<address>, naming the driver and driver_override it
 * had before libassign-host first moved it, so that it gets them back even
 * after the process that took it died; the list and reading of records;
 * and the lock on the state directory that serialises the processes
 * changing bindings.
 *
 * Root acts on what the records say, so the directory is trusted only
 * when nobody else could have written it: it is opened once, without
 * following a symlink, checked (owned by this process's user or root,
 * not writable by group or others; every directory above it owned by
 * root or that user and not writable by others unless sticky), and every
 * file is then reached relative to that descriptor with O_NOFOLLOW, new
 * ones with O_EXCL. Records are checked as they are read.
 *
 * The state directory is the library's own, not a kernel object: it is
 * reached with libc directly, not through the seam.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "host/host.h"

/* A record is a few short lines; anything longer is not one. */
#define RECORD_MAX 4096
/* Directories above the state directory checked, at most. */
#define MAX_DEPTH 64

/* ---- the state directory ---------------------------------------------- */

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

/* The @up-th directory above @path, for messages ("" if unknown). */
static void ancestor_name(const char *path, int up, char *buf, size_t size)
{
	char *real = realpath(path, NULL), *slash;

	buf[0] = '\0';
	if (!real)
		return;
	while (up-- > 0 && (slash = strrchr(real, '/'))) {
		if (slash == real) {
			real[1] = '\0';
			break;
		}
		*slash = '\0';
	}
	if (up < 0)
		snprintf(buf, size, "%s", real);
	free(real);
}

/* The state directory itself: this user's or root's, a real directory,
 * writable by its owner only. */
static int check_state_dir(struct assign_ctx *ctx, const char *path,
			   const struct stat *st)
{
	uid_t me = geteuid();

	if (!S_ISDIR(st->st_mode))
		return set_error(ctx, -ENOTDIR,
				 "the state directory %s is not a directory",
				 path);
	if (st->st_uid != me && st->st_uid != 0)
		return set_error(ctx, -EPERM,
				 "the state directory %s is owned by uid %u, "
				 "not by this process's user (uid %u) or root: "
				 "its records cannot be trusted; use a "
				 "directory of your own (ASSIGN_STATE_DIR or "
				 "assign_host_opts.state_dir) or chown it",
				 path, (unsigned)st->st_uid, (unsigned)me);
	if (st->st_mode & (S_IWGRP | S_IWOTH))
		return set_error(ctx, -EPERM,
				 "the state directory %s is writable by %s "
				 "(mode %04o): anyone there could plant or "
				 "change records; chmod go-w %s",
				 path,
				 st->st_mode & S_IWOTH ? "others" : "its group",
				 (unsigned)(st->st_mode & 07777), path);
	return 0;
}

/* A directory above it: whoever may rename entries there could swap the
 * state directory for another, so root or this user only, and not
 * writable by others unless sticky (where only an entry's owner may
 * rename it). */
static int check_ancestor(struct assign_ctx *ctx, const char *path, int up,
			  const struct stat *st)
{
	uid_t me = geteuid();
	char name[PATH_MAX];

	if ((st->st_uid == me || st->st_uid == 0) &&
	    (!(st->st_mode & (S_IWGRP | S_IWOTH)) || (st->st_mode & S_ISVTX)))
		return 0;
	ancestor_name(path, up, name, sizeof(name));
	if (!name[0])
		snprintf(name, sizeof(name),
			 "the directory %d level%s above %s", up,
			 up == 1 ? "" : "s", path);
	if (st->st_uid != me && st->st_uid != 0)
		return set_error(ctx, -EPERM,
				 "%s, above the state directory %s, is owned "
				 "by uid %u: its owner could swap the state "
				 "directory; use one under directories only "
				 "root or you (uid %u) own",
				 name, path, (unsigned)st->st_uid,
				 (unsigned)me);
	return set_error(ctx, -EPERM,
			 "%s, above the state directory %s, is writable by "
			 "group or others without the sticky bit (mode %04o): "
			 "they could swap the state directory; use another "
			 "one or chmod go-w it",
			 name, path, (unsigned)(st->st_mode & 07777));
}

int host_state_check(struct assign_ctx *ctx, const char *path, int up,
		     const struct stat *st)
{
	return up ? check_ancestor(ctx, path, up, st) :
		    check_state_dir(ctx, path, st);
}

/* Walk up from @fd (the state directory) to /, checking each parent. */
static int check_ancestors(struct assign_ctx *ctx, const char *path, int fd)
{
	struct stat cur, up;
	int dir = fd, r = 0;

	if (fstat(dir, &cur) < 0)
		return set_error(ctx, -errno, "cannot stat %s: %s", path,
				 strerror(errno));
	for (int level = 1; level <= MAX_DEPTH; level++) {
		int parent =
			openat(dir, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		if (parent < 0) {
			r = set_error(ctx, -errno,
				      "cannot open the directory above %s: %s",
				      path, strerror(errno));
			break;
		}
		if (dir != fd)
			close(dir);
		dir = parent;
		if (fstat(dir, &up) < 0) {
			r = set_error(ctx, -errno, "cannot stat above %s: %s",
				      path, strerror(errno));
			break;
		}
		if (up.st_dev == cur.st_dev && up.st_ino == cur.st_ino)
			break; /* the root: its own parent */
		r = check_ancestor(ctx, path, level, &up);
		if (r < 0)
			break;
		cur = up;
	}
	if (dir != fd)
		close(dir);
	return r;
}

int host_state_open(struct assign_ctx *ctx, const struct host_opts *o,
		    bool create, int *dfd)
{
	struct stat st;
	int fd, r;

	*dfd = -1;
	if (create) {
		r = mkdir_p(o->state_dir);
		if (r == -EPERM)
			r = -EACCES; /* -EPERM means "not trusted" here */
		if (r < 0)
			return set_error(ctx, r,
					 "cannot create the state directory "
					 "%s: %s; run as root or set "
					 "ASSIGN_STATE_DIR",
					 o->state_dir, strerror(-r));
	}
	fd = open(o->state_dir,
		  O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		if (r == -ENOENT && !create)
			return 0;
		if (r == -ELOOP || r == -ENOTDIR)
			return set_error(ctx, -EPERM,
					 "the state directory %s is a symbolic "
					 "link or not a directory: refusing to "
					 "follow it; use a real directory",
					 o->state_dir);
		return set_error(ctx, r == -EPERM ? -EACCES : r,
				 "cannot open the state directory %s: %s",
				 o->state_dir, strerror(-r));
	}
	if (fstat(fd, &st) < 0) {
		r = set_error(ctx, -errno, "cannot stat %s: %s", o->state_dir,
			      strerror(errno));
		close(fd);
		return r;
	}
	r = check_state_dir(ctx, o->state_dir, &st);
	if (r == 0)
		r = check_ancestors(ctx, o->state_dir, fd);
	if (r < 0) {
		close(fd);
		return r;
	}
	*dfd = fd;
	return 0;
}

void host_state_close(int dfd)
{
	if (dfd >= 0)
		close(dfd);
}

/* ---- records ------------------------------------------------------------ */

/* A driver name as sysfs has them ("vfio-pci", "i801_smbus", "8139too"):
 * nothing a shell, a JSON reader or a path would take for syntax. */
bool host_valid_driver_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n >= ASSIGN_HOST_NAME_LEN)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || strchr("_.:+@-", *s)))
			return false;
	return true;
}

static bool all_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

/* "key=value" of line @line into @rec; @seen marks the keys met. */
static int parse_line(const char *addr, char *line, struct host_record *rec,
		      unsigned *seen, const char **why)
{
	static const char *const keys[] = { "driver", "driver_override", "for",
					    "pid", "time" };
	char *eq = strchr(line, '=');
	const char *val;
	size_t k;

	if (!eq) {
		*why = "a line without '='";
		return -EIO;
	}
	*eq = '\0';
	val = eq + 1;
	for (k = 0; k < ARRAY_SIZE(keys); k++)
		if (!strcmp(line, keys[k]))
			break;
	if (k == ARRAY_SIZE(keys))
		return 0; /* a key of a later version: not ours to judge */
	if (*seen & (1u << k)) {
		*why = "a key given twice";
		return -EIO;
	}
	*seen |= 1u << k;
	switch (k) {
	case 0: /* driver: "" is "no driver" */
	case 1:
		if (*val && !host_valid_driver_name(val)) {
			*why = k ? "a driver_override that is not a driver name" :
				   "a driver that is not a driver name";
			return -EIO;
		}
		strcpy(k ? rec->override : rec->driver, val);
		return 0;
	case 2: {
		struct assign_pci_addr pa;
		char canon[ASSIGN_PCI_ADDR_LEN];

		if (!*val)
			return 0;
		if (assign_pci_addr_parse(val, &pa) < 0 ||
		    assign_pci_addr_format(&pa, canon, sizeof(canon)) < 0 ||
		    strcmp(canon, val)) {
			*why = "a for= that is not a PCI address";
			return -EIO;
		}
		if (!strcmp(canon, addr)) {
			*why = "a for= naming the device itself";
			return -EIO;
		}
		strcpy(rec->owner, canon);
		return 0;
	}
	default: /* pid, time */
		if (!all_digits(val)) {
			*why = "a pid or time that is not a number";
			return -EIO;
		}
		return 0;
	}
}

int host_record_parse(const char *addr, const char *text, size_t len,
		      struct host_record *rec, const char **why)
{
	char buf[RECORD_MAX + 1];
	unsigned seen = 0;
	char *line, *save = NULL;
	int r;

	*why = "";
	memset(rec, 0, sizeof(*rec));
	if (len > RECORD_MAX) {
		*why = "more than 4096 bytes";
		return -EIO;
	}
	if (memchr(text, '\0', len)) {
		*why = "a NUL byte";
		return -EIO;
	}
	memcpy(buf, text, len);
	buf[len] = '\0';
	for (line = strtok_r(buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		if (line[0] == '#')
			continue;
		r = parse_line(addr, line, rec, &seen, why);
		if (r < 0)
			return r;
	}
	if (!(seen & 1u)) {
		*why = "no driver= line";
		return -EIO;
	}
	return 0;
}

/* -ENOENT: no record (or no state directory); -EIO with *why: not a
 * record. No message. */
static int record_read_at(int dfd, const char *addr, struct host_record *rec,
			  const char **why)
{
	char text[RECORD_MAX + 1];
	struct stat st;
	ssize_t n;
	size_t len = 0;
	int fd, r;

	*why = "";
	if (dfd < 0)
		return -ENOENT;
	fd = openat(dfd, addr, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ELOOP) {
			*why = "a symbolic link";
			return -EIO;
		}
		return -errno;
	}
	if (fstat(fd, &st) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	if (!S_ISREG(st.st_mode) ||
	    (st.st_uid != geteuid() && st.st_uid != 0) ||
	    (st.st_mode & (S_IWGRP | S_IWOTH))) {
		close(fd);
		*why = "not a regular file of this user or root, writable "
		       "by its owner only";
		return -EIO;
	}
	while (len <= RECORD_MAX) {
		n = read(fd, text + len, sizeof(text) - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	r = n < 0 ? -errno : 0;
	close(fd);
	if (r < 0)
		return r;
	return host_record_parse(addr, text, len, rec, why);
}

int host_record_read(const struct host_opts *o, const char *addr,
		     struct host_record *rec)
{
	const char *why;

	return record_read_at(o->state_fd, addr, rec, &why);
}

/* The message for a record that failed to read with @r. */
static int record_error(struct assign_ctx *ctx, const struct host_opts *o,
			const char *addr, int r, const char *why,
			const char *fix)
{
	if (r == -EIO && why && *why)
		return set_error(ctx, r,
				 "the state record %s/%s is not a valid record "
				 "(%s); %s",
				 o->state_dir, addr, why, fix);
	return set_error(ctx, r, "cannot read the state record %s/%s: %s; %s",
			 o->state_dir, addr, strerror(-r), fix);
}

int host_record_read_msg(struct assign_ctx *ctx, const struct host_opts *o,
			 const char *addr, struct host_record *rec,
			 const char *fix)
{
	const char *why;
	int r = record_read_at(o->state_fd, addr, rec, &why);

	if (r < 0 && r != -ENOENT)
		return record_error(ctx, o, addr, r, why, fix);
	return r;
}

/* The temporary file of a new record: created, never reused. */
static int open_temp(int dfd, const char *tmp)
{
	int fd;

	fd = openat(dfd, tmp,
		    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0 && errno == EEXIST) {
		/* Left by a process of the same pid that died: the directory
		 * is ours, so is the file. */
		unlinkat(dfd, tmp, 0);
		fd = openat(dfd, tmp,
			    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
				    O_CLOEXEC,
			    0644);
	}
	return fd < 0 ? -errno : fd;
}

static int record_write(struct assign_ctx *ctx, const struct host_opts *o,
			const char *addr, const struct host_record *rec)
{
	char tmp[ASSIGN_PCI_ADDR_LEN + 32];
	FILE *f;
	int r, fd;

	if (o->state_fd < 0) {
		/* The operation went ahead without a state directory: say
		 * why there is none. */
		r = host_state_open(ctx, o, true, &fd);
		if (r < 0)
			return r;
		host_state_close(fd);
		return set_error(ctx, -EAGAIN,
				 "the state directory %s appeared while %s "
				 "was being bound; try again",
				 o->state_dir, addr);
	}
	snprintf(tmp, sizeof(tmp), ".%s.tmp.%ld", addr, (long)getpid());
	fd = open_temp(o->state_fd, tmp);
	if (fd < 0 || !(f = fdopen(fd, "w"))) {
		r = fd < 0 ? fd : -errno;
		if (fd >= 0) {
			close(fd);
			unlinkat(o->state_fd, tmp, 0);
		}
		return set_error(ctx, r, "cannot write %s/%s: %s", o->state_dir,
				 tmp, strerror(-r));
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
		unlinkat(o->state_fd, tmp, 0);
		return set_error(ctx, r, "cannot write %s/%s: %s", o->state_dir,
				 tmp, strerror(-r));
	}
	fclose(f);
	if (renameat(o->state_fd, tmp, o->state_fd, addr) < 0) {
		r = -errno;
		unlinkat(o->state_fd, tmp, 0);
		return set_error(ctx, r, "cannot create %s/%s: %s",
				 o->state_dir, addr, strerror(-r));
	}
	return 0;
}

void host_record_remove(const struct host_opts *o, const char *addr)
{
	if (o->state_fd >= 0)
		unlinkat(o->state_fd, addr, 0);
}

/* The first record of @addr: it goes back to @driver with @override. */
int host_record_create(struct assign_ctx *ctx, const struct host_opts *o,
		       const char *addr, const char *driver,
		       const char *override)
{
	struct host_record rec;

	/* What cannot be read back must not be written: restore would
	 * refuse it. */
	if ((*driver && !host_valid_driver_name(driver)) ||
	    (*override && !host_valid_driver_name(override)))
		return set_error(ctx, -EINVAL,
				 "%s: cannot record the driver \"%s\" "
				 "(driver_override \"%s\"): not a driver name "
				 "a state record may hold; unbind it by hand",
				 addr, driver, override);
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
	const char *why;
	int r;

	if (!ctx || !ret)
		return -EINVAL;
	r = host_addr_opts(ctx, address, opts, addr, &o);
	if (r < 0)
		return r;
	r = host_state_open(ctx, &o, false, &o.state_fd);
	if (r < 0)
		return r;
	r = record_read_at(o.state_fd, addr, &rec, &why);
	if (r == -ENOENT)
		r = set_error(ctx, r, "no state record for %s in %s", addr,
			      o.state_dir);
	else if (r < 0)
		r = record_error(ctx, &o, addr, r, why,
				 "remove it and bind the driver by hand");
	host_state_close(o.state_fd);
	if (r < 0)
		return r;
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

/* Append @addr to @list (capacity *cap). */
static int list_add(struct assign_host_record_list *list, size_t *cap,
		    const char *addr)
{
	if (list->count == *cap) {
		size_t ncap = *cap ? *cap * 2 : 8;
		char(*nv)[ASSIGN_PCI_ADDR_LEN] =
			realloc(list->addresses, ncap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		list->addresses = nv;
		*cap = ncap;
	}
	strcpy(list->addresses[list->count++], addr);
	return 0;
}

int host_record_list(struct assign_ctx *ctx, const struct host_opts *o,
		     struct assign_host_record_list **ret)
{
	struct assign_host_record_list *list;
	size_t cap = 0;
	struct dirent *de;
	DIR *d;
	int fd, r = 0;

	list = calloc(1, sizeof(*list));
	if (!list)
		return set_error(ctx, -ENOMEM, "out of memory");
	if (o->state_fd < 0) {
		*ret = list;
		return 0;
	}
	fd = openat(o->state_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		r = -errno;
		if (fd >= 0)
			close(fd);
		free(list);
		return set_error(ctx, r, "cannot read %s: %s", o->state_dir,
				 strerror(-r));
	}
	while ((de = readdir(d))) {
		struct assign_pci_addr a;
		char canon[ASSIGN_PCI_ADDR_LEN];

		if (assign_pci_addr_parse(de->d_name, &a) < 0 ||
		    assign_pci_addr_format(&a, canon, sizeof(canon)) < 0 ||
		    strcmp(canon, de->d_name))
			continue;
		if (list_add(list, &cap, canon) < 0) {
			closedir(d);
			assign_host_record_list_free(list);
			return set_error(ctx, -ENOMEM, "out of memory");
		}
	}
	closedir(d);
	if (list->count)
		qsort(list->addresses, list->count, sizeof(*list->addresses),
		      cmp_addr);
	*ret = list;
	return 0;
}

ASSIGN_EXPORT int assign_host_records(struct assign_ctx *ctx,
				      const struct assign_host_opts *opts,
				      struct assign_host_record_list **ret)
{
	struct host_opts o;
	int r;

	if (!ctx || !ret)
		return -EINVAL;
	r = host_opts_get(ctx, opts, &o);
	if (r < 0)
		return r;
	r = host_state_open(ctx, &o, false, &o.state_fd);
	if (r < 0)
		return r;
	r = host_record_list(ctx, &o, ret);
	host_state_close(o.state_fd);
	return r;
}

/* ---- the state directory's lock --------------------------------------- */

/* An exclusive flock on <state_dir>/.lock serialises the processes that
 * change bindings, so two of them never interleave their sysfs writes and
 * records. */
int host_state_lock(const struct host_opts *o)
{
	struct stat st;
	int fd;

	if (o->state_fd < 0)
		return -1;
	fd = openat(o->state_fd, ".lock",
		    O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC,
		    0600);
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return -1;
	}
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
