// SPDX-License-Identifier: MIT
/*
 * Fuzz target: the parser of /sys/kernel/iommu_groups/N/reserved_regions
 * (parse_reserved_regions() in src/iommu/geometry.c).
 *
 * Input: the file's text. Checked: success gives a sorted array of
 * well-formed entries (start <= last, NUL-terminated type), failure is
 * -EIO or -ENOMEM and leaves the outputs alone; LeakSanitizer checks that
 * every path frees what it allocated.
 */
#include <errno.h>

#include "fuzz.h"
#include "core/sys.h"
#include "iommu/iommu.h"
#include <libassign/iommu.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct assign_reserved_region *v = (void *)&v;
	struct fuzz_in in;
	size_t n = 12345;
	char *s;
	int r;

	fuzz_in_init(&in, data, size);
	s = fuzz_string(&in);
	r = parse_reserved_regions(s, &v, &n);
	FUZZ_CHECK(r == 0 || r == -EIO || r == -ENOMEM);
	if (r == 0) {
		FUZZ_CHECK(n == 0 || v != NULL);
		for (size_t i = 0; i < n; i++) {
			FUZZ_CHECK(v[i].start <= v[i].last);
			FUZZ_CHECK(memchr(v[i].type, '\0', sizeof(v[i].type)));
			FUZZ_CHECK(v[i].type[0] != '\0');
			if (i)
				FUZZ_CHECK(v[i - 1].start < v[i].start ||
					   (v[i - 1].start == v[i].start &&
					    v[i - 1].last <= v[i].last));
		}
		free(v);
	} else {
		FUZZ_CHECK(v == (void *)&v && n == 12345);
	}
	free(s);
	return 0;
}
