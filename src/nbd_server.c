// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * nbd_server.c - NBD transmission phase, server side (the kernel asks).
 *
 * Request: magic, flags+type, 8-byte handle, offset, length (big endian);
 * a WRITE carries its payload.  Reply: magic, error (an errno), handle,
 * then the data of a successful READ.  Every request is validated before
 * anything is done with it: a wrong magic ends the connection (the stream
 * is out of step), an out-of-range READ or WRITE gets EINVAL, and a failed
 * read gets EIO with no data: the kernel never sees bytes we do not trust.
 * A refused WRITE's payload is still read, so the next request parses.
 */
#include "nbd_server.h"

#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#include <linux/nbd.h>

#include "util.h"

static int ulo_nbd_recv(int fd, void *buf, size_t len)
{
	char *p = buf;

	while (len) {
		ssize_t n = recv(fd, p, len, MSG_WAITALL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -ECONNRESET;
		p += n;
		len -= n;
	}
	return 0;
}

static int ulo_nbd_send(int fd, const struct iovec *iov, int n)
{
	struct iovec v[2];
	size_t left = 0;

	memcpy(v, iov, n * sizeof(*iov));
	for (int i = 0; i < n; i++)
		left += v[i].iov_len;
	while (left) {
		struct msghdr mh = { .msg_iov = v, .msg_iovlen = n };
		ssize_t w = sendmsg(fd, &mh, MSG_NOSIGNAL);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		left -= w;
		for (int i = 0; i < n && w; i++) {
			size_t k = ULO_MIN((size_t)w, v[i].iov_len);

			v[i].iov_base = (char *)v[i].iov_base + k;
			v[i].iov_len -= k;
			w -= k;
		}
	}
	return 0;
}

static int ulo_nbd_reply(int fd, const char *handle, int err, const void *data,
			 size_t len)
{
	struct nbd_reply rep = {
		.magic = htobe32(NBD_REPLY_MAGIC),
		.error = htobe32(err),
	};
	struct iovec iov[2] = {
		{ &rep, sizeof(rep) },
		{ (void *)data, err ? 0 : len },
	};

	memcpy(rep.handle, handle, sizeof(rep.handle));
	return ulo_nbd_send(fd, iov, data && !err ? 2 : 1);
}

/* Read and drop @len payload bytes (a refused WRITE's). */
static int ulo_nbd_discard(int fd, uint64_t len, uint8_t *buf, size_t cap)
{
	while (len) {
		size_t n = ULO_MIN(len, (uint64_t)cap);
		int ret = ulo_nbd_recv(fd, buf, n);

		if (ret)
			return ret;
		len -= n;
	}
	return 0;
}

int ulo_nbd_serve(int fd, uint64_t size, const struct ulo_nbd_ops *ops,
		  void *ctx)
{
	size_t cap = 1u << 20;
	uint8_t *buf = malloc(cap);
	int ret = 0;

	if (!buf)
		return ulo_errno(-ENOMEM, "nbd: buffer");
	for (;;) {
		struct nbd_request req;
		uint32_t type, len;
		uint64_t from;
		int err = 0;

		ret = ulo_nbd_recv(fd, &req, sizeof(req));
		if (ret == -ECONNRESET) {
			ret = 0;	/* the kernel closed it: a disconnect */
			break;
		}
		if (ret) {
			ulo_errno(ret, "nbd: recv");
			break;
		}
		if (be32toh(req.magic) != NBD_REQUEST_MAGIC) {
			ret = ulo_err(-EPROTO, "nbd: bad request magic 0x%08x",
				      be32toh(req.magic));
			break;
		}
		type = be32toh(req.type) & 0xffff;
		from = be64toh(req.from);
		len = be32toh(req.len);
		switch (type) {
		case NBD_CMD_READ:
			if (len > ULO_NBD_MAX_REQUEST || from > size || len > size - from) {
				err = EINVAL;
				break;
			}
			if (len > cap) {
				uint8_t *nb = realloc(buf, len);

				if (!nb) {
					err = ENOMEM;
					break;
				}
				buf = nb;
				cap = len;
			}
			if (ops->read(ctx, buf, from, len)) {
				ulo_debug("nbd", "read %u at %llu: %s", len,
					  (unsigned long long)from, ulo_errmsg());
				err = EIO;
			}
			break;
		case NBD_CMD_WRITE:
			if (!ops->write || len > ULO_NBD_MAX_REQUEST) {
				/* Keep the stream in step: eat the payload. */
				ret = ulo_nbd_discard(fd, len, buf, cap);
				if (ret)
					goto out;
				err = ops->write ? EINVAL : EPERM;
				break;
			}
			if (len > cap) {
				uint8_t *nb = realloc(buf, len);

				if (!nb) {
					ret = ulo_errno(-ENOMEM, "nbd: write buffer");
					goto out;
				}
				buf = nb;
				cap = len;
			}
			ret = ulo_nbd_recv(fd, buf, len);
			if (ret) {
				ulo_errno(ret, "nbd: recv (write payload)");
				goto out;
			}
			if (from > size || len > size - from) {
				err = EINVAL;
				break;
			}
			ret = ops->write(ctx, buf, from, len);
			err = ret == -ENOSPC ? ENOSPC : ret ? EIO : 0;
			ret = 0;
			break;
		case NBD_CMD_FLUSH:
			if (ops->flush && ops->flush(ctx))
				err = EIO;
			break;
		case NBD_CMD_DISC:
			goto out;
		case NBD_CMD_TRIM:
			if (!ops->trim)
				err = EPERM;
			else if (from > size || len > size - from)
				err = EINVAL;
			else if (ops->trim(ctx, from, len))
				err = EIO;
			break;
		default:
			err = EINVAL;
			break;
		}
		ret = ulo_nbd_reply(fd, req.handle, err, buf,
				    type == NBD_CMD_READ ? len : 0);
		if (ret) {
			ulo_errno(ret, "nbd: send");
			break;
		}
		if (cap > (1u << 20)) {
			/* A rare big request: do not keep (and, in a root
			 * daemon, lock) 32 MiB per connection for good. */
			uint8_t *nb = realloc(buf, 1u << 20);

			if (nb) {
				buf = nb;
				cap = 1u << 20;
			}
		}
	}
out:
	free(buf);
	return ret;
}
