// SPDX-License-Identifier: MIT
/* Escaping for assign-host's text and JSON output (escape.h). */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "escape.h"

/*
 * The length of the valid UTF-8 sequence at @s (1 to 4) and its code
 * point in *cp, or 0 for an invalid one: a stray continuation byte, a
 * truncated sequence, an overlong form, a surrogate or a value above
 * U+10FFFF.
 */
static size_t utf8_seq(const unsigned char *s, uint32_t *cp)
{
	size_t n;
	uint32_t c, min;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if ((s[0] & 0xe0) == 0xc0) {
		n = 2, c = s[0] & 0x1f, min = 0x80;
	} else if ((s[0] & 0xf0) == 0xe0) {
		n = 3, c = s[0] & 0x0f, min = 0x800;
	} else if ((s[0] & 0xf8) == 0xf0) {
		n = 4, c = s[0] & 0x07, min = 0x10000;
	} else {
		return 0;
	}
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0; /* also stops at the terminating NUL */
		c = c << 6 | (s[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return n;
}

/* C0, DEL and C1: what a terminal may act on. */
static int is_control(uint32_t cp)
{
	return cp < 0x20 || (cp >= 0x7f && cp < 0xa0);
}

const char *esc_text(const char *s, char *buf, size_t size)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t len = 0;

	if (!size)
		return buf;
	while (*p) {
		char piece[16];
		size_t plen, n;
		uint32_t cp;

		n = utf8_seq(p, &cp);
		if (n == 0 || is_control(cp)) {
			/* each byte of it, one by one */
			plen = (size_t)snprintf(piece, sizeof(piece), "\\x%02x",
						p[0]);
			n = 1;
		} else if (cp == '\\') {
			plen = 2;
			memcpy(piece, "\\\\", 2);
		} else {
			plen = n;
			memcpy(piece, p, n);
		}
		if (len + plen >= size) {
			/* no room for it and the NUL: end with "..." */
			if (size >= 4) {
				if (len > size - 4)
					len = size - 4;
				memcpy(buf + len, "...", 3);
				len += 3;
			}
			break;
		}
		memcpy(buf + len, piece, plen);
		len += plen;
		p += n;
	}
	buf[len] = '\0';
	return buf;
}

void esc_json(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	fputc('"', f);
	while (*p) {
		uint32_t cp;
		size_t n = utf8_seq(p, &cp);

		if (n == 0) {
			fprintf(f, "\\u%04x", p[0]);
			p++;
			continue;
		}
		if (cp == '"' || cp == '\\')
			fprintf(f, "\\%c", (int)cp);
		else if (is_control(cp))
			fprintf(f, "\\u%04x", (unsigned)cp);
		else
			fwrite(p, 1, n, f);
		p += n;
	}
	fputc('"', f);
}
