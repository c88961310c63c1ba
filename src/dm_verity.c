// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * dm_verity.c - dm-verity over a uloop device with the device-mapper
 * ioctls (see dm_verity.h).
 *
 * What dmsetup does for "create NAME --table ..." is three ioctls on
 * /dev/mapper/control: DM_DEV_CREATE (the name, an inactive device),
 * DM_TABLE_LOAD (one "verity" target, read-only) and DM_DEV_SUSPEND
 * without DM_SUSPEND_FLAG (which resumes: the loaded table goes live).
 * The table is the kernel's documented one (Documentation/admin-guide/
 * device-mapper/verity.rst):
 *
 *   1 DATA HASH DATA_BS HASH_BS DATA_BLOCKS HASH_START sha256 ROOT SALT [1 MODE]
 *
 * with DATA = HASH = the uloop device as MAJOR:MINOR, and HASH_START the
 * hash block after the superblock's.  The control node is made when
 * devtmpfs has not (an initramfs without udev), and the new device's
 * node, /dev/dm-N, is waited for (devtmpfs makes it as the disk appears,
 * on resume).
 */
#include "dm_verity.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <linux/dm-ioctl.h>

#include "util.h"

#define ULO_DM_CONTROL "/dev/mapper/control"
#define ULO_DM_CONTROL_MINOR 236	/* misc device: MAPPER_CTRL_MINOR */
#define ULO_DM_BUF 16384
#define ULO_DM_NODE_WAIT_MS 5000

int ulo_dm_verity_mode_parse(const char *s, enum ulo_dm_verity_mode *out)
{
	if (!strcmp(s, "eio"))
		*out = ULO_DM_VERITY_EIO;
	else if (!strcmp(s, "restart"))
		*out = ULO_DM_VERITY_RESTART;
	else if (!strcmp(s, "panic"))
		*out = ULO_DM_VERITY_PANIC;
	else
		return -EINVAL;
	return 0;
}

void ulo_dm_verity_name(const char *dev, char *out, size_t cap)
{
	const char *b = strrchr(dev, '/');

	snprintf(out, cap, "uloop-verity-%s", b ? b + 1 : dev);
}

static int ulo_dm_open_control(void)
{
	int fd = open(ULO_DM_CONTROL, O_RDWR | O_CLOEXEC);

	if (fd < 0 && errno == ENOENT) {
		/* No devtmpfs node (dm-mod loaded before devtmpfs was
		 * mounted, or a static /dev): make it. */
		mkdir("/dev/mapper", 0755);
		if (mknod(ULO_DM_CONTROL, S_IFCHR | 0600, makedev(10, ULO_DM_CONTROL_MINOR)) &&
		    errno != EEXIST)
			return ulo_errno(-errno, "%s: cannot make it", ULO_DM_CONTROL);
		fd = open(ULO_DM_CONTROL, O_RDWR | O_CLOEXEC);
	}
	if (fd < 0)
		return ulo_errno(-errno, "%s (is dm-mod loaded?)", ULO_DM_CONTROL);
	return fd;
}

/* A request for @name in @buf (ULO_DM_BUF bytes, zeroed). */
static struct dm_ioctl *ulo_dm_req(void *buf, const char *name)
{
	struct dm_ioctl *io = buf;

	memset(buf, 0, ULO_DM_BUF);
	io->version[0] = DM_VERSION_MAJOR;
	io->version[1] = 0;
	io->version[2] = 0;
	io->data_size = ULO_DM_BUF;
	io->data_start = sizeof(*io);
	snprintf(io->name, sizeof(io->name), "%s", name);
	return io;
}

static int ulo_dm_call(int fd, unsigned long req, struct dm_ioctl *io, const char *what)
{
	if (ioctl(fd, req, io) == 0)
		return 0;
	return ulo_errno(-errno, "device-mapper %s: %s", io->name, what);
}

/* The control node open and a request buffer (ULO_DM_BUF bytes) for
 * @name: the fd, or -errno with the message recorded (nothing to free). */
static int ulo_dm_begin(const char *name, void **buf)
{
	int fd;

	*buf = malloc(ULO_DM_BUF);
	if (!*buf)
		return ulo_errno(-ENOMEM, "device-mapper %s", name);
	fd = ulo_dm_open_control();
	if (fd < 0) {
		free(*buf);
		*buf = NULL;
	}
	return fd;
}

int ulo_dm_remove(const char *name)
{
	void *buf;
	int fd = ulo_dm_begin(name, &buf), ret;

	if (fd < 0)
		return fd;
	ret = ulo_dm_call(fd, DM_DEV_REMOVE, ulo_dm_req(buf, name), "remove");
	close(fd);
	free(buf);
	return ret;
}

/* Wait for devtmpfs to make /dev/dm-@minor, and check it is that device. */
static int ulo_dm_wait_node(dev_t dev, char *out, size_t cap)
{
	struct stat st;

	snprintf(out, cap, "/dev/dm-%u", minor(dev));
	for (int ms = 0; ms < ULO_DM_NODE_WAIT_MS; ms += 20) {
		if (stat(out, &st) == 0 && S_ISBLK(st.st_mode) && st.st_rdev == dev)
			return 0;
		usleep(20000);
	}
	return ulo_err(-ENODEV, "%s: no such node %u ms after the device was made (is devtmpfs mounted on /dev?)",
		       out, ULO_DM_NODE_WAIT_MS);
}

int ulo_dm_verity_create(const char *name, const char *dev,
			 const struct ulo_verity_info *vi,
			 enum ulo_dm_verity_mode mode, char *out, size_t cap)
{
	static const char *const mode_arg[] = {
		[ULO_DM_VERITY_EIO] = "",
		[ULO_DM_VERITY_RESTART] = " 1 restart_on_corruption",
		[ULO_DM_VERITY_PANIC] = " 1 panic_on_corruption",
	};
	struct dm_target_spec *t;
	struct dm_ioctl *io;
	struct stat st;
	char *params;
	void *buf;
	dev_t made;
	int fd, ret, n;

	if (stat(dev, &st))
		return ulo_errno(-errno, "%s", dev);
	if (!S_ISBLK(st.st_mode))
		return ulo_err(-ENOTBLK, "%s: not a block device", dev);
	if (strlen(name) >= DM_NAME_LEN)
		return ulo_err(-ENAMETOOLONG, "device-mapper %s: name too long", name);
	fd = ulo_dm_begin(name, &buf);
	if (fd < 0)
		return fd;
	io = ulo_dm_req(buf, name);
	snprintf(io->uuid, sizeof(io->uuid), "ULOOP-VERITY-%s", vi->root_hex);
	ret = ulo_dm_call(fd, DM_DEV_CREATE, io, "create");
	if (ret) {
		if (ret == -EBUSY)
			ret = ulo_err(-EEXIST, "device-mapper %s: exists already (uloop verity %s --remove)",
				      name, dev);
		goto out;
	}
	made = (dev_t)io->dev;

	io = ulo_dm_req(buf, name);
	io->target_count = 1;
	io->flags = DM_READONLY_FLAG;
	t = (struct dm_target_spec *)((char *)buf + sizeof(*io));
	t->sector_start = 0;
	t->length = vi->data_blocks * vi->data_block_size / 512;
	snprintf(t->target_type, sizeof(t->target_type), "verity");
	params = (char *)(t + 1);
	n = snprintf(params, ULO_DM_BUF - sizeof(*io) - sizeof(*t),
		     "1 %u:%u %u:%u %" PRIu32 " %" PRIu32 " %" PRIu64 " %" PRIu64 " sha256 %s %s%s",
		     major(st.st_rdev), minor(st.st_rdev), major(st.st_rdev), minor(st.st_rdev),
		     vi->data_block_size, vi->hash_block_size, vi->data_blocks, vi->hash_start,
		     vi->root_hex, vi->salt_hex[0] ? vi->salt_hex : "-", mode_arg[mode]);
	t->next = ULO_ROUND_UP(sizeof(*t) + (size_t)n + 1, (size_t)8);
	ret = ulo_dm_call(fd, DM_TABLE_LOAD, io,
			  "the verity table was refused (is dm-verity loaded? see the kernel log)");
	if (!ret)
		ret = ulo_dm_call(fd, DM_DEV_SUSPEND, ulo_dm_req(buf, name), "resume");
	if (!ret)
		ret = ulo_dm_wait_node(made, out, cap);
	if (ret) {
		char why[512];

		/* Leave no half-made device behind; the first error stands. */
		snprintf(why, sizeof(why), "%s", ulo_errmsg());
		ioctl(fd, DM_DEV_REMOVE, ulo_dm_req(buf, name));
		ulo_err(ret, "%s", why);
	}
out:
	close(fd);
	free(buf);
	return ret;
}

int ulo_dm_verity_remove_over(const char *dev)
{
	const char *base = strrchr(dev, '/') ? strrchr(dev, '/') + 1 : dev;
	char want[128], path[512], name[160];
	struct dirent *de;
	DIR *d;
	int ret = 0;

	ulo_dm_verity_name(dev, want, sizeof(want));
	snprintf(path, sizeof(path), "/sys/class/block/%s/holders", base);
	d = opendir(path);
	if (!d)
		return 0;	/* not a block device (fuse), or nothing holds it */
	while ((de = readdir(d)) && !ret) {
		FILE *f;
		size_t n = 0;

		if (strncmp(de->d_name, "dm-", 3))
			continue;
		snprintf(path, sizeof(path), "/sys/class/block/%s/holders/%s/dm/name", base, de->d_name);
		f = fopen(path, "re");
		if (f) {
			n = fread(name, 1, sizeof(name) - 1, f);
			fclose(f);
		}
		name[n] = '\0';
		name[strcspn(name, "\n")] = '\0';
		if (!strcmp(name, want)) {
			ret = ulo_dm_remove(want);
			if (ret == -EBUSY)
				ret = ulo_err(-EBUSY, "%s: in use through /dev/%s (%s: mounted?)",
					      dev, de->d_name, want);
		}
	}
	closedir(d);
	return ret;
}
