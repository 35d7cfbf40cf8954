
/*
 * Copyright (C) fsauth authors
 * BSD-2-Clause, see LICENSE.
 */


/*
 * The grant string of a "res:<resource>" field
 * (ngx_http_fsauth_grant_parse), checked against an independent model of
 * the README rule: a comma list of get, post, put, delete; spaces and
 * tabs around words, empty items and unknown words are ignored; words
 * are lower case.  The same bytes also go through
 * ngx_http_fsauth_record_field as a grant and are read back with
 * ngx_http_fsauth_record_extract.
 */


#include "ngx_http_fsauth_module.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>


static ngx_uint_t
fuzz_word(const uint8_t *w, size_t n)
{
    static const struct {
        const char  *text;
        ngx_uint_t   bit;
    } words[] = {
        { "get", NGX_HTTP_FSAUTH_GET },
        { "post", NGX_HTTP_FSAUTH_POST },
        { "put", NGX_HTTP_FSAUTH_PUT },
        { "delete", NGX_HTTP_FSAUTH_DELETE },
        { NULL, 0 }
    };
    size_t  i;

    for (i = 0; words[i].text; i++) {
        if (strlen(words[i].text) == n && memcmp(words[i].text, w, n) == 0) {
            return words[i].bit;
        }
    }

    return 0;
}


static ngx_uint_t
fuzz_grant_model(const uint8_t *p, size_t len)
{
    size_t      i, s, e;
    ngx_uint_t  mask;

    mask = 0;
    s = 0;

    for (i = 0; i <= len; i++) {
        if (i < len && p[i] != ',') {
            continue;
        }

        e = i;

        while (s < e && (p[s] == ' ' || p[s] == '\t')) {
            s++;
        }

        while (e > s && (p[e - 1] == ' ' || p[e - 1] == '\t')) {
            e--;
        }

        mask |= fuzz_word(p + s, e - s);
        s = i + 1;
    }

    return mask;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char                    *copy;
    ngx_str_t                  resource;
    ngx_uint_t                 mask;
    ngx_http_fsauth_result_t   res;
    ngx_http_fsauth_record_t   rec;

    copy = malloc(size ? size : 1);
    if (copy == NULL) {
        abort();
    }

    memcpy(copy, data, size);

    mask = ngx_http_fsauth_grant_parse(copy, size);

    if (mask != fuzz_grant_model(data, size) || mask > 0x0f) {
        abort();
    }

    ngx_http_fsauth_record_init(&rec);

    if (ngx_http_fsauth_record_field(&rec, (u_char *) "res:clientes", 12,
                                     copy, size)
        != NGX_OK)
    {
        abort();
    }

    ngx_str_set(&resource, "clientes");
    ngx_http_fsauth_record_extract(&rec, &resource, &res);

    if (!res.has_grant || res.mask != mask) {
        abort();
    }

    free(copy);

    return 0;
}
