/* SPDX-License-Identifier: MIT */
/*
 * The command line: options into struct vmm_options, every check that
 * needs no file, no KVM and no device. Kept apart from main.c (and free of
 * side effects besides getopt's globals) so it can be fuzzed
 * (fuzz/fuzz-vmm-cli.c).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <getopt.h>
#include <libassign/libassign.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vmm.h"

static int fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* A word of the command line as an error message may show it: control
 * characters (a newline would make the message two lines, an escape
 * sequence would talk to the terminal) become '?', and a long word is cut
 * to 64 bytes and "...". */
#define SHOWN_MAX 64
struct shown { char s[SHOWN_MAX + 4]; };

static const char *show(struct shown *b, const char *w)
{
	size_t n = 0;
	for (; w[n] && n < SHOWN_MAX; n++)
		b->s[n] = ((unsigned char)w[n] < 0x20 || w[n] == 0x7f)
			  ? '?' : w[n];
	if (w[n]) {
		memcpy(b->s + n, "...", 3);
		n += 3;
	}
	b->s[n] = '\0';
	return b->s;
}

int vmm_parse_size(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 0);
	if (errno || end == s || *s == '-')
		return -EINVAL;
	unsigned shift = 0;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	case 't': case 'T': shift = 40; end++; break;
	case '\0': shift = 20; break;      /* plain numbers are MiB */
	default: return -EINVAL;
	}
	if (*end == 'i' || *end == 'B')
		end++;
	if (*end == 'B')
		end++;
	if (*end || v > (UINT64_MAX >> shift))
		return -EINVAL;
	*out = v << shift;
	return 0;
}

/* --cpus N: 1 to VMM_MAX_CPUS */
static int parse_cpus(const char *arg, struct vmm_options *out, char *err,
		      size_t errlen)
{
	struct shown w;
	char *end;
	errno = 0;
	long n = strtol(arg, &end, 10);
	if (errno || end == arg || *end || n < 1 || n > VMM_MAX_CPUS)
		return fail(err, errlen,
			    "--cpus %s: give a number from 1 to %d",
			    show(&w, arg), VMM_MAX_CPUS);
	out->ncpus = (int)n;
	return 0;
}

/* --dma-map WHEN */
static int parse_dma_map(const char *arg, struct vmm_options *out, char *err,
			 size_t errlen)
{
	static const char *const names[] = {
		[VMM_DMA_BACKGROUND] = "background",
		[VMM_DMA_ON_DEMAND] = "on-demand",
		[VMM_DMA_BEFORE_BOOT] = "before-boot",
	};
	struct shown w;
	size_t i = 0;
	while (i < sizeof names / sizeof names[0] && strcmp(arg, names[i]))
		i++;
	if (i == sizeof names / sizeof names[0])
		return fail(
			err, errlen,
			"--dma-map %s: give background, on-demand or before-boot",
			show(&w, arg));
	out->dma_mode = (enum vmm_dma_mode)i;
	return 0;
}

/* getopt's complaints, in our words: the word it stopped at is the last
 * one it read */
static int bad_option(int o, int argc, char **argv, char *err, size_t errlen)
{
	struct shown w;
	const char *word = "?";
	if (optind > 0 && optind <= argc && argv[optind - 1])
		word = argv[optind - 1];
	if (o == ':')
		return fail(
			err, errlen,
			"option %s needs an argument. Try 'assign-vmm --help'.",
			show(&w, word));
	if (optopt) {
		char c[2] = { (char)optopt, '\0' };
		return fail(err, errlen,
			    "unknown option -%s. Try 'assign-vmm --help'.",
			    show(&w, c));
	}
	return fail(err, errlen, "unknown option %s. Try 'assign-vmm --help'.",
		    show(&w, word));
}

/* One option from getopt_long() into out */
static int take_option(int o, int argc, char **argv, struct vmm_options *out,
		       char *err, size_t errlen)
{
	struct shown w;
	switch (o) {
	case 'k':
		out->kernel = optarg;
		return 0;
	case 'i':
		out->initrd = optarg;
		return 0;
	case 'a':
		out->cmdline = optarg;
		return 0;
	case 'm':
		if (vmm_parse_size(optarg, &out->mem) < 0)
			return fail(
				err, errlen,
				"--mem %s: not a size; write e.g. 256M or 1G",
				show(&w, optarg));
		return 0;
	case 'c':
		return parse_cpus(optarg, out, err, errlen);
	case 'd':
		if (out->ndevices == VMM_MAX_DEVICES)
			return fail(err, errlen,
				    "too many --device options; at most %d",
				    VMM_MAX_DEVICES);
		out->devices[out->ndevices++] = optarg;
		return 0;
	case 'D':
		return parse_dma_map(optarg, out, err, errlen);
	case 'H':
		if (!*optarg)
			return fail(err, errlen,
				    "--handoff needs the helper's socket path");
		out->handoff = optarg;
		return 0;
	case 'V':
		out->viommu = true;
		return 0;
	case 'v':
		out->verbose = true;
		return 0;
	case 'h':
		out->help = true;
		return 0;
	default:
		return bad_option(o, argc, argv, err, errlen);
	}
}

/* Two --device words naming one device: the same words, or two
 * spellings of one address (00:02.0 and 0000:00:02.0). A word the
 * library cannot parse is left for it to refuse when it opens it. */
static bool same_device(const char *a, const char *b)
{
	struct assign_pci_addr x, y;
	if (!strcmp(a, b))
		return true;
	return assign_pci_addr_parse(a, &x) == 0 &&
	       assign_pci_addr_parse(b, &y) == 0 && x.domain == y.domain &&
	       x.bus == y.bus && x.dev == y.dev && x.fn == y.fn;
}

/* Each device once: the second open of one would fail far from here, on
 * an interrupt the first holds ("cannot set the INTx unmask eventfd:
 * Device or resource busy") */
static int check_devices(const struct vmm_options *out, char *err,
			 size_t errlen)
{
	for (int i = 1; i < out->ndevices; i++) {
		for (int j = 0; j < i; j++) {
			struct shown a, b;
			if (!same_device(out->devices[i], out->devices[j]))
				continue;
			return fail(err, errlen,
				    "--device %s is given twice (also as %s); "
				    "give each device once",
				    show(&a, out->devices[i]),
				    show(&b, out->devices[j]));
		}
	}
	return 0;
}

/* What only all the options together can tell */
static int check_options(int argc, char **argv, const struct vmm_options *out,
			 char *err, size_t errlen)
{
	struct shown w;
	if (optind < argc)
		return fail(err, errlen, "unexpected argument '%s'; see --help",
			    show(&w, argv[optind]));
	if (!out->kernel)
		return fail(
			err, errlen,
			"no kernel given; pass a bzImage or vmlinux with --kernel FILE");
	if (out->viommu && out->handoff)
		return fail(
			err, errlen,
			"--viommu needs a host IOMMU object per device, --handoff hands over one for all; use one of them");
	if (out->viommu && !out->ndevices)
		return fail(
			err, errlen,
			"--viommu puts assigned devices behind a virtio-iommu; give at least one --device");
	if (out->mem < (64ULL << 20) || out->mem > (1ULL << 40) ||
	    (out->mem & 0xfffff))
		return fail(
			err, errlen,
			"--mem must be a whole number of MiB from 64M to 1T; e.g. --mem 256M");
	return check_devices(out, err, errlen);
}

int vmm_parse_args(int argc, char **argv, struct vmm_options *out,
		   char *err, size_t errlen)
{
	static const struct option opts[] = {
		{ "kernel", required_argument, NULL, 'k' },
		{ "initrd", required_argument, NULL, 'i' },
		{ "append", required_argument, NULL, 'a' },
		{ "mem", required_argument, NULL, 'm' },
		{ "cpus", required_argument, NULL, 'c' },
		{ "device", required_argument, NULL, 'd' },
		{ "dma-map", required_argument, NULL, 'D' },
		{ "handoff", required_argument, NULL, 'H' },
		{ "viommu", no_argument, NULL, 'V' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	memset(out, 0, sizeof *out);
	out->cmdline = VMM_DEFAULT_CMDLINE;
	out->mem = 256ULL << 20;
	out->ncpus = 1;
	if (err && errlen)
		err[0] = '\0';

	/* getopt keeps its state in globals: start from scratch every call
	 * (optind 0 is glibc's full reset), and report errors ourselves */
	optind = 0;
	opterr = 0;
	int o;
	while ((o = getopt_long(argc, argv, ":k:i:a:m:c:d:vh", opts,
				NULL)) != -1) {
		if (take_option(o, argc, argv, out, err, errlen) < 0)
			return -EINVAL;
		if (out->help)
			return 0;
	}
	return check_options(argc, argv, out, err, errlen);
}
