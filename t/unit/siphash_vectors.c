
/*
 * Copyright (C) fsauth authors
 * BSD-2-Clause, see LICENSE.
 */


/*
 * SipHash-2-4-128 against the published test vectors: key 00 01 .. 0f,
 * input 00 01 .. (n - 1) for n = 0..16, 62 and 63 (every tail length, one
 * to eight words).  Prints one "ok"/"not ok" line per vector; exits 1 on
 * any mismatch.
 */

#include <stdio.h>
#include <string.h>

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


int
main(void)
{
    int             failed;
    size_t          i, j;
    uint64_t        out[2];
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

    printf("1..%zu\n", sizeof(vectors) / sizeof(vectors[0]));

    return failed;
}
