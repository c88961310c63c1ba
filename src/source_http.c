// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * source_http.c - images on web servers, strictly.
 *
 * Identity.  open() asks for byte 0 (a GET with a Range, never HEAD:
 * pre-signed URLs are GET-only), following redirects itself, one hop at a
 * time (at most 5, http/https only, never https -> http unless allowed).
 * The final URL is kept and used for data; the URL as given stays the
 * image's location.  A 206 "bytes 0-0/N" gives the size; a strong ETag,
 * else Last-Modified, the validator.  A server offering neither cannot
 * tell us when the image changes: refused.  The validator is echoed in
 * every data request, so only a well-formed one is taken (an entity-tag,
 * an HTTP-date: http_parse.c); a malformed ETag is ignored with a notice.
 *
 * Data.  Every request carries If-Match (ETag) or If-Unmodified-Since
 * (Last-Modified), so a replaced image answers 412 instead of new bytes.
 * Bytes are data only if: status 206, no Content-Encoding, not multipart,
 * Content-Range exactly "bytes FIRST-LAST/SIZE" for the range asked,
 * Content-Length (if any) and body both exactly the length asked, and any
 * ETag/Last-Modified equal to the identity's.  A changed size, ETag or
 * Last-Modified, or a 412, means the image changed: -ESTALE (the engine
 * then stops fetching for good).
 *
 * Errors are classed (ulo_http_classify), per server: transient ones
 * (connection refused or reset, timeout, stall, short body, 408, 429, 5xx)
 * are retried with exponential backoff from 100 ms, doubling to 5 s,
 * honouring Retry-After, within a per-request deadline and retry count;
 * the engine sees -EIO only after that.  A busy server (429, 503: alive,
 * shedding load) is waited out beyond both, up to ten deadlines.  Permanent ones (404, 410, 401,
 * 403, other 4xx, 200 or 416 to a range, protocol violations, garbage,
 * TLS failures) drop that server for the run (one warning) when another
 * is left, and the read goes on there; the last server's permanent error
 * fails the read at once with the code in the message.  A redirect, or a
 * 401, 403, 404 or 410 from a redirect target, first re-resolves that
 * server's URL (pre-signed URLs expire) and tries again.
 *
 * Mirrors are probed at open and used only if their identity (kind, size,
 * validator) equals the primary's; a primary that does not answer its
 * one try is passed over for the first mirror that does (which then says
 * what the image is).  An http:// mirror of an https:// image is refused
 * (no silent TLS downgrade).  Requests go to the server that
 * should cost least: one still backing off (or under Retry-After) waits;
 * one that failed transiently lately is avoided while another can serve
 * (1 s plus the failed attempt's time, doubling per failure in a row, at
 * most 60 s); round-robin among equals.  Each attempt has its own bounds
 * (ulo_http_bound): with another server to fall back on, a third of the
 * request's deadline, connecting and stalling half of that, so a hanging
 * server never eats the whole deadline.  A mirror's probe at open gets
 * that third too.
 *
 * Registered, never built in: this file, http_client.c, http_parse.c and
 * tls_verify.c make libuloop-http.a, and a program serves http:// and
 * https:// by ulo_source_register(&ulo_source_http_ops) (the uloop command
 * does, in main.c).  The engine does not name it (source.c), so programs
 * on libuloop.a that read files link without libcurl.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "http_client.h"
#include "http_parse.h"
#include "source.h"
#include "util.h"

#define ULO_HTTP_MAX_HOPS 5
#define ULO_HTTP_BACKOFF_MIN_MS 100
#define ULO_HTTP_BACKOFF_MAX_MS 5000
#define ULO_HTTP_ATTEMPT_MAX_MS 30000
/* With another server to fall back on, an attempt gets a third of the
 * request's deadline (at least this), so a hanging server leaves time to
 * ask another one. */
#define ULO_HTTP_ATTEMPT_MIN_MS 1000
/* A server that failed transiently is avoided (others preferred) for
 * this long, doubling with each failure in a row, up to the max. */
#define ULO_HTTP_AVOID_MIN_MS 1000
#define ULO_HTTP_AVOID_MAX_MS 60000
#define ULO_HTTP_DEFAULT_TIMEOUT_S 60
#define ULO_HTTP_DEFAULT_RETRIES 8

enum ulo_http_class {
	ULO_HTTP_OK,
	ULO_HTTP_TRANSIENT,	/* retry */
	ULO_HTTP_PERMANENT,	/* fail now */
	ULO_HTTP_STALE,		/* the image changed */
	ULO_HTTP_REDIRECTED,	/* re-resolve the redirect, then retry */
};

struct ulo_http_ep {
	char url[ULO_HTTP_URL_MAX];	/* as given */
	char resolved[ULO_HTTP_URL_MAX];	/* after redirects; lock */
	bool usable;		/* lock; false: dropped for the run */
	bool mirror;		/* a --mirror, not the image's own URL */
	uint64_t down_until_ns;	/* lock; not asked before (backoff, Retry-After) */
	uint64_t avoid_until_ns;	/* lock; others preferred until then */
	unsigned fails;		/* lock; transient failures in a row */
};

struct ulo_http_src {
	struct ulo_http_client *client;
	struct ulo_http_ep ep[1 + ULO_MAX_MIRRORS];
	unsigned nep;
	/* The server whose image the run follows: its image changing stops
	 * the run (another server's is dropped).  The image's own URL, or
	 * the mirror that named the image while that URL did not answer. */
	unsigned primary;
	unsigned rr;		/* round-robin cursor (atomic) */
	pthread_mutex_t lock;
	unsigned timeout_ms;
	unsigned retries;
	bool allow_downgrade;
	void (*notice)(const char *msg);	/* see ulo_source_opts */
};

/* What went wrong, in words, for the message; returns the class. */
/*
 * The clock TLS checks certificates against.  ULO_BUILD_EPOCH (make: the
 * last commit's time) less a year is a floor: a clock before it is wrong
 * for certain (no RTC, a flat battery: 1970), and every certificate would
 * look not yet valid, so https is refused up front with a line that says
 * so.  The year: a commit dated ahead of the world's clock must not stop
 * every node whose clock is right.  A clock far ahead shows as expired
 * certificates: their error names the clock.
 */
#define ULO_CLOCK_MARGIN_S (366 * 86400ll)
#ifndef ULO_BUILD_EPOCH
#define ULO_BUILD_EPOCH 0
#endif

static int ulo_http_clock_check(const char *url)
{
	int64_t now = (int64_t)time(NULL);
	char a[48], b[48];

	if (now >= (int64_t)ULO_BUILD_EPOCH - ULO_CLOCK_MARGIN_S)
		return 0;
	return ulo_err(-EINVAL,
		       "%s: the clock here says %s, more than a year before this uloop was built (%.10s): no TLS certificate can be checked with it; set the clock before uloop runs (an RTC, or NTP)",
		       url, ulo_utc(now, ULO_UTC_TEXT, a, sizeof(a)),
		       ulo_utc((int64_t)ULO_BUILD_EPOCH, ULO_UTC_TEXT, b, sizeof(b)));
}

static enum ulo_http_class ulo_http_classify(const struct ulo_identity *id,
					     const struct ulo_http_req *r,
					     char *why, size_t len)
{
	uint64_t first, last, total;
	bool unsat;

	if (r->bad_header[0]) {
		snprintf(why, len, "malformed reply: %s", r->bad_header);
		return ULO_HTTP_PERMANENT;
	}
	if (r->headers_too_big) {
		snprintf(why, len, "response headers larger than %d KiB",
			 ULO_HTTP_HEADER_CAP / 1024);
		return ULO_HTTP_PERMANENT;
	}
	/* Stopped for a body too long: say why it was too long, below. */
	if (r->curl_code && !r->overflow) {
		snprintf(why, len, "%s", r->curl_err);
		switch (r->curl_code) {
		case CURLE_PEER_FAILED_VERIFICATION: {
			char now[48];

			ulo_utc((int64_t)time(NULL), ULO_UTC_TEXT, now, sizeof(now));
			/* libcurl names one flag, expiry first: an expired
			 * certificate may be untrusted as well, so rejected
			 * it stays, whatever the clock. */
			if (strstr(r->curl_err, "BADCERT_EXPIRED"))
				snprintf(why, len, "TLS: server certificate rejected: expired, by the clock here (%s; if that is wrong, set the clock)",
					 now);
			else if (strstr(r->curl_err, "BADCERT_FUTURE"))
				snprintf(why, len, "TLS: server certificate rejected: not valid yet, by the clock here (%s; if that is wrong, set the clock)",
					 now);
			else
				snprintf(why, len, "TLS: server certificate rejected (%s)",
					 r->curl_err);
			return ULO_HTTP_PERMANENT;
		}
		case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
			snprintf(why, len, "TLS: server public key matches no --pin");
			return ULO_HTTP_PERMANENT;
		case CURLE_SSL_CACERT_BADFILE:
			snprintf(why, len, "TLS: CA file unusable (%s)", r->curl_err);
			return ULO_HTTP_PERMANENT;
		case CURLE_SSL_CERTPROBLEM:
			snprintf(why, len, "TLS: client certificate or key unusable (%s)",
				 r->curl_err);
			return ULO_HTTP_PERMANENT;
		case CURLE_WEIRD_SERVER_REPLY:
			snprintf(why, len, "malformed reply (%s)", r->curl_err);
			return ULO_HTTP_PERMANENT;
		case CURLE_UNSUPPORTED_PROTOCOL:
			if (strstr(r->curl_err, "HTTP/0.9"))
				snprintf(why, len, "not an HTTP reply (%s)", r->curl_err);
			return ULO_HTTP_PERMANENT;
		case CURLE_URL_MALFORMAT:
		case CURLE_SSL_CIPHER:
		case CURLE_SSL_CRL_BADFILE:
		case CURLE_SSL_ISSUER_ERROR:
		case CURLE_NOT_BUILT_IN:
		case CURLE_OUT_OF_MEMORY:
			return ULO_HTTP_PERMANENT;
		case CURLE_OPERATION_TIMEDOUT:
			snprintf(why, len, "timed out or stalled (%s)", r->curl_err);
			return ULO_HTTP_TRANSIENT;
		default:
			return ULO_HTTP_TRANSIENT;
		}
	}
	/* Closed inside the header block: libcurl hands that over as a whole
	 * reply (the status line came), but it is the network's doing (a
	 * reset, a NAT dropping the flow), not a malformed answer. */
	if (!r->headers_done) {
		snprintf(why, len, "connection closed in the middle of the reply's headers (status %ld)",
			 r->status);
		return ULO_HTTP_TRANSIENT;
	}
	switch (r->status) {
	case 206:
		break;
	case 200:
		snprintf(why, len, "server answered 200 to a range request (Range not supported)");
		return ULO_HTTP_PERMANENT;
	case 412:
		snprintf(why, len, "precondition failed (412): the image changed on the server");
		return ULO_HTTP_STALE;
	case 416:
		if (id->kind != ULO_ID_NONE && r->has_content_range &&
		    !ulo_http_content_range(r->content_range, strlen(r->content_range),
					    &first, &last, &total, &unsat) &&
		    unsat && total != id->size) {
			snprintf(why, len, "range not satisfiable (416): the image is now %" PRIu64
				 " bytes, was %" PRIu64, total, id->size);
			return ULO_HTTP_STALE;
		}
		snprintf(why, len, "range not satisfiable (416)");
		return ULO_HTTP_PERMANENT;
	case 301: case 302: case 303: case 307: case 308:
		if (!r->has_location || !r->location[0]) {
			snprintf(why, len, "server answered %ld (a redirect) without a Location",
				 r->status);
			return ULO_HTTP_PERMANENT;
		}
		snprintf(why, len, "redirected (%ld) to %.300s%s", r->status, r->location,
			 strlen(r->location) > 300 ? "..." : "");
		return ULO_HTTP_REDIRECTED;
	case 401: case 403: case 404: case 410:
		snprintf(why, len, "server answered %ld", r->status);
		return ULO_HTTP_PERMANENT;
	case 408: case 429:
		snprintf(why, len, "server answered %ld (retry later)", r->status);
		return ULO_HTTP_TRANSIENT;
	default:
		if (r->retry_after >= 0)
			snprintf(why, len, "server answered %ld (Retry-After %ld s)",
				 r->status, r->retry_after);
		else
			snprintf(why, len, "server answered %ld", r->status);
		return r->status >= 500 && r->status <= 599 ?
			ULO_HTTP_TRANSIENT : ULO_HTTP_PERMANENT;
	}

	/* A 206: is it exactly the bytes asked for, of this image? */
	if (r->has_content_encoding && strcmp(r->content_encoding, "identity")) {
		snprintf(why, len, "body is encoded (Content-Encoding: %s); uloop never decodes",
			 r->content_encoding);
		return ULO_HTTP_PERMANENT;
	}
	if (!strncasecmp(r->content_type, "multipart/", 10)) {
		snprintf(why, len, "multipart reply to a single range (Content-Type: %s)",
			 r->content_type);
		return ULO_HTTP_PERMANENT;
	}
	if (r->overflow) {
		snprintf(why, len, "server sent more than the %" PRIu64 " bytes asked for",
			 r->len);
		return ULO_HTTP_PERMANENT;
	}
	if (!r->has_content_range ||
	    ulo_http_content_range(r->content_range, strlen(r->content_range),
				   &first, &last, &total, &unsat) || unsat) {
		snprintf(why, len, "206 with %s Content-Range '%s'",
			 r->has_content_range ? "a malformed" : "no",
			 r->has_content_range ? r->content_range : "");
		return ULO_HTTP_PERMANENT;
	}
	if (id->kind != ULO_ID_NONE && total != id->size) {
		snprintf(why, len, "the image is now %" PRIu64 " bytes, was %" PRIu64,
			 total, id->size);
		return ULO_HTTP_STALE;
	}
	if (id->kind == ULO_ID_HTTP_ETAG && r->has_etag &&
	    strcmp(r->etag, id->validator)) {
		snprintf(why, len, "ETag is now %.120s, was %.120s", r->etag, id->validator);
		return ULO_HTTP_STALE;
	}
	if (id->kind == ULO_ID_HTTP_LASTMOD && r->has_last_modified &&
	    strcmp(r->last_modified, id->validator)) {
		snprintf(why, len, "Last-Modified is now %.60s, was %.60s",
			 r->last_modified, id->validator);
		return ULO_HTTP_STALE;
	}
	if (first != r->first || last != r->first + r->len - 1) {
		snprintf(why, len, "wrong range: asked %" PRIu64 "-%" PRIu64
			 ", got Content-Range '%s'", r->first,
			 r->first + r->len - 1, r->content_range);
		return ULO_HTTP_PERMANENT;
	}
	if (r->has_length && r->content_length != r->len) {
		snprintf(why, len, "Content-Length does not match the %" PRIu64
			 " bytes of the range", r->len);
		return ULO_HTTP_PERMANENT;
	}
	/* What reached the buffer, not what arrived: only stored bytes are
	 * the server's bytes. */
	if (r->stored != r->len || r->got != r->len) {
		snprintf(why, len, "short body: %" PRIu64 " of %" PRIu64 " bytes",
			 r->stored, r->len);
		return ULO_HTTP_TRANSIENT;
	}
	return ULO_HTTP_OK;
}

/* Tell the user through the command's notice (a line on stderr), or as
 * a warning when there is none (a daemon, a library caller). */
static void ulo_http_note(void (*notice)(const char *), const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void ulo_http_note(void (*notice)(const char *), const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (notice)
		notice(msg);
	else
		ulo_warn("%s", msg);
}

static void ulo_sleep_ms(uint64_t ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/*
 * How long to wait before retry: our backoff with +-25% jitter (so many
 * nodes booting together do not retry in step), but never less than the
 * server's Retry-After (@retry_after_s, -1 if none): jitter only adds.
 */
static uint64_t ulo_retry_wait(uint64_t backoff_ms, long retry_after_s)
{
	uint64_t j = backoff_ms / 2 ? (uint64_t)(ulo_now_ns() / 1000 % (backoff_ms / 2)) : 0;
	uint64_t ms = backoff_ms - backoff_ms / 4 + j;

	if (retry_after_s >= 0 && ms < (uint64_t)retry_after_s * 1000)
		ms = (uint64_t)retry_after_s * 1000 + j / 4;
	return ms;
}

/*
 * The bounds of one attempt made with @deadline (ns) left for the whole
 * request: the time left, at most ULO_HTTP_ATTEMPT_MAX_MS, and, when
 * @others (another server could take the request over), at most a third
 * of the request's deadline (not under ULO_HTTP_ATTEMPT_MIN_MS); connecting
 * and a stall (no reply, or under 1 KiB/s) may take half of that, at most
 * the configured 10 s.  A hanging server so costs a bounded part of the
 * request, and the next attempt goes to another one.
 */
static void ulo_http_bound(const struct ulo_http_src *h, struct ulo_http_req *r,
			   uint64_t deadline, bool others)
{
	uint64_t now = ulo_now_ns();
	uint64_t ms = deadline > now ? (deadline - now) / 1000000 : 1;

	ms = ULO_MIN(ms, (uint64_t)ULO_HTTP_ATTEMPT_MAX_MS);
	if (others)
		ms = ULO_MIN(ms, (uint64_t)ULO_MAX(h->timeout_ms / 3,
						   (unsigned)ULO_HTTP_ATTEMPT_MIN_MS));
	ms = ULO_MAX(ms, 1);
	r->timeout_ms = ms;
	r->connect_timeout_ms = ULO_MAX(ms / 2, 1);
	r->stall_secs = ULO_MAX(ms / 2000, 1);
}

static int ulo_errno_for(long status)
{
	switch (status) {
	case 401: case 403:
		return -EACCES;
	case 404: case 410:
		return -ENOENT;
	default:
		return -EIO;
	}
}

/*
 * A live server asking to be asked later (429 Too Many Requests, 503
 * Service Unavailable with Retry-After), as an overloaded origin in a
 * boot storm does: the
 * time it says so for does not count against the request's deadline (up
 * to ULO_HTTP_BUSY_FACTOR deadlines in all), nor its answers against
 * --retries.  A node whose server is busy boots later; it does not fail.
 */
#define ULO_HTTP_BUSY_FACTOR 10
static bool ulo_http_busy(const struct ulo_http_req *r)
{
	/* A 503 without Retry-After is as often a proxy that cannot reach
	 * its origin, or a maintenance page: a failure, not a queue. */
	return r->status == 429 || (r->status == 503 && r->retry_after >= 0);
}

/* After a busy answer to an attempt begun at @t0 (ns), to be retried in
 * @wait_ms: the deadline moves on by that time, never past @cap. */
static uint64_t ulo_http_busy_deadline(uint64_t deadline, uint64_t t0,
				       uint64_t wait_ms, uint64_t cap)
{
	deadline += ulo_now_ns() - t0 + wait_ms * 1000000ull;
	return ULO_MIN(deadline, cap);
}

/* Resolve @url's redirects with a range GET of byte 0; fill @id and
 * @resolved.  Transient failures are retried like data requests, at most
 * @retries times, until @deadline (ns); busy answers are waited out (as
 * above) until @cap, if it is later. */
static int ulo_http_probe(struct ulo_http_src *h, const char *url,
			  char *resolved, struct ulo_identity *id, uint64_t deadline,
			  uint64_t cap, unsigned retries)
{
	char cur[ULO_HTTP_URL_MAX], next[ULO_HTTP_URL_MAX], why[512 + 2 * ULO_HTTP_URL_MAX];
	struct ulo_http_req *r;
	uint64_t backoff = ULO_HTTP_BACKOFF_MIN_MS, first, last, total;
	unsigned hops = 0, attempt = 0, tries = 0;
	uint64_t t0;
	uint8_t byte;
	bool unsat, weak = false, etag_ok, lm_ok;
	int ret;

	r = calloc(1, sizeof(*r));
	if (!r)
		return ulo_errno(-ENOMEM, "%s", url);
	snprintf(cur, sizeof(cur), "%s", url);
	for (;;) {
		enum ulo_http_class cls;

		memset(r, 0, sizeof(*r));
		r->url = cur;
		r->first = 0;
		r->len = 1;
		r->buf = &byte;
		ulo_http_bound(h, r, deadline, false);
		t0 = ulo_now_ns();
		ret = ulo_http_perform(h->client, r);
		if (ret)
			goto out;
		cls = ulo_http_classify(&(struct ulo_identity){ 0 }, r, why, sizeof(why));
		if (cls == ULO_HTTP_REDIRECTED) {
			if (++hops > ULO_HTTP_MAX_HOPS) {
				ret = ulo_err(-ELOOP, "%s: more than %d redirects (the last from %s)",
					      url, ULO_HTTP_MAX_HOPS, cur);
				goto out;
			}
			ret = ulo_http_redirect_target(cur, r->location, h->allow_downgrade,
						       next, sizeof(next), why, sizeof(why));
			if (ret) {
				ret = ulo_err(ret, "%s", why);
				goto out;
			}
			snprintf(cur, sizeof(cur), "%s", next);
			continue;
		}
		if (cls == ULO_HTTP_TRANSIENT) {
			uint64_t wait = ulo_retry_wait(backoff, r->retry_after);

			/* Never sleep past the deadline (a Retry-After of an
			 * hour is a "no" for now). */
			bool busy = cap > deadline && ulo_http_busy(r);

			tries++;
			if (busy)
				deadline = ulo_http_busy_deadline(deadline, t0, wait, cap);
			if ((busy || ++attempt <= retries) &&
			    ulo_now_ns() + wait * 1000000 < deadline) {
				ulo_debug("http", "%s: %s; retrying", cur, why);
				ulo_sleep_ms(wait);
				backoff = ULO_MIN(backoff * 2, (uint64_t)ULO_HTTP_BACKOFF_MAX_MS);
				continue;
			}
		}
		if (cls != ULO_HTTP_OK && r->status == 416 && r->has_content_range &&
		    !ulo_http_content_range(r->content_range, strlen(r->content_range),
					    &first, &last, &total, &unsat) && unsat && !total) {
			ret = ulo_err(-EINVAL, "%s: image is empty", url);
			goto out;
		}
		if (cls == ULO_HTTP_TRANSIENT) {
			ret = ulo_err(-EIO, "%s: giving up after %u attempts: %s", cur,
				      tries, why);
			goto out;
		}
		if (cls != ULO_HTTP_OK) {
			ret = ulo_err(cls == ULO_HTTP_PERMANENT ? ulo_errno_for(r->status) : -EIO,
				      "%s: %s", cur, why);
			goto out;
		}
		break;
	}
	ulo_http_content_range(r->content_range, strlen(r->content_range), &first,
			       &last, &total, &unsat);
	memset(id, 0, sizeof(*id));
	id->size = total;
	snprintf(id->location, sizeof(id->location), "%s", url);
	/* The validator is echoed in every data request: only a well-formed
	 * strong ETag or HTTP-date (control characters were refused with
	 * the reply).  A weak ETag is no strong validator. */
	etag_ok = r->has_etag && ulo_http_etag_valid(r->etag, strlen(r->etag), &weak);
	lm_ok = r->has_last_modified &&
		ulo_http_date_valid(r->last_modified, strlen(r->last_modified));
	if (etag_ok && !weak) {
		id->kind = ULO_ID_HTTP_ETAG;
		snprintf(id->validator, sizeof(id->validator), "%s", r->etag);
	} else if (lm_ok) {
		id->kind = ULO_ID_HTTP_LASTMOD;
		snprintf(id->validator, sizeof(id->validator), "%s", r->last_modified);
		if (r->has_etag && !etag_ok)
			ulo_http_note(h->notice, "%s: ignoring its ETag %.120s: not an entity-tag (RFC 9110 8.8.3); going by Last-Modified",
				      url, r->etag);
	} else {
		char e[200] = "", l[120] = "";

		if (r->has_etag)
			snprintf(e, sizeof(e), "; its ETag %.120s is %s", r->etag,
				 etag_ok ? "weak" : "not an entity-tag");
		if (r->has_last_modified)
			snprintf(l, sizeof(l), "; its Last-Modified '%.60s' is not an HTTP-date",
				 r->last_modified);
		ret = ulo_err(-EPROTO,
			      "%s: server sends no strong ETag and no valid Last-Modified: uloop cannot tell one version of the image from the next%s%s",
			      url, e, l);
		goto out;
	}
	snprintf(resolved, ULO_HTTP_URL_MAX, "%s", cur);
	ret = 0;
out:
	free(r);
	return ret;
}

/*
 * The next server to ask, among those not dropped: the one that should
 * cost least, its backoff or Retry-After still to wait (hard: never asked
 * sooner) plus its avoidance still to run (soft: it failed lately, others
 * first), round-robin among equals.  *@wait_ms says how long until it may
 * be asked; *@others whether another server is left.  NULL: none is left.
 */
static struct ulo_http_ep *ulo_http_pick(struct ulo_http_src *h, char *url,
					 uint64_t *wait_ms, bool *others)
{
	uint64_t now = ulo_now_ns(), best_cost = UINT64_MAX;
	struct ulo_http_ep *best = NULL;
	unsigned start = __atomic_fetch_add(&h->rr, 1, __ATOMIC_RELAXED);
	unsigned usable = 0;

	pthread_mutex_lock(&h->lock);
	for (unsigned i = 0; i < h->nep; i++) {
		struct ulo_http_ep *ep = &h->ep[(start + i) % h->nep];
		uint64_t cost = 0;

		if (!ep->usable)
			continue;
		usable++;
		if (ep->down_until_ns > now)
			cost += ep->down_until_ns - now;
		if (ep->avoid_until_ns > now)
			cost += ep->avoid_until_ns - now;
		if (cost < best_cost) {
			best_cost = cost;
			best = ep;
		}
	}
	*wait_ms = 0;
	*others = usable > 1;
	if (best) {
		if (best->down_until_ns > now)
			*wait_ms = (best->down_until_ns - now + 999999) / 1000000;
		snprintf(url, ULO_HTTP_URL_MAX, "%s", best->resolved);
	}
	pthread_mutex_unlock(&h->lock);
	return best;
}

static const char *ulo_http_ep_name(const struct ulo_http_src *h,
				    const struct ulo_http_ep *ep)
{
	return ep->mirror ? "mirror " : "";
}

/*
 * @ep failed for good (@why): drop it for the rest of the run, with one
 * warning, if another server is left to ask (or @always: its bytes are not
 * the image's).  False if it is the last one: the caller fails the read.
 */
static bool ulo_http_drop(struct ulo_http_src *h, struct ulo_http_ep *ep,
			  const char *why, bool always)
{
	unsigned left = 0;
	bool warn = false;

	pthread_mutex_lock(&h->lock);
	for (unsigned i = 0; i < h->nep; i++)
		left += h->ep[i].usable && &h->ep[i] != ep;
	if (left || always) {
		warn = ep->usable;	/* one warning, whoever sees it first */
		ep->usable = false;
	}
	pthread_mutex_unlock(&h->lock);
	if (warn)
		ulo_warn("%s%s dropped: %s%s", ulo_http_ep_name(h, ep), ep->url, why,
			 left ? "; going on with the other URLs" : "");
	return left || always;
}

/* @ep failed transiently: not asked again for @wait_ms, and avoided while
 * others can serve, longer with each failure in a row. */
static void ulo_http_penalise(struct ulo_http_src *h, struct ulo_http_ep *ep,
			      uint64_t wait_ms, uint64_t spent_ns)
{
	uint64_t now = ulo_now_ns(), avoid;

	pthread_mutex_lock(&h->lock);
	ep->fails++;
	avoid = ((uint64_t)ULO_HTTP_AVOID_MIN_MS * 1000000 + spent_ns)
		<< ULO_MIN(ep->fails - 1, 6u);
	avoid = ULO_MIN(avoid, (uint64_t)ULO_HTTP_AVOID_MAX_MS * 1000000);
	ep->down_until_ns = ULO_MAX(ep->down_until_ns, now + wait_ms * 1000000);
	ep->avoid_until_ns = now + avoid;
	pthread_mutex_unlock(&h->lock);
}

static void ulo_http_healthy(struct ulo_http_src *h, struct ulo_http_ep *ep)
{
	pthread_mutex_lock(&h->lock);
	ep->fails = 0;
	ep->avoid_until_ns = 0;
	pthread_mutex_unlock(&h->lock);
}

/*
 * A server's resolved URL answered a redirect or 401/403/404/410 (a
 * pre-signed URL expired, the image moved): resolve its URL as given
 * again.  0 (go on), -ESTALE (the primary leads to another image now: the
 * run stops), or another -errno with the message recorded (the server
 * could not be resolved, or a mirror leads to another image: drop it).
 */
static int ulo_http_reresolve(struct ulo_source *src, struct ulo_http_ep *ep,
			      uint64_t deadline, uint64_t cap)
{
	struct ulo_http_src *h = src->priv;
	struct ulo_identity now_id;
	char fresh[ULO_HTTP_URL_MAX];
	int ret;

	ret = ulo_http_probe(h, ep->url, fresh, &now_id, deadline, cap, h->retries);
	if (ret)
		return ret == -ESTALE ? -EIO : ret;
	if (now_id.kind != src->id.kind || now_id.size != src->id.size ||
	    strcmp(now_id.validator, src->id.validator))
		return ulo_err(ep == &h->ep[h->primary] ? -ESTALE : -EIO,
			       "%s: the image changed on the server (%s %s, was %s); refusing its data",
			       ep->url, ulo_id_kind_name(now_id.kind),
			       now_id.validator, src->id.validator);
	pthread_mutex_lock(&h->lock);
	snprintf(ep->resolved, sizeof(ep->resolved), "%s", fresh);
	pthread_mutex_unlock(&h->lock);
	return 0;
}

/*
 * One read, over every server left.  Per attempt, by class:
 * - ok: the bytes are the image's;
 * - stale: the primary's image changed: -ESTALE, the run stops; a
 *   mirror's: that mirror is dropped, another server asked;
 * - redirected, or 401/403/404/410 from a redirect target: that server's
 *   URL is resolved again (once per server and request);
 * - permanent: the server is dropped for the run if another is left, and
 *   the read goes on there; the last server's permanent error fails it;
 * - transient: the server backs off and is avoided for a while; the read
 *   retries (on another server if one is ready) within --retries and the
 *   deadline.
 */
static int ulo_http_read_server(struct ulo_source *src, void *buf, uint64_t off,
				size_t len, unsigned *retries, unsigned *server)
{
	struct ulo_http_src *h = src->priv;
	uint64_t deadline = ulo_now_ns() + h->timeout_ms * 1000000ull;
	uint64_t cap = ulo_now_ns() + h->timeout_ms * 1000000ull * ULO_HTTP_BUSY_FACTOR;
	uint64_t backoff = ULO_HTTP_BACKOFF_MIN_MS;
	char url[ULO_HTTP_URL_MAX], why[512] = "";
	struct ulo_http_req *r;
	unsigned attempt = 0, tries = 0, reresolved = 0;
	int ret;

	r = malloc(sizeof(*r));
	if (!r)
		return ulo_errno(-ENOMEM, "%s", src->id.location);
	for (;;) {
		uint64_t wait, t0;
		bool others;
		struct ulo_http_ep *ep = ulo_http_pick(h, url, &wait, &others);
		enum ulo_http_class cls;
		unsigned bit;

		if (!ep) {
			ret = ulo_err(-EIO, "%s: no server left to ask (all dropped)%s%s",
				      src->id.location, why[0] ? "; last: " : "", why);
			break;
		}
		bit = 1u << (ep - h->ep);
		if (wait && ulo_now_ns() + wait * 1000000 >= deadline) {
			/* Every server is backing off past our deadline. */
			ret = ulo_err(-EIO, "%s: giving up after %u attempts: %s; not to be asked for %" PRIu64 " s more",
				      url, tries, why[0] ? why : "busy",
				      ULO_DIV_ROUND_UP(wait, 1000));
			break;
		}
		if (wait)
			ulo_sleep_ms(wait);
		memset(r, 0, sizeof(*r));
		r->url = url;
		r->first = off;
		r->len = len;
		r->buf = buf;
		if (src->id.kind == ULO_ID_HTTP_ETAG)
			r->if_match = src->id.validator;
		else
			r->if_unmodified_since = src->id.validator;
		ulo_http_bound(h, r, deadline, others);
		t0 = ulo_now_ns();
		ret = ulo_http_perform(h->client, r);
		if (ret)
			break;
		cls = ulo_http_classify(&src->id, r, why, sizeof(why));
		if (cls == ULO_HTTP_OK) {
			ulo_http_healthy(h, ep);
			if (server)
				*server = ep - h->ep;
			break;
		}
		if (cls == ULO_HTTP_STALE && ep != &h->ep[h->primary]) {
			/* A mirror moved on (or lags): it is no longer the same
			 * image; drop it and ask another server. */
			ulo_http_drop(h, ep, why, true);
			continue;
		}
		if (cls == ULO_HTTP_STALE) {
			ret = ulo_err(-ESTALE, "%s: %s; refusing its data", url, why);
			break;
		}
		/* An expired redirect target, or a new redirect: resolve the
		 * server's URL again, once per request. */
		if (!(reresolved & bit) &&
		    (cls == ULO_HTTP_REDIRECTED ||
		     (strcmp(ep->url, url) && (r->status == 401 || r->status == 403 ||
					       r->status == 404 || r->status == 410)))) {
			reresolved |= bit;
			ret = ulo_http_reresolve(src, ep, deadline, cap);
			if (!ret)
				continue;
			if (ret == -ESTALE)
				break;
			snprintf(why, sizeof(why), "%s", ulo_errmsg());
			if (ulo_http_drop(h, ep, why, false))
				continue;
			break;	/* the last server: its message stands */
		}
		if (cls != ULO_HTTP_TRANSIENT) {
			/* Permanent for this server: another one may serve. */
			if (ulo_http_drop(h, ep, why, false))
				continue;
			ret = ulo_err(ulo_errno_for(r->status), "%s: %s", url, why);
			break;
		}
		wait = ulo_retry_wait(backoff, r->retry_after);
		ulo_http_penalise(h, ep, wait, ulo_now_ns() - t0);
		tries++;
		if (ulo_http_busy(r))
			deadline = ulo_http_busy_deadline(deadline, t0, wait, cap);
		if ((!ulo_http_busy(r) && ++attempt > h->retries) ||
		    (!others && ulo_now_ns() + wait * 1000000 >= deadline) ||
		    ulo_now_ns() >= deadline) {
			ret = ulo_err(-EIO, "%s: giving up after %u attempts: %s", url,
				      tries, why);
			break;
		}
		if (retries)
			(*retries)++;
		/* The next pick waits out this server's backoff, unless a
		 * mirror is ready sooner. */
		ulo_debug("http", "%s: %s; retry %u (server backs off %" PRIu64 " ms)",
			  url, why, tries, wait);
		backoff = ULO_MIN(backoff * 2, (uint64_t)ULO_HTTP_BACKOFF_MAX_MS);
	}
	free(r);
	return ret;
}

static int ulo_http_read(struct ulo_source *src, void *buf, uint64_t off,
			 size_t len, unsigned *retries)
{
	return ulo_http_read_server(src, buf, off, len, retries, NULL);
}

/* Bytes from @server failed verification: drop it, unless it is the last
 * (then only this read fails: a flipped bit on the way is not the server's
 * every answer). */
static bool ulo_http_drop_server(struct ulo_source *src, unsigned server,
				 const char *why)
{
	struct ulo_http_src *h = src->priv;

	return server < h->nep && ulo_http_drop(h, &h->ep[server], why, false);
}

static void ulo_http_src_free(struct ulo_http_src *h)
{
	ulo_http_client_free(h->client);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

static int ulo_http_open(struct ulo_source *src, const char *location,
			 const struct ulo_source_opts *o)
{
	struct ulo_http_conf conf = {
		.ca_file = o->ca_file, .pins = o->pins, .cert = o->cert,
		.key = o->key, .insecure = o->insecure, .proxy = o->proxy,
		.connections = o->connections ? o->connections : 4,
		.bulk = o->bulk,
		.connect_timeout_ms = 10000,
		.stall_bytes = 1024, .stall_secs = 10,
		.verbose = o->verbose,
	};
	struct ulo_http_src *h;
	char first_msg[512] = "";
	int ret, first_err = 0;
	uint64_t now, one, cap;
	bool https;

	if (strlen(location) >= ULO_HTTP_URL_MAX)
		return ulo_err(-ENAMETOOLONG, "%.64s...: URL too long", location);
	if ((o->cert == NULL) != (o->key == NULL))
		return ulo_err(-EINVAL, "%s: --cert and --key go together", location);
	https = !strncasecmp(location, "https://", 8);
	for (unsigned i = 0; i < o->nmirrors; i++) {
		const char *m = o->mirrors[i];

		if (strlen(m) >= ULO_HTTP_URL_MAX)
			return ulo_err(-ENAMETOOLONG, "mirror %.64s...: URL too long", m);
		/* TLS is never silently downgraded, not even by a mirror. */
		if (https && !strncasecmp(m, "http://", 7))
			return ulo_err(-EINVAL,
				       "mirror %s is http:// but the image is https://: refusing a downgrade",
				       m);
	}
	if (!o->insecure) {
		const char *tls = https ? location : NULL;

		for (unsigned i = 0; i < o->nmirrors && !tls; i++)
			if (!strncasecmp(o->mirrors[i], "https://", 8))
				tls = o->mirrors[i];
		if (tls && !o->ca_file)
			return ulo_err(-EINVAL,
				       "%s: no trust anchors for https: pass --ca FILE (nothing is trusted implicitly)",
				       tls);
		if (tls && (ret = ulo_http_clock_check(tls)))
			return ret;
	}
	h = calloc(1, sizeof(*h));
	if (!h)
		return ulo_errno(-ENOMEM, "%s", location);
	pthread_mutex_init(&h->lock, NULL);
	h->timeout_ms = (o->timeout_s ? o->timeout_s : ULO_HTTP_DEFAULT_TIMEOUT_S) * 1000;
	/* 0: the default; UINT_MAX: explicitly none. */
	h->retries = !o->retries ? ULO_HTTP_DEFAULT_RETRIES :
		     o->retries == UINT_MAX ? 0 : o->retries;
	h->allow_downgrade = o->allow_downgrade;
	h->notice = o->notice;
	ret = ulo_http_client_new(&conf, &h->client);
	if (ret)
		goto out_free;

	/*
	 * A mirror is optional: it gets the time of one attempt with a
	 * fallback (ulo_http_bound), so a hanging one costs little, and a
	 * busy one is passed over.  With mirrors, a node boots while any of
	 * its servers serves the image: the image's own URL is tried once
	 * (a busy answer waited out: that server is alive), and if it cannot
	 * be reached (-EIO: refused, reset, timed out, 5xx) the first mirror
	 * that answers names the image.  An answer that it has no such image
	 * (404...) stands: a mirror's copy never overrides it.  The URL that
	 * did not answer is still asked later, once the others have been.
	 * With @o->mirrors_as_fallback the mirrors are asked only then.
	 */
	now = ulo_now_ns();
	one = ULO_MAX(h->timeout_ms / 3, (unsigned)ULO_HTTP_ATTEMPT_MIN_MS) * 1000000ull;
	cap = now + h->timeout_ms * 1000000ull * ULO_HTTP_BUSY_FACTOR;
	snprintf(h->ep[0].url, sizeof(h->ep[0].url), "%s", location);
	ret = ulo_http_probe(h, location, h->ep[0].resolved, &src->id,
			     now + (o->nmirrors ? one : h->timeout_ms * 1000000ull), cap,
			     o->nmirrors ? 0 : h->retries);
	if (ret && (!o->nmirrors || ret != -EIO))
		goto out_free;
	if (ret) {
		first_err = ret;
		snprintf(first_msg, sizeof(first_msg), "%s", ulo_errmsg());
		ulo_http_note(o->notice, "%s; trying its mirrors", first_msg);
	} else {
		h->ep[0].usable = true;
		h->nep = 1;
	}
	for (unsigned i = 0; i < o->nmirrors && i < ULO_MAX_MIRRORS; i++) {
		struct ulo_http_ep *ep = &h->ep[h->nep];
		struct ulo_identity mid;
		uint64_t end = ulo_now_ns() + one;

		if (h->nep && o->mirrors_as_fallback)
			break;
		snprintf(ep->url, sizeof(ep->url), "%s", o->mirrors[i]);
		ep->mirror = true;
		if (ulo_http_probe(h, ep->url, ep->resolved, &mid, end, end, h->retries)) {
			ulo_http_note(o->notice, "mirror %s not used: %s", ep->url, ulo_errmsg());
			continue;
		}
		if (!h->nep) {
			/* It names the image, under the URL the node was
			 * given (a cache filled through a mirror is that
			 * URL's image, as when both answer alike). */
			src->id = mid;
			snprintf(src->id.location, sizeof(src->id.location), "%s", location);
			ep->usable = true;
			h->primary = h->nep++;
			continue;
		}
		if (mid.kind != src->id.kind || mid.size != src->id.size ||
		    strcmp(mid.validator, src->id.validator)) {
			ulo_http_note(o->notice, "mirror %s not used: it serves another image (%s %s, %" PRIu64
				      " bytes; %s has %s %s, %" PRIu64 " bytes)", ep->url,
				      ulo_id_kind_name(mid.kind), mid.validator, mid.size,
				      location, ulo_id_kind_name(src->id.kind),
				      src->id.validator, src->id.size);
			continue;
		}
		ep->usable = true;
		h->nep++;
	}
	if (first_err && h->nep) {
		/* The image's own URL, asked again once it has rested; its
		 * replies are checked against the image named (a 412 or
		 * another validator drops it, as any mirror's). */
		struct ulo_http_ep *ep = &h->ep[h->nep++];

		memset(ep, 0, sizeof(*ep));
		snprintf(ep->url, sizeof(ep->url), "%s", location);
		snprintf(ep->resolved, sizeof(ep->resolved), "%s", location);
		ep->usable = true;
		ulo_http_penalise(h, ep, 0, ulo_now_ns() - now);
	} else if (first_err) {
		/* No mirror either: the primary gets its retries after all. */
		memset(&h->ep[0], 0, sizeof(h->ep[0]));
		snprintf(h->ep[0].url, sizeof(h->ep[0].url), "%s", location);
		now = ulo_now_ns();
		ret = ulo_http_probe(h, location, h->ep[0].resolved, &src->id,
				     now + h->timeout_ms * 1000000ull,
				     now + h->timeout_ms * 1000000ull * ULO_HTTP_BUSY_FACTOR,
				     h->retries);
		if (ret) {
			ret = ulo_err(ret, "%s; no mirror serves it either", ulo_errmsg());
			goto out_free;
		}
		h->ep[0].usable = true;
		h->nep = 1;
	}
	src->priv = h;
	return 0;

out_free:
	ulo_http_src_free(h);
	return ret;
}

static void ulo_http_close(struct ulo_source *src)
{
	if (src->priv)
		ulo_http_src_free(src->priv);
	src->priv = NULL;
}

static const char *const ulo_http_schemes[] = { "http", "https", NULL };

/* Registered by the programs that fetch over HTTP (the uloop command). */
const struct ulo_source_ops ulo_source_http_ops = {
	.name = "http",
	.schemes = ulo_http_schemes,
	.open = ulo_http_open,
	.read = ulo_http_read,
	.close = ulo_http_close,
	.read_server = ulo_http_read_server,
	.drop_server = ulo_http_drop_server,
};
