/* gen_rng.c: xoshiro256** seeded through splitmix64; identical streams on every machine. */
#include "gen_internal.h"

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += UINT64_C(0x9e3779b97f4a7c15));

    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

void ow__gen_rng_seed(struct ow_gen_rng *r, uint64_t seed, uint64_t stream)
{
    uint64_t x = seed ^ (stream * UINT64_C(0xd1b54a32d192ed03));

    for (int i = 0; i < 4; i++) {
        r->s[i] = splitmix64(&x);
    }
}

uint64_t ow__gen_rng_next(struct ow_gen_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;

    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

int64_t ow__gen_rng_range(struct ow_gen_rng *r, int64_t lo, int64_t hi)
{
    uint64_t span = (uint64_t)(hi - lo) + 1;
    uint64_t limit;
    uint64_t x;

    if (span == 0) {
        return (int64_t)ow__gen_rng_next(r);
    }
    /* Rejection sampling keeps the draw unbiased. */
    limit = UINT64_MAX - UINT64_MAX % span;
    do {
        x = ow__gen_rng_next(r);
    } while (x >= limit);
    return lo + (int64_t)(x % span);
}

bool ow__gen_rng_chance(struct ow_gen_rng *r, int permille)
{
    return ow__gen_rng_range(r, 0, 999) < permille;
}

void ow__gen_rng_shuffle_int(struct ow_gen_rng *r, int *v, int n)
{
    for (int i = n - 1; i > 0; i--) {
        int j = (int)ow__gen_rng_range(r, 0, i);
        int tmp = v[i];

        v[i] = v[j];
        v[j] = tmp;
    }
}
