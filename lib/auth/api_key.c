/* API key tokens: generation from getrandom(2), formatting, strict parsing, hashing. */
#include "auth/api_key.h"

#include "util/digest.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#define SECRET_HEX_CHARS (2 * API_KEY_SECRET_BYTES)
#define ID_MAX_DIGITS    19 /* INT64_MAX = 9223372036854775807 */

static const char hex_digits[] = "0123456789abcdef";

/* Value of a lowercase hex digit, or -1: uppercase is refused so that one secret has one
 * spelling. */
static int hex_value(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1;
}

_Static_assert(API_KEY_HASH_BYTES == DIGEST_SHA256_BYTES, "a key's hash is its SHA-256");

/* getrandom may return fewer bytes than asked (a signal during a large request) or fail
 * with EINTR: keep asking until the buffer is full. */
static int fill_random(uint8_t *buf, size_t len)
{
    size_t done = 0;
    while (done < len) {
        ssize_t got = getrandom(buf + done, len - done, 0);
        if (got < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        done += (size_t)got;
    }
    return 0;
}

int api_key_new_secret(char secret_hex[2 * API_KEY_SECRET_BYTES + 1],
                       uint8_t hash[API_KEY_HASH_BYTES])
{
    uint8_t secret[API_KEY_SECRET_BYTES];
    int rc = -1;
    if (fill_random(secret, sizeof secret) != 0 || !digest_sha256(secret, sizeof secret, hash)) {
        goto fail;
    }
    for (size_t i = 0; i < sizeof secret; i++) {
        secret_hex[2 * i] = hex_digits[secret[i] >> 4];
        secret_hex[2 * i + 1] = hex_digits[secret[i] & 0x0f];
    }
    secret_hex[SECRET_HEX_CHARS] = '\0';
    rc = 0;
fail:
    if (rc != 0) {
        int saved = errno;
        secret_hex[0] = '\0';
        memset(hash, 0, API_KEY_HASH_BYTES);
        errno = saved;
    }
    OPENSSL_cleanse(secret, sizeof secret);
    return rc;
}

/* Whether text is exactly SECRET_HEX_CHARS lowercase hex digits; stops at the first NUL. */
static bool secret_hex_valid(const char *text)
{
    for (size_t i = 0; i < SECRET_HEX_CHARS; i++) {
        if (hex_value(text[i]) < 0) {
            return false;
        }
    }
    return text[SECRET_HEX_CHARS] == '\0';
}

int api_key_format(int64_t id, const char *secret_hex, char *out, size_t out_size)
{
    if (id < 1 || secret_hex == NULL || out == NULL || !secret_hex_valid(secret_hex)) {
        return -1;
    }
    char token[API_KEY_TOKEN_MAX];
    int len = snprintf(token, sizeof token, "wf_%lld_%s", (long long)id, secret_hex);
    if (len < 0 || (size_t)len >= sizeof token || (size_t)len >= out_size) {
        return -1;
    }
    memcpy(out, token, (size_t)len + 1);
    return 0;
}

int api_key_parse(const char *token, int64_t *id, uint8_t hash[API_KEY_HASH_BYTES])
{
    if (token == NULL) {
        return -1;
    }
    /* Each check reads one byte and stops at the first that does not fit, so a NUL ends the
     * walk before anything beyond it is touched. */
    if (token[0] != 'w' || token[1] != 'f' || token[2] != '_') {
        return -1;
    }
    const char *p = token + 3;
    if (*p < '1' || *p > '9') {
        return -1; /* no digits, or a leading zero (one id, one spelling) */
    }
    int64_t value = 0;
    int digits = 0;
    while (*p >= '0' && *p <= '9') {
        if (++digits > ID_MAX_DIGITS) {
            return -1;
        }
        int digit = *p - '0';
        if (value > (INT64_MAX - digit) / 10) {
            return -1;
        }
        value = value * 10 + digit;
        p++;
    }
    if (*p != '_') {
        return -1;
    }
    p++;
    /* The secret is wiped on every path: even a malformed token may be a real key. */
    uint8_t secret[API_KEY_SECRET_BYTES];
    int rc = -1;
    for (size_t i = 0; i < sizeof secret; i++) {
        int high = hex_value(p[2 * i]);
        if (high < 0) {
            goto done;
        }
        int low = hex_value(p[2 * i + 1]);
        if (low < 0) {
            goto done;
        }
        secret[i] = (uint8_t)(high << 4 | low);
    }
    if (p[SECRET_HEX_CHARS] != '\0') {
        goto done;
    }
    uint8_t digest[API_KEY_HASH_BYTES];
    if (!digest_sha256(secret, sizeof secret, digest)) {
        rc = -2;
        goto done;
    }
    *id = value;
    memcpy(hash, digest, sizeof digest);
    rc = 0;
done:
    OPENSSL_cleanse(secret, sizeof secret);
    return rc;
}

bool api_key_hash_equal(const uint8_t a[API_KEY_HASH_BYTES], const uint8_t b[API_KEY_HASH_BYTES])
{
    return CRYPTO_memcmp(a, b, API_KEY_HASH_BYTES) == 0;
}
