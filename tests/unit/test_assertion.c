/* SPDX-License-Identifier: MIT */
/* test_assertion.c: certificate credentials (PEM, PKCS#12) and their client assertions. */
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs12.h>
#include <openssl/provider.h>
#include <openssl/x509.h>

#include "assertion.h"
#include "auth.h"
#include "tap.h"

#define PASSWORD "s3cr3t-Pa55phrase"
#define CLIENT_ID "8c2b5e1a-0d4f-4c1e-9a7b-3f6e2d1c0b9a"
#define AUDIENCE "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/oauth2/v2.0/token"
#define NOW ((int64_t)1735689600) /* 2025-01-01T00:00:00Z */

static char dir[256];

static void bail(const char *what)
{
	printf("Bail out! %s\n", what);
	ERR_print_errors_fp(stdout);
	exit(1);
}

static EVP_PKEY *rsa_key(unsigned bits)
{
	EVP_PKEY *k = EVP_RSA_gen(bits);

	if (!k)
		bail("cannot generate an RSA key");
	return k;
}

/* A certificate for key, signed by signer (self-signed when signer == key). */
static X509 *make_cert(EVP_PKEY *key, EVP_PKEY *signer, const char *cn,
		       long serial)
{
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();

	if (!x || !name || !X509_set_version(x, 2) ||
	    !ASN1_INTEGER_set(X509_get_serialNumber(x), serial) ||
	    !X509_gmtime_adj(X509_getm_notBefore(x), -3600) ||
	    !X509_gmtime_adj(X509_getm_notAfter(x), 86400L * 365) ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
					(const unsigned char *)cn, -1, -1, 0) ||
	    !X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
					(const unsigned char *)"batchfs", -1, -1, 0) ||
	    !X509_set_subject_name(x, name) || !X509_set_issuer_name(x, name) ||
	    !X509_set_pubkey(x, key) || !X509_sign(x, signer, EVP_sha256()))
		bail("cannot make a certificate");
	X509_NAME_free(name);
	return x;
}

/* dir/name in one of 4 static buffers, so a few can be used at once. */
static const char *path_of(const char *name)
{
	static char p[4][512];
	static unsigned next;
	char *s = p[next++ % 4];

	snprintf(s, sizeof(p[0]), "%s/%s", dir, name);
	return s;
}

/* Writes the bytes of bio to dir/name with the given mode; returns its path. */
static const char *write_bio(const char *name, BIO *bio, mode_t mode)
{
	const char *p = path_of(name);
	char *data;
	long n = BIO_get_mem_data(bio, &data);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	if (fd < 0 || n < 0 || write(fd, data, (size_t)n) != (ssize_t)n ||
	    fchmod(fd, mode) != 0 || close(fd) != 0)
		bail("cannot write a test file");
	BIO_free(bio);
	return p;
}

static BIO *mem(void)
{
	BIO *b = BIO_new(BIO_s_mem());

	if (!b)
		bail("out of memory");
	return b;
}

static void must(int r)
{
	if (r != 1)
		bail("an OpenSSL writer failed");
}

/* PEM file: certificate then PKCS#8 key, or key first (key_first). */
static const char *write_pem(const char *name, X509 *x, EVP_PKEY *k,
			     bool key_first, mode_t mode)
{
	BIO *b = mem();

	if (key_first && k)
		must(PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL));
	if (x)
		must(PEM_write_bio_X509(b, x));
	if (!key_first && k)
		must(PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL));
	return write_bio(name, b, mode);
}

static void remove_dir(void)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	while (d && (e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			unlink(path_of(e->d_name));
	if (d)
		closedir(d);
	rmdir(dir);
}

static int b64val(char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '-')
		return 62;
	if (ch == '_')
		return 63;
	return -1;
}

/* Strict base64url (no padding, no other characters); NULL when invalid.
 * The result is NUL-terminated. */
static unsigned char *b64url_decode(const char *s, size_t n, size_t *outlen)
{
	unsigned char *out = malloc(n * 3 / 4 + 2);
	size_t i, o = 0;
	unsigned acc = 0;
	int bits = 0, v;

	if (!out || n % 4 == 1) {
		free(out);
		return NULL;
	}
	for (i = 0; i < n; i++) {
		v = b64val(s[i]);
		if (v < 0) {
			free(out);
			return NULL;
		}
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	if (acc != 0) { /* non-canonical trailing bits */
		free(out);
		return NULL;
	}
	out[o] = '\0';
	*outlen = o;
	return out;
}

static char *b64url(const unsigned char *p, size_t n)
{
	char *s = malloc(n * 4 / 3 + 4);
	int len;

	if (!s)
		bail("out of memory");
	len = EVP_EncodeBlock((unsigned char *)s, p, (int)n);
	while (len > 0 && s[len - 1] == '=')
		s[--len] = '\0';
	for (; len > 0; len--)
		if (s[len - 1] == '+')
			s[len - 1] = '-';
		else if (s[len - 1] == '/')
			s[len - 1] = '_';
	return s;
}

struct jwt {
	char *text;
	size_t hlen, plen;     /* lengths of the first two parts */
	cJSON *header, *claims;
	unsigned char *sig;
	size_t siglen;
};

static void jwt_free(struct jwt *j)
{
	cJSON_Delete(j->header);
	cJSON_Delete(j->claims);
	free(j->sig);
	memset(j, 0, sizeof(*j));
}

/* Splits text into its three parts and decodes them; false if malformed. */
static bool jwt_split(const char *text, struct jwt *j)
{
	const char *d1 = strchr(text, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
	unsigned char *h, *p;
	size_t n;

	memset(j, 0, sizeof(*j));
	if (!d1 || !d2 || strchr(d2 + 1, '.') || strchr(text, '='))
		return false;
	j->hlen = (size_t)(d1 - text);
	j->plen = (size_t)(d2 - d1 - 1);
	h = b64url_decode(text, j->hlen, &n);
	p = b64url_decode(d1 + 1, j->plen, &n);
	j->sig = b64url_decode(d2 + 1, strlen(d2 + 1), &j->siglen);
	j->header = h ? cJSON_Parse((char *)h) : NULL;
	j->claims = p ? cJSON_Parse((char *)p) : NULL;
	free(h);
	free(p);
	return j->header && j->claims && j->sig;
}

static bool verify(X509 *x, const char *signed_part, size_t len,
		   const unsigned char *sig, size_t siglen)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	bool r = md &&
		 EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL,
				      X509_get0_pubkey(x)) == 1 &&
		 EVP_DigestVerify(md, sig, siglen, (const unsigned char *)signed_part,
				  len) == 1;

	EVP_MD_CTX_free(md);
	ERR_clear_error();
	return r;
}

/* Verifies text's signature over "header.payload" with x's public key. */
static bool jwt_verify(X509 *x, const char *text)
{
	struct jwt j;
	bool r = jwt_split(text, &j) &&
		 verify(x, text, j.hlen + 1 + j.plen, j.sig, j.siglen);

	jwt_free(&j);
	return r;
}

static const char *str(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsString(v) ? v->valuestring : "(missing)";
}

static bool num_is(const cJSON *o, const char *k, int64_t want)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsNumber(v) && v->valuedouble == (double)want;
}

static int members(const cJSON *o)
{
	return cJSON_GetArraySize(o);
}

static bool uuid_v4(const char *s)
{
	size_t i;

	if (strlen(s) != 36)
		return false;
	for (i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return false;
		} else if (!strchr("0123456789abcdef", s[i])) {
			return false;
		}
	}
	return s[14] == '4' && strchr("89ab", s[19]) != NULL;
}

static void hex_upper(const unsigned char *p, unsigned n, char *out)
{
	unsigned i;

	for (i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02X", p[i]);
}

/* Loads path; true when it fails with rc and a message holding want, and
 * the message never shows the password. */
static bool refused(const char *path, const char *password, enum core_rc rc,
		    const char *want)
{
	static char sentinel;
	struct core_err err = CORE_ERR_INIT;
	struct cert_credential *c = (struct cert_credential *)(void *)&sentinel;
	enum core_rc got = cert_credential_load(path, password, &c, &err);
	bool r = got == rc && c == NULL && err.rc == rc && strstr(err.msg, want) &&
		 !strstr(err.msg, PASSWORD) && ERR_peek_error() == 0;

	printf("# %s: %s\n", core_rc_name(got), err.msg);
	if (c != (struct cert_credential *)(void *)&sentinel)
		cert_credential_free(c);
	return r;
}

/* Loads path; true when it works and names the certificate x. */
static bool loads_as(const char *path, const char *password, X509 *x)
{
	struct core_err err = CORE_ERR_INIT;
	struct cert_credential *c = NULL;
	unsigned char sha1[EVP_MAX_MD_SIZE];
	unsigned n = 0;
	char want[41], *a = NULL;
	bool r;

	if (!X509_digest(x, EVP_sha1(), sha1, &n))
		bail("cannot hash");
	hex_upper(sha1, n, want);
	r = cert_credential_load(path, password, &c, &err) == CORE_OK && c &&
	    strcmp(cert_credential_thumbprint(c), want) == 0 &&
	    cert_credential_assertion(c, CLIENT_ID, AUDIENCE, NOW, &a, &err) ==
		    CORE_OK &&
	    jwt_verify(x, a);
	if (!r)
		printf("# %s\n", err.msg);
	secret_free(a);
	cert_credential_free(c);
	return r;
}

struct worker {
	const struct cert_credential *c;
	X509 *x;
	int good;
};

static void *sign_many(void *arg)
{
	struct worker *w = arg;
	struct core_err err = CORE_ERR_INIT;
	char *a;
	int i;

	for (i = 0; i < 20; i++) {
		a = NULL;
		if (cert_credential_assertion(w->c, CLIENT_ID, AUDIENCE, NOW + i, &a,
					      &err) == CORE_OK &&
		    jwt_verify(w->x, a))
			w->good++;
		secret_free(a);
	}
	return NULL;
}

static void test_assertion(const char *pem, X509 *x)
{
	struct core_err err = CORE_ERR_INIT;
	struct cert_credential *c = NULL;
	unsigned char sha1[EVP_MAX_MD_SIZE], sha256[EVP_MAX_MD_SIZE];
	unsigned n1 = 0, n256 = 0;
	char thumb[41], *x5t, *x5t256, *a = NULL, *b = NULL, *t;
	struct worker w[8];
	pthread_t th[8];
	struct jwt j, k;
	size_t i;
	int good;

	if (!X509_digest(x, EVP_sha1(), sha1, &n1) ||
	    !X509_digest(x, EVP_sha256(), sha256, &n256))
		bail("cannot hash");
	hex_upper(sha1, n1, thumb);
	x5t = b64url(sha1, n1);
	x5t256 = b64url(sha256, n256);

	ok(cert_credential_load(pem, NULL, &c, &err) == CORE_OK && c,
	   "a 0600 PEM with certificate and PKCS#8 key loads");
	if (!c)
		bail(err.msg);
	ok(strcmp(cert_credential_thumbprint(c), thumb) == 0,
	   "thumbprint is the SHA-1 of the DER in upper-case hex (%s)",
	   cert_credential_thumbprint(c));
	ok(strcmp(cert_credential_subject(c), "O=batchfs,CN=batchfs test app") == 0,
	   "subject as one RFC 2253 line (%s)", cert_credential_subject(c));

	ok(cert_credential_assertion(c, CLIENT_ID, AUDIENCE, NOW, &a, &err) ==
		   CORE_OK && a,
	   "assertion built");
	if (!a)
		bail(err.msg);
	ok(strspn(a, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		     "0123456789-_.") == strlen(a),
	   "base64url alphabet only, no padding");
	ok(jwt_split(a, &j), "three parts that decode to two JSON objects");

	ok(members(j.header) == 4, "header has 4 members");
	ok(strcmp(str(j.header, "alg"), "RS256") == 0, "header alg RS256");
	ok(strcmp(str(j.header, "typ"), "JWT") == 0, "header typ JWT");
	ok(strcmp(str(j.header, "x5t"), x5t) == 0,
	   "header x5t is the base64url SHA-1 of the DER");
	ok(strcmp(str(j.header, "x5t#S256"), x5t256) == 0,
	   "header x5t#S256 is the base64url SHA-256 of the DER");

	ok(members(j.claims) == 7, "claims has 7 members");
	ok(strcmp(str(j.claims, "aud"), AUDIENCE) == 0, "aud");
	ok(strcmp(str(j.claims, "iss"), CLIENT_ID) == 0, "iss is the client id");
	ok(strcmp(str(j.claims, "sub"), CLIENT_ID) == 0, "sub is the client id");
	ok(uuid_v4(str(j.claims, "jti")), "jti is a UUID v4 (%s)",
	   str(j.claims, "jti"));
	ok(num_is(j.claims, "nbf", NOW), "nbf is now");
	ok(num_is(j.claims, "iat", NOW), "iat is now");
	ok(num_is(j.claims, "exp", NOW + 600), "exp is now + 600");
	ok(j.siglen == 256, "a 2048-bit RSA signature");

	ok(verify(x, a, j.hlen + 1 + j.plen, j.sig, j.siglen),
	   "signature verifies with the certificate's public key");

	/* Tampering: same header and signature, other claims. */
	t = strdup(a);
	if (!t)
		bail("out of memory");
	t[j.hlen + 1 + j.plen / 2] = t[j.hlen + 1 + j.plen / 2] == 'A' ? 'B' : 'A';
	ok(!verify(x, t, j.hlen + 1 + j.plen, j.sig, j.siglen),
	   "a tampered payload fails verification");
	free(t);
	j.sig[10] ^= 1;
	ok(!verify(x, a, j.hlen + 1 + j.plen, j.sig, j.siglen),
	   "a tampered signature fails verification");

	ok(cert_credential_assertion(c, CLIENT_ID, AUDIENCE, NOW, &b, &err) ==
			   CORE_OK &&
		   jwt_split(b, &k) &&
		   strcmp(str(j.claims, "jti"), str(k.claims, "jti")) != 0,
	   "every assertion has its own jti");
	jwt_free(&k);
	jwt_free(&j);
	secret_free(a);
	secret_free(b);
	a = b = NULL;

	/* Escaping: the decoded claims give back exactly what went in. */
	{
		static const char *const odd[] = {
			"quote\"back\\slash/solidus",
			"ctl\n\r\t\b\f\x01\x1f end",
			"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91",
			"}],\"evil\":\"x",
		};

		for (i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
			ok(cert_credential_assertion(c, odd[i], odd[i], NOW, &a, &err) ==
					   CORE_OK &&
				   jwt_split(a, &j) && jwt_verify(x, a) &&
				   members(j.claims) == 7 &&
				   strcmp(str(j.claims, "iss"), odd[i]) == 0 &&
				   strcmp(str(j.claims, "sub"), odd[i]) == 0 &&
				   strcmp(str(j.claims, "aud"), odd[i]) == 0,
			   "claims JSON-escaped, case %zu", i);
			jwt_free(&j);
			secret_free(a);
			a = NULL;
		}
	}

	/* Bad input. */
	{
		char *long_id = repeat('a', 4097);
		const struct {
			const char *id, *aud;
			int64_t now;
			const char *desc;
		} bad[] = {
			{ "", AUDIENCE, NOW, "empty client id" },
			{ NULL, AUDIENCE, NOW, "NULL client id" },
			{ CLIENT_ID, "", NOW, "empty audience" },
			{ CLIENT_ID, NULL, NOW, "NULL audience" },
			{ "bad\xc3(", AUDIENCE, NOW, "invalid UTF-8" },
			{ "\xc0\xaf", AUDIENCE, NOW, "overlong UTF-8" },
			{ "\xed\xa0\x80", AUDIENCE, NOW, "UTF-8 surrogate" },
			{ "\xf4\x90\x80\x80", AUDIENCE, NOW, "past U+10FFFF" },
			{ CLIENT_ID, long_id, NOW, "audience over 4096 bytes" },
			{ CLIENT_ID, AUDIENCE, 0, "now == 0" },
			{ CLIENT_ID, AUDIENCE, INT64_MAX - 1, "now + 600 overflows" },
		};

		for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			a = (char *)"untouched";
			core_err_clear(&err);
			ok(cert_credential_assertion(c, bad[i].id, bad[i].aud, bad[i].now,
						     &a, &err) == CORE_EINVAL &&
				   a == NULL && err.rc == CORE_EINVAL,
			   "refused: %s (%s)", bad[i].desc, err.msg);
		}
		free(long_id);
	}

	/* Concurrent signing with one credential. */
	for (i = 0; i < 8; i++) {
		w[i].c = c;
		w[i].x = x;
		w[i].good = 0;
		if (pthread_create(&th[i], NULL, sign_many, &w[i]) != 0)
			bail("pthread_create");
	}
	for (good = 0, i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		good += w[i].good;
	}
	ok(good == 160, "8 threads x 20 assertions on one credential all verify");

	cert_credential_free(c);
	free(x5t);
	free(x5t256);
}

static bool pem_with_chain(EVP_PKEY *key, X509 *leaf)
{
	EVP_PKEY *other = rsa_key(2048);
	X509 *ca = make_cert(other, other, "some CA", 7);
	BIO *b = mem();
	const char *p;
	bool r;

	must(PEM_write_bio_X509(b, ca));
	must(PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL));
	must(PEM_write_bio_X509(b, leaf));
	p = write_bio("chain.pem", b, 0600);
	r = loads_as(p, NULL, leaf);
	X509_free(ca);
	EVP_PKEY_free(other);
	return r;
}

static const char *write_p12(const char *name, const char *pw, EVP_PKEY *k,
			     X509 *x)
{
	PKCS12 *p12 = PKCS12_create(pw, "batchfs", k, x, NULL, 0, 0, 0, 0, 0);
	BIO *b = mem();

	if (!p12 || !i2d_PKCS12_bio(b, p12))
		bail("cannot make a PKCS#12 file");
	PKCS12_free(p12);
	return write_bio(name, b, 0600);
}

/* A PKCS#12 file with RC2-40 (what older Windows exports): OpenSSL 3 reads
 * it only with the legacy provider, which the module does not load. */
static void test_legacy_p12(EVP_PKEY *k, X509 *x)
{
	OSSL_LIB_CTX *lctx = OSSL_LIB_CTX_new();
	OSSL_PROVIDER *legacy = lctx ? OSSL_PROVIDER_load(lctx, "legacy") : NULL;
	OSSL_PROVIDER *dflt = lctx ? OSSL_PROVIDER_load(lctx, "default") : NULL;
	PKCS12 *p12 = NULL;
	BIO *b;

	if (legacy && dflt)
		p12 = PKCS12_create_ex(PASSWORD, "batchfs", k, x, NULL,
				       NID_pbe_WithSHA1And40BitRC2_CBC,
				       NID_pbe_WithSHA1And3_Key_TripleDES_CBC, 0, 0,
				       0, lctx, NULL);
	if (!p12) {
		ok(true, "legacy PKCS#12 # SKIP no legacy provider");
	} else {
		b = mem();
		if (!i2d_PKCS12_bio(b, p12))
			bail("cannot write a PKCS#12 file");
		ok(refused(write_bio("legacy.pfx", b, 0600), PASSWORD, CORE_EINVAL,
			   "openssl pkcs12 -legacy"),
		   "a PKCS#12 file with RC2 says how to convert it");
	}
	ERR_clear_error();
	PKCS12_free(p12);
	OSSL_PROVIDER_unload(legacy);
	OSSL_PROVIDER_unload(dflt);
	OSSL_LIB_CTX_free(lctx);
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");
	EVP_PKEY *key, *other, *ec, *small;
	X509 *cert, *other_cert, *ec_cert, *small_cert;
	struct core_err err = CORE_ERR_INIT;
	const char *pem, *p;
	BIO *b;

	snprintf(dir, sizeof(dir), "%s/test_assertion.XXXXXX",
		 tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir))
		bail("mkdtemp");
	key = rsa_key(2048);
	cert = make_cert(key, key, "batchfs test app", 1);
	other = rsa_key(2048);
	other_cert = make_cert(other, other, "another app", 2);

	pem = write_pem("cred.pem", cert, key, false, 0600);
	test_assertion(pem, cert);

	/* Formats that load. */
	ok(loads_as(write_pem("keyfirst.pem", cert, key, true, 0600), NULL, cert),
	   "key before certificate loads");
	b = mem();
	must(PEM_write_bio_X509(b, cert));
	must(PEM_write_bio_PrivateKey_traditional(b, key, NULL, NULL, 0, NULL, NULL));
	p = write_bio("rsa.pem", b, 0600);
	ok(loads_as(p, NULL, cert), "BEGIN RSA PRIVATE KEY loads");
	ok(pem_with_chain(key, cert),
	   "a chain file: the certificate matching the key is used");

	b = mem();
	must(PEM_write_bio_PKCS8PrivateKey(b, key, EVP_aes_256_cbc(), PASSWORD,
					   (int)strlen(PASSWORD), NULL, NULL));
	must(PEM_write_bio_X509(b, cert));
	p = write_bio("enc.pem", b, 0600);
	ok(loads_as(p, PASSWORD, cert),
	   "BEGIN ENCRYPTED PRIVATE KEY with the right password loads");
	ok(refused(p, "wrong-password", CORE_EINVAL, "wrong password"),
	   "encrypted key, wrong password refused");
	ok(refused(p, NULL, CORE_EINVAL, "no password was given"),
	   "encrypted key, no password: refused without prompting");

	b = mem();
	must(PEM_write_bio_X509(b, cert));
	must(PEM_write_bio_PrivateKey_traditional(b, key, EVP_aes_128_cbc(),
						  (unsigned char *)PASSWORD,
						  (int)strlen(PASSWORD), NULL, NULL));
	p = write_bio("legacy-enc.pem", b, 0600);
	ok(loads_as(p, PASSWORD, cert), "Proc-Type: 4,ENCRYPTED key with password loads");
	ok(refused(p, "nope", CORE_EINVAL, "wrong password"),
	   "Proc-Type: 4,ENCRYPTED key, wrong password refused");

	p = write_p12("cred.pfx", PASSWORD, key, cert);
	ok(loads_as(p, PASSWORD, cert), "PKCS#12 with password loads");
	ok(refused(p, "wrong", CORE_EINVAL, "wrong password"),
	   "PKCS#12, wrong password refused");
	ok(refused(p, NULL, CORE_EINVAL, "none was given"),
	   "PKCS#12 with a password, none given: refused");
	p = write_p12("nopass.p12", NULL, key, cert);
	ok(loads_as(p, NULL, cert), "PKCS#12 without a password loads");
	test_legacy_p12(key, cert);

	/* Files refused. */
	ok(refused(write_pem("open.pem", cert, key, false, 0644), NULL, CORE_EINVAL,
		   "(mode 644); run: chmod 600 '"),
	   "a 0644 file is refused and the message says chmod 600");
	ok(refused(write_pem("group.pem", cert, key, false, 0640), NULL, CORE_EINVAL,
		   "chmod 600"),
	   "a group-readable file is refused");
	ok(refused(write_pem("gw.pem", cert, key, false, 0620), NULL, CORE_EINVAL,
		   "writable by others (mode 620); run: chmod 600"),
	   "a group-writable file is refused");
	if (symlink(path_of("cred.pem"), path_of("link.pem")) != 0 ||
	    symlink(path_of("open.pem"), path_of("link-open.pem")) != 0)
		bail("symlink");
	ok(loads_as(path_of("link.pem"), NULL, cert),
	   "a symbolic link to a 0600 file loads (k8s secret volumes)");
	ok(refused(path_of("link-open.pem"), NULL, CORE_EINVAL, "(mode 644)"),
	   "a symbolic link to a 0644 file is refused (the target's mode counts)");
	{
		char *big = repeat('A', 1024 * 1024 + 1);

		b = mem();
		BIO_puts(b, big);
		free(big);
		ok(refused(write_bio("big.pem", b, 0600), NULL, CORE_ETOOBIG,
			   "is over 1048576 bytes"),
		   "a file over 1 MiB is refused");
	}
	ok(refused(path_of("missing.pem"), NULL, CORE_EINVAL,
		   "cannot open certificate file"),
	   "a missing file is refused");
	ok(refused(dir, NULL, CORE_EINVAL, "not a regular file"),
	   "a directory is refused");
	ok(refused("", NULL, CORE_EINVAL, "no certificate file"), "an empty path");
	b = mem();
	p = write_bio("empty.pem", b, 0600);
	ok(refused(p, NULL, CORE_EINVAL, "is empty"), "an empty file is refused");
	b = mem();
	BIO_puts(b, "this is neither PEM nor PKCS#12\n");
	ok(refused(write_bio("junk", b, 0600), NULL, CORE_EINVAL,
		   "neither a PEM file nor a PKCS#12"),
	   "a file of junk is refused");
	ok(refused(write_pem("certonly.pem", cert, NULL, false, 0600), NULL,
		   CORE_EINVAL, "no private key in"),
	   "a certificate without a key is refused");
	ok(refused(write_pem("keyonly.pem", NULL, key, false, 0600), NULL,
		   CORE_EINVAL, "no certificate in"),
	   "a key without a certificate is refused");
	ok(refused(write_pem("mismatch.pem", other_cert, key, false, 0600), NULL,
		   CORE_EINVAL, "does not match its certificate"),
	   "a key that does not match the certificate is refused");

	ec = EVP_EC_gen("P-256");
	if (!ec)
		bail("cannot generate an EC key");
	ec_cert = make_cert(ec, ec, "ec app", 3);
	ok(refused(write_pem("ec.pem", ec_cert, ec, false, 0600), NULL, CORE_EINVAL,
		   "is an EC key; Microsoft Entra ID needs an RSA key"),
	   "an EC key is refused with a clear message");
	small = rsa_key(1024);
	small_cert = make_cert(small, small, "small", 4);
	ok(refused(write_pem("small.pem", small_cert, small, false, 0600), NULL,
		   CORE_EINVAL, "has 1024 bits"),
	   "an RSA key under 2048 bits is refused");

	core_err_clear(&err);
	X509_free(small_cert);
	EVP_PKEY_free(small);
	X509_free(ec_cert);
	EVP_PKEY_free(ec);
	X509_free(other_cert);
	EVP_PKEY_free(other);
	X509_free(cert);
	EVP_PKEY_free(key);
	remove_dir();
	return done_testing();
}
