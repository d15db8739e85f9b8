// SPDX-License-Identifier: MIT
/*
 * Structs that can grow (docs/api-conventions.md): every options struct a
 * caller passes in, and every struct a caller hands the library to fill,
 * starts with `size_t size`. One set of rules, checked here for all of
 * them, the way libbpf's OPTS_VALID checks its options:
 *
 *  - in (options, regions): @size may be smaller than the library's
 *    struct (an older caller: the fields it does not cover read as 0,
 *    their default) or larger (a newer caller: the bytes the library does
 *    not know must be zero), up to a sanity bound;
 *  - out (info, stats): the caller sets @size; the library fills what
 *    both know and sets @size to the number of bytes it filled, so a
 *    caller built against a newer header can tell which fields are valid;
 *  - arrays of such structs are stepped through with the first element's
 *    @size, never with the library's own sizeof.
 */
#include <errno.h>
#include <string.h>

#include "core/core.h"

static bool tail_zero(const void *p, size_t from, size_t to)
{
	const unsigned char *b = p;

	for (size_t i = from; i < to; i++)
		if (b[i])
			return false;
	return true;
}

static int bad_size(struct assign_ctx *ctx, const char *type, size_t size)
{
	return set_error(
		ctx, -EINVAL,
		"struct %s: size is %zu; set .size = sizeof(struct %s) before the call",
		type, size, type);
}

int sized_in(struct assign_ctx *ctx, void *dst, size_t known, const void *src,
	     const char *type)
{
	size_t size;

	memset(dst, 0, known);
	if (!src) {
		*(size_t *)dst = known;
		return 0;
	}
	size = *(const size_t *)src;
	if (size < sizeof(size_t) || size > ASSIGN_SIZED_MAX)
		return bad_size(ctx, type, size);
	if (size > known && !tail_zero(src, known, size))
		return set_error(
			ctx, -EINVAL,
			"struct %s: fields this libassign (%s) does not know are set (size %zu, known %zu); build against this version's headers or leave them zero",
			type, LIBASSIGN_VERSION, size, known);
	memcpy(dst, src, MIN(size, known));
	*(size_t *)dst = known;
	return 0;
}

int sized_out_check(struct assign_ctx *ctx, const void *out, const char *type)
{
	size_t size;

	if (!out)
		return -EINVAL;
	size = *(const size_t *)out;
	if (size < sizeof(size_t) || size > ASSIGN_SIZED_MAX)
		return bad_size(ctx, type, size);
	return 0;
}

void sized_out_fill(void *out, const void *src, size_t known)
{
	size_t n = MIN(*(const size_t *)out, known);

	memcpy((char *)out + sizeof(size_t), (const char *)src + sizeof(size_t),
	       n - sizeof(size_t));
	*(size_t *)out = n;
}

int sized_array_stride(struct assign_ctx *ctx, const void *first, size_t n,
		       const char *type, size_t *stride)
{
	int r;

	*stride = 0;
	if (!n)
		return 0;
	r = sized_out_check(ctx, first, type);
	if (r < 0)
		return r;
	*stride = *(const size_t *)first;
	if (n > SIZE_MAX / *stride)
		return set_error(
			ctx, -EINVAL,
			"array of %zu struct %s of %zu bytes each overflows", n,
			type, *stride);
	return 0;
}
