// SPDX-License-Identifier: GPL-2.0-or-later
// reliability: partly N2
/*
 * test-nbd-server.c - the NBD transmission phase, server side (nbd_server.c),
 * driven over a socketpair by a test that plays the kernel's nbd driver.
 *
 * This is the code between the kernel and a root filesystem: a wrong byte
 * in a READ reply, a reply with data after an error, or a WRITE payload
 * not consumed puts the stream out of step and the kernel then reads file
 * data as reply headers (or hangs the boot).  So ulo_nbd_serve() runs in a
 * thread on one end with test ops that serve an in-memory pseudo-random
 * image, log every call and fail on demand; this end sends big-endian
 * struct nbd_request as the kernel does and checks every reply byte for
 * byte: magic, error, handle and exactly the image data.  The cases cover
 * reads at many offsets and lengths (over the server's initial buffer and
 * up to ULO_NBD_MAX_REQUEST), pipelined requests, out-of-range reads
 * (EINVAL without calling ops.read), failing reads (EIO and no data),
 * refused WRITE (payload consumed) and TRIM, unknown commands, command
 * flags in the type's high bits, FLUSH, the ways a connection ends (DISC,
 * close, bad magic, peer gone mid-reply) and requests arriving in pieces.
 * Every socket operation of the test has a timeout, so a server that stops
 * answering fails the test instead of hanging it.
 */
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <linux/nbd.h>

#include "nbd_server.h"
#include "util.h"
#include "unit.h"

#define IMG_SIZE ((1u << 20) + 512)	/* over the server's 1 MiB buffer */
#define IO_TIMEOUT_S 10
#define NO_RET 12345			/* never a ulo_nbd_serve() result */
#define PAYLOAD_HANDLE 0x5041594c4f414421ull	/* "!DAOLYAP" */

/* SIGPIPE is caught and counted: the server must never raise it. */
static volatile sig_atomic_t sigpipes;

static void on_sigpipe(int sig)
{
	sigpipes++;
}

/* SIGUSR1 interrupts the server's blocking calls (no SA_RESTART). */
static void on_sigusr1(int sig)
{
}

/* ---- a small deterministic PRNG (xorshift64*) ---- */

static uint64_t rnd(uint64_t *s)
{
	uint64_t x = *s ? *s : 0x9e3779b97f4a7c15ull;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dull;
}

/* Handles the kernel would never repeat, asymmetric so a swap shows. */
static uint64_t hnd(void)
{
	static uint64_t next = 0x0102030405060708ull;

	next += 0x0001000100010001ull;
	return next;
}

/* ---- the image behind the test ops ---- */

struct img_stats {
	unsigned int reads;
	unsigned int flushes;
	unsigned int bad_reads;	/* calls outside the image: never */
	uint64_t last_off;
	size_t last_len;
};

struct img {
	uint8_t *data;
	uint64_t size;
	pthread_mutex_t lock;
	struct img_stats st;
	int64_t fail_off;	/* a read covering this byte fails; -1: none */
	int read_err;
	int flush_err;
};

static struct img *img_new(uint64_t size, uint64_t seed)
{
	struct img *im = calloc(1, sizeof(*im));

	if (!im)
		abort();
	im->data = malloc(size + 8);
	if (!im->data)
		abort();
	for (uint64_t i = 0; i < size; i += 8) {
		uint64_t v = rnd(&seed);

		memcpy(im->data + i, &v, 8);
	}
	im->size = size;
	im->fail_off = -1;
	pthread_mutex_init(&im->lock, NULL);
	return im;
}

static void img_free(struct img *im)
{
	pthread_mutex_destroy(&im->lock);
	free(im->data);
	free(im);
}

static struct img_stats img_stats(struct img *im)
{
	struct img_stats st;

	pthread_mutex_lock(&im->lock);
	st = im->st;
	pthread_mutex_unlock(&im->lock);
	return st;
}

static void img_set_fail(struct img *im, int64_t off, int err)
{
	pthread_mutex_lock(&im->lock);
	im->fail_off = off;
	im->read_err = err;
	pthread_mutex_unlock(&im->lock);
}

static void img_set_flush_err(struct img *im, int err)
{
	pthread_mutex_lock(&im->lock);
	im->flush_err = err;
	pthread_mutex_unlock(&im->lock);
}

static int img_read(void *ctx, void *buf, uint64_t off, size_t len)
{
	struct img *im = ctx;
	int ret = 0;

	pthread_mutex_lock(&im->lock);
	im->st.reads++;
	im->st.last_off = off;
	im->st.last_len = len;
	if (off > im->size || len > im->size - off) {
		im->st.bad_reads++;
		ret = -EFAULT;
	} else if (im->fail_off >= 0 && (uint64_t)im->fail_off >= off &&
		   (uint64_t)im->fail_off - off < len) {
		/* Leave junk behind, as a failed read of a real source may. */
		memset(buf, 0xee, len / 2);
		ret = im->read_err;
	} else {
		memcpy(buf, im->data + off, len);
	}
	pthread_mutex_unlock(&im->lock);
	return ret;
}

static int img_flush(void *ctx)
{
	struct img *im = ctx;
	int ret;

	pthread_mutex_lock(&im->lock);
	im->st.flushes++;
	ret = im->flush_err;
	pthread_mutex_unlock(&im->lock);
	return ret;
}

/* ---- the server thread ---- */

struct srv {
	int cfd;		/* our end: we are the kernel */
	int sfd;		/* the server's end */
	pthread_t th;
	bool running;
	uint64_t size;
	struct ulo_nbd_ops ops;
	struct img *im;
	int ret;
	char errmsg[256];	/* the server thread's ulo_errmsg() */
};

static void *srv_main(void *arg)
{
	struct srv *s = arg;

	s->ret = ulo_nbd_serve(s->sfd, s->size, &s->ops, s->im);
	snprintf(s->errmsg, sizeof(s->errmsg), "%s", ulo_errmsg());
	return NULL;
}

static bool srv_start(struct srv *s, struct img *im, uint64_t size,
		      bool with_flush)
{
	struct timeval tv = { .tv_sec = IO_TIMEOUT_S };
	int sv[2];

	memset(s, 0, sizeof(*s));
	s->cfd = s->sfd = -1;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv)) {
		perror("  socketpair");
		return false;
	}
	s->cfd = sv[0];
	s->sfd = sv[1];
	if (setsockopt(s->cfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) ||
	    setsockopt(s->cfd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv))) {
		perror("  setsockopt");
		return false;
	}
	s->size = size;
	s->im = im;
	s->ops.read = img_read;
	s->ops.flush = with_flush ? img_flush : NULL;
	s->ret = NO_RET;
	if (pthread_create(&s->th, NULL, srv_main, s)) {
		fprintf(stderr, "  pthread_create failed\n");
		return false;
	}
	s->running = true;
	return true;
}

/* Wait for ulo_nbd_serve() to return; false if it did not in time. */
static bool srv_join(struct srv *s)
{
	struct timespec ts;

	if (!s->running)
		return true;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += IO_TIMEOUT_S;
	if (pthread_timedjoin_np(s->th, NULL, &ts) == 0) {
		s->running = false;
		return true;
	}
	fprintf(stderr, "  ulo_nbd_serve() did not return in %d s\n",
		IO_TIMEOUT_S);
	/* Unstick it so that the other cases can still run. */
	shutdown(s->sfd, SHUT_RDWR);
	if (s->cfd >= 0)
		shutdown(s->cfd, SHUT_RDWR);
	pthread_join(s->th, NULL);
	s->running = false;
	s->ret = NO_RET;
	return false;
}

static void srv_close(struct srv *s)
{
	if (s->running) {
		/* A case gave up early: end it as the kernel would. */
		if (s->cfd >= 0)
			shutdown(s->cfd, SHUT_RDWR);
		srv_join(s);
	}
	if (s->cfd >= 0)
		close(s->cfd);
	if (s->sfd >= 0)
		close(s->sfd);
	s->cfd = s->sfd = -1;
}

/* ---- the kernel's side of the wire ---- */

static int send_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "  send: %s\n", strerror(errno));
			return -errno;
		}
		p += n;
		len -= n;
	}
	return 0;
}

static int recv_all(int fd, void *buf, size_t len)
{
	char *p = buf;

	while (len) {
		ssize_t n = recv(fd, p, len, 0);

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

static void mkreq(struct nbd_request *r, uint32_t type, uint64_t handle,
		  uint64_t from, uint32_t len)
{
	memset(r, 0, sizeof(*r));
	r->magic = htobe32(NBD_REQUEST_MAGIC);
	r->type = htobe32(type);
	memcpy(r->handle, &handle, sizeof(r->handle));
	r->from = htobe64(from);
	r->len = htobe32(len);
}

static bool send_req(int fd, uint32_t type, uint64_t handle, uint64_t from,
		     uint32_t len)
{
	struct nbd_request r;

	mkreq(&r, type, handle, from, len);
	return send_all(fd, &r, sizeof(r)) == 0;
}

/*
 * A wrong reply: the stream cannot be trusted any more (the server or this
 * end may now wait for bytes that never come), so end it at once and let
 * the case's remaining checks fail fast instead of each timing out.
 */
static bool out_of_step(int fd)
{
	shutdown(fd, SHUT_RDWR);
	return false;
}

/* Read one reply header; true if magic, handle and error are as expected. */
static bool get_reply(int fd, uint64_t handle, uint32_t err)
{
	struct nbd_reply rep;
	uint64_t h;
	int ret = recv_all(fd, &rep, sizeof(rep));

	if (ret) {
		fprintf(stderr, "  reply for 0x%016" PRIx64 ": recv: %s\n",
			handle, strerror(-ret));
		return out_of_step(fd);
	}
	memcpy(&h, rep.handle, sizeof(h));
	if (be32toh(rep.magic) != NBD_REPLY_MAGIC || h != handle ||
	    be32toh(rep.error) != err) {
		fprintf(stderr, "  reply: magic 0x%08x handle 0x%016" PRIx64
			" error %u; expected 0x%08x 0x%016" PRIx64 " %u\n",
			be32toh(rep.magic), h, be32toh(rep.error),
			NBD_REPLY_MAGIC, handle, err);
		return out_of_step(fd);
	}
	return true;
}

/* Read the @len data bytes of a READ reply; true if they are the image's. */
static bool get_data(int fd, const struct img *im, uint64_t from,
		     uint32_t len)
{
	uint8_t *buf = malloc(len ? len : 1);
	bool ok;
	int ret;

	if (!buf)
		abort();
	ret = recv_all(fd, buf, len);
	if (ret) {
		fprintf(stderr, "  data %u at %" PRIu64 ": recv: %s\n", len,
			from, strerror(-ret));
		free(buf);
		return out_of_step(fd);
	}
	ok = memcmp(buf, im->data + from, len) == 0;
	if (!ok) {
		uint32_t i = 0;

		while (buf[i] == im->data[from + i])
			i++;
		fprintf(stderr, "  data %u at %" PRIu64
			": first wrong byte at +%u (0x%02x, image 0x%02x)\n",
			len, from, i, buf[i], im->data[from + i]);
	}
	free(buf);
	return ok;
}

/* A whole successful READ: request, reply header, exactly the image bytes. */
static bool read_ok(int fd, const struct img *im, uint64_t from, uint32_t len)
{
	uint64_t h = hnd();

	return send_req(fd, NBD_CMD_READ, h, from, len) &&
	       get_reply(fd, h, 0) && get_data(fd, im, from, len);
}

/* A request answered by a bare reply with @err (no data may follow). */
static bool req_err(int fd, uint32_t type, uint64_t from, uint32_t len,
		    uint32_t err)
{
	uint64_t h = hnd();

	return send_req(fd, type, h, from, len) && get_reply(fd, h, err);
}

/* Nothing unread on our end: no stray data after the last reply. */
static bool nothing_pending(int fd)
{
	char c[64];
	ssize_t n = recv(fd, c, sizeof(c), MSG_DONTWAIT | MSG_PEEK);

	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return true;
	if (n == 0)
		return true;	/* closed, and nothing before the end */
	fprintf(stderr, "  %zd unexpected byte(s) pending (%s)\n", n,
		n < 0 ? strerror(errno) : "data");
	return false;
}

/*
 * A WRITE payload made of FLUSH requests with PAYLOAD_HANDLE: a server
 * that failed to consume it would answer them, and the reply would not be
 * the one expected.
 */
static uint8_t *mk_payload(size_t len)
{
	uint8_t *p = malloc(len ? len : 1);
	struct nbd_request r;

	if (!p)
		abort();
	mkreq(&r, NBD_CMD_FLUSH, PAYLOAD_HANDLE, 0, 0);
	for (size_t i = 0; i < len; i += sizeof(r))
		memcpy(p + i, &r, ULO_MIN(sizeof(r), len - i));
	return p;
}

static bool write_refused(int fd, uint32_t type, uint64_t from, uint32_t len)
{
	uint8_t *p = mk_payload(len);
	uint64_t h = hnd();
	bool ok;

	ok = send_req(fd, type, h, from, len) && send_all(fd, p, len) == 0 &&
	     get_reply(fd, h, EPERM);
	free(p);
	return ok;
}

/* End with NBD_CMD_DISC as the kernel does; ulo_nbd_serve()'s result. */
static int srv_finish(struct srv *s)
{
	int ret;

	if (!send_req(s->cfd, NBD_CMD_DISC, hnd(), 0, 0))
		fprintf(stderr, "  could not send DISC\n");
	if (!srv_join(s))
		ret = NO_RET;
	else
		ret = s->ret;
	if (ret)
		fprintf(stderr, "  ulo_nbd_serve: %d (%s)\n", ret, s->errmsg);
	srv_close(s);
	return ret;
}

/* ---- cases ---- */

/* READ at many offsets and lengths: error 0, the handle, the image bytes. */
static void test_read(void)
{
	static const struct {
		uint64_t off;
		uint32_t len;
	} rq[] = {
		{ 0, 512 }, { 0, 1 }, { 1, 1 }, { 4096, 4096 },
		{ 12345, 7777 }, { IMG_SIZE - 512, 512 },
		{ IMG_SIZE - 1, 1 }, { IMG_SIZE - 4099, 4099 },
		{ 1u << 20, 512 }, { 65535, 65537 },
		{ 0, 1u << 20 }, { 0, IMG_SIZE }, { 3, IMG_SIZE - 3 },
		{ 0, 512 },	/* small again after the buffer grew */
	};
	struct img *im = img_new(IMG_SIZE, 1);
	struct img_stats st;
	uint64_t seed = 42;
	struct srv s;

	if (!srv_start(&s, im, IMG_SIZE, true)) {
		CHECK(0);
		goto out;
	}
	for (size_t i = 0; i < ULO_ARRAY_SIZE(rq); i++) {
		unsigned int before = img_stats(im).reads;

		CHECK(read_ok(s.cfd, im, rq[i].off, rq[i].len));
		st = img_stats(im);
		CHECK_EQ(st.reads, before + 1);
		CHECK_EQ(st.last_off, rq[i].off);
		CHECK_EQ(st.last_len, rq[i].len);
	}
	for (int i = 0; i < 300; i++) {
		uint32_t len = 1 + rnd(&seed) % (128u << 10);
		uint64_t off = rnd(&seed) % (IMG_SIZE - len + 1);

		CHECK(read_ok(s.cfd, im, off, len));
	}
	/*
	 * Length 0 (the kernel does not send it, but it may come): in range
	 * even at the very end, so error 0 and no data; the next READ proves
	 * that no byte followed the reply.
	 */
	CHECK(req_err(s.cfd, NBD_CMD_READ, 0, 0, 0));
	CHECK(read_ok(s.cfd, im, 100, 100));
	CHECK(req_err(s.cfd, NBD_CMD_READ, 777, 0, 0));
	CHECK(req_err(s.cfd, NBD_CMD_READ, IMG_SIZE, 0, 0));
	CHECK(read_ok(s.cfd, im, IMG_SIZE - 100, 100));
	CHECK(nothing_pending(s.cfd));
	CHECK_EQ(img_stats(im).bad_reads, 0);
	CHECK_EQ(img_stats(im).flushes, 0);
	CHECK_EQ(srv_finish(&s), 0);
out:
	srv_close(&s);
	img_free(im);
}

/* Ten requests sent at once: ten replies, in order, with their handles. */
static void test_pipelining(void)
{
	struct img *im = img_new(IMG_SIZE, 2);
	struct nbd_request req[10];
	uint64_t h[10], off[10];
	uint32_t len[10];
	uint64_t seed = 7;
	unsigned int before;
	struct srv s;

	if (!srv_start(&s, im, IMG_SIZE, true)) {
		CHECK(0);
		goto out;
	}
	before = img_stats(im).reads;
	for (int i = 0; i < 10; i++) {
		/* Up to 192 KiB: together far more than the socket buffers. */
		len[i] = 1 + rnd(&seed) % (192u << 10);
		off[i] = rnd(&seed) % (IMG_SIZE - len[i] + 1);
		h[i] = hnd();
		mkreq(&req[i], NBD_CMD_READ, h[i], off[i], len[i]);
	}
	len[9] = 512;
	off[9] = IMG_SIZE - 512;
	mkreq(&req[9], NBD_CMD_READ, h[9], off[9], len[9]);
	CHECK_EQ(send_all(s.cfd, req, sizeof(req)), 0);
	for (int i = 0; i < 10; i++) {
		CHECK(get_reply(s.cfd, h[i], 0));
		CHECK(get_data(s.cfd, im, off[i], len[i]));
	}
	CHECK_EQ(img_stats(im).reads, before + 10);
	CHECK(nothing_pending(s.cfd));

	/* A mixed batch: every kind of reply, data only where it belongs. */
	{
		uint8_t *payload = mk_payload(1000);
		uint8_t *buf = malloc(8 * sizeof(struct nbd_request) + 1000);
		uint64_t hh[8];
		size_t n = 0;
		struct nbd_request r;

		if (!buf)
			abort();
		for (int i = 0; i < 8; i++)
			hh[i] = hnd();
#define PUT(type, i, from, l)						\
		do {							\
			mkreq(&r, (type), hh[i], (from), (l));		\
			memcpy(buf + n, &r, sizeof(r));			\
			n += sizeof(r);					\
		} while (0)
		PUT(NBD_CMD_READ, 0, 1000, 3000);
		PUT(NBD_CMD_READ, 1, IMG_SIZE - 10, 20);	/* EINVAL */
		PUT(NBD_CMD_FLUSH, 2, 0, 0);
		PUT(NBD_CMD_WRITE, 3, 0, 1000);
		memcpy(buf + n, payload, 1000);
		n += 1000;
		PUT(NBD_CMD_TRIM, 4, 0, 4096);
		PUT(NBD_CMD_READ, 5, 0, 70000);
		PUT(77, 6, 0, 512);				/* EINVAL */
		PUT(NBD_CMD_READ, 7, IMG_SIZE - 1, 1);
#undef PUT
		CHECK_EQ(send_all(s.cfd, buf, n), 0);
		CHECK(get_reply(s.cfd, hh[0], 0));
		CHECK(get_data(s.cfd, im, 1000, 3000));
		CHECK(get_reply(s.cfd, hh[1], EINVAL));
		CHECK(get_reply(s.cfd, hh[2], 0));
		CHECK(get_reply(s.cfd, hh[3], EPERM));
		CHECK(get_reply(s.cfd, hh[4], EPERM));
		CHECK(get_reply(s.cfd, hh[5], 0));
		CHECK(get_data(s.cfd, im, 0, 70000));
		CHECK(get_reply(s.cfd, hh[6], EINVAL));
		CHECK(get_reply(s.cfd, hh[7], 0));
		CHECK(get_data(s.cfd, im, IMG_SIZE - 1, 1));
		CHECK(nothing_pending(s.cfd));
		CHECK_EQ(img_stats(im).flushes, 1);
		free(buf);
		free(payload);
	}
	CHECK_EQ(img_stats(im).bad_reads, 0);
	CHECK_EQ(srv_finish(&s), 0);
out:
	srv_close(&s);
	img_free(im);
}

/* Out-of-range and oversized READs: EINVAL, no data, ops.read not called. */
static void test_read_invalid(void)
{
	static const struct {
		uint64_t off;
		uint32_t len;
	} bad[] = {
		{ IMG_SIZE, 1 },		/* just past the end */
		{ IMG_SIZE + 1, 0 },		/* empty, past the end */
		{ IMG_SIZE + 4096, 512 },
		{ IMG_SIZE - 256, 512 },	/* straddles the end */
		{ IMG_SIZE - 1, 2 },
		{ 0, IMG_SIZE + 1 },
		{ UINT64_MAX - 511, 1024 },	/* from + len wraps */
		{ UINT64_MAX, 1 },
		{ 1ull << 63, 4096 },
		{ 0, UINT32_MAX },
		{ 0, ULO_NBD_MAX_REQUEST + 1 },
	};
	const uint64_t big = ULO_NBD_MAX_REQUEST + 4096ull;
	struct img *im = img_new(IMG_SIZE, 3);
	struct img *bim = NULL;
	struct srv s;

	if (!srv_start(&s, im, IMG_SIZE, true)) {
		CHECK(0);
		goto out;
	}
	for (size_t i = 0; i < ULO_ARRAY_SIZE(bad); i++) {
		unsigned int before = img_stats(im).reads;

		if (!req_err(s.cfd, NBD_CMD_READ, bad[i].off, bad[i].len,
			     EINVAL)) {
			fprintf(stderr, "  (READ %u at %" PRIu64 ")\n",
				bad[i].len, bad[i].off);
			CHECK(0);
		}
		CHECK_EQ(img_stats(im).reads, before);
		/* Still in step: a valid READ right after works. */
		CHECK(read_ok(s.cfd, im, 4096, 4096));
		CHECK_EQ(img_stats(im).reads, before + 1);
	}
	CHECK(nothing_pending(s.cfd));
	CHECK_EQ(img_stats(im).bad_reads, 0);
	CHECK_EQ(srv_finish(&s), 0);
	srv_close(&s);

	/*
	 * An image larger than ULO_NBD_MAX_REQUEST: a READ of exactly the
	 * limit is served, one byte more is refused although in range.
	 */
	bim = img_new(big, 4);
	if (!srv_start(&s, bim, big, true)) {
		CHECK(0);
		goto out;
	}
	CHECK(req_err(s.cfd, NBD_CMD_READ, 0, ULO_NBD_MAX_REQUEST + 1,
		      EINVAL));
	CHECK_EQ(img_stats(bim).reads, 0);
	CHECK(read_ok(s.cfd, bim, 4096, ULO_NBD_MAX_REQUEST));
	CHECK_EQ(img_stats(bim).reads, 1);
	CHECK(req_err(s.cfd, NBD_CMD_READ, 4095, ULO_NBD_MAX_REQUEST + 1,
		      EINVAL));
	CHECK(req_err(s.cfd, NBD_CMD_READ, 4097, ULO_NBD_MAX_REQUEST, EINVAL));
	CHECK(read_ok(s.cfd, bim, big - 512, 512));
	CHECK_EQ(img_stats(bim).reads, 2);
	CHECK_EQ(img_stats(bim).bad_reads, 0);
	CHECK(nothing_pending(s.cfd));
	CHECK_EQ(srv_finish(&s), 0);
out:
	srv_close(&s);
	img_free(im);
	if (bim)
		img_free(bim);
}

/* ops.read fails: EIO and no data, and the stream stays in step. */
static void test_read_error(void)
{
	struct img *im = img_new(IMG_SIZE, 5);
	struct nbd_request two[2];
	uint64_t h0 = hnd(), h1 = hnd();
	unsigned int before;
	struct srv s;

	if (!srv_start(&s, im, IMG_SIZE, true)) {
		CHECK(0);
		goto out;
	}
	img_set_fail(im, 5000, -EIO);
	before = img_stats(im).reads;
	CHECK(req_err(s.cfd, NBD_CMD_READ, 4096, 4096, EIO));
	CHECK_EQ(img_stats(im).reads, before + 1);	/* it did try */
	CHECK(read_ok(s.cfd, im, 0, 4096));	/* ends before 5000 */
	CHECK(read_ok(s.cfd, im, 5001, 4096));	/* starts after it */
	CHECK(req_err(s.cfd, NBD_CMD_READ, 5000, 1, EIO));
	/* Failing while the buffer grows. */
	CHECK(req_err(s.cfd, NBD_CMD_READ, 0, IMG_SIZE, EIO));
	CHECK(read_ok(s.cfd, im, 8192, 8192));

	/* A failed READ and a good one in one write: the second parses. */
	mkreq(&two[0], NBD_CMD_READ, h0, 4999, 2);
	mkreq(&two[1], NBD_CMD_READ, h1, 6000, 100);
	CHECK_EQ(send_all(s.cfd, two, sizeof(two)), 0);
	CHECK(get_reply(s.cfd, h0, EIO));
	CHECK(get_reply(s.cfd, h1, 0));
	CHECK(get_data(s.cfd, im, 6000, 100));

	/* Any failure is EIO to the kernel, wherever it is. */
	img_set_fail(im, IMG_SIZE - 1, -EBADMSG);
	CHECK(req_err(s.cfd, NBD_CMD_READ, IMG_SIZE - 1, 1, EIO));
	CHECK(req_err(s.cfd, NBD_CMD_READ, IMG_SIZE - 4096, 4096, EIO));
	CHECK(read_ok(s.cfd, im, IMG_SIZE - 4096, 4095));

	/* Nothing is latched: once the source recovers, reads work. */
	img_set_fail(im, -1, 0);
	CHECK(read_ok(s.cfd, im, 4096, 4096));
	CHECK(read_ok(s.cfd, im, IMG_SIZE - 1, 1));
	CHECK(nothing_pending(s.cfd));
	CHECK_EQ(img_stats(im).bad_reads, 0);
	CHECK_EQ(srv_finish(&s), 0);
out:
	srv_close(&s);
	img_free(im);
}

/* WRITE and TRIM refused, unknown commands, command flags ignored. */
static void test_refused(void)
{
	static const uint32_t wlen[] = { 65536, 3u << 20, 0, 1, 1000, 4097 };
	struct img *im = img_new(IMG_SIZE, 6);
	struct img_stats before;
	struct srv s;

	if (!srv_start(&s, im, IMG_SIZE, true)) {
		CHECK(0);
		goto out;
	}
	before = img_stats(im);
	for (size_t i = 0; i < ULO_ARRAY_SIZE(wlen); i++) {
		if (!write_refused(s.cfd, NBD_CMD_WRITE, 0, wlen[i])) {
			fprintf(stderr, "  (WRITE of %u bytes)\n", wlen[i]);
			CHECK(0);
		}
		CHECK(read_ok(s.cfd, im, 512, 512));
	}
	/* Refused whatever the range: nothing is written anyway. */
	CHECK(write_refused(s.cfd, NBD_CMD_WRITE, IMG_SIZE - 100, 4096));
	/* The payload's fake FLUSH requests were never taken as requests. */
	CHECK_EQ(img_stats(im).flushes, before.flushes);
	CHECK_EQ(img_stats(im).reads, before.reads + ULO_ARRAY_SIZE(wlen));

	CHECK(req_err(s.cfd, NBD_CMD_TRIM, 0, 4096, EPERM));
	CHECK(req_err(s.cfd, NBD_CMD_TRIM, 0, IMG_SIZE, EPERM));
	CHECK(read_ok(s.cfd, im, 0, 4096));

	/* Types with no meaning, with and without a length: EINVAL, no data. */
	CHECK(req_err(s.cfd, 77, 0, 0, EINVAL));
	CHECK(req_err(s.cfd, 77, 0, 4096, EINVAL));
	CHECK(req_err(s.cfd, 0x1234, 512, 512, EINVAL));
	CHECK(req_err(s.cfd, 0xffff, 0, 65536, EINVAL));
	CHECK(read_ok(s.cfd, im, 0, 4096));

	/* The high 16 bits are flags (FUA...): the command is the low 16. */
	{
		uint64_t h = hnd();

		CHECK(send_req(s.cfd, NBD_CMD_READ | NBD_CMD_FLAG_FUA, h,
			       100, 5000));
		CHECK(get_reply(s.cfd, h, 0));
		CHECK(get_data(s.cfd, im, 100, 5000));
		h = hnd();
		CHECK(send_req(s.cfd, NBD_CMD_READ | 0xffff0000u, h,
			       IMG_SIZE - 3, 3));
		CHECK(get_reply(s.cfd, h, 0));
		CHECK(get_data(s.cfd, im, IMG_SIZE - 3, 3));
	}
	CHECK(req_err(s.cfd, NBD_CMD_READ | NBD_CMD_FLAG_FUA, IMG_SIZE, 1,
		      EINVAL));
	CHECK(write_refused(s.cfd, NBD_CMD_WRITE | NBD_CMD_FLAG_FUA, 0, 4096));
	CHECK(write_refused(s.cfd, NBD_CMD_WRITE | 0xffff0000u, 0, 70000));
	before = img_stats(im);
	CHECK(req_err(s.cfd, NBD_CMD_FLUSH | NBD_CMD_FLAG_FUA, 0, 0, 0));
	CHECK_EQ(img_stats(im).flushes, before.flushes + 1);
	CHECK(req_err(s.cfd, NBD_CMD_TRIM | NBD_CMD_FLAG_FUA, 0, 4096, EPERM));
	CHECK(req_err(s.cfd, 77 | NBD_CMD_FLAG_FUA, 0, 0, EINVAL));
	CHECK(read_ok(s.cfd, im, 0, 4096));
	CHECK(nothing_pending(s.cfd));
	CHECK_EQ(img_stats(im).bad_reads, 0);

	/* DISC with a flag set is still a disconnect. */
	CHECK(send_req(s.cfd, NBD_CMD_DISC | 0x00030000u, hnd(), 0, 0));
	CHECK(srv_join(&s));
	CHECK_EQ(s.ret, 0);
	CHECK(nothing_pending(s.cfd));
out:
	srv_close(&s);
	img_free(im);
}

/* FLUSH calls ops.flush once: 0, or EIO when it fails; no ops.flush: 0. */
static void test_flush(void)
{
	struct img *im = img_new(IMG_SIZE, 8);
	struct srv s;

	if (!srv_start(&s, im, IMG_SIZE, true)) {
		CHECK(0);
		goto out;
	}
	CHECK(req_err(s.cfd, NBD_CMD_FLUSH, 0, 0, 0));
	CHECK_EQ(img_stats(im).flushes, 1);
	CHECK(req_err(s.cfd, NBD_CMD_FLUSH, 0, 0, 0));
	CHECK(req_err(s.cfd, NBD_CMD_FLUSH, 0, 0, 0));
	CHECK_EQ(img_stats(im).flushes, 3);
	img_set_flush_err(im, -EIO);
	CHECK(req_err(s.cfd, NBD_CMD_FLUSH, 0, 0, EIO));
	CHECK_EQ(img_stats(im).flushes, 4);
	img_set_flush_err(im, -ENOSPC);
	CHECK(req_err(s.cfd, NBD_CMD_FLUSH, 0, 0, EIO));
	CHECK_EQ(img_stats(im).flushes, 5);
	img_set_flush_err(im, 0);
	CHECK(req_err(s.cfd, NBD_CMD_FLUSH, 0, 0, 0));
	CHECK_EQ(img_stats(im).flushes, 6);
	CHECK(read_ok(s.cfd, im, 0, 512));
	CHECK_EQ(img_stats(im).reads, 1);
	CHECK(nothing_pending(s.cfd));
	CHECK_EQ(srv_finish(&s), 0);
	srv_close(&s);

	/* Without ops.flush there is nothing to make durable: success. */
	if (!srv_start(&s, im, IMG_SIZE, false)) {
		CHECK(0);
		goto out;
	}
	CHECK(req_err(s.cfd, NBD_CMD_FLUSH, 0, 0, 0));
	CHECK(req_err(s.cfd, NBD_CMD_FLUSH | NBD_CMD_FLAG_FUA, 0, 0, 0));
	CHECK(read_ok(s.cfd, im, 512, 512));
	CHECK_EQ(img_stats(im).flushes, 6);
	CHECK(nothing_pending(s.cfd));
	CHECK_EQ(srv_finish(&s), 0);
out:
	srv_close(&s);
	img_free(im);
}

/* A request with @wire_magic (in wire byte order) ends the connection. */
static void bad_magic_case(struct img *im, uint32_t wire_magic,
			   bool after_read)
{
	struct nbd_request r;
	struct srv s;

	if (!srv_start(&s, im, IMG_SIZE, true)) {
		CHECK(0);
		goto out;
	}
	if (after_read)
		CHECK(read_ok(s.cfd, im, 0, 4096));
	mkreq(&r, NBD_CMD_READ, hnd(), 0, 512);
	r.magic = wire_magic;
	CHECK_EQ(send_all(s.cfd, &r, sizeof(r)), 0);
	CHECK(srv_join(&s));
	CHECK_EQ(s.ret, -EPROTO);
	CHECK_STR_CONTAINS(s.errmsg, "magic");
	CHECK(nothing_pending(s.cfd));	/* and no reply to it */
out:
	srv_close(&s);
}

/* The ways a connection ends: DISC, close, bad magic, peer gone. */
static void test_disconnect(void)
{
	struct img *im = img_new(IMG_SIZE, 9);
	struct nbd_request two[2];
	struct srv s;

	/* DISC right away: 0, and no reply (the kernel expects none). */
	if (!srv_start(&s, im, IMG_SIZE, true)) {
		CHECK(0);
		goto out;
	}
	CHECK(send_req(s.cfd, NBD_CMD_DISC, hnd(), 0, 0));
	CHECK(srv_join(&s));
	CHECK_EQ(s.ret, 0);
	CHECK(nothing_pending(s.cfd));
	srv_close(&s);

	/* DISC after work, with a READ behind it that must not be served. */
	if (!srv_start(&s, im, IMG_SIZE, true)) {
		CHECK(0);
		goto out;
	}
	CHECK(read_ok(s.cfd, im, 0, 65536));
	CHECK(req_err(s.cfd, NBD_CMD_FLUSH, 0, 0, 0));
	mkreq(&two[0], NBD_CMD_DISC, hnd(), 0, 0);
	mkreq(&two[1], NBD_CMD_READ, hnd(), 0, 512);
	CHECK_EQ(send_all(s.cfd, two, sizeof(two)), 0);
	CHECK(srv_join(&s));
	CHECK_EQ(s.ret, 0);
	CHECK(nothing_pending(s.cfd));
	CHECK_EQ(img_stats(im).reads, 1);
	srv_close(&s);

	/* The client closes its end between requests: 0. */
	if (!srv_start(&s, im, IMG_SIZE, true)) {
		CHECK(0);
		goto out;
	}
	CHECK(read_ok(s.cfd, im, 4096, 512));
	close(s.cfd);
	s.cfd = -1;
	CHECK(srv_join(&s));
	CHECK_EQ(s.ret, 0);
	srv_close(&s);

	/* Closed at once, before any request: 0. */
	if (!srv_start(&s, im, IMG_SIZE, true)) {
		CHECK(0);
		goto out;
	}
	close(s.cfd);
	s.cfd = -1;
	CHECK(srv_join(&s));
	CHECK_EQ(s.ret, 0);
	srv_close(&s);

	/* Closed in the middle of a header: it returns, with no bogus reply. */
	if (!srv_start(&s, im, IMG_SIZE, true)) {
		CHECK(0);
		goto out;
	}
	mkreq(&two[0], NBD_CMD_READ, hnd(), 0, 512);
	CHECK_EQ(send_all(s.cfd, &two[0], 10), 0);
	shutdown(s.cfd, SHUT_WR);
	CHECK(srv_join(&s));
	CHECK(s.ret <= 0);
	CHECK(nothing_pending(s.cfd));
	srv_close(&s);

	/* Closed in the middle of a WRITE payload: it returns. */
	if (!srv_start(&s, im, IMG_SIZE, true)) {
		CHECK(0);
		goto out;
	}
	{
		uint8_t *p = mk_payload(100);

		CHECK(send_req(s.cfd, NBD_CMD_WRITE, hnd(), 0, 65536));
		CHECK_EQ(send_all(s.cfd, p, 100), 0);
		free(p);
	}
	shutdown(s.cfd, SHUT_WR);
	CHECK(srv_join(&s));
	CHECK(s.ret <= 0);
	CHECK(nothing_pending(s.cfd));
	srv_close(&s);

	/*
	 * Bad magic: the stream is out of step, so -EPROTO and a message
	 * that says why.  Garbage, the reply magic, a little-endian magic.
	 */
	bad_magic_case(im, htobe32(0xdeadbeef), false);
	bad_magic_case(im, htobe32(NBD_REPLY_MAGIC), true);
	bad_magic_case(im, htole32(NBD_REQUEST_MAGIC), true);
	bad_magic_case(im, 0, true);

	/*
	 * The peer goes away with a big reply unread: the send fails, the
	 * server returns an error (and SIGPIPE does not kill the process).
	 */
	if (!srv_start(&s, im, IMG_SIZE, true)) {
		CHECK(0);
		goto out;
	}
	CHECK(send_req(s.cfd, NBD_CMD_READ, hnd(), 0, IMG_SIZE));
	close(s.cfd);
	s.cfd = -1;
	CHECK(srv_join(&s));
	CHECK(s.ret < 0);
	CHECK(s.errmsg[0] != '\0');
	CHECK_EQ(sigpipes, 0);
	srv_close(&s);
	CHECK_EQ(img_stats(im).bad_reads, 0);
out:
	srv_close(&s);
	img_free(im);
}

/* Send @len bytes in pieces of 1, 2, 3... @max bytes, pausing if @pause. */
static bool send_pieces(int fd, const void *buf, size_t len, size_t max,
			bool pause)
{
	const uint8_t *p = buf;
	size_t k = 1;

	while (len) {
		size_t n = ULO_MIN(k, len);

		if (send_all(fd, p, n))
			return false;
		if (pause)
			usleep(1000);
		p += n;
		len -= n;
		k = k % max + 1;
	}
	return true;
}

/* Requests arriving in small pieces are put together and parsed right. */
static void test_fragmented(void)
{
	struct img *im = img_new(IMG_SIZE, 10);
	struct nbd_request r, two[2];
	uint64_t h, h2;
	uint8_t *p;
	struct srv s;

	if (!srv_start(&s, im, IMG_SIZE, true)) {
		CHECK(0);
		goto out;
	}
	/* A READ header one byte at a time, with the server waiting. */
	h = hnd();
	mkreq(&r, NBD_CMD_READ, h, 123456, 54321);
	CHECK(send_pieces(s.cfd, &r, sizeof(r), 1, true));
	CHECK(get_reply(s.cfd, h, 0));
	CHECK(get_data(s.cfd, im, 123456, 54321));

	/* FLUSH the same way. */
	h = hnd();
	mkreq(&r, NBD_CMD_FLUSH, h, 0, 0);
	CHECK(send_pieces(s.cfd, &r, sizeof(r), 1, true));
	CHECK(get_reply(s.cfd, h, 0));
	CHECK_EQ(img_stats(im).flushes, 1);

	/* A WRITE header and payload in pieces of 1 to 7 bytes. */
	h = hnd();
	mkreq(&r, NBD_CMD_WRITE, h, 0, 4096);
	p = mk_payload(4096);
	CHECK(send_pieces(s.cfd, &r, sizeof(r), 7, true));
	CHECK(send_pieces(s.cfd, p, 4096, 7, false));
	free(p);
	CHECK(get_reply(s.cfd, h, EPERM));
	CHECK_EQ(img_stats(im).flushes, 1);

	/* One write ends inside the next header; the rest comes later. */
	h = hnd();
	h2 = hnd();
	mkreq(&two[0], NBD_CMD_READ, h, 0, 512);
	mkreq(&two[1], NBD_CMD_READ, h2, IMG_SIZE - 512, 512);
	CHECK_EQ(send_all(s.cfd, two, sizeof(two[0]) + 13), 0);
	CHECK(get_reply(s.cfd, h, 0));
	CHECK(get_data(s.cfd, im, 0, 512));
	usleep(10000);
	CHECK_EQ(send_all(s.cfd, (uint8_t *)two + sizeof(two[0]) + 13,
			  sizeof(two[1]) - 13), 0);
	CHECK(get_reply(s.cfd, h2, 0));
	CHECK(get_data(s.cfd, im, IMG_SIZE - 512, 512));
	CHECK(nothing_pending(s.cfd));

	/* And DISC byte by byte ends it cleanly. */
	mkreq(&r, NBD_CMD_DISC, hnd(), 0, 0);
	CHECK(send_pieces(s.cfd, &r, sizeof(r), 1, true));
	CHECK(srv_join(&s));
	CHECK_EQ(s.ret, 0);
	CHECK_EQ(img_stats(im).reads, 3);
	CHECK_EQ(img_stats(im).bad_reads, 0);
out:
	srv_close(&s);
	img_free(im);
}

struct sigger {
	pthread_t target;
	atomic_bool stop;
	unsigned int sent;
};

static void *sigger_main(void *arg)
{
	struct sigger *g = arg;

	while (!atomic_load(&g->stop)) {
		if (pthread_kill(g->target, SIGUSR1) == 0)
			g->sent++;
		usleep(50);
	}
	return NULL;
}

/*
 * Signals hitting the server thread while it blocks in recv and sendmsg
 * (big replies, big WRITE payloads): EINTR and short transfers must be
 * resumed, never turned into a truncated reply or a lost request.
 */
static void test_signals(void)
{
	enum { NREAD = 4, WLEN = 256u << 10 };
	struct img *im = img_new(IMG_SIZE, 11);
	uint8_t *payload = mk_payload(WLEN);
	struct sigger g = { 0 };
	uint64_t seed = 99;
	pthread_t gth;
	struct srv s;

	if (!srv_start(&s, im, IMG_SIZE, true)) {
		CHECK(0);
		goto out;
	}
	g.target = s.th;
	atomic_init(&g.stop, false);
	if (pthread_create(&gth, NULL, sigger_main, &g)) {
		CHECK(0);
		goto out;
	}
	for (int round = 0; round < 20; round++) {
		struct nbd_request req[NREAD];
		uint64_t h[NREAD], off[NREAD], hw = hnd(), hf = hnd();
		uint32_t len[NREAD];
		bool ok = true;

		for (int i = 0; i < NREAD; i++) {
			len[i] = 1 + rnd(&seed) % (512u << 10);
			off[i] = rnd(&seed) % (IMG_SIZE - len[i] + 1);
			h[i] = hnd();
			mkreq(&req[i], NBD_CMD_READ, h[i], off[i], len[i]);
		}
		ok &= send_all(s.cfd, req, sizeof(req)) == 0;
		ok &= send_req(s.cfd, NBD_CMD_WRITE, hw, 0, WLEN);
		/*
		 * Lag behind a little, as a busy kernel does: the server then
		 * blocks with a full socket both inside a reply and before
		 * its first byte, where a signal means a short send or EINTR.
		 */
		for (int i = 0; ok && i < NREAD; i++) {
			usleep(300);
			ok &= get_reply(s.cfd, h[i], 0) &&
			      get_data(s.cfd, im, off[i], len[i]);
		}
		/* The payload goes in once the replies are out of the way. */
		ok &= send_all(s.cfd, payload, WLEN) == 0;
		ok &= get_reply(s.cfd, hw, EPERM);
		ok &= send_req(s.cfd, NBD_CMD_FLUSH, hf, 0, 0) &&
		      get_reply(s.cfd, hf, 0);
		CHECK(ok);
		if (!ok)
			break;
	}
	atomic_store(&g.stop, true);
	pthread_join(gth, NULL);
	CHECK(g.sent > 0);
	CHECK(nothing_pending(s.cfd));
	CHECK_EQ(img_stats(im).flushes, 20);
	CHECK_EQ(img_stats(im).bad_reads, 0);
	CHECK_EQ(srv_finish(&s), 0);
out:
	srv_close(&s);
	free(payload);
	img_free(im);
}

int main(void)
{
	struct sigaction sa = { .sa_handler = on_sigpipe };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGPIPE, &sa, NULL);
	sa.sa_handler = on_sigusr1;
	sigaction(SIGUSR1, &sa, NULL);

	UNIT_RUN(test_read);
	UNIT_RUN(test_pipelining);
	UNIT_RUN(test_read_invalid);
	UNIT_RUN(test_read_error);
	UNIT_RUN(test_refused);
	UNIT_RUN(test_flush);
	UNIT_RUN(test_disconnect);
	UNIT_RUN(test_fragmented);
	UNIT_RUN(test_signals);
	return unit_done();
}
