/* JWT verification: strict compact-JWS parsing, the alg pinned to the configured key, the
 * signature checked before any claim is read, then the claims mapped to a principal. */
#include "auth/jwt.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/params.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/json_input.h"

#define HS256_MAC_BYTES   32
#define ES256_COORD_BYTES 32
/* 2^53 - 1: beyond it a JSON number (a double in cJSON) no longer names one integer. */
#define JSON_INTEGER_MAX 9007199254740991.0

typedef enum { ALG_HS256 = 1, ALG_RS256, ALG_ES256 } jwt_alg;

struct jwt_verifier {
    unsigned char *secret; /* HS256 key, NULL when HS256 is disabled */
    size_t secret_len;
    EVP_MAC *hmac;        /* fetched once with the secret */
    EVP_PKEY *public_key; /* NULL when RS256/ES256 are disabled */
    jwt_alg public_alg;   /* ALG_RS256 or ALG_ES256, from the key's type */
    size_t signature_len; /* expected signature bytes for public_alg */
    char *issuer;         /* NULL = not checked */
    char *audience;       /* NULL = not checked */
    int64_t leeway_s;
    int64_t max_ttl_s; /* 0 = not limited */
};

static char *copy_optional(const char *text, bool *failed)
{
    if (text == NULL || text[0] == '\0') {
        return NULL;
    }
    char *copy = strdup(text);
    if (copy == NULL) {
        *failed = true;
    }
    return copy;
}

/* The reason OpenSSL gave for the last failure, for the operator's message. */
static const char *openssl_reason(void)
{
    const char *reason = ERR_reason_error_string(ERR_peek_last_error());
    return reason != NULL ? reason : "unknown error";
}

/* Loads the PEM and decides the one alg it enables. Returns NULL when fine, else writes the
 * operator's message into error and returns it. */
static const char *load_public_key(jwt_verifier *v, const char *pem, char *error, size_t error_size)
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    if (bio == NULL) {
        snprintf(error, error_size, "out of memory reading the JWT public key");
        return error;
    }
    v->public_key = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    BIO_free(bio);
    if (v->public_key == NULL) {
        snprintf(error, error_size, "the JWT public key is not a PEM public key: %s",
                 openssl_reason());
        return error;
    }
    if (EVP_PKEY_is_a(v->public_key, "RSA")) {
        int bits = EVP_PKEY_get_bits(v->public_key);
        if (bits < JWT_RSA_BITS_MIN) {
            snprintf(error, error_size, "the JWT RSA public key has %d bits, at least %d needed",
                     bits, JWT_RSA_BITS_MIN);
            return error;
        }
        v->public_alg = ALG_RS256;
        v->signature_len = (size_t)EVP_PKEY_get_size(v->public_key);
        return NULL;
    }
    if (EVP_PKEY_is_a(v->public_key, "EC")) {
        char curve[64];
        size_t curve_len = 0;
        if (EVP_PKEY_get_group_name(v->public_key, curve, sizeof curve, &curve_len) != 1 ||
            OBJ_sn2nid(curve) != NID_X9_62_prime256v1) {
            snprintf(error, error_size, "the JWT EC public key is not on curve P-256 (ES256)");
            return error;
        }
        EVP_PKEY_CTX *check = EVP_PKEY_CTX_new_from_pkey(NULL, v->public_key, NULL);
        bool valid = check != NULL && EVP_PKEY_public_check(check) == 1;
        EVP_PKEY_CTX_free(check);
        if (!valid) {
            snprintf(error, error_size, "the JWT EC public key is not a valid P-256 point: %s",
                     openssl_reason());
            return error;
        }
        v->public_alg = ALG_ES256;
        v->signature_len = 2 * ES256_COORD_BYTES;
        return NULL;
    }
    snprintf(error, error_size,
             "the JWT public key is neither RSA (RS256) nor EC P-256 (ES256) but %s",
             EVP_PKEY_get0_type_name(v->public_key) != NULL ? EVP_PKEY_get0_type_name(v->public_key)
                                                            : "an unknown type");
    return error;
}

jwt_verifier *jwt_verifier_new(const jwt_options *options, char *error, size_t error_size)
{
    static const jwt_options disabled = {0};
    if (options == NULL) {
        options = &disabled;
    }
    if (error_size > 0) {
        error[0] = '\0';
    }
    /* OpenSSL errors raised here are reported in error; leave the caller's queue as it was. */
    ERR_set_mark();
    jwt_verifier *v = calloc(1, sizeof *v);
    if (v == NULL) {
        snprintf(error, error_size, "out of memory");
        goto fail;
    }
    if (options->leeway_s < 0) {
        snprintf(error, error_size, "the JWT leeway must not be negative");
        goto fail;
    }
    v->leeway_s = options->leeway_s;
    if (options->max_ttl_s < 0) {
        snprintf(error, error_size, "the JWT maximum lifetime must not be negative");
        goto fail;
    }
    v->max_ttl_s = options->max_ttl_s;
    bool failed = false;
    v->issuer = copy_optional(options->issuer, &failed);
    v->audience = copy_optional(options->audience, &failed);
    if (failed) {
        snprintf(error, error_size, "out of memory");
        goto fail;
    }
    if (options->hs256_secret != NULL && options->hs256_secret[0] != '\0') {
        v->secret_len = strlen(options->hs256_secret);
        if (v->secret_len < JWT_SECRET_MIN) {
            snprintf(error, error_size, "the JWT HS256 secret has %zu bytes, at least %d needed",
                     v->secret_len, JWT_SECRET_MIN);
            goto fail;
        }
        v->secret = malloc(v->secret_len);
        v->hmac = EVP_MAC_fetch(NULL, OSSL_MAC_NAME_HMAC, NULL);
        if (v->secret == NULL || v->hmac == NULL) {
            snprintf(error, error_size, "cannot set up HMAC-SHA256: %s", openssl_reason());
            goto fail;
        }
        memcpy(v->secret, options->hs256_secret, v->secret_len);
    }
    if (options->public_key_pem != NULL &&
        load_public_key(v, options->public_key_pem, error, error_size) != NULL) {
        goto fail;
    }
    ERR_pop_to_mark();
    return v;
fail:
    ERR_pop_to_mark();
    jwt_verifier_free(v);
    return NULL;
}

void jwt_verifier_free(jwt_verifier *v)
{
    if (v == NULL) {
        return;
    }
    if (v->secret != NULL) {
        OPENSSL_cleanse(v->secret, v->secret_len);
        free(v->secret);
    }
    EVP_MAC_free(v->hmac);
    EVP_PKEY_free(v->public_key);
    free(v->issuer);
    free(v->audience);
    free(v);
}

bool jwt_verifier_enabled(const jwt_verifier *v)
{
    return v != NULL && (v->secret != NULL || v->public_key != NULL);
}

/* 6-bit value of a base64url character (RFC 4648 section 5), or -1. */
static int b64url_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    if (c == '-') {
        return 62;
    }
    if (c == '_') {
        return 63;
    }
    return -1;
}

/* Strict base64url without padding: only the alphabet, no '=', no length that leaves a
 * lone character, and the unused low bits of the last character zero, so each byte string
 * has exactly one spelling. out must hold len * 3 / 4 bytes. Returns false on any flaw. */
static bool b64url_decode(const char *in, size_t len, unsigned char *out, size_t *out_len)
{
    if (len % 4 == 1) {
        return false;
    }
    size_t n = 0;
    uint32_t bits = 0;
    int pending = 0; /* bits held in `bits` */
    for (size_t i = 0; i < len; i++) {
        int value = b64url_value((unsigned char)in[i]);
        if (value < 0) {
            return false;
        }
        bits = (bits << 6 | (uint32_t)value) & 0xffffff;
        pending += 6;
        if (pending >= 8) {
            pending -= 8;
            out[n++] = (unsigned char)(bits >> pending);
        }
    }
    if ((bits & ((1u << pending) - 1)) != 0) {
        return false; /* non-zero trailing bits */
    }
    *out_len = n;
    return true;
}

/* Decodes one part and parses it as a strict JSON object (no duplicate member names, valid
 * UTF-8, nothing after the value). Returns the tree (caller frees) or NULL. */
static cJSON *decode_json_object(const char *part, size_t len, unsigned char *buf)
{
    size_t json_len = 0;
    if (len == 0 || !b64url_decode(part, len, buf, &json_len) || json_len == 0) {
        return NULL;
    }
    /* json_input_parse reads blank input as {}; a JOSE header or claims set must be an
     * object written out. */
    size_t start = 0;
    while (start < json_len && strchr(" \t\r\n", buf[start]) != NULL && buf[start] != '\0') {
        start++;
    }
    if (start == json_len || buf[start] != '{') {
        return NULL;
    }
    char why[128];
    cJSON *root = json_input_parse((const char *)buf, json_len, why, sizeof why);
    if (root != NULL && !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}

static bool hs256_valid(const jwt_verifier *v, const unsigned char *input, size_t input_len,
                        const unsigned char *signature, size_t signature_len)
{
    if (signature_len != HS256_MAC_BYTES) {
        return false;
    }
    static char digest_name[] = "SHA256";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest_name, 0),
                           OSSL_PARAM_construct_end()};
    unsigned char mac[EVP_MAX_MD_SIZE];
    size_t mac_len = 0;
    EVP_MAC_CTX *ctx = EVP_MAC_CTX_new(v->hmac);
    bool valid = ctx != NULL && EVP_MAC_init(ctx, v->secret, v->secret_len, params) == 1 &&
                 EVP_MAC_update(ctx, input, input_len) == 1 &&
                 EVP_MAC_final(ctx, mac, &mac_len, sizeof mac) == 1 && mac_len == HS256_MAC_BYTES &&
                 CRYPTO_memcmp(mac, signature, mac_len) == 0;
    EVP_MAC_CTX_free(ctx);
    OPENSSL_cleanse(mac, sizeof mac);
    return valid;
}

/* JWS carries an ES256 signature as the raw big-endian r||s; OpenSSL verifies the DER
 * ECDSA-Sig-Value. Returns the DER (OPENSSL_free it) or NULL. */
static unsigned char *es256_der(const unsigned char *raw, int *der_len)
{
    ECDSA_SIG *sig = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(raw, ES256_COORD_BYTES, NULL);
    BIGNUM *s = BN_bin2bn(raw + ES256_COORD_BYTES, ES256_COORD_BYTES, NULL);
    unsigned char *der = NULL;
    if (sig == NULL || r == NULL || s == NULL || ECDSA_SIG_set0(sig, r, s) != 1) {
        BN_free(r);
        BN_free(s);
        goto done;
    }
    /* sig owns r and s now. */
    *der_len = i2d_ECDSA_SIG(sig, &der);
    if (*der_len <= 0) {
        OPENSSL_free(der);
        der = NULL;
    }
done:
    ECDSA_SIG_free(sig);
    return der;
}

/* Half the order of P-256's base point (n / 2, rounded down), big-endian. */
static const unsigned char p256_half_order[ES256_COORD_BYTES] = {
    0x7f, 0xff, 0xff, 0xff, 0x80, 0x00, 0x00, 0x00, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xde, 0x73, 0x7d, 0x56, 0xd3, 0x8b, 0xcf, 0x42, 0x79, 0xdc, 0xe5, 0x61, 0x7e, 0x31, 0x92, 0xa8};

/* ECDSA signatures are malleable: (r, n - s) verifies whenever (r, s) does, so one token
 * would have two spellings (and two rate-limit or cache identities). Only the low-S one,
 * s <= n / 2, is accepted, as BIP 62 does; any signer can normalize to it. */
static bool es256_low_s(const unsigned char raw[2 * ES256_COORD_BYTES])
{
    return memcmp(raw + ES256_COORD_BYTES, p256_half_order, ES256_COORD_BYTES) <= 0;
}

static bool public_key_valid(const jwt_verifier *v, const unsigned char *input, size_t input_len,
                             const unsigned char *signature, size_t signature_len)
{
    if (signature_len != v->signature_len) {
        return false;
    }
    unsigned char *der = NULL;
    int der_len = 0;
    if (v->public_alg == ALG_ES256) {
        der = es256_der(signature, &der_len);
        if (der == NULL) {
            return false;
        }
        signature = der;
        signature_len = (size_t)der_len;
    }
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pkey_ctx = NULL;
    bool valid =
        ctx != NULL &&
        EVP_DigestVerifyInit_ex(ctx, &pkey_ctx, "SHA256", NULL, NULL, v->public_key, NULL) == 1 &&
        (v->public_alg != ALG_RS256 ||
         EVP_PKEY_CTX_set_rsa_padding(pkey_ctx, RSA_PKCS1_PADDING) == 1) &&
        EVP_DigestVerify(ctx, signature, signature_len, input, input_len) == 1;
    EVP_MD_CTX_free(ctx);
    OPENSSL_free(der);
    return valid;
}

/* Checks the protected header and returns the alg it names, or 0 with *why set. */
static jwt_alg header_alg(const jwt_verifier *v, const cJSON *header, const char **why)
{
    if (cJSON_GetObjectItemCaseSensitive(header, "crit") != NULL) {
        *why = "the crit header is not supported";
        return 0;
    }
    const cJSON *typ = cJSON_GetObjectItemCaseSensitive(header, "typ");
    if (typ != NULL && (!cJSON_IsString(typ) || strcasecmp(typ->valuestring, "JWT") != 0)) {
        *why = "the token typ is not JWT";
        return 0;
    }
    const cJSON *alg = cJSON_GetObjectItemCaseSensitive(header, "alg");
    if (!cJSON_IsString(alg)) {
        *why = "the token header has no alg";
        return 0;
    }
    /* alg values are case-sensitive (RFC 7515 4.1.1): "none", "None" and "hs256" are all
     * refused, the first with its own reason because it is the classic attack. */
    jwt_alg named;
    if (strcmp(alg->valuestring, "HS256") == 0) {
        named = ALG_HS256;
    } else if (strcmp(alg->valuestring, "RS256") == 0) {
        named = ALG_RS256;
    } else if (strcmp(alg->valuestring, "ES256") == 0) {
        named = ALG_ES256;
    } else if (strcasecmp(alg->valuestring, "none") == 0) {
        *why = "unsigned tokens (alg none) are not accepted";
        return 0;
    } else {
        *why = "unsupported alg";
        return 0;
    }
    /* The alg must be the configured key's: an HS256 token is never checked against a
     * public key (whose PEM text an attacker knows), nor RS256 against an EC key. */
    bool configured =
        named == ALG_HS256 ? v->secret != NULL : v->public_key != NULL && v->public_alg == named;
    if (!configured) {
        *why = "the token alg does not match the configured key";
        return 0;
    }
    return named;
}

/* A JSON number naming one integer in [min, 2^53 - 1]. */
static bool json_integer(const cJSON *item, double min, int64_t *out)
{
    if (!cJSON_IsNumber(item)) {
        return false;
    }
    double value = item->valuedouble;
    if (!isfinite(value) || floor(value) != value || value < min || value > JSON_INTEGER_MAX) {
        return false;
    }
    *out = (int64_t)value;
    return true;
}

/* The code point of the valid UTF-8 sequence of len bytes at p. */
static uint32_t utf8_code_point(const unsigned char *p, size_t len)
{
    if (len == 1) {
        return p[0];
    }
    uint32_t cp = p[0] & (0xff >> (len + 1));
    for (size_t i = 1; i < len; i++) {
        cp = cp << 6 | (p[i] & 0x3f);
    }
    return cp;
}

/* Characters that change how text around them is shown rather than showing themselves:
 * the controls (Cc), the format characters (Cf: soft hyphen, zero-width characters, the
 * bidirectional marks, embeddings, overrides and isolates, invisible operators, tags, ...,
 * as of Unicode 15) and the line and paragraph separators. In an actor they would let
 * "jwt:mallory\u202egpj.exe" read as something else in the ledger, a log or the console. */
static bool hidden_character(uint32_t cp)
{
    static const struct {
        uint32_t first, last;
    } ranges[] = {
        {0x0000, 0x001f},   {0x007f, 0x009f},   {0x00ad, 0x00ad},   {0x0600, 0x0605},
        {0x061c, 0x061c},   {0x06dd, 0x06dd},   {0x070f, 0x070f},   {0x0890, 0x0891},
        {0x08e2, 0x08e2},   {0x180e, 0x180e},   {0x200b, 0x200f},   {0x2028, 0x202e},
        {0x2060, 0x2064},   {0x2066, 0x206f},   {0xfeff, 0xfeff},   {0xfff9, 0xfffb},
        {0x110bd, 0x110bd}, {0x110cd, 0x110cd}, {0x13430, 0x1343f}, {0x1bca0, 0x1bca3},
        {0x1d173, 0x1d17a}, {0xe0001, 0xe0001}, {0xe0020, 0xe007f},
    };
    for (size_t i = 0; i < sizeof ranges / sizeof ranges[0]; i++) {
        if (cp >= ranges[i].first && cp <= ranges[i].last) {
            return true;
        }
    }
    return false;
}

/* Non-empty, at most JWT_SUB_MAX bytes, valid UTF-8, no hidden character (above): it becomes
 * the actor in the ledger and the logs. */
static bool sub_valid(const char *sub)
{
    size_t len = strlen(sub);
    if (len == 0 || len > JWT_SUB_MAX || !utf8_valid(sub, len)) {
        return false;
    }
    for (size_t at = 0; at < len;) {
        size_t n = utf8_sequence(sub + at, len - at);
        if (n == 0 || hidden_character(utf8_code_point((const unsigned char *)sub + at, n))) {
            return false;
        }
        at += n;
    }
    return true;
}

/* Optional scope claim: absent leaves *out as it is (the principal starts zeroed), present
 * must be a positive integer. */
static bool scope_claim(const cJSON *claims, const char *name, int64_t *out)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(claims, name);
    return item == NULL || json_integer(item, 1, out);
}

static bool audience_matches(const cJSON *aud, const char *audience)
{
    if (cJSON_IsString(aud)) {
        return strcmp(aud->valuestring, audience) == 0;
    }
    if (!cJSON_IsArray(aud)) {
        return false;
    }
    bool found = false;
    const cJSON *item;
    cJSON_ArrayForEach(item, aud)
    {
        if (!cJSON_IsString(item)) {
            return false; /* an array of strings, or nothing */
        }
        found = found || strcmp(item->valuestring, audience) == 0;
    }
    return found;
}

/* Maps verified claims to a principal. Returns NULL when fine, else the reason. */
static const char *claims_principal(const jwt_verifier *v, const cJSON *claims, int64_t now_s,
                                    auth_principal *p, int64_t *valid_until_s)
{
    int64_t exp = 0;
    const cJSON *exp_item = cJSON_GetObjectItemCaseSensitive(claims, "exp");
    if (exp_item == NULL) {
        return "the token has no exp";
    }
    if (!json_integer(exp_item, -JSON_INTEGER_MAX, &exp)) {
        return "exp is not an integer number of seconds";
    }
    /* exp and nbf are within +-2^53 and the leeway an int: no overflow either way. */
    if (now_s > exp + v->leeway_s) {
        return "the token has expired";
    }
    *valid_until_s = exp + v->leeway_s;
    if (v->max_ttl_s > 0 && exp - now_s > v->max_ttl_s + v->leeway_s) {
        return "the token lives too long: its exp is further ahead than WASTEFLOW_JWT_MAX_TTL_S "
               "allows";
    }
    const cJSON *nbf_item = cJSON_GetObjectItemCaseSensitive(claims, "nbf");
    if (nbf_item != NULL) {
        int64_t nbf = 0;
        if (!json_integer(nbf_item, -JSON_INTEGER_MAX, &nbf)) {
            return "nbf is not an integer number of seconds";
        }
        if (now_s < nbf - v->leeway_s) {
            return "the token is not valid yet";
        }
    }
    if (v->issuer != NULL) {
        const cJSON *iss = cJSON_GetObjectItemCaseSensitive(claims, "iss");
        if (!cJSON_IsString(iss) || strcmp(iss->valuestring, v->issuer) != 0) {
            return "the token issuer is not the configured one";
        }
    }
    if (v->audience != NULL &&
        !audience_matches(cJSON_GetObjectItemCaseSensitive(claims, "aud"), v->audience)) {
        return "the token audience is not the configured one";
    }
    const cJSON *sub = cJSON_GetObjectItemCaseSensitive(claims, "sub");
    if (sub == NULL) {
        return "the token has no sub";
    }
    if (!cJSON_IsString(sub) || !sub_valid(sub->valuestring)) {
        return "sub must be 1 to 200 bytes of UTF-8 without control, format or bidirectional "
               "characters";
    }
    const cJSON *role = cJSON_GetObjectItemCaseSensitive(claims, "role");
    if (role == NULL) {
        return "the token has no role";
    }
    p->role = cJSON_IsString(role) ? auth_role_parse(role->valuestring) : 0;
    if (p->role == 0) {
        return "the token role is not one of admin, auditor, monitor, organization, storage";
    }
    if (!scope_claim(claims, "organization_id", &p->organization_id)) {
        return "organization_id is not a positive integer";
    }
    if (!scope_claim(claims, "storage_id", &p->storage_id)) {
        return "storage_id is not a positive integer";
    }
    const char *scope = auth_scope_problem(p->role, p->organization_id, p->storage_id);
    if (scope != NULL) {
        return scope;
    }
    p->key_id = 0;
    snprintf(p->actor, sizeof p->actor, "jwt:%s", sub->valuestring);
    const cJSON *iss = cJSON_GetObjectItemCaseSensitive(claims, "iss");
    snprintf(p->issuer, sizeof p->issuer, "%s", cJSON_IsString(iss) ? iss->valuestring : "");
    return NULL;
}

int jwt_verify(const jwt_verifier *v, const char *token, int64_t now_s, auth_principal *out,
               const char **why)
{
    int64_t valid_until_s = 0;
    return jwt_verify_until(v, token, now_s, out, &valid_until_s, why);
}

int jwt_verify_until(const jwt_verifier *v, const char *token, int64_t now_s, auth_principal *out,
                     int64_t *valid_until_s, const char **why)
{
    int64_t until = 0;
    /* Every decoded part fits: base64url decodes to three quarters of its length. */
    unsigned char buf[JWT_TOKEN_MAX];
    cJSON *header = NULL;
    cJSON *claims = NULL;
    auth_principal principal = {0};
    const char *reason = NULL;
    ERR_set_mark();
    if (!jwt_verifier_enabled(v)) {
        reason = "JWT authentication is not enabled";
        goto done;
    }
    if (token == NULL || token[0] == '\0') {
        reason = "no token";
        goto done;
    }
    size_t len = strnlen(token, JWT_TOKEN_MAX + 1);
    if (len > JWT_TOKEN_MAX) {
        reason = "the token is too long";
        goto done;
    }
    const char *dot1 = memchr(token, '.', len);
    const char *dot2 =
        dot1 != NULL ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token)) : NULL;
    if (dot2 == NULL || memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - token)) != NULL) {
        reason = "the token is not three dot-separated parts";
        goto done;
    }
    const char *payload = dot1 + 1;
    const char *signature = dot2 + 1;
    size_t header_len = (size_t)(dot1 - token);
    size_t payload_len = (size_t)(dot2 - payload);
    size_t signature_len = len - (size_t)(signature - token);

    header = decode_json_object(token, header_len, buf);
    if (header == NULL) {
        reason = "the token header is not base64url of a JSON object";
        goto done;
    }
    jwt_alg alg = header_alg(v, header, &reason);
    if (alg == 0) {
        goto done;
    }
    size_t raw_len = 0;
    if (!b64url_decode(signature, signature_len, buf, &raw_len)) {
        reason = "the token signature is not base64url";
        goto done;
    }
    /* The signing input is the header and payload exactly as sent. */
    const unsigned char *input = (const unsigned char *)token;
    size_t input_len = (size_t)(dot2 - token);
    bool valid = alg == ALG_HS256 ? hs256_valid(v, input, input_len, buf, raw_len)
                                  : public_key_valid(v, input, input_len, buf, raw_len);
    if (!valid) {
        reason = "the token signature is invalid";
        goto done;
    }
    /* Checked on a signature that verifies, so that its refusal says why. */
    if (alg == ALG_ES256 && !es256_low_s(buf)) {
        reason = "the token signature is not in low-S form (ES256 S must be at most n/2)";
        goto done;
    }
    claims = decode_json_object(payload, payload_len, buf);
    if (claims == NULL) {
        reason = "the token payload is not base64url of a JSON object";
        goto done;
    }
    reason = claims_principal(v, claims, now_s, &principal, &until);
done:
    cJSON_Delete(header);
    cJSON_Delete(claims);
    OPENSSL_cleanse(buf, sizeof buf);
    ERR_pop_to_mark();
    if (reason != NULL) {
        memset(out, 0, sizeof *out);
        *why = reason;
        return -1;
    }
    *out = principal;
    *valid_until_s = until;
    return 0;
}
