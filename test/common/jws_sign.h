/* Signing JWS inputs the way an identity provider would, for the tests of the service's JWT
 * verifier (unit/test_jwt.c against auth/jwt, integration/test_jwt_http.c against the
 * server): base64url, HS256 MACs, RS256 and ES256 signatures, and ES256's two S forms. One copy, so
 * both runners sign alike. Failures fail the running cmocka test. Include after <cmocka.h>;
 * link OpenSSL. */
#ifndef WF_TEST_JWS_SIGN_H
#define WF_TEST_JWS_SIGN_H

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* base64url without padding (RFC 7515), as JWS writes each part; caller frees. */
static inline char *jws_b64url(const unsigned char *data, size_t len)
{
    char *out = malloc(4 * (len / 3 + 1) + 1);
    assert_non_null(out);
    int n = EVP_EncodeBlock((unsigned char *)out, data, (int)len);
    assert_true(n >= 0);
    size_t kept = 0;
    for (int i = 0; i < n && out[i] != '='; i++) {
        out[kept++] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
    }
    out[kept] = '\0';
    return out;
}

/* P-256's group order n. */
static const unsigned char jws_p256_order[32] = {
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51};

/* ES256 signatures r||s and r||(n - s) both verify mathematically; the low-S one (s <= n / 2)
 * is the canonical one the service accepts. Rewrites sig's S into the form asked for. */
static inline void jws_es256_s_form(unsigned char sig[64], bool high)
{
    BIGNUM *n = BN_bin2bn(jws_p256_order, 32, NULL);
    BIGNUM *s = BN_bin2bn(sig + 32, 32, NULL);
    BIGNUM *other = BN_new();
    assert_true(n != NULL && s != NULL && other != NULL);
    assert_int_equal(BN_sub(other, n, s), 1);
    if ((BN_cmp(s, other) > 0) != high) {
        assert_int_equal(BN_bn2binpad(other, sig + 32, 32), 32);
    }
    BN_free(n);
    BN_free(s);
    BN_free(other);
}

/* The HS256 MAC of input under secret into sig (32 bytes); its length. */
static inline size_t jws_sign_hs256(const char *secret, const char *input, unsigned char *sig)
{
    unsigned int len = 0;
    assert_non_null(HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)input,
                         strlen(input), sig, &len));
    assert_int_equal(len, 32);
    return len;
}

/* The SHA-256 signature of input by key into sig (room for 512 bytes); its length. As OpenSSL
 * makes it (DER for an EC key) unless es256_raw: then JWS's r||s, 32 bytes each, low-S. */
static inline size_t jws_sign_key(EVP_PKEY *key, bool es256_raw, const char *input,
                                  unsigned char *sig)
{
    size_t input_len = strlen(input);
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    assert_non_null(ctx);
    assert_int_equal(EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key), 1);
    size_t len = 0;
    assert_int_equal(EVP_DigestSign(ctx, NULL, &len, (const unsigned char *)input, input_len), 1);
    unsigned char *der = malloc(len);
    assert_non_null(der);
    assert_int_equal(EVP_DigestSign(ctx, der, &len, (const unsigned char *)input, input_len), 1);
    EVP_MD_CTX_free(ctx);
    if (!es256_raw) {
        assert_true(len <= 512);
        memcpy(sig, der, len);
        free(der);
        return len;
    }
    const unsigned char *p = der;
    ECDSA_SIG *ecdsa = d2i_ECDSA_SIG(NULL, &p, (long)len);
    assert_non_null(ecdsa);
    assert_int_equal(BN_bn2binpad(ECDSA_SIG_get0_r(ecdsa), sig, 32), 32);
    assert_int_equal(BN_bn2binpad(ECDSA_SIG_get0_s(ecdsa), sig + 32, 32), 32);
    ECDSA_SIG_free(ecdsa);
    free(der);
    jws_es256_s_form(sig, false);
    return 64;
}

#endif
