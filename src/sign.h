/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * sign.h - signatures over manifests (docs/verity.md): ECDSA on NIST
 * P-256 with SHA-256, the signature in DER, by mbedTLS, which the static
 * initramfs binary carries already for TLS.  (Ed25519 would be shorter;
 * mbedTLS, 3.6 included, has no EdDSA.)
 */
#ifndef ULOOP_SIGN_H
#define ULOOP_SIGN_H

#include <stddef.h>
#include <stdint.h>

#define ULO_SIG_ALG "ecdsa-p256-sha256"
#define ULO_SIG_MAX 72		/* DER of two 256-bit integers */

/*
 * Sign @len bytes at @msg with the private key in @keyfile (PEM or DER,
 * as `openssl ecparam -name prime256v1 -genkey -noout` writes it): the DER
 * signature into @sig (ULO_SIG_MAX bytes), its length into *@siglen.
 * 0, or -errno naming @keyfile and the cause (unreadable, not an EC
 * P-256 private key, encrypted).
 */
int ulo_sign(const char *keyfile, const void *msg, size_t len,
	     uint8_t *sig, size_t *siglen);

/*
 * Does @sig (DER, @siglen bytes) sign @len bytes at @msg under the public
 * key in @keyfile (PEM or DER, as `openssl ec -pubout` writes it)?  0,
 * -EBADMSG if it does not, or -errno naming @keyfile (unreadable, not an
 * EC P-256 public key).
 */
int ulo_sig_verify(const char *keyfile, const void *msg, size_t len,
		   const uint8_t *sig, size_t siglen);

#endif
