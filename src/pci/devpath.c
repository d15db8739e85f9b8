// SPDX-License-Identifier: MIT
/*
 * Where a device lives in sysfs. A caller names a device as it knows it: a
 * PCI address, an mdev's UUID, a platform device's name or a sysfs path
 * (/sys/bus/mdev/devices/UUID, /sys/devices/...). devpath_parse() reads
 * that text without touching sysfs (fuzz/fuzz-devpath.c feeds it);
 * devpath_locate() follows it into sysfs and says what is there: the
 * kernel's name of the device, its bus, its canonical directory.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/sys.h"
#include "pci/pci.h"

static bool is_uuid(const char *s)
{
	for (size_t i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return false;
		} else if (!isxdigit((unsigned char)s[i])) {
			return false;
		}
	}
	return s[36] == '\0';
}

int devpath_parse_uuid(const char *s, uint8_t out[16])
{
	size_t k = 0;

	if (!s || strlen(s) != 36 || !is_uuid(s))
		return -EINVAL;
	for (size_t i = 0; i < 36; i++) {
		unsigned hi, lo;

		if (s[i] == '-')
			continue;
		hi = isdigit((unsigned char)s[i]) ?
			     (unsigned)(s[i] - '0') :
			     (unsigned)(tolower((unsigned char)s[i]) - 'a' +
					10);
		lo = isdigit((unsigned char)s[i + 1]) ?
			     (unsigned)(s[i + 1] - '0') :
			     (unsigned)(tolower((unsigned char)s[i + 1]) - 'a' +
					10);
		out[k++] = (uint8_t)(hi << 4 | lo);
		i++;
	}
	return 0;
}

void devpath_format_uuid(const uint8_t uuid[16], char out[37])
{
	static const char hex[] = "0123456789abcdef";
	size_t n = 0;

	for (size_t i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[n++] = '-';
		out[n++] = hex[uuid[i] >> 4];
		out[n++] = hex[uuid[i] & 15];
	}
	out[n] = '\0';
}

/* A sysfs name component a platform device can have: no '/', no
 * control characters or spaces, not "." or "..". */
static bool is_name(const char *s)
{
	size_t n = strlen(s);

	if (!n || n >= DEVPATH_NAME_MAX || !strcmp(s, ".") || !strcmp(s, ".."))
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] == '/' || (unsigned char)s[i] <= ' ' ||
		    (unsigned char)s[i] >= 0x7f)
			return false;
	return true;
}

/* "/sys/A/B" into "A/B" in @loc->dir, "." dropped; "..", control
 * characters and anything outside /sys refused. */
static int parse_path(const char *spec, struct devpath *loc, const char **why)
{
	const char *p = spec + 5; /* after "/sys/" */
	char comp[DEVPATH_NAME_MAX];
	size_t len = 0;

	while (*p) {
		size_t n = strcspn(p, "/");

		if (n >= sizeof(comp)) {
			*why = "a path with a component too long for sysfs";
			return -EINVAL;
		}
		memcpy(comp, p, n);
		comp[n] = '\0';
		p += n;
		while (*p == '/')
			p++;
		if (!n || !strcmp(comp, "."))
			continue;
		if (!strcmp(comp, "..")) {
			*why = "a path with a \"..\" component: give the "
			       "device's own path";
			return -EINVAL;
		}
		if (!is_name(comp)) {
			*why = "a path with a character sysfs names never "
			       "have";
			return -EINVAL;
		}
		if (len + !!len + n + 1 > sizeof(loc->dir)) {
			*why = "a path too long for sysfs";
			return -EINVAL;
		}
		if (len)
			loc->dir[len++] = '/';
		memcpy(loc->dir + len, comp, n + 1);
		len += n;
		snprintf(loc->name, sizeof(loc->name), "%s", comp);
	}
	if (!len) {
		*why = "/sys itself, not a device";
		return -EINVAL;
	}
	/* bus/B/devices/N names its bus and device already. */
	{
		char b[DEVPATH_BUS_MAX], n[DEVPATH_NAME_MAX];
		int k = 0;

		if (sscanf(loc->dir, "bus/%31[^/]/devices/%63[^/]%n", b, n,
			   &k) == 2 &&
		    !loc->dir[k])
			snprintf(loc->bus, sizeof(loc->bus), "%s", b);
	}
	loc->kind = DEVPATH_PATH;
	return 0;
}

int devpath_parse(const char *spec, struct devpath *loc, const char **why)
{
	struct assign_pci_addr pa;

	memset(loc, 0, sizeof(*loc));
	*why = "";
	if (!spec || !*spec) {
		*why = "not a device name";
		return -EINVAL;
	}
	if (strlen(spec) >= sizeof(loc->dir) + 5) {
		*why = "too long for a device name";
		return -EINVAL;
	}
	if (assign_pci_addr_parse(spec, &pa) == 0) {
		assign_pci_addr_format(&pa, loc->name, sizeof(loc->name));
		strcpy(loc->bus, "pci");
		snprintf(loc->dir, sizeof(loc->dir), "bus/pci/devices/%s",
			 loc->name);
		loc->kind = DEVPATH_PCI;
		return 0;
	}
	if (strlen(spec) == 36 && is_uuid(spec)) {
		/* The mdev core names an instance by its UUID in lower case
		 * (%pUl). */
		for (size_t i = 0; i < 36; i++)
			loc->name[i] = (char)tolower((unsigned char)spec[i]);
		strcpy(loc->bus, "mdev");
		snprintf(loc->dir, sizeof(loc->dir), "bus/mdev/devices/%s",
			 loc->name);
		loc->kind = DEVPATH_UUID;
		return 0;
	}
	if (spec[0] == '/') {
		if (!strcmp(spec, "/sys")) {
			*why = "/sys itself, not a device";
			return -EINVAL;
		}
		if (strncmp(spec, "/sys/", 5)) {
			*why = "outside /sys: a device's path must lie in /sys";
			return -EINVAL;
		}
		return parse_path(spec, loc, why);
	}
	/* Something that tried to be a PCI address is not a platform
	 * device's name: say what is wrong with it. */
	if (strchr(spec, ':') && strchr(spec, '.') &&
	    strspn(spec, "0123456789abcdefABCDEF:.") == strlen(spec)) {
		*why = "not a PCI address: write it as dddd:bb:dd.f or "
		       "bb:dd.f (hex, device <= 1f, function <= 7)";
		return -EINVAL;
	}
	if (!is_name(spec)) {
		*why = "not a PCI address (dddd:bb:dd.f), an mdev UUID, a "
		       "path in /sys or a platform device's name";
		return -EINVAL;
	}
	snprintf(loc->name, sizeof(loc->name), "%s", spec);
	strcpy(loc->bus, "platform");
	snprintf(loc->dir, sizeof(loc->dir), "bus/platform/devices/%s", spec);
	loc->kind = DEVPATH_NAME;
	return 0;
}

/* Printable form of a caller's text for a message: control characters
 * as '?', cut at 80 bytes. */
static const char *shown(const char *s, char *buf, size_t size)
{
	size_t n = 0;

	for (; s[n] && n + 4 < size && n < 80; n++)
		buf[n] = (unsigned char)s[n] < ' ' || s[n] == 0x7f ? '?' : s[n];
	if (s[n])
		memcpy(buf + n, "...", 3), n += 3;
	buf[n] = '\0';
	return buf;
}

/* Why the caller's name leads nowhere, in its own terms. */
static int not_found(struct assign_ctx *ctx, const char *spec,
		     const struct devpath *loc, int r)
{
	char s[96];

	if (r != -ENOENT)
		return set_error(ctx, -ENODEV, "cannot follow /sys/%s: %s",
				 loc->dir, strerror(-r));
	switch (loc->kind) {
	case DEVPATH_PCI:
		return set_error(ctx, -ENODEV,
				 "no PCI device %s (/sys/%s: %s); check the "
				 "address with lspci -D",
				 loc->name, loc->dir, strerror(-r));
	case DEVPATH_UUID:
		return set_error(ctx, -ENODEV,
				 "no mdev %s (/sys/%s does not exist); list "
				 "them with assign-host mdev-list, create one "
				 "with assign-host mdev-create",
				 loc->name, loc->dir);
	case DEVPATH_NAME:
		return set_error(ctx, -EINVAL,
				 "\"%s\" is not a PCI address (dddd:bb:dd.f), "
				 "an mdev UUID or a path in /sys, and there is "
				 "no platform device of that name (/sys/%s)",
				 shown(spec, s, sizeof(s)), loc->dir);
	default:
		return set_error(ctx, -ENODEV, "%s does not exist",
				 shown(spec, s, sizeof(s)));
	}
}

/* @canon (canonical, under devices/) is a device directory but not one
 * on a bus: say what it is. */
static int not_on_bus(struct assign_ctx *ctx, const char *spec,
		      const char *canon, const char *subsys)
{
	char path[DEVPATH_DIR_MAX + 32], s[96];
	const char *cls = strrchr(subsys, '/');

	cls = cls ? cls + 1 : subsys;
	snprintf(path, sizeof(path), "%s/mdev_supported_types", canon);
	if (sysfs_exists(ctx, path) == 0)
		return set_error(ctx, -ENODEV,
				 "%s is an mdev parent, not a device VFIO can "
				 "open: create an mdev of one of its types "
				 "(assign-host mdev-types, assign-host "
				 "mdev-create TYPE) and open that",
				 shown(spec, s, sizeof(s)));
	return set_error(ctx, -ENODEV,
			 "%s is not a device on a bus (/sys/%s is in class "
			 "%s); VFIO opens PCI, mdev and platform devices",
			 shown(spec, s, sizeof(s)), canon, cls);
}

int devpath_locate(struct assign_ctx *ctx, const char *spec,
		   struct devpath *loc)
{
	char canon[DEVPATH_DIR_MAX], path[DEVPATH_DIR_MAX + 16];
	char subsys[DEVPATH_DIR_MAX], s[96];
	const char *why, *base;
	ssize_t n;
	int r;

	r = devpath_parse(spec, loc, &why);
	if (r < 0)
		return set_error(ctx, r, "\"%s\" is %s",
				 spec ? shown(spec, s, sizeof(s)) : "(null)",
				 why);
	r = sysfs_canonical(ctx, loc->dir, canon, sizeof(canon));
	if (r == -EXDEV)
		return set_error(ctx, -ENODEV,
				 "%s leads outside /sys (a link with an "
				 "absolute target, or above /sys): not a "
				 "device",
				 shown(spec, s, sizeof(s)));
	if (r < 0)
		return not_found(ctx, spec, loc, r);
	if (strncmp(canon, "devices/", 8))
		return set_error(ctx, -ENODEV,
				 "%s is not a device: it leads to /sys/%s, "
				 "outside /sys/devices",
				 shown(spec, s, sizeof(s)), canon);
	base = strrchr(canon, '/') + 1;
	if (loc->kind != DEVPATH_PATH && strcmp(base, loc->name))
		return set_error(ctx, -ENODEV,
				 "/sys/%s leads to /sys/%s, another device "
				 "than %s",
				 loc->dir, canon, loc->name);
	snprintf(path, sizeof(path), "%s/subsystem", canon);
	n = ctx->sys->readlinkat(ctx->sys_data, ctx->sysfs_fd, path, subsys,
				 sizeof(subsys) - 1);
	if (n < 0)
		return set_error(ctx, -ENODEV,
				 "%s is not a device: /sys/%s has no "
				 "subsystem link",
				 shown(spec, s, sizeof(s)), canon);
	subsys[n] = '\0';
	if (!strstr(subsys, "/bus/") && strncmp(subsys, "bus/", 4))
		return not_on_bus(ctx, spec, canon, subsys);
	why = strrchr(subsys, '/');
	why = why ? why + 1 : subsys;
	if (loc->bus[0] && strcmp(loc->bus, why))
		return set_error(ctx, -ENODEV,
				 "/sys/%s leads to a device of bus %s, not %s",
				 loc->dir, why, loc->bus);
	if (strlen(why) >= sizeof(loc->bus) ||
	    strlen(base) >= sizeof(loc->name))
		return set_error(ctx, -ENODEV,
				 "/sys/%s: a bus or device name longer than "
				 "sysfs makes them",
				 canon);
	memcpy(loc->bus, why, strlen(why) + 1);
	memcpy(loc->name, base, strlen(base) + 1);
	memcpy(loc->dir, canon, strlen(canon) + 1);
	return 0;
}
