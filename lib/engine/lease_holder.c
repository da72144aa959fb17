/* A lease holder's name (see lease_holder.h). */
#include "engine/lease_holder.h"

#include "util/log.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

void lease_holder_new(char out[LEASE_HOLDER_SIZE])
{
    uint8_t id[16];
    if (getrandom(id, sizeof id, 0) != (ssize_t)sizeof id) {
        /* Only uniqueness matters: fall back on what tells processes and starts apart. */
        int64_t now = clock_ms();
        pid_t pid = getpid();
        memset(id, 0, sizeof id);
        memcpy(id, &now, sizeof now);
        memcpy(id + sizeof now, &pid, sizeof pid);
    }
    for (size_t i = 0; i < sizeof id; i++) {
        snprintf(out + 2 * i, 3, "%02x", id[i]);
    }
}
