/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * http_client.h - HTTP(S) transfers on one libcurl multi handle.
 *
 * One thread drives the multi handle; any thread submits an attempt with
 * ulo_http_perform() and sleeps until it completes.  Sharing the multi
 * handle shares its connection pool (keep-alive), TLS sessions, DNS cache
 * and HTTP/2 connections (several requests multiplexed on one).  This
 * layer moves bytes and records what the server said; deciding whether
 * that is data is source_http.c's job.
 */
#ifndef ULOOP_HTTP_CLIENT_H
#define ULOOP_HTTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tls_verify.h"

#define ULO_HTTP_URL_MAX 2048
#define ULO_HTTP_HEADER_CAP (64 * 1024)	/* all response headers, bytes */

struct ulo_http_client;

struct ulo_http_conf {
	const char *ca_file;	/* PEM trust anchors; NULL: no CA (https fails) */
	const char *pins;	/* "sha256//B64;sha256//B64" or NULL */
	const char *cert, *key;	/* client certificate and key (PEM) */
	bool insecure;		/* no TLS verification: only from --insecure */
	const char *proxy;	/* NULL: none; never taken from the environment */
	unsigned connections;	/* per host */
	unsigned connect_timeout_ms;
	unsigned stall_bytes;	/* below this many bytes/s for... */
	unsigned stall_secs;	/* ...this long, an attempt is abandoned */
	bool verbose;		/* libcurl's trace to stderr */
	/* Bulk transfer (a whole-image fill): HTTP/1.1 even where the server
	 * offers HTTP/2, one request at a time on each of the connections.
	 * Otherwise HTTP/2 over TLS, requests multiplexed on a connection
	 * per loop: more of them in flight for a boot's scattered reads.
	 * A 640 MiB https fill into a tmpfs on 2 cores took 1.20 s over
	 * HTTP/1.1 against 1.38 s over HTTP/2 (nghttp2's framing, flow
	 * control and copies, on the cores TLS needs). */
	bool bulk;
};

/* One attempt: a GET of [first, first + len) of @url. */
struct ulo_http_req {
	/* in */
	const char *url;
	uint64_t first, len;	/* len 0: no Range header */
	const char *if_match;	/* a strong ETag the image must still have */
	const char *if_unmodified_since;	/* or its Last-Modified date */
	uint8_t *buf;		/* receives at most len bytes */
	unsigned timeout_ms;	/* the whole attempt */
	unsigned connect_timeout_ms;	/* 0: the configuration's */
	unsigned stall_secs;	/* 0: the configuration's (see ulo_http_conf) */
	/* out: what the server said (final response only) */
	int curl_code;		/* CURLcode; 0 = the exchange completed */
	char curl_err[256];
	long status;		/* HTTP status (libcurl's reading), 0 if none */
	uint64_t got;		/* body bytes received */
	uint64_t stored;	/* of which copied to buf (a 206's only) */
	char bad_header[96];	/* a field sent twice, too long, with a control
				 * character, or a trailer: refused */
	bool overflow;		/* more body than asked for (stopped) */
	bool headers_too_big;	/* over ULO_HTTP_HEADER_CAP (stopped) */
	bool has_length;	/* Content-Length present */
	uint64_t content_length;
	long retry_after;	/* seconds, -1 if none/unparsed */
	char content_range[128];
	char content_encoding[64];
	char content_type[128];
	char etag[256];
	char last_modified[64];
	char location[ULO_HTTP_URL_MAX];
	bool has_etag, has_last_modified, has_content_range;
	bool has_content_encoding, has_location;
	/* private to http_client.c */
	void *easy;		/* CURL * of the running attempt */
	bool headers_done;	/* the blank line after the fields was seen */
	unsigned seen;		/* bit per remembered field, this response */
	size_t header_bytes;
	bool done;
	void *headers;		/* struct curl_slist * */
	struct ulo_http_req *next;
};

/* The most sockets a client of @conns connections keeps open at once to
 * @hosts servers: each loop's share of @conns per server (its
 * MAX_HOST_CONNECTIONS), no more than its cache of idle ones holds
 * (MAXCONNECTS) once there are several servers. */
unsigned ulo_http_socket_bound(unsigned conns, unsigned hosts);
int ulo_http_client_new(const struct ulo_http_conf *conf,
			struct ulo_http_client **out);
/* Perform one attempt.  0 once the attempt is over (whatever happened:
 * see curl_code and status), -errno if it could not be started. */
int ulo_http_perform(struct ulo_http_client *c, struct ulo_http_req *r);
void ulo_http_client_free(struct ulo_http_client *c);

/* Is @host (as in a URL, IPv6 in brackets) an IP literal?  If so, its
 * address in network order goes to @addr (4 or 16 bytes) and @alen. */
bool ulo_http_ip_literal(const char *host, uint8_t *addr, size_t *alen);

/*
 * Where a redirect from @cur to the Location value @location leads: the
 * reference resolved against @cur into @out (@cap bytes, NUL included).
 * 0, or -EPROTO with @why saying why it is refused: malformed, not http
 * or https, https to http without @allow_downgrade, longer than @cap.
 */
int ulo_http_redirect_target(const char *cur, const char *location,
			     bool allow_downgrade, char *out, size_t cap,
			     char *why, size_t whylen);

/*
 * libcurl's header callback (CURLOPT_HEADERFUNCTION, @arg the request):
 * one line of the response head.  The fields uloop reads go into the
 * request (see struct ulo_http_req); it returns @size * @n to go on, 0
 * to stop the transfer (a field refused: bad_header says why; or past
 * ULO_HTTP_HEADER_CAP: headers_too_big).
 */
size_t ulo_http_header_cb(char *line, size_t size, size_t n, void *arg);

#endif
