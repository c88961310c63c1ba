/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * tls_verify.h - TLS settings libcurl + mbedTLS 3.6 do not make.
 *
 * Cipher order: mbedTLS 3.6 decrypts AES-128-GCM at about 314 MB/s per
 * core (one block at a time, even with AES-NI and PCLMUL) and
 * ChaCha20-Poly1305 at about 1.4 GB/s with uloop's vector paths
 * (tools/mbedtls-*.patch; 436 MB/s without), so the ChaCha20-Poly1305 suites
 * (TLS 1.3's and 1.2's) are offered first; the rest follow in mbedTLS's
 * own order.
 *
 * For a URL whose host is an IP literal, curl 7.88 + mbedTLS compare the
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

/* Start the crypto library's PSA core, which mbedTLS 3.6's TLS 1.3 and
 * key parsing need and libcurl 7.88 does not start; once per process,
 * any thread.  0 or an mbedTLS/PSA error. */
int ulo_tls_global_init(void);

/* 1 if @crt_der's subjectAltName holds iPAddress @ip, 0 if not, -1 if the
 * certificate does not parse (for tests). */
int ulo_tls_crt_has_ip(const uint8_t *crt_der, size_t len,
		       const struct ulo_tls_ip *ip);

#endif
