// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cmd_shutdown.c - the initramfs side of a shutdown: uloop run as
 * /run/initramfs/shutdown.
 *
 * At poweroff, systemd-shutdown kills every process but root storage
 * ('@': the uloop daemon), unmounts what it can (not the root: it stands
 * on the uloop device) and, where /run/initramfs/shutdown is executable,
 * pivots into /run/initramfs (the old root at /oldroot; /run, /dev, /proc
 * and /sys bound in) and execs it as PID 1 with the verb as an argument
 * ("poweroff", "reboot", "halt", "kexec").  The boot library links the
 * static uloop there (initramfs/lib/boot.sh, uloop_prepare_shutdown), in
 * every flavour: a static binary needs no shell or libraries of the
 * initramfs that is gone.
 *
 * Then, with nothing left reading the root: the old root's tree is
 * detached (lazily: no process uses it, the filesystems go as their last
 * user does), every uloop device is detached (its daemon commits its
 * cache, marks it clean and exits; a device something still holds is
 * synced instead: every block fetched is committed, the daemon serves on),
 * the disks are synced, and the machine goes down as asked.  As PID 1
 * this never returns: the kernel would panic.  A line on the console for
 * each device says what happened.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/reboot.h>

#include "cli.h"
#include "runstate.h"
#include "transport.h"
#include "util.h"

/* How long a device may stay busy once the old root is detached: the
 * filesystems on it go when the kernel's deferred puts have run. */
#define SHUTDOWN_BUSY_MS 2000
#define SHUTDOWN_SYNC_MS 30000

static void shutdown_say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void shutdown_say(const char *fmt, ...)
{
	va_list ap;

	fputs("uloop: shutdown: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Wait until @pid has exited and its files are closed (it is our child
 * now, reaped at once: SIGCHLD ignored), so its cache's filesystem is
 * released before the disks are synced. */
static void shutdown_wait_gone(pid_t pid)
{
	for (int ms = 0; pid > 0 && ms < 5000 && kill(pid, 0) == 0; ms += 20)
		usleep(20000);
}

static int shutdown_one(const char *dev, void *ctx)
{
	pid_t pid = ulo_runstate_pid(dev);
	int ret = -EBUSY;

	(void)ctx;
	for (int ms = 0; ret == -EBUSY && ms < SHUTDOWN_BUSY_MS; ms += 100) {
		ret = ulo_transport_detach(dev, false);
		if (ret == -EBUSY)
			usleep(100000);
	}
	if (!ret) {
		shutdown_wait_gone(pid);
		shutdown_say("%s detached: cache committed", dev);
		return 0;
	}
	shutdown_say("%s", ulo_errmsg());
	if (ulo_runstate_sync(dev, SHUTDOWN_SYNC_MS))
		shutdown_say("%s", ulo_errmsg());
	else
		shutdown_say("%s still in use: cache committed, daemon left running", dev);
	return 0;
}

static void shutdown_mount(const char *dir, const char *type, const char *probe)
{
	if (access(probe, F_OK) == 0)
		return;
	mkdir(dir, 0755);
	if (mount(type, dir, type, 0, NULL) < 0)
		shutdown_say("mount %s on %s: %s", type, dir, strerror(errno));
}

int cmd_shutdown(int argc, char **argv)
{
	static const struct { const char *verb; int cmd; } verbs[] = {
		{ "poweroff", RB_POWER_OFF }, { "reboot", RB_AUTOBOOT },
		{ "halt", RB_HALT_SYSTEM }, { "kexec", LINUX_REBOOT_CMD_KEXEC },
	};
	const char *verb = "poweroff";
	int cmd = RB_POWER_OFF;

	if (getpid() != 1) {
		fprintf(stderr, "uloop: shutdown: this is systemd-shutdown's /run/initramfs/shutdown, run as PID 1 only\n");
		return ULO_EXIT_USAGE;
	}
	/* systemd-shutdown's arguments: the verb among its options. */
	for (int i = 1; i < argc; i++)
		for (size_t v = 0; v < sizeof(verbs) / sizeof(verbs[0]); v++)
			if (!strcmp(argv[i], verbs[v].verb)) {
				verb = verbs[v].verb;
				cmd = verbs[v].cmd;
			}
	signal(SIGCHLD, SIG_IGN);
	/* systemd binds these in; a shutdown run some other way may not. */
	shutdown_mount("/proc", "proc", "/proc/self");
	shutdown_mount("/sys", "sysfs", "/sys/block");
	shutdown_mount("/dev", "devtmpfs", "/dev/null");
	if (umount2("/oldroot", MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
		shutdown_say("detach /oldroot: %s", strerror(errno));
	ulo_runstate_each(shutdown_one, NULL);
	sync();
	shutdown_say("%s", verb);
	reboot(cmd);
	shutdown_say("%s: %s", verb, strerror(errno));
	for (;;)
		pause();
}
