/* Verification of JWTs (compact JWS: HS256, RS256, ES256) from an identity provider, with
 * OpenSSL 3 directly. A verifier holds the configured key(s) and claim expectations; it is
 * immutable after jwt_verifier_new, so threads may share it. Verification is pure: the
 * caller passes the clock, and nothing is logged or fetched (no jku/x5u/kid lookups). */
#ifndef WF_AUTH_JWT_H
#define WF_AUTH_JWT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/principal.h"

#define JWT_TOKEN_MAX    8192 /* bytes; a longer token is refused without being decoded */
#define JWT_SUB_MAX      200  /* bytes of the sub claim */
#define JWT_SECRET_MIN   32   /* bytes of an HS256 secret (RFC 7518 3.2: at least the hash size) */
#define JWT_RSA_BITS_MIN 2048

typedef struct jwt_verifier jwt_verifier;

typedef struct {
    const char *hs256_secret;   /* WASTEFLOW_JWT_SECRET, NULL/"" = HS256 disabled */
    const char *public_key_pem; /* contents of WASTEFLOW_JWT_PUBLIC_KEY_FILE, NULL = disabled;
                                   an RSA key enables RS256 only, an EC P-256 key ES256 only */
    const char *issuer;         /* WASTEFLOW_JWT_ISSUER, NULL/"" = not checked */
    const char *audience;       /* WASTEFLOW_JWT_AUDIENCE, NULL/"" = not checked */
    int leeway_s;               /* 60 */
    /* WASTEFLOW_JWT_MAX_TTL_S: exp at most this many seconds ahead of now (plus the leeway),
     * so a token minted to live for ever is refused; 0 = not limited. */
    int64_t max_ttl_s;
} jwt_options;

/* NULL with a message in error when the options are unusable (bad PEM, unsupported key type,
 * EC curve other than P-256, RSA < 2048 bits, an HS256 secret shorter than JWT_SECRET_MIN
 * bytes, a negative leeway or max_ttl_s). The service itself never runs with JWT enabled
 * but issuer or audience unset (util/config.c refuses that); the verifier leaves the choice
 * to its caller. The PEM is a "PUBLIC KEY" (SubjectPublicKeyInfo) block, or for
 * RSA also "RSA PUBLIC KEY" (PKCS#1); text around it is ignored, a private key refused.
 * Options with neither a secret nor a key (or options == NULL) give a verifier that is not
 * enabled. The strings are copied: options need not outlive the call. The caller frees the
 * result with jwt_verifier_free. */
jwt_verifier *jwt_verifier_new(const jwt_options *options, char *error, size_t error_size)
    __attribute__((warn_unused_result));

/* Frees v, wiping the secret; NULL is a no-op. */
void jwt_verifier_free(jwt_verifier *v);

/* Whether v accepts any token at all (a secret or a public key is configured). */
bool jwt_verifier_enabled(const jwt_verifier *v) __attribute__((warn_unused_result));

/* Verifies token (NUL-terminated, never read beyond JWT_TOKEN_MAX + 1 bytes) at time now_s
 * (Unix seconds) and fills *out (the principal: role, scope, key_id 0, actor "jwt:<sub>").
 * Returns 0, or -1 with *why set to a short static English reason suitable for a 401 detail
 * (never echoing token bytes) and *out zeroed. */
int jwt_verify(const jwt_verifier *v, const char *token, int64_t now_s, auth_principal *out,
               const char **why) __attribute__((warn_unused_result));

/* jwt_verify, and when the token is valid, *valid_until_s: the last second it stays valid
 * (its exp plus the leeway), so that a caller may remember the verdict until then. */
int jwt_verify_until(const jwt_verifier *v, const char *token, int64_t now_s, auth_principal *out,
                     int64_t *valid_until_s, const char **why) __attribute__((warn_unused_result));

#endif
