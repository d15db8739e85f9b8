// SPDX-License-Identifier: MIT
/*
 * Fuzz target: the example VMM's command line
 * (examples/assign-vmm/cli.c, compiled unchanged): vmm_parse_args() and
 * vmm_parse_size().
 *
 * Input: the words of argv after "assign-vmm", separated by NUL bytes (at
 * most 64 words). Checks:
 *  - on success, the options are within what the VMM accepts: a kernel,
 *    RAM a whole number of MiB from 64 MiB to 1 TiB, 1-64 vCPUs, at most
 *    8 devices, no device twice (by its words or its parsed address),
 *    and every string points into argv;
 *  - on failure, one line of message (not empty, no newline, terminated);
 *  - vmm_parse_size() of each word: a size it accepts round-trips through
 *    its own unit (a multiple of the unit it names, no overflow).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "vmm.h"
#include <libassign/libassign.h>

#define MAX_WORDS 64

static bool in_argv(const char *p, char **argv, int argc)
{
	for (int i = 0; i < argc; i++)
		if (p >= argv[i] && p <= argv[i] + strlen(argv[i]))
			return true;
	return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* one NUL-terminated copy; words are its NUL-separated pieces */
	char *buf = malloc(size + 1);
	char *argv[MAX_WORDS + 2];
	int argc = 0;

	if (!buf)
		abort();
	memcpy(buf, data, size);
	buf[size] = '\0';
	argv[argc++] = "assign-vmm";
	for (size_t i = 0; i <= size && argc <= MAX_WORDS;) {
		argv[argc++] = buf + i;
		i += strlen(buf + i) + 1;
	}
	argv[argc] = NULL;
	/* getopt_long permutes argv: keep the original word pointers */
	char *words[MAX_WORDS + 2];
	memcpy(words, argv, sizeof(argv));

	struct vmm_options o;
	char err[256];
	memset(err, 'x', sizeof(err));
	int r = vmm_parse_args(argc, argv, &o, err, sizeof(err));

	if (r == 0 && !o.help) {
		FUZZ_CHECK(o.kernel && in_argv(o.kernel, words, argc));
		FUZZ_CHECK(!o.initrd || in_argv(o.initrd, words, argc));
		FUZZ_CHECK(o.cmdline == (const char *)VMM_DEFAULT_CMDLINE ||
			   strcmp(o.cmdline, VMM_DEFAULT_CMDLINE) == 0 ||
			   in_argv(o.cmdline, words, argc));
		FUZZ_CHECK(o.mem >= (64ULL << 20) && o.mem <= (1ULL << 40) &&
			   o.mem % (1ULL << 20) == 0);
		FUZZ_CHECK(o.ncpus >= 1 && o.ncpus <= VMM_MAX_CPUS);
		FUZZ_CHECK(o.ndevices >= 0 && o.ndevices <= VMM_MAX_DEVICES);
		for (int i = 0; i < o.ndevices; i++) {
			struct assign_pci_addr a, b;

			FUZZ_CHECK(in_argv(o.devices[i], words, argc));
			for (int j = 0; j < i; j++) {
				FUZZ_CHECK(strcmp(o.devices[i], o.devices[j]));
				if (assign_pci_addr_parse(o.devices[i], &a) ||
				    assign_pci_addr_parse(o.devices[j], &b))
					continue;
				FUZZ_CHECK(a.domain != b.domain ||
					   a.bus != b.bus || a.dev != b.dev ||
					   a.fn != b.fn);
			}
		}
	} else if (r != 0) {
		FUZZ_CHECK(r == -EINVAL);
		FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL);
		FUZZ_CHECK(err[0] != '\0');
		FUZZ_CHECK(strchr(err, '\n') == NULL);
	}

	for (int i = 1; i < argc; i++) {
		uint64_t v = 0;

		if (vmm_parse_size(words[i], &v) == 0) {
			/* the unit the word names divides the value */
			const char *s = words[i];
			size_t n = strlen(s);
			unsigned shift = 20;

			while (n && (s[n - 1] == 'B' || s[n - 1] == 'i'))
				n--;
			if (n) {
				switch (s[n - 1]) {
				case 'k': case 'K': shift = 10; break;
				case 'g': case 'G': shift = 30; break;
				case 't': case 'T': shift = 40; break;
				default: break;
				}
			}
			FUZZ_CHECK(v % (1ULL << shift) == 0);
		}
	}
	free(buf);
	return 0;
}
