/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * daemon.h - what makes `uloop attach` a daemon, and a root-disk one.
 *
 * ulo_daemonize() forks; the parent waits on a pipe until the child says
 * "ready DEVICE" (printed, exit 0) or "error MESSAGE" (printed, exit 1),
 * so `uloop attach` returns once the device is usable, or fails with the
 * child's own message.  A daemon serving the root filesystem must not be
 * killed by systemd's shutdown logic, swapped out, or chosen by the OOM
 * killer: ulo_root_storage_daemon() does the three things that prevent it.
 */
#ifndef ULOOP_DAEMON_H
#define ULOOP_DAEMON_H

#include <stdbool.h>

/*
 * In the parent: never returns (exits with the child's verdict).  In the
 * child: returns the write end of the pipe (for ulo_daemon_ready/fail),
 * in a new session, with stdin on /dev/null.  -errno if fork fails.
 */
int ulo_daemonize(void);
/* Tell the waiting parent; -1 (foreground) prints instead. */
void ulo_daemon_ready(int fd, const char *device);
void ulo_daemon_fail(int fd, const char *msg);

/*
 * When /etc/initrd-release exists (we run from an initramfs and will
 * serve the root): argv[0][0] = '@' (systemd spares such processes at
 * switch-root and shutdown), mlockall(), oom_score_adj = -1000.  Returns
 * true if it applied them; failures of the last two are reported via
 * @warn (may be NULL) and not fatal.
 */
bool ulo_root_storage_daemon(char *argv0, void (*warn)(const char *msg));
/*
 * The same three things unconditionally: for a daemon that took over the
 * device of a root-disk daemon (its run state says so).  A supervisor in
 * the real root restarts it there, where /etc/initrd-release is gone, and
 * it serves the root all the same: the kernel must not pick it for an
 * OOM kill, nor page it out, any more than its predecessor.
 */
void ulo_root_storage_apply(char *argv0, void (*warn)(const char *msg));

#endif
