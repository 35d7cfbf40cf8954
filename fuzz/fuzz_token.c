
/*
 * Copyright (C) fsauth authors
 * BSD-2-Clause, see LICENSE.
 */


/*
 * Token header value rules (ngx_http_fsauth_token_valid) and the
 * constant-time comparison with the global key
 * (ngx_http_fsauth_token_equal).
 *
 * Input: the whole input is a token header value.  It is also split in
 * two at the position given by its first byte (modulo its length): the
 * first part is used as the configured global key, the rest as the
 * presented token, and the comparison is checked against memcmp.  Each
 * part is copied into a buffer of exactly its size, so that ASan sees any
 * read past the end.
 */


#include "ngx_http_fsauth_module.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>


static int
fuzz_token_model(const uint8_t *p, size_t len)
{
    size_t  i;

    if (len < 1 || len > 99 || (len == 1 && p[0] == '0')) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (p[i] < 0x21 || p[i] > 0x7e) {
            return 0;
        }
    }

    return 1;
}


static u_char *
fuzz_copy(const uint8_t *p, size_t len)
{
    u_char  *copy;

    /* malloc(0) may return NULL; one byte keeps a real allocation */

    copy = malloc(len ? len : 1);
    if (copy == NULL) {
        abort();
    }

    if (len) {
        memcpy(copy, p, len);
    }

    return copy;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int         want, got;
    size_t      split;
    u_char     *all, *a, *b;
    ngx_str_t   secret, token;

    all = fuzz_copy(data, size);

    got = (ngx_http_fsauth_token_valid(all, size) == NGX_OK);
    want = fuzz_token_model(data, size);

    if (got != want) {
        abort();
    }

    split = size ? data[0] % (size + 1) : 0;

    a = fuzz_copy(data, split);
    b = fuzz_copy(data + split, size - split);

    secret.data = a;
    secret.len = split;
    token.data = b;
    token.len = size - split;

    want = (secret.len == token.len
            && (secret.len == 0 || memcmp(a, b, secret.len) == 0));

    if (ngx_http_fsauth_token_equal(&secret, &token) != (ngx_uint_t) want) {
        abort();
    }

    /* the same bytes on both sides are always equal */

    token.data = all;
    token.len = split;

    if (ngx_http_fsauth_token_equal(&secret, &token) != 1) {
        abort();
    }

    free(a);
    free(b);
    free(all);

    return 0;
}
