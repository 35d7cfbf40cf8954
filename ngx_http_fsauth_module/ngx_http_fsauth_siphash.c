
/*
 * Copyright (C) fsauth authors
 * BSD-2-Clause, see LICENSE.
 */


#include <string.h>

#include "ngx_http_fsauth_siphash.h"


/*
 * Written from the paper's description: the state is four 64-bit words
 * initialised from the key, every 8-byte little-endian word of the input
 * is mixed in with two rounds, the last word carries the length in its
 * top byte, and four rounds finish each 64-bit half of the output.
 */


#define ngx_http_fsauth_rotl(x, b)  (((x) << (b)) | ((x) >> (64 - (b))))

#define ngx_http_fsauth_sipround(v0, v1, v2, v3)                              \
    v0 += v1; v1 = ngx_http_fsauth_rotl(v1, 13); v1 ^= v0;                    \
    v0 = ngx_http_fsauth_rotl(v0, 32);                                        \
    v2 += v3; v3 = ngx_http_fsauth_rotl(v3, 16); v3 ^= v2;                    \
    v0 += v3; v3 = ngx_http_fsauth_rotl(v3, 21); v3 ^= v0;                    \
    v2 += v1; v1 = ngx_http_fsauth_rotl(v1, 17); v1 ^= v2;                    \
    v2 = ngx_http_fsauth_rotl(v2, 32)


static uint64_t
ngx_http_fsauth_siphash_le64(const unsigned char *p)
{
    return (uint64_t) p[0] | (uint64_t) p[1] << 8 | (uint64_t) p[2] << 16
           | (uint64_t) p[3] << 24 | (uint64_t) p[4] << 32
           | (uint64_t) p[5] << 40 | (uint64_t) p[6] << 48
           | (uint64_t) p[7] << 56;
}


void
ngx_http_fsauth_siphash128(const unsigned char *key, const unsigned char *in,
    size_t len, uint64_t out[2])
{
    size_t          i, left;
    uint64_t        k0, k1, v0, v1, v2, v3, m;
    unsigned char   tail[8];

    k0 = ngx_http_fsauth_siphash_le64(key);
    k1 = ngx_http_fsauth_siphash_le64(key + 8);

    /* "somepseudorandomlygeneratedbytes"; 0xee marks the 128-bit output */

    v0 = k0 ^ 0x736f6d6570736575ULL;
    v1 = k1 ^ 0x646f72616e646f6dULL ^ 0xee;
    v2 = k0 ^ 0x6c7967656e657261ULL;
    v3 = k1 ^ 0x7465646279746573ULL;

    for (i = 0; i + 8 <= len; i += 8) {
        m = ngx_http_fsauth_siphash_le64(in + i);

        v3 ^= m;
        ngx_http_fsauth_sipround(v0, v1, v2, v3);
        ngx_http_fsauth_sipround(v0, v1, v2, v3);
        v0 ^= m;
    }

    left = len - i;

    memset(tail, 0, sizeof(tail));
    memcpy(tail, in + i, left);
    tail[7] = (unsigned char) len;

    m = ngx_http_fsauth_siphash_le64(tail);

    v3 ^= m;
    ngx_http_fsauth_sipround(v0, v1, v2, v3);
    ngx_http_fsauth_sipround(v0, v1, v2, v3);
    v0 ^= m;

    v2 ^= 0xee;

    for (i = 0; i < 4; i++) {
        ngx_http_fsauth_sipround(v0, v1, v2, v3);
    }

    out[0] = v0 ^ v1 ^ v2 ^ v3;

    v1 ^= 0xdd;

    for (i = 0; i < 4; i++) {
        ngx_http_fsauth_sipround(v0, v1, v2, v3);
    }

    out[1] = v0 ^ v1 ^ v2 ^ v3;
}


/*
 * SipHash-2-4 with a 64-bit output of exactly 8 bytes: one word, then the
 * length word (8 in its top byte), and four rounds (0xff marks the 64-bit
 * output).  About half the rounds of the 128-bit one over a digest.
 */

uint64_t
ngx_http_fsauth_siphash64_word(const unsigned char *key,
    const unsigned char *in)
{
    int        i;
    uint64_t   k0, k1, v0, v1, v2, v3, m;

    k0 = ngx_http_fsauth_siphash_le64(key);
    k1 = ngx_http_fsauth_siphash_le64(key + 8);

    v0 = k0 ^ 0x736f6d6570736575ULL;
    v1 = k1 ^ 0x646f72616e646f6dULL;
    v2 = k0 ^ 0x6c7967656e657261ULL;
    v3 = k1 ^ 0x7465646279746573ULL;

    m = ngx_http_fsauth_siphash_le64(in);

    v3 ^= m;
    ngx_http_fsauth_sipround(v0, v1, v2, v3);
    ngx_http_fsauth_sipround(v0, v1, v2, v3);
    v0 ^= m;

    m = (uint64_t) 8 << 56;

    v3 ^= m;
    ngx_http_fsauth_sipround(v0, v1, v2, v3);
    ngx_http_fsauth_sipround(v0, v1, v2, v3);
    v0 ^= m;

    v2 ^= 0xff;

    for (i = 0; i < 4; i++) {
        ngx_http_fsauth_sipround(v0, v1, v2, v3);
    }

    return v0 ^ v1 ^ v2 ^ v3;
}
