/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * nbd_netlink.h - the kernel nbd driver's generic-netlink interface.
 *
 * CONNECT hands the driver our ends of socketpairs and gets a device;
 * RECONFIGURE hands a live device new sockets (a restarted daemon taking
 * its device back while the driver holds the requests of the dead one);
 * DISCONNECT ends it; STATUS says whether a device is connected.  Raw
 * netlink, no libnl: the static binary stays small.
 */
#ifndef ULOOP_NBD_NETLINK_H
#define ULOOP_NBD_NETLINK_H

#include <stdbool.h>
#include <stdint.h>

struct ulo_nbd_params {
	uint64_t size;		/* bytes */
	uint64_t block_size;	/* logical block size: 512..4096 */
	uint64_t server_flags;	/* NBD_FLAG_* */
	uint64_t timeout_s;	/* per request, before the driver gives up */
	uint64_t dead_conn_s;	/* how long a dead daemon's requests wait */
	const char *backend;	/* shown in /sys/block/nbdN/backend */
};

/* Connect @nsocks sockets as device @index (-1: the driver picks); the
 * device number goes to *@out.  0 or -errno with the message recorded
 * (-ENOENT: the nbd module is not loaded). */
int ulo_nbd_nl_connect(int index, const int *socks, unsigned nsocks,
		       const struct ulo_nbd_params *p, int *out);
int ulo_nbd_nl_reconfigure(int index, const int *socks, unsigned nsocks,
			   const struct ulo_nbd_params *p);
int ulo_nbd_nl_disconnect(int index);
/* *@connected: the device has live or waiting connections. */
int ulo_nbd_nl_status(int index, bool *connected);

#endif
