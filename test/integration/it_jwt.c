/* JWTs for the runners that test JWT credentials: HS256 signed here with OpenSSL's HMAC,
 * as an identity provider would sign them. */
#include "it_internal.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* base64url without padding (RFC 7515 2). */
static char *b64url(const unsigned char *data, size_t len)
{
    char *out = harness_xmalloc(4 * (len / 3 + 1) + 1);
    int n = EVP_EncodeBlock((unsigned char *)out, data, (int)len);
    if (n < 0) {
        fail_msg("harness: EVP_EncodeBlock failed");
    }
    size_t kept = 0;
    for (int i = 0; i < n && out[i] != '='; i++) {
        out[kept++] = out[i] == '+' ? '-' : out[i] == '/' ? '_' : out[i];
    }
    out[kept] = '\0';
    return out;
}

char *it_jwt_hs256(const char *secret, const char *claims_json)
{
    static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    char *header64 = b64url((const unsigned char *)header, sizeof header - 1);
    char *claims64 = b64url((const unsigned char *)claims_json, strlen(claims_json));
    size_t input_len = strlen(header64) + 1 + strlen(claims64);
    char *input = harness_xmalloc(input_len + 1);
    snprintf(input, input_len + 1, "%s.%s", header64, claims64);
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    if (HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)input, input_len,
             mac, &mac_len) == NULL) {
        fail_msg("harness: HMAC failed");
    }
    char *signature = b64url(mac, mac_len);
    size_t token_len = input_len + 1 + strlen(signature);
    char *token = harness_xmalloc(token_len + 1);
    snprintf(token, token_len + 1, "%s.%s", input, signature);
    free(header64);
    free(claims64);
    free(input);
    free(signature);
    return token;
}
