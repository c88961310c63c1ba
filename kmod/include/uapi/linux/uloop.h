/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * uloop.h - the interface of uloop.ko, a block device whose blocks are read
 * from a cache file in the kernel when present and fetched by a userspace
 * daemon when missing.
 *
 * Objects:
 *   /dev/uloop-control   misc device; every ioctl needs CAP_SYS_ADMIN
 *   /dev/uloopN          the block device (read-only)
 *   session fd           one per attached daemon (anon inode, O_CLOEXEC),
 *                        returned by ULOOP_CTL_ADD and ULOOP_CTL_ATTACH
 *
 * Layout served: image byte X is cache byte data_offset + X.  The device's
 * capacity is image_size rounded up to 512 bytes; bytes past image_size
 * read as zeros.
 *
 * The daemon's loop: read() struct uloop_miss records from the session fd
 * (poll() for POLLIN), make the blocks covering [offset, offset + length)
 * readable in the cache file (pwrite is enough: the driver reads through the
 * same file), then ULOOP_SESS_COMPLETE with result 0.  The driver marks
 * those blocks present in its in-memory bitmap and serves the request, and
 * every later read of them, from the cache file without the daemon, until
 * the daemon withdraws them with ULOOP_SESS_CLEAR_PRESENT.
 * Durability of the data and of the on-disk bitmap is the daemon's business.
 *
 * Every structure has explicit padding and reserved fields; reserved fields
 * and unknown flag bits must be zero, or the ioctl fails with EINVAL and
 * changes nothing.
 */
#ifndef _UAPI_LINUX_ULOOP_H
#define _UAPI_LINUX_ULOOP_H

#include <linux/const.h>
#include <linux/ioctl.h>
#include <linux/types.h>

/** ULOOP_CONTROL_NAME - the control node, /dev/uloop-control */
#define ULOOP_CONTROL_NAME	"uloop-control"

/** ULOOP_BLOCK_SHIFT_MIN - smallest cache block: 4 KiB */
#define ULOOP_BLOCK_SHIFT_MIN	12
/** ULOOP_BLOCK_SHIFT_MAX - largest cache block: 1 MiB */
#define ULOOP_BLOCK_SHIFT_MAX	20

/** ULOOP_HOLD_FOREVER - hold_timeout_ms: hold misses until a daemon attaches */
#define ULOOP_HOLD_FOREVER	0xffffffffU

/**
 * ULOOP_F_BUFFERED - serve present blocks with buffered reads of the cache
 * file even where direct I/O would work (it is used by default when the file
 * supports it and the request is aligned for it).
 */
#define ULOOP_F_BUFFERED	_BITULL(0)
/** ULOOP_F_ALL - every flag this interface knows; other bits get EINVAL */
#define ULOOP_F_ALL		(ULOOP_F_BUFFERED)

/**
 * struct uloop_dev_info - argument of ULOOP_CTL_ADD and ULOOP_CTL_ATTACH
 * @index: in: the device number N of /dev/uloopN; for ADD, -1 picks a free
 *	one; out: the device number
 * @cache_fd: in: the cache file or block device, opened for reading, at
 *	least @data_offset + @image_size bytes long (a file may be sparse); the
 *	driver keeps its own reference
 * @flags: in: ULOOP_F_* bits
 * @data_offset: in: cache offset of image byte 0; a multiple of 512
 * @image_size: in: image size in bytes, at least 1
 * @bitmap_addr: in: user address of the present-bitmap (bit i = bit i % 8
 *	of byte i / 8, 1 = block i is in the cache file), or 0 for none
 * @bitmap_len: in: its length in bytes, at least ceil(blocks / 8) when
 *	@bitmap_addr is set; bits past the last block are ignored
 * @block_shift: in: log2 of the cache block size, ULOOP_BLOCK_SHIFT_MIN to
 *	ULOOP_BLOCK_SHIFT_MAX
 * @hold_timeout_ms: in: how long misses wait for a new daemon once the
 *	session is closed; 0 fails them at once; ULOOP_HOLD_FOREVER never
 * @session_fd: out: the new session fd (O_CLOEXEC)
 * @__pad: must be zero
 * @csum_offset: in: cache offset of the checksums of the image's data, or 0
 *	for none: the little-endian CRC-32C of image bytes [4096 i, 4096 (i +
 *	1)) (the last span ends at @image_size) at @csum_offset + 4 i; a
 *	multiple of 4, the region outside [@data_offset, + @image_size) and
 *	inside the cache.  The driver then checks every hit against them
 *	before it completes the read; a span that does not match has its
 *	block's bit cleared and the request goes to the daemon as a miss
 *	(see struct uloop_miss for what the daemon owes it)
 * @reserved: must be zero
 *
 * For ATTACH, @cache_fd must name the same file (or block device) and
 * @data_offset, @image_size, @block_shift and @csum_offset must equal the
 * device's; the
 * bitmap, if given, is added to the driver's (ATTACH never clears a bit:
 * ULOOP_SESS_CLEAR_PRESENT does);
 * @flags and @hold_timeout_ms replace the device's.
 */
struct uloop_dev_info {
	__s32 index;
	__s32 cache_fd;
	__u64 flags;
	__u64 data_offset;
	__u64 image_size;
	__u64 bitmap_addr;
	__u64 bitmap_len;
	__u32 block_shift;
	__u32 hold_timeout_ms;
	__s32 session_fd;
	__u32 __pad;
	__u64 csum_offset;
	__u64 reserved[3];
};

/**
 * struct uloop_dev_remove - argument of ULOOP_CTL_REMOVE
 * @index: the device number
 * @__pad: must be zero
 * @reserved: must be zero
 */
struct uloop_dev_remove {
	__s32 index;
	__u32 __pad;
	__u64 reserved[2];
};

/** ULOOP_STATE_SESSION - a daemon's session is attached */
#define ULOOP_STATE_SESSION	_BITUL(0)
/** ULOOP_STATE_EXPIRED - the hold time ran out: misses fail until ATTACH */
#define ULOOP_STATE_EXPIRED	_BITUL(1)

/**
 * struct uloop_dev_status - argument of ULOOP_CTL_INFO
 * @index: in: the device number
 * @state: out: ULOOP_STATE_* bits
 * @flags: out: the device's ULOOP_F_* flags
 * @data_offset: out: as given to ADD
 * @image_size: out: as given to ADD
 * @block_shift: out: as given to ADD
 * @hold_timeout_ms: out: the current hold time
 * @blocks: out: number of cache blocks of the image
 * @present: out: blocks present in the driver's bitmap
 * @hits: out: requests served from the cache file at once
 * @misses: out: requests queued to a daemon
 * @inflight: out: misses handed to the daemon and not yet completed
 * @held: out: misses waiting (queued or handed out) while no daemon is
 *	attached
 * @rejected: out: completion entries rejected
 * @failed: out: requests failed with an error (daemon's error, hold
 *	timeout, removal, cache read error)
 * @csum_offset: out: as given to ADD
 * @csum_errors: out: 4 KiB spans read from the cache file for a hit that
 *	did not match their checksum
 * @reserved: in: must be zero
 */
struct uloop_dev_status {
	__s32 index;
	__u32 state;
	__u64 flags;
	__u64 data_offset;
	__u64 image_size;
	__u32 block_shift;
	__u32 hold_timeout_ms;
	__u64 blocks;
	__u64 present;
	__u64 hits;
	__u64 misses;
	__u64 inflight;
	__u64 held;
	__u64 rejected;
	__u64 failed;
	__u64 csum_offset;
	__u64 csum_errors;
	__u64 reserved[2];
};

/** ULOOP_OP_READ - struct uloop_miss.op: a read needs these bytes */
#define ULOOP_OP_READ		0

/**
 * ULOOP_M_DATA - struct uloop_miss.flags: complete this miss with
 * ULOOP_C_DATA.  The driver read the request's bytes from the cache file
 * twice (before the last completion and after it) and they failed their
 * checksums both times: what the file holds is not to be trusted for this
 * request, whatever the daemon's own reads find.  A completion without
 * ULOOP_C_DATA is served from the file once more, and fails the request with
 * EIO if that read fails its checksum again.
 */
#define ULOOP_M_DATA		_BITUL(0)

/**
 * struct uloop_miss - one record read() from a session fd
 * @tag: the request's tag, to be echoed in its completion; a generation
 *	in the high 32 bits makes it differ from the tags of the device's
 *	next 2^32 - 1 misses
 * @offset: image byte offset of the request
 * @length: bytes, clipped to the image size (never 0)
 * @op: ULOOP_OP_*
 * @flags: ULOOP_M_* bits; unknown bits may be ignored
 * @reserved: zero
 *
 * read() takes a whole number of records (at least one), blocks until one
 * is there unless the fd is O_NONBLOCK (EAGAIN), and returns the bytes of
 * the records given.  A request handed out and not completed when the
 * session is closed is handed out again, with the same tag, to the next
 * session.
 */
struct uloop_miss {
	__u64 tag;
	__u64 offset;
	__u32 length;
	__u32 op;
	__u32 flags;
	__u32 reserved;
};

/**
 * ULOOP_C_DATA - struct uloop_completion.flags: the bytes of the request are
 * at @data_addr (@length of them); the driver copies them into the request
 * and marks nothing present (for when the daemon could not store them)
 */
#define ULOOP_C_DATA		_BITUL(0)
/** ULOOP_C_ALL - every completion flag this interface knows */
#define ULOOP_C_ALL		(ULOOP_C_DATA)

/**
 * struct uloop_completion - one entry of ULOOP_SESS_COMPLETE
 * @tag: in: struct uloop_miss.tag
 * @result: in: 0, or a negative errno to fail the request with: -EIO,
 *	-ENODATA and -ENOSPC reach the reader as such, any other errno as
 *	EIO (the block layer gives some statuses meanings of their own)
 * @flags: in: ULOOP_C_* bits (only with result 0)
 * @offset: in: struct uloop_miss.offset, echoed
 * @length: in: struct uloop_miss.length, echoed
 * @status: out: 0 = applied; -ENOENT = no such tag was ever handed out;
 *	-ESTALE = the tag is no longer pending (completed already, earlier
 *	in the same batch, or failed on hold timeout); -EINVAL = malformed
 *	(offset or length not those of the miss, unknown flag, bad result,
 *	reserved field set); -EFAULT = @data_addr unreadable (the request is
 *	then failed with EIO)
 * @data_addr: in: with ULOOP_C_DATA, user address of @length bytes
 * @reserved: in: must be zero
 *
 * result 0 without ULOOP_C_DATA means: every block covering [offset,
 * offset + length) is now readable in the cache file.
 */
struct uloop_completion {
	__u64 tag;
	__s32 result;
	__u32 flags;
	__u64 offset;
	__u32 length;
	__s32 status;
	__u64 data_addr;
	__u64 reserved;
};

/** ULOOP_COMPLETE_MAX - most entries in one ULOOP_SESS_COMPLETE */
#define ULOOP_COMPLETE_MAX	4096

/**
 * struct uloop_complete - argument of ULOOP_SESS_COMPLETE
 * @entries: in: user address of @count struct uloop_completion; each one's
 *	@status is written back
 * @count: in: 1 to ULOOP_COMPLETE_MAX
 * @applied: out: entries applied
 * @rejected: out: entries rejected (also counted in the device's rejected
 *	counter)
 * @__pad: must be zero
 * @reserved: must be zero
 *
 * Each entry is validated, then applied, in order; a rejected entry changes
 * nothing and the others still apply.  The ioctl itself fails (EINVAL,
 * EFAULT, ENODEV for a removed device) only when the batch cannot be read.
 */
struct uloop_complete {
	__u64 entries;
	__u32 count;
	__u32 applied;
	__u32 rejected;
	__u32 __pad;
	__u64 reserved[2];
};

/**
 * struct uloop_present - argument of ULOOP_SESS_SET_PRESENT
 * @first_block: in: first block of the range (now readable in the cache
 *	file for SET_PRESENT; withdrawn for CLEAR_PRESENT)
 * @count: in: number of blocks, at least 1; the range must lie within the
 *	image
 * @reserved: in: must be zero
 *
 * Argument of ULOOP_SESS_SET_PRESENT and ULOOP_SESS_CLEAR_PRESENT (same
 * validation for both: EINVAL and nothing changed on a bad range or a
 * reserved field set; ENODEV once the session is detached or the device
 * removed).
 *
 * SET_PRESENT: for blocks the daemon fetched on its own (readahead): later
 * reads of them are served in the kernel.
 *
 * CLEAR_PRESENT: for blocks the daemon withdraws (its cache could not make
 * them durable, or dropped them): once the ioctl returns, every new read of
 * them is a miss again.  Reads the driver already decided to serve from the
 * cache file (in flight when the ioctl is called) may still complete with
 * what the file held; the daemon must clear the bits before it rewrites,
 * punches or reuses those bytes of the cache file.
 */
struct uloop_present {
	__u64 first_block;
	__u64 count;
	__u64 reserved[2];
};

#define ULOOP_IOC_MAGIC		0xb7

/** ULOOP_CTL_ADD - create /dev/uloopN; returns a session fd in the struct */
#define ULOOP_CTL_ADD		_IOWR(ULOOP_IOC_MAGIC, 0x00, struct uloop_dev_info)
/**
 * ULOOP_CTL_ATTACH - attach a new daemon to a device without a session:
 * EBUSY if one is attached, EINVAL if the cache or geometry differ
 */
#define ULOOP_CTL_ATTACH	_IOWR(ULOOP_IOC_MAGIC, 0x01, struct uloop_dev_info)
/**
 * ULOOP_CTL_REMOVE - delete a device: EBUSY while it is open, or an open
 * or last close of it is in progress; waiting misses fail with EIO; the
 * session fd, if any, then reports ENODEV; the index is free again when
 * the ioctl returns
 */
#define ULOOP_CTL_REMOVE	_IOWR(ULOOP_IOC_MAGIC, 0x02, struct uloop_dev_remove)
/** ULOOP_CTL_INFO - a device's geometry, state and counters */
#define ULOOP_CTL_INFO		_IOWR(ULOOP_IOC_MAGIC, 0x03, struct uloop_dev_status)
/** ULOOP_SESS_COMPLETE - on a session fd: complete misses */
#define ULOOP_SESS_COMPLETE	_IOWR(ULOOP_IOC_MAGIC, 0x10, struct uloop_complete)
/** ULOOP_SESS_SET_PRESENT - on a session fd: mark blocks present */
#define ULOOP_SESS_SET_PRESENT	_IOWR(ULOOP_IOC_MAGIC, 0x11, struct uloop_present)
/**
 * ULOOP_SESS_CLEAR_PRESENT - on a session fd: mark blocks not present, so
 * that later reads of them are misses again (see struct uloop_present)
 */
#define ULOOP_SESS_CLEAR_PRESENT _IOWR(ULOOP_IOC_MAGIC, 0x12, struct uloop_present)

#endif /* _UAPI_LINUX_ULOOP_H */
