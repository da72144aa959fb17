/* A process's name in the lease rows its workers hold (dispatcher_lease, alert_lease): 16
 * random bytes as 32 hex digits, never reused, so a restarted process is a new holder. */
#ifndef WF_ENGINE_LEASE_HOLDER_H
#define WF_ENGINE_LEASE_HOLDER_H

#define LEASE_HOLDER_SIZE 33 /* 32 hex digits and a NUL */

/* From getrandom(2); should it fail, from the clock and the pid (only uniqueness matters). */
void lease_holder_new(char out[LEASE_HOLDER_SIZE]);

#endif
