// SPDX-License-Identifier: MIT
/*
 * Fuzz target: the migration stream's framing (src/device/mig_stream.c),
 * the bytes assign_migration_load() reads from another host before any
 * reach a device.
 *
 * Input: byte 0 picks the mode and byte 1 the read sizes (1 to 256 bytes
 * per read, or whole), the rest is
 *  - raw mode (byte 0 even): the stream itself, read as a destination
 *    would, round by round. Checked: the reader never delivers more data
 *    than the input holds, delivers exactly what it counts, refuses with
 *    one of the stream errors and a message, and ends only when an end
 *    record's totals match what was delivered;
 *  - structured mode (odd): a script of records (DATA with a payload,
 *    SYNC, an OPTIONAL record of an unknown type, END) and damages
 *    (flip a bit, cut the stream, drop or repeat a record), encoded with
 *    the library's own encoder, with or without data CRCs (0x20 in
 *    byte 0: without). Checked as above, and: an undamaged
 *    script reads back exactly, payloads in order, ending where its
 *    END is (or refused as cut short without one).
 * A sink that refuses (the device refusing its data) is in both modes.
 */
#include <errno.h>

#include "fuzz.h"
#include "device/device.h"

#define MAX_OUT (1u << 20)

struct src {
	const uint8_t *p;
	size_t len, pos;
	unsigned chunk; /* 0: as much as asked */
};

struct sink {
	uint8_t *out;
	size_t n;
	size_t refuse_at; /* refuse the call that would pass this, 0: never */
};

struct ctx {
	struct src s;
	struct sink k;
};

static ssize_t src_read(void *arg, void *buf, size_t n)
{
	struct ctx *c = arg;
	size_t left = c->s.len - c->s.pos;

	if (c->s.chunk && n > c->s.chunk)
		n = c->s.chunk;
	if (n > left)
		n = left;
	memcpy(buf, c->s.p + c->s.pos, n);
	c->s.pos += n;
	return (ssize_t)n;
}

static int sink_take(void *arg, const void *buf, size_t n)
{
	struct ctx *c = arg;

	FUZZ_CHECK(n > 0 && n <= MIG_REC_MAX);
	if (c->k.refuse_at && c->k.n + n >= c->k.refuse_at)
		return -EIO;
	if (c->k.n + n <= MAX_OUT)
		memcpy(c->k.out + c->k.n, buf, n);
	c->k.n += n;
	return 0;
}

/* Read the whole stream; returns the last result (1: ended). */
static int read_all(struct ctx *c, struct mig_reader *r, unsigned *rounds)
{
	int e;

	mig_reader_reset(r);
	r->read = src_read;
	r->sink = sink_take;
	r->arg = c;
	e = mig_read_header(r);
	if (e < 0)
		return e;
	*rounds = 0;
	while ((e = mig_read_records(r)) == 0)
		(*rounds)++;
	return e;
}

static void check_result(const struct ctx *c, const struct mig_reader *r, int e)
{
	FUZZ_CHECK(r->offset <= c->s.len);
	FUZZ_CHECK(r->data_bytes == c->k.n || e == -EIO);
	FUZZ_CHECK(c->k.n <= c->s.len);
	if (e == 1) {
		FUZZ_CHECK(r->ended);
		return;
	}
	FUZZ_CHECK(e == -EBADMSG || e == -EPROTONOSUPPORT || e == -ENODATA ||
		   e == -ENOMEM || e == -EIO);
	FUZZ_CHECK(r->msg[0] != '\0');
	FUZZ_CHECK(memchr(r->msg, '\0', sizeof(r->msg)) != NULL);
	/* After a refusal nothing more is read. */
	FUZZ_CHECK(!r->ended);
}

/* ---- structured mode -------------------------------------------------- */

struct writer {
	uint8_t *buf;
	size_t len, cap;
	uint64_t seq, bytes, records;
	uint8_t *expect; /* the payloads, in order */
	size_t nexpect;
	bool ended;
	bool data_crc;
};

static uint8_t *room(struct writer *w, size_t n)
{
	if (w->len + n > w->cap) {
		size_t ncap = (w->len + n) * 2;
		uint8_t *nb = realloc(w->buf, ncap);

		FUZZ_CHECK(nb != NULL);
		w->buf = nb;
		w->cap = ncap;
	}
	return w->buf + w->len;
}

static void put_record(struct writer *w, uint32_t type, uint32_t flags,
		       const uint8_t *payload, uint32_t len)
{
	uint8_t *p = room(w, MIG_REC_HDR_SIZE + (size_t)len + 4);

	if (len)
		memcpy(p + MIG_REC_HDR_SIZE, payload, len);
	w->len += mig_record_encode(p, type, flags, w->seq++, len,
				    type != MIG_REC_DATA || w->data_crc);
}

static void build(struct fuzz_in *in, struct writer *w, bool *damaged,
		  uint16_t *vendor)
{
	struct mig_ident id = { 0 };
	size_t last_record = 0;

	id.stream_flags = w->data_crc ? 0 : MIG_HDR_F_NO_DATA_CRC;
	id.vendor = fuzz_u16(in);
	id.device = fuzz_u16(in);
	id.mig_flags = fuzz_u8(in);
	snprintf(id.source, sizeof(id.source), "0000:%02x:00.0", fuzz_u8(in));
	*vendor = id.vendor;
	mig_header_encode(room(w, MIG_HDR_SIZE), &id);
	w->len += MIG_HDR_SIZE;
	while (in->left && !w->ended) {
		uint8_t op = fuzz_u8(in);
		size_t start = w->len;

		switch (op % 8) {
		case 0:
		case 1: { /* DATA */
			size_t want = (size_t)fuzz_u8(in) * 7;
			uint32_t n = (uint32_t)MIN(in->left, want);

			put_record(w, MIG_REC_DATA, 0, in->p, n);
			if (n) {
				uint8_t *e = realloc(w->expect, w->nexpect + n);

				FUZZ_CHECK(e != NULL);
				memcpy(e + w->nexpect, in->p, n);
				w->expect = e;
				w->nexpect += n;
			}
			in->p += n;
			in->left -= n;
			w->bytes += n;
			w->records++;
			break;
		}
		case 2: /* SYNC */
			put_record(w, MIG_REC_SYNC, 0, NULL, 0);
			break;
		case 3: { /* an unknown record a reader may skip */
			uint8_t pl[5] = { 1, 2, 3, 4, 5 };

			put_record(w, 100 + fuzz_u8(in), MIG_REC_F_OPTIONAL, pl,
				   fuzz_u8(in) % 6);
			break;
		}
		case 4: { /* END */
			uint8_t pl[MIG_END_PAYLOAD];

			for (int i = 0; i < 8; i++) {
				pl[i] = (uint8_t)(w->bytes >> (8 * i));
				pl[8 + i] = (uint8_t)(w->records >> (8 * i));
			}
			put_record(w, MIG_REC_END, 0, pl, sizeof(pl));
			w->ended = true;
			break;
		}
		case 5: /* flip a bit somewhere */
			if (w->len) {
				size_t at = fuzz_u32(in) % w->len;

				w->buf[at] ^=
					(uint8_t)(1u << (fuzz_u8(in) % 8));
				*damaged = true;
			}
			break;
		case 6: /* cut */
			if (w->len > 1) {
				w->len -= 1 + fuzz_u16(in) % (w->len - 1);
				*damaged = true;
			}
			break;
		case 7: /* repeat the last record */
			if (last_record && last_record < w->len) {
				size_t n = w->len - last_record;

				memcpy(room(w, n), w->buf + last_record, n);
				w->len += n;
				*damaged = true;
			}
			break;
		}
		if (w->len > start)
			last_record = start;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mig_reader r = { 0 };
	struct writer w = { 0 };
	struct ctx c = { 0 };
	struct fuzz_in in;
	unsigned rounds = 0;
	uint8_t mode, chunk;
	bool damaged = false;
	uint16_t vendor = 0;
	int e;

	fuzz_in_init(&in, data, size);
	mode = fuzz_u8(&in);
	chunk = fuzz_u8(&in);
	c.s.chunk = chunk;
	c.k.out = malloc(MAX_OUT);
	FUZZ_CHECK(c.k.out != NULL);
	if (mode & 0x40)
		c.k.refuse_at = 1 + (size_t)fuzz_u16(&in);
	if (!(mode & 1)) {
		c.s.p = in.p;
		c.s.len = in.left;
	} else {
		w.data_crc = !(mode & 0x20);
		build(&in, &w, &damaged, &vendor);
		c.s.p = w.buf;
		c.s.len = w.len;
	}
	e = read_all(&c, &r, &rounds);
	check_result(&c, &r, e);
	if (mode & 1) {
		if (!damaged && !c.k.refuse_at) {
			/* Whole: it reads back as written. */
			FUZZ_CHECK(r.have_header);
			FUZZ_CHECK(r.ident.vendor == vendor);
			FUZZ_CHECK(c.k.n == w.nexpect);
			FUZZ_CHECK(!w.nexpect ||
				   !memcmp(c.k.out, w.expect,
					   MIN(w.nexpect, MAX_OUT)));
			FUZZ_CHECK(e == (w.ended ? 1 : -ENODATA));
		}
		if (e == 1)
			/* Ended: every byte up to the end record was read. */
			FUZZ_CHECK(r.data_bytes == c.k.n);
	}
	mig_reader_release(&r);
	free(w.buf);
	free(w.expect);
	free(c.k.out);
	return 0;
}
