// SPDX-License-Identifier: MIT
/*
 * assign-migrate: move a running device's state into another device, the
 * way two VMMs do in a live migration (docs/migration.md has the whole
 * sequence, guest RAM included). Public libassign API only:
 *
 *   assign-migrate [--backend auto|type1|iommufd] [--mode file|pipe]
 *                  [--message TEXT] [--port N] SOURCE DEST
 *   assign-migrate --role source [OPTIONS] SOURCE > stream
 *   assign-migrate --role dest [OPTIONS] DEST < stream
 *
 * SOURCE and DEST are two instances of the kernel's mtty sample (a virtual
 * 16550 whose transmit register loops back into its receive FIFO), of the
 * same type, named by UUID or /sys path. The source writes TEXT to the
 * serial port and leaves it unread in the FIFO: that is device state a
 * migration must carry. Then:
 *
 *   source: RUNNING -> PRE_COPY, assign_migration_save() rounds (progress
 *           from assign_migration_get_precopy()) until the device has no
 *           initial data left, then STOP_COPY and assign_migration_save()
 *           until it returns 1 (the end of the stream);
 *   dest:   STOP -> RESUMING, assign_migration_load() until it returns 1,
 *           then RUNNING (the driver checks the state it got here);
 *   source: STOP; once the destination runs, a reset
 *           (assign_migration_recover()) ends its copy of the device; had
 *           the destination failed, the source goes back to RUNNING and
 *           the guest would run on there.
 *
 * The destination then reads its port (LSR data ready, RBR) and exits 0
 * only when the bytes are exactly TEXT. --mode file streams through a
 * memfd in one process; --mode pipe forks a destination process with its
 * own libassign context, joined by a socket pair that also carries its
 * "running" answer back, as two VMMs would be. --role runs one side on
 * stdout or stdin, for a pipe between two commands or hosts.
 *
 * Make the instances (as root) with, for example:
 *   T=/sys/class/mdev_bus/mtty/mdev_supported_types/mtty-1
 *   A=$(cat /proc/sys/kernel/random/uuid); echo $A > $T/create
 *   B=$(cat /proc/sys/kernel/random/uuid); echo $B > $T/create
 *   assign-migrate --mode pipe $A $B
 *   echo 1 > /sys/bus/mdev/devices/$A/remove   (and $B)
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memfd_create */
#endif
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libassign/libassign.h>
#include <libassign/migration.h>

/* The 16550 registers mtty emulates, at the port's I/O BAR. */
#define UART_RBR_THR 0 /* read: receive buffer; write: transmit holding */
#define UART_FCR 2 /* FIFO control */
#define UART_LSR 5 /* line status */
#define UART_FCR_ON_CLEAR 0x07 /* FIFO on, receive and transmit cleared */
#define UART_LSR_DR 0x01 /* data ready */
#define MTTY_FIFO 16 /* mtty's FIFO holds 16 bytes */
#define PRECOPY_ROUNDS 8

struct cfg {
	enum assign_iommu_backend backend;
	const char *message;
	uint32_t port; /* BAR index: port 0 or 1 */
};

/* One side of the migration: its context, IOMMU, device, migration. */
struct side {
	const char *who; /* "source" or "dest" */
	struct assign_ctx *ctx;
	struct assign_iommu *iommu;
	struct assign_device *dev;
	struct assign_migration *mig;
};

static const char *state_name(enum assign_migration_state s)
{
	static const char *const n[] = { "ERROR",    "STOP",
					 "RUNNING",  "STOP_COPY",
					 "RESUMING", "RUNNING_P2P",
					 "PRE_COPY", "PRE_COPY_P2P" };

	return (unsigned)s < 8 ? n[s] : "?";
}

/* One line on stderr, in one write: the two processes' lines do not mix. */
__attribute__((format(printf, 2, 3))) static void say(const struct side *s,
						      const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	n = snprintf(line, sizeof(line), "%s: ", s->who);
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
	va_end(ap);
	n = (int)strlen(line);
	line[n++] = '\n';
	if (write(STDERR_FILENO, line, (size_t)n) < 0)
		return;
}

/* A failed libassign call: what was done, the errno, and the library's
 * message (its cause and fix). Returns -1. */
static int fail(const struct side *s, const char *what, int r)
{
	const char *m = s->ctx ? assign_ctx_get_last_error(s->ctx) : NULL;

	say(s, "%s failed: %s%s%s", what, strerror(r < 0 ? -r : r),
	    m && *m ? ": " : "", m ? m : "");
	return -1;
}

static double now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int set_state(struct side *s, enum assign_migration_state to)
{
	int r = assign_migration_set_state(s->mig, to);

	if (r < 0)
		return fail(s, state_name(to), r);
	say(s, "device now %s", state_name(to));
	return 0;
}

/* Open @name on its own IOMMU object and probe its migration support. */
static int side_open(struct side *s, const struct cfg *c, const char *name)
{
	struct assign_iommu_opts o = { .size = sizeof(o),
				       .backend = c->backend };
	uint32_t f;
	int r;

	if ((r = assign_ctx_new(&s->ctx)) < 0)
		return fail(s, "assign_ctx_new", r);
	if ((r = assign_iommu_new(s->ctx, &o, &s->iommu)) < 0)
		return fail(s, "assign_iommu_new", r);
	if ((r = assign_device_open(s->iommu, name, NULL, &s->dev)) < 0)
		return fail(s, name, r);
	/* -EOPNOTSUPP names the driver when the device cannot migrate. */
	if ((r = assign_migration_new(s->dev, NULL, &s->mig)) < 0)
		return fail(s, "assign_migration_new", r);
	f = assign_migration_get_flags(s->mig);
	say(s, "%s opened (%s), migration: STOP_COPY%s%s", name,
	    assign_iommu_get_backend(s->iommu) == ASSIGN_IOMMU_IOMMUFD ?
		    "iommufd" :
		    "type1",
	    f & ASSIGN_MIGRATION_F_P2P ? " P2P" : "",
	    f & ASSIGN_MIGRATION_F_PRE_COPY ? " PRE_COPY" : "");
	return 0;
}

static void side_close(struct side *s)
{
	assign_migration_unref(s->mig);
	assign_device_unref(s->dev);
	assign_iommu_unref(s->iommu);
	assign_ctx_unref(s->ctx);
}

static int uart_write(struct side *s, uint32_t port, uint64_t reg, uint8_t v)
{
	int r = assign_region_write(s->dev, port, reg, &v, 1);

	return r < 0 ? fail(s, "writing the serial port", r) : 0;
}

static int uart_read(struct side *s, uint32_t port, uint64_t reg, uint8_t *v)
{
	int r = assign_region_read(s->dev, port, reg, v, 1);

	return r < 0 ? fail(s, "reading the serial port", r) : 0;
}

/*
 * The source VMM: put the message in the port's FIFO, stream the device
 * out through @fd, wait for the destination's word on @ack (-1: none),
 * then let go of the device.
 */
static int run_source(const struct cfg *c, const char *name, int fd, int ack)
{
	struct side s = { .who = "source" };
	struct assign_migration_precopy p = { .size = sizeof(p) };
	uint64_t sent = 0, est = 0;
	int r, rc = -1, round;
	double t0;
	char word = 0;

	if (side_open(&s, c, name) < 0)
		goto out;
	/* The guest's driver at work: FIFO on and empty, then the bytes. */
	if (uart_write(&s, c->port, UART_FCR, UART_FCR_ON_CLEAR) < 0)
		goto out;
	for (const char *m = c->message; *m; m++)
		if (uart_write(&s, c->port, UART_RBR_THR, (uint8_t)*m) < 0)
			goto out;
	say(&s, "wrote \"%s\" to port %u, left unread", c->message, c->port);

	/* PRE_COPY: stream what the device can give while it still runs
	 * (a VMM copies guest RAM between the rounds). */
	if (assign_migration_get_flags(s.mig) & ASSIGN_MIGRATION_F_PRE_COPY) {
		if (set_state(&s, ASSIGN_MIGRATION_STATE_PRE_COPY) < 0)
			goto out;
		for (round = 1; round <= PRECOPY_ROUNDS; round++) {
			uint64_t n = 0;

			r = assign_migration_save(s.mig, fd, 0, &n);
			if (r < 0) {
				fail(&s, "assign_migration_save (PRE_COPY)", r);
				goto out;
			}
			sent += n;
			r = assign_migration_get_precopy(s.mig, &p);
			if (r < 0) {
				fail(&s, "assign_migration_get_precopy", r);
				goto out;
			}
			say(&s,
			    "pre-copy round %d: %" PRIu64 " bytes sent, "
			    "the device has %" PRIu64 " initial and %" PRIu64
			    " dirty bytes left",
			    round, n, p.initial_bytes, p.dirty_bytes);
			if (!p.initial_bytes)
				break; /* now stop the vCPUs */
		}
	}
	if (assign_migration_get_data_size(s.mig, &est) == 0)
		say(&s, "stop-copy will move about %" PRIu64 " bytes", est);

	/* STOP_COPY: the device is stopped; stream the rest to the end. */
	t0 = now_ms();
	if (set_state(&s, ASSIGN_MIGRATION_STATE_STOP_COPY) < 0)
		goto out;
	do {
		uint64_t n = 0;

		r = assign_migration_save(s.mig, fd, 0, &n);
		sent += n;
	} while (r == 0);
	if (r < 0) {
		fail(&s, "assign_migration_save (STOP_COPY)", r);
		goto out;
	}
	say(&s, "stream complete: %" PRIu64 " bytes of device state", sent);
	if (set_state(&s, ASSIGN_MIGRATION_STATE_STOP) < 0)
		goto out;

	/* The source keeps the device until the destination runs. */
	if (ack >= 0 && (read(ack, &word, 1) != 1 || word != 'R')) {
		say(&s, "the destination did not take over: the guest runs "
			"on here");
		set_state(&s, ASSIGN_MIGRATION_STATE_RUNNING);
		goto out;
	}
	if (ack >= 0)
		say(&s,
		    "the device was stopped for %.1f ms (STOP_COPY until "
		    "the destination ran)",
		    now_ms() - t0);
	/* Its copy of the device is stale now: reset it. */
	if ((r = assign_migration_recover(s.mig)) < 0) {
		fail(&s, "assign_migration_recover", r);
		goto out;
	}
	say(&s, "device reset: the destination owns the state");
	rc = 0;
out:
	side_close(&s);
	return rc;
}

/*
 * The destination VMM: take the stream from @fd into the device, run it,
 * tell the source on @ack (-1: none), then read the port.
 */
static int run_dest(const struct cfg *c, const char *name, int fd, int ack)
{
	struct side s = { .who = "dest" };
	char got[MTTY_FIFO + 2] = "";
	uint64_t loaded = 0;
	size_t len = 0;
	uint8_t lsr, ch;
	int r, rc = -1;

	if (side_open(&s, c, name) < 0)
		goto out;
	if (set_state(&s, ASSIGN_MIGRATION_STATE_RESUMING) < 0)
		goto out;
	do {
		uint64_t n = 0;

		r = assign_migration_load(s.mig, fd, &n);
		loaded += n;
		if (r == 0)
			say(&s, "round loaded (%" PRIu64 " bytes)", n);
	} while (r == 0);
	if (r < 0) {
		fail(&s, "assign_migration_load", r);
		goto out;
	}
	say(&s, "stream loaded: %" PRIu64 " bytes of device state", loaded);
	if (set_state(&s, ASSIGN_MIGRATION_STATE_RUNNING) < 0)
		goto out;
	if (ack >= 0 && write(ack, "R", 1) != 1)
		say(&s, "could not tell the source: %s", strerror(errno));

	/* The guest's driver again: drain the receive FIFO. */
	for (;;) {
		if (uart_read(&s, c->port, UART_LSR, &lsr) < 0)
			goto out;
		if (!(lsr & UART_LSR_DR) || len == sizeof(got) - 1)
			break;
		if (uart_read(&s, c->port, UART_RBR_THR, &ch) < 0)
			goto out;
		got[len++] = (char)ch;
	}
	got[len] = '\0';
	if (strcmp(got, c->message)) {
		say(&s,
		    "port %u holds \"%s\" (%zu bytes), not \"%s\": the "
		    "state did not arrive",
		    c->port, got, len, c->message);
		goto out;
	}
	say(&s, "read \"%s\" from port %u: the bytes migrated", got, c->port);
	rc = 0;
out:
	side_close(&s);
	return rc;
}

/* One process: the stream goes through a memfd, source then dest. */
static int mode_file(const struct cfg *c, const char *a, const char *b)
{
	int fd = memfd_create("assign-migrate", MFD_CLOEXEC), rc;

	if (fd < 0) {
		fprintf(stderr, "memfd_create: %s\n", strerror(errno));
		return -1;
	}
	rc = run_source(c, a, fd, -1);
	if (rc == 0 && lseek(fd, 0, SEEK_SET) != 0)
		rc = -1;
	if (rc == 0)
		rc = run_dest(c, b, fd, -1);
	close(fd);
	return rc;
}

/* Two processes, as two VMMs: a socket pair carries the stream one way
 * and the destination's "running" the other. */
static int mode_pipe(const struct cfg *c, const char *a, const char *b)
{
	int sv[2], st = 0, rc;
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		fprintf(stderr, "socketpair: %s\n", strerror(errno));
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "fork: %s\n", strerror(errno));
		close(sv[0]);
		close(sv[1]);
		return -1;
	}
	if (pid == 0) {
		close(sv[0]);
		_exit(run_dest(c, b, sv[1], sv[1]) == 0 ? 0 : 1);
	}
	close(sv[1]);
	rc = run_source(c, a, sv[0], sv[0]);
	close(sv[0]);
	if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st))
		rc = -1;
	return rc;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: assign-migrate [--backend auto|type1|iommufd] "
		"[--mode file|pipe]\n"
		"                      [--message TEXT] [--port N] SOURCE DEST\n"
		"       assign-migrate --role source [OPTIONS] SOURCE > STREAM\n"
		"       assign-migrate --role dest [OPTIONS] DEST < STREAM\n"
		"Migrates an mtty instance's state (TEXT, unread in its "
		"serial port's FIFO)\ninto another instance of the same type "
		"and checks the bytes arrived.\n");
}

int main(int argc, char **argv)
{
	struct cfg c = { .backend = ASSIGN_IOMMU_AUTO,
			 .message = "libassign-mig" };
	const char *mode = "pipe", *role = NULL, *v;
	int i, need, rc;

	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		}
		if (i + 1 >= argc) {
			usage(stderr);
			return 2;
		}
		v = argv[++i];
		if (!strcmp(argv[i - 1], "--backend")) {
			if (!strcmp(v, "auto"))
				c.backend = ASSIGN_IOMMU_AUTO;
			else if (!strcmp(v, "type1"))
				c.backend = ASSIGN_IOMMU_TYPE1;
			else if (!strcmp(v, "iommufd"))
				c.backend = ASSIGN_IOMMU_IOMMUFD;
			else
				goto bad;
		} else if (!strcmp(argv[i - 1], "--mode")) {
			mode = v;
			if (strcmp(v, "file") && strcmp(v, "pipe"))
				goto bad;
		} else if (!strcmp(argv[i - 1], "--role")) {
			role = v;
			if (strcmp(v, "source") && strcmp(v, "dest"))
				goto bad;
		} else if (!strcmp(argv[i - 1], "--message")) {
			c.message = v;
		} else if (!strcmp(argv[i - 1], "--port")) {
			if (strcmp(v, "0") && strcmp(v, "1"))
				goto bad;
			c.port = (uint32_t)(v[0] - '0');
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (!*c.message || strlen(c.message) > MTTY_FIFO) {
		fprintf(stderr,
			"assign-migrate: --message must have 1 to %d bytes: "
			"mtty's FIFO holds %d and drops the rest\n",
			MTTY_FIFO, MTTY_FIFO);
		return 2;
	}
	need = role ? 1 : 2;
	if (argc - i != need) {
		usage(stderr);
		return 2;
	}
	/* A destination that dies must not kill the source by SIGPIPE: its
	 * write fails with EPIPE and the source runs on. */
	signal(SIGPIPE, SIG_IGN);
	if (role && !strcmp(role, "source"))
		rc = run_source(&c, argv[i], STDOUT_FILENO, -1);
	else if (role)
		rc = run_dest(&c, argv[i], STDIN_FILENO, -1);
	else if (!strcmp(mode, "file"))
		rc = mode_file(&c, argv[i], argv[i + 1]);
	else
		rc = mode_pipe(&c, argv[i], argv[i + 1]);
	return rc == 0 ? 0 : 1;
bad:
	fprintf(stderr, "assign-migrate: %s %s: unknown value\n", argv[i - 1],
		v);
	usage(stderr);
	return 2;
}
