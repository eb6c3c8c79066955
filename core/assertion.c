/* SPDX-License-Identifier: MIT */
/* assertion.c: Entra ID certificate credentials and their RS256 client assertions. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "assertion.h"
#include "buf.h"

#define CERT_FILE_MAX (1024 * 1024)
#define CERT_CLAIM_MAX 4096
#define CERT_RSA_MIN_BITS 2048

/* Characters of the base64url text of n bytes, without padding. */
#define B64URL_LEN(n) ((n) / 3 * 4 + ((n) % 3 ? (n) % 3 + 1 : 0))

struct cert_credential {
	EVP_PKEY *key;
	char *header;  /* base64url of the JOSE header: the same for every assertion */
	char *subject;
	char thumbprint[41];
};

/* Writes the base64url text of src[0..n) and a NUL to dst, which has room
 * for B64URL_LEN(n) + 1 characters; returns B64URL_LEN(n). */
static size_t b64url_encode(char *dst, const unsigned char *src, size_t n)
{
	static const char abc[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t i, o = 0;
	uint32_t v;

	for (i = 0; i + 2 < n; i += 3) {
		v = (uint32_t)src[i] << 16 | (uint32_t)src[i + 1] << 8 | src[i + 2];
		dst[o++] = abc[v >> 18];
		dst[o++] = abc[(v >> 12) & 63];
		dst[o++] = abc[(v >> 6) & 63];
		dst[o++] = abc[v & 63];
	}
	if (n - i == 1) {
		v = (uint32_t)src[i] << 16;
		dst[o++] = abc[v >> 18];
		dst[o++] = abc[(v >> 12) & 63];
	} else if (n - i == 2) {
		v = (uint32_t)src[i] << 16 | (uint32_t)src[i + 1] << 8;
		dst[o++] = abc[v >> 18];
		dst[o++] = abc[(v >> 12) & 63];
		dst[o++] = abc[(v >> 6) & 63];
	}
	dst[o] = '\0';
	return o;
}

/* Heap base64url text of src[0..n), or NULL when memory ran out. */
static char *b64url_dup(const void *src, size_t n)
{
	char *s = malloc(B64URL_LEN(n) + 1);

	if (s)
		b64url_encode(s, src, n);
	return s;
}

/* The reason of OpenSSL's last error on this thread, for messages ("" if
 * none). OpenSSL's reasons name algorithms and formats, never key bytes. */
static const char *ssl_reason(void)
{
	const char *r = ERR_reason_error_string(ERR_peek_last_error());

	return r ? r : "";
}

/* Wipes, unlocks and frees a buffer read by read_private_file(). */
static void wipe_file(unsigned char *data, size_t len)
{
	if (!data)
		return;
	OPENSSL_cleanse(data, len);
	munlock(data, len);
	free(data);
}

/*
 * Reads the whole file into a heap buffer (wiped and freed by the caller
 * with wipe_file()). Symbolic links are followed: the checks are made on
 * the file opened, with fstat(), so they cannot be raced.
 */
static enum core_rc read_private_file(const char *path, unsigned char **data,
				      size_t *len, struct core_err *err)
{
	struct stat st;
	unsigned char *p;
	size_t n = 0, want;
	ssize_t r;
	int fd;

	*data = NULL;
	*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return core_err_set(err, CORE_EINVAL,
				    "cannot open certificate file '%s': %s", path,
				    strerror(errno));
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return core_err_set(err, CORE_EINVAL,
				    "certificate file '%s' is not a regular file",
				    path);
	}
	if (st.st_mode & (S_IRWXG | S_IRWXO)) {
		close(fd);
		return core_err_set(err, CORE_EINVAL,
				    "certificate file '%s' holds a private key and is "
				    "%s by others (mode %03o); run: chmod 600 '%s'",
				    path,
				    st.st_mode & (S_IRGRP | S_IROTH) ? "readable"
								     : "writable",
				    (unsigned)(st.st_mode & 0777), path);
	}
	if (st.st_size > CERT_FILE_MAX) {
		close(fd);
		return core_err_set(err, CORE_ETOOBIG,
				    "certificate file '%s' is over %d bytes", path,
				    CERT_FILE_MAX);
	}
	if (st.st_size == 0) {
		close(fd);
		return core_err_set(err, CORE_EINVAL,
				    "certificate file '%s' is empty", path);
	}
	want = (size_t)st.st_size;
	p = malloc(want);
	if (!p) {
		close(fd);
		return core_err_set(err, CORE_ENOMEM, "out of memory");
	}
	/* Best effort: keep the key out of swap while it is parsed. */
	(void)mlock(p, want);
	while (n < want) {
		r = read(fd, p + n, want - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;

			close(fd);
			wipe_file(p, want);
			return core_err_set(err, CORE_EINVAL,
					    "cannot read certificate file '%s': %s",
					    path, strerror(e));
		}
		if (r == 0) {
			close(fd);
			wipe_file(p, want);
			return core_err_set(err, CORE_EINVAL,
					    "certificate file '%s' changed while it "
					    "was read",
					    path);
		}
		n += (size_t)r;
	}
	close(fd);
	*data = p;
	*len = want;
	return CORE_OK;
}

static bool contains(const unsigned char *data, size_t len, const char *s)
{
	return memmem(data, len, s, strlen(s)) != NULL;
}

/* Hands the caller's password to OpenSSL, and never lets it prompt on a
 * terminal when there is none (its default callback would). */
static int pem_password(char *buf, int size, int rwflag, void *u)
{
	const char *pw = u;
	size_t n;

	(void)rwflag;
	if (!pw || size < 0)
		return -1;
	n = strlen(pw);
	if (n > (size_t)size)
		return -1;
	memcpy(buf, pw, n);
	return (int)n;
}

/* Every certificate of a PEM file, and its first private key. */
static enum core_rc load_pem(const char *path, const unsigned char *data,
			     size_t len, const char *password, EVP_PKEY **key,
			     STACK_OF(X509) *certs, struct core_err *err)
{
	bool encrypted;
	X509 *x;
	BIO *bio;

	bio = BIO_new_mem_buf(data, (int)len);
	if (!bio)
		return core_err_set(err, CORE_ENOMEM, "out of memory");
	while ((x = PEM_read_bio_X509(bio, NULL, pem_password, NULL)) != NULL) {
		if (!sk_X509_push(certs, x)) {
			X509_free(x);
			BIO_free(bio);
			return core_err_set(err, CORE_ENOMEM, "out of memory");
		}
	}
	BIO_free(bio);
	ERR_clear_error();
	if (sk_X509_num(certs) == 0)
		return core_err_set(err, CORE_EINVAL,
				    "no certificate in '%s': it must hold the "
				    "certificate and its private key (PEM), or be "
				    "a PKCS#12 (.pfx) file",
				    path);
	if (!contains(data, len, "PRIVATE KEY-----"))
		return core_err_set(err, CORE_EINVAL,
				    "no private key in '%s': it must hold the "
				    "certificate and its private key (PEM), or be "
				    "a PKCS#12 (.pfx) file",
				    path);

	bio = BIO_new_mem_buf(data, (int)len);
	if (!bio)
		return core_err_set(err, CORE_ENOMEM, "out of memory");
	*key = PEM_read_bio_PrivateKey(bio, NULL, pem_password, (void *)password);
	BIO_free(bio);
	if (*key)
		return CORE_OK;
	encrypted = contains(data, len, "BEGIN ENCRYPTED PRIVATE KEY") ||
		    contains(data, len, "Proc-Type: 4,ENCRYPTED");
	if (encrypted && !password)
		return core_err_set(err, CORE_EINVAL,
				    "the private key in '%s' is encrypted and no "
				    "password was given",
				    path);
	if (encrypted)
		return core_err_set(err, CORE_EINVAL,
				    "cannot decrypt the private key in '%s': wrong "
				    "password? (%s)",
				    path, ssl_reason());
	return core_err_set(err, CORE_EINVAL,
			    "cannot read the private key in '%s' (%s)", path,
			    ssl_reason());
}

/* The key and every certificate of a PKCS#12 file. */
static enum core_rc load_pkcs12(const char *path, const unsigned char *data,
				size_t len, const char *password, EVP_PKEY **key,
				STACK_OF(X509) *certs, struct core_err *err)
{
	STACK_OF(X509) *ca = NULL;
	PKCS12 *p12;
	X509 *x = NULL;
	BIO *bio;
	enum core_rc rc = CORE_OK;

	bio = BIO_new_mem_buf(data, (int)len);
	if (!bio)
		return core_err_set(err, CORE_ENOMEM, "out of memory");
	p12 = d2i_PKCS12_bio(bio, NULL);
	BIO_free(bio);
	if (!p12)
		return core_err_set(err, CORE_EINVAL,
				    "'%s' is neither a PEM file nor a PKCS#12 (.pfx) "
				    "file",
				    path);
	/* The MAC tells a wrong password apart from a damaged file. */
	if (PKCS12_mac_present(p12)) {
		if (!password && !PKCS12_verify_mac(p12, NULL, 0) &&
		    !PKCS12_verify_mac(p12, "", 0)) {
			rc = core_err_set(err, CORE_EINVAL,
					  "the PKCS#12 file '%s' is protected by a "
					  "password and none was given",
					  path);
			goto out;
		}
		if (password && !PKCS12_verify_mac(p12, password, -1)) {
			rc = core_err_set(err, CORE_EINVAL,
					  "wrong password for the PKCS#12 file '%s'",
					  path);
			goto out;
		}
	}
	if (!PKCS12_parse(p12, password, key, &x, &ca)) {
		rc = core_err_set(err, CORE_EINVAL,
				  "cannot read the PKCS#12 file '%s' (%s); if it "
				  "uses a legacy cipher (RC2), convert it: openssl "
				  "pkcs12 -legacy -in OLD -nodes | openssl pkcs12 "
				  "-export -out NEW",
				  path, ssl_reason());
		goto out;
	}
	if (x && !sk_X509_push(certs, x)) {
		X509_free(x);
		rc = core_err_set(err, CORE_ENOMEM, "out of memory");
		goto out;
	}
	while (ca && sk_X509_num(ca) > 0) {
		x = sk_X509_shift(ca);
		if (!sk_X509_push(certs, x)) {
			X509_free(x);
			rc = core_err_set(err, CORE_ENOMEM, "out of memory");
			goto out;
		}
	}
	if (!*key)
		rc = core_err_set(err, CORE_EINVAL,
				  "no private key in the PKCS#12 file '%s'", path);
	else if (sk_X509_num(certs) == 0)
		rc = core_err_set(err, CORE_EINVAL,
				  "no certificate in the PKCS#12 file '%s'", path);
out:
	sk_X509_pop_free(ca, X509_free);
	PKCS12_free(p12);
	return rc;
}

/* Entra ID verifies client assertions with RS256 (or PS256): RSA only. */
static enum core_rc check_key(const char *path, EVP_PKEY *key,
			      struct core_err *err)
{
	int id = EVP_PKEY_base_id(key), bits;
	const char *name;

	if (id != EVP_PKEY_RSA) {
		switch (id) {
		case EVP_PKEY_EC:	name = "EC"; break;
		case EVP_PKEY_RSA_PSS:	name = "RSA-PSS (PSS only)"; break;
		case EVP_PKEY_ED25519:	name = "Ed25519"; break;
		case EVP_PKEY_ED448:	name = "Ed448"; break;
		case EVP_PKEY_DSA:	name = "DSA"; break;
		default:		name = "non-RSA"; break;
		}
		return core_err_set(err, CORE_EINVAL,
				    "the private key in '%s' is an %s key; Microsoft "
				    "Entra ID needs an RSA key (RS256): create the "
				    "certificate with an RSA key of 2048 bits or more",
				    path, name);
	}
	bits = EVP_PKEY_bits(key);
	if (bits < CERT_RSA_MIN_BITS)
		return core_err_set(err, CORE_EINVAL,
				    "the RSA key in '%s' has %d bits; Microsoft "
				    "Entra ID needs %d or more",
				    path, bits, CERT_RSA_MIN_BITS);
	return CORE_OK;
}

/* The first certificate the key belongs to, or NULL. */
static X509 *matching_cert(STACK_OF(X509) *certs, EVP_PKEY *key)
{
	int i;

	for (i = 0; i < sk_X509_num(certs); i++)
		if (X509_check_private_key(sk_X509_value(certs, i), key) == 1)
			return sk_X509_value(certs, i);
	return NULL;
}

/* One RFC 2253 line, every byte outside printable ASCII replaced. */
static char *subject_line(X509 *x)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *s = NULL, *mem;
	long n;
	long i;

	if (!bio)
		return NULL;
	if (X509_NAME_print_ex(bio, X509_get_subject_name(x), 0,
			       XN_FLAG_RFC2253) >= 0) {
		n = BIO_get_mem_data(bio, &mem);
		s = malloc((size_t)(n > 0 ? n : 0) + 1);
		if (s) {
			for (i = 0; i < n; i++)
				s[i] = mem[i] >= 0x20 && mem[i] < 0x7f ? mem[i] : '?';
			s[n > 0 ? n : 0] = '\0';
		}
	}
	BIO_free(bio);
	return s;
}

/* Thumbprint, subject and JOSE header of the certificate. */
static enum core_rc describe_cert(struct cert_credential *c, X509 *x,
				  struct core_err *err)
{
	unsigned char sha1[EVP_MAX_MD_SIZE], sha256[EVP_MAX_MD_SIZE];
	char x5t[B64URL_LEN(20) + 1], x5t256[B64URL_LEN(32) + 1];
	char json[160];
	unsigned int n1 = 0, n256 = 0, i;
	int n;

	if (!X509_digest(x, EVP_sha1(), sha1, &n1) || n1 != 20 ||
	    !X509_digest(x, EVP_sha256(), sha256, &n256) || n256 != 32)
		return core_err_set(err, CORE_EIO,
				    "cannot hash the certificate (%s)", ssl_reason());
	for (i = 0; i < n1; i++)
		snprintf(c->thumbprint + 2 * i, 3, "%02X", sha1[i]);
	b64url_encode(x5t, sha1, n1);
	b64url_encode(x5t256, sha256, n256);
	n = snprintf(json, sizeof(json),
		     "{\"alg\":\"RS256\",\"typ\":\"JWT\",\"x5t\":\"%s\","
		     "\"x5t#S256\":\"%s\"}",
		     x5t, x5t256);
	if (n < 0 || (size_t)n >= sizeof(json))
		return core_err_set(err, CORE_EIO, "assertion header too long");
	c->header = b64url_dup(json, (size_t)n);
	c->subject = subject_line(x);
	if (!c->header || !c->subject)
		return core_err_set(err, CORE_ENOMEM, "out of memory");
	return CORE_OK;
}

enum core_rc cert_credential_load(const char *path, const char *password,
				  struct cert_credential **out,
				  struct core_err *err)
{
	struct cert_credential *c = NULL;
	STACK_OF(X509) *certs = NULL;
	EVP_PKEY *key = NULL;
	unsigned char *data = NULL;
	size_t len = 0;
	X509 *leaf;
	enum core_rc rc;

	*out = NULL;
	if (!path || !*path)
		return core_err_set(err, CORE_EINVAL, "no certificate file given");
	rc = read_private_file(path, &data, &len, err);
	if (rc)
		return rc;
	certs = sk_X509_new_null();
	if (!certs) {
		rc = core_err_set(err, CORE_ENOMEM, "out of memory");
		goto out;
	}
	if (contains(data, len, "-----BEGIN "))
		rc = load_pem(path, data, len, password, &key, certs, err);
	else
		rc = load_pkcs12(path, data, len, password, &key, certs, err);
	wipe_file(data, len);
	data = NULL;
	if (rc)
		goto out;
	rc = check_key(path, key, err);
	if (rc)
		goto out;
	leaf = matching_cert(certs, key);
	if (!leaf) {
		rc = core_err_set(err, CORE_EINVAL,
				  "the private key in '%s' does not match %s", path,
				  sk_X509_num(certs) == 1 ? "its certificate"
							  : "any of its certificates");
		goto out;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		rc = core_err_set(err, CORE_ENOMEM, "out of memory");
		goto out;
	}
	rc = describe_cert(c, leaf, err);
	if (rc)
		goto out;
	c->key = key;
	key = NULL;
	*out = c;
	c = NULL;
out:
	wipe_file(data, len);
	cert_credential_free(c);
	EVP_PKEY_free(key);
	sk_X509_pop_free(certs, X509_free);
	/* Leave no OpenSSL errors (a failed decrypt...) on this thread's queue. */
	ERR_clear_error();
	return rc;
}

void cert_credential_free(struct cert_credential *c)
{
	if (!c)
		return;
	EVP_PKEY_free(c->key);
	free(c->header);
	free(c->subject);
	free(c);
}

const char *cert_credential_thumbprint(const struct cert_credential *c)
{
	return c->thumbprint;
}

const char *cert_credential_subject(const struct cert_credential *c)
{
	return c->subject;
}

/* Well-formed UTF-8: no overlong forms, surrogates or code points past
 * U+10FFFF, so the claims are valid JSON. */
static bool utf8_valid(const unsigned char *s)
{
	unsigned cp, need, i;

	while (*s) {
		if (*s < 0x80) {
			s++;
			continue;
		}
		if (*s >= 0xc2 && *s <= 0xdf) {
			need = 1;
			cp = *s & 0x1f;
		} else if (*s >= 0xe0 && *s <= 0xef) {
			need = 2;
			cp = *s & 0x0f;
		} else if (*s >= 0xf0 && *s <= 0xf4) {
			need = 3;
			cp = *s & 0x07;
		} else {
			return false;
		}
		for (i = 1; i <= need; i++) {
			if ((s[i] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[i] & 0x3f);
		}
		if ((need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		s += need + 1;
	}
	return true;
}

static enum core_rc check_claim(const char *what, const char *s,
				struct core_err *err)
{
	if (!s || !*s)
		return core_err_set(err, CORE_EINVAL, "empty %s", what);
	if (strlen(s) > CERT_CLAIM_MAX)
		return core_err_set(err, CORE_EINVAL, "%s over %d bytes", what,
				    CERT_CLAIM_MAX);
	if (!utf8_valid((const unsigned char *)s))
		return core_err_set(err, CORE_EINVAL, "%s is not valid UTF-8",
				    what);
	return CORE_OK;
}

/* Appends s as a JSON string (quotes included); s is valid UTF-8. */
static enum core_rc json_add_string(struct buf *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	enum core_rc rc = buf_add(b, "\"", 1);

	for (; !rc && *p; p++) {
		if (*p == '"')
			rc = buf_add(b, "\\\"", 2);
		else if (*p == '\\')
			rc = buf_add(b, "\\\\", 2);
		else if (*p == '\n')
			rc = buf_add(b, "\\n", 2);
		else if (*p == '\r')
			rc = buf_add(b, "\\r", 2);
		else if (*p == '\t')
			rc = buf_add(b, "\\t", 2);
		else if (*p < 0x20)
			rc = buf_printf(b, "\\u%04x", *p);
		else
			rc = buf_add(b, p, 1);
	}
	return rc ? rc : buf_add(b, "\"", 1);
}

/* A random (version 4, RFC 9562) UUID in lower-case text. */
static enum core_rc make_uuid(char out[37], struct core_err *err)
{
	unsigned char r[16];

	if (RAND_bytes(r, sizeof(r)) != 1)
		return core_err_set(err, CORE_EIO,
				    "the random number generator failed (%s)",
				    ssl_reason());
	r[6] = (unsigned char)((r[6] & 0x0f) | 0x40);
	r[8] = (unsigned char)((r[8] & 0x3f) | 0x80);
	snprintf(out, 37,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
		 "%02x%02x%02x%02x%02x%02x",
		 r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9],
		 r[10], r[11], r[12], r[13], r[14], r[15]);
	return CORE_OK;
}

enum core_rc cert_credential_assertion(const struct cert_credential *c,
				       const char *client_id,
				       const char *audience, int64_t now,
				       char **out, struct core_err *err)
{
	struct buf claims = BUF_INIT(0);
	EVP_MD_CTX *md = NULL;
	unsigned char *sig = NULL;
	size_t hlen, plen, sigmax = 0, siglen, tbs, jwtmax = 0;
	char jti[37], *jwt = NULL;
	enum core_rc rc;
	int ksize;

	*out = NULL;
	rc = check_claim("client id", client_id, err);
	if (!rc)
		rc = check_claim("audience", audience, err);
	if (rc)
		return rc;
	if (now <= 0 || now > INT64_MAX - CERT_ASSERTION_LIFETIME_S)
		return core_err_set(err, CORE_EINVAL,
				    "bad clock reading %" PRId64, now);
	rc = make_uuid(jti, err);
	if (rc)
		return rc;

	rc = buf_addstr(&claims, "{\"aud\":");
	if (!rc)
		rc = json_add_string(&claims, audience);
	if (!rc)
		rc = buf_addstr(&claims, ",\"iss\":");
	if (!rc)
		rc = json_add_string(&claims, client_id);
	if (!rc)
		rc = buf_addstr(&claims, ",\"sub\":");
	if (!rc)
		rc = json_add_string(&claims, client_id);
	if (!rc)
		rc = buf_printf(&claims,
				",\"jti\":\"%s\",\"nbf\":%" PRId64 ",\"iat\":%" PRId64
				",\"exp\":%" PRId64 "}",
				jti, now, now, now + CERT_ASSERTION_LIFETIME_S);
	if (rc) {
		rc = core_err_set(err, CORE_ENOMEM, "out of memory");
		goto out;
	}

	/* One allocation for the whole token: header.payload, then the
	 * signature is encoded in place. */
	ksize = EVP_PKEY_size(c->key);
	if (ksize <= 0) {
		rc = core_err_set(err, CORE_EIO, "cannot sign the client assertion");
		goto out;
	}
	sigmax = (size_t)ksize;
	hlen = strlen(c->header);
	plen = B64URL_LEN(claims.len);
	tbs = hlen + 1 + plen;
	jwtmax = tbs + 1 + B64URL_LEN(sigmax) + 1;
	jwt = malloc(jwtmax);
	sig = malloc(sigmax);
	md = EVP_MD_CTX_new();
	if (!jwt || !sig || !md) {
		rc = core_err_set(err, CORE_ENOMEM, "out of memory");
		goto out;
	}
	memcpy(jwt, c->header, hlen);
	jwt[hlen] = '.';
	b64url_encode(jwt + hlen + 1, (const unsigned char *)claims.data,
		      claims.len);
	/* The key is only read here: concurrent signing with one EVP_PKEY is
	 * safe in OpenSSL 1.1+; each call has its own EVP_MD_CTX. */
	siglen = sigmax;
	if (EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, c->key) != 1 ||
	    EVP_DigestSign(md, sig, &siglen, (const unsigned char *)jwt, tbs) != 1 ||
	    siglen > sigmax) {
		rc = core_err_set(err, CORE_EIO,
				  "cannot sign the client assertion (%s)",
				  ssl_reason());
		goto out;
	}
	jwt[tbs] = '.';
	b64url_encode(jwt + tbs + 1, sig, siglen);
	*out = jwt;
	jwt = NULL;
out:
	if (sig) {
		OPENSSL_cleanse(sig, sigmax);
		free(sig);
	}
	if (jwt) {
		OPENSSL_cleanse(jwt, jwtmax);
		free(jwt);
	}
	EVP_MD_CTX_free(md);
	buf_release(&claims);
	ERR_clear_error();
	return rc;
}
