/* See webhook_sign.h. Base64 is the standard alphabet with padding, as Standard Webhooks
 * specifies for both the secret and the signature. */
#include "util/webhook_sign.h"
#include "util/digest.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

#define SECRET_PREFIX "whsec_"
#define SEAL_NONCE    12
#define SEAL_TAG      16
#define DAY_MS        (24LL * 3600 * 1000)

int webhook_secret_new(char out[WEBHOOK_SECRET_MAX])
{
    uint8_t bytes[WEBHOOK_SECRET_BYTES];
    if (RAND_bytes(bytes, sizeof bytes) != 1) {
        return -1;
    }
    memcpy(out, SECRET_PREFIX, sizeof SECRET_PREFIX - 1);
    EVP_EncodeBlock((unsigned char *)out + sizeof SECRET_PREFIX - 1, bytes, sizeof bytes);
    return 0;
}

/* Decodes padded standard base64 into out (room for max bytes): the length, or -1. */
static int base64_decode(const char *text, uint8_t *out, size_t max)
{
    size_t len = strlen(text);
    if (len == 0 || len % 4 != 0 || len / 4 * 3 > max) {
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        bool padding = c == '=' && i >= len - 2 && (i == len - 1 || text[len - 1] == '=');
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '/' || padding)) {
            return -1;
        }
    }
    int n = EVP_DecodeBlock(out, (const unsigned char *)text, (int)len);
    if (n < 0) {
        return -1;
    }
    /* EVP_DecodeBlock counts the padding as zero bytes. */
    n -= (text[len - 1] == '=') + (text[len - 2] == '=');
    return n;
}

int webhook_sign(const char *secret, const char *message_id, int64_t timestamp, const char *body,
                 size_t body_len, char out[WEBHOOK_SIGNATURE_MAX])
{
    if (strncmp(secret, SECRET_PREFIX, sizeof SECRET_PREFIX - 1) != 0) {
        return -1;
    }
    uint8_t key[66];
    int key_len = base64_decode(secret + sizeof SECRET_PREFIX - 1, key, sizeof key);
    if (key_len < 24 || key_len > 64) {
        return -1;
    }
    char stamp[24];
    int stamp_len = snprintf(stamp, sizeof stamp, ".%lld.", (long long)timestamp);
    const void *parts[] = {message_id, stamp, body};
    const size_t lens[] = {strlen(message_id), (size_t)stamp_len, body_len};
    uint8_t mac[DIGEST_HMAC_BYTES];
    digest_hmac_sha256(key, (size_t)key_len, parts, lens, 3, mac);
    memcpy(out, "v1,", 3);
    EVP_EncodeBlock((unsigned char *)out + 3, mac, sizeof mac);
    return 0;
}

static void hex_write(char *out, const uint8_t *bytes, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 15];
    }
    out[2 * n] = '\0';
}

static int hex_read(const char *text, uint8_t *out, size_t max)
{
    size_t len = strlen(text);
    if (len % 2 != 0 || len / 2 > max) {
        return -1;
    }
    for (size_t i = 0; i < len / 2; i++) {
        unsigned value;
        if (sscanf(text + 2 * i, "%2x", &value) != 1) {
            return -1;
        }
        out[i] = (uint8_t)value;
    }
    return (int)(len / 2);
}

int webhook_secret_seal(const uint8_t key[32], const char *secret, char out[WEBHOOK_SEALED_MAX])
{
    size_t len = strlen(secret);
    uint8_t sealed[SEAL_NONCE + WEBHOOK_SECRET_MAX + SEAL_TAG];
    if (len >= WEBHOOK_SECRET_MAX || RAND_bytes(sealed, SEAL_NONCE) != 1) {
        return -1;
    }
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int n = 0, final = 0, rc = -1;
    if (c != NULL && EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, sealed) == 1 &&
        EVP_EncryptUpdate(c, sealed + SEAL_NONCE, &n, (const uint8_t *)secret, (int)len) == 1 &&
        EVP_EncryptFinal_ex(c, sealed + SEAL_NONCE + n, &final) == 1 &&
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, SEAL_TAG, sealed + SEAL_NONCE + n + final) ==
            1) {
        hex_write(out, sealed, SEAL_NONCE + (size_t)(n + final) + SEAL_TAG);
        rc = 0;
    }
    EVP_CIPHER_CTX_free(c);
    return rc;
}

int webhook_secret_open(const uint8_t key[32], const char *sealed_hex, char out[WEBHOOK_SECRET_MAX])
{
    uint8_t sealed[SEAL_NONCE + WEBHOOK_SECRET_MAX + SEAL_TAG];
    int len = hex_read(sealed_hex, sealed, sizeof sealed);
    if (len < SEAL_NONCE + SEAL_TAG + 1) {
        return -1;
    }
    int text_len = len - SEAL_NONCE - SEAL_TAG;
    if (text_len >= WEBHOOK_SECRET_MAX) {
        return -1;
    }
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int n = 0, final = 0, rc = -1;
    if (c != NULL && EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, key, sealed) == 1 &&
        EVP_DecryptUpdate(c, (uint8_t *)out, &n, sealed + SEAL_NONCE, text_len) == 1 &&
        EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, SEAL_TAG, sealed + SEAL_NONCE + text_len) ==
            1 &&
        EVP_DecryptFinal_ex(c, (uint8_t *)out + n, &final) == 1) {
        out[n + final] = '\0';
        rc = 0;
    }
    EVP_CIPHER_CTX_free(c);
    if (rc != 0) {
        out[0] = '\0';
    }
    return rc;
}

int64_t webhook_retry_delay_ms(int attempt, int64_t base_ms, double jitter)
{
    if (attempt < 1) {
        attempt = 1;
    }
    int64_t delay = base_ms;
    for (int i = 1; i < attempt && delay < DAY_MS; i++) {
        delay *= 2;
    }
    if (jitter < 0 || jitter >= 1) {
        jitter = 0;
    }
    delay += (int64_t)((double)delay * 0.2 * jitter);
    return delay > DAY_MS ? DAY_MS : delay;
}
