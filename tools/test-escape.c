// SPDX-License-Identifier: MIT
/*
 * Unit test of assign-host's output escaping (escape.c): what the host
 * says (a driver_override root wrote, a crafted record, an interface
 * name) can neither send a terminal control sequence through the text
 * output nor leave its string in the JSON output.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "escape.h"

static int failures;

static void check_text(const char *in, const char *want)
{
	char buf[256];

	esc_text(in, buf, sizeof(buf));
	if (strcmp(buf, want)) {
		fprintf(stderr, "esc_text: got \"%s\", want \"%s\"\n", buf,
			want);
		failures++;
	}
}

static void check_json(const char *in, const char *want)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	if (!f) {
		perror("open_memstream");
		exit(2);
	}
	esc_json(f, in);
	fclose(f);
	if (strcmp(out, want)) {
		fprintf(stderr, "esc_json: got %s, want %s\n", out, want);
		failures++;
	}
	free(out);
}

int main(void)
{
	char small[8], big[600];

	/* What sysfs normally holds passes unchanged. */
	check_text("vfio-pci", "vfio-pci");
	check_json("vfio-pci", "\"vfio-pci\"");
	check_text("", "");
	check_json("", "\"\"");
	/* Valid UTF-8 (a hardware database name) too. */
	check_text("Gr\xc3\xbcn \xe2\x82\xac \xf0\x9f\x98\x80",
		   "Gr\xc3\xbcn \xe2\x82\xac \xf0\x9f\x98\x80");
	check_json("Gr\xc3\xbcn", "\"Gr\xc3\xbcn\"");
	/* A record's driver that tries to add keys to the JSON object. */
	check_json("e1000e\"}, \"ready\": true, \"x\": {\"",
		   "\"e1000e\\\"}, \\\"ready\\\": true, \\\"x\\\": {\\\"\"");
	check_json("a\\b", "\"a\\\\b\"");
	/* Terminal control: C0 (ESC, newline), DEL, and C1 (CSI as UTF-8). */
	check_text("\x1b[2Jx", "\\x1b[2Jx");
	check_json("\x1b[2Jx", "\"\\u001b[2Jx\"");
	check_text("a\nb\rc", "a\\x0ab\\x0dc");
	check_json("a\nb", "\"a\\u000ab\"");
	check_text("\x7f", "\\x7f");
	check_json("\x7f", "\"\\u007f\"");
	check_text("\xc2\x9b"
		   "31m",
		   "\\xc2\\x9b31m");
	check_json("\xc2\x9b", "\"\\u009b\"");
	check_text("back\\slash", "back\\\\slash");
	/* Invalid UTF-8: a stray byte, overlong, surrogate, cut short. */
	check_text("\xff", "\\xff");
	check_json("\xff", "\"\\u00ff\"");
	check_text("\xc0\xaf", "\\xc0\\xaf");
	check_text("\xed\xa0\x80", "\\xed\\xa0\\x80");
	check_text("\xe2\x82", "\\xe2\\x82");
	check_json("\xe2\x82", "\"\\u00e2\\u0082\"");
	check_text("\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80"); /* > U+10FFFF */
	/* Cut to the buffer, ending in "...", always terminated. */
	esc_text("abcdefghijkl", small, sizeof(small));
	if (strcmp(small, "abcd...")) {
		fprintf(stderr, "esc_text cut: got \"%s\"\n", small);
		failures++;
	}
	memset(big, 0x1b, sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	esc_text(big, small, sizeof(small));
	if (strlen(small) >= sizeof(small) || !strstr(small, "...")) {
		fprintf(stderr, "esc_text cut: got \"%s\"\n", small);
		failures++;
	}
	esc_text("abc", small, 0); /* nothing written, no crash */
	if (failures)
		fprintf(stderr, "%d failure(s)\n", failures);
	return failures ? 1 : 0;
}
