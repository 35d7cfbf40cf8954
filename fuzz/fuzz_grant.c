
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
 * ngx_http_fsauth_record_extract.  Then the shared access decision
 * (fsauth_decide, with fsauth_method_grant) for that grant is checked
 * against a model of the README's decision order, and the grant string
 * fsauthctl writes for the mask (fsauth_grant_format) must parse back
 * to it.
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


/* the README: GET get, POST post, PUT and PATCH put, DELETE delete */

static const struct {
    const char  *method;
    ngx_uint_t   bit;
} fuzz_methods[] = {
    { "GET", NGX_HTTP_FSAUTH_GET },
    { "POST", NGX_HTTP_FSAUTH_POST },
    { "PUT", NGX_HTTP_FSAUTH_PUT },
    { "PATCH", NGX_HTTP_FSAUTH_PUT },
    { "DELETE", NGX_HTTP_FSAUTH_DELETE },
    { "HEAD", 0 },
    { "OPTIONS", 0 },
    { "TRACE", 0 },
    { "get", 0 },
    { "Get", 0 },
    { "GETX", 0 },
    { "", 0 },
    { NULL, 0 }
};


/* 0 allowed, 401 or 403, in the README's order */

static int
fuzz_decide_model(int found, int enabled, int fullaccess, int listing,
    int has_grant, ngx_uint_t grant, ngx_uint_t bit)
{
    if (!found || !enabled) {
        return 401;
    }

    if (listing || fullaccess) {
        return 0;
    }

    if (bit == 0 || !has_grant || !(grant & bit)) {
        return 403;
    }

    return 0;
}


static void
fuzz_decide(ngx_uint_t mask)
{
    int                i, bits, want;
    char               text[FSAUTH_GRANT_TEXT_SIZE];
    size_t             len;
    fsauth_decision_e  got;

    len = fsauth_grant_format(mask, text);

    if (len != strlen(text) || len >= sizeof(text)
        || fsauth_grant_parse(text, len) != mask)
    {
        abort();
    }

    for (i = 0; fuzz_methods[i].method; i++) {

        if (fsauth_method_grant(fuzz_methods[i].method,
                                strlen(fuzz_methods[i].method))
            != fuzz_methods[i].bit)
        {
            abort();
        }

        /* found, enabled, fullaccess, listing, has_grant */

        for (bits = 0; bits < 32; bits++) {
            want = fuzz_decide_model(bits & 1, bits & 2, bits & 4, bits & 8,
                                     bits & 16, mask, fuzz_methods[i].bit);

            got = fsauth_decide((bits & 1) && (bits & 2), bits & 4,
                                (bits & 8) ? 0 : 8, bits & 16,
                                (bits & 16) ? mask : 0,
                                fsauth_method_grant(fuzz_methods[i].method,
                                        strlen(fuzz_methods[i].method)));

            if ((want == 0 && got != FSAUTH_ALLOW)
                || (want == 401 && got != FSAUTH_DENY_KEY)
                || (want == 403 && got != FSAUTH_DENY_GRANT))
            {
                abort();
            }
        }
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char                    *copy;
    ngx_str_t                  resource;
    ngx_uint_t                 mask;
    struct sockaddr_in         sin;
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

    ngx_memzero(&sin, sizeof(struct sockaddr_in));
    sin.sin_family = AF_INET;

    ngx_str_set(&resource, "clientes");
    ngx_http_fsauth_record_extract(&rec, &resource, (struct sockaddr *) &sin,
                                   &res);

    if (!res.has_grant || res.mask != mask || res.outside) {
        abort();
    }

    fuzz_decide(mask);

    free(copy);

    return 0;
}
