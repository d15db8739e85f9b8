// SPDX-License-Identifier: MIT
/*
 * Run some cases of a unit test only: CMOCKA_TEST_FILTER=PATTERN runs the
 * cases whose names match, CMOCKA_SKIP_FILTER=PATTERN skips those that
 * match ('*' and '?' are wildcards). cmocka 2 reads these variables
 * itself; Debian 12's cmocka 1.1.5 has only the functions, so every unit
 * test links this constructor, which calls them before main() runs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

__attribute__((constructor)) static void filter_from_env(void)
{
	const char *p;

	p = getenv("CMOCKA_TEST_FILTER");
	if (p && *p)
		cmocka_set_test_filter(p);
	p = getenv("CMOCKA_SKIP_FILTER");
	if (p && *p)
		cmocka_set_skip_filter(p);
}
