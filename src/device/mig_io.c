// SPDX-License-Identifier: MIT
/*
 * Streaming a device's migration data: assign_migration_save() reads the
 * session's data fd and writes the framed stream (mig_stream.c) to the
 * caller's fd; assign_migration_load() reads and checks a stream and
 * writes its data to the device.
 *
 * Cost: one record is one read() of the data fd into a buffer that
 * already has room for the record header before it and the CRC after it,
 * and one write() of the whole record; the CRC-32C runs over data the
 * read just brought into the cache. So the library moves the data with
 * the same system calls as a plain read/write loop (bench/bench-migration.c
 * measures both).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/sys.h"
#include "device/device.h"

/* All of @n bytes to @fd. */
static int write_full(struct assign_migration *mig, int fd, const void *buf,
		      size_t n, const char *what)
{
	size_t done = 0;

	while (done < n) {
		ssize_t r = sys_write(mig->ctx, fd, (const uint8_t *)buf + done,
				      n - done);

		if (r == -EAGAIN)
			return set_error(mig->ctx, -EAGAIN,
					 "writing %s: fd %d is non-blocking "
					 "and full; give a blocking fd",
					 what, fd);
		if (r < 0)
			return set_error(mig->ctx, (int)r,
					 "writing %s to fd %d failed: %s", what,
					 fd, strerror((int)-r));
		if (r == 0)
			return set_error(mig->ctx, -EIO,
					 "writing %s to fd %d wrote nothing",
					 what, fd);
		done += (size_t)r;
	}
	return 0;
}

/* ---- save ------------------------------------------------------------ */

enum fill_end { FILL_FULL, FILL_PAUSE, FILL_EOF };

/*
 * Read up to @want bytes of device data into @buf. PRE_COPY's temporary
 * end is -ENOMSG (vfio.h) or a read of 0 (what mtty answers); in
 * STOP_COPY a read of 0 is the end of the data.
 */
static int fill(struct assign_migration *mig, uint8_t *buf, size_t want,
		bool stop_copy, size_t *got, enum fill_end *end)
{
	*got = 0;
	*end = FILL_FULL;
	while (*got < want) {
		ssize_t r = sys_read(mig->ctx, mig->datafd, buf + *got,
				     want - *got);

		if (r > 0) {
			*got += (size_t)r;
			continue;
		}
		if (r == 0) {
			*end = stop_copy ? FILL_EOF : FILL_PAUSE;
			return 0;
		}
		if (r == -ENOMSG || r == -EAGAIN) {
			*end = FILL_PAUSE;
			return 0;
		}
		return set_error(mig->ctx, (int)r,
				 "reading the migration data of %s failed "
				 "after %" PRIu64 " bytes: %s",
				 mig->dev->addr, mig->out_bytes + *got,
				 strerror((int)-r));
	}
	return 0;
}

static int put_record(struct assign_migration *mig, int fd, uint32_t type,
		      uint32_t len)
{
	bool crc = type != MIG_REC_DATA ||
		   !(mig->ident.stream_flags & MIG_HDR_F_NO_DATA_CRC);
	size_t n = mig_record_encode(mig->out_buf, type, 0, mig->out_seq, len,
				     crc);
	int r;

	r = write_full(mig, fd, mig->out_buf, n, "the migration stream");
	if (r < 0)
		return r;
	mig->out_seq++;
	return 0;
}

static int put_header(struct assign_migration *mig, int fd)
{
	uint8_t h[MIG_HDR_SIZE];
	char saved[ASSIGN_ERROR_MAX];
	uint64_t size = 0;
	int r;

	/* The estimate is a hint for the reader; a kernel without it
	 * gives 0. */
	assign_error_save(mig->ctx, saved);
	if (assign_migration_get_data_size(mig, &size) < 0)
		size = 0;
	assign_error_restore(mig->ctx, saved);
	mig->ident.data_size = size;
	mig_header_encode(h, &mig->ident);
	r = write_full(mig, fd, h, sizeof(h), "the migration stream header");
	if (r == 0)
		mig->out_started = true;
	return r;
}

/* The END record: the totals the reader checks. */
static int put_end(struct assign_migration *mig, int fd)
{
	uint8_t *p = mig->out_buf + MIG_REC_HDR_SIZE;
	int r;

	for (int i = 0; i < 8; i++) {
		p[i] = (uint8_t)(mig->out_bytes >> (8 * i));
		p[8 + i] = (uint8_t)(mig->out_records >> (8 * i));
	}
	r = put_record(mig, fd, MIG_REC_END, MIG_END_PAYLOAD);
	if (r < 0)
		return r;
	mig->out_ended = true;
	return 1;
}

/* What assign_migration_save() needs before it reads: a usable fd, the
 * device in a state with data, the object's own session, a stream not
 * ended, a record buffer. */
static int save_check(struct assign_migration *mig, int fd,
		      enum assign_migration_state *state)
{
	enum assign_migration_state s;
	int r;

	if (fd < 0)
		return set_error(mig->ctx, -EINVAL,
				 "assign_migration_save: fd %d is not an fd",
				 fd);
	r = mig_usable_state(mig, &s, "assign_migration_save");
	if (r < 0)
		return r;
	if (s != ASSIGN_MIGRATION_STATE_PRE_COPY &&
	    s != ASSIGN_MIGRATION_STATE_PRE_COPY_P2P &&
	    s != ASSIGN_MIGRATION_STATE_STOP_COPY)
		return set_error(
			mig->ctx, -EINVAL,
			"assign_migration_save: %s is in %s; its state "
			"is read in PRE_COPY, PRE_COPY_P2P or "
			"STOP_COPY (assign_migration_set_state())",
			mig->dev->addr, mig_state_name(s));
	if (mig->session != MIG_SAVING)
		return set_error(mig->ctx, -EINVAL,
				 "assign_migration_save: %s entered %s outside "
				 "this migration object, which has no data fd "
				 "for it",
				 mig->dev->addr, mig_state_name(s));
	if (mig->out_ended)
		return set_error(mig->ctx, -EINVAL,
				 "assign_migration_save: the stream of %s is "
				 "complete; move the device on (to STOP, say)",
				 mig->dev->addr);
	if (!mig->out_buf) {
		mig->out_buf =
			malloc(MIG_REC_HDR_SIZE + (size_t)mig->record_size + 4);
		if (!mig->out_buf)
			return set_error(mig->ctx, -ENOMEM,
					 "out of memory for a %u-byte record",
					 mig->record_size);
	}
	*state = s;
	return 0;
}

ASSIGN_EXPORT int assign_migration_save(struct assign_migration *mig, int fd,
					uint64_t max_bytes, uint64_t *bytes)
{
	enum assign_migration_state s = ASSIGN_MIGRATION_STATE_ERROR;
	uint64_t moved = 0;
	int r;

	if (!mig)
		return -EINVAL;
	r = save_check(mig, fd, &s);
	if (r < 0)
		return r;
	if (!mig->out_started) {
		r = put_header(mig, fd);
		if (r < 0)
			return r;
	}
	for (;;) {
		size_t want = mig->record_size, got;
		enum fill_end end;

		if (max_bytes) {
			if (moved >= max_bytes)
				break;
			want = (size_t)MIN((uint64_t)want, max_bytes - moved);
		}
		r = fill(mig, mig->out_buf + MIG_REC_HDR_SIZE, want,
			 s == ASSIGN_MIGRATION_STATE_STOP_COPY, &got, &end);
		if (r < 0)
			return r;
		if (got) {
			r = put_record(mig, fd, MIG_REC_DATA, (uint32_t)got);
			if (r < 0)
				return r;
			mig->out_bytes += got;
			mig->out_records++;
			moved += got;
			if (bytes)
				*bytes += got;
		}
		if (end == FILL_EOF)
			return put_end(mig, fd);
		if (end == FILL_PAUSE)
			break;
	}
	r = put_record(mig, fd, MIG_REC_SYNC, 0);
	return r < 0 ? r : 0;
}

/* ---- load ------------------------------------------------------------ */

struct load_ctx {
	struct assign_migration *mig;
	int fd;
};

static ssize_t load_read(void *arg, void *buf, size_t n)
{
	struct load_ctx *lc = arg;

	return sys_read(lc->mig->ctx, lc->fd, buf, n);
}

static int load_sink(void *arg, const void *buf, size_t n)
{
	struct load_ctx *lc = arg;
	struct assign_migration *mig = lc->mig;
	size_t done = 0;

	/* A driver that refuses a write may still have taken it in (mtty
	 * counts the bytes of a header it refuses): from here on only a
	 * reset gives a clean RESUMING. */
	mig->in_tried = true;
	while (done < n) {
		ssize_t r = sys_write(mig->ctx, mig->datafd,
				      (const uint8_t *)buf + done, n - done);

		if (r < 0)
			return (int)r;
		if (r == 0)
			return -EIO;
		done += (size_t)r;
		mig->in_written += (size_t)r;
	}
	return 0;
}

static bool same_kind(const struct mig_ident *a, const struct mig_ident *b)
{
	return a->vendor == b->vendor && a->device == b->device &&
	       a->subvendor == b->subvendor && a->subdevice == b->subdevice;
}

/* A refused stream: say so, and leave the device usable. */
static int refuse(struct assign_migration *mig, int err, const char *why)
{
	const char *addr = mig->dev->addr;
	char src[sizeof(mig->in.ident.source) + 16] = "";
	char reason[sizeof(mig->in.msg)];
	int r;

	/* @why may be the reader's message, which a reset clears. */
	snprintf(reason, sizeof(reason), "%s", why);
	why = reason;
	if (mig->in.have_header && mig->in.ident.source[0])
		snprintf(src, sizeof(src), " from %s", mig->in.ident.source);
	if (!mig->in_tried) {
		/* The device got nothing: another stream may follow. */
		mig_reader_reset(&mig->in);
		return set_error(mig->ctx, err,
				 "loading a migration stream%s into %s: %s; "
				 "the device received nothing and is still in "
				 "RESUMING",
				 src, addr, why);
	}
	r = mig_reset(mig);
	if (r < 0)
		return set_error(mig->ctx, err,
				 "loading a migration stream%s into %s: %s; "
				 "the device had received %" PRIu64 " bytes "
				 "and resetting it failed (%s): "
				 "assign_migration_recover() retries",
				 src, addr, why, mig->in_written, strerror(-r));
	if (!mig->in_written)
		return set_error(mig->ctx, err,
				 "loading a migration stream%s into %s: %s; "
				 "the device was given data, so it was reset: "
				 "it is RUNNING, its internal state lost",
				 src, addr, why);
	return set_error(mig->ctx, err,
			 "loading a migration stream%s into %s: %s; the "
			 "device had received %" PRIu64 " bytes, so it was "
			 "reset: it is RUNNING, its internal state lost",
			 src, addr, why, mig->in_written);
}

static int check_ident(struct assign_migration *mig)
{
	const struct mig_ident *in = &mig->in.ident, *me = &mig->ident;
	char why[200];

	if (same_kind(in, me))
		return 0;
	snprintf(why, sizeof(why),
		 "the stream was made from a %04x:%04x (subsystem "
		 "%04x:%04x), this device is a %04x:%04x (subsystem "
		 "%04x:%04x)",
		 in->vendor, in->device, in->subvendor, in->subdevice,
		 me->vendor, me->device, me->subvendor, me->subdevice);
	return refuse(mig, -EBADMSG, why);
}

ASSIGN_EXPORT int assign_migration_load(struct assign_migration *mig, int fd,
					uint64_t *bytes)
{
	enum assign_migration_state s;
	struct load_ctx lc;
	uint64_t before;
	int r;

	if (!mig)
		return -EINVAL;
	if (fd < 0)
		return set_error(mig->ctx, -EINVAL,
				 "assign_migration_load: fd %d is not an fd",
				 fd);
	r = mig_usable_state(mig, &s, "assign_migration_load");
	if (r < 0)
		return r;
	if (s != ASSIGN_MIGRATION_STATE_RESUMING)
		return set_error(mig->ctx, -EINVAL,
				 "assign_migration_load: %s is in %s, not "
				 "RESUMING; move it there first "
				 "(assign_migration_set_state())",
				 mig->dev->addr, mig_state_name(s));
	if (mig->session != MIG_RESUMING)
		return set_error(mig->ctx, -EINVAL,
				 "assign_migration_load: %s entered RESUMING "
				 "outside this migration object, which has no "
				 "data fd for it",
				 mig->dev->addr);
	if (mig->in.ended)
		return set_error(mig->ctx, -EINVAL,
				 "assign_migration_load: the stream into %s is "
				 "complete; move the device out of RESUMING",
				 mig->dev->addr);
	lc.mig = mig;
	lc.fd = fd;
	mig->in.read = load_read;
	mig->in.sink = load_sink;
	mig->in.arg = &lc;
	before = mig->in.data_bytes;
	if (!mig->in.have_header) {
		r = mig_read_header(&mig->in);
		if (r < 0)
			return refuse(mig, r, mig->in.msg);
		r = check_ident(mig);
		if (r < 0)
			return r;
	}
	r = mig_read_records(&mig->in);
	if (bytes)
		*bytes += mig->in.data_bytes - before;
	if (r < 0)
		return refuse(mig, r, mig->in.msg);
	return r;
}
