/* SPDX-License-Identifier: MIT */
/*
 * The device layer's internal header (docs/architecture.md): the VFIO
 * device object, its cached regions and interrupt state, shared by
 * device.c (open, info, features), region.c, irq.c, reset.c and bars.c;
 * the migration object (migration.c, mig_io.c), the stream framing
 * (mig_stream.c) and dirty tracking (dirty.c).
 * The layers above (vmm) use the public API and what is declared here.
 * Never installed.
 */
#ifndef LIBASSIGN_DEVICE_LAYER_H
#define LIBASSIGN_DEVICE_LAYER_H

#include <libassign/device.h>
#include <libassign/migration.h>

#include "iommu/iommu.h"

/* A cached region: the public info plus what the library keeps. */
struct dev_region {
	bool loaded;                  /* info read from the kernel */
	struct assign_region_info info;
	struct assign_mmap_area *areas; /* malloc'ed, info.areas points here */
	void *map;                    /* base of the reservation, or NULL */
	size_t map_len;               /* length of the reservation */
};

/* What the library enabled on an interrupt index. */
struct dev_irq {
	bool info_loaded;
	struct assign_irq_info info;
	uint32_t nvec;                /* vectors enabled (0: disabled) */
	int *fds; /* info.count eventfds given, -1 if none */
};

struct assign_device {
	int refcount;
	struct assign_ctx *ctx;
	struct assign_iommu *iommu;   /* reference held */
	char addr[DEVPATH_NAME_MAX]; /* its name: PCI address, UUID... */
	bool has_pci_addr; /* @addr is a PCI address */
	struct assign_attach att;
	struct assign_device_info info;
	struct dev_region *regions;   /* info.num_regions entries */
	struct dev_irq *irqs;         /* info.num_irqs entries */
};

/* region.c */
void dev_regions_release(struct assign_device *dev);
/* irq.c */
/* Disable what the library enabled; @device_only: INTx/MSI/MSI-X only,
 * leaving the ERR and REQ notifications armed (a reset does not touch
 * them). Returns the first error. */
int dev_irqs_disable_all(struct assign_device *dev, bool device_only);
/* Forget INTx/MSI/MSI-X state after a reset. */
void dev_irqs_forget(struct assign_device *dev);
void dev_irqs_release(struct assign_device *dev);

/* ---- migration (docs/migration.md) ---------------------------------- */

/*
 * The stream framing of mig_stream.c, version 1, little endian:
 *
 * header (108 bytes): magic "\x89LASMIG\n", u16 version, u16 header size,
 *   u32 flags (NO_DATA_CRC or 0), u16 vendor, device, subsystem vendor,
 *   subsystem device,
 *   u32 class code, u32 migration flags, u64 estimated data size, 64 bytes
 *   of source device name (NUL padded: a PCI address, an mdev UUID, a
 *   platform device's name), u32 CRC-32C of the bytes before.
 * record: u32 type, u32 flags, u64 sequence number (from 0), u32 payload
 *   length, u32 CRC-32C of those 20 bytes; the payload; when the length
 *   is not 0, u32 CRC-32C of the payload, except for DATA records when
 *   the header says NO_DATA_CRC (for transports that check integrity
 *   themselves: the CRC costs about one memory copy of the data).
 * types: DATA (device data), SYNC (the end of a PRE_COPY round, or of a
 *   call's share), END (u64 data bytes, u64 DATA records: the totals).
 *   A record type a reader does not know is skipped when its flags say
 *   OPTIONAL, refused otherwise.
 */
#define MIG_STREAM_VERSION 1u
#define MIG_HDR_SIZE 108u
#define MIG_HDR_MAX 4096u
#define MIG_REC_HDR_SIZE 24u
#define MIG_REC_MAX (64u << 20)
#define MIG_REC_DATA 1u
#define MIG_REC_SYNC 2u
#define MIG_REC_END 3u
#define MIG_REC_F_OPTIONAL 1u
#define MIG_END_PAYLOAD 16u
#define MIG_HDR_F_NO_DATA_CRC 1u

/* What a stream says about the device it was made from. */
struct mig_ident {
	uint32_t stream_flags; /* MIG_HDR_F_* */
	uint16_t vendor, device, subvendor, subdevice;
	uint32_t class_code;
	uint32_t mig_flags;
	uint64_t data_size;
	char source[64];
};

/* Fill @out with the stream header for @id. */
void mig_header_encode(uint8_t out[MIG_HDR_SIZE], const struct mig_ident *id);
/*
 * A record: the caller put @len bytes of payload at @buf +
 * MIG_REC_HDR_SIZE; this writes the header before it and, with @crc, the
 * payload's CRC after it. Returns the record's total size.
 */
size_t mig_record_encode(uint8_t *buf, uint32_t type, uint32_t flags,
			 uint64_t seq, uint32_t len, bool crc);

/*
 * A stream being read. The caller sets read() (up to n bytes: > 0, 0 at
 * the end of the stream, or -errno), sink() (device data: 0 or -errno)
 * and arg; mig_reader_reset() clears the rest. On an error, msg says
 * what was wrong, without the device's name.
 */
struct mig_reader {
	ssize_t (*read)(void *arg, void *buf, size_t n);
	int (*sink)(void *arg, const void *buf, size_t n);
	void *arg;
	bool have_header, ended;
	struct mig_ident ident;
	uint64_t seq; /* the next record's sequence number */
	uint64_t offset; /* stream bytes read */
	uint64_t data_bytes, data_records;
	uint8_t *buf; /* payload buffer, malloc'ed */
	size_t cap;
	char msg[256];
};
void mig_reader_reset(struct mig_reader *r);
void mig_reader_release(struct mig_reader *r);
/* The header: 0, -EBADMSG, -EPROTONOSUPPORT, -ENODATA, read errors. */
int mig_read_header(struct mig_reader *r);
/* Records up to a SYNC (0) or the END (1); errors as above, and the
 * sink's. */
int mig_read_records(struct mig_reader *r);

enum mig_session { MIG_NONE, MIG_SAVING, MIG_RESUMING };

struct assign_migration {
	int refcount;
	struct assign_ctx *ctx;
	struct assign_device *dev; /* reference held */
	uint32_t flags; /* ASSIGN_MIGRATION_F_* of the device */
	uint32_t opt_flags;
	uint32_t record_size;
	struct mig_ident ident;
	/* The data fd of the session the object started, or -1. */
	int datafd;
	enum mig_session session;
	/* The stream being written (save). */
	bool out_started, out_ended;
	uint64_t out_seq, out_bytes, out_records;
	uint8_t *out_buf; /* a record: header, payload, CRC */
	/* The stream being read (load). */
	struct mig_reader in;
	uint64_t in_written; /* data bytes the device took */
	bool in_tried; /* data was written to the device, taken or not */
};

/* migration.c */
/* The device's state from the kernel: 0 or -errno, without a message. */
int mig_kernel_state(struct assign_migration *mig,
		     enum assign_migration_state *state);
/* The state, with messages; -EIO when it is ERROR. @what names the call
 * for the message. */
int mig_usable_state(struct assign_migration *mig,
		     enum assign_migration_state *state, const char *what);
/* End the object's session: close its data fd. */
void mig_end_session(struct assign_migration *mig);
/* VFIO_DEVICE_RESET as recovery (no ASSIGN_DEVICE_F_RESET needed:
 * migration drivers reset out of ERROR); ends the session. 0 or -errno,
 * without a message. */
int mig_reset(struct assign_migration *mig);
const char *mig_state_name(enum assign_migration_state s);

#endif /* LIBASSIGN_DEVICE_LAYER_H */
