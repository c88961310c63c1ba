// SPDX-License-Identifier: GPL-2.0-or-later
/* daemon.c - see daemon.h. */
#include "daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "util.h"

int ulo_daemonize(void)
{
	char msg[1200];
	int p[2], fd;
	pid_t pid;
	ssize_t n;
	size_t got = 0;

	if (pipe2(p, O_CLOEXEC) < 0)
		return ulo_errno(-errno, "pipe");
	pid = fork();
	if (pid < 0)
		return ulo_errno(-errno, "fork");
	if (pid > 0) {
		close(p[1]);
		while (got < sizeof(msg) - 1 &&
		       (n = read(p[0], msg + got, sizeof(msg) - 1 - got)) != 0) {
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				break;
			got += n;
		}
		msg[got] = '\0';
		if (!strncmp(msg, "ready ", 6)) {
			fputs(msg + 6, stdout);
			exit(0);
		}
		if (!strncmp(msg, "error ", 6)) {
			fputs(msg + 6, stderr);
		} else {
			int st = 0;

			waitpid(pid, &st, 0);
			if (WIFSIGNALED(st))
				fprintf(stderr, "uloop: attach: the daemon was killed by signal %d before the device was ready\n",
					WTERMSIG(st));
			else
				fprintf(stderr, "uloop: attach: the daemon exited (status %d) before the device was ready\n",
					WEXITSTATUS(st));
		}
		exit(1);
	}
	close(p[0]);
	setsid();
	/* Never keep the caller's directory (a mount point) busy. */
	if (chdir("/") < 0)
		ulo_debug("daemon", "chdir /: %s", strerror(errno));
	fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (fd >= 0) {
		dup2(fd, STDIN_FILENO);
		close(fd);
	}
	return p[1];
}

static void ulo_daemon_say(int fd, const char *what, const char *text)
{
	char buf[1200];
	int n = snprintf(buf, sizeof(buf), "%s %s\n", what, text);

	if (fd < 0) {
		fputs(buf + strlen(what) + 1, *what == 'r' ? stdout : stderr);
		fflush(NULL);
		return;
	}
	if (write(fd, buf, ULO_MIN((size_t)n, sizeof(buf) - 1)) < 0)
		ulo_debug("daemon", "ready pipe: %s", strerror(errno));
	close(fd);
	/* Nobody reads our stdout or stderr any more. */
	fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (fd >= 0) {
		dup2(fd, STDOUT_FILENO);
		if (!ulo_debug_on("daemon"))
			dup2(fd, STDERR_FILENO);
		close(fd);
	}
}

void ulo_daemon_ready(int fd, const char *device)
{
	ulo_daemon_say(fd, "ready", device);
}

void ulo_daemon_fail(int fd, const char *msg)
{
	char buf[1100];

	snprintf(buf, sizeof(buf), "uloop: %s", msg);
	ulo_daemon_say(fd, "error", buf);
}

bool ulo_root_storage_daemon(char *argv0, void (*warn)(const char *msg))
{
	if (access("/etc/initrd-release", F_OK) != 0)
		return false;
	ulo_root_storage_apply(argv0, warn);
	return true;
}

void ulo_root_storage_apply(char *argv0, void (*warn)(const char *msg))
{
	char msg[256];
	int fd;

	/* systemd's rule: argv[0][0] == '@' marks a root-storage daemon. */
	argv0[0] = '@';
	/* MCL_ONFAULT: lock what is used, not every thread's whole stack
	 * reservation (8 MiB each). */
	if (mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) < 0 &&
	    mlockall(MCL_CURRENT | MCL_FUTURE) < 0 && warn) {
		snprintf(msg, sizeof(msg), "mlockall: %s (may be swapped out)",
			 strerror(errno));
		warn(msg);
	}
	fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
	if ((fd < 0 || write(fd, "-1000", 5) != 5) && warn) {
		snprintf(msg, sizeof(msg), "oom_score_adj: %s", strerror(errno));
		warn(msg);
	}
	if (fd >= 0)
		close(fd);
}
