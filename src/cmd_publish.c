// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cmd_publish.c - uloop publish IMAGE DIR: put an image on a web server's
 * directory the way nodes can boot from it while it changes
 * (docs/verity.md).
 *
 * Each publish makes a new version: NAME-V.img (the image, padded with
 * zeros to whole 4 KiB blocks) and NAME-V.verity (its dm-verity hash tree,
 * salted with 32 random bytes, the previous version's if there is one:
 * publish_salt_of), created under temporary names, synced,
 * then linked to their names, which fails rather than replace anything.
 * The tree is built from the copy, so it vouches for the bytes served.
 * Then NAME.uloop, the manifest naming that version, is written to a
 * temporary file, synced and renamed over the old one: a node that read
 * the manifest reads only files that never change, and a node that reads
 * it during a publish gets the old version or the new, never a mix.
 * Publishers in one DIR take turns (a lock file in it); --prune N then
 * removes all but the newest N versions.
 *
 * For each of the newest PUBLISH_SEEDS older versions still in DIR, a seed
 * map NAME-V.from-U.seed says where the new version's blocks lie in
 * version U (seedmap.h), and the manifest names it with U's root hash
 * (read back from U's tree): a node whose flash holds U fetches only what
 * changed (docs/updates.md).  The search reads both images through mmap;
 * it costs about a second per GiB.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "manifest.h"
#include "seedmap.h"
#include "seedpack.h"
#include "sign.h"
#include "util.h"
#include "verity.h"

#define PUBLISH_BLOCK 4096
#define PUBLISH_COPY_CHUNK (1 << 20)
#define PUBLISH_MAX_VERSIONS 100000
/* Older versions a new one gets a seed map from. */
#define PUBLISH_SEEDS 4

enum { OPT_NAME = 700, OPT_SIGN, OPT_PRUNE };

struct publish {
	const char *image, *dir, *name, *key;
	int in;			/* IMAGE, open */
	unsigned long prune;	/* 0: keep every version */
	char namebuf[ULO_MANIFEST_NAME_MAX + 1];
	int dirfd;
};

static void publish_usage(FILE *f)
{
	fputs("Usage: uloop publish IMAGE DIR [--name NAME] [--sign KEY] [--prune N]\n"
	      "\n"
	      "Publish IMAGE in DIR (a directory a web server serves) as a new version:\n"
	      "NAME-V.img, its dm-verity hash tree NAME-V.verity, and the manifest\n"
	      "NAME.uloop naming them, replaced in one step.  Published files are never\n"
	      "overwritten, so nodes booting from the manifest while a new version is\n"
	      "published finish on the version they started with.  Prints the root\n"
	      "hash and the kernel command lines that boot the version.\n"
	      "\n"
	      "Options:\n"
	      "  --name NAME         the published name (default: IMAGE's file name up\n"
	      "                      to its first '.')\n"
	      "  --sign KEY          sign the manifest with this ECDSA P-256 private key\n"
	      "                      (PEM: openssl ecparam -name prime256v1 -genkey -noout)\n"
	      "  --prune N           then remove all but the newest N versions\n", f);
}

static int publish_opt(int opt, const char *arg, void *ctx)
{
	struct publish *p = ctx;

	switch (opt) {
	case OPT_NAME:
		p->name = arg;
		return 1;
	case OPT_SIGN:
		p->key = arg;
		return 1;
	case OPT_PRUNE: {
		const char *end;
		uint64_t n;

		if (!ulo_parse_u64(arg, &n, &end) || *end || !n || n > PUBLISH_MAX_VERSIONS) {
			cli_usage_error("--prune: invalid value '%s' (want a count of versions to keep, 1..%d)",
					arg, PUBLISH_MAX_VERSIONS);
			exit(ULO_EXIT_USAGE);
		}
		p->prune = (unsigned long)n;
		return 1;
	}
	}
	return 0;
}

/* NAME-V.img's or NAME-V.verity's V, or 0 if @ent is neither. */
static uint64_t publish_version_of(const struct publish *p, const char *ent)
{
	size_t nl = strlen(p->name);
	const char *end;
	uint64_t v;

	if (strncmp(ent, p->name, nl) || ent[nl] != '-' ||
	    !ulo_parse_u64(ent + nl + 1, &v, &end))
		return 0;
	return !strcmp(end, ".img") || !strcmp(end, ".verity") ? v : 0;
}

static int publish_cmp_desc(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? 1 : x > y ? -1 : 0;
}

/* The published versions of the name, newest first (duplicates merged). */
static int publish_versions(struct publish *p, uint64_t **out, size_t *n)
{
	int fd = dup(p->dirfd);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	uint64_t *v = NULL;
	size_t cnt = 0, cap = 0, k = 0;
	struct dirent *e;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return ulo_errno(-errno, "%s: reading the directory", p->dir);
	}
	rewinddir(d);
	while ((e = readdir(d))) {
		uint64_t x = publish_version_of(p, e->d_name);

		if (!x)
			continue;
		if (cnt == cap) {
			uint64_t *nv = realloc(v, (cap = cap ? 2 * cap : 64) * sizeof(*v));

			if (!nv) {
				free(v);
				closedir(d);
				return ulo_errno(-ENOMEM, "%s", p->dir);
			}
			v = nv;
		}
		v[cnt++] = x;
	}
	closedir(d);
	if (cnt)
		qsort(v, cnt, sizeof(*v), publish_cmp_desc);
	for (size_t i = 0; i < cnt; i++)
		if (!k || v[k - 1] != v[i])
			v[k++] = v[i];
	*out = v;
	*n = k;
	return 0;
}

/* Sync @fd, close it, and link @tmp to @final in DIR (never replacing). */
static int publish_seal(struct publish *p, int fd, const char *tmp, const char *final)
{
	int ret = 0;

	if (fsync(fd) < 0)
		ret = ulo_errno(-errno, "%s/%s: fsync", p->dir, tmp);
	if (close(fd) < 0 && !ret)
		ret = ulo_errno(-errno, "%s/%s: close", p->dir, tmp);
	if (!ret && linkat(p->dirfd, tmp, p->dirfd, final, 0) < 0)
		ret = ulo_errno(-errno, "%s/%s: %s", p->dir, final,
				errno == EEXIST ? "already published (never overwritten)" : "link");
	unlinkat(p->dirfd, tmp, 0);
	return ret;
}

static int publish_create_tmp(struct publish *p, const char *tmp)
{
	int fd;

	unlinkat(p->dirfd, tmp, 0);	/* a crashed publish's, under our lock */
	fd = openat(p->dirfd, tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return ulo_errno(-errno, "%s/%s: create", p->dir, tmp);
	return fd;
}

/* Copy IMAGE to @fd, padded with zeros to whole blocks: the size. */
static int publish_copy(struct publish *p, int fd, const char *tmp, uint64_t *size)
{
	char *buf = malloc(PUBLISH_COPY_CHUNK);
	uint64_t off = 0;
	int in = p->in, ret = 0;

	if (!buf)
		return ulo_errno(-ENOMEM, "%s", p->image);
	for (;;) {
		ssize_t n = read(in, buf, PUBLISH_COPY_CHUNK);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = ulo_errno(-errno, "%s: read at %" PRIu64, p->image, off);
			goto out;
		}
		if (!n)
			break;
		ret = ulo_pwrite_full(fd, buf, (size_t)n, off);
		if (ret) {
			ret = ulo_errno(ret, "%s/%s: write at %" PRIu64, p->dir, tmp, off);
			goto out;
		}
		off += (uint64_t)n;
	}
	if (!off) {
		ret = ulo_err(-EINVAL, "%s: empty: nothing to publish", p->image);
		goto out;
	}
	if (off % PUBLISH_BLOCK) {
		uint64_t pad = PUBLISH_BLOCK - off % PUBLISH_BLOCK;

		memset(buf, 0, pad);
		ret = ulo_pwrite_full(fd, buf, pad, off);
		if (ret) {
			ret = ulo_errno(ret, "%s/%s: write at %" PRIu64, p->dir, tmp, off);
			goto out;
		}
		off += pad;
	}
	*size = off;
out:
	free(buf);
	return ret;
}

struct publish_tree {
	struct publish *p;
	int img, hash;
	const char *img_name, *hash_name;
};

static int publish_tree_read(void *ctx, uint64_t i, void *buf)
{
	struct publish_tree *t = ctx;

	int ret = ulo_pread_full(t->img, buf, PUBLISH_BLOCK, i * PUBLISH_BLOCK);

	return ret ? ulo_errno(ret, "%s/%s: read of block %" PRIu64, t->p->dir, t->img_name, i) : 0;
}

static int publish_tree_write(void *ctx, uint64_t off, const void *buf, size_t len)
{
	struct publish_tree *t = ctx;

	int ret = ulo_pwrite_full(t->hash, buf, len, off);

	return ret ? ulo_errno(ret, "%s/%s: write at %" PRIu64, t->p->dir, t->hash_name, off) : 0;
}

/* The pack of @sm's changed blocks (seedpack.h) as NAME-V.from-U.pack,
 * named in @sm. */
static int publish_pack(struct publish *p, const struct ulo_manifest *m, uint64_t u,
			int oi, int ni, struct ulo_seedmap *sm, struct ulo_seedpack_stats *ps)
{
	char name[sizeof(sm->pack)], tmp[sizeof(name) + 8];
	int fd, ret;

	snprintf(name, sizeof(name), "%s-%" PRIu64 ".from-%" PRIu64 ".pack", p->name, m->version, u);
	snprintf(tmp, sizeof(tmp), ".%s.tmp", name);
	fd = publish_create_tmp(p, tmp);
	if (fd < 0)
		return fd;
	ret = ulo_seedpack_write_files(oi, ni, sm, fd, tmp, ps);
	if (ret) {
		close(fd);
		unlinkat(p->dirfd, tmp, 0);
		return ret;
	}
	ret = publish_seal(p, fd, tmp, name);
	if (!ret) {
		memcpy(sm->pack, name, sizeof(name));
		sm->pack_size = ps->size;
	}
	return ret;
}

/*
 * The salt of version @u's tree into @vp, if it has one of @vp's size:
 * true.  A new version salted like the one before it has the same leaf
 * hash block wherever its 128 blocks did not change, so a node updating
 * from that version proves them with one digest of the old leaf instead
 * of 128 of the blocks (docs/updates.md).  The salt keeps one image's
 * digests from being precomputed for another; versions of one image are
 * one image to it.
 */
static bool publish_salt_of(struct publish *p, uint64_t u, struct ulo_verity_params *vp)
{
	struct ulo_verity_params old;
	uint8_t sb[ULO_VERITY_SB_SIZE];
	char name[128];
	int fd, ret;

	snprintf(name, sizeof(name), "%s-%" PRIu64 ".verity", p->name, u);
	fd = openat(p->dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ret = ulo_pread_full(fd, sb, sizeof(sb), 0);
	close(fd);
	if (ret || ulo_verity_parse_superblock(sb, name, &old) || old.salt_size != vp->salt_size)
		return false;
	memcpy(vp->salt, old.salt, old.salt_size);
	return true;
}

/*
 * The seed map from version @u to the new version @m (its image published
 * already), as NAME-V.from-U.seed, named in @m: 0, or -errno with the
 * message recorded (the caller goes on without it).
 */
static int publish_seed(struct publish *p, struct ulo_manifest *m, uint64_t u)
{
	struct ulo_seedmap sm = { 0 };
	struct ulo_seedpack_stats ps = { 0 };
	struct ulo_verity_params vp;
	struct ulo_manifest_seed *ms = &m->seeds[m->nseeds];
	char old_img[128], old_tree[128], new_img[PATH_MAX], tmp[160];
	int oi = -1, ot = -1, ni = -1, fd = -1, ret;
	char *text = NULL;
	size_t len = 0;

	snprintf(old_img, sizeof(old_img), "%s-%" PRIu64 ".img", p->name, u);
	snprintf(old_tree, sizeof(old_tree), "%s-%" PRIu64 ".verity", p->name, u);
	snprintf(new_img, sizeof(new_img), "%s/%s", p->dir, m->image);
	oi = openat(p->dirfd, old_img, O_RDONLY | O_CLOEXEC);
	ot = openat(p->dirfd, old_tree, O_RDONLY | O_CLOEXEC);
	ni = openat(p->dirfd, m->image, O_RDONLY | O_CLOEXEC);
	if (oi < 0 || ot < 0 || ni < 0) {
		ret = ulo_errno(-errno, "%s/%s: open", p->dir,
				oi < 0 ? old_img : ot < 0 ? old_tree : m->image);
		goto out;
	}
	ret = ulo_verity_root_of_file(ot, old_tree, &vp, sm.from);
	if (!ret)
		ret = ulo_seedmap_compute_files(oi, old_img, ni, new_img, m->size,
						m->vp.data_block_size, &sm);
	if (ret)
		goto out;
	if (!sm.mapped) {
		printf("no seed map from version %" PRIu64 ": it shares no block with this one\n", u);
		goto out;
	}
	memcpy(sm.to, m->root, ULO_SHA256_LEN);
	if (sm.mapped < sm.blocks) {
		ret = publish_pack(p, m, u, oi, ni, &sm, &ps);
		if (ret)
			goto out;
	}
	ret = ulo_seedmap_format(&sm, &text, &len);
	if (ret) {
		ret = ulo_errno(ret, "%s: seed map", p->name);
		goto out;
	}
	snprintf(ms->file, sizeof(ms->file), "%s-%" PRIu64 ".from-%" PRIu64 ".seed",
		 p->name, m->version, u);
	snprintf(tmp, sizeof(tmp), ".%s.tmp", ms->file);
	fd = publish_create_tmp(p, tmp);
	if (fd < 0) {
		ret = fd;
		goto out;
	}
	ret = ulo_pwrite_full(fd, text, len, 0);
	if (ret) {
		ret = ulo_errno(ret, "%s/%s: write", p->dir, tmp);
		close(fd);
		unlinkat(p->dirfd, tmp, 0);
		goto out;
	}
	ret = publish_seal(p, fd, tmp, ms->file);
	if (ret)
		goto out;
	ms->version = u;
	memcpy(ms->root, sm.from, ULO_SHA256_LEN);
	m->nseeds++;
	printf("seed map from version %" PRIu64 ": %" PRIu64 " of %" PRIu64
	       " blocks found in it (%.1f%%), %" PRIu64 " runs, %s\n", u, sm.mapped,
	       sm.blocks, 100.0 * (double)sm.mapped / (double)sm.blocks, sm.nruns, ms->file);
	if (sm.pack[0])
		printf("  the rest: %" PRIu64 " bytes (%" PRIu64 " blocks, %" PRIu64
		       " bytes of their edges still in version %" PRIu64 "), %" PRIu64
		       " compressed in %s\n", ps.literal, sm.blocks - sm.mapped, ps.edges, u,
		       ps.size, sm.pack);
out:
	/* A pack no map names is not left behind. */
	if (ret && sm.pack[0])
		unlinkat(p->dirfd, sm.pack, 0);
	free(text);
	ulo_seedmap_free(&sm);
	if (oi >= 0)
		close(oi);
	if (ot >= 0)
		close(ot);
	if (ni >= 0)
		close(ni);
	return ret;
}

/* Write @text as DIR/NAME.uloop, replacing the old one in one step. */
static int publish_manifest(struct publish *p, const char *text, size_t len)
{
	char tmp[128], final[128];
	int fd, ret = 0;

	snprintf(tmp, sizeof(tmp), ".%s.uloop.tmp", p->name);
	snprintf(final, sizeof(final), "%s.uloop", p->name);
	fd = publish_create_tmp(p, tmp);
	if (fd < 0)
		return fd;
	ret = ulo_pwrite_full(fd, text, len, 0);
	if (ret)
		ret = ulo_errno(ret, "%s/%s: write", p->dir, tmp);
	if (!ret && fsync(fd) < 0)
		ret = ulo_errno(-errno, "%s/%s: fsync", p->dir, tmp);
	close(fd);
	if (!ret && renameat(p->dirfd, tmp, p->dirfd, final) < 0)
		ret = ulo_errno(-errno, "%s/%s: rename to %s", p->dir, tmp, final);
	if (ret)
		unlinkat(p->dirfd, tmp, 0);
	else if (fsync(p->dirfd) < 0)
		ret = ulo_errno(-errno, "%s: fsync", p->dir);
	return ret;
}

/* Append the signature line over the manifest's @*len bytes of @text. */
static int publish_sign(struct publish *p, char *text, int *len, size_t cap)
{
	uint8_t sig[ULO_SIG_MAX];
	char b64[2 * ULO_SIG_MAX];
	size_t n;
	int ret = ulo_sign(p->key, text, (size_t)*len, sig, &n);

	if (ret)
		return ret;
	ulo_base64(sig, n, b64);
	ret = snprintf(text + *len, cap - (size_t)*len, "signature %s %s\n", ULO_SIG_ALG, b64);
	if (ret < 0 || (size_t)ret >= cap - (size_t)*len)
		return ulo_err(-ENOSPC, "%s: manifest too long", p->name);
	*len += ret;
	return 0;
}

/* Remove version @v's files: NAME-V.img, .verity, .profile and its seed
 * maps NAME-V.from-U.seed (every "NAME-V." file). */
static int publish_remove_version(struct publish *p, uint64_t v)
{
	int fd = dup(p->dirfd), ret = 0;
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *e;
	char prefix[128];
	size_t pl;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return ulo_errno(-errno, "%s: reading the directory", p->dir);
	}
	pl = (size_t)snprintf(prefix, sizeof(prefix), "%s-%" PRIu64 ".", p->name, v);
	rewinddir(d);
	while ((e = readdir(d)))
		if (!strncmp(e->d_name, prefix, pl) &&
		    unlinkat(p->dirfd, e->d_name, 0) < 0 && errno != ENOENT && !ret)
			ret = ulo_errno(-errno, "%s/%s: remove", p->dir, e->d_name);
	closedir(d);
	return ret;
}

/* Remove all but the newest p->prune versions: how many went. */
static int publish_prune(struct publish *p, unsigned *removed)
{
	uint64_t *v;
	size_t n;
	int ret = publish_versions(p, &v, &n);

	*removed = 0;
	if (ret)
		return ret;
	for (size_t i = p->prune; i < n; i++) {
		int r = publish_remove_version(p, v[i]);

		if (r && !ret)
			ret = r;
		(*removed)++;
	}
	free(v);
	if (!ret && *removed && fsync(p->dirfd) < 0)
		ret = ulo_errno(-errno, "%s: fsync", p->dir);
	return ret;
}

static int publish_run(struct publish *p)
{
	struct ulo_manifest m = { .version = 1 };
	struct publish_tree t = { .p = p, .img = -1, .hash = -1 };
	char img_tmp[128], hash_tmp[128], lock[128], text[4096], root[65];
	uint64_t *vers = NULL;
	size_t nvers = 0;
	unsigned removed = 0;
	int lockfd, ret, len;

	/* One lock for the directory: publishing is rare, and a lock per
	 * name would leave a file behind for every name ever tried. */
	snprintf(lock, sizeof(lock), ".uloop-publish.lock");
	lockfd = openat(p->dirfd, lock, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (lockfd < 0)
		return ulo_errno(-errno, "%s/%s: create", p->dir, lock);
	if (flock(lockfd, LOCK_EX) < 0) {
		ret = ulo_errno(-errno, "%s/%s: lock", p->dir, lock);
		goto out;
	}
	ret = publish_versions(p, &vers, &nvers);
	if (ret)
		goto out;
	/* A key that cannot sign is found before anything is written. */
	if (p->key) {
		uint8_t sig[ULO_SIG_MAX];
		size_t n;

		ret = ulo_sign(p->key, "", 0, sig, &n);
		if (ret)
			goto out;
	}
	if (nvers)
		m.version = vers[0] + 1;
	snprintf(m.name, sizeof(m.name), "%s", p->name);
	snprintf(m.image, sizeof(m.image), "%s-%" PRIu64 ".img", p->name, m.version);
	snprintf(m.hash_tree, sizeof(m.hash_tree), "%s-%" PRIu64 ".verity", p->name, m.version);
	snprintf(img_tmp, sizeof(img_tmp), ".%s.tmp", m.image);
	snprintf(hash_tmp, sizeof(hash_tmp), ".%s.tmp", m.hash_tree);
	ulo_utc((int64_t)time(NULL), ULO_UTC_ISO, m.created, sizeof(m.created));

	t.img_name = img_tmp;
	t.hash_name = hash_tmp;
	t.img = publish_create_tmp(p, img_tmp);
	if (t.img < 0) {
		ret = t.img;
		goto out;
	}
	ret = publish_copy(p, t.img, img_tmp, &m.size);
	if (ret)
		goto out;
	m.vp.data_block_size = m.vp.hash_block_size = PUBLISH_BLOCK;
	m.vp.data_blocks = m.size / PUBLISH_BLOCK;
	m.vp.salt_size = ULO_SHA256_LEN;
	if ((!(nvers && publish_salt_of(p, vers[0], &m.vp)) &&
	     getrandom(m.vp.salt, m.vp.salt_size, 0) != (ssize_t)m.vp.salt_size) ||
	    getrandom(m.vp.uuid, sizeof(m.vp.uuid), 0) != (ssize_t)sizeof(m.vp.uuid)) {
		ret = ulo_errno(-errno, "publish: random salt");
		goto out;
	}
	t.hash = publish_create_tmp(p, hash_tmp);
	if (t.hash < 0) {
		ret = t.hash;
		goto out;
	}
	ret = ulo_verity_build(&m.vp, publish_tree_read, publish_tree_write, &t, m.root);
	if (ret)
		goto out;
	ret = publish_seal(p, t.img, img_tmp, m.image);
	t.img = -1;
	if (!ret)
		ret = publish_seal(p, t.hash, hash_tmp, m.hash_tree);
	t.hash = -1;
	if (ret)
		goto out;
	/* Seed maps are a saving, not the version: one that cannot be made
	 * (an old version's files damaged) is told and left out. */
	for (size_t i = 0; i < nvers && i < PUBLISH_SEEDS; i++)
		if (publish_seed(p, &m, vers[i]))
			fprintf(stderr, "uloop publish: no seed map from version %" PRIu64 ": %s\n",
				vers[i], ulo_errmsg());
	len = ulo_manifest_format(&m, text, sizeof(text));
	ret = len < 0 ? ulo_err(len, "%s: manifest too long", p->name) : 0;
	if (!ret && p->key)
		ret = publish_sign(p, text, &len, sizeof(text));
	if (!ret)
		ret = publish_manifest(p, text, (size_t)len);
	if (ret)
		goto out;
	if (p->prune)
		ret = publish_prune(p, &removed);
	ulo_hex(m.root, ULO_SHA256_LEN, root);
	printf("published %s version %" PRIu64 " in %s: %s (%" PRIu64 " bytes), %s, %s.uloop\n",
	       p->name, m.version, p->dir, m.image, m.size, m.hash_tree, p->name);
	if (p->key)
		printf("manifest signed with %s (%s)\n", p->key, ULO_SIG_ALG);
	if (removed)
		printf("pruned %u older version%s\n", removed, removed == 1 ? "" : "s");
	printf("root hash (dm-verity, sha256): %s\n"
	       "kernel command line (URL: where the web server serves %s):\n"
	       "  root=uloop:URL/%s.uloop rd.uloop.roothash=%s\n"
	       "      this version, verified against its root hash; or\n"
	       "  root=uloop:URL/%s.uloop\n"
	       "      the newest version, %s\n", root, p->dir, m.name, root, m.name,
	       p->key ? "its signature verified with the public key packed into the initramfs"
		      : "as the server names it (sign it to verify it)");
out:
	if (t.img >= 0) {
		close(t.img);
		unlinkat(p->dirfd, img_tmp, 0);
	}
	if (t.hash >= 0) {
		close(t.hash);
		unlinkat(p->dirfd, hash_tmp, 0);
	}
	free(vers);
	close(lockfd);
	return ret;
}

int cmd_publish(int argc, char **argv)
{
	static const struct option lopts[] = {
		CLI_OPT_HELP, CLI_OPT_VERBOSE,
		{ "name", required_argument, NULL, OPT_NAME },
		{ "sign", required_argument, NULL, OPT_SIGN },
		{ "prune", required_argument, NULL, OPT_PRUNE },
		CLI_OPT_END
	};
	struct publish p = { .dirfd = -1 };
	struct cli_opts o;
	int ret;

	ret = cli_parse_own(argc, argv, lopts, publish_usage, 2, "IMAGE and DIR", &o,
			    publish_opt, &p);
	if (ret >= 0)
		return ret;
	p.image = argv[optind];
	p.dir = argv[optind + 1];
	if (!p.name) {
		const char *b = strrchr(p.image, '/') ? strrchr(p.image, '/') + 1 : p.image;

		snprintf(p.namebuf, sizeof(p.namebuf), "%.*s", (int)strcspn(b, "."), b);
		p.name = p.namebuf;
	}
	if (!ulo_manifest_name_ok(p.name))
		return cli_usage_error("--name: '%s' is not a name of 1 to 64 letters, digits, '.', '_' or '-' (not starting with '.' or '-')",
				       p.name);
	p.in = open(p.image, O_RDONLY | O_CLOEXEC);
	if (p.in < 0) {
		cli_note("%s: %s", p.image, strerror(errno));
		return ULO_EXIT_FAIL;
	}
	p.dirfd = open(p.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (p.dirfd < 0) {
		cli_note("%s: %s", p.dir, strerror(errno));
		close(p.in);
		return ULO_EXIT_FAIL;
	}
	ret = publish_run(&p);
	close(p.dirfd);
	close(p.in);
	return ret ? cli_fail() : ULO_EXIT_OK;
}
