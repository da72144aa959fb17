/* SHA-256 and HMAC-SHA256 through OpenSSL's EVP interfaces (see digest.h). */
#include "util/digest.h"

#include "util/mem.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* OpenSSL 3 looks an algorithm up in its providers on every implicit use (EVP_sha256() in
 * an init, EVP_MAC_fetch): a lock and a search, which showed as 4 % of the storage view's
 * CPU (two HMACs a page). The two used here are fetched once, for the process's life; a
 * fetched algorithm is immutable and may be shared by threads. NULL: the fetch failed. */
static EVP_MD *sha256_md;
static EVP_MAC *hmac_mac;
static pthread_once_t fetched = PTHREAD_ONCE_INIT;

static void fetch_algorithms(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
    hmac_mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
}

bool digest_sha256(const void *data, size_t len, uint8_t out[DIGEST_SHA256_BYTES])
{
    pthread_once(&fetched, fetch_algorithms);
    unsigned int out_len = 0;
    return sha256_md != NULL && EVP_Digest(data, len, out, &out_len, sha256_md, NULL) == 1 &&
           out_len == DIGEST_SHA256_BYTES;
}

void digest_sha256_hex(const void *const *data, const size_t *len, size_t parts,
                       char out[DIGEST_HEX_SIZE])
{
    unsigned char hash[EVP_MAX_MD_SIZE];
    unsigned int hash_len = 0;
    pthread_once(&fetched, fetch_algorithms);
    EVP_MD_CTX *ctx = sha256_md != NULL ? EVP_MD_CTX_new() : NULL;
    bool ok = ctx != NULL && EVP_DigestInit_ex(ctx, sha256_md, NULL) == 1;
    for (size_t i = 0; ok && i < parts; i++) {
        ok = EVP_DigestUpdate(ctx, data[i], len[i]) == 1;
    }
    ok = ok && EVP_DigestFinal_ex(ctx, hash, &hash_len) == 1 && hash_len == 32;
    EVP_MD_CTX_free(ctx);
    if (!ok) {
        /* SHA-256 itself cannot fail; only its context's allocation can. */
        mem_exhausted(sizeof hash);
    }
    static const char hex[] = "0123456789abcdef";
    for (unsigned int i = 0; i < hash_len; i++) {
        out[2 * i] = hex[hash[i] >> 4];
        out[2 * i + 1] = hex[hash[i] & 15];
    }
    out[64] = '\0';
}

void digest_hmac_sha256(const uint8_t *key, size_t key_len, const void *const *data,
                        const size_t *len, size_t parts, uint8_t out[DIGEST_HMAC_BYTES])
{
    pthread_once(&fetched, fetch_algorithms);
    EVP_MAC_CTX *ctx = hmac_mac != NULL ? EVP_MAC_CTX_new(hmac_mac) : NULL;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_end(),
    };
    size_t out_len = 0;
    bool ok = ctx != NULL && EVP_MAC_init(ctx, key, key_len, params) == 1;
    for (size_t i = 0; ok && i < parts; i++) {
        ok = EVP_MAC_update(ctx, data[i], len[i]) == 1;
    }
    ok = ok && EVP_MAC_final(ctx, out, &out_len, DIGEST_HMAC_BYTES) == 1 &&
         out_len == DIGEST_HMAC_BYTES;
    EVP_MAC_CTX_free(ctx);
    if (!ok) {
        /* HMAC itself cannot fail; only its context's allocation can. */
        mem_exhausted(DIGEST_HMAC_BYTES);
    }
}

void digest_derive_key(const uint8_t *master, size_t master_len, const char *label,
                       uint8_t out[DIGEST_HMAC_BYTES])
{
    const void *data[1] = {label};
    size_t len[1] = {strlen(label)};
    digest_hmac_sha256(master, master_len, data, len, 1, out);
}
