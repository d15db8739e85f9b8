// SPDX-License-Identifier: MIT
/*
 * The migration object: the device's VFIO migration v2 features, its
 * state machine walked one arc at a time, PRE_COPY progress, the data
 * size estimate, and recovery after a failed arc. Streaming the data fd
 * out and in is in mig_io.c, the stream's framing in mig_stream.c.
 *
 * Why walk the arcs here when the kernel accepts any supported target
 * and walks them itself: when an arc fails, the caller learns which one,
 * in which state the device was left, and the library knows which data
 * session that state has, instead of guessing from an errno after a
 * combination of arcs. The path is the kernel's (vfio.h: the shortest
 * one, never through a saving state, optional states the device lacks
 * passed over), computed here from the arcs vfio.h lists.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/vfio.h>

#include "core/sys.h"
#include "device/device.h"

#define NSTATES 8u
#define S(x) ASSIGN_MIGRATION_STATE_##x
#define BIT(x) (1u << S(x))

#define DEFAULT_RECORD (1u << 20)
#define MIN_RECORD 4096u

static const char *const state_names[NSTATES] = {
	"ERROR",    "STOP",	   "RUNNING",  "STOP_COPY",
	"RESUMING", "RUNNING_P2P", "PRE_COPY", "PRE_COPY_P2P",
};

const char *mig_state_name(enum assign_migration_state s)
{
	return (unsigned)s < NSTATES ? state_names[s] : "(unknown)";
}

/*
 * The arcs of the state machine with every optional state (vfio.h):
 * STOP -> RUNNING_P2P, STOP_COPY, RESUMING; RUNNING -> RUNNING_P2P,
 * PRE_COPY; STOP_COPY -> STOP; RESUMING -> STOP; RUNNING_P2P -> STOP,
 * RUNNING, PRE_COPY_P2P; PRE_COPY -> RUNNING, PRE_COPY_P2P;
 * PRE_COPY_P2P -> RUNNING_P2P, PRE_COPY, STOP_COPY.
 */
static const unsigned arcs[NSTATES] = {
	[S(STOP)] = BIT(RUNNING_P2P) | BIT(STOP_COPY) | BIT(RESUMING),
	[S(RUNNING)] = BIT(RUNNING_P2P) | BIT(PRE_COPY),
	[S(STOP_COPY)] = BIT(STOP),
	[S(RESUMING)] = BIT(STOP),
	[S(RUNNING_P2P)] = BIT(STOP) | BIT(RUNNING) | BIT(PRE_COPY_P2P),
	[S(PRE_COPY)] = BIT(RUNNING) | BIT(PRE_COPY_P2P),
	[S(PRE_COPY_P2P)] = BIT(RUNNING_P2P) | BIT(PRE_COPY) | BIT(STOP_COPY),
};

static bool saving(unsigned s)
{
	return s == S(PRE_COPY) || s == S(PRE_COPY_P2P) || s == S(STOP_COPY);
}

/* The feature a state needs, 0 when it needs none beyond STOP_COPY. */
static uint32_t state_needs(unsigned s)
{
	switch (s) {
	case S(RUNNING_P2P):
		return ASSIGN_MIGRATION_F_P2P;
	case S(PRE_COPY):
		return ASSIGN_MIGRATION_F_PRE_COPY;
	case S(PRE_COPY_P2P):
		return ASSIGN_MIGRATION_F_P2P | ASSIGN_MIGRATION_F_PRE_COPY;
	default:
		return 0;
	}
}

static bool supported(unsigned s, uint32_t flags)
{
	return s < NSTATES && s != S(ERROR) &&
	       (state_needs(s) & flags) == state_needs(s);
}

static void fmt_flags(uint32_t flags, char *buf, size_t size)
{
	snprintf(buf, size, "STOP_COPY%s%s",
		 flags & ASSIGN_MIGRATION_F_P2P ? "|P2P" : "",
		 flags & ASSIGN_MIGRATION_F_PRE_COPY ? "|PRE_COPY" : "");
}

/*
 * The states entered from @from to @to: a breadth-first search over the
 * full machine in which a saving state is on the way only when both ends
 * are saving states (vfio.h: a path has saving states only at its ends,
 * so a session is never ended and restarted on the way; within one
 * session, PRE_COPY reaches STOP_COPY through PRE_COPY_P2P), and
 * RESUMING, a dead end, never is; then the optional states @flags lacks
 * are removed, as the kernel passes over them. -EINVAL when there is no
 * path or vfio.h blocks it.
 */
static int find_path(unsigned from, unsigned to, uint32_t flags, unsigned *path,
		     size_t *n)
{
	unsigned prev[NSTATES], queue[NSTATES], full[NSTATES];
	size_t head = 0, tail = 0, len = 0;
	bool seen[NSTATES] = { false };

	*n = 0;
	if (from == to)
		return 0;
	/* vfio.h: STOP_COPY never goes back to PRE_COPY*, not even by a
	 * detour through RUNNING (that would restart a stream whose end
	 * was already read). */
	if (from == S(STOP_COPY) &&
	    (to == S(PRE_COPY) || to == S(PRE_COPY_P2P)))
		return -EINVAL;
	seen[from] = true;
	queue[tail++] = from;
	while (head < tail && !seen[to]) {
		unsigned s = queue[head++];

		if (s != from && s == S(RESUMING))
			continue;
		if (s != from && saving(s) && !(saving(from) && saving(to)))
			continue;
		for (unsigned t = 0; t < NSTATES; t++) {
			if (!(arcs[s] & (1u << t)) || seen[t])
				continue;
			seen[t] = true;
			prev[t] = s;
			queue[tail++] = t;
		}
	}
	if (!seen[to])
		return -EINVAL;
	for (unsigned s = to; s != from; s = prev[s])
		full[len++] = s;
	for (size_t i = len; i-- > 0;)
		if (full[i] == to || supported(full[i], flags))
			path[(*n)++] = full[i];
	return 0;
}

/* ---- the kernel side ------------------------------------------------- */

struct feat_state {
	struct vfio_device_feature hdr;
	struct vfio_device_feature_mig_state st;
};

static int feature_ioctl(struct assign_migration *mig, uint32_t flags,
			 void *data, size_t len)
{
	uint8_t buf[sizeof(struct vfio_device_feature) + 16]
		__attribute__((aligned(8)));
	struct vfio_device_feature *f = (void *)buf;
	int r;

	memset(buf, 0, sizeof(buf));
	f->argsz = (uint32_t)(sizeof(*f) + len);
	f->flags = flags;
	memcpy(f->data, data, len);
	r = sys_ioctl(mig->ctx, mig->dev->att.devfd, VFIO_DEVICE_FEATURE, f);
	memcpy(data, f->data, len);
	return r;
}

int mig_kernel_state(struct assign_migration *mig,
		     enum assign_migration_state *state)
{
	struct vfio_device_feature_mig_state st = { 0 };
	int r;

	r = feature_ioctl(mig,
			  VFIO_DEVICE_FEATURE_GET |
				  VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE,
			  &st, sizeof(st));
	if (r < 0)
		return r;
	if (st.device_state >= NSTATES)
		return -EPROTO;
	*state = (enum assign_migration_state)st.device_state;
	return 0;
}

/* One arc: SET @to; *fd gets the data fd the kernel returned, or -1. */
static int kernel_set(struct assign_migration *mig, unsigned to, int *fd)
{
	struct vfio_device_feature_mig_state st = { .device_state = to,
						    .data_fd = -1 };
	int r;

	r = feature_ioctl(mig,
			  VFIO_DEVICE_FEATURE_SET |
				  VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE,
			  &st, sizeof(st));
	*fd = r < 0 ? -1 : st.data_fd;
	return r;
}

void mig_end_session(struct assign_migration *mig)
{
	if (mig->datafd >= 0)
		sys_close(mig->ctx, mig->datafd);
	mig->datafd = -1;
	mig->session = MIG_NONE;
}

static void start_session(struct assign_migration *mig, int fd,
			  enum mig_session kind)
{
	mig_end_session(mig);
	mig->datafd = fd;
	mig->session = kind;
	mig->out_started = mig->out_ended = false;
	mig->out_seq = mig->out_bytes = mig->out_records = 0;
	mig_reader_reset(&mig->in);
	mig->in_written = 0;
	mig->in_tried = false;
}

/* The device is in @s: a session of ours that @s cannot have is over
 * (a reset, or someone else moved the device). */
static void sync_session(struct assign_migration *mig, unsigned s)
{
	if ((mig->session == MIG_SAVING && !saving(s)) ||
	    (mig->session == MIG_RESUMING && s != S(RESUMING)))
		mig_end_session(mig);
}

int mig_reset(struct assign_migration *mig)
{
	struct assign_device *dev = mig->dev;
	char saved[ASSIGN_ERROR_MAX];
	int r;

	assign_error_save(mig->ctx, saved);
	/* As assign_device_reset(): the reset disables INTx, MSI and
	 * MSI-X in the device, so the kernel's view follows first. */
	dev_irqs_disable_all(dev, true);
	r = sys_ioctl(mig->ctx, dev->att.devfd, VFIO_DEVICE_RESET, NULL);
	if (r == 0)
		dev_irqs_forget(dev);
	assign_error_restore(mig->ctx, saved);
	mig_end_session(mig);
	return r;
}

int mig_usable_state(struct assign_migration *mig,
		     enum assign_migration_state *state, const char *what)
{
	const char *addr = mig->dev->addr;
	int r;

	r = mig_kernel_state(mig, state);
	if (r == -EPROTO)
		return set_error(mig->ctx, r,
				 "%s: the kernel reports a migration state "
				 "this libassign does not know",
				 addr);
	if (r < 0)
		return set_error(mig->ctx, r,
				 "%s: reading the migration state of %s "
				 "failed: %s",
				 what, addr, strerror(-r));
	sync_session(mig, *state);
	if (*state == S(ERROR))
		return set_error(mig->ctx, -EIO,
				 "%s: %s is in the migration state ERROR; "
				 "reset it with assign_migration_recover() "
				 "first",
				 what, addr);
	return 0;
}

/* ---- the object ------------------------------------------------------ */

static int check_opts(struct assign_ctx *ctx,
		      const struct assign_migration_opts *opts,
		      struct assign_migration_opts *o)
{
	int r;

	r = SIZED_IN(ctx, o, opts, "assign_migration_opts");
	if (r < 0)
		return r;
	if (o->flags &
	    ~(ASSIGN_MIGRATION_F_NO_RESET | ASSIGN_MIGRATION_F_NO_DATA_CRC))
		return set_error(ctx, -EINVAL,
				 "assign_migration_opts.flags 0x%x has "
				 "unknown bits; pass 0, "
				 "ASSIGN_MIGRATION_F_NO_RESET or "
				 "ASSIGN_MIGRATION_F_NO_DATA_CRC",
				 o->flags);
	if (o->record_size &&
	    (o->record_size < MIN_RECORD || o->record_size > MIG_REC_MAX))
		return set_error(ctx, -EINVAL,
				 "assign_migration_opts.record_size %u is "
				 "out of range: give 0 (1 MiB) or %u to %u",
				 o->record_size, MIN_RECORD, MIG_REC_MAX);
	return 0;
}

/* VFIO_DEVICE_FEATURE_MIGRATION: the device's flags. */
static int probe(struct assign_migration *mig)
{
	struct vfio_device_feature_migration m = { 0 };
	const char *addr = mig->dev->addr;
	char drv[64] = "", path[128];
	int r;

	r = feature_ioctl(
		mig, VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_MIGRATION,
		&m, sizeof(m));
	if (r == -ENOTTY || r == -EINVAL || r == -EOPNOTSUPP) {
		snprintf(path, sizeof(path), "bus/pci/devices/%s/driver", addr);
		if (sysfs_link_name(mig->ctx, path, drv, sizeof(drv)) < 0)
			snprintf(drv, sizeof(drv), "its driver");
		return set_error(
			mig->ctx, -EOPNOTSUPP,
			"%s cannot be migrated: %s implements no "
			"VFIO migration (VFIO_DEVICE_FEATURE_MIGRATION: "
			"%s); migration needs a vfio-pci variant "
			"driver that implements it (mlx5_vfio_pci, "
			"hisi_acc_vfio_pci, ...) or an mdev driver "
			"such as the mtty sample",
			addr, drv, strerror(-r));
	}
	if (r < 0)
		return set_error(
			mig->ctx, r,
			"VFIO_DEVICE_FEATURE_MIGRATION on %s failed: %s", addr,
			strerror(-r));
	if (!(m.flags & VFIO_MIGRATION_STOP_COPY))
		return set_error(mig->ctx, -EPROTO,
				 "%s reports migration flags 0x%llx without "
				 "STOP_COPY, which every migration driver "
				 "must support",
				 addr, (unsigned long long)m.flags);
	mig->flags = (uint32_t)m.flags &
		     (ASSIGN_MIGRATION_F_STOP_COPY | ASSIGN_MIGRATION_F_P2P |
		      ASSIGN_MIGRATION_F_PRE_COPY);
	return 0;
}

/* The device's identity from config space (PCI), for the stream. */
static void read_ident(struct assign_migration *mig)
{
	struct mig_ident *id = &mig->ident;
	uint8_t c[0x30];
	char saved[ASSIGN_ERROR_MAX];

	memset(id, 0, sizeof(*id));
	id->mig_flags = mig->flags;
	if (mig->opt_flags & ASSIGN_MIGRATION_F_NO_DATA_CRC)
		id->stream_flags = MIG_HDR_F_NO_DATA_CRC;
	snprintf(id->source, sizeof(id->source), "%s", mig->dev->addr);
	if (!(mig->dev->info.flags & ASSIGN_DEVICE_F_PCI))
		return;
	assign_error_save(mig->ctx, saved);
	if (assign_device_config_read(mig->dev, 0, c, sizeof(c)) == 0) {
		id->vendor = (uint16_t)(c[0] | c[1] << 8);
		id->device = (uint16_t)(c[2] | c[3] << 8);
		id->class_code = (uint32_t)(c[9] | c[10] << 8 | c[11] << 16);
		id->subvendor = (uint16_t)(c[0x2c] | c[0x2d] << 8);
		id->subdevice = (uint16_t)(c[0x2e] | c[0x2f] << 8);
	}
	assign_error_restore(mig->ctx, saved);
}

ASSIGN_EXPORT int assign_migration_new(struct assign_device *dev,
				       const struct assign_migration_opts *opts,
				       struct assign_migration **ret)
{
	struct assign_migration_opts o;
	struct assign_migration *mig;
	int r;

	if (!dev)
		return -EINVAL;
	if (!ret)
		return set_error(dev->ctx, -EINVAL,
				 "assign_migration_new: ret is NULL");
	r = check_opts(dev->ctx, opts, &o);
	if (r < 0)
		return r;
	mig = calloc(1, sizeof(*mig));
	if (!mig)
		return set_error(dev->ctx, -ENOMEM,
				 "out of memory for the migration of %s",
				 dev->addr);
	mig->refcount = 1;
	mig->ctx = dev->ctx;
	mig->dev = dev;
	mig->datafd = -1;
	mig->opt_flags = o.flags;
	mig->record_size = o.record_size ? o.record_size : DEFAULT_RECORD;
	r = probe(mig);
	if (r < 0) {
		free(mig);
		return r;
	}
	read_ident(mig);
	mig->dev = assign_device_ref(dev);
	*ret = mig;
	return 0;
}

ASSIGN_EXPORT struct assign_migration *
assign_migration_ref(struct assign_migration *mig)
{
	if (mig)
		__atomic_add_fetch(&mig->refcount, 1, __ATOMIC_RELAXED);
	return mig;
}

ASSIGN_EXPORT struct assign_migration *
assign_migration_unref(struct assign_migration *mig)
{
	if (!mig || __atomic_sub_fetch(&mig->refcount, 1, __ATOMIC_ACQ_REL) > 0)
		return NULL;
	mig_end_session(mig);
	mig_reader_release(&mig->in);
	free(mig->out_buf);
	assign_device_unref(mig->dev);
	free(mig);
	return NULL;
}

ASSIGN_EXPORT struct assign_device *
assign_migration_get_device(const struct assign_migration *mig)
{
	return mig ? mig->dev : NULL;
}

ASSIGN_EXPORT uint32_t
assign_migration_get_flags(const struct assign_migration *mig)
{
	return mig ? mig->flags : 0;
}

ASSIGN_EXPORT int assign_migration_get_state(struct assign_migration *mig,
					     enum assign_migration_state *state)
{
	int r;

	if (!mig)
		return -EINVAL;
	if (!state)
		return set_error(mig->ctx, -EINVAL,
				 "assign_migration_get_state: state is NULL");
	r = mig_kernel_state(mig, state);
	if (r == -EPROTO)
		return set_error(mig->ctx, r,
				 "%s: the kernel reports a migration state "
				 "this libassign does not know",
				 mig->dev->addr);
	if (r < 0)
		return set_error(mig->ctx, r,
				 "reading the migration state of %s failed: %s",
				 mig->dev->addr, strerror(-r));
	sync_session(mig, *state);
	return 0;
}

/* Is @s a state the caller may name, and does the device have it? */
static int check_target(const struct assign_migration *mig, unsigned s,
			const char *what)
{
	char fl[48];

	if (s >= NSTATES || s == S(ERROR))
		return set_error(mig->ctx, -EINVAL,
				 "%s: %s is not a state one can ask for%s",
				 what,
				 s >= NSTATES ? "an unknown state" : "ERROR",
				 s == S(ERROR) ? " (only a failed arc leads "
						 "there)" :
						 "");
	if (!supported(s, mig->flags)) {
		fmt_flags(mig->flags, fl, sizeof(fl));
		return set_error(mig->ctx, -EOPNOTSUPP,
				 "%s: %s does not support %s (its migration "
				 "flags: %s)",
				 what, mig->dev->addr, mig_state_name(s), fl);
	}
	return 0;
}

ASSIGN_EXPORT int assign_migration_get_path(const struct assign_migration *mig,
					    enum assign_migration_state from,
					    enum assign_migration_state to,
					    enum assign_migration_state *path,
					    size_t max, size_t *n)
{
	unsigned p[NSTATES];
	size_t k;
	int r;

	if (!mig)
		return -EINVAL;
	if (!n || (max && !path))
		return set_error(mig->ctx, -EINVAL,
				 "assign_migration_get_path: %s is NULL",
				 !n ? "n" : "path");
	r = check_target(mig, from, "assign_migration_get_path");
	if (r == 0)
		r = check_target(mig, to, "assign_migration_get_path");
	if (r < 0)
		return r;
	if (find_path(from, to, mig->flags, p, &k) < 0)
		return set_error(mig->ctx, -EINVAL,
				 "no arc leads from %s to %s: a device leaves "
				 "STOP_COPY through STOP and cannot go back to "
				 "PRE_COPY",
				 mig_state_name(from), mig_state_name(to));
	for (size_t i = 0; i < k && i < max; i++)
		path[i] = (enum assign_migration_state)p[i];
	*n = k;
	return 0;
}

/* What an arc failure left: the message names it, the state, and what
 * the library did about it. Returns @err. */
static int arc_failed(struct assign_migration *mig, unsigned from, unsigned to,
		      unsigned target, int err)
{
	enum assign_migration_state now;
	const char *addr = mig->dev->addr;
	char base[200];
	int r;

	snprintf(base, sizeof(base),
		 "moving %s to %s failed at the arc %s -> %s: %s", addr,
		 mig_state_name(target), mig_state_name(from),
		 mig_state_name(to), strerror(-err));
	r = mig_kernel_state(mig, &now);
	if (r < 0) {
		mig_end_session(mig);
		return set_error(mig->ctx, err,
				 "%s; its state cannot be read (%s): "
				 "assign_migration_recover() resets it",
				 base, strerror(-r));
	}
	sync_session(mig, now);
	if (now != S(ERROR) && !(from == S(RESUMING) && now == S(RESUMING)))
		return set_error(mig->ctx, err, "%s; it is in %s", base,
				 mig_state_name(now));
	if (mig->opt_flags & ASSIGN_MIGRATION_F_NO_RESET)
		return set_error(
			mig->ctx, err,
			"%s; it is in %s%s: assign_migration_recover() "
			"resets it",
			base, mig_state_name(now),
			now == S(RESUMING) ? ", having refused its "
					     "data" :
					     "");
	r = mig_reset(mig);
	if (r < 0)
		return set_error(mig->ctx, err,
				 "%s; it is in %s and the reset that would "
				 "recover it failed: %s",
				 base, mig_state_name(now), strerror(-r));
	return set_error(mig->ctx, err,
			 "%s; %s, so it was reset: it is RUNNING, its "
			 "internal state lost",
			 base,
			 now == S(ERROR) ? "it went to ERROR" :
					   "it refused the data it was given");
}

/* After the arc @from -> @to, with the data fd the kernel returned. */
static int arc_done(struct assign_migration *mig, unsigned from, unsigned to,
		    int fd)
{
	bool starts = (saving(to) && !saving(from)) ||
		      (to == S(RESUMING) && from != S(RESUMING));

	if ((saving(from) && !saving(to)) ||
	    (from == S(RESUMING) && to != S(RESUMING)))
		mig_end_session(mig);
	if (starts) {
		if (fd < 0)
			return set_error(mig->ctx, -EPROTO,
					 "the arc %s -> %s of %s gave no data "
					 "fd: a kernel or driver bug; "
					 "assign_migration_recover() resets "
					 "the device",
					 mig_state_name(from),
					 mig_state_name(to), mig->dev->addr);
		start_session(mig, fd,
			      to == S(RESUMING) ? MIG_RESUMING : MIG_SAVING);
		return 0;
	}
	if (fd >= 0) {
		/* A driver that hands out a new fd within a session: the
		 * stream goes on through the new one. */
		if (mig->session != MIG_NONE) {
			sys_close(mig->ctx, mig->datafd);
			mig->datafd = fd;
		} else {
			sys_close(mig->ctx, fd);
		}
	}
	return 0;
}

ASSIGN_EXPORT int assign_migration_set_state(struct assign_migration *mig,
					     enum assign_migration_state state)
{
	enum assign_migration_state cur;
	unsigned path[NSTATES];
	size_t n;
	int r;

	if (!mig)
		return -EINVAL;
	r = check_target(mig, state, "assign_migration_set_state");
	if (r < 0)
		return r;
	r = mig_usable_state(mig, &cur, "assign_migration_set_state");
	if (r < 0)
		return r;
	if (find_path(cur, state, mig->flags, path, &n) < 0)
		return set_error(mig->ctx, -EINVAL,
				 "%s cannot go from %s to %s: a device leaves "
				 "STOP_COPY through STOP and cannot go back to "
				 "PRE_COPY",
				 mig->dev->addr, mig_state_name(cur),
				 mig_state_name(state));
	for (size_t i = 0; i < n; i++) {
		int fd;

		r = kernel_set(mig, path[i], &fd);
		if (r < 0)
			return arc_failed(mig, cur, path[i], state, r);
		dbg(mig->ctx, "%s: %s -> %s", mig->dev->addr,
		    mig_state_name(cur), mig_state_name(path[i]));
		r = arc_done(mig, cur, path[i], fd);
		if (r < 0)
			return r;
		cur = (enum assign_migration_state)path[i];
	}
	return 0;
}

ASSIGN_EXPORT int assign_migration_recover(struct assign_migration *mig)
{
	int r;

	if (!mig)
		return -EINVAL;
	r = mig_reset(mig);
	if (r < 0)
		return set_error(mig->ctx, r,
				 "VFIO_DEVICE_RESET of %s failed: %s; the "
				 "device cannot be recovered from here (unbind "
				 "it from its driver, or reset its slot)",
				 mig->dev->addr, strerror(-r));
	return 0;
}

ASSIGN_EXPORT int
assign_migration_get_precopy(struct assign_migration *mig,
			     struct assign_migration_precopy *info)
{
	struct vfio_precopy_info pi = { .argsz = sizeof(pi) };
	struct assign_migration_precopy out = { .size = sizeof(out) };
	enum assign_migration_state s;
	int r;

	if (!mig)
		return -EINVAL;
	r = sized_out_check(mig->ctx, info, "assign_migration_precopy");
	if (r < 0)
		return r;
	r = mig_usable_state(mig, &s, "assign_migration_get_precopy");
	if (r < 0)
		return r;
	if (s != S(PRE_COPY) && s != S(PRE_COPY_P2P))
		return set_error(mig->ctx, -EINVAL,
				 "%s is in %s: PRE_COPY progress exists in "
				 "PRE_COPY and PRE_COPY_P2P only",
				 mig->dev->addr, mig_state_name(s));
	if (mig->session != MIG_SAVING)
		return set_error(mig->ctx, -EINVAL,
				 "%s entered %s outside this migration object: "
				 "it has no data fd to ask",
				 mig->dev->addr, mig_state_name(s));
	r = sys_ioctl(mig->ctx, mig->datafd, VFIO_MIG_GET_PRECOPY_INFO, &pi);
	if (r < 0)
		return set_error(mig->ctx, r,
				 "VFIO_MIG_GET_PRECOPY_INFO on %s failed: %s",
				 mig->dev->addr, strerror(-r));
	out.initial_bytes = pi.initial_bytes;
	out.dirty_bytes = pi.dirty_bytes;
	SIZED_OUT_FILL(info, &out);
	return 0;
}

ASSIGN_EXPORT int assign_migration_get_data_size(struct assign_migration *mig,
						 uint64_t *bytes)
{
	struct vfio_device_feature_mig_data_size ds = { 0 };
	int r;

	if (!mig)
		return -EINVAL;
	if (!bytes)
		return set_error(mig->ctx, -EINVAL,
				 "assign_migration_get_data_size: bytes is "
				 "NULL");
	r = feature_ioctl(mig,
			  VFIO_DEVICE_FEATURE_GET |
				  VFIO_DEVICE_FEATURE_MIG_DATA_SIZE,
			  &ds, sizeof(ds));
	if (r == -ENOTTY || r == -EOPNOTSUPP)
		return set_error(mig->ctx, -EOPNOTSUPP,
				 "%s cannot estimate its migration data "
				 "(VFIO_DEVICE_FEATURE_MIG_DATA_SIZE: %s; the "
				 "kernel has it since 6.3)",
				 mig->dev->addr, strerror(-r));
	if (r < 0)
		return set_error(mig->ctx, r,
				 "VFIO_DEVICE_FEATURE_MIG_DATA_SIZE on %s "
				 "failed: %s",
				 mig->dev->addr, strerror(-r));
	*bytes = ds.stop_copy_length;
	return 0;
}
