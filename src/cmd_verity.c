// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cmd_verity.c - uloop verity DEV: stack dm-verity on an attached
 * verified image, so the kernel checks every block it reads (from the
 * flash as from the network) against the root hash.
 *
 * What the table needs comes from the daemon's run state (the identity:
 * root hash and the tree's geometry, dm_verity.h) and from the device
 * itself (the salt, in the hash file's superblock, which must agree).  A
 * wrong salt or superblock cannot make bad data pass: every digest is
 * salted and checked up to the root hash, so it only makes every read
 * fail.  The root hash is the trust: --root-hash (rd.uloop.roothash)
 * must equal it, or nothing is made.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "dm_verity.h"
#include "runstate.h"
#include "util.h"
#include "verity.h"

enum { OPT_MODE = 700, OPT_REMOVE };

static void verity_usage(FILE *f)
{
	fputs("Usage: uloop verity DEV [--mode eio|restart|panic] [--root-hash HEX]\n"
	      "       uloop verity DEV --remove\n"
	      "\n"
	      "Stack dm-verity on DEV, attached from a manifest (uloop publish): the\n"
	      "kernel then checks every block read through the new device, printed\n"
	      "as /dev/dm-N, against the image's root hash.  --remove takes it away.\n"
	      "\n"
	      "Options:\n"
	      "  --mode M            what a block that fails does: eio (the read fails,\n"
	      "                      default), restart or panic (the machine's)\n"
	      "  --root-hash HEX     refuse unless the image's root hash is HEX\n"
	      "  --remove            remove the dm-verity device over DEV\n", f);
}

struct verity_args {
	enum ulo_dm_verity_mode mode;
	bool remove;
};

static int verity_opt(int opt, const char *arg, void *ctx)
{
	struct verity_args *a = ctx;

	switch (opt) {
	case OPT_MODE:
		if (ulo_dm_verity_mode_parse(arg, &a->mode)) {
			cli_usage_error("--mode: '%s' is not eio, restart or panic", arg);
			exit(ULO_EXIT_USAGE);
		}
		return 1;
	case OPT_REMOVE:
		a->remove = true;
		return 1;
	}
	return 0;
}

/* The verity geometry and root hash of @dev's image, from its run state. */
static int verity_info(const char *dev, struct ulo_verity_info *vi, char *salt, size_t cap)
{
	struct ulo_runstate_info ri;
	struct ulo_identity id = { .kind = ULO_ID_VERITY };

	if (ulo_runstate_read(dev, &ri))
		return ulo_err(-ENOENT, "%s: not attached (no state in %s)", dev, ULO_RUNDIR);
	if (strcmp(ri.kind, ulo_id_kind_name(ULO_ID_VERITY)))
		return ulo_err(-EINVAL, "%s: %s is not a verified image (attach a manifest, NAME.uloop)",
			       dev, ri.source);
	if (!ri.size)
		return ulo_err(-EINVAL, "%s: its run state has no image size", dev);
	id.size = ri.size;
	snprintf(id.validator, sizeof(id.validator), "%s", ri.validator);
	snprintf(id.location, sizeof(id.location), "%s", ri.source);
	snprintf(salt, cap, "%s", ri.salt);
	return ulo_verity_info_of(&id, vi);
}

/* The salt, from the superblock on @dev, which must describe @vi's tree. */
static int verity_salt(const char *dev, struct ulo_verity_info *vi)
{
	uint8_t sb[ULO_VERITY_SB_SIZE];
	struct ulo_verity_params p;
	uint64_t at = (vi->hash_start - 1) * vi->hash_block_size;
	int fd = open(dev, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return ulo_errno(-errno, "%s", dev);
	n = pread(fd, sb, sizeof(sb), (off_t)at);
	close(fd);
	if (n != (ssize_t)sizeof(sb))
		return ulo_errno(n < 0 ? -errno : -EIO, "%s: reading the hash tree's superblock at %" PRIu64,
				 dev, at);
	if (ulo_verity_parse_superblock(sb, dev, &p))
		return -EINVAL;
	if (p.data_blocks != vi->data_blocks || p.data_block_size != vi->data_block_size ||
	    p.hash_block_size != vi->hash_block_size)
		return ulo_err(-EINVAL, "%s: the hash tree's superblock does not describe this image", dev);
	ulo_hex(p.salt, p.salt_size, vi->salt_hex);
	return 0;
}

int cmd_verity(int argc, char **argv)
{
	static const struct option lopts[] = {
		{ "mode", required_argument, NULL, OPT_MODE },
		{ "remove", no_argument, NULL, OPT_REMOVE },
		{ "root-hash", required_argument, NULL, OPT_ROOT_HASH },
		CLI_OPT_HELP, CLI_OPT_VERBOSE, CLI_OPT_END
	};
	struct verity_args a = { .mode = ULO_DM_VERITY_EIO };
	struct ulo_verity_info vi;
	char name[128], node[64], salt[sizeof(vi.salt_hex)] = "";
	struct cli_opts o;
	const char *dev;
	int ret;

	ret = cli_parse_own(argc, argv, lopts, verity_usage, 1, "one DEV", &o,
			    verity_opt, &a);
	if (ret >= 0)
		return ret;
	dev = argv[optind];
	ulo_dm_verity_name(dev, name, sizeof(name));
	if (a.remove)
		return ulo_dm_remove(name) ? cli_fail() : ULO_EXIT_OK;
	if (verity_info(dev, &vi, salt, sizeof(salt)) || verity_salt(dev, &vi))
		return cli_fail();
	if (o.src.root_hash && strcasecmp(o.src.root_hash, vi.root_hex)) {
		ulo_err(-EPERM, "%s: its image's root hash is %s, not the trusted %s; refusing it",
			dev, vi.root_hex, o.src.root_hash);
		return cli_fail();
	}
	if (salt[0] && strcmp(salt, vi.salt_hex)) {
		ulo_err(-EINVAL, "%s: the hash tree's salt is not the manifest's", dev);
		return cli_fail();
	}
	if (ulo_dm_verity_create(name, dev, &vi, a.mode, node, sizeof(node)))
		return cli_fail();
	printf("%s\n", node);
	return ULO_EXIT_OK;
}
