/* Unit tests of auth/jwt. The keys are generated here (RSA 2048, EC P-256) and the tokens
 * signed here by the tests' own small signer, common/jws_sign.h (HMAC() one-shot, EVP_DigestSign,
 * the ES256 DER signature turned into raw r||s), so nothing is shared with the code under test but
 * OpenSSL's primitives. Each refusal is checked by its exact reason, so a token refused for the
 * wrong cause fails the test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/encoder.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include "auth/jwt.h"
#include "check.h"
#include "jws_sign.h"
#include "prng.h"
#include "runner.h"

#define NOW    INT64_C(1700000000)
#define SECRET "0123456789abcdef0123456789abcdef" /* 32 bytes */

/* exp one hour after NOW */
#define EXP ",\"exp\":1700003600"

#define HEADER_HS "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"
#define HEADER_RS "{\"alg\":\"RS256\",\"typ\":\"JWT\"}"
#define HEADER_ES "{\"alg\":\"ES256\",\"typ\":\"JWT\"}"

#define CLAIMS_ADMIN "{\"sub\":\"alice\",\"role\":\"admin\"" EXP "}"

typedef enum { SIGN_EMPTY, SIGN_HS256, SIGN_RS256, SIGN_ES256, SIGN_ES256_DER } sign_kind;

typedef struct {
    sign_kind kind;
    const char *secret; /* SIGN_HS256 */
    EVP_PKEY *key;      /* SIGN_RS256, SIGN_ES256, SIGN_ES256_DER */
} signer;

static EVP_PKEY *rsa_key;
static EVP_PKEY *ec_key;
static char *rsa_pem;
static char *ec_pem;
static jwt_verifier *hs_verifier; /* secret only */
static jwt_verifier *rs_verifier; /* RSA public key only */
static jwt_verifier *es_verifier; /* EC public key only */

/* HS256 keyed with secret: another secret, or a public key's PEM text (alg confusion). */
static signer hs_with(const char *secret)
{
    return (signer){SIGN_HS256, secret, NULL};
}

static signer hs(void)
{
    return hs_with(SECRET);
}

static signer rs(void)
{
    return (signer){SIGN_RS256, NULL, rsa_key};
}

static signer es(void)
{
    return (signer){SIGN_ES256, NULL, ec_key};
}

/* ---- the test's own JWS signer ---- */

static char *b64url_text(const char *text)
{
    return jws_b64url((const unsigned char *)text, strlen(text));
}

/* a.b, newly allocated (the caller frees it). */
static char *joined(const char *a, const char *b)
{
    char *out = malloc(strlen(a) + strlen(b) + 2);
    assert_non_null(out);
    sprintf(out, "%s.%s", a, b);
    return out;
}

/* base64url(header).base64url(payload), what a JWS signs (the caller frees it). */
static char *signing_input(const char *header_json, const char *payload_json)
{
    char *header = b64url_text(header_json);
    char *payload = b64url_text(payload_json);
    char *input = joined(header, payload);
    free(header);
    free(payload);
    return input;
}

/* input.base64url(sig): the token of a signing input and a signature (the caller frees it). */
static char *with_signature(const char *input, const unsigned char *sig, size_t sig_len)
{
    char *signature = jws_b64url(sig, sig_len);
    char *token = joined(input, signature);
    free(signature);
    return token;
}

/* Signs input with s into sig (room for 512 bytes); returns the signature's length. */
static size_t sign_raw(signer s, const char *input, unsigned char *sig)
{
    if (s.kind == SIGN_EMPTY) {
        return 0;
    }
    if (s.kind == SIGN_HS256) {
        return jws_sign_hs256(s.secret, input, sig);
    }
    return jws_sign_key(s.key, s.kind == SIGN_ES256, input, sig);
}

/* base64url(header).base64url(payload).base64url(signature), the signature edited first:
 * bit flip_bit inverted when flip_bit >= 0, then sig_len_delta bytes dropped from its end
 * (< 0) or zero bytes appended (> 0). The caller frees the token. */
static char *token_edited(const char *header_json, const char *payload_json, signer s, int flip_bit,
                          int sig_len_delta)
{
    char *input = signing_input(header_json, payload_json);
    unsigned char sig[1024] = {0};
    size_t sig_len = sign_raw(s, input, sig);
    if (flip_bit >= 0) {
        assert_true((size_t)flip_bit < 8 * sig_len);
        sig[flip_bit / 8] ^= (unsigned char)(1u << (flip_bit % 8));
    }
    assert_true((long)sig_len + sig_len_delta >= 0);
    sig_len = (size_t)((long)sig_len + sig_len_delta);
    assert_true(sig_len <= sizeof sig);
    char *token = with_signature(input, sig, sig_len);
    free(input);
    return token;
}

static char *token_flipped(const char *header_json, const char *payload_json, signer s,
                           int flip_bit)
{
    return token_edited(header_json, payload_json, s, flip_bit, 0);
}

static char *token(const char *header_json, const char *payload_json, signer s)
{
    return token_flipped(header_json, payload_json, s, -1);
}

static char *hs_token(const char *payload_json)
{
    return token(HEADER_HS, payload_json, hs());
}

/* ---- expectations (each frees the token it is given) ---- */

static void accept_at(const jwt_verifier *v, char *jwt, int64_t now, auth_role role,
                      int64_t organization_id, int64_t storage_id, const char *actor)
{
    auth_principal p;
    memset(&p, 0x5a, sizeof p);
    const char *why = "(unset)";
    int rc = jwt_verify(v, jwt, now, &p, &why);
    if (rc != 0) {
        fail_msg("token refused: %s", why);
    }
    assert_int_equal(p.role, role);
    assert_int_equal(p.organization_id, organization_id);
    assert_int_equal(p.storage_id, storage_id);
    assert_int_equal(p.key_id, 0);
    assert_string_equal(p.actor, actor);
    free(jwt);
}

static void accept_admin(const jwt_verifier *v, char *jwt, int64_t now)
{
    accept_at(v, jwt, now, ROLE_ADMIN, 0, 0, "jwt:alice");
}

static void refuse_at(const jwt_verifier *v, char *jwt, int64_t now, const char *reason)
{
    auth_principal p;
    memset(&p, 0x5a, sizeof p);
    const char *why = NULL;
    int rc = jwt_verify(v, jwt, now, &p, &why);
    if (rc != -1) {
        fail_msg("token accepted (rc %d), expected refusal: %s", rc, reason);
    }
    assert_non_null(why);
    assert_string_equal(why, reason);
    const auth_principal zero = {0};
    assert_memory_equal(&p, &zero, sizeof p); /* never a half-filled principal */
    free(jwt);
}

static void refuse(const jwt_verifier *v, char *jwt, const char *reason)
{
    refuse_at(v, jwt, NOW, reason);
}

/* The claims before + value + after for each of values, signed with HS256's key: each is
 * refused with reason. */
static void refuse_each(const jwt_verifier *v, const char *before, const char *after,
                        const char *const *values, size_t count, const char *reason)
{
    for (size_t i = 0; i < count; i++) {
        char claims[512];
        int n = snprintf(claims, sizeof claims, "%s%s%s", before, values[i], after);
        assert_true(n > 0 && (size_t)n < sizeof claims);
        refuse(v, hs_token(claims), reason);
    }
}

/* The claim name as v is configured to check it: each of values (as JSON) is refused with
 * reason, and so is a token without the claim; v is then freed. Without the configuration
 * (hs_verifier) the claim is not looked at: with the value unchecked it is accepted. */
static void refuse_claim_values(jwt_verifier *v, const char *name, const char *const *values,
                                size_t count, const char *reason, const char *unchecked)
{
    char before[64];
    snprintf(before, sizeof before, "{\"sub\":\"alice\",\"role\":\"admin\",\"%s\":", name);
    refuse_each(v, before, EXP "}", values, count, reason);
    refuse(v, hs_token(CLAIMS_ADMIN), reason); /* missing */
    jwt_verifier_free(v);
    char claims[256];
    snprintf(claims, sizeof claims, "%s%s" EXP "}", before, unchecked);
    accept_admin(hs_verifier, hs_token(claims), NOW);
}

/* Every header of headers, on an admin's claims and signed with HS256's key, is refused with
 * reason. */
static void refuse_headers(const char *const *headers, size_t count, const char *reason)
{
    for (size_t i = 0; i < count; i++) {
        refuse(hs_verifier, token(headers[i], CLAIMS_ADMIN, hs()), reason);
    }
}

static char *copy(const char *text)
{
    char *out = strdup(text);
    assert_non_null(out);
    return out;
}

static jwt_verifier *verifier(const char *secret, const char *pem, const char *issuer,
                              const char *audience, int leeway_s)
{
    jwt_options options = {secret, pem, issuer, audience, leeway_s, 0};
    char error[256] = "";
    jwt_verifier *v = jwt_verifier_new(&options, error, sizeof error);
    if (v == NULL) {
        fail_msg("jwt_verifier_new failed: %s", error);
    }
    return v;
}

/* ---- fixture ---- */

/* What was written to the memory BIO bio, as a string (the caller frees it); frees bio. */
static char *bio_text(BIO *bio)
{
    char *data = NULL;
    long len = BIO_get_mem_data(bio, &data);
    assert_true(len > 0);
    char *text = malloc((size_t)len + 1);
    assert_non_null(text);
    memcpy(text, data, (size_t)len);
    text[len] = '\0';
    BIO_free(bio);
    return text;
}

static char *public_pem(EVP_PKEY *key)
{
    BIO *bio = BIO_new(BIO_s_mem());
    assert_non_null(bio);
    assert_int_equal(PEM_write_bio_PUBKEY(bio, key), 1);
    return bio_text(bio);
}

static int group_setup(void **state)
{
    (void)state;
    rsa_key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    ec_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    if (rsa_key == NULL || ec_key == NULL) {
        return -1;
    }
    rsa_pem = public_pem(rsa_key);
    ec_pem = public_pem(ec_key);
    hs_verifier = verifier(SECRET, NULL, NULL, NULL, 60);
    rs_verifier = verifier(NULL, rsa_pem, NULL, NULL, 60);
    es_verifier = verifier(NULL, ec_pem, NULL, NULL, 60);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    jwt_verifier_free(hs_verifier);
    jwt_verifier_free(rs_verifier);
    jwt_verifier_free(es_verifier);
    free(rsa_pem);
    free(ec_pem);
    EVP_PKEY_free(rsa_key);
    EVP_PKEY_free(ec_key);
    return 0;
}

static char *pem_of(EVP_PKEY *key, bool private_key, const char *structure);

/* ---- valid tokens ---- */

static void test_hs256_valid(void **state)
{
    (void)state;
    assert_true(jwt_verifier_enabled(hs_verifier));
    accept_admin(hs_verifier, hs_token(CLAIMS_ADMIN), NOW);
    accept_at(hs_verifier, hs_token("{\"sub\":\"bob\",\"role\":\"auditor\"" EXP "}"), NOW,
              ROLE_AUDITOR, 0, 0, "jwt:bob");
    accept_at(hs_verifier, hs_token("{\"sub\":\"prom\",\"role\":\"monitor\"" EXP "}"), NOW,
              ROLE_MONITOR, 0, 0, "jwt:prom");
    accept_at(hs_verifier,
              hs_token("{\"sub\":\"clerk@example.org\",\"role\":\"organization\","
                       "\"organization_id\":7" EXP ",\"iat\":1699999000}"),
              NOW, ROLE_ORGANIZATION, 7, 0, "jwt:clerk@example.org");
    accept_at(
        hs_verifier,
        hs_token("{\"role\":\"storage\",\"storage_id\":9007199254740991,\"sub\":\"s1\"" EXP "}"),
        NOW, ROLE_STORAGE, 0, INT64_C(9007199254740991), "jwt:s1");
    /* No typ header at all is fine; so is "jwt" in any case, and unknown header members. */
    accept_admin(hs_verifier, token("{\"alg\":\"HS256\"}", CLAIMS_ADMIN, hs()), NOW);
    accept_admin(hs_verifier, token("{\"typ\":\"jwt\",\"alg\":\"HS256\"}", CLAIMS_ADMIN, hs()),
                 NOW);
    accept_admin(hs_verifier,
                 token("{\"alg\":\"HS256\",\"typ\":\"Jwt\",\"kid\":\"k1\"}", CLAIMS_ADMIN, hs()),
                 NOW);
}

static void test_rs256_valid(void **state)
{
    (void)state;
    assert_true(jwt_verifier_enabled(rs_verifier));
    accept_admin(rs_verifier, token(HEADER_RS, CLAIMS_ADMIN, rs()), NOW);
    accept_at(
        rs_verifier,
        token(HEADER_RS, "{\"sub\":\"op\",\"role\":\"storage\",\"storage_id\":12" EXP "}", rs()),
        NOW, ROLE_STORAGE, 0, 12, "jwt:op");
    /* The PKCS#1 "RSA PUBLIC KEY" form of the same key works too. */
    char *pkcs1_pem = pem_of(rsa_key, false, "type-specific");
    assert_non_null(strstr(pkcs1_pem, "-----BEGIN RSA PUBLIC KEY-----"));
    jwt_verifier *pkcs1 = verifier(NULL, pkcs1_pem, NULL, NULL, 60);
    free(pkcs1_pem);
    accept_admin(pkcs1, token(HEADER_RS, CLAIMS_ADMIN, rs()), NOW);
    refuse(pkcs1, hs_token(CLAIMS_ADMIN), "the token alg does not match the configured key");
    jwt_verifier_free(pkcs1);
}

static void test_es256_valid(void **state)
{
    (void)state;
    assert_true(jwt_verifier_enabled(es_verifier));
    accept_admin(es_verifier, token(HEADER_ES, CLAIMS_ADMIN, es()), NOW);
    accept_at(es_verifier,
              token(HEADER_ES,
                    "{\"sub\":\"org-3\",\"role\":\"organization\",\"organization_id\":3" EXP "}",
                    es()),
              NOW, ROLE_ORGANIZATION, 3, 0, "jwt:org-3");
    /* Every ES256 signature is fresh (random k), and each one verifies. */
    for (int i = 0; i < 8; i++) {
        accept_admin(es_verifier, token(HEADER_ES, CLAIMS_ADMIN, es()), NOW);
    }
}

/* A verifier with both a secret and an RSA key takes HS256 and RS256, not ES256. */
static void test_secret_and_public_key(void **state)
{
    (void)state;
    jwt_verifier *both = verifier(SECRET, rsa_pem, NULL, NULL, 60);
    accept_admin(both, hs_token(CLAIMS_ADMIN), NOW);
    accept_admin(both, token(HEADER_RS, CLAIMS_ADMIN, rs()), NOW);
    refuse(both, token(HEADER_ES, CLAIMS_ADMIN, es()),
           "the token alg does not match the configured key");
    /* The confusion attack still fails: the HMAC key is the secret, not the PEM text. */
    refuse(both, token(HEADER_HS, CLAIMS_ADMIN, hs_with(rsa_pem)),
           "the token signature is invalid");
    jwt_verifier_free(both);
}

/* ---- algorithms ---- */

static void test_alg_none(void **state)
{
    (void)state;
    const char *reason = "unsigned tokens (alg none) are not accepted";
    const char *headers[] = {"{\"alg\":\"none\"}", "{\"alg\":\"none\",\"typ\":\"JWT\"}",
                             "{\"alg\":\"None\"}", "{\"alg\":\"NONE\"}"};
    const jwt_verifier *verifiers[] = {hs_verifier, rs_verifier, es_verifier};
    for (size_t i = 0; i < sizeof headers / sizeof headers[0]; i++) {
        for (size_t k = 0; k < sizeof verifiers / sizeof verifiers[0]; k++) {
            /* "h.p." (an empty signature part), and with a signature from the real secret. */
            refuse(verifiers[k], token(headers[i], CLAIMS_ADMIN, (signer){SIGN_EMPTY, 0, 0}),
                   reason);
            refuse(verifiers[k], token(headers[i], CLAIMS_ADMIN, hs()), reason);
        }
    }
    /* "h.p" with no signature part at all is not a JWS. */
    char *jwt = signing_input("{\"alg\":\"none\"}", CLAIMS_ADMIN);
    refuse(hs_verifier, copy(jwt), "the token is not three dot-separated parts");
    refuse(rs_verifier, jwt, "the token is not three dot-separated parts");
}

static void test_forged_signature(void **state)
{
    (void)state;
    const char *reason = "the token signature is invalid";
    const int bits[] = {0, 7, 100, 255};
    for (size_t i = 0; i < sizeof bits / sizeof bits[0]; i++) {
        refuse(hs_verifier, token_flipped(HEADER_HS, CLAIMS_ADMIN, hs(), bits[i]), reason);
        refuse(rs_verifier, token_flipped(HEADER_RS, CLAIMS_ADMIN, rs(), bits[i]), reason);
        refuse(es_verifier, token_flipped(HEADER_ES, CLAIMS_ADMIN, es(), bits[i]), reason);
    }
    refuse(rs_verifier, token_flipped(HEADER_RS, CLAIMS_ADMIN, rs(), 2047), reason);
    refuse(es_verifier, token_flipped(HEADER_ES, CLAIMS_ADMIN, es(), 511), reason);
    /* Another secret, and a signature of other claims on these claims. */
    refuse(hs_verifier, token(HEADER_HS, CLAIMS_ADMIN, hs_with(SECRET "x")), reason);
    char *mine = hs_token("{\"sub\":\"alice\",\"role\":\"auditor\"" EXP "}");
    char *forged = hs_token(CLAIMS_ADMIN);
    strcpy(strrchr(forged, '.'), strrchr(mine, '.'));
    refuse(hs_verifier, forged, reason);
    free(mine);
    /* A key of the right type that is not the configured one. */
    EVP_PKEY *other_ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    assert_non_null(other_ec);
    refuse(es_verifier, token(HEADER_ES, CLAIMS_ADMIN, (signer){SIGN_ES256, NULL, other_ec}),
           reason);
    EVP_PKEY_free(other_ec);
}

static void test_signature_lengths(void **state)
{
    (void)state;
    const char *reason = "the token signature is invalid";
    /* ES256 in DER form (what OpenSSL produces) instead of the JWS raw r||s. */
    refuse(es_verifier, token(HEADER_ES, CLAIMS_ADMIN, (signer){SIGN_ES256_DER, NULL, ec_key}),
           reason);
    /* A real signature made shorter or longer by a byte, or by a DER's worth. */
    const int deltas[] = {-1, 1, -32, 8};
    for (size_t i = 0; i < sizeof deltas / sizeof deltas[0]; i++) {
        refuse(hs_verifier, token_edited(HEADER_HS, CLAIMS_ADMIN, hs(), -1, deltas[i]), reason);
        refuse(rs_verifier, token_edited(HEADER_RS, CLAIMS_ADMIN, rs(), -1, deltas[i]), reason);
        refuse(es_verifier, token_edited(HEADER_ES, CLAIMS_ADMIN, es(), -1, deltas[i]), reason);
    }
    /* Zero and all-ones r||s, and an RSA "signature" of all ones (above the modulus). */
    unsigned char zeros[256] = {0};
    unsigned char ones[256];
    memset(ones, 0xff, sizeof ones);
    const struct {
        const jwt_verifier *v;
        const char *header;
        const unsigned char *sig;
        size_t len;
    } raw[] = {
        {es_verifier, HEADER_ES, zeros, 64}, {es_verifier, HEADER_ES, ones, 64},
        {es_verifier, HEADER_ES, zeros, 63}, {es_verifier, HEADER_ES, zeros, 65},
        {rs_verifier, HEADER_RS, ones, 256}, {rs_verifier, HEADER_RS, zeros, 256},
        {rs_verifier, HEADER_RS, ones, 255}, {hs_verifier, HEADER_HS, zeros, 32},
        {hs_verifier, HEADER_HS, zeros, 31}, {hs_verifier, HEADER_HS, zeros, 0},
    };
    for (size_t i = 0; i < sizeof raw / sizeof raw[0]; i++) {
        char *input = signing_input(raw[i].header, CLAIMS_ADMIN);
        refuse(raw[i].v, with_signature(input, raw[i].sig, raw[i].len), reason);
        free(input);
    }
}

static void test_alg_confusion(void **state)
{
    (void)state;
    const char *reason = "the token alg does not match the configured key";
    /* The classic attack: HMAC keyed with the public key's PEM text, which anyone has. */
    refuse(rs_verifier, token(HEADER_HS, CLAIMS_ADMIN, hs_with(rsa_pem)), reason);
    refuse(es_verifier, token(HEADER_HS, CLAIMS_ADMIN, hs_with(ec_pem)), reason);
    /* Real signatures, but not of the configured key's alg. */
    refuse(es_verifier, token(HEADER_RS, CLAIMS_ADMIN, rs()), reason);
    refuse(rs_verifier, token(HEADER_ES, CLAIMS_ADMIN, es()), reason);
    refuse(hs_verifier, token(HEADER_RS, CLAIMS_ADMIN, rs()), reason);
    refuse(hs_verifier, token(HEADER_ES, CLAIMS_ADMIN, es()), reason);
    refuse(rs_verifier, hs_token(CLAIMS_ADMIN), reason);
    /* An RS256 header over an ES256 signature and the reverse. */
    refuse(rs_verifier, token(HEADER_RS, CLAIMS_ADMIN, es()), "the token signature is invalid");
    refuse(es_verifier, token(HEADER_ES, CLAIMS_ADMIN, rs()), "the token signature is invalid");
}

static void test_unsupported_algs(void **state)
{
    (void)state;
    const char *algs[] = {"HS384",  "HS512",  "RS384", "RS512", "PS256", "ES384",
                          "ES512",  "EdDSA",  "hs256", "Hs256", "rs256", "es256",
                          "HS256 ", " HS256", "",      "HS2560"};
    for (size_t i = 0; i < sizeof algs / sizeof algs[0]; i++) {
        char header[64];
        snprintf(header, sizeof header, "{\"alg\":\"%s\"}", algs[i]);
        refuse(hs_verifier, token(header, CLAIMS_ADMIN, hs()), "unsupported alg");
        refuse(rs_verifier, token(header, CLAIMS_ADMIN, rs()), "unsupported alg");
    }
    const char *no_alg[] = {"{}",
                            "{\"typ\":\"JWT\"}",
                            "{\"alg\":null}",
                            "{\"alg\":256}",
                            "{\"alg\":[\"HS256\"]}",
                            "{\"ALG\":\"HS256\"}"};
    refuse_headers(no_alg, COUNT(no_alg), "the token header has no alg");
}

/* ---- header ---- */

static void test_typ_and_crit(void **state)
{
    (void)state;
    const char *bad_typ[] = {
        "{\"alg\":\"HS256\",\"typ\":\"JWS\"}", "{\"alg\":\"HS256\",\"typ\":\"at+jwt\"}",
        "{\"alg\":\"HS256\",\"typ\":\"\"}",    "{\"alg\":\"HS256\",\"typ\":\"JWT \"}",
        "{\"alg\":\"HS256\",\"typ\":1}",       "{\"alg\":\"HS256\",\"typ\":null}"};
    refuse_headers(bad_typ, COUNT(bad_typ), "the token typ is not JWT");
    const char *crit[] = {"{\"alg\":\"HS256\",\"crit\":[\"exp\"]}",
                          "{\"alg\":\"HS256\",\"crit\":[]}",
                          "{\"alg\":\"HS256\",\"crit\":[\"b64\"],\"b64\":false}",
                          "{\"crit\":null,\"alg\":\"HS256\"}"};
    refuse_headers(crit, COUNT(crit), "the crit header is not supported");
}

static void test_header_not_object(void **state)
{
    (void)state;
    const char *reason = "the token header is not base64url of a JSON object";
    const char *headers[] = {"[\"HS256\"]",
                             "\"HS256\"",
                             "1",
                             "null",
                             "{\"alg\":\"HS256\"",
                             "{\"alg\":\"HS256\"}x",
                             " ",
                             "{\"alg\":\"HS256\",}",
                             "{'alg':'HS256'}",
                             "{\"alg\":\"HS256\",\"alg\":\"none\"}",
                             "{\"alg\":\"HS256\",\"x\":\"\xff\"}"};
    refuse_headers(headers, COUNT(headers), reason);
}

/* ---- structure and base64url ---- */

static void test_structure(void **state)
{
    (void)state;
    const char *reason = "the token is not three dot-separated parts";
    const char *shapes[] = {"a", "abc", "a.b", "a.b.c.d", "...", "a.b.c.", ".a.b.c"};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
        refuse(hs_verifier, copy(shapes[i]), reason);
    }
    refuse(hs_verifier, copy(""), "no token");
    auth_principal p;
    const char *why = NULL;
    assert_int_equal(jwt_verify(hs_verifier, NULL, NOW, &p, &why), -1);
    assert_string_equal(why, "no token");
    /* An empty header part. */
    char *jwt = hs_token(CLAIMS_ADMIN);
    char *no_header = copy(strchr(jwt, '.'));
    refuse(hs_verifier, no_header, "the token header is not base64url of a JSON object");
    free(jwt);
}

/* Replaces the part'th part (0 header, 1 payload, 2 signature) of a valid HS256 token by
 * replacement, keeping the signature as it was (so the signature check is what remains to
 * be passed, or is passed when part 1 is replaced by the original encoding plus junk). */
static char *replace_part(const char *jwt, int part, const char *replacement)
{
    const char *dot1 = strchr(jwt, '.');
    const char *dot2 = strchr(dot1 + 1, '.');
    const char *starts[] = {jwt, dot1 + 1, dot2 + 1};
    const char *ends[] = {dot1, dot2, jwt + strlen(jwt)};
    size_t len = strlen(jwt) + strlen(replacement) + 1;
    char *out = malloc(len);
    assert_non_null(out);
    snprintf(out, len, "%.*s%s%s", (int)(starts[part] - jwt), jwt, replacement, ends[part]);
    return out;
}

/* Signs header.payload_b64 where payload_b64 is given already encoded (possibly badly). */
static char *hs_token_raw_payload(const char *payload_b64)
{
    char *header = b64url_text(HEADER_HS);
    char *input = joined(header, payload_b64);
    unsigned char sig[512];
    size_t sig_len = sign_raw(hs(), input, sig);
    char *out = with_signature(input, sig, sig_len);
    free(header);
    free(input);
    return out;
}

static void test_bad_base64url(void **state)
{
    (void)state;
    char *jwt = hs_token(CLAIMS_ADMIN);
    char *header = b64url_text(HEADER_HS);
    char *payload = b64url_text(CLAIMS_ADMIN);
    /* Standard-alphabet characters, padding, whitespace and non-ASCII in the header. */
    const char *header_reason = "the token header is not base64url of a JSON object";
    const char *bad_headers[] = {"eyJhbGciOiJIUzI1NiJ9+",        "eyJhbGciOiJIUzI1NiJ9/A",
                                 "eyJhbGciOiJIUzI1NiJ9==",       "eyJhbGciOiJIUzI1NiJ9 ",
                                 "eyJhbGciOiJIUzI1\xc3\xa9NiJ9", "eyJhbGciOiJIUzI1NiJ9A",
                                 "eyJhbGciOiJIUzI1NiJ\x01"};
    for (size_t i = 0; i < sizeof bad_headers / sizeof bad_headers[0]; i++) {
        refuse(hs_verifier, replace_part(jwt, 0, bad_headers[i]), header_reason);
    }
    /* Padding on a correctly encoded header ("{"alg":"HS256"}" is 15 bytes: no padding
     * needed; this 16-byte one takes "=="). */
    char padded[64];
    char *h16 = b64url_text("{\"alg\":\"HS256\"} ");
    snprintf(padded, sizeof padded, "%s==", h16);
    refuse(hs_verifier, replace_part(jwt, 0, padded), header_reason);
    free(h16);

    /* The payload part is signed as sent, so a bad encoding passes the signature check and
     * is then refused by the decoder. */
    const char *payload_reason = "the token payload is not base64url of a JSON object";
    const char *suffixes[] = {"=", "==", "A", "+", "/", "%", "\xc3\xa9", " "};
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        char bad[512];
        snprintf(bad, sizeof bad, "%s%s", payload, suffixes[i]);
        refuse(hs_verifier, hs_token_raw_payload(bad), payload_reason);
    }
    /* The control: the same route with the payload as encoded is accepted. */
    accept_admin(hs_verifier, hs_token_raw_payload(payload), NOW);
    /* An empty payload part: signature fine, payload not an object. */
    refuse(hs_verifier, hs_token_raw_payload(""), payload_reason);

    /* The signature: 32 bytes are 43 characters whose last carries 4 bits and 2 unused
     * bits; setting an unused bit spells the same bytes another way, which is refused. */
    const char *signature_reason = "the token signature is not base64url";
    const char *sig = strrchr(jwt, '.') + 1;
    assert_int_equal(strlen(sig), 43);
    char tweaked[64];
    strcpy(tweaked, sig);
    const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    int last = (int)(strchr(alphabet, tweaked[42]) - alphabet);
    assert_int_equal(last & 3, 0);
    tweaked[42] = alphabet[last | 1];
    refuse(hs_verifier, replace_part(jwt, 2, tweaked), signature_reason);
    tweaked[42] = alphabet[last | 2];
    refuse(hs_verifier, replace_part(jwt, 2, tweaked), signature_reason);
    const char *sig_suffixes[] = {"=", "==", "AA", "+", "\x80", " "};
    for (size_t i = 0; i < sizeof sig_suffixes / sizeof sig_suffixes[0]; i++) {
        char bad[128];
        snprintf(bad, sizeof bad, "%s%s", sig, sig_suffixes[i]);
        refuse(hs_verifier, replace_part(jwt, 2, bad), signature_reason);
    }
    /* One more character makes 44, which is base64url of 33 bytes: the length is wrong. */
    char longer[64];
    snprintf(longer, sizeof longer, "%sA", sig);
    refuse(hs_verifier, replace_part(jwt, 2, longer), "the token signature is invalid");
    /* Non-canonical payload trailing bits are refused too (payload of 1 byte "{" = "ew";
     * "ex" is the same byte with a stray bit). */
    refuse(hs_verifier, hs_token_raw_payload("ex"), payload_reason);
    free(header);
    free(payload);
    free(jwt);
}

static void test_oversize(void **state)
{
    (void)state;
    /* Find a padding that makes a valid token exactly JWT_TOKEN_MAX bytes long (base64url
     * lengths skip one value in four, so the kid length varies too). */
    char *exact = NULL;
    char *claims = malloc(JWT_TOKEN_MAX);
    assert_non_null(claims);
    for (int kid = 0; kid < 4 && exact == NULL; kid++) {
        char header[64];
        snprintf(header, sizeof header, "{\"alg\":\"HS256\",\"kid\":\"%.*s\"}", kid, "kkkk");
        for (int pad = 6000; pad < 6200 && exact == NULL; pad++) {
            snprintf(claims, JWT_TOKEN_MAX,
                     "{\"sub\":\"alice\",\"role\":\"admin\"" EXP ",\"pad\":\"%0*d\"}", pad, 0);
            char *jwt = token(header, claims, hs());
            if (strlen(jwt) == JWT_TOKEN_MAX) {
                exact = jwt;
            } else {
                free(jwt);
            }
        }
    }
    free(claims);
    assert_non_null(exact);
    assert_int_equal(strlen(exact), JWT_TOKEN_MAX);
    char *longer = malloc(JWT_TOKEN_MAX + 2);
    assert_non_null(longer);
    sprintf(longer, "%sA", exact);
    accept_admin(hs_verifier, exact, NOW);
    refuse(hs_verifier, longer, "the token is too long");

    /* No terminator within JWT_TOKEN_MAX + 1 bytes: the buffer ends there, so ASan would
     * report a read past it. */
    char *unterminated = malloc(JWT_TOKEN_MAX + 1);
    assert_non_null(unterminated);
    memset(unterminated, 'a', JWT_TOKEN_MAX + 1);
    auth_principal p;
    const char *why = NULL;
    assert_int_equal(jwt_verify(hs_verifier, unterminated, NOW, &p, &why), -1);
    assert_string_equal(why, "the token is too long");
    free(unterminated);
}

/* ---- time claims ---- */

static void test_exp(void **state)
{
    (void)state;
    const char *expired = "the token has expired";
    /* exp = NOW - 60: now == exp + leeway is still accepted, one second later is not. */
    accept_admin(hs_verifier, hs_token("{\"sub\":\"alice\",\"role\":\"admin\",\"exp\":1699999940}"),
                 NOW);
    refuse(hs_verifier, hs_token("{\"sub\":\"alice\",\"role\":\"admin\",\"exp\":1699999939}"),
           expired);
    accept_admin(hs_verifier, hs_token(CLAIMS_ADMIN), NOW + 3660);
    refuse_at(hs_verifier, hs_token(CLAIMS_ADMIN), NOW + 3661, expired);
    refuse(hs_verifier, hs_token("{\"sub\":\"alice\",\"role\":\"admin\",\"exp\":0}"), expired);
    refuse(hs_verifier, hs_token("{\"sub\":\"alice\",\"role\":\"admin\",\"exp\":-1700000000}"),
           expired);
    /* An exponent that names a whole number is a whole number. */
    accept_admin(hs_verifier,
                 hs_token("{\"sub\":\"alice\",\"role\":\"admin\",\"exp\":1.7000036e9}"), NOW);

    refuse(hs_verifier, hs_token("{\"sub\":\"alice\",\"role\":\"admin\"}"), "the token has no exp");
    refuse(hs_verifier, hs_token("{\"sub\":\"alice\",\"role\":\"admin\",\"EXP\":1700003600}"),
           "the token has no exp");
    const char *not_integer = "exp is not an integer number of seconds";
    const char *bad_exp[] = {"\"1700003600\"", "1700003600.5", "null",  "true",
                             "[1700003600]",   "{}",           "1e300", "9007199254740992"};
    refuse_each(hs_verifier, "{\"sub\":\"alice\",\"role\":\"admin\",\"exp\":", "}", bad_exp,
                sizeof bad_exp / sizeof bad_exp[0], not_integer);

    /* Leeway 0: exp is the last second. */
    jwt_verifier *strict = verifier(SECRET, NULL, NULL, NULL, 0);
    accept_admin(strict, hs_token("{\"sub\":\"alice\",\"role\":\"admin\",\"exp\":1700000000}"),
                 NOW);
    refuse(strict, hs_token("{\"sub\":\"alice\",\"role\":\"admin\",\"exp\":1699999999}"), expired);
    jwt_verifier_free(strict);
}

static void test_nbf_and_iat(void **state)
{
    (void)state;
    const char *early = "the token is not valid yet";
    /* nbf = NOW + 60 is within the leeway; NOW + 61 is not. */
    accept_admin(hs_verifier,
                 hs_token("{\"sub\":\"alice\",\"role\":\"admin\"" EXP ",\"nbf\":1700000060}"), NOW);
    refuse(hs_verifier,
           hs_token("{\"sub\":\"alice\",\"role\":\"admin\"" EXP ",\"nbf\":1700000061}"), early);
    refuse_at(hs_verifier,
              hs_token("{\"sub\":\"alice\",\"role\":\"admin\"" EXP ",\"nbf\":1700000061}"),
              NOW - 1000, early);
    accept_admin(hs_verifier, hs_token("{\"sub\":\"alice\",\"role\":\"admin\"" EXP ",\"nbf\":0}"),
                 NOW);
    const char *bad_nbf[] = {"\"1700000000\"", "1699999999.9", "null", "false", "1e300"};
    refuse_each(hs_verifier, "{\"sub\":\"alice\",\"role\":\"admin\"" EXP ",\"nbf\":", "}", bad_nbf,
                sizeof bad_nbf / sizeof bad_nbf[0], "nbf is not an integer number of seconds");
    /* iat is not looked at, whatever it holds. */
    accept_admin(hs_verifier,
                 hs_token("{\"sub\":\"alice\",\"role\":\"admin\"" EXP ",\"iat\":\"yesterday\"}"),
                 NOW);
    accept_admin(hs_verifier,
                 hs_token("{\"sub\":\"alice\",\"role\":\"admin\"" EXP ",\"iat\":1800000000}"), NOW);
}

/* ---- iss and aud ---- */

static void test_issuer(void **state)
{
    (void)state;
    const char *reason = "the token issuer is not the configured one";
    jwt_verifier *v = verifier(SECRET, NULL, "https://idp.example", "", 60);
    accept_admin(
        v,
        hs_token("{\"sub\":\"alice\",\"role\":\"admin\",\"iss\":\"https://idp.example\"" EXP "}"),
        NOW);
    const char *bad_iss[] = {"\"https://IDP.example\"",
                             "\"https://idp.example/\"",
                             "\"https://evil.example\"",
                             "\"\"",
                             "null",
                             "1",
                             "[\"https://idp.example\"]"};
    /* Without a configured issuer, any iss (or none) is fine. */
    refuse_claim_values(v, "iss", bad_iss, COUNT(bad_iss), reason, "\"anyone\"");
}

/* The principal carries the iss (the rate limit tells credentials apart by iss and sub). */
static void issuer_of(const jwt_verifier *v, char *jwt, const char *expected)
{
    auth_principal p;
    memset(&p, 0x5a, sizeof p);
    const char *why = "(unset)";
    if (jwt_verify(v, jwt, NOW, &p, &why) != 0) {
        fail_msg("token refused: %s", why);
    }
    assert_string_equal(p.issuer, expected);
    free(jwt);
}

static void test_issuer_in_principal(void **state)
{
    (void)state;
    jwt_verifier *v = verifier(SECRET, NULL, "https://idp.example", "", 60);
    issuer_of(
        v,
        hs_token("{\"sub\":\"alice\",\"role\":\"admin\",\"iss\":\"https://idp.example\"" EXP "}"),
        "https://idp.example");
    jwt_verifier_free(v);
    issuer_of(hs_verifier,
              hs_token("{\"sub\":\"alice\",\"role\":\"admin\",\"iss\":\"other\"" EXP "}"), "other");
    issuer_of(hs_verifier, hs_token(CLAIMS_ADMIN), "");
    issuer_of(hs_verifier, hs_token("{\"sub\":\"alice\",\"role\":\"admin\",\"iss\":7" EXP "}"), "");
    /* A long one is cut to the buffer. */
    char claims[1024], issuer[401];
    memset(issuer, 'i', 400);
    issuer[400] = '\0';
    snprintf(claims, sizeof claims, "{\"sub\":\"alice\",\"role\":\"admin\",\"iss\":\"%s\"" EXP "}",
             issuer);
    issuer[AUTH_ISSUER_MAX - 1] = '\0';
    issuer_of(hs_verifier, hs_token(claims), issuer);
}

static void test_audience(void **state)
{
    (void)state;
    const char *reason = "the token audience is not the configured one";
    jwt_verifier *v = verifier(SECRET, NULL, NULL, "wasteflow", 60);
    const char *good_aud[] = {"\"wasteflow\"", "[\"wasteflow\"]", "[\"console\",\"wasteflow\"]",
                              "[\"wasteflow\",\"wasteflow\"]"};
    for (size_t i = 0; i < sizeof good_aud / sizeof good_aud[0]; i++) {
        char claims[256];
        snprintf(claims, sizeof claims, "{\"sub\":\"alice\",\"role\":\"admin\",\"aud\":%s" EXP "}",
                 good_aud[i]);
        accept_admin(v, hs_token(claims), NOW);
    }
    const char *bad_aud[] = {"\"other\"",
                             "\"Wasteflow\"",
                             "\"wasteflow \"",
                             "[]",
                             "[\"console\",\"billing\"]",
                             "[\"wasteflow\",5]",
                             "[5,\"wasteflow\"]",
                             "[[\"wasteflow\"]]",
                             "null",
                             "5",
                             "{\"aud\":\"wasteflow\"}"};
    /* Without a configured audience, aud is not looked at. */
    refuse_claim_values(v, "aud", bad_aud, COUNT(bad_aud), reason, "\"someone-else\"");
}

/* ---- sub, role, scope ---- */

static void test_sub(void **state)
{
    (void)state;
    const char *reason = "sub must be 1 to 200 bytes of UTF-8 without control, format or "
                         "bidirectional characters";
    refuse(hs_verifier, hs_token("{\"role\":\"admin\"" EXP "}"), "the token has no sub");
    refuse(hs_verifier, hs_token("{\"Sub\":\"alice\",\"role\":\"admin\"" EXP "}"),
           "the token has no sub");
    const char *bad_sub[] = {"\"\"",          "null",          "5",           "[\"alice\"]",
                             "\"a\\u0007b\"", "\"a\\nb\"",     "\"\\t\"",     "\"a\\u001fb\"",
                             "\"a\\u007fb\"", "\"a\\u0085b\"", "\"\\u009f\"", "{}"};
    refuse_each(hs_verifier, "{\"sub\":", ",\"role\":\"admin\"" EXP "}", bad_sub,
                sizeof bad_sub / sizeof bad_sub[0], reason);
    /* 200 bytes is the most: in ASCII, and as 100 two-byte characters. */
    char claims[1024];
    char sub[256];
    char actor[AUTH_ACTOR_MAX + 8]; /* room the compiler can see for "jwt:" + sub */
    memset(sub, 'x', 200);
    sub[200] = '\0';
    snprintf(claims, sizeof claims, "{\"sub\":\"%s\",\"role\":\"admin\"" EXP "}", sub);
    snprintf(actor, sizeof actor, "jwt:%s", sub);
    accept_at(hs_verifier, hs_token(claims), NOW, ROLE_ADMIN, 0, 0, actor);
    snprintf(claims, sizeof claims, "{\"sub\":\"%sx\",\"role\":\"admin\"" EXP "}", sub);
    refuse(hs_verifier, hs_token(claims), reason);
    sub[0] = '\0';
    for (int i = 0; i < 100; i++) {
        strcat(sub, "\xc3\xa9");
    }
    snprintf(claims, sizeof claims, "{\"sub\":\"%s\",\"role\":\"admin\"" EXP "}", sub);
    snprintf(actor, sizeof actor, "jwt:%s", sub);
    accept_at(hs_verifier, hs_token(claims), NOW, ROLE_ADMIN, 0, 0, actor);
    snprintf(claims, sizeof claims, "{\"sub\":\"%s\\u00e9\",\"role\":\"admin\"" EXP "}", sub);
    refuse(hs_verifier, hs_token(claims), reason);
    /* Escaped and raw UTF-8 both arrive as UTF-8; U+00A0 (after the C1 range) is fine. */
    accept_at(hs_verifier, hs_token("{\"sub\":\"zo\\u00eb\",\"role\":\"admin\"" EXP "}"), NOW,
              ROLE_ADMIN, 0, 0, "jwt:zo\xc3\xab");
    accept_at(hs_verifier, hs_token("{\"sub\":\"\xe6\x9d\xb1\\u00a0\",\"role\":\"admin\"" EXP "}"),
              NOW, ROLE_ADMIN, 0, 0, "jwt:\xe6\x9d\xb1\xc2\xa0");
    /* A lone surrogate escape is no character at all. */
    refuse(hs_verifier, hs_token("{\"sub\":\"a\\ud800\",\"role\":\"admin\"" EXP "}"),
           "the token payload is not base64url of a JSON object");
    refuse(hs_verifier, hs_token("{\"sub\":\"a\\udc00b\",\"role\":\"admin\"" EXP "}"),
           "the token payload is not base64url of a JSON object");
    /* Bytes that are not UTF-8 never reach the claims. */
    refuse(hs_verifier, hs_token("{\"sub\":\"a\xff\",\"role\":\"admin\"" EXP "}"),
           "the token payload is not base64url of a JSON object");
}

/* Characters that change how the actor reads (controls, format characters, bidirectional
 * controls, zero-width characters, line separators) are refused, raw or escaped; what
 * merely looks unusual is fine. */
static void test_sub_hidden_characters(void **state)
{
    (void)state;
    const char *reason = "sub must be 1 to 200 bytes of UTF-8 without control, format or "
                         "bidirectional characters";
    const char *hidden[] = {
        "mallory\\u202egpj.exe", /* RIGHT-TO-LEFT OVERRIDE, the ledger's "jwt:mallory…exe" */
        "a\\u202ab",
        "a\\u202bb",
        "a\\u202cb",
        "a\\u202db",
        "a\\u2066b",
        "a\\u2067b",
        "a\\u2068b",
        "a\\u2069b",
        "a\\u200eb",
        "a\\u200fb",
        "a\\u061cb",
        "a\\u200bb",
        "a\\u200cb",
        "a\\u200db",
        "a\\u2060b",
        "a\\ufeffb",
        "a\\u00adb",
        "a\\u2028b",
        "a\\u2029b",
        "a\\u206ab",
        "a\\ufff9b",
        "\\u0600",
        "a\\udb40\\udc01", /* TAG */
        "a\xe2\x80\xae"
        "b", /* U+202E raw */
        "a\xe2\x81\xa6"
        "b", /* U+2066 raw */
        "a\xf3\xa0\x80\xa0"
        "b", /* U+E0020 raw (TAG SPACE) */
    };
    for (size_t i = 0; i < sizeof hidden / sizeof hidden[0]; i++) {
        char claims[256];
        snprintf(claims, sizeof claims, "{\"sub\":\"%s\",\"role\":\"admin\"" EXP "}", hidden[i]);
        auth_principal p;
        const char *why = NULL;
        char *jwt = hs_token(claims);
        if (jwt_verify(hs_verifier, jwt, NOW, &p, &why) == 0) {
            fail_msg("sub %s accepted as %s", hidden[i], p.actor);
        }
        assert_string_equal(why, reason);
        free(jwt);
    }
    /* Letters of any script, spaces, punctuation and symbols stay. */
    accept_at(hs_verifier,
              hs_token("{\"sub\":\"\\u05d0\\u05d1 user@idp\",\"role\":\"admin\"" EXP "}"), NOW,
              ROLE_ADMIN, 0, 0, "jwt:\xd7\x90\xd7\x91 user@idp");
    accept_at(hs_verifier,
              hs_token("{\"sub\":\"\xd0\x98\xd0\xb2\xd0\xb0\xd0\xbd \\u2014 "
                       "\xf0\x9f\x98\x80\",\"role\":\"admin\"" EXP "}"),
              NOW, ROLE_ADMIN, 0, 0,
              "jwt:\xd0\x98\xd0\xb2\xd0\xb0\xd0\xbd \xe2\x80\x94 \xf0\x9f\x98\x80");
}

/* exp at most max_ttl_s (plus the leeway) ahead: a token minted to live for ever is refused. */
static void test_max_ttl(void **state)
{
    (void)state;
    const char *reason =
        "the token lives too long: its exp is further ahead than WASTEFLOW_JWT_MAX_TTL_S allows";
    jwt_options options = {SECRET, NULL, "iss", "aud", 60, 86400};
    char error[256];
    jwt_verifier *v = jwt_verifier_new(&options, error, sizeof error);
    assert_non_null(v);
    char claims[256];
    /* NOW + 86400 + 60 is the furthest; a second more is not. */
    snprintf(claims, sizeof claims,
             "{\"sub\":\"alice\",\"role\":\"admin\",\"iss\":\"iss\",\"aud\":\"aud\",\"exp\":%lld}",
             (long long)(NOW + 86460));
    accept_admin(v, hs_token(claims), NOW);
    snprintf(claims, sizeof claims,
             "{\"sub\":\"alice\",\"role\":\"admin\",\"iss\":\"iss\",\"aud\":\"aud\",\"exp\":%lld}",
             (long long)(NOW + 86461));
    refuse(v, hs_token(claims), reason);
    /* The year 3000, and the largest exp a JSON number names. */
    refuse(v,
           hs_token("{\"sub\":\"alice\",\"role\":\"admin\",\"iss\":\"iss\",\"aud\":\"aud\","
                    "\"exp\":32503680000}"),
           reason);
    refuse(v,
           hs_token("{\"sub\":\"alice\",\"role\":\"admin\",\"iss\":\"iss\",\"aud\":\"aud\","
                    "\"exp\":9007199254740991}"),
           reason);
    jwt_verifier_free(v);
    /* 0: not limited (the library's default). */
    accept_admin(hs_verifier,
                 hs_token("{\"sub\":\"alice\",\"role\":\"admin\",\"exp\":32503680000}"), NOW);
    jwt_options negative = {SECRET, NULL, "iss", "aud", 60, -1};
    assert_null(jwt_verifier_new(&negative, error, sizeof error));
    assert_string_equal(error, "the JWT maximum lifetime must not be negative");
}

/* ES256: (r, s) and (r, n - s) both verify; only the low-S one (s <= n/2) is accepted. */
static void test_es256_low_s_only(void **state)
{
    (void)state;
    int high_seen = 0;
    for (int i = 0; i < 8; i++) {
        char *input = signing_input(HEADER_ES, CLAIMS_ADMIN);
        unsigned char sig[512];
        assert_int_equal(sign_raw(es(), input, sig), 64); /* low-S, as signers should */
        accept_admin(es_verifier, with_signature(input, sig, 64), NOW);
        jws_es256_s_form(sig, true);
        refuse(es_verifier, with_signature(input, sig, 64),
               "the token signature is not in low-S form (ES256 S must be at most n/2)");
        high_seen++;
        free(input);
    }
    assert_int_equal(high_seen, 8);
}

static void test_role_claim(void **state)
{
    (void)state;
    const char *reason =
        "the token role is not one of admin, auditor, monitor, organization, storage";
    refuse(hs_verifier, hs_token("{\"sub\":\"alice\"" EXP "}"), "the token has no role");
    const char *bad_role[] = {"\"root\"", "\"Admin\"", "\"admin \"",  "\"\"",
                              "1",        "null",      "[\"admin\"]", "\"admin,auditor\""};
    refuse_each(hs_verifier, "{\"sub\":\"alice\",\"role\":", EXP "}", bad_role,
                sizeof bad_role / sizeof bad_role[0], reason);
    /* Member names are case-sensitive: "Role" is another claim, not a duplicate. */
    accept_at(hs_verifier,
              hs_token("{\"sub\":\"alice\",\"Role\":\"admin\",\"role\":\"auditor\"" EXP "}"), NOW,
              ROLE_AUDITOR, 0, 0, "jwt:alice");
}

static void test_scope_claims(void **state)
{
    (void)state;
    const struct {
        const char *claims;
        const char *reason;
    } cases[] = {
        {"\"role\":\"organization\"", "the organization role needs a positive organization_id"},
        {"\"role\":\"organization\",\"storage_id\":4",
         "the organization role needs a positive organization_id"},
        {"\"role\":\"organization\",\"organization_id\":3,\"storage_id\":4",
         "the organization role takes no storage_id"},
        {"\"role\":\"storage\"", "the storage role needs a positive storage_id"},
        {"\"role\":\"storage\",\"storage_id\":4,\"organization_id\":3",
         "the storage role takes no organization_id"},
        {"\"role\":\"admin\",\"storage_id\":4", "this role takes no storage_id"},
        {"\"role\":\"admin\",\"organization_id\":3", "this role takes no organization_id"},
        {"\"role\":\"auditor\",\"organization_id\":3", "this role takes no organization_id"},
        {"\"role\":\"monitor\",\"storage_id\":1", "this role takes no storage_id"},
        {"\"role\":\"organization\",\"organization_id\":1.5",
         "organization_id is not a positive integer"},
        {"\"role\":\"organization\",\"organization_id\":\"3\"",
         "organization_id is not a positive integer"},
        {"\"role\":\"organization\",\"organization_id\":0",
         "organization_id is not a positive integer"},
        {"\"role\":\"organization\",\"organization_id\":-3",
         "organization_id is not a positive integer"},
        {"\"role\":\"organization\",\"organization_id\":null",
         "organization_id is not a positive integer"},
        {"\"role\":\"organization\",\"organization_id\":true",
         "organization_id is not a positive integer"},
        {"\"role\":\"organization\",\"organization_id\":[3]",
         "organization_id is not a positive integer"},
        {"\"role\":\"organization\",\"organization_id\":9007199254740992",
         "organization_id is not a positive integer"},
        {"\"role\":\"organization\",\"organization_id\":1e20",
         "organization_id is not a positive integer"},
        {"\"role\":\"storage\",\"storage_id\":2.25", "storage_id is not a positive integer"},
        {"\"role\":\"storage\",\"storage_id\":\"2\"", "storage_id is not a positive integer"},
        {"\"role\":\"storage\",\"storage_id\":-0", "storage_id is not a positive integer"},
        {"\"role\":\"admin\",\"storage_id\":null", "storage_id is not a positive integer"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char claims[256];
        snprintf(claims, sizeof claims, "{\"sub\":\"alice\",%s" EXP "}", cases[i].claims);
        refuse(hs_verifier, hs_token(claims), cases[i].reason);
    }
    /* 3.0 and 3e0 name the integer 3. */
    accept_at(hs_verifier,
              hs_token("{\"sub\":\"o\",\"role\":\"organization\",\"organization_id\":3.0" EXP "}"),
              NOW, ROLE_ORGANIZATION, 3, 0, "jwt:o");
    accept_at(hs_verifier,
              hs_token("{\"sub\":\"s\",\"role\":\"storage\",\"storage_id\":3e0" EXP "}"), NOW,
              ROLE_STORAGE, 0, 3, "jwt:s");
}

/* ---- payload ---- */

static void test_payload_strict_json(void **state)
{
    (void)state;
    const char *reason = "the token payload is not base64url of a JSON object";
    const char *payloads[] = {
        "{\"sub\":\"alice\",\"sub\":\"mallory\",\"role\":\"admin\"" EXP "}",
        "{\"sub\":\"alice\",\"role\":\"auditor\",\"role\":\"admin\"" EXP "}",
        "{\"sub\":\"alice\",\"role\":\"admin\"" EXP EXP "}",
        "[" CLAIMS_ADMIN "]",
        "\"admin\"",
        "1700003600",
        "null",
        " ",
        CLAIMS_ADMIN " x",
        CLAIMS_ADMIN CLAIMS_ADMIN,
        "{\"sub\":\"alice\",\"role\":\"admin\"" EXP ",}",
        "{\"sub\":\"alice\",\"role\":\"admin\",\"exp\":01700003600}",
        "{\"sub\":\"a\\u0000b\",\"role\":\"admin\"" EXP "}",
        "{\"sub\":\"alice\",\"role\":\"admin\"" EXP ",\"x\":\"\xc0\xaf\"}",
    };
    for (size_t i = 0; i < sizeof payloads / sizeof payloads[0]; i++) {
        refuse(hs_verifier, hs_token(payloads[i]), reason);
    }
}

/* ---- robustness ---- */

/* Every single-character change of a valid token is refused: with canonical base64url no
 * two spellings decode to the same bytes, so any change alters what is signed, the
 * signature, or the structure. */
static void test_every_single_change_refused(void **state)
{
    (void)state;
    const char substitutes[] = {'A', 'f', '_', '-', '.', '=', ' ', (char)0x80};
    char *valid[] = {hs_token(CLAIMS_ADMIN), token(HEADER_ES, CLAIMS_ADMIN, es())};
    const jwt_verifier *verifiers[] = {hs_verifier, es_verifier};
    for (size_t t = 0; t < 2; t++) {
        accept_admin(verifiers[t], copy(valid[t]), NOW);
        size_t len = strlen(valid[t]);
        for (size_t i = 0; i < len; i++) {
            for (size_t s = 0; s < sizeof substitutes; s++) {
                if (valid[t][i] == substitutes[s]) {
                    continue;
                }
                char *changed = copy(valid[t]);
                changed[i] = substitutes[s];
                auth_principal p;
                const char *why = NULL;
                if (jwt_verify(verifiers[t], changed, NOW, &p, &why) != -1) {
                    fail_msg("token %zu with byte %zu changed to 0x%02x was accepted", t, i,
                             (unsigned char)substitutes[s]);
                }
                assert_non_null(why);
                free(changed);
            }
        }
        free(valid[t]);
    }
}

/* Random bytes (prng.h from a fixed seed, so a failure repeats) never crash and never pass. */
static void test_random_tokens(void **state)
{
    (void)state;
    const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=";
    prng rng = {0x9e3779b97f4a7c15u};
    char jwt[400];
    for (int round = 0; round < 3000; round++) {
        size_t len = 1 + prng_below(&rng, sizeof jwt - 1);
        for (size_t i = 0; i < len; i++) {
            uint64_t x = prng_next(&rng);
            /* Mostly base64url and dots, sometimes any byte. */
            jwt[i] = (x >> 8) % 8 == 0 ? (char)(1 + (x >> 16) % 255)
                                       : alphabet[(x >> 16) % (sizeof alphabet - 1)];
        }
        jwt[len] = '\0';
        auth_principal p;
        const char *why = NULL;
        assert_int_equal(jwt_verify(hs_verifier, jwt, NOW, &p, &why), -1);
        assert_non_null(why);
    }
}

/* OpenSSL errors raised while refusing a token are dropped; the caller's are kept. */
static void test_error_queue_left_alone(void **state)
{
    (void)state;
    ERR_clear_error();
    ERR_raise(ERR_LIB_USER, 42);
    refuse(rs_verifier, token_flipped(HEADER_RS, CLAIMS_ADMIN, rs(), 3),
           "the token signature is invalid");
    refuse(es_verifier, token_flipped(HEADER_ES, CLAIMS_ADMIN, es(), 3),
           "the token signature is invalid");
    unsigned long code = ERR_get_error();
    assert_int_equal(ERR_GET_LIB(code), ERR_LIB_USER);
    assert_int_equal(ERR_GET_REASON(code), 42);
    assert_int_equal(ERR_peek_error(), 0);
}

/* ---- verifier configuration ---- */

static void test_disabled(void **state)
{
    (void)state;
    const char *reason = "JWT authentication is not enabled";
    jwt_options none = {NULL, NULL, NULL, NULL, 60, 0};
    jwt_options empty = {"", NULL, "iss", "aud", 60, 0};
    const jwt_options *options[] = {&none, &empty, NULL};
    for (size_t i = 0; i < sizeof options / sizeof options[0]; i++) {
        char error[256] = "x";
        jwt_verifier *v = jwt_verifier_new(options[i], error, sizeof error);
        assert_non_null(v);
        assert_string_equal(error, "");
        assert_false(jwt_verifier_enabled(v));
        refuse(v, hs_token(CLAIMS_ADMIN), reason);
        jwt_verifier_free(v);
    }
    assert_false(jwt_verifier_enabled(NULL));
    refuse(NULL, hs_token(CLAIMS_ADMIN), reason);
    jwt_verifier_free(NULL);
}

static char *pem_of(EVP_PKEY *key, bool private_key, const char *structure)
{
    BIO *bio = BIO_new(BIO_s_mem());
    assert_non_null(bio);
    if (private_key) {
        assert_int_equal(PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0, NULL, NULL), 1);
    } else {
        OSSL_ENCODER_CTX *ctx =
            OSSL_ENCODER_CTX_new_for_pkey(key, EVP_PKEY_PUBLIC_KEY, "PEM", structure, NULL);
        assert_non_null(ctx);
        assert_int_equal(OSSL_ENCODER_to_bio(ctx, bio), 1);
        OSSL_ENCODER_CTX_free(ctx);
    }
    return bio_text(bio);
}

static void expect_unusable(const jwt_options *options, const char *message_prefix)
{
    char error[256] = "";
    ERR_clear_error();
    jwt_verifier *v = jwt_verifier_new(options, error, sizeof error);
    if (v != NULL) {
        jwt_verifier_free(v);
        fail_msg("options accepted, expected: %s", message_prefix);
    }
    if (strncmp(error, message_prefix, strlen(message_prefix)) != 0) {
        fail_msg("error \"%s\" does not start with \"%s\"", error, message_prefix);
    }
    assert_int_equal(ERR_peek_error(), 0);
}

static void test_unusable_options(void **state)
{
    (void)state;
    const char *not_pem = "the JWT public key is not a PEM public key: ";
    jwt_options o = {NULL, "not a key", NULL, NULL, 60, 0};
    expect_unusable(&o, not_pem);
    o.public_key_pem = "";
    expect_unusable(&o, not_pem);
    o.public_key_pem = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";
    expect_unusable(&o, not_pem);

    /* A private key is not a public key (the operator mixed the files up). */
    char *private_pem = pem_of(rsa_key, true, NULL);
    assert_non_null(strstr(private_pem, "BEGIN PRIVATE KEY"));
    o.public_key_pem = private_pem;
    expect_unusable(&o, not_pem);
    free(private_pem);

    EVP_PKEY *rsa1024 = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
    EVP_PKEY *p384 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    EVP_PKEY *ed25519 = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    assert_non_null(rsa1024);
    assert_non_null(p384);
    assert_non_null(ed25519);
    char *pem = public_pem(rsa1024);
    o.public_key_pem = pem;
    expect_unusable(&o, "the JWT RSA public key has 1024 bits, at least 2048 needed");
    free(pem);
    pem = public_pem(p384);
    o.public_key_pem = pem;
    expect_unusable(&o, "the JWT EC public key is not on curve P-256 (ES256)");
    free(pem);
    pem = public_pem(ed25519);
    o.public_key_pem = pem;
    expect_unusable(&o,
                    "the JWT public key is neither RSA (RS256) nor EC P-256 (ES256) but ED25519");
    free(pem);
    EVP_PKEY_free(rsa1024);
    EVP_PKEY_free(p384);
    EVP_PKEY_free(ed25519);

    /* An unusable key fails the whole verifier even with a good secret. */
    jwt_options both = {SECRET, "garbage", NULL, NULL, 60, 0};
    expect_unusable(&both, not_pem);

    jwt_options short_secret = {"0123456789abcdef0123456789abcde", NULL, NULL, NULL, 60, 0};
    expect_unusable(&short_secret, "the JWT HS256 secret has 31 bytes, at least 32 needed");
    jwt_options negative = {SECRET, NULL, NULL, NULL, -1, 0};
    expect_unusable(&negative, "the JWT leeway must not be negative");

    /* The PEM with text around it (as files often have) is fine. */
    size_t len = strlen(ec_pem) + 64;
    char *annotated = malloc(len);
    assert_non_null(annotated);
    snprintf(annotated, len, "# the IdP's key\n%s\n", ec_pem);
    jwt_verifier *v = verifier(NULL, annotated, NULL, NULL, 60);
    free(annotated);
    accept_admin(v, token(HEADER_ES, CLAIMS_ADMIN, es()), NOW);
    jwt_verifier_free(v);
}

/* The verifier keeps its own copies: the options' strings may go away after the call. */
static void test_options_copied(void **state)
{
    (void)state;
    char *secret = copy(SECRET);
    char *pem = copy(rsa_pem);
    char *issuer = copy("https://idp.example");
    char *audience = copy("wasteflow");
    jwt_verifier *v = verifier(secret, pem, issuer, audience, 60);
    memset(secret, 'z', strlen(secret));
    memset(issuer, 'z', strlen(issuer));
    memset(audience, 'z', strlen(audience));
    free(secret);
    free(pem);
    free(issuer);
    free(audience);
    const char *claims =
        "{\"sub\":\"alice\",\"role\":\"admin\",\"iss\":\"https://idp.example\",\"aud\":"
        "\"wasteflow\"" EXP "}";
    accept_admin(v, hs_token(claims), NOW);
    accept_admin(v, token(HEADER_RS, claims, rs()), NOW);
    jwt_verifier_free(v);
}

RUNNER_MAIN(group_setup, group_teardown,
            {
                cmocka_unit_test(test_hs256_valid),
                cmocka_unit_test(test_rs256_valid),
                cmocka_unit_test(test_es256_valid),
                cmocka_unit_test(test_secret_and_public_key),
                cmocka_unit_test(test_alg_none),
                cmocka_unit_test(test_forged_signature),
                cmocka_unit_test(test_signature_lengths),
                cmocka_unit_test(test_alg_confusion),
                cmocka_unit_test(test_unsupported_algs),
                cmocka_unit_test(test_typ_and_crit),
                cmocka_unit_test(test_header_not_object),
                cmocka_unit_test(test_structure),
                cmocka_unit_test(test_bad_base64url),
                cmocka_unit_test(test_oversize),
                cmocka_unit_test(test_exp),
                cmocka_unit_test(test_nbf_and_iat),
                cmocka_unit_test(test_issuer),
                cmocka_unit_test(test_issuer_in_principal),
                cmocka_unit_test(test_audience),
                cmocka_unit_test(test_sub),
                cmocka_unit_test(test_sub_hidden_characters),
                cmocka_unit_test(test_max_ttl),
                cmocka_unit_test(test_es256_low_s_only),
                cmocka_unit_test(test_role_claim),
                cmocka_unit_test(test_scope_claims),
                cmocka_unit_test(test_payload_strict_json),
                cmocka_unit_test(test_every_single_change_refused),
                cmocka_unit_test(test_random_tokens),
                cmocka_unit_test(test_error_queue_left_alone),
                cmocka_unit_test(test_disabled),
                cmocka_unit_test(test_unusable_options),
                cmocka_unit_test(test_options_copied),
            })
