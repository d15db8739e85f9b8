/* SPDX-License-Identifier: MIT */
/*
 * libassign: hand host PCI devices to guests through Linux VFIO.
 *
 * This is the umbrella header of libassign: it declares the library context
 * and pulls in every other header of libassign. The host preparation API,
 * <libassign/host.h>, belongs to the separate library libassign-host
 * (pkg-config libassign-host) and is included on its own. See
 * docs/architecture.md for the object model and docs/errors.md for errors,
 * logging and threads.
 *
 * Conventions that hold for every function in every libassign header:
 *  - Functions returning int return 0 (or a documented non-negative value)
 *    on success and a negative errno on failure; they never return -1 with
 *    errno set and never exit or abort.
 *  - Constructors return the new object through a **ret out-parameter that
 *    is left untouched on failure.
 *  - Objects are reference counted: *_ref() returns its argument, *_unref()
 *    is NULL-safe and returns NULL. A child object holds a reference on its
 *    parent, so a caller may drop its own references in any order.
 *  - A failure is reported once: by the return value and by the last error
 *    (assign_ctx_get_last_error()), a one-line message naming the cause
 *    and, where there is one, the fix. It is not logged. The log carries
 *    warnings the caller could not see otherwise (LOG_WARNING, shown by
 *    default) and, on request, notices, information and debug traces.
 *  - The last error is kept per thread and per context, as errno is: a
 *    thread reads the message of its own last failure on that context, and
 *    other threads' failures never change it.
 *  - Threads: a context may be shared by threads. The functions of
 *    struct assign_vpci, struct assign_guestmem and struct assign_kvm (all
 *    but their constructors) may be called from several threads at once:
 *    each object serializes them with a lock of its own, so vCPU threads may
 *    drive the vpci, guestmem and kvm objects of one context at the same
 *    time. Every other object (assign_iommu, assign_group, assign_device
 *    with its regions and interrupts, and the functions of
 *    <libassign/host.h>) is used by one thread at a time, together with the
 *    objects derived from it, and not while a thread-safe object built on
 *    it (a vpci on its device, a guestmem on its IOMMU) is in use on
 *    another thread. No call may race with the last unref of its object.
 *  - Every file descriptor the library opens is O_CLOEXEC.
 */
#ifndef LIBASSIGN_LIBASSIGN_H
#define LIBASSIGN_LIBASSIGN_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * struct assign_ctx - library context
 *
 * Holds logging configuration, the last error messages (one per thread)
 * and the link to the kernel (sysfs and device nodes). Every other object
 * belongs to a context. A context may be shared by threads.
 */
struct assign_ctx;

/**
 * assign_version() - version of the library at run time
 *
 * Return: a static string such as "0.1.0".
 */
const char *assign_version(void);

/**
 * assign_ctx_new() - create a library context
 * @ret: where to store the new context, with one reference
 *
 * The log priority starts at LOG_WARNING (syslog numbering), or at the
 * value of the ASSIGN_LOG environment variable: a number 0-7 or one of
 * "err", "warning", "notice", "info", "debug". Failures are not logged
 * (they are reported by return values and assign_ctx_get_last_error());
 * warnings are, to stderr until assign_ctx_set_log_fn() says otherwise.
 *
 * The context keeps a last error per thread. Every thread that fails on it
 * gets a message buffer, freed when the thread exits or the context is
 * freed.
 *
 * Return: 0, -EINVAL if @ret is NULL, -ENOMEM, -EAGAIN if the process has
 * no thread-specific data key left for the last errors, or a negative
 * errno from opening /sys (-ENOENT when sysfs is not mounted).
 */
int assign_ctx_new(struct assign_ctx **ret);

/**
 * assign_ctx_ref() - take a reference on a context
 * @ctx: the context, or NULL
 *
 * Return: @ctx.
 */
struct assign_ctx *assign_ctx_ref(struct assign_ctx *ctx);

/**
 * assign_ctx_unref() - drop a reference on a context
 * @ctx: the context, or NULL
 *
 * Frees the context when the last reference is dropped.
 *
 * Return: NULL.
 */
struct assign_ctx *assign_ctx_unref(struct assign_ctx *ctx);

/**
 * assign_ctx_set_log_fn() - route log messages to a callback
 * @ctx: the context
 * @log_fn: called for each message at or below the log priority; NULL
 *          restores the default (stderr)
 * @data: opaque pointer handed back by assign_ctx_get_log_data()
 *
 * @log_fn receives the syslog priority, the source file, line and function
 * that logged, and a printf format with its arguments (no trailing newline).
 * It is called on whichever thread logs, so it must be thread-safe if the
 * context is shared. Set it before other threads use the context.
 */
void assign_ctx_set_log_fn(struct assign_ctx *ctx,
			   void (*log_fn)(struct assign_ctx *ctx, int priority,
					  const char *file, int line,
					  const char *fn, const char *format,
					  va_list args),
			   void *data);

/**
 * assign_ctx_get_log_data() - the data pointer given to assign_ctx_set_log_fn()
 * @ctx: the context
 *
 * Return: the pointer, or NULL if none was set.
 */
void *assign_ctx_get_log_data(const struct assign_ctx *ctx);

/**
 * assign_ctx_set_log_priority() - set the most verbose priority logged
 * @ctx: the context
 * @priority: a syslog priority, LOG_EMERG (0) to LOG_DEBUG (7); values
 *            outside the range are clamped
 *
 * What each priority shows (docs/errors.md): LOG_WARNING, the default,
 * the warnings the caller could not see otherwise (no-IOMMU mode, a
 * mapping a rollback could not remove); LOG_NOTICE, state the library
 * changed on its own; LOG_INFO, its choices; LOG_DEBUG, traces, among them
 * every failure with the file, line and function that failed. Failures
 * are never logged below LOG_DEBUG. May be called from any thread at any
 * time.
 */
void assign_ctx_set_log_priority(struct assign_ctx *ctx, int priority);

/**
 * assign_ctx_get_log_priority() - the current log priority
 * @ctx: the context
 *
 * Return: a syslog priority, 0 to 7.
 */
int assign_ctx_get_log_priority(const struct assign_ctx *ctx);

/**
 * assign_ctx_get_last_error() - the calling thread's last failure, explained
 * @ctx: the context
 *
 * The last error is kept per thread, as errno is: each call on an object of
 * @ctx that fails replaces the calling thread's message, successful calls
 * leave it alone, and other threads' failures never touch it. Also true of
 * the functions of libassign-host. The message is one line, names the
 * object and the cause, and where possible the fix, e.g. "group 7 is not
 * viable: 0000:00:1f.3 is bound to i801_smbus; bind it to vfio-pci or
 * unbind it".
 *
 * Return: the message, or "" if nothing has failed on this thread since
 * the context was created or the thread called
 * assign_ctx_clear_last_error(). Valid until the calling thread's next
 * call on @ctx.
 */
const char *assign_ctx_get_last_error(const struct assign_ctx *ctx);

/**
 * assign_ctx_clear_last_error() - forget this thread's last error message
 * @ctx: the context
 *
 * Other threads' messages are left as they are.
 */
void assign_ctx_clear_last_error(struct assign_ctx *ctx);

/**
 * struct assign_pci_addr - a PCI address (domain:bus:device.function)
 * @domain: PCI segment
 * @bus: bus number
 * @dev: device number, 0-31
 * @fn: function number, 0-7
 */
struct assign_pci_addr {
	uint16_t domain;
	uint8_t bus;
	uint8_t dev;
	uint8_t fn;
};

/** ASSIGN_PCI_ADDR_LEN - buffer size for a formatted address, with NUL */
#define ASSIGN_PCI_ADDR_LEN 13

/**
 * assign_pci_addr_parse() - parse "DDDD:BB:DD.F" or "BB:DD.F"
 * @str: the text; hex digits, case-insensitive; domain defaults to 0
 * @addr: where to store the result (untouched on failure)
 *
 * Return: 0, or -EINVAL if @str is not a PCI address (device above 0x1f,
 * function above 7, trailing characters, empty fields).
 */
int assign_pci_addr_parse(const char *str, struct assign_pci_addr *addr);

/**
 * assign_pci_addr_format() - format an address as "dddd:bb:dd.f"
 * @addr: the address
 * @buf: output buffer
 * @len: size of @buf; ASSIGN_PCI_ADDR_LEN is always enough
 *
 * Return: 0, or -ENOSPC if @buf is too small (then @buf holds "" if @len > 0).
 */
int assign_pci_addr_format(const struct assign_pci_addr *addr, char *buf,
			   size_t len);

#ifdef __cplusplus
}
#endif

#include <libassign/iommu.h>
#include <libassign/handoff.h>
#include <libassign/device.h>
#include <libassign/pci.h>
#include <libassign/guestmem.h>
#include <libassign/vpci.h>
#include <libassign/kvm.h>
#include <libassign/migration.h>

#endif /* LIBASSIGN_LIBASSIGN_H */
