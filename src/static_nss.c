// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * static_nss.c - linked into the static uloop only.
 *
 * c-ares resolves host names itself (/etc/hosts, then the servers in
 * /etc/resolv.conf), but it can look up *service* names through glibc's
 * getservbyname()/getservbyport_r(), which go through NSS: in a static
 * binary that means dlopen()ing NSS modules of the glibc it was built
 * with, which an initramfs does not have.  uloop only ever passes numeric
 * ports, so these answer "no such service" and keep NSS, the dynamic
 * loader and glibc's own resolver out of the binary (about 200 KiB).
 */
#include <errno.h>
#include <netdb.h>
#include <stddef.h>

struct servent *getservbyname(const char *name, const char *proto)
{
	(void)name;
	(void)proto;
	return NULL;
}

int getservbyport_r(int port, const char *proto, struct servent *ret,
		    char *buf, size_t len, struct servent **result)
{
	(void)port;
	(void)proto;
	(void)ret;
	(void)buf;
	(void)len;
	*result = NULL;
	return ENOENT;
}
