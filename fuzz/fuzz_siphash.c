
/*
 * Copyright (C) fsauth authors
 * BSD-2-Clause, see LICENSE.
 */


/*
 * ngx_http_fsauth_siphash128(), the cache's token index, against a model
 * that takes its input one byte at a time (the module's reads whole
 * words, then a tail): every length and key, not only the published
 * vectors' (t/009-siphash.t).
 *
 * Input: the first 16 bytes are the key, the rest the message.
 */


#include "ngx_http_fsauth_siphash.h"

#include <stdint.h>
#include <stdlib.h>


static uint64_t
fuzz_siphash_rotl(uint64_t x, int b)
{
    return (x << b) | (x >> (64 - b));
}


static void
fuzz_siphash_round(uint64_t *v)
{
    v[0] += v[1];
    v[1] = fuzz_siphash_rotl(v[1], 13) ^ v[0];
    v[0] = fuzz_siphash_rotl(v[0], 32);
    v[2] += v[3];
    v[3] = fuzz_siphash_rotl(v[3], 16) ^ v[2];
    v[0] += v[3];
    v[3] = fuzz_siphash_rotl(v[3], 21) ^ v[0];
    v[2] += v[1];
    v[1] = fuzz_siphash_rotl(v[1], 17) ^ v[2];
    v[2] = fuzz_siphash_rotl(v[2], 32);
}


static void
fuzz_siphash_word(uint64_t *v, uint64_t m)
{
    v[3] ^= m;
    fuzz_siphash_round(v);
    fuzz_siphash_round(v);
    v[0] ^= m;
}


static void
fuzz_siphash_model(const uint8_t *key, const uint8_t *in, size_t len,
    uint64_t out[2])
{
    int       r;
    size_t    i;
    uint64_t  k[2] = { 0, 0 }, v[4], m;

    for (i = 0; i < 16; i++) {
        k[i / 8] |= (uint64_t) key[i] << (8 * (i % 8));
    }

    v[0] = k[0] ^ 0x736f6d6570736575ULL;
    v[1] = k[1] ^ 0x646f72616e646f6dULL ^ 0xee;
    v[2] = k[0] ^ 0x6c7967656e657261ULL;
    v[3] = k[1] ^ 0x7465646279746573ULL;

    m = 0;

    for (i = 0; i < len; i++) {
        m |= (uint64_t) in[i] << (8 * (i % 8));

        if (i % 8 == 7) {
            fuzz_siphash_word(v, m);
            m = 0;
        }
    }

    fuzz_siphash_word(v, m | (uint64_t) (len & 0xff) << 56);

    v[2] ^= 0xee;

    for (r = 0; r < 4; r++) {
        fuzz_siphash_round(v);
    }

    out[0] = v[0] ^ v[1] ^ v[2] ^ v[3];

    v[1] ^= 0xdd;

    for (r = 0; r < 4; r++) {
        fuzz_siphash_round(v);
    }

    out[1] = v[0] ^ v[1] ^ v[2] ^ v[3];
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t  got[2], want[2];

    if (size < 16) {
        return 0;
    }

    ngx_http_fsauth_siphash128(data, data + 16, size - 16, got);
    fuzz_siphash_model(data, data + 16, size - 16, want);

    if (got[0] != want[0] || got[1] != want[1]) {
        abort();
    }

    return 0;
}
