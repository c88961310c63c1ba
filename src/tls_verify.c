// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * tls_verify.c - RFC 6125 IP-literal checking for libcurl's mbedTLS backend.
 *
 * curl (7.88) sets the URL's host, even an IP address, as the name mbedTLS
 * verifies; mbedTLS then flags MBEDTLS_X509_BADCERT_CN_MISMATCH unless
 * a DNS name or the CN equals that text.  Our callback runs on the leaf
 * after mbedTLS's own checks (flags already merged) and replaces only that
 * decision: the flag is cleared when an iPAddress subjectAltName equals the
 * address, and set otherwise.  Every other flag (expiry, unknown CA, key
 * usage) is left as mbedTLS found it, so nothing is ever loosened but the
 * one check mbedTLS cannot make.
 */
#include "tls_verify.h"

#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#include <curl/curl.h>
#include <mbedtls/asn1.h>
#include <mbedtls/ssl.h>
#include <mbedtls/ssl_ciphersuites.h>
#include <mbedtls/x509.h>
#include <mbedtls/x509_crt.h>
#include <psa/crypto.h>

static pthread_once_t ulo_psa_once = PTHREAD_ONCE_INIT;
static int ulo_psa_ret;

static void ulo_psa_init(void)
{
	ulo_psa_ret = (int)psa_crypto_init();
}

int ulo_tls_global_init(void)
{
	pthread_once(&ulo_psa_once, ulo_psa_init);
	return ulo_psa_ret;
}

static int ulo_crt_has_ip(const mbedtls_x509_crt *crt, const struct ulo_tls_ip *ip)
{
	const mbedtls_x509_sequence *san;

	for (san = &crt->subject_alt_names; san && san->buf.p; san = san->next)
		if (san->buf.tag == (MBEDTLS_ASN1_CONTEXT_SPECIFIC |
				     MBEDTLS_X509_SAN_IP_ADDRESS) &&
		    san->buf.len == ip->len &&
		    !memcmp(san->buf.p, ip->addr, ip->len))
			return 1;
	return 0;
}

static int ulo_tls_vrfy(void *ctx, mbedtls_x509_crt *crt, int depth,
			uint32_t *flags)
{
	if (depth != 0)
		return 0;
	if (ulo_crt_has_ip(crt, ctx))
		*flags &= ~MBEDTLS_X509_BADCERT_CN_MISMATCH;
	else
		*flags |= MBEDTLS_X509_BADCERT_CN_MISMATCH;
	return 0;
}

static int ulo_suites[512];
static pthread_once_t ulo_suites_once = PTHREAD_ONCE_INIT;

static void ulo_suites_init(void)
{
	static const char *const first[] = {
		"TLS1-3-CHACHA20-POLY1305-SHA256",
		"TLS-ECDHE-ECDSA-WITH-CHACHA20-POLY1305-SHA256",
		"TLS-ECDHE-RSA-WITH-CHACHA20-POLY1305-SHA256",
	};
	const int *all = mbedtls_ssl_list_ciphersuites();
	size_t n = 0;

	for (size_t i = 0; i < sizeof(first) / sizeof(first[0]); i++) {
		int id = mbedtls_ssl_get_ciphersuite_id(first[i]);

		if (id)
			ulo_suites[n++] = id;
	}
	for (; *all && n + 1 < sizeof(ulo_suites) / sizeof(ulo_suites[0]); all++) {
		bool dup = false;

		for (size_t i = 0; i < n && !dup; i++)
			dup = ulo_suites[i] == *all;
		if (!dup)
			ulo_suites[n++] = *all;
	}
	ulo_suites[n] = 0;
}

CURLcode ulo_tls_sslctx(CURL *curl, void *sslctx, void *parm)
{
	const struct ulo_tls_ip *ip = parm;

	(void)curl;
	pthread_once(&ulo_suites_once, ulo_suites_init);
	mbedtls_ssl_conf_ciphersuites(sslctx, ulo_suites);
	/* A renegotiated certificate would escape the pin check, which
	 * libcurl makes after the first handshake only. */
	mbedtls_ssl_conf_renegotiation(sslctx, MBEDTLS_SSL_RENEGOTIATION_DISABLED);
	if (ip->len)
		mbedtls_ssl_conf_verify(sslctx, ulo_tls_vrfy, parm);
	return CURLE_OK;
}

int ulo_tls_crt_has_ip(const uint8_t *der, size_t len, const struct ulo_tls_ip *ip)
{
	mbedtls_x509_crt crt;
	int ret;

	mbedtls_x509_crt_init(&crt);
	ret = mbedtls_x509_crt_parse_der(&crt, der, len) ? -1 : ulo_crt_has_ip(&crt, ip);
	mbedtls_x509_crt_free(&crt);
	return ret;
}
