// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * nbd_netlink.c - see nbd_netlink.h.
 *
 * A message is built in one buffer: nlmsghdr, genlmsghdr, then attributes
 * (nested ones for the socket list).  Every request asks for an ACK, so a
 * failure comes back as an NLMSG_ERROR carrying the driver's errno.
 */
#include "nbd_netlink.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/genetlink.h>
#include <linux/nbd-netlink.h>
#include <linux/netlink.h>

#include "util.h"

#define ULO_NL_BUF 8192

struct ulo_nl {
	int fd;
	uint16_t family;
	uint32_t seq;
	uint8_t buf[ULO_NL_BUF];
	size_t len;		/* bytes in buf being built */
};

static struct nlattr *ulo_nl_put(struct ulo_nl *nl, uint16_t type,
				 const void *data, size_t len)
{
	struct nlattr *a = (struct nlattr *)(nl->buf + nl->len);
	size_t total = NLA_ALIGN(NLA_HDRLEN + len);

	if (nl->len + total > sizeof(nl->buf))
		return NULL;
	a->nla_type = type;
	a->nla_len = NLA_HDRLEN + len;
	if (len)
		memcpy((uint8_t *)a + NLA_HDRLEN, data, len);
	memset((uint8_t *)a + NLA_HDRLEN + len, 0, total - NLA_HDRLEN - len);
	nl->len += total;
	return a;
}

static void ulo_nl_put_u64(struct ulo_nl *nl, uint16_t type, uint64_t v)
{
	ulo_nl_put(nl, type, &v, sizeof(v));
}

static void ulo_nl_put_u32(struct ulo_nl *nl, uint16_t type, uint32_t v)
{
	ulo_nl_put(nl, type, &v, sizeof(v));
}

static void ulo_nl_begin(struct ulo_nl *nl, uint16_t family, uint8_t cmd,
			 uint16_t flags)
{
	struct nlmsghdr *h = (struct nlmsghdr *)nl->buf;
	struct genlmsghdr *g = (struct genlmsghdr *)(nl->buf + NLMSG_HDRLEN);

	memset(nl->buf, 0, NLMSG_HDRLEN + GENL_HDRLEN);
	h->nlmsg_type = family;
	h->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
	h->nlmsg_seq = ++nl->seq;
	g->cmd = cmd;
	g->version = family == GENL_ID_CTRL ? 1 : NBD_GENL_VERSION;
	nl->len = NLMSG_HDRLEN + GENL_HDRLEN;
}

/* Walk the attributes in [p, p + len): call @fn for each. */
static void ulo_nl_attrs(const uint8_t *p, size_t len,
			 void (*fn)(void *ctx, const struct nlattr *a), void *ctx)
{
	while (len >= NLA_HDRLEN) {
		const struct nlattr *a = (const struct nlattr *)p;

		if (a->nla_len < NLA_HDRLEN || a->nla_len > len)
			return;
		fn(ctx, a);
		size_t step = NLA_ALIGN((size_t)a->nla_len);

		p += step;
		len = len > step ? len - step : 0;
	}
}

/*
 * Send the built message; read replies until the ACK, passing each data
 * message's attributes to @fn.  Returns 0 or the kernel's -errno.
 */
static int ulo_nl_talk(struct ulo_nl *nl,
		       void (*fn)(void *ctx, const struct nlattr *a), void *ctx)
{
	struct nlmsghdr *h = (struct nlmsghdr *)nl->buf;
	uint32_t seq = h->nlmsg_seq;

	h->nlmsg_len = nl->len;
	if (send(nl->fd, nl->buf, nl->len, 0) < 0)
		return -errno;
	for (;;) {
		ssize_t n = recv(nl->fd, nl->buf, sizeof(nl->buf), 0);
		size_t left;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		left = n;
		for (h = (struct nlmsghdr *)nl->buf;
		     left >= sizeof(*h) && h->nlmsg_len >= sizeof(*h) &&
		     h->nlmsg_len <= left;
		     left -= ULO_MIN(left, (size_t)NLMSG_ALIGN(h->nlmsg_len)),
		     h = (struct nlmsghdr *)((uint8_t *)h + NLMSG_ALIGN(h->nlmsg_len))) {
			if (h->nlmsg_seq != seq)
				continue;
			if (h->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(h);

				return e->error;	/* 0: the ACK */
			}
			if (h->nlmsg_type == NLMSG_DONE)
				return 0;
			if (fn && h->nlmsg_len >= NLMSG_HDRLEN + GENL_HDRLEN)
				ulo_nl_attrs((uint8_t *)h + NLMSG_HDRLEN + GENL_HDRLEN,
					     h->nlmsg_len - NLMSG_HDRLEN - GENL_HDRLEN,
					     fn, ctx);
		}
	}
}

static void ulo_nl_family_cb(void *ctx, const struct nlattr *a)
{
	if (a->nla_type == CTRL_ATTR_FAMILY_ID && a->nla_len >= NLA_HDRLEN + 2)
		memcpy(ctx, (const uint8_t *)a + NLA_HDRLEN, 2);
}

static int ulo_nl_open(struct ulo_nl *nl)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	uint16_t id = 0;
	int ret;

	memset(nl, 0, sizeof(*nl));
	nl->fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_GENERIC);
	if (nl->fd < 0)
		return ulo_errno(-errno, "nbd: netlink socket");
	if (bind(nl->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		ret = ulo_errno(-errno, "nbd: netlink bind");
		goto out;
	}
	ulo_nl_begin(nl, GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 0);
	ulo_nl_put(nl, CTRL_ATTR_FAMILY_NAME, NBD_GENL_FAMILY_NAME,
		   sizeof(NBD_GENL_FAMILY_NAME));
	ret = ulo_nl_talk(nl, ulo_nl_family_cb, &id);
	if (ret || !id) {
		ret = ulo_err(-ENOENT,
			      "nbd: the kernel has no nbd netlink interface (modprobe nbd)");
		goto out;
	}
	nl->family = id;
	return 0;
out:
	close(nl->fd);
	return ret;
}

static void ulo_nl_put_params(struct ulo_nl *nl, const int *socks,
			      unsigned nsocks, const struct ulo_nbd_params *p,
			      bool sizes)
{
	struct nlattr *list, *item;

	if (sizes) {
		ulo_nl_put_u64(nl, NBD_ATTR_SIZE_BYTES, p->size);
		ulo_nl_put_u64(nl, NBD_ATTR_BLOCK_SIZE_BYTES, p->block_size);
		ulo_nl_put_u64(nl, NBD_ATTR_SERVER_FLAGS, p->server_flags);
		ulo_nl_put_u64(nl, NBD_ATTR_TIMEOUT, p->timeout_s);
	}
	/* The driver accepts new sockets only for the same backend: the
	 * successor must serve the image its predecessor served. */
	if (p->backend)
		ulo_nl_put(nl, NBD_ATTR_BACKEND_IDENTIFIER, p->backend,
			   strlen(p->backend) + 1);
	ulo_nl_put_u64(nl, NBD_ATTR_DEAD_CONN_TIMEOUT, p->dead_conn_s);
	list = ulo_nl_put(nl, NBD_ATTR_SOCKETS | NLA_F_NESTED, NULL, 0);
	for (unsigned i = 0; list && i < nsocks; i++) {
		item = ulo_nl_put(nl, NBD_SOCK_ITEM | NLA_F_NESTED, NULL, 0);
		if (!item)
			break;
		ulo_nl_put_u32(nl, NBD_SOCK_FD, socks[i]);
		item->nla_len = nl->buf + nl->len - (uint8_t *)item;
	}
	if (list)
		list->nla_len = nl->buf + nl->len - (uint8_t *)list;
}

static void ulo_nl_index_cb(void *ctx, const struct nlattr *a)
{
	if (a->nla_type == NBD_ATTR_INDEX && a->nla_len >= NLA_HDRLEN + 4)
		memcpy(ctx, (const uint8_t *)a + NLA_HDRLEN, 4);
}

int ulo_nbd_nl_connect(int index, const int *socks, unsigned nsocks,
		       const struct ulo_nbd_params *p, int *out)
{
	struct ulo_nl nl;
	uint32_t got = UINT32_MAX;
	int ret = ulo_nl_open(&nl);

	if (ret)
		return ret;
	ulo_nl_begin(&nl, nl.family, NBD_CMD_CONNECT, 0);
	if (index >= 0)
		ulo_nl_put_u32(&nl, NBD_ATTR_INDEX, index);
	ulo_nl_put_params(&nl, socks, nsocks, p, true);
	ret = ulo_nl_talk(&nl, ulo_nl_index_cb, &got);
	close(nl.fd);
	if (ret && index >= 0)
		return ulo_errno(ret, "/dev/nbd%d: connect", index);
	if (ret)
		return ulo_errno(ret, "nbd: connect");
	*out = index >= 0 ? index : (int)got;
	return 0;
}

int ulo_nbd_nl_reconfigure(int index, const int *socks, unsigned nsocks,
			   const struct ulo_nbd_params *p)
{
	struct ulo_nl nl;
	int ret = ulo_nl_open(&nl);

	if (ret)
		return ret;
	ulo_nl_begin(&nl, nl.family, NBD_CMD_RECONFIGURE, 0);
	ulo_nl_put_u32(&nl, NBD_ATTR_INDEX, index);
	ulo_nl_put_params(&nl, socks, nsocks, p, false);
	ret = ulo_nl_talk(&nl, NULL, NULL);
	close(nl.fd);
	if (ret)
		return ulo_errno(ret, "/dev/nbd%d: reconfigure", index);
	return 0;
}

int ulo_nbd_nl_disconnect(int index)
{
	struct ulo_nl nl;
	int ret = ulo_nl_open(&nl);

	if (ret)
		return ret;
	ulo_nl_begin(&nl, nl.family, NBD_CMD_DISCONNECT, 0);
	ulo_nl_put_u32(&nl, NBD_ATTR_INDEX, index);
	ret = ulo_nl_talk(&nl, NULL, NULL);
	close(nl.fd);
	if (ret)
		return ulo_errno(ret, "/dev/nbd%d: disconnect", index);
	return 0;
}

struct ulo_nl_status {
	int index;
	bool found, connected;
};

static void ulo_nl_dev_cb(void *ctx, const struct nlattr *a)
{
	struct ulo_nl_status *s = ctx;
	const uint8_t *v = (const uint8_t *)a + NLA_HDRLEN;

	if (a->nla_type == NBD_DEVICE_INDEX && a->nla_len >= NLA_HDRLEN + 4) {
		uint32_t i;

		memcpy(&i, v, 4);
		s->found = (int)i == s->index;
	} else if (a->nla_type == NBD_DEVICE_CONNECTED && s->found &&
		   a->nla_len >= NLA_HDRLEN + 1) {
		s->connected = v[0];
	}
}

static void ulo_nl_item_cb(void *ctx, const struct nlattr *a)
{
	struct ulo_nl_status *s = ctx;

	if ((a->nla_type & NLA_TYPE_MASK) == NBD_DEVICE_ITEM)
		ulo_nl_attrs((const uint8_t *)a + NLA_HDRLEN,
			     a->nla_len - NLA_HDRLEN, ulo_nl_dev_cb, s);
}

static void ulo_nl_list_cb(void *ctx, const struct nlattr *a)
{
	if ((a->nla_type & NLA_TYPE_MASK) == NBD_ATTR_DEVICE_LIST)
		ulo_nl_attrs((const uint8_t *)a + NLA_HDRLEN,
			     a->nla_len - NLA_HDRLEN, ulo_nl_item_cb, ctx);
}

int ulo_nbd_nl_status(int index, bool *connected)
{
	struct ulo_nl_status s = { .index = index };
	struct ulo_nl nl;
	int ret = ulo_nl_open(&nl);

	if (ret)
		return ret;
	ulo_nl_begin(&nl, nl.family, NBD_CMD_STATUS, 0);
	ulo_nl_put_u32(&nl, NBD_ATTR_INDEX, index);
	ret = ulo_nl_talk(&nl, ulo_nl_list_cb, &s);
	close(nl.fd);
	if (ret)
		return ulo_errno(ret, "/dev/nbd%d: status", index);
	*connected = s.connected;
	return 0;
}
