// SPDX-License-Identifier: MIT
/*
 * The last error, kept per thread and per context (docs/errors.md).
 *
 * vCPU threads call the thread-safe objects of one context at the same
 * time, and each must read back the message of its own failure, as errno
 * is read. So each thread keeps a short list of entries, one per context
 * it failed on, holding that message; only the thread itself ever touches
 * its list, so recording and reading an error take no lock.
 *
 * An entry names its context by the context's store, a small object the
 * context and every entry hold a reference on (an atomic count): a store
 * outlives its context as long as an entry points to it, so its address
 * is never reused while an entry could mistake a new context for an old
 * one. The last unref of a context frees the calling thread's entry and
 * marks the store dead; every other thread frees its entry of a dead
 * store the next time it records or reads an error, or when it exits
 * (the destructor of a thread-specific key). A thread thus holds at most
 * one entry per context it failed on, plus those of contexts that died
 * since its last failure or read.
 *
 * libassign-host carries its own hidden copy of this file. The context
 * reaches its store through ctx->error_ops, set by the assign_ctx_new()
 * of the library that made it, so both libraries use the one store (and
 * the one thread key) of that library. The key is process-wide and made
 * once; it is the only static state, and it is never changed after.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

struct assign_error_store {
	unsigned int refs; /* atomic: the context and each entry */
	bool dead; /* atomic: the context is gone */
};

struct error_entry {
	struct error_entry *next;
	struct assign_error_store *store;
	char msg[ASSIGN_ERROR_MAX];
};

/* What the thread-specific key points to: made once per thread, on the
 * thread's first failure, so the key's value never changes after. */
struct error_thread {
	struct error_entry *head;
};

static pthread_key_t thread_key;
static pthread_once_t thread_key_once = PTHREAD_ONCE_INIT;
static int thread_key_err;

static void store_put(struct assign_error_store *s)
{
	if (__atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) == 0)
		free(s);
}

static void entry_free(struct error_entry *e)
{
	store_put(e->store);
	free(e);
}

static void thread_exit(void *data)
{
	struct error_thread *t = data;
	struct error_entry *e, *next;

	for (e = t->head; e; e = next) {
		next = e->next;
		entry_free(e);
	}
	free(t);
}

static void thread_key_init(void)
{
	thread_key_err = pthread_key_create(&thread_key, thread_exit);
}

int assign_error_store_new(struct assign_error_store **ret)
{
	struct assign_error_store *s;

	pthread_once(&thread_key_once, thread_key_init);
	if (thread_key_err)
		return -thread_key_err;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->refs = 1;
	*ret = s;
	return 0;
}

static struct error_thread *thread_get(bool create)
{
	struct error_thread *t = pthread_getspecific(thread_key);

	if (t || !create)
		return t;
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	if (pthread_setspecific(thread_key, t) != 0) {
		free(t);
		return NULL;
	}
	return t;
}

/* The calling thread's entry for @store; frees entries of dead stores on
 * the way. */
static struct error_entry *entry_find(struct error_thread *t,
				      const struct assign_error_store *store)
{
	struct error_entry **pp = &t->head, *e, *found = NULL;

	while ((e = *pp)) {
		if (e->store != store &&
		    __atomic_load_n(&e->store->dead, __ATOMIC_ACQUIRE)) {
			*pp = e->next;
			entry_free(e);
			continue;
		}
		if (e->store == store)
			found = e;
		pp = &e->next;
	}
	return found;
}

static char *store_buf(const struct assign_ctx *ctx, bool create)
{
	struct assign_error_store *store = ctx->errors;
	struct error_thread *t = thread_get(create);
	struct error_entry *e;

	if (!t)
		return NULL;
	e = entry_find(t, store);
	if (e || !create)
		return e ? e->msg : NULL;
	e = malloc(sizeof(*e));
	if (!e)
		return NULL;
	__atomic_add_fetch(&store->refs, 1, __ATOMIC_RELAXED);
	e->store = store;
	e->msg[0] = '\0';
	e->next = t->head;
	t->head = e;
	return e->msg;
}

static void store_release(struct assign_ctx *ctx)
{
	struct assign_error_store *store = ctx->errors;
	struct error_thread *t = thread_get(false);

	if (!store)
		return;
	if (t) {
		struct error_entry **pp = &t->head, *e;

		while ((e = *pp) && e->store != store)
			pp = &e->next;
		if (e) {
			*pp = e->next;
			entry_free(e);
		}
	}
	__atomic_store_n(&store->dead, true, __ATOMIC_RELEASE);
	store_put(store);
	ctx->errors = NULL;
}

const struct assign_error_ops assign_error_store_ops = {
	.buf = store_buf,
	.release = store_release,
};

/* ---- used by every layer, in either library ------------------------- */

int assign_set_error(struct assign_ctx *ctx, int err, const char *file,
		     int line, const char *fn, const char *format, ...)
{
	char msg[ASSIGN_ERROR_MAX], *buf;
	va_list ap;

	if (!ctx)
		return err;
	/* Formatted apart: an argument may be the thread's own message. */
	va_start(ap, format);
	vsnprintf(msg, sizeof(msg), format, ap);
	va_end(ap);
	buf = ctx->error_ops->buf(ctx, true);
	if (buf)
		memcpy(buf, msg, strlen(msg) + 1);
	/* Reported once, to the caller; traced only on request. */
	if (assign_log_enabled(ctx, LOG_DEBUG))
		assign_log(ctx, LOG_DEBUG, file, line, fn,
			   "failing with %s: %s",
			   strerror(err < 0 ? -err : err), msg);
	return err;
}

const char *assign_error_get(const struct assign_ctx *ctx)
{
	const char *buf = ctx ? ctx->error_ops->buf(ctx, false) : NULL;

	return buf ? buf : "";
}

void assign_error_save(const struct assign_ctx *ctx, char *saved)
{
	snprintf(saved, ASSIGN_ERROR_MAX, "%s", assign_error_get(ctx));
}

void assign_error_restore(struct assign_ctx *ctx, const char *saved)
{
	char *buf;

	if (!ctx)
		return;
	buf = ctx->error_ops->buf(ctx, saved[0] != '\0');
	if (buf)
		snprintf(buf, ASSIGN_ERROR_MAX, "%s", saved);
}
