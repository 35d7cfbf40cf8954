
/*
 * Copyright (C) fsauth authors
 * BSD-2-Clause, see LICENSE.
 */


#include "ngx_http_fsauth_module.h"


static ngx_uint_t ngx_http_fsauth_resource_dots(u_char *p, u_char *last);
static ngx_uint_t ngx_http_fsauth_resource_like_api(u_char *p, u_char *last);


/*
 * The resource is the segment after "/api/<version>/" in the raw path, as
 * FacturaScripts reads it: not decoded, case kept.  Anything that nginx,
 * an intermediate proxy or PHP could split differently is refused
 * (NGX_DECLINED) instead of guessed: bytes PHP's FILTER_SANITIZE_URL
 * deletes, "\", "#", encoded "/", "\" or NUL, dot segments (also encoded),
 * empty segments ("//"), and a segment that reads "api" once decoded or
 * case-folded ("/API/", "/%61pi/"): nginx's location match, or an
 * upstream given the normalized URI, may take it for the API while the
 * raw path has no resource at all.
 */

/* bytes a raw path may hold: 0x21..0x7e, but "#" and "\" */

static uint32_t  ngx_http_fsauth_path_bytes[] = {
    0x00000000,  /* 0x00 - 0x1f */
    0xfffffff6,  /* 0x20 - 0x3f: not " " nor "#" */
    0xefffffff,  /* 0x40 - 0x5f: not "\" */
    0x7fffffff,  /* 0x60 - 0x7f: not DEL */
    0x00000000, 0x00000000, 0x00000000, 0x00000000
};


ngx_int_t
ngx_http_fsauth_resource_parse(u_char *p, size_t len, ngx_str_t *resource)
{
    u_char      *q, *seg, *last, c;
    ngx_uint_t   n, api;

    last = p + len;

    ngx_str_null(resource);

    if (len == 0 || *p != '/') {
        return NGX_DECLINED;
    }

    /* one pass: check each byte, and judge each segment at its end */

    n = 0;
    api = 0;
    seg = p + 1;

    for (q = seg; /* void */; q++) {

        if (q == last || *q == '/') {

            if (q == seg) {
                if (q != last) {
                    goto ambiguous;
                }

            } else if ((*seg == '.' || *seg == '%')
                       && ngx_http_fsauth_resource_dots(seg, q))
            {
                goto ambiguous;
            }

            if (api == 0) {
                if (q - seg == 3
                    && seg[0] == 'a' && seg[1] == 'p' && seg[2] == 'i')
                {
                    api = 1;

                } else if (q - seg >= 3
                           && (*seg == '%' || (*seg | 0x20) == 'a')
                           && ngx_http_fsauth_resource_like_api(seg, q))
                {
                    goto ambiguous;
                }

            } else if (++n == 2) {
                resource->data = seg;
                resource->len = q - seg;
            }

            if (q == last) {
                break;
            }

            seg = q + 1;
            continue;
        }

        c = *q;

        if (!(ngx_http_fsauth_path_bytes[c >> 5] & (1U << (c & 0x1f)))) {
            goto ambiguous;
        }

        if (c == '%') {
            if (last - q < 3
                || (q[1] == '0' && q[2] == '0')
                || (q[1] == '2' && (q[2] | 0x20) == 'f')
                || (q[1] == '5' && (q[2] | 0x20) == 'c'))
            {
                goto ambiguous;
            }
        }
    }

    if (resource->data == NULL) {
        resource->data = p;
        resource->len = 0;
    }

    return NGX_OK;

ambiguous:

    /* no resource is reported for a path that was not understood */

    ngx_str_null(resource);

    return NGX_DECLINED;
}


/* is the segment "." or "..", with each dot possibly written "%2e"? */

static ngx_uint_t
ngx_http_fsauth_resource_dots(u_char *p, u_char *last)
{
    ngx_uint_t  dots;

    dots = 0;

    while (p < last) {
        if (*p == '.') {
            p++;

        } else if (last - p >= 3 && p[0] == '%' && p[1] == '2'
                   && (p[2] == 'e' || p[2] == 'E'))
        {
            p += 3;

        } else {
            return 0;
        }

        if (++dots > 2) {
            return 0;
        }
    }

    return dots > 0;
}


/* is the segment "api" after percent-decoding and ASCII case folding? */

static ngx_uint_t
ngx_http_fsauth_resource_like_api(u_char *p, u_char *last)
{
    u_char      c, d;
    ngx_uint_t  i, j;

    for (i = 0; i < 3; i++) {

        if (p == last) {
            return 0;
        }

        c = *p++;

        if (c == '%') {
            if (last - p < 2) {
                return 0;
            }

            c = 0;

            for (j = 0; j < 2; j++) {
                d = ngx_tolower(p[j]);

                if (d >= '0' && d <= '9') {
                    c = (u_char) (c << 4 | (d - '0'));

                } else if (d >= 'a' && d <= 'f') {
                    c = (u_char) (c << 4 | (d - 'a' + 10));

                } else {
                    return 0;
                }
            }

            p += 2;
        }

        if (ngx_tolower(c) != "api"[i]) {
            return 0;
        }
    }

    return p == last;
}


/*
 * The shared method -> grant word map, fsauth_method_grant(), for the
 * method nginx has parsed already: a switch on r->method costs less than
 * comparing r->method_name.  fuzz/fuzz_resource.c checks that both give
 * the same word for every method nginx knows.
 */

ngx_uint_t
ngx_http_fsauth_method_mask(ngx_uint_t method)
{
    switch (method) {

    case NGX_HTTP_GET:
        return FSAUTH_GRANT_GET;

    case NGX_HTTP_POST:
        return FSAUTH_GRANT_POST;

    case NGX_HTTP_PUT:
    case NGX_HTTP_PATCH:
        return FSAUTH_GRANT_PUT;

    case NGX_HTTP_DELETE:
        return FSAUTH_GRANT_DELETE;

    default:
        return 0;
    }
}
