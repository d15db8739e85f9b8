// SPDX-License-Identifier: MIT
/*
 * Fuzz target: device names as a user or a management stack writes them
 * (src/pci/devpath.c): PCI addresses, mdev UUIDs, platform device names,
 * paths in /sys, before anything is looked up in sysfs; and VF token
 * UUIDs.
 *
 * Input: u8 selector, then text. Checked: devpath_parse() accepts or says
 * why not (-EINVAL, a reason); what it accepts has a name that fits and
 * holds no '/', and a path to follow that is relative, inside /sys, free
 * of "." and ".." components and empty ones; a PCI address or a UUID is
 * normalised so that parsing its normal form again gives the same; a
 * UUID parses to 16 bytes that format back to the lower-case text.
 */
#include <ctype.h>
#include <errno.h>

#include "fuzz.h"
#include "pci/pci.h"

static void check_dir(const char *dir)
{
	const char *p = dir;

	FUZZ_CHECK(dir[0] && dir[0] != '/');
	FUZZ_CHECK(strlen(dir) < DEVPATH_DIR_MAX);
	while (*p) {
		size_t n = strcspn(p, "/");

		FUZZ_CHECK(n > 0); /* no empty component */
		FUZZ_CHECK(!(n == 1 && p[0] == '.'));
		FUZZ_CHECK(!(n == 2 && p[0] == '.' && p[1] == '.'));
		for (size_t i = 0; i < n; i++)
			FUZZ_CHECK((unsigned char)p[i] > ' ' &&
				   (unsigned char)p[i] < 0x7f);
		p += n;
		if (*p == '/') {
			p++;
			FUZZ_CHECK(*p); /* no trailing slash */
		}
	}
}

static void check_parse(const char *s)
{
	struct devpath loc, again;
	const char *why = NULL;
	int r;

	r = devpath_parse(s, &loc, &why);
	FUZZ_CHECK(r == 0 || r == -EINVAL);
	FUZZ_CHECK(why != NULL);
	if (r < 0) {
		FUZZ_CHECK(why[0] != '\0');
		return;
	}
	FUZZ_CHECK(loc.name[0] && strlen(loc.name) < DEVPATH_NAME_MAX);
	FUZZ_CHECK(!strchr(loc.name, '/'));
	FUZZ_CHECK(strlen(loc.bus) < DEVPATH_BUS_MAX);
	check_dir(loc.dir);
	switch (loc.kind) {
	case DEVPATH_PCI:
	case DEVPATH_UUID:
		/* The normal form parses to itself. */
		FUZZ_CHECK(devpath_parse(loc.name, &again, &why) == 0);
		FUZZ_CHECK(again.kind == loc.kind);
		FUZZ_CHECK(!strcmp(again.name, loc.name));
		FUZZ_CHECK(!strcmp(again.dir, loc.dir));
		if (loc.kind == DEVPATH_UUID)
			for (size_t i = 0; loc.name[i]; i++)
				FUZZ_CHECK(
					!isupper((unsigned char)loc.name[i]));
		break;
	case DEVPATH_NAME:
		FUZZ_CHECK(!strcmp(loc.bus, "platform"));
		break;
	case DEVPATH_PATH:
		FUZZ_CHECK(!strncmp(s, "/sys/", 5));
		break;
	}
}

static void check_uuid(const char *s)
{
	uint8_t u[16], v[16];
	char text[37];

	if (devpath_parse_uuid(s, u) < 0)
		return;
	FUZZ_CHECK(strlen(s) == 36);
	devpath_format_uuid(u, text);
	FUZZ_CHECK(strlen(text) == 36);
	for (size_t i = 0; i < 36; i++)
		FUZZ_CHECK(tolower((unsigned char)s[i]) == text[i]);
	FUZZ_CHECK(devpath_parse_uuid(text, v) == 0);
	FUZZ_CHECK(!memcmp(u, v, 16));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in;
	uint8_t sel;
	char *s;

	fuzz_in_init(&in, data, size);
	sel = fuzz_u8(&in);
	s = fuzz_string(&in);
	if (sel & 1)
		check_uuid(s);
	else
		check_parse(s);
	free(s);
	return 0;
}
