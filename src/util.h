/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * util.h - errors, debug output and small helpers shared by libuloop.
 *
 * Library functions return -errno and record a human message naming the
 * object and the failing call with ulo_err(); commands fetch it with
 * ulo_errmsg() and print it.  The message is per thread so that worker
 * threads never overwrite the caller's.
 *
 * Debug output is opt-in and namespaced: ULOOP_DEBUG=cache,engine (or "all")
 * or ulo_debug_enable() from a command's --verbose.
 */
#ifndef ULOOP_UTIL_H
#define ULOOP_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define ULO_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define ULO_DIV_ROUND_UP(n, d) (((n) + (d) - 1) / (d))
#define ULO_ROUND_UP(n, a) (ULO_DIV_ROUND_UP(n, a) * (a))
#define ULO_MIN(a, b) ((a) < (b) ? (a) : (b))
#define ULO_MAX(a, b) ((a) > (b) ? (a) : (b))

#define ULO_PRINTF(f, a) __attribute__((format(printf, f, a)))

/* Record the thread's error message; returns @err so callers can write
 * "return ulo_err(-EIO, ...)".  @err is a negative errno. */
int ulo_err(int err, const char *fmt, ...) ULO_PRINTF(2, 3);
/* Same, with strerror(-err) appended as ": cause". */
int ulo_errno(int err, const char *fmt, ...) ULO_PRINTF(2, 3);
/* The last message recorded by this thread ("" if none). */
const char *ulo_errmsg(void);
/* Replace this thread's message (used to carry a worker's message over). */
void ulo_set_errmsg(const char *msg);

/* Opt-in debug output to stderr, prefixed "uloop: NS: ". */
void ulo_debug_enable(const char *spec);
bool ulo_debug_on(const char *ns);
void ulo_debug(const char *ns, const char *fmt, ...) ULO_PRINTF(2, 3);

/*
 * A warning from a long-running process (a cache that stopped keeping
 * blocks, a mirror dropped): one line "uloop: ..." to the warning sink,
 * stderr until ulo_warn_to_kmsg() sends it to the kernel log (a daemon
 * whose stderr nobody reads any more; its lines then reach dmesg and the
 * console, as the initramfs's own do).
 */
void ulo_warn(const char *fmt, ...) ULO_PRINTF(1, 2);
/* 0, or -errno if /dev/kmsg cannot be opened (the sink stays stderr). */
int ulo_warn_to_kmsg(void);

/*
 * Parse a size with an optional binary suffix (K, M, G, T; KiB forms too).
 * Returns 0 or -EINVAL (empty, junk, overflow).
 */
int ulo_parse_size(const char *s, uint64_t *out);

/* "RATE[,jitter=SECONDS]" as in rd.uloop.hydrate and --hydrate=: RATE a
 * size per second ("8M"), 0 or "max" for no limit.  0 or -EINVAL. */
int ulo_parse_hydrate(const char *spec, uint64_t *rate, unsigned *jitter_s);
/* Format @n as "64 KiB", "1.5 GiB"... into @buf. */
const char *ulo_fmt_size(uint64_t n, char *buf, size_t len);

/* Full-length pread/pwrite: -errno on error, -EIO on an early EOF. */
int ulo_pread_full(int fd, void *buf, size_t len, uint64_t off);
int ulo_pwrite_full(int fd, const void *buf, size_t len, uint64_t off);
/* @p and @q name the same block device (its rdev) or the same file (its
 * device and inode); if either cannot be stat()ed, the same string. */
bool ulo_same_file(const char *p, const char *q);
/*
 * @path made absolute into @out, symlinks resolved, for a file that may
 * not exist yet (its directory must): a daemon works from "/", so a
 * relative name given on the command line must be resolved before it
 * detaches.  0 or -errno (no message).
 */
int ulo_abs_path(const char *path, char *out, size_t len);
/* Flush the directory holding @path, so a name just made or renamed
 * there is durable.  0 or -errno, with a message naming the directory. */
int ulo_sync_dir_of(const char *path);
/*
 * A name to remove later, held by its directory's descriptor: a daemon
 * started in an initramfs keeps that root after switch_root, where the
 * path it was given (under a /run or a flash mount that moved into the
 * new root) no longer leads anywhere.  ulo_dir_hold() opens @path's
 * directory: the descriptor (O_RDONLY | O_DIRECTORY | O_CLOEXEC) or
 * -errno with a message.  ulo_unlink_held() removes @path's last
 * component there if it is still the file @fd has open (a file of that
 * name put there since is left alone), then flushes the directory: 0
 * (removed, or already gone) or -errno with a message naming @path.
 */
int ulo_dir_hold(const char *path);
int ulo_unlink_held(int dirfd, const char *path, int fd);
/* Map @len bytes of @fd read-only, for a sequential read, into *@out:
 * 0 or -errno with the message recorded (naming @what). */
int ulo_mmap_ro(int fd, uint64_t len, const char *what, void **out);
/* Write @len zero bytes at @off (allocating them, unlike a hole): 0 or -errno. */
int ulo_pwrite_zeros(int fd, uint64_t off, uint64_t len);
/* True if the @n bytes at @p are all zero. */
bool ulo_all_zero(const void *p, size_t n);

/*
 * Create @name (relative to @dirfd, or AT_FDCWD) as a new file of our own
 * for a write-then-rename: a leftover of that name is unlinked first (a
 * symlink goes, not its target), and the open is O_CREAT | O_EXCL |
 * O_NOFOLLOW, so whatever someone plants there in between fails the open
 * instead of being written, truncated or chowned.  Returns the fd
 * (O_RDWR | O_CLOEXEC) or -errno.
 */
int ulo_create_fresh(int dirfd, const char *name, mode_t mode);

/* Monotonic clock in nanoseconds. */
uint64_t ulo_now_ns(void);

/*
 * Make room for @more file descriptors beyond those open now, before a
 * long-running command depends on them (@what: what they are for, for
 * the message).  A soft RLIMIT_NOFILE too low is raised to what is
 * needed; a hard one too low is an error (-EMFILE) naming both numbers.
 * Without /proc the count is unknown and nothing is checked.
 */
int ulo_fd_reserve(unsigned more, const char *what);

/* `modprobe -q MODULE` (a transport's driver): 0 if it exited 0. */
int ulo_modprobe(const char *module);

/* The N of the disks /sys/block/@prefixN that exist (uloop, ublkb...), in
 * ascending order, at most @max of them: their number (0 without sysfs). */
int ulo_block_devices(const char *prefix, int *idx, int max);

/* Little-endian codec for on-disk structures. */
/* Is @v a power of two in [@lo, @hi]? */
static inline bool ulo_pow2_in(uint32_t v, uint32_t lo, uint32_t hi)
{
	return v >= lo && v <= hi && !(v & (v - 1));
}

static inline void ulo_put_le16(uint8_t *p, uint16_t v)
{
	p[0] = v;
	p[1] = v >> 8;
}

static inline void ulo_put_le32(uint8_t *p, uint32_t v)
{
	ulo_put_le16(p, v);
	ulo_put_le16(p + 2, v >> 16);
}

static inline void ulo_put_le64(uint8_t *p, uint64_t v)
{
	ulo_put_le32(p, v);
	ulo_put_le32(p + 4, v >> 32);
}

static inline uint16_t ulo_get_le16(const uint8_t *p)
{
	return p[0] | (uint16_t)p[1] << 8;
}

static inline uint32_t ulo_get_le32(const uint8_t *p)
{
	return ulo_get_le16(p) | (uint32_t)ulo_get_le16(p + 2) << 16;
}

static inline uint64_t ulo_get_le64(const uint8_t *p)
{
	return ulo_get_le32(p) | (uint64_t)ulo_get_le32(p + 4) << 32;
}

/* Big-endian fields (UML COW headers, cow_uml.c). */
static inline void ulo_put_be32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

static inline void ulo_put_be64(uint8_t *p, uint64_t v)
{
	ulo_put_be32(p, v >> 32);
	ulo_put_be32(p + 4, v);
}

static inline uint32_t ulo_get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t ulo_get_be64(const uint8_t *p)
{
	return (uint64_t)ulo_get_be32(p) << 32 | ulo_get_be32(p + 4);
}

/* Times in UTC, one formatter for every line and file that shows one:
 * T (seconds since 1970) in STYLE into BUF; a time the C library cannot
 * break down (a clock far off, a corrupt header) becomes "N s after 1970"
 * rather than an empty or stale string. */
enum ulo_utc_style {
	ULO_UTC_ISO,	/* 2026-12-07T03:45:34Z: files, JSON, uloop info */
	ULO_UTC_TEXT,	/* 2026-12-07 03:45:34 UTC: sentences in errors */
};
const char *ulo_utc(int64_t t, enum ulo_utc_style style, char *buf, size_t len);

/* Line-based text formats (boot profiles, manifests). */
/* The next line of [*pos, len) into @line (NUL-terminated, no newline):
 * false at the end, or (with *@bad) for a line too long, holding a NUL,
 * or without its newline (a file cut short). */
bool ulo_next_line(const char *text, size_t len, size_t *pos,
		   char *line, size_t cap, bool *bad);
/* A decimal number at @s (a digit first): false if none or too large;
 * *@end points past it. */
bool ulo_parse_u64(const char *s, uint64_t *out, const char **end);

#endif
