/* Standard Webhooks signing (www.standardwebhooks.com): secrets "whsec_<base64 of random
 * bytes>", the signature "v1,<base64 HMAC-SHA256 over id.timestamp.body>" keyed with the
 * secret's decoded bytes; the sealing of secrets at rest under a subkey of the deployment's
 * key; and the retry schedule. Pure apart from the random bytes of webhook_secret_new and
 * of a seal's nonce. */
#ifndef WF_UTIL_WEBHOOK_SIGN_H
#define WF_UTIL_WEBHOOK_SIGN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WEBHOOK_SECRET_BYTES  32
#define WEBHOOK_SECRET_MAX    64  /* "whsec_" + base64 of 32 bytes + NUL, rounded up */
#define WEBHOOK_SIGNATURE_MAX 64  /* "v1," + base64 of 32 bytes + NUL, rounded up */
#define WEBHOOK_SEALED_MAX    256 /* hex of nonce, ciphertext and tag + NUL */
/* The label of the deployment key's subkey that seals secrets (util/digest.h). */
#define WEBHOOK_SEAL_LABEL "wasteflow webhook secrets"

/* A new secret: 0, or -1 when no random bytes could be had. */
int webhook_secret_new(char out[WEBHOOK_SECRET_MAX]) __attribute__((warn_unused_result));
/* The signature of one message; -1 when secret is not "whsec_<base64 of 24 to 64 bytes>". */
int webhook_sign(const char *secret, const char *message_id, int64_t timestamp, const char *body,
                 size_t body_len, char out[WEBHOOK_SIGNATURE_MAX])
    __attribute__((warn_unused_result));

/* Seals a secret with AES-256-GCM under key (a subkey of the deployment's key): hex of a
 * random nonce, the ciphertext and the tag. 0 or -1. */
int webhook_secret_seal(const uint8_t key[32], const char *secret, char out[WEBHOOK_SEALED_MAX])
    __attribute__((warn_unused_result));
/* Opens what webhook_secret_seal wrote; -1 when it was not sealed under key or was altered. */
int webhook_secret_open(const uint8_t key[32], const char *sealed, char out[WEBHOOK_SECRET_MAX])
    __attribute__((warn_unused_result));

/* The wait before attempt number `attempt` + 1 after attempt `attempt` (1-based) failed:
 * base_ms doubled for every earlier failure, plus up to a fifth more by jitter (0 <= jitter
 * < 1, drawn by the caller), capped at one day. The first retry comes after base_ms (up to
 * 1.2 x base_ms). */
int64_t webhook_retry_delay_ms(int attempt, int64_t base_ms, double jitter);

#endif
