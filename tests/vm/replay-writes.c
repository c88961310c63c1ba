// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * replay-writes.c - power cuts at every flush of a dm-log-writes log.
 *
 *   replay-writes LOG INITIAL STATE [--seed N] [--variants K] -- CHECK...
 *
 * dm-log-writes (Documentation/admin-guide/device-mapper/log-writes.rst)
 * records every write to a device in the order it reached stable storage
 * as far as the block layer promises: the writes that completed before a
 * flush are logged before that flush's entry.  A power cut between flush
 * F(k) and F(k+1) leaves the device as it was after F(k), plus any subset
 * of the writes logged between the two (a volatile write cache keeps or
 * loses each, in any order), and a write may be torn at any sector.
 *
 * For every flush (and the end of the log), this builds STATE (a file of
 * INITIAL's size: INITIAL with the log applied) as it was right after the
 * flush and as K-1 random cuts before the next one (each later write kept,
 * lost, or torn: a random half of its sectors), and runs CHECK on each
 * state; CHECK names STATE itself.  A state CHECK refuses is kept as
 * STATE.first-failure.  Exit 0: every state passed; 1: some failed; 2: the
 * log or the arguments are bad.
 *
 * The log: sector 0 holds the super (magic, version, entry count, sector
 * size); entries follow from sector 1, each one sector (sector, sector
 * count, flags, data length; a mark's name inline) then, for a write, its
 * data.  Sectors are the device's logical ones (the super's size).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define LOG_MAGIC 0x6a736677736872ull
#define F_FLUSH (1u << 0)
#define F_FUA (1u << 1)
#define F_DISCARD (1u << 2)
#define F_MARK (1u << 3)

struct entry {
	uint64_t sector, nr, flags;
	const uint8_t *data;	/* nr sectors, or NULL (flush, discard, mark) */
};

static uint64_t le64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static uint32_t ss;		/* sector size */
static uint64_t dev_size;

static void die(const char *fmt, const char *a)
{
	fprintf(stderr, "replay-writes: ");
	fprintf(stderr, fmt, a);
	fputc('\n', stderr);
	exit(2);
}

static void pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
	while (len) {
		ssize_t n = pwrite(fd, buf, len, (off_t)off);

		if (n <= 0)
			die("pwrite: %s", strerror(errno));
		buf = (const uint8_t *)buf + n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
}

static void copy_range(int from, int to, uint64_t off, uint64_t len)
{
	static uint8_t buf[1 << 20];

	while (len) {
		size_t n = len < sizeof(buf) ? (size_t)len : sizeof(buf);

		if (pread(from, buf, n, (off_t)off) != (ssize_t)n)
			die("pread: %s", strerror(errno));
		pwrite_all(to, buf, n, off);
		off += n;
		len -= n;
	}
}

/* Apply sectors [s0, s1) of write @e (all of it: 0, nr) to @fd. */
static void apply(int fd, const struct entry *e, uint64_t s0, uint64_t s1)
{
	static const uint8_t zeros[4096];

	if (e->flags & F_DISCARD) {
		for (uint64_t s = s0; s < s1; s++)
			pwrite_all(fd, zeros, ss, (e->sector + s) * ss);
		return;
	}
	if (e->data)
		pwrite_all(fd, e->data + s0 * ss, (size_t)((s1 - s0) * ss),
			   (e->sector + s0) * ss);
}

static int run_check(char **argv)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (!pid) {
		execvp(argv[0], argv);
		_exit(127);
	}
	if (waitpid(pid, &status, 0) != pid)
		die("waitpid: %s", strerror(errno));
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static uint64_t rnd_state;

static uint64_t rnd(void)	/* xorshift64*: reproducible from --seed */
{
	rnd_state ^= rnd_state >> 12;
	rnd_state ^= rnd_state << 25;
	rnd_state ^= rnd_state >> 27;
	return rnd_state * 0x2545f4914f6cdd1dull;
}

int main(int argc, char **argv)
{
	const char *logp, *initp, *statep;
	unsigned variants = 8;
	uint64_t seed = 1, nent, flushes = 0, writes = 0, states = 0, failed = 0;
	struct entry *ent;
	char **check = NULL;
	struct stat st;
	const uint8_t *log;
	uint64_t off;
	int lfd, base, state;
	char path[4096];

	if (argc < 6)
		die("%s", "usage: replay-writes LOG INITIAL STATE [--seed N] [--variants K] -- CHECK...");
	logp = argv[1];
	initp = argv[2];
	statep = argv[3];
	for (int i = 4; i < argc; i++) {
		if (!strcmp(argv[i], "--") && i + 1 < argc) {
			check = argv + i + 1;
			break;
		} else if (!strcmp(argv[i], "--seed") && i + 1 < argc) {
			seed = strtoull(argv[++i], NULL, 0);
		} else if (!strcmp(argv[i], "--variants") && i + 1 < argc) {
			variants = (unsigned)strtoul(argv[++i], NULL, 0);
		} else {
			die("unknown argument %s", argv[i]);
		}
	}
	if (!check || !variants)
		die("%s", "no CHECK command, or --variants 0");
	rnd_state = seed * 0x9e3779b97f4a7c15ull + 1;

	lfd = open(logp, O_RDONLY);
	if (lfd < 0 || fstat(lfd, &st) < 0 || st.st_size < 512)
		die("%s: cannot read the log", logp);
	log = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, lfd, 0);
	if (log == MAP_FAILED)
		die("%s: mmap", logp);
	if (le64(log) != LOG_MAGIC || le64(log + 8) != 1)
		die("%s: not a dm-log-writes log (magic, version)", logp);
	nent = le64(log + 16);
	ss = (uint32_t)(log[24] | log[25] << 8 | log[26] << 16 | (uint32_t)log[27] << 24);
	if (ss < 512 || ss > 4096 || (ss & (ss - 1)))
		die("%s: sector size out of range", logp);
	ent = calloc(nent ? nent : 1, sizeof(*ent));
	if (!ent)
		die("%s", "out of memory");
	off = ss;
	for (uint64_t i = 0; i < nent; i++) {
		if (off + ss > (uint64_t)st.st_size)
			die("%s: entries run past the log's end", logp);
		ent[i].sector = le64(log + off);
		ent[i].nr = le64(log + off + 8);
		ent[i].flags = le64(log + off + 16);
		off += ss;
		if (ent[i].flags & (F_MARK | F_DISCARD))
			continue;
		if (ent[i].nr) {
			if (ent[i].nr > ((uint64_t)st.st_size - off) / ss)
				die("%s: a write runs past the log's end", logp);
			ent[i].data = log + off;
			off += ent[i].nr * ss;
			writes++;
		}
		flushes += !!(ent[i].flags & F_FLUSH);
	}

	base = open(initp, O_RDONLY);
	if (base < 0 || fstat(base, &st) < 0)
		die("%s: cannot read it", initp);
	dev_size = (uint64_t)st.st_size;
	for (uint64_t i = 0; i < nent; i++)
		if ((ent[i].data || (ent[i].flags & F_DISCARD)) &&
		    (ent[i].sector > dev_size / ss || ent[i].nr > dev_size / ss - ent[i].sector))
			die("%s: a write past the device's end", logp);
	/* base: the device after the flush being cut at; state: what CHECK
	 * sees, base plus some of the writes that follow. */
	snprintf(path, sizeof(path), "%s.base", statep);
	{
		int b = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);

		if (b < 0)
			die("%s: create", path);
		copy_range(base, b, 0, dev_size);
		close(base);
		base = b;
	}
	state = open(statep, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (state < 0)
		die("%s: create", statep);
	copy_range(base, state, 0, dev_size);

	/*
	 * Walk the cut points: before the first entry, after each flush.  A
	 * flush that carries data is a flush, then a write: the write is one
	 * of the next interval's (durable at once only with FUA).
	 */
	for (uint64_t i = 0, held = 0; i <= nent; ) {
		uint64_t next = i + held;

		while (next < nent && !(ent[next].flags & F_FLUSH))
			next++;
		/* Entries [i, next) may land or not; next is the flush. */
		for (unsigned v = 0; v < variants; v++) {
			int rc;

			for (uint64_t j = i; v && j < next; j++) {
				uint64_t r = rnd() % 5;

				if (!ent[j].data && !(ent[j].flags & F_DISCARD))
					continue;
				if (r < 2)
					apply(state, &ent[j], 0, ent[j].nr);
				else if (r == 2 && ent[j].nr > 1) {
					/* torn: a random run of its sectors */
					uint64_t a = rnd() % ent[j].nr;
					uint64_t b = a + 1 + rnd() % (ent[j].nr - a);

					apply(state, &ent[j], a, b);
				}
			}
			rc = run_check(check);
			states++;
			if (rc) {
				if (!failed) {
					snprintf(path, sizeof(path), "%s.first-failure", statep);
					int f = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);

					if (f >= 0) {
						copy_range(state, f, 0, dev_size);
						close(f);
					}
				}
				if (failed < 5)
					fprintf(stderr, "replay-writes: cut after entry %" PRIu64
						" (%" PRIu64 " writes may land before the next flush), variant %u: check exited %d\n",
						i, next - i, v, rc);
				failed++;
			}
			/* Back to the flush's state. */
			for (uint64_t j = i; v && j < next; j++)
				if (ent[j].data || (ent[j].flags & F_DISCARD))
					copy_range(base, state, ent[j].sector * ss, ent[j].nr * ss);
		}
		/* Through the flush: everything before it is on the device. */
		for (uint64_t j = i; j < next; j++)
			if (ent[j].data || (ent[j].flags & F_DISCARD)) {
				apply(base, &ent[j], 0, ent[j].nr);
				apply(state, &ent[j], 0, ent[j].nr);
			}
		if (next >= nent)
			break;
		held = ent[next].data && !(ent[next].flags & F_FUA);
		if (ent[next].data && !held) {
			apply(base, &ent[next], 0, ent[next].nr);
			apply(state, &ent[next], 0, ent[next].nr);
		}
		i = held ? next : next + 1;
	}
	printf("replay-writes: %" PRIu64 " entries (%" PRIu64 " writes, %" PRIu64
	       " flushes), %" PRIu64 " states checked, %" PRIu64 " refused\n",
	       nent, writes, flushes, states, failed);
	snprintf(path, sizeof(path), "%s.base", statep);
	unlink(path);
	return failed ? 1 : 0;
}
