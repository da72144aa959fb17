/* Sealed event ids (see event_id.h): one AES-128 block through OpenSSL's EVP interface,
 * written in base64url. */
#include "util/event_id.h"

#include "util/digest.h"
#include "util/mem.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#define BLOCK_BYTES 16
#define TEXT_CHARS  (EVENT_ID_TEXT_SIZE - 1)

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

void event_id_keys_derive(const uint8_t *deployment_key, size_t key_len, event_id_keys *out)
{
    /* One subkey for event ids, then one of it per primitive: the cipher and the MAC never
     * share a key. */
    uint8_t purpose[DIGEST_HMAC_BYTES], cipher[DIGEST_HMAC_BYTES];
    digest_derive_key(deployment_key, key_len, "event-id", purpose);
    digest_derive_key(purpose, sizeof purpose, "aes-128", cipher);
    memcpy(out->cipher_key, cipher, sizeof out->cipher_key);
    digest_derive_key(purpose, sizeof purpose, "binding", out->binding_key);
}

uint64_t event_id_binding(const event_id_keys *keys, const char *role, int64_t organization_id,
                          int64_t storage_id, const char *issuer, const char *actor)
{
    char scope[64];
    int scope_len = snprintf(scope, sizeof scope, "%lld %lld", (long long)organization_id,
                             (long long)storage_id);
    const char *texts[] = {role, scope, issuer, actor};
    enum { TEXTS = sizeof texts / sizeof texts[0] };
    /* Each text after its length (8 bytes, big-endian). */
    uint8_t lengths[TEXTS][8];
    const void *data[2 * TEXTS];
    size_t len[2 * TEXTS];
    for (size_t i = 0; i < TEXTS; i++) {
        uint64_t n = i == 1 ? (uint64_t)scope_len : (uint64_t)strlen(texts[i]);
        for (int b = 0; b < 8; b++) {
            lengths[i][b] = (uint8_t)(n >> (56 - 8 * b));
        }
        data[2 * i] = lengths[i];
        len[2 * i] = 8;
        data[2 * i + 1] = texts[i];
        len[2 * i + 1] = (size_t)n;
    }
    uint8_t mac[DIGEST_HMAC_BYTES];
    digest_hmac_sha256(keys->binding_key, sizeof keys->binding_key, data, len, 2 * TEXTS, mac);
    uint64_t binding = 0;
    for (int b = 0; b < 8; b++) {
        binding = binding << 8 | mac[b];
    }
    return binding;
}

/* One block through AES-128 (encrypt: true) or its inverse. */
static void aes_block(const uint8_t key[16], bool encrypt, const uint8_t in[BLOCK_BYTES],
                      uint8_t out[BLOCK_BYTES])
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int written = 0;
    bool ok = ctx != NULL &&
              EVP_CipherInit_ex(ctx, EVP_aes_128_ecb(), NULL, key, NULL, encrypt ? 1 : 0) == 1 &&
              EVP_CIPHER_CTX_set_padding(ctx, 0) == 1 &&
              EVP_CipherUpdate(ctx, out, &written, in, BLOCK_BYTES) == 1 && written == BLOCK_BYTES;
    EVP_CIPHER_CTX_free(ctx);
    if (!ok) {
        /* One block of AES cannot fail; only its context's allocation can. */
        mem_exhausted(BLOCK_BYTES);
    }
}

static void put64(uint8_t *out, uint64_t value)
{
    for (int b = 0; b < 8; b++) {
        out[b] = (uint8_t)(value >> (56 - 8 * b));
    }
}

static uint64_t get64(const uint8_t *in)
{
    uint64_t value = 0;
    for (int b = 0; b < 8; b++) {
        value = value << 8 | in[b];
    }
    return value;
}

void event_id_seal(const event_id_keys *keys, uint64_t binding, int64_t position,
                   char out[EVENT_ID_TEXT_SIZE])
{
    uint8_t plain[BLOCK_BYTES], sealed[BLOCK_BYTES];
    put64(plain, (uint64_t)position);
    put64(plain + 8, binding);
    aes_block(keys->cipher_key, true, plain, sealed);
    /* base64url: 6 bits a character, the last one's 4 low bits zero. */
    size_t n = 0;
    uint32_t bits = 0;
    int held = 0;
    for (size_t i = 0; i < BLOCK_BYTES; i++) {
        bits = bits << 8 | sealed[i];
        held += 8;
        while (held >= 6) {
            held -= 6;
            out[n++] = alphabet[(bits >> held) & 63];
        }
    }
    out[n++] = alphabet[(bits << (6 - held)) & 63];
    out[n] = '\0';
}

static int sextet(char c)
{
    const char *at = c != '\0' ? strchr(alphabet, c) : NULL;
    return at != NULL ? (int)(at - alphabet) : -1;
}

bool event_id_open(const event_id_keys *keys, uint64_t binding, const char *text, int64_t *position)
{
    if (text == NULL || strlen(text) != TEXT_CHARS) {
        return false;
    }
    uint8_t sealed[BLOCK_BYTES], plain[BLOCK_BYTES];
    size_t n = 0;
    uint32_t bits = 0;
    int held = 0;
    for (size_t i = 0; i < TEXT_CHARS; i++) {
        int value = sextet(text[i]);
        if (value < 0) {
            return false;
        }
        bits = bits << 6 | (uint32_t)value;
        held += 6;
        if (held >= 8 && n < BLOCK_BYTES) {
            held -= 8;
            sealed[n++] = (uint8_t)(bits >> held);
        }
    }
    /* The last character's spare bits must be zero: one id, one spelling. */
    if ((bits & ((1u << held) - 1)) != 0) {
        return false;
    }
    aes_block(keys->cipher_key, false, sealed, plain);
    uint64_t value = get64(plain);
    if (get64(plain + 8) != binding || value > (uint64_t)INT64_MAX) {
        return false;
    }
    *position = (int64_t)value;
    return true;
}
