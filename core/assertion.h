/* SPDX-License-Identifier: MIT */
/* assertion.h: Entra ID certificate credentials and their signed JWT client assertions. */
#ifndef BATCHFS_ASSERTION_H
#define BATCHFS_ASSERTION_H

#include <stdint.h>

#include "err.h"

/*
 * A struct cert_credential holds one certificate's private key (an RSA key of
 * at least 2048 bits) and what is needed to name the certificate: its SHA-1
 * thumbprint, its subject, and the JOSE header of every assertion. It is
 * what azure-identity's CertificateCredential keeps: the client assertion it
 * signs is sent as client_assertion (with client_assertion_type
 * urn:ietf:params:oauth:client-assertion-type:jwt-bearer) to
 * {authority}/{tenant}/oauth2/v2.0/token.
 *
 * Secrets: the file's bytes are wiped as soon as they are parsed; the key
 * lives only inside OpenSSL and is freed with the credential. The password
 * and the key never appear in an error message. An assertion is a bearer
 * credential for its lifetime (10 minutes): free it with secret_free().
 *
 * Ownership: the credential owns everything it holds; the strings returned by
 * cert_credential_thumbprint() and cert_credential_subject() live as long as
 * the credential. const char * parameters are borrowed.
 *
 * Thread-safety: a credential is immutable after cert_credential_load();
 * every function except cert_credential_free() may be called from any
 * thread, on the same credential, at the same time.
 */
struct cert_credential;

/* How long an assertion is valid: exp = now + CERT_ASSERTION_LIFETIME_S. */
#define CERT_ASSERTION_LIFETIME_S 600

/*
 * Loads the certificate and its private key from path, detected by content:
 * - a PEM file holding the certificate and the key in any order. The key may
 *   be "PRIVATE KEY", "RSA PRIVATE KEY" or, with password, "ENCRYPTED PRIVATE
 *   KEY" (or a legacy "Proc-Type: 4,ENCRYPTED" one). Other certificates (a
 *   chain) may be there too: the one that matches the key is used;
 * - a PKCS#12 file (.pfx/.p12); password may be NULL when it has none.
 * password may be NULL; OpenSSL is never allowed to prompt for one.
 *
 * Refused with CORE_EINVAL and a message saying what to do: a file others
 * can read or write (the key_file rule: chmod 600), a missing or unreadable
 * file, no certificate, no private key, an encrypted key without or with the
 * wrong password, a key that is not RSA (EC keys included: Entra ID verifies
 * client assertions with RS256), an RSA key under 2048 bits, a key that
 * matches none of the certificates. CORE_ETOOBIG over 1 MiB; CORE_ENOMEM.
 */
enum core_rc cert_credential_load(const char *path, const char *password,
				  struct cert_credential **out,
				  struct core_err *err)
	__attribute__((warn_unused_result));

/* Frees the key and everything else. NULL is fine. */
void cert_credential_free(struct cert_credential *c);

/* SHA-1 of the certificate's DER as 40 upper-case hex characters, the
 * "thumbprint" the Azure portal shows. Not a secret. */
const char *cert_credential_thumbprint(const struct cert_credential *c);

/* The certificate's subject as one RFC 2253 line ("CN=app,O=org"), in
 * printable ASCII (other bytes escaped). Not a secret. */
const char *cert_credential_subject(const struct cert_credential *c);

/*
 * Builds the client assertion "header.payload.signature" (base64url without
 * padding), signed RS256 (RSASSA-PKCS1-v1_5 with SHA-256):
 *   header {"alg":"RS256","typ":"JWT","x5t":<b64url SHA-1 of the DER>,
 *           "x5t#S256":<b64url SHA-256 of the DER>}
 *   claims {"aud":audience,"iss":client_id,"sub":client_id,
 *           "jti":<random UUID v4>,"nbf":now,"iat":now,
 *           "exp":now+CERT_ASSERTION_LIFETIME_S}
 * audience is the token endpoint URL; now is Unix seconds (> 0). client_id
 * and audience must be non-empty UTF-8 of at most 4096 bytes (CORE_EINVAL
 * otherwise); they are JSON-escaped. *out is heap-allocated and is a
 * secret: free it with secret_free(). CORE_EIO if the random generator or
 * the signature fails; CORE_ENOMEM.
 */
enum core_rc cert_credential_assertion(const struct cert_credential *c,
				       const char *client_id,
				       const char *audience, int64_t now,
				       char **out, struct core_err *err)
	__attribute__((warn_unused_result));

#endif
