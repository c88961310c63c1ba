// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * sign.c - ECDSA P-256 signatures (see sign.h).  mbedTLS signs the
 * SHA-256 digest; its ECDSA is deterministic (RFC 6979), and the random
 * bytes it asks for (blinding) come from getrandom().
 */
#include "sign.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/random.h>

#include <mbedtls/ecp.h>
#include <mbedtls/error.h>
#include <mbedtls/pk.h>
#include <mbedtls/sha256.h>

#include "tls_verify.h"
#include "util.h"

static int ulo_sign_rng(void *ctx, unsigned char *out, size_t len)
{
	(void)ctx;
	while (len) {
		ssize_t n = getrandom(out, len, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return MBEDTLS_ERR_ECP_RANDOM_FAILED;
		out += n;
		len -= (size_t)n;
	}
	return 0;
}

/* mbedTLS 3.6 parses keys through its PSA core, which must be started. */
static int ulo_sign_crypto_start(const char *keyfile)
{
	int ret = ulo_tls_global_init();

	if (ret)
		return ulo_err(-EIO, "%s: the crypto library did not start (-0x%04x)", keyfile, -ret);
	return 0;
}

/* mbedTLS 3.6 keeps the key's group private; it has an accessor. */
static bool ulo_pk_is_p256(mbedtls_pk_context *pk)
{
	return mbedtls_pk_can_do(pk, MBEDTLS_PK_ECDSA) &&
	       mbedtls_ecp_keypair_get_group_id(mbedtls_pk_ec(*pk)) == MBEDTLS_ECP_DP_SECP256R1;
}

int ulo_sign(const char *keyfile, const void *msg, size_t len,
	     uint8_t *sig, size_t *siglen)
{
	uint8_t digest[32], der[MBEDTLS_ECDSA_MAX_LEN];
	mbedtls_pk_context pk;
	char why[128];
	size_t n = 0;
	int ret;

	mbedtls_pk_init(&pk);
	ret = ulo_sign_crypto_start(keyfile);
	if (ret)
		goto out;
	ret = mbedtls_pk_parse_keyfile(&pk, keyfile, NULL, ulo_sign_rng, NULL);
	if (ret == MBEDTLS_ERR_PK_FILE_IO_ERROR) {
		ret = ulo_err(-ENOENT, "%s: cannot read the signing key", keyfile);
		goto out;
	}
	if (ret == MBEDTLS_ERR_PK_PASSWORD_REQUIRED) {
		ret = ulo_err(-EINVAL, "%s: the key is encrypted (give an unencrypted one)", keyfile);
		goto out;
	}
	if (ret) {
		mbedtls_strerror(ret, why, sizeof(why));
		ret = ulo_err(-EINVAL, "%s: not a private key (%s)", keyfile, why);
		goto out;
	}
	if (!ulo_pk_is_p256(&pk)) {
		ret = ulo_err(-EINVAL, "%s: not an ECDSA P-256 (prime256v1) key", keyfile);
		goto out;
	}
	ret = mbedtls_sha256(msg, len, digest, 0);
	if (!ret)
		ret = mbedtls_pk_sign(&pk, MBEDTLS_MD_SHA256, digest, sizeof(digest),
				      der, sizeof(der), &n, ulo_sign_rng, NULL);
	if (ret || n > ULO_SIG_MAX) {
		mbedtls_strerror(ret, why, sizeof(why));
		ret = ulo_err(-EIO, "%s: signing failed (%s)", keyfile, ret ? why : "signature too long");
		goto out;
	}
	memcpy(sig, der, n);
	*siglen = n;
out:
	mbedtls_pk_free(&pk);
	return ret;
}

int ulo_sig_verify(const char *keyfile, const void *msg, size_t len,
		   const uint8_t *sig, size_t siglen)
{
	uint8_t digest[32];
	mbedtls_pk_context pk;
	char why[128];
	int ret;

	mbedtls_pk_init(&pk);
	ret = ulo_sign_crypto_start(keyfile);
	if (ret)
		goto out;
	ret = mbedtls_pk_parse_public_keyfile(&pk, keyfile);
	if (ret == MBEDTLS_ERR_PK_FILE_IO_ERROR) {
		ret = ulo_err(-ENOENT, "%s: cannot read the verification key", keyfile);
		goto out;
	}
	if (ret) {
		mbedtls_strerror(ret, why, sizeof(why));
		ret = ulo_err(-EINVAL, "%s: not a public key (%s)", keyfile, why);
		goto out;
	}
	if (!ulo_pk_is_p256(&pk)) {
		ret = ulo_err(-EINVAL, "%s: not an ECDSA P-256 (prime256v1) public key", keyfile);
		goto out;
	}
	ret = mbedtls_sha256(msg, len, digest, 0);
	if (ret) {
		ret = ulo_err(-EIO, "%s: hashing the signed text failed", keyfile);
		goto out;
	}
	ret = mbedtls_pk_verify(&pk, MBEDTLS_MD_SHA256, digest, sizeof(digest),
				sig, siglen);
	if (ret) {
		mbedtls_strerror(ret, why, sizeof(why));
		ret = ulo_err(-EBADMSG, "the signature does not verify with the key %s (%s)",
			      keyfile, why);
	}
out:
	mbedtls_pk_free(&pk);
	return ret;
}
