// SPDX-License-Identifier: MIT
/*
 * assign-host handoff: the privileged helper of an unprivileged VMM, the
 * way management stacks run QEMU. As root it checks and opens the devices
 * (libassign's handoff: each opened once through VFIO, then fresh fds),
 * listens on a unix socket only the VMM's user may reach, raises the
 * connecting VMM's RLIMIT_MEMLOCK so it can pin guest RAM (as libvirt
 * does with prlimit()), and hands it the fds in one SCM_RIGHTS message.
 * One VMM, one handoff: then it exits.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <libassign/handoff.h>
#include <libassign/libassign.h>

#include "assign-host.h"

struct handoff_args {
	enum assign_iommu_backend backend;
	const char *socket;
	bool have_user;
	uid_t uid;
	gid_t gid;
	unsigned long long memlock; /* bytes; 0: leave the VMM's limit */
	int timeout_s;
};

/* "512M", "2G", "1048576" (bytes) into bytes. */
static int parse_size(const char *s, unsigned long long *out)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || end == s || *s == '-')
		return -EINVAL;
	switch (*end) {
	case 'k':
	case 'K':
		v <<= 10;
		end++;
		break;
	case 'm':
	case 'M':
		v <<= 20;
		end++;
		break;
	case 'g':
	case 'G':
		v <<= 30;
		end++;
		break;
	default:
		break;
	}
	if (*end)
		return -EINVAL;
	*out = v;
	return 0;
}

/* --user NAME or a uid: whose VMM may take the devices. */
static int parse_user(const char *s, struct handoff_args *a)
{
	struct passwd *pw = getpwnam(s);
	char *end;
	unsigned long v;

	if (pw) {
		a->uid = pw->pw_uid;
		a->gid = pw->pw_gid;
	} else {
		errno = 0;
		v = strtoul(s, &end, 10);
		if (errno || end == s || *end || v > 0xfffffffe)
			return -EINVAL;
		a->uid = (uid_t)v;
		a->gid = (gid_t)v;
	}
	a->have_user = true;
	return 0;
}

static int parse_args(int argc, char **argv, struct handoff_args *a)
{
	static const struct option lopts[] = {
		{ "backend", required_argument, NULL, 'b' },
		{ "user", required_argument, NULL, 'u' },
		{ "memlock", required_argument, NULL, 'm' },
		{ "timeout", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	a->backend = ASSIGN_IOMMU_AUTO;
	a->timeout_s = 60;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+", lopts, NULL)) != -1) {
		switch (c) {
		case 'b':
			if (!strcmp(optarg, "type1"))
				a->backend = ASSIGN_IOMMU_TYPE1;
			else if (!strcmp(optarg, "iommufd"))
				a->backend = ASSIGN_IOMMU_IOMMUFD;
			else if (!strcmp(optarg, "auto"))
				a->backend = ASSIGN_IOMMU_AUTO;
			else
				return usage_error("handoff: --backend takes "
						   "type1, iommufd or auto");
			break;
		case 'u':
			if (parse_user(optarg, a) < 0)
				return usage_error("handoff: no user '%s'",
						   optarg);
			break;
		case 'm':
			if (parse_size(optarg, &a->memlock) < 0)
				return usage_error("handoff: --memlock takes "
						   "a size (512M, 2G)");
			break;
		case 't': {
			char *end;
			long v = strtol(optarg, &end, 10);

			if (end == optarg || *end || v < 1 || v > 86400)
				return usage_error("handoff: --timeout takes "
						   "seconds, 1 to 86400");
			a->timeout_s = (int)v;
			break;
		}
		default:
			return usage_error("handoff: unknown option or missing "
					   "argument");
		}
	}
	if (argc - optind < 2)
		return usage_error("handoff needs a SOCKET and at least one "
				   "DEVICE");
	a->socket = argv[optind];
	if (strlen(a->socket) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		return usage_error("handoff: the socket path is too long");
	return -1;
}

/* The listening socket at @path: only its owner (the VMM's user) may
 * connect. A stale socket there is replaced; anything else is not. */
static int listen_on(const struct handoff_args *a)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	mode_t old;
	int s;

	if (lstat(a->socket, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			fprintf(stderr,
				"%s: handoff: %s exists and is no "
				"socket: not replacing it\n",
				prog, a->socket);
			return -EEXIST;
		}
		unlink(a->socket);
	}
	s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	strcpy(sa.sun_path, a->socket);
	old = umask(0177);
	if (bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = -errno;

		umask(old);
		close(s);
		return e;
	}
	umask(old);
	if ((a->have_user && chown(a->socket, a->uid, a->gid) < 0) ||
	    listen(s, 4) < 0) {
		int e = -errno;

		close(s);
		unlink(a->socket);
		return e;
	}
	return s;
}

/* The next connection from the VMM's user, within the time left. */
static int accept_vmm(int s, const struct handoff_args *a, time_t deadline,
		      struct ucred *cred)
{
	for (;;) {
		struct pollfd p = { .fd = s, .events = POLLIN };
		socklen_t len = sizeof(*cred);
		time_t left = deadline - time(NULL);
		int c;

		if (left <= 0)
			return -ETIMEDOUT;
		if (poll(&p, 1, (int)(left * 1000)) <= 0)
			continue;
		c = accept4(s, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0)
			continue;
		if (getsockopt(c, SOL_SOCKET, SO_PEERCRED, cred, &len) == 0 &&
		    (!a->have_user || cred->uid == a->uid))
			return c;
		fprintf(stderr,
			"%s: handoff: refused a connection from uid %u (pid "
			"%d): only uid %u may take the devices\n",
			prog, (unsigned)cred->uid, (int)cred->pid,
			(unsigned)a->uid);
		close(c);
	}
}

/* As libvirt does for QEMU: the VMM may lock what it will pin. */
static int raise_memlock(const struct handoff_args *a, pid_t pid)
{
	struct rlimit rl = { a->memlock, a->memlock };

	if (!a->memlock)
		return 0;
	if (prlimit(pid, RLIMIT_MEMLOCK, &rl, NULL) < 0) {
		int e = errno;

		fprintf(stderr,
			"%s: handoff: cannot raise the RLIMIT_MEMLOCK of "
			"process %d to %llu bytes: %s (the helper needs "
			"CAP_SYS_RESOURCE)\n",
			prog, (int)pid, a->memlock, strerror(e));
		return -e;
	}
	return 0;
}

int cmd_handoff(struct assign_ctx *ctx, int argc, char **argv)
{
	struct handoff_args a = { 0 };
	struct assign_iommu_opts o = { .size = sizeof(o) };
	struct assign_handoff *h = NULL;
	struct ucred cred = { 0 };
	int status, r, s, c;

	status = parse_args(argc, argv, &a);
	if (status >= 0)
		return status;
	o.backend = a.backend;
	r = assign_handoff_new(ctx, &o, &h);
	if (r < 0)
		return fail(ctx, r, "handoff");
	for (int i = optind + 1; i < argc; i++) {
		r = assign_handoff_add_device(h, argv[i]);
		if (r < 0) {
			status = fail(ctx, r, "handoff");
			assign_handoff_free(h);
			return status;
		}
	}
	s = listen_on(&a);
	if (s < 0) {
		fprintf(stderr, "%s: handoff: cannot listen on %s: %s\n", prog,
			a.socket, strerror(-s));
		assign_handoff_free(h);
		return EXIT_FAIL;
	}
	printf("handoff: %zu device(s) on %s (%s) for %s%u\n",
	       assign_handoff_get_count(h), a.socket,
	       assign_handoff_get_backend(h) == ASSIGN_IOMMU_IOMMUFD ?
		       "iommufd" :
		       "type1",
	       a.have_user ? "uid " : "any uid, not ",
	       a.have_user ? (unsigned)a.uid : 0u);
	fflush(stdout);
	c = accept_vmm(s, &a, time(NULL) + a.timeout_s, &cred);
	if (c < 0) {
		fprintf(stderr,
			"%s: handoff: no VMM connected to %s within "
			"%d s\n",
			prog, a.socket, a.timeout_s);
		status = EXIT_TIMEOUT;
	} else if (raise_memlock(&a, cred.pid) < 0) {
		status = EXIT_PERM; /* the VMM sees the socket closed */
	} else {
		r = assign_handoff_send(h, c);
		status = r < 0 ? fail(ctx, r, "handoff") : EXIT_OK;
		if (r == 0)
			printf("handoff: handed to pid %d (uid %u)\n",
			       (int)cred.pid, (unsigned)cred.uid);
	}
	if (c >= 0)
		close(c);
	close(s);
	unlink(a.socket);
	assign_handoff_free(h);
	return status;
}
