/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * tls_verify.h - TLS settings libcurl + mbedTLS 2.28 do not make.
 *
 * Cipher order: mbedTLS 2.28 decrypts AES-GCM at about 300 MB/s per core
 * (software GHASH) and ChaCha20-Poly1305 at about 540 MB/s, so the
 * ChaCha20-Poly1305 suites are offered first; the rest follow in mbedTLS's
 * own order.
 *
 * For a URL whose host is an IP literal, mbedTLS 2.28 compares the
 * address, as text, with the certificate's DNS names and CN: a real
 * certificate for 127.0.0.1 (an iPAddress subjectAltName) fails, and one
 * with a DNS name or CN that happens to read "127.0.0.1" passes.  RFC 6125
 * says an IP literal matches iPAddress entries only; ulo_tls_sslctx()
 * installs a verify callback that decides exactly that.
 */
#ifndef ULOOP_TLS_VERIFY_H
#define ULOOP_TLS_VERIFY_H

#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

struct ulo_tls_ip {
	uint8_t addr[16];	/* network order */
	size_t len;		/* 4 or 16 */
};

/* CURLOPT_SSL_CTX_FUNCTION for every https transfer: cipher order, no
 * renegotiation, and the IP check.  @parm is a struct ulo_tls_ip (len 0:
 * a host name, no IP check) that lives as long as the connection may. */
CURLcode ulo_tls_sslctx(CURL *curl, void *sslctx, void *parm);

/* 1 if @crt_der's subjectAltName holds iPAddress @ip, 0 if not, -1 if the
 * certificate does not parse (for tests). */
int ulo_tls_crt_has_ip(const uint8_t *crt_der, size_t len,
		       const struct ulo_tls_ip *ip);

#endif
