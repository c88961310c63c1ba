// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * util.c - per-thread error messages, opt-in debug output, size parsing and
 * full-length I/O helpers.
 */
#include "util.h"

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <time.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static __thread char ulo_msg[1024];
static char ulo_debug_spec[256];
static bool ulo_debug_init_done;

static void ulo_vset(int err, const char *fmt, va_list ap)
{
	int n = vsnprintf(ulo_msg, sizeof(ulo_msg), fmt, ap);

	if (err && n >= 0 && (size_t)n < sizeof(ulo_msg))
		snprintf(ulo_msg + n, sizeof(ulo_msg) - n, ": %s", strerror(-err));
}

int ulo_err(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ulo_vset(0, fmt, ap);
	va_end(ap);
	return err;
}

int ulo_errno(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	ulo_vset(err, fmt, ap);
	va_end(ap);
	return err;
}

const char *ulo_errmsg(void)
{
	return ulo_msg;
}

void ulo_set_errmsg(const char *msg)
{
	snprintf(ulo_msg, sizeof(ulo_msg), "%s", msg);
}

void ulo_debug_enable(const char *spec)
{
	snprintf(ulo_debug_spec, sizeof(ulo_debug_spec), "%s", spec ? spec : "");
	ulo_debug_init_done = true;
}

bool ulo_debug_on(const char *ns)
{
	const char *p;
	size_t n = strlen(ns);

	if (!ulo_debug_init_done) {
		/* Racy first use is harmless: every thread computes the same. */
		ulo_debug_enable(getenv("ULOOP_DEBUG"));
	}
	if (!ulo_debug_spec[0])
		return false;
	if (!strcmp(ulo_debug_spec, "all") || !strcmp(ulo_debug_spec, "1"))
		return true;
	for (p = ulo_debug_spec; (p = strstr(p, ns)); p += n) {
		if ((p == ulo_debug_spec || p[-1] == ',') &&
		    (p[n] == ',' || p[n] == '\0'))
			return true;
	}
	return false;
}

void ulo_debug(const char *ns, const char *fmt, ...)
{
	char line[1024];
	struct timespec now;
	va_list ap;

	if (!ulo_debug_on(ns))
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* Stamped with the uptime, as /init's debug lines are: a boot's
	 * steps line up across both. */
	clock_gettime(CLOCK_BOOTTIME, &now);
	fprintf(stderr, "uloop: [%ld.%03ld] %s: %s\n", (long)now.tv_sec,
		now.tv_nsec / 1000000, ns, line);
}

static int ulo_kmsg_fd = -1;

int ulo_warn_to_kmsg(void)
{
	int fd = open("/dev/kmsg", O_WRONLY | O_CLOEXEC | O_NOCTTY);

	if (fd < 0)
		return -errno;
	ulo_kmsg_fd = fd;
	return 0;
}

void ulo_warn(const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	/* "<4>" is KERN_WARNING; the kernel takes one record per write. */
	if (ulo_kmsg_fd >= 0)
		n = snprintf(line, sizeof(line), "<4>uloop[%d]: ", (int)getpid());
	else
		n = snprintf(line, sizeof(line), "uloop: ");
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	va_end(ap);
	/* A record without its newline stays pending as a continuation. */
	n = strlen(line);
	if (n == sizeof(line) - 1)
		n--;
	line[n++] = '\n';
	line[n] = '\0';
	if (ulo_kmsg_fd >= 0 && write(ulo_kmsg_fd, line, n) > 0)
		return;
	line[--n] = '\0';
	fprintf(stderr, "%s\n", line);
}

int ulo_parse_size(const char *s, uint64_t *out)
{
	static const char units[] = "KMGTPE";
	unsigned long long v;
	const char *u;
	char *end;
	int shift = 0;

	/* strtoull() would skip blanks and take a sign: only digits start. */
	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -EINVAL;
	if (*end) {
		u = strchr(units, *end >= 'a' ? *end - 32 : *end);
		if (!u)
			return -EINVAL;
		shift = 10 * (int)(u - units + 1);
		end++;
		/* Accept "64K", "64KB", "64KiB" alike: all binary. */
		if (*end == 'i' || *end == 'I')
			end++;
		if (*end == 'B' || *end == 'b')
			end++;
		if (*end)
			return -EINVAL;
	}
	if (shift && v > (UINT64_MAX >> shift))
		return -EINVAL;
	*out = (uint64_t)v << shift;
	return 0;
}

int ulo_parse_hydrate(const char *spec, uint64_t *rate, unsigned *jitter_s)
{
	char buf[64], *comma;
	uint64_t j;

	*rate = 0;
	*jitter_s = 0;
	if (!spec || !*spec)
		return 0;
	if (strlen(spec) >= sizeof(buf))
		return -EINVAL;
	snprintf(buf, sizeof(buf), "%s", spec);
	comma = strchr(buf, ',');
	if (comma) {
		const char *end;

		*comma = '\0';
		if (strncmp(comma + 1, "jitter=", 7) || !ulo_parse_u64(comma + 8, &j, &end) ||
		    *end || j > 86400)
			return -EINVAL;
		*jitter_s = (unsigned)j;
	}
	if (!*buf)
		return comma ? 0 : -EINVAL;	/* ",jitter=S": no limit */
	if (!strcmp(buf, "max"))
		return 0;
	return ulo_parse_size(buf, rate) ? -EINVAL : 0;
}

const char *ulo_fmt_size(uint64_t n, char *buf, size_t len)
{
	static const char *const u[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	double v = (double)n;
	unsigned i = 0;

	while (v >= 1024 && i + 1 < ULO_ARRAY_SIZE(u)) {
		v /= 1024;
		i++;
	}
	if (i == 0)
		snprintf(buf, len, "%" PRIu64 " B", n);
	else if (v == (uint64_t)v)
		snprintf(buf, len, "%.0f %s", v, u[i]);
	else
		snprintf(buf, len, "%.1f %s", v, u[i]);
	return buf;
}

int ulo_pread_full(int fd, void *buf, size_t len, uint64_t off)
{
	char *p = buf;

	while (len) {
		ssize_t n = pread(fd, p, len, (off_t)off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		p += n;
		off += n;
		len -= n;
	}
	return 0;
}

int ulo_pwrite_full(int fd, const void *buf, size_t len, uint64_t off)
{
	const char *p = buf;

	while (len) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -ENOSPC;
		p += n;
		off += n;
		len -= n;
	}
	return 0;
}

bool ulo_same_file(const char *p, const char *q)
{
	struct stat a, b;

	if (stat(p, &a) < 0 || stat(q, &b) < 0)
		return !strcmp(p, q);
	if (S_ISBLK(a.st_mode) || S_ISBLK(b.st_mode))
		return S_ISBLK(a.st_mode) && S_ISBLK(b.st_mode) && a.st_rdev == b.st_rdev;
	return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

int ulo_pwrite_zeros(int fd, uint64_t off, uint64_t len)
{
	static const uint8_t zeros[64 * 1024];
	int ret;

	while (len) {
		size_t n = ULO_MIN(len, sizeof(zeros));

		ret = ulo_pwrite_full(fd, zeros, n, off);
		if (ret)
			return ret;
		off += n;
		len -= n;
	}
	return 0;
}

uint64_t ulo_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

int ulo_create_fresh(int dirfd, const char *name, mode_t mode)
{
	int fd;

	if (unlinkat(dirfd, name, 0) < 0 && errno != ENOENT)
		return -errno;
	fd = openat(dirfd, name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW |
		    O_CLOEXEC, mode);
	return fd < 0 ? -errno : fd;
}

bool ulo_all_zero(const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n--)
		if (*b++)
			return false;
	return true;
}

/* The next line of [*pos, end) into @line (NUL-terminated, no newline):
 * false at the end or for a line too long or holding a NUL. */
bool ulo_next_line(const char *text, size_t len, size_t *pos,
			  char *line, size_t cap, bool *bad)
{
	size_t i = 0;

	*bad = false;
	if (*pos >= len)
		return false;
	while (*pos < len && text[*pos] != '\n') {
		if (i + 1 >= cap || text[*pos] == '\0') {
			*bad = true;
			return false;
		}
		line[i++] = text[(*pos)++];
	}
	if (*pos >= len) {
		/* Every line ends in a newline: a last line without one is a
		 * file cut short. */
		*bad = true;
		return false;
	}
	(*pos)++;
	line[i] = '\0';
	return true;
}

bool ulo_parse_u64(const char *s, uint64_t *out, const char **end)
{
	char *e;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	*out = strtoull(s, &e, 10);
	if (errno)
		return false;
	*end = e;
	return true;
}

int ulo_mmap_ro(int fd, uint64_t len, const char *what, void **out)
{
	void *p = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);

	if (p == MAP_FAILED)
		return ulo_errno(-errno, "%s: mmap of %llu bytes", what, (unsigned long long)len);
	madvise(p, len, MADV_SEQUENTIAL);
	*out = p;
	return 0;
}

const char *ulo_utc(int64_t t, enum ulo_utc_style style, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!gmtime_r(&tt, &tm) ||
	    !strftime(buf, len, style == ULO_UTC_TEXT ? "%Y-%m-%d %H:%M:%S UTC" : "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, len, "%" PRId64 " s after 1970", t);
	return buf;
}

/*
 * A daemon out of descriptors fails in the worst way: libcurl cannot open
 * a socket, the source takes it for a network fault and retries with
 * backoff, and every read is seconds late with nothing said (a test at
 * `ulimit -n 18` read 15 times slower, no error anywhere).  So the need
 * is checked once, up front.  New descriptors take the lowest free
 * numbers, and a number at or above the soft limit is refused: only the
 * open ones below the limit use it up (an inherited fd 251 does not).
 */
int ulo_fd_reserve(unsigned more, const char *what)
{
	struct rlimit rl;
	struct dirent *d;
	uint64_t open_fds = 0, need;
	DIR *dir;
	int self;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return ulo_errno(-errno, "getrlimit(RLIMIT_NOFILE)");
	dir = opendir("/proc/self/fd");
	if (!dir)
		return 0;
	self = dirfd(dir);
	while ((d = readdir(dir))) {
		uint64_t fd;
		const char *end;

		if (ulo_parse_u64(d->d_name, &fd, &end) && !*end &&
		    fd != (uint64_t)self && fd < rl.rlim_cur)
			open_fds++;
	}
	closedir(dir);
	need = open_fds + more;
	if (need <= rl.rlim_cur)
		return 0;
	if (rl.rlim_max != RLIM_INFINITY && need > rl.rlim_max)
		return ulo_err(-EMFILE, "too many open files: the limit is %llu (ulimit -n) and %llu are needed (%llu open, %u more for %s); raise the limit or ask for fewer connections",
			       (unsigned long long)rl.rlim_max,
			       (unsigned long long)need,
			       (unsigned long long)open_fds, more, what);
	rl.rlim_cur = need;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
		return ulo_errno(-errno, "setrlimit(RLIMIT_NOFILE) to %llu for %s",
				 (unsigned long long)need, what);
	ulo_debug("util", "soft open-file limit raised to %llu for %s",
		  (unsigned long long)need, what);
	return 0;
}

int ulo_abs_path(const char *path, char *out, size_t len)
{
	char dir[PATH_MAX], base[PATH_MAX], *real = realpath(path, NULL);
	int n;

	if (!real && errno != ENOENT)
		return -errno;
	if (!real) {
		/* Not there yet: its directory resolved, its name added. */
		snprintf(dir, sizeof(dir), "%s", path);
		snprintf(base, sizeof(base), "%s", path);
		real = realpath(dirname(dir), NULL);
		if (!real)
			return -errno;
		n = snprintf(out, len, "%s/%s", strcmp(real, "/") ? real : "", basename(base));
	} else {
		n = snprintf(out, len, "%s", real);
	}
	free(real);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int ulo_sync_dir_of(const char *path)
{
	char dir[PATH_MAX];
	int fd, ret = 0;

	snprintf(dir, sizeof(dir), "%s", path);
	fd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return ulo_errno(-errno, "%s: open", dir);
	if (fsync(fd) < 0)
		ret = ulo_errno(-errno, "%s: fsync", dir);
	close(fd);
	return ret;
}

int ulo_dir_hold(const char *path)
{
	char dir[PATH_MAX];
	int fd;

	snprintf(dir, sizeof(dir), "%s", path);
	fd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return fd < 0 ? ulo_errno(-errno, "%s: open", dir) : fd;
}

int ulo_unlink_held(int dirfd, const char *path, int fd)
{
	const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	struct stat named, held;

	if (fstatat(dirfd, base, &named, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : ulo_errno(-errno, "%s: stat", path);
	if (fstat(fd, &held) < 0)
		return ulo_errno(-errno, "%s: fstat", path);
	if (named.st_dev != held.st_dev || named.st_ino != held.st_ino)
		return 0;
	if (unlinkat(dirfd, base, 0) < 0)
		return errno == ENOENT ? 0 : ulo_errno(-errno, "%s: remove", path);
	if (fsync(dirfd) < 0)
		return ulo_errno(-errno, "%s: flushing its directory", path);
	return 0;
}

int ulo_modprobe(const char *module)
{
	pid_t pid = fork();
	int st;

	if (pid == 0) {
		/* Where distributions and busybox put it; execve(), not
		 * execvp(): the PATH search costs 1 KiB of static binary. */
		static const char *const path[] = {
			"/sbin/modprobe", "/usr/sbin/modprobe", "/bin/modprobe",
		};
		char *argv[] = { "modprobe", "-q", (char *)module, NULL };

		for (unsigned i = 0; i < ULO_ARRAY_SIZE(path); i++)
			execve(path[i], argv, environ);
		_exit(127);
	}
	if (pid < 0)
		return -errno;
	if (waitpid(pid, &st, 0) < 0)
		return -errno;
	return WIFEXITED(st) && !WEXITSTATUS(st) ? 0 : -ENOENT;
}

static int ulo_int_cmp(const void *x, const void *y)
{
	return *(const int *)x - *(const int *)y;
}

int ulo_block_devices(const char *prefix, int *idx, int max)
{
	size_t plen = strlen(prefix);
	DIR *d = opendir("/sys/block");
	struct dirent *e;
	int n = 0;

	if (!d)
		return 0;
	while (n < max && (e = readdir(d))) {
		char *end;
		long v;

		if (strncmp(e->d_name, prefix, plen) || !e->d_name[plen])
			continue;
		v = strtol(e->d_name + plen, &end, 10);
		if (!*end && v >= 0 && v < INT_MAX)
			idx[n++] = (int)v;
	}
	closedir(d);
	qsort(idx, n, sizeof(*idx), ulo_int_cmp);
	return n;
}
