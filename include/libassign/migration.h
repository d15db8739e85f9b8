/* SPDX-License-Identifier: MIT */
/*
 * libassign live migration: the VFIO migration v2 state machine of an
 * assigned device, its state streamed in a versioned, self-describing
 * framing of libassign's own, and dirty tracking of guest memory over the
 * trackers the kernel offers. docs/migration.md gives the sequence a VMM
 * follows, with the calls of each step.
 *
 * Threads: a migration object is used by one thread at a time, with its
 * device; so is a dirty tracker, with its IOMMU object.
 */
#ifndef LIBASSIGN_MIGRATION_H
#define LIBASSIGN_MIGRATION_H

#include <stddef.h>
#include <stdint.h>

#include <libassign/libassign.h>

#ifdef __cplusplus
extern "C" {
#endif

struct assign_device;
struct assign_iommu;
/*
 * struct assign_migration - the migration of one device
 *
 * Made by assign_migration_new() on a device whose driver implements VFIO
 * migration v2; holds a reference on the device, the data fd of the
 * current session and the state of the stream being written or read.
 */
struct assign_migration;
/*
 * struct assign_dirty - dirty tracking of the memory an IOMMU object maps
 *
 * Made by assign_dirty_new(), which starts tracking; holds references on
 * the IOMMU object and the devices it was given.
 */
struct assign_dirty;

/**
 * enum assign_migration_state - the migration states of a device
 * @ASSIGN_MIGRATION_STATE_ERROR: the device failed an arc and could not go
 *	back to a valid state; only a reset leaves it (to RUNNING)
 * @ASSIGN_MIGRATION_STATE_STOP: stopped: no DMA, no interrupts, internal
 *	state frozen
 * @ASSIGN_MIGRATION_STATE_RUNNING: running normally
 * @ASSIGN_MIGRATION_STATE_STOP_COPY: stopped, its state being read out
 * @ASSIGN_MIGRATION_STATE_RESUMING: stopped, a state being written in
 * @ASSIGN_MIGRATION_STATE_RUNNING_P2P: running, but starting no
 *	peer-to-peer DMA (needs %ASSIGN_MIGRATION_F_P2P)
 * @ASSIGN_MIGRATION_STATE_PRE_COPY: running, its state being read out ahead
 *	of STOP_COPY (needs %ASSIGN_MIGRATION_F_PRE_COPY)
 * @ASSIGN_MIGRATION_STATE_PRE_COPY_P2P: PRE_COPY without peer-to-peer DMA
 *	(needs both)
 *
 * The values are the kernel's (enum vfio_device_mig_state).
 */
enum assign_migration_state {
	ASSIGN_MIGRATION_STATE_ERROR = 0,
	ASSIGN_MIGRATION_STATE_STOP = 1,
	ASSIGN_MIGRATION_STATE_RUNNING = 2,
	ASSIGN_MIGRATION_STATE_STOP_COPY = 3,
	ASSIGN_MIGRATION_STATE_RESUMING = 4,
	ASSIGN_MIGRATION_STATE_RUNNING_P2P = 5,
	ASSIGN_MIGRATION_STATE_PRE_COPY = 6,
	ASSIGN_MIGRATION_STATE_PRE_COPY_P2P = 7,
};

/** The device supports STOP, STOP_COPY and RESUMING (always set). */
#define ASSIGN_MIGRATION_F_STOP_COPY (1u << 0)
/** The device supports RUNNING_P2P. */
#define ASSIGN_MIGRATION_F_P2P (1u << 1)
/** The device supports PRE_COPY (and PRE_COPY_P2P with P2P). */
#define ASSIGN_MIGRATION_F_PRE_COPY (1u << 2)
/**
 * ASSIGN_MIGRATION_F_NO_RESET - option: when an arc leaves the device in
 * ERROR, leave it there instead of resetting it
 * (assign_migration_recover() does it later)
 */
#define ASSIGN_MIGRATION_F_NO_RESET (1u << 16)

/**
 * ASSIGN_MIGRATION_F_NO_DATA_CRC - option: the stream's data records carry
 * no CRC-32C of their data (the stream's header and every record header
 * still do). The CRC costs about one memory copy of the data; leave it
 * out only over a transport that checks integrity itself (a local pipe,
 * TLS). The stream says so, and the reader follows.
 */
#define ASSIGN_MIGRATION_F_NO_DATA_CRC (1u << 17)

/**
 * struct assign_migration_opts - options for assign_migration_new()
 * @size: sizeof(struct assign_migration_opts)
 * @flags: %ASSIGN_MIGRATION_F_NO_RESET, %ASSIGN_MIGRATION_F_NO_DATA_CRC
 * @record_size: the most device data one record of the stream carries:
 *	0 for 1 MiB, else 4 KiB to 64 MiB; the reader accepts any record up
 *	to 64 MiB, whatever its own setting
 */
struct assign_migration_opts {
	size_t size;
	uint32_t flags;
	uint32_t record_size;
};

/**
 * assign_migration_new() - probe a device's migration support
 * @dev: the device
 * @opts: options, or NULL
 * @ret: where to store the migration object, with one reference
 *
 * Reads VFIO_DEVICE_FEATURE_MIGRATION (the states the device supports)
 * and the device's identity from its config space (vendor, device,
 * subsystem and class), which the stream carries so that a destination
 * refuses a stream made for another kind of device.
 *
 * Return: 0; -EOPNOTSUPP when the device's driver does not implement
 * migration (the message names the device and says which drivers do);
 * -EPROTO when the kernel reports flags without STOP_COPY; -EINVAL (NULL
 * argument, bad @opts); -ENOMEM; other kernel errors.
 */
int assign_migration_new(struct assign_device *dev,
			 const struct assign_migration_opts *opts,
			 struct assign_migration **ret);

/**
 * assign_migration_ref() - take a reference
 * @mig: the migration object, or NULL
 *
 * Return: @mig.
 */
struct assign_migration *assign_migration_ref(struct assign_migration *mig);

/**
 * assign_migration_unref() - drop a reference
 * @mig: the migration object, or NULL
 *
 * The last reference closes the data fd of a session still open; the
 * device stays in the state it is in.
 *
 * Return: NULL.
 */
struct assign_migration *assign_migration_unref(struct assign_migration *mig);

/**
 * assign_migration_get_device() - the device being migrated
 * @mig: the migration object
 *
 * Return: the device (no new reference), or NULL for a NULL @mig.
 */
struct assign_device *
assign_migration_get_device(const struct assign_migration *mig);

/**
 * assign_migration_get_flags() - the migration features of the device
 * @mig: the migration object
 *
 * Return: %ASSIGN_MIGRATION_F_STOP_COPY, %ASSIGN_MIGRATION_F_P2P and
 * %ASSIGN_MIGRATION_F_PRE_COPY as the kernel reports them; 0 for a NULL
 * @mig.
 */
uint32_t assign_migration_get_flags(const struct assign_migration *mig);

/**
 * assign_migration_get_state() - the device's migration state
 * @mig: the migration object
 * @state: where to store it
 *
 * Asks the kernel (VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE, GET).
 *
 * Return: 0; -EINVAL (NULL argument); -EPROTO (a state the library does
 * not know); other kernel errors.
 */
int assign_migration_get_state(struct assign_migration *mig,
			       enum assign_migration_state *state);

/**
 * assign_migration_set_state() - move the device to a state
 * @mig: the migration object
 * @state: the state wanted
 *
 * Walks the arcs of the kernel's state machine from the device's state to
 * @state, one VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE call per arc, along the
 * path assign_migration_get_path() gives: the shortest one, through no
 * saving state (PRE_COPY, PRE_COPY_P2P, STOP_COPY) on the way, passing
 * over the optional states the device lacks. Entering PRE_COPY,
 * PRE_COPY_P2P or STOP_COPY from outside them starts a saving session,
 * entering RESUMING a resuming one, for assign_migration_save() and
 * assign_migration_load(); leaving them ends it.
 *
 * When an arc fails the device is where the kernel left it: the message
 * names the arc, the error and that state. A device left in ERROR, or
 * left in RESUMING after refusing the data it was given, is reset to
 * RUNNING (its state is lost) and the message says so, unless the object
 * was made with %ASSIGN_MIGRATION_F_NO_RESET.
 *
 * Return: 0; -EOPNOTSUPP (@state needs a feature the device lacks: the
 * message names it); -EINVAL (@state is ERROR or unknown, or no arc leads
 * there: STOP_COPY never goes back to PRE_COPY or PRE_COPY_P2P); -EIO
 * (the device is in ERROR: assign_migration_recover() first); -EPROTO
 * (the kernel gave no data fd when starting a session); the errno of the
 * arc that failed.
 */
int assign_migration_set_state(struct assign_migration *mig,
			       enum assign_migration_state state);

/**
 * assign_migration_get_path() - the arcs from one state to another
 * @mig: the migration object
 * @from: the starting state
 * @to: the state wanted
 * @path: array to fill with the states entered, in order (@to last), may
 *	be NULL if @max is 0
 * @max: its capacity
 * @n: where to store the number of arcs (0 when @from is @to)
 *
 * What assign_migration_set_state() would do from @from, without doing it.
 *
 * Return: 0; -EOPNOTSUPP (@from or @to needs a feature the device lacks);
 * -EINVAL (NULL @n, ERROR or an unknown state, no path).
 */
int assign_migration_get_path(const struct assign_migration *mig,
			      enum assign_migration_state from,
			      enum assign_migration_state to,
			      enum assign_migration_state *path, size_t max,
			      size_t *n);

/**
 * assign_migration_recover() - leave ERROR, or abort a session, by a reset
 * @mig: the migration object
 *
 * Resets the device (VFIO_DEVICE_RESET, as assign_device_reset() does),
 * which puts it in RUNNING with its internal state lost, and ends the
 * session of the migration object. Use it on a device in ERROR, or to
 * abort RESUMING, which only a reset ends.
 *
 * Return: 0; -EINVAL (NULL @mig); the reset's errors
 * (assign_device_reset()).
 */
int assign_migration_recover(struct assign_migration *mig);

/**
 * struct assign_migration_precopy - PRE_COPY progress
 * @size: set by the caller to sizeof(struct assign_migration_precopy); the
 *	library sets it to the bytes it filled
 * @initial_bytes: initial data the device still has to give; leave
 *	PRE_COPY for STOP_COPY only once it is 0
 * @dirty_bytes: data the device changed since it was read
 *
 * Both are estimates of the device (VFIO_MIG_GET_PRECOPY_INFO).
 */
struct assign_migration_precopy {
	size_t size;
	uint64_t initial_bytes;
	uint64_t dirty_bytes;
};

/**
 * assign_migration_get_precopy() - PRE_COPY progress
 * @mig: the migration object
 * @info: where to store it, with @info->size set by the caller
 *
 * Return: 0; -EINVAL (NULL argument, @info->size not set, or the device is
 * not in PRE_COPY or PRE_COPY_P2P); -EIO (the device is in ERROR); other
 * kernel errors.
 */
int assign_migration_get_precopy(struct assign_migration *mig,
				 struct assign_migration_precopy *info);

/**
 * assign_migration_get_data_size() - estimated size of STOP_COPY's data
 * @mig: the migration object
 * @bytes: where to store it
 *
 * VFIO_DEVICE_FEATURE_MIG_DATA_SIZE: what the device expects STOP_COPY
 * to stream, in any state. A VMM weighs it against the link's speed to
 * decide when to stop the guest.
 *
 * Return: 0; -EINVAL (NULL argument); -EOPNOTSUPP (the kernel or driver
 * cannot tell); other kernel errors.
 */
int assign_migration_get_data_size(struct assign_migration *mig,
				   uint64_t *bytes);

/**
 * assign_migration_save() - stream the device's state out
 * @mig: the migration object, its device in PRE_COPY, PRE_COPY_P2P or
 *	STOP_COPY
 * @fd: a blocking fd to write the stream to (a pipe, a socket, a file);
 *	the caller owns it
 * @max_bytes: the most device data to move in this call, 0 for no limit
 * @bytes: where to add the device data moved, or NULL
 *
 * The first call of a session writes the stream's header (format version,
 * the device's identity); every call then moves what the device has as
 * records, each checked with a CRC-32C (its data too, unless the object
 * was made with %ASSIGN_MIGRATION_F_NO_DATA_CRC). In PRE_COPY it stops at the
 * device's temporary end of data (or at @max_bytes) and marks the end of
 * a round; in STOP_COPY it goes on to the end of the device's data and
 * writes the end record, which carries the totals.
 *
 * Return: 1 when the end record was written (the stream is complete), 0
 * when more may follow (a PRE_COPY round, or @max_bytes reached); -EINVAL
 * (NULL @mig, the device is in no saving state, the stream is already
 * complete); -EIO (the device is in ERROR); -EAGAIN (@fd is
 * non-blocking); the errors of reading the data fd or writing @fd (a
 * record may then be cut: the stream is lost).
 */
int assign_migration_save(struct assign_migration *mig, int fd,
			  uint64_t max_bytes, uint64_t *bytes);

/**
 * assign_migration_load() - stream a state into the device
 * @mig: the migration object, its device in RESUMING
 * @fd: a blocking fd to read the stream from; the caller owns it
 * @bytes: where to add the device data moved, or NULL
 *
 * The first call of a session reads and checks the stream's header: its
 * magic, its format version and the identity of the device it was made
 * from, which must be of the same vendor, device and subsystem. Every
 * call then checks each record (CRC-32C, sequence, type, length) and
 * writes its data to the device, up to the end of a round or the end of
 * the stream, whose totals are checked. Once it returns 1, move the
 * device out of RESUMING (to RUNNING, say): the driver checks the state
 * then.
 *
 * A refused stream leaves the device usable: still in RESUMING when no
 * data was written to it yet (another stream can follow), otherwise reset
 * to RUNNING, since only a reset aborts RESUMING (a write the driver
 * refused counts as written: it may have taken the bytes in); the message
 * says which.
 *
 * Return: 1 at the end of the stream, 0 at the end of a round; -EINVAL
 * (NULL @mig, the device is not in RESUMING, the stream was already
 * complete); -EIO (the device is in ERROR); -EBADMSG (not a libassign
 * stream, damaged, out of sequence, or made from another kind of device:
 * the message says which); -EPROTONOSUPPORT (made by a newer libassign);
 * -ENODATA (the stream ends before its end record); the errors of reading
 * @fd or writing the data fd (the device refusing its data).
 */
int assign_migration_load(struct assign_migration *mig, int fd,
			  uint64_t *bytes);

/**
 * enum assign_dirty_tracker - who tracks the pages devices write
 * @ASSIGN_DIRTY_TRACKER_AUTO: the most precise one available: the devices'
 *	own DMA logging when every device has it, else the IOMMU's dirty
 *	bits (iommufd), else type1's
 * @ASSIGN_DIRTY_TRACKER_TYPE1: VFIO_IOMMU_DIRTY_PAGES on the type1
 *	container
 * @ASSIGN_DIRTY_TRACKER_IOMMUFD: an iommufd HWPT allocated with dirty
 *	tracking, which the devices are attached to while tracking; needs an
 *	IOMMU with dirty bits (Intel VT-d second-stage A/D, AMD, Arm SMMUv3
 *	HTTU)
 * @ASSIGN_DIRTY_TRACKER_DEVICE: the devices' DMA logging
 *	(VFIO_DEVICE_FEATURE_DMA_LOGGING_*), over the ranges mapped when
 *	tracking starts
 */
enum assign_dirty_tracker {
	ASSIGN_DIRTY_TRACKER_AUTO = 0,
	ASSIGN_DIRTY_TRACKER_TYPE1 = 1,
	ASSIGN_DIRTY_TRACKER_IOMMUFD = 2,
	ASSIGN_DIRTY_TRACKER_DEVICE = 3,
};

/**
 * enum assign_dirty_precision - what a set bit means
 * @ASSIGN_DIRTY_PRECISION_ALL_MAPPED: nothing: every mapped page is
 *	reported dirty at every fetch (type1 with a device behind an IOMMU,
 *	which the kernel cannot watch); the VMM sends all of guest RAM each
 *	round
 * @ASSIGN_DIRTY_PRECISION_PINNED: pages the vendor drivers pinned since
 *	the last fetch, the only ones their devices can write (type1 whose
 *	groups are all emulated ones, such as mdevs)
 * @ASSIGN_DIRTY_PRECISION_WRITTEN: pages written by DMA since the last
 *	fetch, as the IOMMU or the devices saw them; pages outside what the
 *	devices log (mapped after tracking started) are reported dirty
 */
enum assign_dirty_precision {
	ASSIGN_DIRTY_PRECISION_ALL_MAPPED = 1,
	ASSIGN_DIRTY_PRECISION_PINNED = 2,
	ASSIGN_DIRTY_PRECISION_WRITTEN = 3,
};

/**
 * struct assign_dirty_opts - options for assign_dirty_new()
 * @size: sizeof(struct assign_dirty_opts)
 * @tracker: the tracker wanted, or %ASSIGN_DIRTY_TRACKER_AUTO
 * @flags: reserved, must be 0
 * @page_size: the IOVA each bit stands for, a power of two: 0 for the
 *	smallest the tracker allows (type1 allows only that one)
 * @devices: the devices that do DMA through the IOMMU object; the IOMMUFD
 *	and DEVICE trackers need every device attached to it (one left out
 *	would write guest memory unseen); type1 needs none
 * @ndevices: how many
 */
struct assign_dirty_opts {
	size_t size;
	enum assign_dirty_tracker tracker;
	uint32_t flags;
	uint64_t page_size;
	struct assign_device *const *devices;
	size_t ndevices;
};

/**
 * assign_dirty_new() - start tracking the pages devices write
 * @iommu: the IOMMU object whose mappings are guest memory
 * @opts: options, or NULL (AUTO, without devices: type1 only)
 * @ret: where to store the tracker, with one reference
 *
 * Start it before the first copy of guest RAM: a page written after its
 * copy is then reported and sent again. One tracker per IOMMU object at a
 * time.
 *
 * Return: 0; -EOPNOTSUPP (no tracker available, or not the one asked: the
 * message says why each is missing, for instance an IOMMU without dirty
 * bits, as the lab's emulated Intel IOMMU); -EINVAL (bad @opts, a device
 * of another IOMMU object, a devices list that leaves out an attached
 * device, a page size the tracker cannot use); -EBUSY (another tracker is
 * running on @iommu); -ENODEV (no device attached: nothing to track);
 * -EPERM (no-IOMMU mode); -ENOMEM; other kernel errors.
 */
int assign_dirty_new(struct assign_iommu *iommu,
		     const struct assign_dirty_opts *opts,
		     struct assign_dirty **ret);

/**
 * assign_dirty_ref() - take a reference
 * @dirty: the tracker, or NULL
 *
 * Return: @dirty.
 */
struct assign_dirty *assign_dirty_ref(struct assign_dirty *dirty);

/**
 * assign_dirty_unref() - drop a reference
 * @dirty: the tracker, or NULL
 *
 * The last reference stops tracking if assign_dirty_stop() did not (a
 * failure is logged as a warning).
 *
 * Return: NULL.
 */
struct assign_dirty *assign_dirty_unref(struct assign_dirty *dirty);

/**
 * assign_dirty_stop() - stop tracking
 * @dirty: the tracker
 *
 * Stops the tracker and undoes what starting it did (iommufd: the devices
 * go back to the IOAS and the HWPT is destroyed). Stopping twice is a
 * no-op; bitmaps cannot be fetched afterwards.
 *
 * Return: 0; -EINVAL (NULL @dirty); the first kernel error: the tracker
 * then still runs, and the next assign_dirty_stop() or the last unref
 * tries again.
 */
int assign_dirty_stop(struct assign_dirty *dirty);

/**
 * struct assign_dirty_info - what a tracker is and how precise
 * @size: set by the caller to sizeof(struct assign_dirty_info); the
 *	library sets it to the bytes it filled
 * @tracker: the tracker in use (never AUTO)
 * @precision: what its bits mean
 * @page_size: the IOVA each bit stands for
 * @max_length: the most IOVA one assign_dirty_get_bitmap() may cover
 */
struct assign_dirty_info {
	size_t size;
	enum assign_dirty_tracker tracker;
	enum assign_dirty_precision precision;
	uint64_t page_size;
	uint64_t max_length;
};

/**
 * assign_dirty_get_info() - the tracker in use and its precision
 * @dirty: the tracker
 * @info: where to store it, with @info->size set by the caller
 *
 * Return: 0; -EINVAL (NULL argument, @info->size not set).
 */
int assign_dirty_get_info(const struct assign_dirty *dirty,
			  struct assign_dirty_info *info);

/**
 * assign_dirty_get_bitmap() - fetch and clear the dirty pages of a range
 * @dirty: the tracker
 * @iova: start of the range, a multiple of the page size
 * @length: its length, a multiple of the page size
 * @bitmap: one bit per page (bit i of word i / 64 for the page at
 *	@iova + i * page size), 8-byte aligned; the library clears it first
 * @bitmap_size: its size in bytes, at least the pages rounded up to 64,
 *	divided by 8
 *
 * The whole range must be mapped on the IOMMU object. The type1 tracker
 * reports whole mappings only: the range may not start or end inside one.
 * A page written during the call is in this bitmap or the next.
 *
 * Return: 0; -EINVAL (NULL argument, misaligned range or bitmap, a bitmap
 * too small, type1 cutting a mapping, tracking stopped); -ENOENT (part of
 * the range is not mapped: the message names it); -E2BIG (longer than
 * @max_length of assign_dirty_get_info()); -EBUSY (a device was attached
 * to or detached from the IOMMU object since tracking started: stop and
 * start again); other kernel errors (the bits of that fetch are lost:
 * consider every page dirty).
 */
int assign_dirty_get_bitmap(struct assign_dirty *dirty, uint64_t iova,
			    uint64_t length, uint64_t *bitmap,
			    size_t bitmap_size);

#ifdef __cplusplus
}
#endif

#endif /* LIBASSIGN_MIGRATION_H */
