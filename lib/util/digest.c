/* SHA-256 through OpenSSL's EVP interface (see digest.h). */
#include "util/digest.h"

#include "util/mem.h"

#include <openssl/evp.h>
#include <stdbool.h>
#include <stdio.h>

void digest_sha256_hex(const void *const *data, const size_t *len, size_t parts,
                       char out[DIGEST_HEX_SIZE])
{
    unsigned char hash[EVP_MAX_MD_SIZE];
    unsigned int hash_len = 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    bool ok = ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1;
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
