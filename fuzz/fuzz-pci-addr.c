// SPDX-License-Identifier: MIT
/*
 * Fuzz target: PCI address parsing and formatting (src/pci/addr.c), the text a
 * VMM takes from its command line or a config file.
 *
 * Input: u8 selector, then text. Checked: a parsed address is in range
 * and its formatted form parses back to the same address; a rejected
 * string leaves the output untouched; formatting into every buffer size
 * from 0 to 16 either fits exactly or reports -ENOSPC with "" and never
 * writes past the buffer (heap blocks of exactly that size).
 */
#include <errno.h>

#include "fuzz.h"
#include <libassign/libassign.h>

static void check_format(const struct assign_pci_addr *a)
{
	for (size_t blen = 0; blen <= 16; blen++) {
		char *buf = malloc(blen ? blen : 1);
		int r;

		if (!buf)
			abort();
		r = assign_pci_addr_format(a, buf, blen);
		if (a->dev > 0x1f || a->fn > 7) {
			FUZZ_CHECK(r == -EINVAL);
		} else if (blen >= ASSIGN_PCI_ADDR_LEN) {
			struct assign_pci_addr b;

			FUZZ_CHECK(r == 0);
			FUZZ_CHECK(strlen(buf) == ASSIGN_PCI_ADDR_LEN - 1);
			FUZZ_CHECK(assign_pci_addr_parse(buf, &b) == 0);
			FUZZ_CHECK(b.domain == a->domain && b.bus == a->bus &&
				   b.dev == a->dev && b.fn == a->fn);
		} else {
			FUZZ_CHECK(r == -ENOSPC);
			FUZZ_CHECK(blen == 0 || buf[0] == '\0');
		}
		free(buf);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct assign_pci_addr a, guard;
	struct fuzz_in in;
	char *s;
	int r;

	fuzz_in_init(&in, data, size);
	if (fuzz_u8(&in) & 1) {
		/* Raw struct values into the formatter. */
		a.domain = fuzz_u16(&in);
		a.bus = fuzz_u8(&in);
		a.dev = fuzz_u8(&in);
		a.fn = fuzz_u8(&in);
		check_format(&a);
		return 0;
	}
	s = fuzz_string(&in);
	memset(&a, 0xa5, sizeof(a));
	guard = a;
	r = assign_pci_addr_parse(s, &a);
	FUZZ_CHECK(r == 0 || r == -EINVAL);
	if (r == 0) {
		FUZZ_CHECK(a.dev <= 0x1f && a.fn <= 7);
		check_format(&a);
	} else {
		FUZZ_CHECK(memcmp(&a, &guard, sizeof(a)) == 0);
	}
	FUZZ_CHECK(assign_pci_addr_parse(NULL, &a) == -EINVAL);
	FUZZ_CHECK(assign_pci_addr_parse(s, NULL) == -EINVAL);
	free(s);
	return 0;
}
