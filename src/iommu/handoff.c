// SPDX-License-Identifier: MIT
/*
 * Handing VFIO descriptors from a privileged process to an unprivileged
 * VMM over a unix socket (SCM_RIGHTS), as management stacks do: the
 * helper makes a handoff (assign_handoff_new(), _add_device(): each
 * device checked by opening it once, then fresh fds), sends it; the VMM
 * receives it and makes its IOMMU object from it
 * (assign_iommu_new_from_handoff()), then opens the devices by name as
 * usual. docs/device.md describes the message.
 *
 * One message carries it all: text lines, and the fds in their order
 *
 *   libassign-handoff 1
 *   backend type1 | iommufd       the container or iommufd        (1 fd)
 *   group N                       type1: a group                   (1 fd)
 *   device NAME BUS GROUP         iommufd: its cdev (1 fd); type1: none
 *   end
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/sys.h"
#include "iommu/iommu.h"

#define HANDOFF_MAGIC "libassign-handoff 1"

struct assign_handoff {
	struct assign_ctx *ctx; /* reference held */
	enum assign_iommu_backend backend; /* TYPE1 or IOMMUFD */
	int iommu_fd; /* -1 once taken */
	struct assign_iommu *trial; /* helper side: devices are
					      opened once on it to check */
	size_t ngroups;
	struct iommu_handed_group groups[HANDOFF_MAX_DEVICES];
	size_t ndevs;
	struct handoff_dev devs[HANDOFF_MAX_DEVICES];
};

/* ---------------------------------------------------------------------- */
/* The message */

static bool word_ok(const char *w, size_t max, bool name)
{
	size_t n = strlen(w);

	if (!n || n >= max || (name && (!strcmp(w, ".") || !strcmp(w, ".."))))
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)w[i];

		if (c <= ' ' || c >= 0x7f || c == '/')
			return false;
		if (!name &&
		    !(islower(c) || isdigit(c) || c == '_' || c == '-'))
			return false;
	}
	return true;
}

static bool number_ok(const char *w, bool minus_one, int *out)
{
	char *end;
	long v;

	if (minus_one && !strcmp(w, "-1")) {
		*out = -1;
		return true;
	}
	if (!isdigit((unsigned char)w[0]))
		return false;
	v = strtol(w, &end, 10);
	if (*end || v < 0 || v > INT32_MAX || (w[0] == '0' && w[1]))
		return false;
	*out = (int)v;
	return true;
}

/* "backend type1|iommufd", the first line. */
static int parse_backend(const char *word, struct handoff_desc *d,
			 const char **why)
{
	if (!strcmp(word, "type1"))
		d->backend = ASSIGN_IOMMU_TYPE1;
	else if (!strcmp(word, "iommufd"))
		d->backend = ASSIGN_IOMMU_IOMMUFD;
	else {
		*why = "the backend is neither type1 nor iommufd";
		return -EPROTO;
	}
	d->nfds = 1;
	return 0;
}

/* "group N": a type1 group fd follows, before the devices. */
static int parse_group(const char *word, struct handoff_desc *d,
		       const char **why)
{
	int g;

	if (d->backend != ASSIGN_IOMMU_TYPE1 || d->ndevs) {
		*why = "a group line where none belongs (iommufd, or after "
		       "the devices)";
		return -EPROTO;
	}
	if (!number_ok(word, false, &g)) {
		*why = "a group number is malformed";
		return -EPROTO;
	}
	for (size_t i = 0; i < d->ngroups; i++)
		if (d->groups[i] == g) {
			*why = "a group is listed twice";
			return -EPROTO;
		}
	if (d->ngroups == HANDOFF_MAX_DEVICES) {
		*why = "more groups than libassign takes";
		return -EPROTO;
	}
	d->groups[d->ngroups++] = g;
	d->nfds++;
	return 0;
}

/* "device NAME BUS GROUP": on iommufd its cdev fd follows. */
static int parse_device(char *const w[3], struct handoff_desc *d,
			const char **why)
{
	struct handoff_dev *dev;
	bool found = false;
	int g;

	if (!word_ok(w[0], DEVPATH_NAME_MAX, true) ||
	    !word_ok(w[1], DEVPATH_BUS_MAX, false) ||
	    !number_ok(w[2], d->backend == ASSIGN_IOMMU_IOMMUFD, &g)) {
		*why = "a device line is malformed";
		return -EPROTO;
	}
	for (size_t i = 0; i < d->ngroups; i++)
		found |= d->groups[i] == g;
	if (d->backend == ASSIGN_IOMMU_TYPE1 && !found) {
		*why = "a device's group was not handed over";
		return -EPROTO;
	}
	for (size_t i = 0; i < d->ndevs; i++)
		if (!strcmp(d->devs[i].name, w[0])) {
			*why = "a device is listed twice";
			return -EPROTO;
		}
	if (d->ndevs == HANDOFF_MAX_DEVICES) {
		*why = "more devices than libassign takes";
		return -EPROTO;
	}
	dev = &d->devs[d->ndevs++];
	strcpy(dev->name, w[0]);
	strcpy(dev->bus, w[1]);
	dev->group = g;
	dev->fd = -1;
	if (d->backend == ASSIGN_IOMMU_IOMMUFD)
		d->nfds++;
	return 0;
}

/* One line (NUL-terminated, no newline) into @d. @state: 0 before the
 * backend line, 1 after it, 2 after "end". */
static int parse_line(char *line, struct handoff_desc *d, int *state,
		      const char **why)
{
	char *w[5];
	size_t n = 0;
	int r;

	for (char *p = strtok(line, " "); p; p = strtok(NULL, " ")) {
		if (n == ARRAY_SIZE(w)) {
			*why = "a line has too many words";
			return -EPROTO;
		}
		w[n++] = p;
	}
	if (*state == 2) {
		*why = "there is more after \"end\"";
		return -EPROTO;
	}
	if (n == 2 && !strcmp(w[0], "backend") && *state == 0) {
		r = parse_backend(w[1], d, why);
		if (r == 0)
			*state = 1;
		return r;
	}
	if (*state != 1) {
		*why = "the backend line is missing or repeated";
		return -EPROTO;
	}
	if (n == 1 && !strcmp(w[0], "end")) {
		*state = 2;
		return 0;
	}
	if (n == 2 && !strcmp(w[0], "group"))
		return parse_group(w[1], d, why);
	if (n == 4 && !strcmp(w[0], "device"))
		return parse_device(&w[1], d, why);
	*why = "a line is not one of backend, group, device or end";
	return -EPROTO;
}

int handoff_parse(const char *msg, size_t len, struct handoff_desc *d,
		  const char **why)
{
	char *text, *line, *next;
	int state = 0, r = 0;

	memset(d, 0, sizeof(*d));
	*why = "";
	if (len > HANDOFF_MAX_MSG || memchr(msg, '\0', len)) {
		*why = len > HANDOFF_MAX_MSG ? "it is too long" :
					       "it holds a NUL byte";
		return -EPROTO;
	}
	text = malloc(len + 1);
	if (!text)
		return -ENOMEM;
	memcpy(text, msg, len);
	text[len] = '\0';
	line = text;
	next = strchr(line, '\n');
	if (!next || (size_t)(next - line) != strlen(HANDOFF_MAGIC) ||
	    strncmp(line, HANDOFF_MAGIC, strlen(HANDOFF_MAGIC))) {
		*why = "it does not start with \"" HANDOFF_MAGIC "\"";
		free(text);
		return -EPROTO;
	}
	for (line = next + 1; *line && r == 0; line = next) {
		next = strchr(line, '\n');
		if (!next) {
			*why = "its last line has no newline";
			r = -EPROTO;
			break;
		}
		*next++ = '\0';
		r = parse_line(line, d, &state, why);
	}
	if (r == 0 && state != 2) {
		*why = "it ends before \"end\" (cut short?)";
		r = -EPROTO;
	}
	if (r == 0 && !d->ndevs) {
		*why = "it hands over no device";
		r = -EPROTO;
	}
	free(text);
	return r;
}

/* The message for @h into @buf: its length, or -ENOSPC. */
static int handoff_format(const struct assign_handoff *h, char *buf,
			  size_t size)
{
	size_t len = 0;
	int k;

#define PUT(...)                                                  \
	do {                                                      \
		k = snprintf(buf + len, size - len, __VA_ARGS__); \
		if (k < 0 || (size_t)k >= size - len)             \
			return -ENOSPC;                           \
		len += (size_t)k;                                 \
	} while (0)
	PUT("%s\nbackend %s\n", HANDOFF_MAGIC,
	    h->backend == ASSIGN_IOMMU_IOMMUFD ? "iommufd" : "type1");
	for (size_t i = 0; i < h->ngroups; i++)
		PUT("group %d\n", h->groups[i].id);
	for (size_t i = 0; i < h->ndevs; i++)
		PUT("device %s %s %d\n", h->devs[i].name, h->devs[i].bus,
		    h->devs[i].group);
	PUT("end\n");
#undef PUT
	return (int)len;
}

/* ---------------------------------------------------------------------- */
/* The object */

static struct assign_handoff *handoff_alloc(struct assign_ctx *ctx)
{
	struct assign_handoff *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	h->ctx = assign_ctx_ref(ctx);
	h->iommu_fd = -1;
	return h;
}

ASSIGN_EXPORT struct assign_handoff *
assign_handoff_free(struct assign_handoff *h)
{
	if (!h)
		return NULL;
	if (h->iommu_fd >= 0)
		sys_close(h->ctx, h->iommu_fd);
	for (size_t i = 0; i < h->ngroups; i++)
		if (h->groups[i].fd >= 0)
			sys_close(h->ctx, h->groups[i].fd);
	for (size_t i = 0; i < h->ndevs; i++)
		if (h->devs[i].fd >= 0)
			sys_close(h->ctx, h->devs[i].fd);
	assign_iommu_unref(h->trial);
	assign_ctx_unref(h->ctx);
	free(h);
	return NULL;
}

ASSIGN_EXPORT enum assign_iommu_backend
assign_handoff_get_backend(const struct assign_handoff *h)
{
	return h ? h->backend : ASSIGN_IOMMU_AUTO;
}

ASSIGN_EXPORT size_t assign_handoff_get_count(const struct assign_handoff *h)
{
	return h ? h->ndevs : 0;
}

ASSIGN_EXPORT const char *
assign_handoff_get_device(const struct assign_handoff *h, size_t i)
{
	return h && i < h->ndevs ? h->devs[i].name : NULL;
}

/* The helper's side: a VFIO node for the VMM, fresh. */
static int open_node(struct assign_ctx *ctx, const char *path)
{
	int fd = sys_open(ctx, path, O_RDWR);

	if (fd == -EACCES || fd == -EPERM)
		return set_error(ctx, -EACCES,
				 "permission denied opening %s: the helper "
				 "must run as root (or own the VFIO nodes)",
				 path);
	if (fd < 0)
		return set_error(ctx, fd, "cannot open %s: %s", path,
				 strerror(-fd));
	return fd;
}

ASSIGN_EXPORT int assign_handoff_new(struct assign_ctx *ctx,
				     const struct assign_iommu_opts *opts,
				     struct assign_handoff **ret)
{
	struct assign_iommu_opts o;
	struct assign_handoff *h;
	int r, fd;

	if (!ctx || !ret)
		return -EINVAL;
	r = SIZED_IN(ctx, &o, opts, "assign_iommu_opts");
	if (r == 0)
		r = iommu_check_opts(ctx, &o);
	if (r < 0)
		return r;
	if (o.backend == ASSIGN_IOMMU_NOIOMMU)
		return set_error(ctx, -EOPNOTSUPP,
				 "no-IOMMU devices are not handed over: VFIO "
				 "asks the process that uses them for "
				 "CAP_SYS_RAWIO, so it is privileged anyway");
	if (o.ioas_id)
		return set_error(ctx, -EINVAL,
				 "a handoff makes no IOAS: the VMM makes its "
				 "own in the iommufd it receives");
	if (o.backend == ASSIGN_IOMMU_AUTO) {
		fd = sys_open(ctx, "/dev/iommu", O_RDWR);
		o.backend = fd >= 0 ? ASSIGN_IOMMU_IOMMUFD : ASSIGN_IOMMU_TYPE1;
		if (fd >= 0)
			sys_close(ctx, fd);
	}
	h = handoff_alloc(ctx);
	if (!h)
		return set_error(ctx, -ENOMEM, "out of memory");
	h->backend = o.backend;
	r = assign_iommu_new(ctx, &o, &h->trial);
	if (r == 0) {
		fd = open_node(ctx, o.backend == ASSIGN_IOMMU_IOMMUFD ?
					    "/dev/iommu" :
					    "/dev/vfio/vfio");
		if (fd < 0)
			r = fd;
		else
			h->iommu_fd = fd;
	}
	if (r < 0) {
		char msg[ASSIGN_ERROR_MAX];

		assign_error_save(ctx, msg);
		assign_handoff_free(h);
		assign_error_restore(ctx, msg);
		return r;
	}
	*ret = h;
	return 0;
}

/* A group of the handoff, or -1. */
static int group_index(const struct assign_handoff *h, int gid)
{
	for (size_t i = 0; i < h->ngroups; i++)
		if (h->groups[i].id == gid)
			return (int)i;
	return -1;
}

/* Open @req's device once on the trial IOMMU object: everything the
 * kernel would refuse (viability, interrupt isolation, the bind) shows
 * now, in the helper, with its message. */
static int trial_open(struct assign_handoff *h, const struct iommu_dev_req *req)
{
	struct assign_attach att;
	int r;

	r = iommu_attach(h->trial, req, &att);
	if (r == 0)
		iommu_detach_device(h->trial, &att);
	return r;
}

/* The fresh fd the VMM gets for the device: its cdev (iommufd) or its
 * group's node (type1, once per group). */
static int handed_fd(struct assign_handoff *h, const struct devpath *loc,
		     int gid, int *fd)
{
	char cdev[32], path[64];
	int r;

	*fd = -1;
	if (h->backend == ASSIGN_IOMMU_TYPE1) {
		if (group_index(h, gid) >= 0)
			return 0;
		snprintf(path, sizeof(path), "/dev/vfio/%d", gid);
		r = open_node(h->ctx, path);
		if (r < 0)
			return r;
		h->groups[h->ngroups].id = gid;
		h->groups[h->ngroups++].fd = r;
		return 0;
	}
	r = iommu_vfio_cdev(h->ctx, loc->dir, cdev, sizeof(cdev));
	if (r < 0)
		return set_error(h->ctx, -ENODEV, "%s has no vfio cdev: %s",
				 loc->name, strerror(-r));
	snprintf(path, sizeof(path), "/dev/vfio/devices/%s", cdev);
	r = open_node(h->ctx, path);
	if (r < 0)
		return r;
	*fd = r;
	return 0;
}

ASSIGN_EXPORT int assign_handoff_add_device(struct assign_handoff *h,
					    const char *name)
{
	struct iommu_dev_req req = { .fd = -1 };
	struct handoff_dev *dev;
	int r, gid = -1, fd;

	if (!h)
		return -EINVAL;
	if (!name)
		return set_error(h->ctx, -EINVAL,
				 "assign_handoff_add_device: name is NULL");
	if (!h->trial)
		return set_error(h->ctx, -EINVAL,
				 "this handoff was received: it takes no "
				 "devices");
	if (h->ndevs == HANDOFF_MAX_DEVICES)
		return set_error(h->ctx, -ENOSPC,
				 "a handoff holds at most %d devices",
				 HANDOFF_MAX_DEVICES);
	r = devpath_locate(h->ctx, name, &req.loc);
	if (r < 0)
		return r;
	for (size_t i = 0; i < h->ndevs; i++)
		if (!strcmp(h->devs[i].name, req.loc.name))
			return set_error(h->ctx, -EEXIST,
					 "%s is in the handoff already",
					 req.loc.name);
	r = iommu_check_device(h->trial, &req, &gid);
	if (r < 0)
		return r;
	/* A group already handed over is held open here: its devices
	 * cannot be opened again, and the group was checked with the
	 * first. */
	if (group_index(h, gid) < 0) {
		r = trial_open(h, &req);
		if (r < 0)
			return r;
	}
	r = handed_fd(h, &req.loc, gid, &fd);
	if (r < 0)
		return r;
	dev = &h->devs[h->ndevs++];
	snprintf(dev->name, sizeof(dev->name), "%s", req.loc.name);
	snprintf(dev->bus, sizeof(dev->bus), "%s", req.loc.bus);
	dev->group = gid;
	dev->fd = fd;
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Over the socket */

ASSIGN_EXPORT int assign_handoff_send(struct assign_handoff *h, int sock)
{
	char *msg;
	int fds[HANDOFF_MAX_FDS];
	size_t n = 0;
	ssize_t r;
	int len;

	if (!h)
		return -EINVAL;
	if (h->iommu_fd < 0 || !h->ndevs)
		return set_error(h->ctx, -EINVAL,
				 "the handoff has %s: nothing to send",
				 h->iommu_fd < 0 ? "been taken" : "no device");
	msg = malloc(HANDOFF_MAX_MSG);
	if (!msg)
		return set_error(h->ctx, -ENOMEM, "out of memory");
	len = handoff_format(h, msg, HANDOFF_MAX_MSG);
	if (len < 0) {
		free(msg);
		return set_error(h->ctx, -ENOSPC,
				 "the handoff does not fit in %d bytes",
				 HANDOFF_MAX_MSG);
	}
	fds[n++] = h->iommu_fd;
	for (size_t i = 0; i < h->ngroups; i++)
		fds[n++] = h->groups[i].fd;
	for (size_t i = 0; i < h->ndevs; i++)
		if (h->devs[i].fd >= 0)
			fds[n++] = h->devs[i].fd;
	r = sys_sendmsg(h->ctx, sock, msg, (size_t)len, fds, n);
	free(msg);
	if (r < 0)
		return set_error(h->ctx, (int)r,
				 "cannot send the handoff on socket %d: %s",
				 sock, strerror((int)-r));
	if (r != len)
		return set_error(h->ctx, -EIO,
				 "the handoff went out cut short (%zd of %d "
				 "bytes): use a SOCK_SEQPACKET socket",
				 r, len);
	return 0;
}

static void close_all(struct assign_ctx *ctx, const int *fds, size_t n)
{
	for (size_t i = 0; i < n; i++)
		sys_close(ctx, fds[i]);
}

/* fd @i of a received handoff is what the message says it is; when sysfs
 * cannot say (a VMM without /sys), it is taken on trust. */
static int check_received(struct assign_ctx *ctx, int fd, size_t i,
			  enum iommu_fd_kind kind, int group,
			  const char *device)
{
	struct iommu_fd_id id;
	int r;

	r = iommu_fd_identify(ctx, fd, &id);
	if (r < 0)
		return r;
	if (id.unknown)
		return 0;
	if (id.kind == kind && (kind != IOMMU_FD_GROUP || id.group == group) &&
	    (kind != IOMMU_FD_CDEV || !strcmp(id.dev.name, device)))
		return 0;
	return set_error(ctx, -EPROTO,
			 "fd %zu of the handoff is %s, not what its message "
			 "says (%s%s%s)",
			 i, id.what,
			 kind == IOMMU_FD_CONTAINER ? "the VFIO container" :
			 kind == IOMMU_FD_IOMMUFD   ? "an iommufd" :
			 kind == IOMMU_FD_GROUP	    ? "a VFIO group" :
						      "the vfio cdev of ",
			 kind == IOMMU_FD_CDEV ? device : "",
			 kind == IOMMU_FD_GROUP ? " of the number it names" :
						  "");
}

/* The received @fds, as @d describes them, into a new handoff. */
static int handoff_from(struct assign_ctx *ctx, const struct handoff_desc *d,
			const int *fds, struct assign_handoff **ret)
{
	bool ifd = d->backend == ASSIGN_IOMMU_IOMMUFD;
	struct assign_handoff *h;
	size_t k = 0;
	int r;

	r = check_received(ctx, fds[k], k,
			   ifd ? IOMMU_FD_IOMMUFD : IOMMU_FD_CONTAINER, -1, "");
	k++;
	for (size_t i = 0; r == 0 && i < d->ngroups; i++, k++)
		r = check_received(ctx, fds[k], k, IOMMU_FD_GROUP, d->groups[i],
				   "");
	for (size_t i = 0; r == 0 && ifd && i < d->ndevs; i++, k++)
		r = check_received(ctx, fds[k], k, IOMMU_FD_CDEV, -1,
				   d->devs[i].name);
	if (r < 0)
		return r;
	h = handoff_alloc(ctx);
	if (!h)
		return set_error(ctx, -ENOMEM, "out of memory");
	k = 0;
	h->backend = d->backend;
	h->iommu_fd = fds[k++];
	for (size_t i = 0; i < d->ngroups; i++) {
		h->groups[i].id = d->groups[i];
		h->groups[i].fd = fds[k++];
	}
	h->ngroups = d->ngroups;
	for (size_t i = 0; i < d->ndevs; i++) {
		h->devs[i] = d->devs[i];
		h->devs[i].fd = ifd ? fds[k++] : -1;
	}
	h->ndevs = d->ndevs;
	*ret = h;
	return 0;
}

ASSIGN_EXPORT int assign_handoff_recv(struct assign_ctx *ctx, int sock,
				      struct assign_handoff **ret)
{
	struct handoff_desc *d;
	int fds[HANDOFF_MAX_FDS];
	const char *why;
	size_t nfds = 0;
	char *msg;
	ssize_t n;
	int r;

	if (!ctx || !ret)
		return -EINVAL;
	msg = malloc(HANDOFF_MAX_MSG + 1);
	d = malloc(sizeof(*d));
	if (!msg || !d) {
		free(msg);
		free(d);
		return set_error(ctx, -ENOMEM, "out of memory");
	}
	n = sys_recvmsg(ctx, sock, msg, HANDOFF_MAX_MSG + 1, fds,
			HANDOFF_MAX_FDS, &nfds);
	if (n == -EMSGSIZE)
		r = set_error(ctx, -EPROTO,
			      "the helper sent more than a handoff holds (a "
			      "message over %d bytes or more than %d fds): "
			      "nothing taken",
			      HANDOFF_MAX_MSG, HANDOFF_MAX_FDS);
	else if (n < 0)
		r = set_error(ctx, (int)n,
			      "cannot receive a handoff on socket %d: %s", sock,
			      strerror((int)-n));
	else if (n == 0 && !nfds)
		r = set_error(ctx, -ECONNRESET,
			      "the helper closed the connection without "
			      "handing anything over (it refused: see its "
			      "messages)");
	else if (!nfds)
		r = set_error(ctx, -EPROTO,
			      "the helper's message came without any fd: "
			      "nothing to take");
	else if ((r = handoff_parse(msg, (size_t)n, d, &why)) < 0)
		r = set_error(ctx, r == -ENOMEM ? -ENOMEM : -EPROTO,
			      "the helper's message is not a libassign "
			      "handoff: %s",
			      r == -ENOMEM ? "out of memory" : why);
	else if (d->nfds != nfds)
		r = set_error(
			ctx, -EPROTO,
			"the helper's message names %zu fds, and %zu came "
			"with it",
			d->nfds, nfds);
	else
		r = handoff_from(ctx, d, fds, ret);
	if (r < 0 && n >= 0)
		close_all(ctx, fds, nfds);
	free(msg);
	free(d);
	return r;
}

/* ---------------------------------------------------------------------- */
/* The VMM's side: an IOMMU object from it */

ASSIGN_EXPORT int assign_iommu_new_from_handoff(struct assign_ctx *ctx,
						struct assign_handoff *h,
						struct assign_iommu **ret)
{
	struct assign_iommu_opts o = { .size = sizeof(o) };
	struct assign_iommu *iommu = NULL;
	struct iommu_handed *hd = NULL;
	struct iommu_handed_group *hg = NULL;
	int r;

	if (!ctx || !h || !ret)
		return -EINVAL;
	if (h->iommu_fd < 0)
		return set_error(ctx, -EINVAL,
				 "the handoff's fds were taken already");
	o.backend = h->backend;
	hd = calloc(h->ndevs, sizeof(*hd));
	hg = calloc(h->ngroups ? h->ngroups : 1, sizeof(*hg));
	if (!hd || !hg) {
		free(hd);
		free(hg);
		return set_error(ctx, -ENOMEM, "out of memory");
	}
	r = assign_iommu_new_from_fd(ctx, h->iommu_fd, &o, &iommu);
	if (r < 0) {
		free(hd);
		free(hg);
		return r;
	}
	/* Everything is the IOMMU object's now; groups and cdevs wait in
	 * it for their devices to be opened by name. */
	h->iommu_fd = -1;
	for (size_t i = 0; i < h->ngroups; i++) {
		hg[i] = h->groups[i];
		h->groups[i].fd = -1;
	}
	for (size_t i = 0; i < h->ndevs; i++) {
		snprintf(hd[i].name, sizeof(hd[i].name), "%s", h->devs[i].name);
		snprintf(hd[i].bus, sizeof(hd[i].bus), "%s", h->devs[i].bus);
		hd[i].group = h->devs[i].group;
		hd[i].fd = h->devs[i].fd;
		h->devs[i].fd = -1;
	}
	iommu->handed = hd;
	iommu->nhanded = h->ndevs;
	iommu->handed_groups = hg;
	iommu->nhanded_groups = h->ngroups;
	*ret = iommu;
	return 0;
}

void iommu_handed_forget(struct assign_iommu *iommu, int fd)
{
	for (size_t i = 0; i < iommu->nhanded; i++)
		if (iommu->handed[i].fd == fd)
			iommu->handed[i].fd = -1;
	for (size_t i = 0; i < iommu->nhanded_groups; i++)
		if (iommu->handed_groups[i].fd == fd)
			iommu->handed_groups[i].fd = -1;
}

int iommu_handed_group_fd(const struct assign_iommu *iommu, int gid)
{
	for (size_t i = 0; i < iommu->nhanded_groups; i++)
		if (iommu->handed_groups[i].id == gid)
			return iommu->handed_groups[i].fd;
	return -1;
}

void iommu_handed_release(struct assign_iommu *iommu)
{
	for (size_t i = 0; i < iommu->nhanded; i++)
		if (iommu->handed[i].fd >= 0)
			sys_close(iommu->ctx, iommu->handed[i].fd);
	for (size_t i = 0; i < iommu->nhanded_groups; i++)
		if (iommu->handed_groups[i].fd >= 0)
			sys_close(iommu->ctx, iommu->handed_groups[i].fd);
	free(iommu->handed);
	free(iommu->handed_groups);
	iommu->handed = NULL;
	iommu->handed_groups = NULL;
	iommu->nhanded = iommu->nhanded_groups = 0;
}
