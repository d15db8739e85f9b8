/* SPDX-License-Identifier: MIT */
/*
 * Printing what the host says (sysfs, records, the hardware database,
 * interface names) without letting it speak for itself: no terminal
 * control sequences in text, no way out of a string in JSON.
 */
#ifndef ASSIGN_HOST_ESCAPE_H
#define ASSIGN_HOST_ESCAPE_H

#include <stddef.h>
#include <stdio.h>

/*
 * @s for a terminal into @buf: valid UTF-8 is kept, except control
 * characters (C0, DEL, C1), which become \xNN like every byte of an
 * invalid sequence, and a backslash, which becomes \\. Cut (ending in
 * "...") when @buf is too small. Returns @buf.
 */
const char *esc_text(const char *s, char *buf, size_t size);

/*
 * @s as a JSON string, quotes included, on @f: ", \ and control
 * characters escaped as JSON says; valid UTF-8 kept; each byte of an
 * invalid sequence written as the code point of the same value (\u00NN),
 * so the output is always valid JSON.
 */
void esc_json(FILE *f, const char *s);

#endif
