// SPDX-License-Identifier: MIT
/* Library context: logging, the kernel seam; the last error is error.c's. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "core/sys.h"

ASSIGN_EXPORT const char *assign_version(void)
{
	return LIBASSIGN_VERSION;
}

__attribute__((format(printf, 6, 0))) static void
log_stderr(struct assign_ctx *ctx, int priority, const char *file, int line,
	   const char *fn, const char *format, va_list args)
{
	(void)ctx;
	if (priority >= LOG_DEBUG)
		fprintf(stderr, "libassign: %s:%d %s: ", file, line, fn);
	else if (priority <= LOG_WARNING)
		fprintf(stderr, "libassign: %s: ",
			priority == LOG_WARNING ? "warning" : "error");
	else
		fprintf(stderr, "libassign: ");
	vfprintf(stderr, format, args);
	fputc('\n', stderr);
}

static int parse_priority(const char *s)
{
	static const char *const names[] = { "emerg", "alert", "crit",
					     "err",   "warning", "notice",
					     "info",  "debug" };
	char *end;
	long v;

	if (!s || !*s)
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno == 0 && *end == '\0')
		return v < 0 ? 0 : v > 7 ? 7 : (int)v;
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (strcasecmp(s, names[i]) == 0)
			return (int)i;
	if (strcasecmp(s, "error") == 0)
		return LOG_ERR;
	if (strcasecmp(s, "warn") == 0)
		return LOG_WARNING;
	return -1;
}

ASSIGN_EXPORT int assign_ctx_new(struct assign_ctx **ret)
{
	struct assign_ctx *ctx;
	int prio, fd, r;

	if (!ret)
		return -EINVAL;
	ctx = calloc(1, sizeof(*ctx));
	if (!ctx)
		return -ENOMEM;
	ctx->refcount = 1;
	ctx->log_fn = log_stderr;
	ctx->log_priority = LOG_WARNING;
	prio = parse_priority(secure_getenv("ASSIGN_LOG"));
	if (prio >= 0)
		ctx->log_priority = prio;
	/* This library's store, whichever library's code fails later. */
	ctx->error_ops = &assign_error_store_ops;
	r = assign_error_store_new(&ctx->errors);
	if (r < 0) {
		free(ctx);
		return r;
	}
	ctx->sys = &assign_sys_linux;
	fd = open("/sys", O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		ctx->error_ops->release(ctx);
		free(ctx);
		return r;
	}
	ctx->sysfs_fd = fd;
	ctx->own_sysfs_fd = true;
	*ret = ctx;
	return 0;
}

int assign_ctx_set_sys(struct assign_ctx *ctx, const struct assign_sys_ops *ops,
		       void *data, int sysfs_fd)
{
	if (!ctx || !ops)
		return -EINVAL;
	if (ctx->own_sysfs_fd)
		close(ctx->sysfs_fd);
	ctx->own_sysfs_fd = false;
	ctx->sys = ops;
	ctx->sys_data = data;
	ctx->sysfs_fd = sysfs_fd;
	return 0;
}

ASSIGN_EXPORT struct assign_ctx *assign_ctx_ref(struct assign_ctx *ctx)
{
	/* Atomic: objects of one context may live on different threads and
	 * each holds a reference. */
	if (ctx)
		__atomic_add_fetch(&ctx->refcount, 1, __ATOMIC_RELAXED);
	return ctx;
}

ASSIGN_EXPORT struct assign_ctx *assign_ctx_unref(struct assign_ctx *ctx)
{
	if (!ctx || __atomic_sub_fetch(&ctx->refcount, 1, __ATOMIC_ACQ_REL) > 0)
		return NULL;
	if (ctx->own_sysfs_fd)
		close(ctx->sysfs_fd);
	ctx->error_ops->release(ctx);
	free(ctx);
	return NULL;
}

ASSIGN_EXPORT void assign_ctx_set_log_fn(
	struct assign_ctx *ctx,
	void (*log_fn)(struct assign_ctx *ctx, int priority, const char *file,
		       int line, const char *fn, const char *format,
		       va_list args),
	void *data)
{
	if (!ctx)
		return;
	ctx->log_fn = log_fn ? log_fn : log_stderr;
	ctx->log_data = data;
}

ASSIGN_EXPORT void *assign_ctx_get_log_data(const struct assign_ctx *ctx)
{
	return ctx ? ctx->log_data : NULL;
}

ASSIGN_EXPORT void assign_ctx_set_log_priority(struct assign_ctx *ctx,
					       int priority)
{
	if (!ctx)
		return;
	priority = priority < 0 ? 0 : priority > 7 ? 7 : priority;
	__atomic_store_n(&ctx->log_priority, priority, __ATOMIC_RELAXED);
}

ASSIGN_EXPORT int assign_ctx_get_log_priority(const struct assign_ctx *ctx)
{
	return ctx ? __atomic_load_n(&ctx->log_priority, __ATOMIC_RELAXED) :
		     LOG_WARNING;
}

ASSIGN_EXPORT const char *
assign_ctx_get_last_error(const struct assign_ctx *ctx)
{
	return assign_error_get(ctx);
}

ASSIGN_EXPORT void assign_ctx_clear_last_error(struct assign_ctx *ctx)
{
	char *buf = ctx ? ctx->error_ops->buf(ctx, false) : NULL;

	if (buf)
		buf[0] = '\0';
}

__attribute__((format(printf, 6, 0))) static void
log_va(struct assign_ctx *ctx, int priority, const char *file, int line,
       const char *fn, const char *format, va_list ap)
{
	ctx->log_fn(ctx, priority, file, line, fn, format, ap);
}

void assign_log(struct assign_ctx *ctx, int priority, const char *file,
		int line, const char *fn, const char *format, ...)
{
	va_list ap;

	if (!ctx || !assign_log_enabled(ctx, priority))
		return;
	va_start(ap, format);
	log_va(ctx, priority, file, line, fn, format, ap);
	va_end(ap);
}

uint64_t assign_log_limit_pass(struct assign_log_limit *lim)
{
	struct timespec ts;
	uint64_t now;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	if (lim->seen &&
	    now - lim->last_ns >= ASSIGN_LOG_LIMIT_QUIET_S * 1000000000ull)
		lim->seen = 0;
	lim->last_ns = now;
	if (++lim->seen <= ASSIGN_LOG_LIMIT_BURST) {
		lim->next = 2 * ASSIGN_LOG_LIMIT_BURST;
		return lim->seen;
	}
	if (lim->seen != lim->next)
		return 0;
	if (lim->next <= UINT64_MAX / 2)
		lim->next *= 2;
	return lim->seen;
}

void assign_log_counted(struct assign_ctx *ctx, int priority, uint64_t n,
			const char *file, int line, const char *fn,
			const char *format, ...)
{
	char msg[ASSIGN_ERROR_MAX];
	va_list ap;

	if (!ctx || !assign_log_enabled(ctx, priority))
		return;
	va_start(ap, format);
	vsnprintf(msg, sizeof(msg), format, ap);
	va_end(ap);
	if (n < ASSIGN_LOG_LIMIT_BURST)
		assign_log(ctx, priority, file, line, fn, "%s", msg);
	else if (n == ASSIGN_LOG_LIMIT_BURST)
		assign_log(ctx, priority, file, line, fn,
			   "%s (%d times; from now on logged at the %dth, "
			   "%dth, %dth... time)",
			   msg, ASSIGN_LOG_LIMIT_BURST,
			   2 * ASSIGN_LOG_LIMIT_BURST,
			   4 * ASSIGN_LOG_LIMIT_BURST,
			   8 * ASSIGN_LOG_LIMIT_BURST);
	else
		assign_log(ctx, priority, file, line, fn, "%s (%llu times)",
			   msg, (unsigned long long)n);
}
