// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * http_client.c - the libcurl multi loop (see http_client.h).
 *
 * Threads: a caller picks a loop (round-robin), puts its attempt on the
 * loop's incoming list under the loop's lock and wakes it
 * (curl_multi_wakeup); only the loop's thread touches its multi handle and
 * easy handles.  The caller sleeps on the loop's done_cv until the attempt
 * is marked done.  No lock is held across network I/O.
 *
 * What every transfer is told, and why:
 * - protocols http and https only, redirects never followed (the source
 *   resolves them itself, once, so each hop is checked and TLS checks
 *   know the host they are talking to);
 * - no proxy unless configured (an empty CURLOPT_PROXY stops libcurl from
 *   reading http_proxy and friends from the environment);
 * - no Accept-Encoding: an encoded body is refused, never decoded;
 * - TLS: peer and host verification on, trust anchors only from the
 *   configuration, optional public-key pins and client certificate;
 * - the body is written straight into the caller's buffer and the
 *   transfer is stopped as soon as it would overflow it;
 * - the response headers are capped at ULO_HTTP_HEADER_CAP bytes, and
 *   a remembered field too long for its buffer or holding a control
 *   character makes the reply malformed (never kept cut short, never
 *   echoed into a request of ours).
 */
#include "http_client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "http_parse.h"
#include "tls_verify.h"
#include "util.h"

#define ULO_HTTP_POOL 64
#define ULO_HTTP_MAX_LOOPS 8

/*
 * One multi handle and the thread that drives it.  A TLS connection is
 * decrypted by the thread whose multi handle owns it, so one loop per CPU
 * (up to the connection count) lets several connections decrypt at once;
 * each loop still multiplexes its requests over HTTP/2 where offered.
 */
/*
 * The IP-literal hosts this client talked to.  mbedTLS keeps the pointer
 * given to its verify callback for the connection's life (a
 * renegotiation would call it again), so these live as long as the
 * client, not the request.
 */
#define ULO_HTTP_MAX_IPS 32

struct ulo_http_loop {
	struct ulo_http_client *client;
	struct ulo_tls_ip ips[ULO_HTTP_MAX_IPS];	/* thread only */
	unsigned nips;
	CURLM *multi;		/* this loop's thread only */
	pthread_t thread;
	bool thread_running;
	pthread_mutex_t lock;
	pthread_cond_t done_cv;
	struct ulo_http_req *incoming;	/* lock */
	bool stop;		/* lock */
	CURL *pool[ULO_HTTP_POOL];	/* idle easy handles; thread only */
	unsigned npool;
	unsigned busy;		/* attempts submitted, not done (atomic) */
};

struct ulo_http_client {
	struct ulo_http_conf conf;	/* strings owned below */
	char *ca_file, *pins, *cert, *key, *proxy;
	/* The CA bundle, read once: a root daemon outlives the initramfs
	 * that held the file (switch_root deletes it), and libcurl would
	 * read it again for every new connection. */
	struct curl_blob ca_blob;
	struct ulo_http_loop loops[ULO_HTTP_MAX_LOOPS];
	unsigned nloops;
};

static pthread_once_t ulo_curl_once = PTHREAD_ONCE_INIT;
static CURLcode ulo_curl_init_ret;

static void ulo_curl_global_init(void)
{
	ulo_curl_init_ret = curl_global_init(CURL_GLOBAL_DEFAULT);
	if (ulo_curl_init_ret == CURLE_OK && ulo_tls_global_init())
		ulo_curl_init_ret = CURLE_SSL_ENGINE_INITFAILED;
}

bool ulo_http_ip_literal(const char *host, uint8_t *addr, size_t *alen)
{
	char buf[64];
	size_t n = strlen(host);

	if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
		if (n - 2 >= sizeof(buf))
			return false;
		memcpy(buf, host + 1, n - 2);
		buf[n - 2] = '\0';
		*alen = 16;
		return inet_pton(AF_INET6, buf, addr) == 1;
	}
	*alen = 4;
	return inet_pton(AF_INET, host, addr) == 1;
}

int ulo_http_redirect_target(const char *cur, const char *location,
			     bool allow_downgrade, char *out, size_t cap,
			     char *why, size_t whylen)
{
	CURLU *u = curl_url();
	char *next = NULL;
	int ret = 0;

	/* libcurl resolves the reference against the URL it came from
	 * (RFC 3986 5.2), as a browser would; what it makes of it is then
	 * judged as a whole. */
	if (!u || curl_url_set(u, CURLUPART_URL, cur, 0) ||
	    curl_url_set(u, CURLUPART_URL, location, 0) ||
	    curl_url_get(u, CURLUPART_URL, &next, 0)) {
		curl_url_cleanup(u);
		snprintf(why, whylen, "%s: redirect to a malformed location '%s'",
			 cur, location);
		return -EPROTO;
	}
	curl_url_cleanup(u);
	if (strncasecmp(next, "http://", 7) && strncasecmp(next, "https://", 8)) {
		snprintf(why, whylen, "%s: redirect to %s refused (http and https only)",
			 cur, next);
		ret = -EPROTO;
	} else if (!strncasecmp(cur, "https://", 8) &&
		   !strncasecmp(next, "http://", 7) && !allow_downgrade) {
		snprintf(why, whylen, "%s: redirect from https to %s refused", cur, next);
		ret = -EPROTO;
	} else if (strlen(next) >= cap) {
		snprintf(why, whylen, "%s: redirect to a URL longer than %zu bytes refused",
			 cur, cap - 1);
		ret = -EPROTO;
	} else {
		memcpy(out, next, strlen(next) + 1);
	}
	curl_free(next);
	return ret;
}

/*
 * Keep a field's value, whole or not at all: a value that does not fit
 * @cap (NUL included) or holds a control character (CR, LF, NUL... HTAB
 * aside, RFC 9110 5.5) makes the reply malformed.  A truncated value could
 * still parse (a Content-Range cut before its junk, a Location cut into
 * another URL), and a control character could be echoed into a request
 * line of ours (a validator in If-Match).  False: refused, with the cause
 * in r->bad_header.
 */
static bool ulo_copy_value(struct ulo_http_req *r, const char *name, char *dst,
			   size_t cap, const char *v, size_t len)
{
	if (len >= cap) {
		snprintf(r->bad_header, sizeof(r->bad_header),
			 "%s longer than %zu bytes", name, cap - 1);
		return false;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = v[i];

		if ((c < 0x20 && c != '\t') || c == 0x7f) {
			snprintf(r->bad_header, sizeof(r->bad_header),
				 "%s holds a control character (0x%02x)", name, c);
			return false;
		}
	}
	memcpy(dst, v, len);
	dst[len] = '\0';
	return true;
}

/* Remember that field @bit was seen; a second one is refused (which one
 * would we believe?). */
static bool ulo_http_once(struct ulo_http_req *r, unsigned bit, const char *name)
{
	if (r->seen & (1u << bit)) {
		snprintf(r->bad_header, sizeof(r->bad_header), "%s sent twice", name);
		return false;
	}
	r->seen |= 1u << bit;
	return true;
}

size_t ulo_http_header_cb(char *line, size_t size, size_t n, void *arg)
{
	struct ulo_http_req *r = arg;
	size_t len = size * n, nlen, vlen;
	const char *name, *v;

	r->header_bytes += len;
	if (r->header_bytes > ULO_HTTP_HEADER_CAP) {
		r->headers_too_big = true;
		return 0;	/* stops the transfer */
	}
	if (len >= 5 && !memcmp(line, "HTTP/", 5)) {
		/* A new response (after a 100 Continue, say): forget the last.
		 * Its status is libcurl's to read, not ours: two readings of
		 * one status line must never disagree. */
		r->has_etag = r->has_last_modified = r->has_content_range = false;
		r->has_content_encoding = r->has_length = r->has_location = false;
		r->content_type[0] = r->location[0] = '\0';
		r->retry_after = -1;
		r->headers_done = false;
		r->seen = 0;
		return len;
	}
	if (len <= 2 && (line[0] == '\r' || line[0] == '\n')) {
		r->headers_done = true;
		return len;
	}
	if (r->headers_done) {
		/* Trailer fields come after the body: nothing of ours may
		 * change once the bytes are in. */
		snprintf(r->bad_header, sizeof(r->bad_header), "trailer fields after the body");
		return 0;
	}
	if (!ulo_http_field(line, len, &name, &nlen, &v, &vlen))
		return len;
	if (ulo_http_name_is(name, nlen, "Content-Range")) {
		if (!ulo_http_once(r, 0, "Content-Range"))
			return 0;
		if (!ulo_copy_value(r, "Content-Range", r->content_range,
				    sizeof(r->content_range), v, vlen))
			return 0;
		r->has_content_range = true;
	} else if (ulo_http_name_is(name, nlen, "Content-Length")) {
		/* Two different lengths are as bad as an unparsable one. */
		uint64_t cl;

		if (ulo_http_uint(v, vlen, &cl) ||
		    (r->has_length && cl != r->content_length))
			cl = UINT64_MAX;
		r->content_length = cl;
		r->has_length = true;
	} else if (ulo_http_name_is(name, nlen, "Content-Encoding")) {
		if (!ulo_http_once(r, 1, "Content-Encoding"))
			return 0;
		if (!ulo_copy_value(r, "Content-Encoding", r->content_encoding,
				    sizeof(r->content_encoding), v, vlen))
			return 0;
		r->has_content_encoding = true;
	} else if (ulo_http_name_is(name, nlen, "Content-Type")) {
		if (!ulo_http_once(r, 2, "Content-Type"))
			return 0;
		if (!ulo_copy_value(r, "Content-Type", r->content_type,
				    sizeof(r->content_type), v, vlen))
			return 0;
	} else if (ulo_http_name_is(name, nlen, "ETag")) {
		if (!ulo_http_once(r, 3, "ETag"))
			return 0;
		if (!ulo_copy_value(r, "ETag", r->etag, sizeof(r->etag), v, vlen))
			return 0;
		r->has_etag = true;
	} else if (ulo_http_name_is(name, nlen, "Last-Modified")) {
		if (!ulo_http_once(r, 4, "Last-Modified"))
			return 0;
		if (!ulo_copy_value(r, "Last-Modified", r->last_modified,
				    sizeof(r->last_modified), v, vlen))
			return 0;
		r->has_last_modified = true;
	} else if (ulo_http_name_is(name, nlen, "Retry-After")) {
		r->retry_after = ulo_http_retry_after(v, vlen, 3600);
	} else if (ulo_http_name_is(name, nlen, "Location")) {
		/* Never followed cut short: refused whole (see above). */
		if (!ulo_http_once(r, 5, "Location") ||
		    !ulo_copy_value(r, "Location", r->location, sizeof(r->location),
				    v, vlen))
			return 0;
		r->has_location = true;
	}
	return len;
}

static size_t ulo_http_write_cb(char *data, size_t size, size_t n, void *arg)
{
	struct ulo_http_req *r = arg;
	size_t len = size * n;
	long status = 0;

	/* libcurl's own reading of the status: the one classify uses. */
	curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
	r->status = status;
	/* Only a 206 body may reach the buffer; any other is only counted
	 * (an error page), or stopped when it is a 2xx (a whole image). */
	if (status != 206 || r->stored + len > r->len) {
		if (status >= 200 && status < 300) {
			r->overflow = true;
			return 0;
		}
		r->got += len;
		return len;
	}
	memcpy(r->buf + r->stored, data, len);
	r->stored += len;
	r->got += len;
	return len;
}

/* The client-lifetime record of an IP-literal host (see ULO_HTTP_MAX_IPS). */
static struct ulo_tls_ip *ulo_http_ip(struct ulo_http_loop *l, const uint8_t *addr,
				      size_t len)
{
	for (unsigned i = 0; i < l->nips; i++)
		if (l->ips[i].len == len && !memcmp(l->ips[i].addr, addr, len))
			return &l->ips[i];
	if (l->nips == ULO_HTTP_MAX_IPS)
		return NULL;
	memcpy(l->ips[l->nips].addr, addr, len);
	l->ips[l->nips].len = len;
	return &l->ips[l->nips++];
}

static int ulo_http_setup(struct ulo_http_loop *l, CURL *e,
			  struct ulo_http_req *r)
{
	static const struct ulo_tls_ip no_ip;
	const struct ulo_http_conf *cf = &l->client->conf;
	const struct ulo_tls_ip *ip = &no_ip;
	struct curl_slist *h = NULL;
	char range[64], line[512];
	bool https = !strncasecmp(r->url, "https://", 8);
	char *host = NULL;
	CURLU *u;

	u = curl_url();
	if (u && !curl_url_set(u, CURLUPART_URL, r->url, 0) &&
	    !curl_url_get(u, CURLUPART_HOST, &host, 0) && host) {
		uint8_t addr[16];
		size_t alen;

		if (ulo_http_ip_literal(host, addr, &alen)) {
			ip = ulo_http_ip(l, addr, alen);
			if (!ip) {
				curl_free(host);
				curl_url_cleanup(u);
				return -ENOSPC;
			}
		}
	}
	curl_free(host);
	curl_url_cleanup(u);
	r->easy = e;

	curl_easy_reset(e);
	curl_easy_setopt(e, CURLOPT_URL, r->url);
	curl_easy_setopt(e, CURLOPT_PRIVATE, r);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_PROXY, cf->proxy ? cf->proxy : "");
	curl_easy_setopt(e, CURLOPT_USERAGENT, "uloop/" ULOOP_VERSION);
	/* See ulo_http_conf's bulk. */
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION, cf->bulk ? (long)CURL_HTTP_VERSION_1_1 :
							      (long)CURL_HTTP_VERSION_2TLS);
	curl_easy_setopt(e, CURLOPT_PIPEWAIT, cf->bulk ? 0L : 1L);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	/* Names resolved while /etc/resolv.conf was there stay resolved:
	 * after switch_root the daemon's root (the old initramfs) has none. */
	curl_easy_setopt(e, CURLOPT_DNS_CACHE_TIMEOUT, -1L);
	curl_easy_setopt(e, CURLOPT_BUFFERSIZE, 256L * 1024);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)r->timeout_ms);
	/* Each attempt may be bounded tighter than the configuration (the
	 * source gives an attempt less time when another server could take
	 * over): connecting (TCP and TLS) and stalling (below stall_bytes/s,
	 * waiting for the reply included) within the attempt's own time. */
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)(r->connect_timeout_ms ?
			 ULO_MIN(r->connect_timeout_ms, cf->connect_timeout_ms) :
			 cf->connect_timeout_ms));
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, (long)cf->stall_bytes);
	curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, (long)(r->stall_secs ?
			 ULO_MIN(r->stall_secs, cf->stall_secs) : cf->stall_secs));
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->curl_err);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, ulo_http_header_cb);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, ulo_http_write_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(e, CURLOPT_VERBOSE, cf->verbose ? 1L : 0L);
	if (r->len) {
		snprintf(range, sizeof(range), "%" PRIu64 "-%" PRIu64, r->first,
			 r->first + r->len - 1);
		curl_easy_setopt(e, CURLOPT_RANGE, range);
	}
	if (r->if_match) {
		snprintf(line, sizeof(line), "If-Match: %s", r->if_match);
		h = curl_slist_append(h, line);
	} else if (r->if_unmodified_since) {
		snprintf(line, sizeof(line), "If-Unmodified-Since: %s",
			 r->if_unmodified_since);
		h = curl_slist_append(h, line);
	}
	r->headers = h;
	if (h)
		curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
	if (https) {
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, cf->insecure ? 0L : 1L);
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, cf->insecure ? 0L : 2L);
		if (l->client->ca_blob.data)
			curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &l->client->ca_blob);
		else
			curl_easy_setopt(e, CURLOPT_CAINFO, cf->ca_file);
		curl_easy_setopt(e, CURLOPT_CAPATH, NULL);
		if (cf->pins)
			curl_easy_setopt(e, CURLOPT_PINNEDPUBLICKEY, cf->pins);
		if (cf->cert) {
			curl_easy_setopt(e, CURLOPT_SSLCERT, cf->cert);
			curl_easy_setopt(e, CURLOPT_SSLKEY, cf->key);
		}
		/* TLS 1.2 at least (libcurl 7.88 with mbedTLS allows 1.0). */
		curl_easy_setopt(e, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
		/* Cipher order and no renegotiation always; the IP-literal
		 * check when ip->len (--insecure verifies nothing at all). */
		curl_easy_setopt(e, CURLOPT_SSL_CTX_FUNCTION, ulo_tls_sslctx);
		curl_easy_setopt(e, CURLOPT_SSL_CTX_DATA,
				 (void *)(cf->insecure ? &no_ip : ip));
	}
	return 0;
}

static void ulo_http_finish(struct ulo_http_loop *c, CURL *e, CURLcode res)
{
	struct ulo_http_req *r;

	curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&r);
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &r->status);
	r->curl_code = res;
	/* libcurl's own words for the code when its error buffer has none
	 * worth reading (mbedTLS receive errors leave just "Error"). */
	if (res && strlen(r->curl_err) < 8)
		snprintf(r->curl_err, sizeof(r->curl_err), "%s",
			 curl_easy_strerror(res));
	curl_multi_remove_handle(c->multi, e);
	curl_slist_free_all(r->headers);
	r->headers = NULL;
	if (c->npool < ULO_HTTP_POOL)
		c->pool[c->npool++] = e;
	else
		curl_easy_cleanup(e);
	pthread_mutex_lock(&c->lock);
	r->done = true;
	pthread_cond_broadcast(&c->done_cv);
	pthread_mutex_unlock(&c->lock);
}

static int ulo_http_perform_on(struct ulo_http_loop *c, struct ulo_http_req *r);

static void *ulo_http_loop(void *arg)
{
	struct ulo_http_loop *c = arg;
	int running = 0;

	for (;;) {
		struct ulo_http_req *in, *r;
		CURLMsg *m;
		int left;

		pthread_mutex_lock(&c->lock);
		in = c->incoming;
		c->incoming = NULL;
		if (c->stop && !in && !running) {
			pthread_mutex_unlock(&c->lock);
			break;
		}
		pthread_mutex_unlock(&c->lock);
		for (r = in; r; r = in) {
			CURL *e = c->npool ? c->pool[--c->npool] : curl_easy_init();

			in = r->next;
			if (!e || ulo_http_setup(c, e, r) ||
			    curl_multi_add_handle(c->multi, e)) {
				if (e)
					curl_easy_cleanup(e);
				curl_slist_free_all(r->headers);
				r->headers = NULL;
				pthread_mutex_lock(&c->lock);
				r->curl_code = CURLE_OUT_OF_MEMORY;
				snprintf(r->curl_err, sizeof(r->curl_err),
					 "could not start the transfer");
				r->done = true;
				pthread_cond_broadcast(&c->done_cv);
				pthread_mutex_unlock(&c->lock);
			}
		}
		curl_multi_perform(c->multi, &running);
		while ((m = curl_multi_info_read(c->multi, &left)))
			if (m->msg == CURLMSG_DONE)
				ulo_http_finish(c, m->easy_handle, m->data.result);
		/* Transfers still running at stop (no caller should be left
		 * waiting by then) end by their own timeouts. */
		curl_multi_poll(c->multi, NULL, 0, 1000, NULL);
	}
	return NULL;
}

int ulo_http_perform(struct ulo_http_client *cl, struct ulo_http_req *r)
{
	struct ulo_http_loop *c = &cl->loops[0];
	int ret;

	/* The least busy loop, the first on a tie: a lone request reuses
	 * loop 0's warm connection, a parallel load spreads out. */
	for (unsigned i = 1; i < cl->nloops; i++)
		if (__atomic_load_n(&cl->loops[i].busy, __ATOMIC_RELAXED) <
		    __atomic_load_n(&c->busy, __ATOMIC_RELAXED))
			c = &cl->loops[i];
	__atomic_add_fetch(&c->busy, 1, __ATOMIC_RELAXED);
	ret = ulo_http_perform_on(c, r);
	__atomic_sub_fetch(&c->busy, 1, __ATOMIC_RELAXED);
	return ret;
}

static int ulo_http_perform_on(struct ulo_http_loop *c, struct ulo_http_req *r)
{
	r->curl_code = 0;
	r->curl_err[0] = '\0';
	r->status = 0;
	r->got = r->stored = 0;
	r->bad_header[0] = '\0';
	r->headers_done = false;
	r->seen = 0;
	r->overflow = r->headers_too_big = false;
	r->has_etag = r->has_last_modified = r->has_content_range = false;
	r->has_content_encoding = r->has_length = r->has_location = false;
	r->content_type[0] = r->location[0] = '\0';
	r->retry_after = -1;
	r->header_bytes = 0;
	r->done = false;
	pthread_mutex_lock(&c->lock);
	if (c->stop) {
		pthread_mutex_unlock(&c->lock);
		return ulo_err(-ESHUTDOWN, "%s: client is shutting down", r->url);
	}
	r->next = c->incoming;
	c->incoming = r;
	pthread_mutex_unlock(&c->lock);
	curl_multi_wakeup(c->multi);
	pthread_mutex_lock(&c->lock);
	while (!r->done)
		pthread_cond_wait(&c->done_cv, &c->lock);
	pthread_mutex_unlock(&c->lock);
	return 0;
}

static char *ulo_dup(const char *s)
{
	return s ? strdup(s) : NULL;
}

static int ulo_http_loop_start(struct ulo_http_client *cl,
			       struct ulo_http_loop *l, unsigned conns)
{
	int ret;

	l->client = cl;
	pthread_mutex_init(&l->lock, NULL);
	pthread_cond_init(&l->done_cv, NULL);
	l->multi = curl_multi_init();
	if (!l->multi)
		return ulo_err(-ENOMEM, "curl_multi_init failed");
	/* Both numbers bound the sockets: ulo_http_socket_bound(). */
	curl_multi_setopt(l->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)conns);
	curl_multi_setopt(l->multi, CURLMOPT_MAXCONNECTS, (long)ULO_MAX(4u, 2 * conns));
	curl_multi_setopt(l->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
	ret = pthread_create(&l->thread, NULL, ulo_http_loop, l);
	if (ret)
		return ulo_errno(-ret, "http client: starting its thread");
	l->thread_running = true;
	return 0;
}

static void ulo_http_loop_stop(struct ulo_http_loop *l)
{
	if (l->thread_running) {
		pthread_mutex_lock(&l->lock);
		l->stop = true;
		pthread_mutex_unlock(&l->lock);
		curl_multi_wakeup(l->multi);
		pthread_join(l->thread, NULL);
	}
	while (l->npool)
		curl_easy_cleanup(l->pool[--l->npool]);
	if (l->multi)
		curl_multi_cleanup(l->multi);
	if (l->client) {
		pthread_mutex_destroy(&l->lock);
		pthread_cond_destroy(&l->done_cv);
	}
}

/* One loop per CPU, at most one per connection and ULO_HTTP_MAX_LOOPS. */
static unsigned ulo_http_nloops(unsigned conns)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	return ULO_MIN(conns, (unsigned)ULO_MAX(1L, ULO_MIN(cpus, (long)ULO_HTTP_MAX_LOOPS)));
}

unsigned ulo_http_socket_bound(unsigned conns, unsigned hosts)
{
	unsigned n, per;

	conns = ULO_MAX(1u, conns);
	n = ulo_http_nloops(conns);
	per = ULO_DIV_ROUND_UP(conns, n);
	return n * ULO_MIN(ULO_MAX(1u, hosts) * per, ULO_MAX(4u, 2 * per));
}

int ulo_http_client_new(const struct ulo_http_conf *conf,
			struct ulo_http_client **out)
{
	unsigned conns = ULO_MAX(1u, conf->connections);
	struct ulo_http_client *c;
	int ret;

	pthread_once(&ulo_curl_once, ulo_curl_global_init);
	if (ulo_curl_init_ret)
		return ulo_err(-EIO, "curl_global_init: %s",
			       curl_easy_strerror(ulo_curl_init_ret));
	c = calloc(1, sizeof(*c));
	if (!c)
		return ulo_errno(-ENOMEM, "http client");
	c->conf = *conf;
	c->conf.ca_file = c->ca_file = ulo_dup(conf->ca_file);
	c->conf.pins = c->pins = ulo_dup(conf->pins);
	c->conf.cert = c->cert = ulo_dup(conf->cert);
	c->conf.key = c->key = ulo_dup(conf->key);
	c->conf.proxy = c->proxy = ulo_dup(conf->proxy);
	if (conf->ca_file) {
		FILE *f = fopen(conf->ca_file, "re");
		long n = -1;

		if (f && !fseek(f, 0, SEEK_END) && (n = ftell(f)) > 0 && !fseek(f, 0, SEEK_SET)) {
			c->ca_blob.data = malloc(n);
			if (c->ca_blob.data && fread(c->ca_blob.data, 1, n, f) == (size_t)n) {
				c->ca_blob.len = n;
				c->ca_blob.flags = CURL_BLOB_NOCOPY;
			} else {
				free(c->ca_blob.data);
				c->ca_blob.data = NULL;
			}
		}
		if (f)
			fclose(f);
		if (!c->ca_blob.data) {
			ulo_http_client_free(c);
			return ulo_err(-EIO, "--ca %s: cannot read it", conf->ca_file);
		}
	}
	c->nloops = ulo_http_nloops(conns);
	for (unsigned i = 0; i < c->nloops; i++) {
		ret = ulo_http_loop_start(c, &c->loops[i],
					  ULO_DIV_ROUND_UP(conns, c->nloops));
		if (ret) {
			ulo_http_client_free(c);
			return ret;
		}
	}
	*out = c;
	return 0;
}

void ulo_http_client_free(struct ulo_http_client *c)
{
	if (!c)
		return;
	for (unsigned i = 0; i < ULO_HTTP_MAX_LOOPS; i++)
		ulo_http_loop_stop(&c->loops[i]);
	free(c->ca_blob.data);
	free(c->ca_file);
	free(c->pins);
	free(c->cert);
	free(c->key);
	free(c->proxy);
	free(c);
}
