/* SPDX-License-Identifier: MIT */
/*
 * Shared by the libFuzzer targets in fuzz/: the entry points' prototypes
 * and a small reader that carves typed values out of the fuzz input.
 * Nothing here is part of the library.
 */
#ifndef LIBASSIGN_FUZZ_H
#define LIBASSIGN_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/*
 * A broken invariant is a finding: print it and abort so libFuzzer saves
 * the input as a crash artifact.
 */
#define FUZZ_CHECK(cond)                                                       \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "%s:%d: invariant failed: %s\n",       \
				__FILE__, __LINE__, #cond);                    \
			abort();                                               \
		}                                                              \
	} while (0)

#ifndef MIN
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#endif
#ifndef MAX
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#endif

struct fuzz_in {
	const uint8_t *p;
	size_t left;
};

static inline void fuzz_in_init(struct fuzz_in *in, const uint8_t *data,
				size_t size)
{
	in->p = data;
	in->left = size;
}

/* Little-endian integer of @n bytes; missing bytes read as 0. */
static inline uint64_t fuzz_take(struct fuzz_in *in, size_t n)
{
	uint64_t v = 0;

	for (size_t i = 0; i < n; i++) {
		if (in->left) {
			v |= (uint64_t)in->p[0] << (8 * i);
			in->p++;
			in->left--;
		}
	}
	return v;
}

static inline uint8_t fuzz_u8(struct fuzz_in *in)
{
	return (uint8_t)fuzz_take(in, 1);
}
static inline uint16_t fuzz_u16(struct fuzz_in *in)
{
	return (uint16_t)fuzz_take(in, 2);
}
static inline uint32_t fuzz_u32(struct fuzz_in *in)
{
	return (uint32_t)fuzz_take(in, 4);
}
static inline uint64_t fuzz_u64(struct fuzz_in *in)
{
	return fuzz_take(in, 8);
}

/*
 * A heap copy of the next @n bytes (fewer if the input runs out; *got says
 * how many), in an allocation of exactly that size so AddressSanitizer sees
 * any read past it. Never NULL: a 0-byte input still gets a 1-byte block.
 */
static inline uint8_t *fuzz_bytes(struct fuzz_in *in, size_t n, size_t *got)
{
	uint8_t *b;

	if (n > in->left)
		n = in->left;
	b = malloc(n ? n : 1);
	if (!b)
		abort();
	memcpy(b, in->p, n);
	in->p += n;
	in->left -= n;
	*got = n;
	return b;
}

/* The rest of the input as a NUL-terminated heap string. */
static inline char *fuzz_string(struct fuzz_in *in)
{
	char *s = malloc(in->left + 1);

	if (!s)
		abort();
	memcpy(s, in->p, in->left);
	s[in->left] = '\0';
	in->p += in->left;
	in->left = 0;
	return s;
}

#endif /* LIBASSIGN_FUZZ_H */
