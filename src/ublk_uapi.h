/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ublk_uapi.h - the ublk driver's interface (include/uapi/linux/ublk_cmd.h)
 * as the ublk transport uses it, on any build host.
 *
 * Debian 12's linux-libc-dev (6.1) has the header, but not what later
 * kernels added and the transport uses where the running kernel has it:
 * ioctl-encoded command numbers (UBLK_F_CMD_IOCTL_ENCODE, the only ones a
 * kernel built without CONFIG_BLKDEV_UBLK_LEGACY_OPCODES takes), the
 * GET_FEATURES probe and DEL_DEV_ASYNC.  Those are defined here with the
 * kernel's values when the header lacks them; the structures are the
 * same size in both (6.12 split ublksrv_ctrl_cmd's second data word into
 * fields the transport never sets).
 */
#ifndef ULOOP_UBLK_UAPI_H
#define ULOOP_UBLK_UAPI_H

#include <sys/ioctl.h>
#include <linux/ublk_cmd.h>

#ifndef UBLK_F_UNPRIVILEGED_DEV
#define UBLK_F_UNPRIVILEGED_DEV	(1UL << 5)
#endif
#ifndef UBLK_F_CMD_IOCTL_ENCODE
#define UBLK_F_CMD_IOCTL_ENCODE	(1UL << 6)
#endif
#ifndef UBLK_FEATURES_LEN
#define UBLK_FEATURES_LEN	8
#endif

/* Encoded control commands: type 'u', the legacy number, the header. */
#define ULO_UBLK_IOR(nr)	_IOR('u', nr, struct ublksrv_ctrl_cmd)
#define ULO_UBLK_IOWR(nr)	_IOWR('u', nr, struct ublksrv_ctrl_cmd)
#define ULO_UBLK_CMD_GET_FEATURES	0x13
#define ULO_UBLK_CMD_DEL_DEV_ASYNC	0x14
/* Encoded I/O commands. */
#define ULO_UBLK_IO(nr)		_IOWR('u', nr, struct ublksrv_io_cmd)

#endif
