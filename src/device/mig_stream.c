// SPDX-License-Identifier: MIT
/*
 * The migration stream's framing (the layout is in device/device.h):
 * encoding a header and records, and reading them back with every check,
 * over a caller-given read() and sink() so that the same code serves
 * assign_migration_load() and the fuzz target. Nothing here touches a
 * device or the kernel.
 *
 * Why a framing at all: the kernel's data stream is opaque and
 * device-specific, and a driver may take a wrong one for a while before
 * it notices. The framing lets the destination refuse, before the device
 * sees a byte, a stream that is not one (magic), comes from a newer
 * library (version), was made for another kind of device (identity), or
 * was damaged on the way (CRC-32C of every header and payload, record
 * sequence numbers, totals in the end record).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "device/device.h"

static const uint8_t magic[8] = { 0x89, 'L', 'A', 'S', 'M', 'I', 'G', '\n' };

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

void mig_header_encode(uint8_t out[MIG_HDR_SIZE], const struct mig_ident *id)
{
	memset(out, 0, MIG_HDR_SIZE);
	memcpy(out, magic, sizeof(magic));
	put16(out + 8, MIG_STREAM_VERSION);
	put16(out + 10, MIG_HDR_SIZE);
	put32(out + 12, id->stream_flags);
	put16(out + 16, id->vendor);
	put16(out + 18, id->device);
	put16(out + 20, id->subvendor);
	put16(out + 22, id->subdevice);
	put32(out + 24, id->class_code);
	put32(out + 28, id->mig_flags);
	put64(out + 32, id->data_size);
	memcpy(out + 40, id->source, sizeof(id->source));
	put32(out + MIG_HDR_SIZE - 4, crc32c(0, out, MIG_HDR_SIZE - 4));
}

size_t mig_record_encode(uint8_t *buf, uint32_t type, uint32_t flags,
			 uint64_t seq, uint32_t len, bool crc)
{
	put32(buf, type);
	put32(buf + 4, flags);
	put64(buf + 8, seq);
	put32(buf + 16, len);
	put32(buf + 20, crc32c(0, buf, 20));
	if (!len)
		return MIG_REC_HDR_SIZE;
	if (!crc)
		return MIG_REC_HDR_SIZE + (size_t)len;
	put32(buf + MIG_REC_HDR_SIZE + len,
	      crc32c(0, buf + MIG_REC_HDR_SIZE, len));
	return MIG_REC_HDR_SIZE + (size_t)len + 4;
}

void mig_reader_reset(struct mig_reader *r)
{
	r->have_header = false;
	r->ended = false;
	memset(&r->ident, 0, sizeof(r->ident));
	r->seq = 0;
	r->offset = 0;
	r->data_bytes = 0;
	r->data_records = 0;
	r->msg[0] = '\0';
}

void mig_reader_release(struct mig_reader *r)
{
	free(r->buf);
	r->buf = NULL;
	r->cap = 0;
}

static int fail(struct mig_reader *r, int err, const char *fmt, ...)
	ASSIGN_PRINTF(3, 4);
static int fail(struct mig_reader *r, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->msg, sizeof(r->msg), fmt, ap);
	va_end(ap);
	return err;
}

/*
 * Exactly @n bytes of @what. The end of the stream before the first byte
 * of a record (@boundary) and anywhere else are both a stream cut short,
 * said differently.
 */
static int read_full(struct mig_reader *r, void *buf, size_t n,
		     const char *what, bool boundary)
{
	size_t got = 0;

	while (got < n) {
		ssize_t k = r->read(r->arg, (uint8_t *)buf + got, n - got);

		if (k < 0)
			return fail(r, (int)k,
				    "reading the stream at byte %" PRIu64
				    " failed: %s",
				    r->offset + got, strerror((int)-k));
		if (k == 0) {
			if (boundary && !got)
				return fail(r, -ENODATA,
					    "the stream ends after %" PRIu64
					    " bytes without its end record: it "
					    "was cut short",
					    r->offset);
			return fail(r, -ENODATA,
				    "the stream ends after %" PRIu64
				    " bytes, inside %s: it was cut short",
				    r->offset + got, what);
		}
		if ((size_t)k > n - got)
			return fail(r, -EPROTO,
				    "a read returned more than it was asked");
		got += (size_t)k;
	}
	r->offset += n;
	return 0;
}

int mig_read_header(struct mig_reader *r)
{
	uint8_t h[MIG_HDR_MAX];
	uint16_t version, size;
	int e;

	e = read_full(r, h, 12, "the stream header", false);
	if (e == -ENODATA && r->offset == 0)
		return fail(r, -ENODATA,
			    "the stream is empty or shorter than a header: "
			    "nothing was sent, or it was cut short");
	if (e)
		return e;
	if (memcmp(h, magic, sizeof(magic)))
		return fail(r, -EBADMSG,
			    "not a libassign migration stream (it starts "
			    "%02x %02x %02x %02x %02x %02x %02x %02x, not "
			    "89 4c 41 53 4d 49 47 0a)",
			    h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7]);
	version = get16(h + 8);
	size = get16(h + 10);
	if (version > MIG_STREAM_VERSION)
		return fail(
			r, -EPROTONOSUPPORT,
			"the stream has format version %u, newer than "
			"this libassign reads (%u): migrate to a "
			"destination with the same libassign or a newer one",
			version, MIG_STREAM_VERSION);
	if (version == 0 || size < MIG_HDR_SIZE || size > MIG_HDR_MAX)
		return fail(r, -EBADMSG,
			    "the stream header is damaged (version %u, size "
			    "%u)",
			    version, size);
	e = read_full(r, h + 12, size - 12u, "the stream header", false);
	if (e)
		return e;
	if (crc32c(0, h, size - 4u) != get32(h + size - 4))
		return fail(r, -EBADMSG,
			    "the stream header is damaged (CRC-32C mismatch)");
	if (get32(h + 12) & ~MIG_HDR_F_NO_DATA_CRC)
		return fail(r, -EBADMSG,
			    "the stream header has flags 0x%x this libassign "
			    "does not know",
			    get32(h + 12));
	r->ident.stream_flags = get32(h + 12);
	r->ident.vendor = get16(h + 16);
	r->ident.device = get16(h + 18);
	r->ident.subvendor = get16(h + 20);
	r->ident.subdevice = get16(h + 22);
	r->ident.class_code = get32(h + 24);
	r->ident.mig_flags = get32(h + 28);
	r->ident.data_size = get64(h + 32);
	memcpy(r->ident.source, h + 40, sizeof(r->ident.source));
	r->ident.source[sizeof(r->ident.source) - 1] = '\0';
	r->have_header = true;
	return 0;
}

/* The payload of a record (and its CRC, with @crc) into r->buf. */
static int read_payload(struct mig_reader *r, uint64_t seq, uint32_t len,
			bool crc)
{
	size_t tail = crc ? 4 : 0;
	int e;

	if (!len)
		return 0;
	if (r->cap < (size_t)len + 4) {
		uint8_t *nb = realloc(r->buf, (size_t)len + 4);

		if (!nb)
			return fail(r, -ENOMEM,
				    "out of memory for a record of %u bytes",
				    len);
		r->buf = nb;
		r->cap = (size_t)len + 4;
	}
	e = read_full(r, r->buf, (size_t)len + tail, "a record", false);
	if (e)
		return e;
	if (crc && crc32c(0, r->buf, len) != get32(r->buf + len))
		return fail(r, -EBADMSG,
			    "record %" PRIu64
			    " (%u bytes at stream byte %" PRIu64
			    ") is damaged: CRC-32C mismatch",
			    seq, len, r->offset - len - 4 - MIG_REC_HDR_SIZE);
	return 0;
}

static int check_end(struct mig_reader *r, uint64_t seq)
{
	uint64_t bytes = get64(r->buf), records = get64(r->buf + 8);

	if (bytes != r->data_bytes || records != r->data_records)
		return fail(r, -EBADMSG,
			    "the end record (%" PRIu64 ") counts %" PRIu64
			    " data bytes in %" PRIu64 " records, the stream "
			    "had %" PRIu64 " in %" PRIu64 ": records are "
			    "missing",
			    seq, bytes, records, r->data_bytes,
			    r->data_records);
	r->ended = true;
	return 1;
}

/* The next record's header, checked: its CRC and its place. */
struct rec_head {
	uint32_t type, flags, len;
	uint64_t seq;
};

static int read_record_header(struct mig_reader *r, struct rec_head *rh)
{
	uint8_t h[MIG_REC_HDR_SIZE];
	uint64_t at = r->offset;
	int e;

	e = read_full(r, h, sizeof(h), "a record header", true);
	if (e)
		return e;
	if (crc32c(0, h, 20) != get32(h + 20))
		return fail(r, -EBADMSG,
			    "the record header at stream byte %" PRIu64
			    " is damaged: CRC-32C mismatch",
			    at);
	rh->type = get32(h);
	rh->flags = get32(h + 4);
	rh->seq = get64(h + 8);
	rh->len = get32(h + 16);
	if (rh->seq != r->seq)
		return fail(r, -EBADMSG,
			    "record %" PRIu64 " where record %" PRIu64
			    " was due: records are missing, repeated "
			    "or out of order",
			    rh->seq, r->seq);
	if (rh->len > MIG_REC_MAX)
		return fail(r, -EBADMSG,
			    "record %" PRIu64 " claims %u bytes, more "
			    "than a record holds (%u)",
			    rh->seq, rh->len, MIG_REC_MAX);
	r->seq++;
	return 0;
}

/* A DATA record's payload, checked, to the sink. */
static int take_data(struct mig_reader *r, const struct rec_head *rh)
{
	int e = read_payload(r, rh->seq, rh->len,
			     !(r->ident.stream_flags & MIG_HDR_F_NO_DATA_CRC));

	if (e)
		return e;
	r->data_bytes += rh->len;
	r->data_records++;
	if (!rh->len)
		return 0;
	e = r->sink(r->arg, r->buf, rh->len);
	if (e)
		return fail(r, e,
			    "the device refused the data of record %" PRIu64
			    ": %s",
			    rh->seq, strerror(-e));
	return 0;
}

int mig_read_records(struct mig_reader *r)
{
	struct rec_head rh = { 0 };
	int e;

	if (!r->have_header)
		return fail(r, -EINVAL, "the stream header was not read");
	if (r->ended)
		return fail(r, -EINVAL, "the stream already ended");
	for (;;) {
		e = read_record_header(r, &rh);
		if (e)
			return e;
		switch (rh.type) {
		case MIG_REC_DATA:
			e = take_data(r, &rh);
			if (e)
				return e;
			break;
		case MIG_REC_SYNC:
			if (rh.len)
				return fail(r, -EBADMSG,
					    "sync record %" PRIu64
					    " carries %u bytes",
					    rh.seq, rh.len);
			return 0;
		case MIG_REC_END:
			if (rh.len != MIG_END_PAYLOAD)
				return fail(r, -EBADMSG,
					    "end record %" PRIu64
					    " carries %u bytes, not %u",
					    rh.seq, rh.len, MIG_END_PAYLOAD);
			e = read_payload(r, rh.seq, rh.len, true);
			return e ? e : check_end(r, rh.seq);
		default:
			if (!(rh.flags & MIG_REC_F_OPTIONAL))
				return fail(r, -EPROTONOSUPPORT,
					    "record %" PRIu64 " has type %u, "
					    "which this libassign does not "
					    "know: the stream needs a newer "
					    "libassign",
					    rh.seq, rh.type);
			e = read_payload(r, rh.seq, rh.len, true);
			if (e)
				return e;
			break;
		}
	}
}
