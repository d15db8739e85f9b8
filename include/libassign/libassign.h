/* SPDX-License-Identifier: MIT */
/*
 * libassign: hand host PCI devices to guests through Linux VFIO.
 *
 * This is the umbrella header of libassign: it declares the library context
 * and pulls in every other header of libassign. The host preparation API,
 * <libassign/host.h>, belongs to the separate library libassign-host
 * (pkg-config libassign-host) and is included on its own. See docs/architecture.md for the object model
 * and docs/errors.md for the error conventions.
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
 *  - On failure the context's last error (assign_ctx_get_last_error()) holds a
 *    one-line message naming the cause and, where there is one, the fix.
 *  - Every file descriptor the library opens is O_CLOEXEC.
 *  - Thread safety: an object and the objects derived from it may be used by
 *    one thread at a time; different contexts are independent. Functions
 *    documented as "thread-safe" are the exceptions.
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

/**
 * struct assign_ctx - library context
 *
 * Holds logging configuration, the last error message and the link to the
 * kernel (sysfs and device nodes). Every other object belongs to a context.
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
 * The log priority starts at LOG_ERR (syslog numbering) or at the value of
 * the ASSIGN_LOG environment variable: a number 0-7 or one of "err",
 * "warning", "notice", "info", "debug". Messages go to stderr until
 * assign_ctx_set_log_fn() says otherwise.
 *
 * Return: 0, -EINVAL if @ret is NULL, -ENOMEM, or a negative errno from
 * opening /sys (-ENOENT when sysfs is not mounted).
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
 * assign_ctx_get_last_error() - the message explaining the last failure
 * @ctx: the context
 *
 * Each failing call on an object of @ctx replaces the message; successful
 * calls leave it alone. The message is one line, names the object and the
 * cause, and where possible the fix, e.g. "group 7 is not viable:
 * 0000:00:1f.3 is bound to i801_smbus; bind it to vfio-pci or unbind it".
 *
 * Return: the message, or "" if nothing has failed since the context was
 * created or assign_ctx_clear_last_error() was called. Valid until the next call
 * on @ctx.
 */
const char *assign_ctx_get_last_error(const struct assign_ctx *ctx);

/**
 * assign_ctx_clear_last_error() - forget the last error message
 * @ctx: the context
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
#include <libassign/device.h>
#include <libassign/pci.h>
#include <libassign/guestmem.h>
#include <libassign/vpci.h>
#include <libassign/kvm.h>

#endif /* LIBASSIGN_LIBASSIGN_H */
