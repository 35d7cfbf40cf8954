
/*
 * Copyright (C) fsauth authors
 * BSD-2-Clause, see LICENSE.
 */


/*
 * SipHash-2-4-128 against the published test vectors: key 00 01 .. 0f,
 * input 00 01 .. (n - 1) for n = 0..16, 62 and 63 (every tail length, one
 * to eight words).  SipHash-2-4-64 of 8 bytes against the published
 * vector of that length, then against OpenSSL's SIPHASH for 256 random
 * keys and inputs.  Prints one "ok"/"not ok" line per check; exits 1 on
 * any mismatch.
 */

#include <stdio.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "ngx_http_fsauth_siphash.h"


static const struct {
    size_t       len;
    const char  *hex;
} vectors[] = {
    { 0, "a3817f04ba25a8e66df67214c7550293" },
    { 1, "da87c1d86b99af44347659119b22fc45" },
    { 2, "8177228da4a45dc7fca38bdef60affe4" },
    { 3, "9c70b60c5267a94e5f33b6b02985ed51" },
    { 4, "f88164c12d9c8faf7d0f6e7c7bcd5579" },
    { 5, "1368875980776f8854527a07690e9627" },
    { 6, "14eeca338b208613485ea0308fd7a15e" },
    { 7, "a1f1ebbed8dbc153c0b84aa61ff08239" },
    { 8, "3b62a9ba6258f5610f83e264f31497b4" },
    { 9, "264499060ad9baabc47f8b02bb6d71ed" },
    { 10, "00110dc378146956c95447d3f3d0fbba" },
    { 11, "0151c568386b6677a2b4dc6f81e5dc18" },
    { 12, "d626b266905ef35882634df68532c125" },
    { 13, "9869e247e9c08b10d029934fc4b952f7" },
    { 14, "31fcefac66d7de9c7ec7485fe4494902" },
    { 15, "5493e99933b0a8117e08ec0f97cfc3d9" },
    { 16, "6ee2a4ca67b054bbfd3315bf85230577" },
    { 62, "5853542321f567a005d547a4f04759bd" },
    { 63, "5150d1772f50834a503e069a973fbd7c" },
};


/* the 64-bit output as OpenSSL gives it: its 8 bytes, little-endian */

static int
openssl_siphash64(const unsigned char *key, const unsigned char *in,
    uint64_t *out)
{
    int             ok;
    size_t          n, i, size;
    EVP_MAC        *mac;
    OSSL_PARAM      params[2];
    EVP_MAC_CTX    *ctx;
    unsigned char   bytes[8];

    size = 8;
    params[0] = OSSL_PARAM_construct_size_t(OSSL_MAC_PARAM_SIZE, &size);
    params[1] = OSSL_PARAM_construct_end();

    mac = EVP_MAC_fetch(NULL, "SIPHASH", NULL);
    ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;

    ok = ctx != NULL
         && EVP_MAC_init(ctx, key, 16, params)
         && EVP_MAC_update(ctx, in, 8)
         && EVP_MAC_final(ctx, bytes, &n, sizeof(bytes))
         && n == 8;

    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(mac);

    *out = 0;

    for (i = 0; i < 8; i++) {
        *out |= (uint64_t) bytes[i] << (8 * i);
    }

    return ok;
}


int
main(void)
{
    int             failed;
    size_t          i, j, n;
    uint64_t        out[2], got, want;
    unsigned char   key[16], in[64], bytes[16];
    char            hex[33];

    for (i = 0; i < sizeof(key); i++) {
        key[i] = (unsigned char) i;
    }

    for (i = 0; i < sizeof(in); i++) {
        in[i] = (unsigned char) i;
    }

    failed = 0;

    for (i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
        ngx_http_fsauth_siphash128(key, in, vectors[i].len, out);

        /* the output is the two words, each little-endian */

        for (j = 0; j < 16; j++) {
            bytes[j] = (unsigned char) (out[j / 8] >> (8 * (j % 8)));
        }

        for (j = 0; j < 16; j++) {
            snprintf(hex + 2 * j, 3, "%02x", bytes[j]);
        }

        if (strcmp(hex, vectors[i].hex) == 0) {
            printf("ok %zu - SipHash-2-4-128 of %zu bytes\n", i + 1,
                   vectors[i].len);

        } else {
            printf("not ok %zu - SipHash-2-4-128 of %zu bytes: %s, "
                   "expected %s\n", i + 1, vectors[i].len, hex,
                   vectors[i].hex);
            failed = 1;
        }
    }

    n = sizeof(vectors) / sizeof(vectors[0]);

    /* vectors_sip64[8] of the reference code: 62 24 93 9a 79 f5 f5 93 */

    got = ngx_http_fsauth_siphash64_word(key, in);

    if (got == 0x93f5f5799a932462ULL) {
        printf("ok %zu - SipHash-2-4-64 of 8 bytes\n", ++n);

    } else {
        printf("not ok %zu - SipHash-2-4-64 of 8 bytes: %016llx\n", ++n,
               (unsigned long long) got);
        failed = 1;
    }

    for (i = 0; i < 256; i++) {
        if (RAND_bytes(key, sizeof(key)) != 1 || RAND_bytes(in, 8) != 1
            || !openssl_siphash64(key, in, &want))
        {
            printf("not ok %zu - OpenSSL's SIPHASH is unavailable\n", ++n);
            failed = 1;
            break;
        }

        got = ngx_http_fsauth_siphash64_word(key, in);

        if (got == want) {
            printf("ok %zu - SipHash-2-4-64, random key %zu, as OpenSSL\n",
                   ++n, i);

        } else {
            printf("not ok %zu - SipHash-2-4-64, random key %zu: %016llx, "
                   "OpenSSL %016llx\n", ++n, i, (unsigned long long) got,
                   (unsigned long long) want);
            failed = 1;
        }
    }

    printf("1..%zu\n", n);

    return failed;
}
