// SPDX-License-Identifier: MIT
/* PCI addresses: parse "dddd:bb:dd.f" / "bb:dd.f" and format them. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>

#include "pci/pci.h"

/* Parse exactly @maxdigits or fewer hex digits (at least one). */
static const char *parse_hex(const char *s, unsigned maxdigits, unsigned *out)
{
	unsigned v = 0, i = 0;

	while (i < maxdigits && isxdigit((unsigned char)s[i])) {
		char c = (char)tolower((unsigned char)s[i]);
		v = v * 16 + (unsigned)(c <= '9' ? c - '0' : c - 'a' + 10);
		i++;
	}
	if (i == 0 || isxdigit((unsigned char)s[i]))
		return NULL;
	*out = v;
	return s + i;
}

ASSIGN_EXPORT int assign_pci_addr_parse(const char *str,
					struct assign_pci_addr *addr)
{
	unsigned a, b, d, fn;
	const char *p;

	if (!str || !addr)
		return -EINVAL;
	p = parse_hex(str, 4, &a);
	if (!p || *p != ':')
		return -EINVAL;
	p = parse_hex(p + 1, 2, &b);
	if (!p)
		return -EINVAL;
	if (*p == ':') {
		/* domain:bus:dev.fn (a = domain, b = bus) */
		p = parse_hex(p + 1, 2, &d);
		if (!p || *p != '.')
			return -EINVAL;
		p = parse_hex(p + 1, 1, &fn);
		if (!p || *p || d > 0x1f || fn > 7)
			return -EINVAL;
		addr->domain = (uint16_t)a;
		addr->bus = (uint8_t)b;
		addr->dev = (uint8_t)d;
		addr->fn = (uint8_t)fn;
		return 0;
	}
	if (*p != '.')
		return -EINVAL;
	/* bus:dev.fn */
	if (a > 0xff || b > 0x1f)
		return -EINVAL;
	p = parse_hex(p + 1, 1, &fn);
	if (!p || *p || fn > 7)
		return -EINVAL;
	addr->domain = 0;
	addr->bus = (uint8_t)a;
	addr->dev = (uint8_t)b;
	addr->fn = (uint8_t)fn;
	return 0;
}

ASSIGN_EXPORT int assign_pci_addr_format(const struct assign_pci_addr *addr,
					 char *buf, size_t len)
{
	int n;

	if (!addr || !buf)
		return -EINVAL;
	if (addr->dev > 0x1f || addr->fn > 7) {
		if (len)
			buf[0] = '\0';
		return -EINVAL;
	}
	n = snprintf(buf, len, "%04x:%02x:%02x.%x", addr->domain, addr->bus,
		     addr->dev, addr->fn);
	if (n < 0 || (size_t)n >= len) {
		if (len)
			buf[0] = '\0';
		return -ENOSPC;
	}
	return 0;
}
