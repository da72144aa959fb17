/* The ids of GET /v1/events as clients see them: a stream's ledger position sealed for one
 * principal. An id tells its holder nothing — not how far the ledger has grown, nor how many
 * transfers the region made between two of its ids — and is good only for resuming a stream
 * of the principal it was made for, on any instance of the deployment.
 *
 * An id is one AES-128 block in base64url without padding (22 characters): the position
 * (8 bytes, big-endian) and the principal's binding (8 bytes of HMAC-SHA256 of its role,
 * scope, issuer and actor), enciphered under a subkey of the deployment's key. Opening
 * deciphers the block and checks the binding: an edited or forged id, or one made for
 * another principal or by another deployment, passes with probability 2^-64. One block is a
 * permutation, so two positions never share an id, and the ids of two principals for one
 * position differ. Pure apart from OpenSSL's AES and HMAC. */
#ifndef WF_UTIL_EVENT_ID_H
#define WF_UTIL_EVENT_ID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define EVENT_ID_TEXT_SIZE 23 /* 22 characters and a NUL */

typedef struct {
    uint8_t cipher_key[16];  /* AES-128 */
    uint8_t binding_key[32]; /* HMAC-SHA256 */
} event_id_keys;

/* The deployment's event-id keys: subkeys of its secret (util/digest.h, label "event-id"),
 * the same on every instance that read the same secret. */
void event_id_keys_derive(const uint8_t *deployment_key, size_t key_len, event_id_keys *out);

/* A principal's binding: its role name, its organization and storage ids (0 for none), its
 * JWT issuer ("" for none) and its actor ("key:<id>" or "jwt:<sub>"). Each part is framed by
 * its length, so no two principals' parts run together into the same text. */
uint64_t event_id_binding(const event_id_keys *keys, const char *role, int64_t organization_id,
                          int64_t storage_id, const char *issuer, const char *actor);

/* The id of position (>= 0) for the principal of binding. */
void event_id_seal(const event_id_keys *keys, uint64_t binding, int64_t position,
                   char out[EVENT_ID_TEXT_SIZE]);

/* The position text stands for when it is an id sealed under keys for binding: true and
 * *position set; false for anything else (another length or alphabet, a non-canonical
 * encoding, an edited or forged id, another principal's, another deployment's). */
bool event_id_open(const event_id_keys *keys, uint64_t binding, const char *text, int64_t *position)
    __attribute__((warn_unused_result));

#endif
