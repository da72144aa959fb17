/* The tests' one pseudo-random generator (unit, integration and bench runners alike):
 * splitmix64 from a fixed seed, small and the same on every platform, so a randomized test
 * that fails fails again the same way. A prng is a value with no shared state, so each load
 * thread keeps its own. */
#ifndef WF_TEST_PRNG_H
#define WF_TEST_PRNG_H

#include <stdint.h>

typedef struct {
    uint64_t state; /* the seed, then the generator's state */
} prng;

static inline uint64_t prng_next(prng *r)
{
    uint64_t z = (r->state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* Uniform in [low, high] (modulo bias aside: the tests want spread, not exact odds). */
static inline int64_t prng_range(prng *r, int64_t low, int64_t high)
{
    uint64_t span = (uint64_t)high - (uint64_t)low + 1u;
    return span == 0 ? (int64_t)prng_next(r) : low + (int64_t)(prng_next(r) % span);
}

/* Uniform in [0, bound), bound > 0 (modulo bias aside, as above). */
static inline uint64_t prng_below(prng *r, uint64_t bound)
{
    return prng_next(r) % bound;
}

#endif
