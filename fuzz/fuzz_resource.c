
/*
 * Copyright (C) fsauth authors
 * BSD-2-Clause, see LICENSE.
 */


/*
 * Resource extraction from the raw request path
 * (ngx_http_fsauth_resource_parse), checked against an independent,
 * deliberately naive model of the README's Resource rule and its list of
 * refused paths, plus the rule that no segment before the "api" one may
 * read "api" once decoded or lower-cased ("/API/", "/%61pi/").
 *
 * Input: the raw path as the handler passes it ($request_uri without the
 * query string: nginx never gives it a "?" but the parser must not care).
 * The bytes are copied into an allocation of exactly their size.
 */


#include "ngx_http_fsauth_module.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>


#define FUZZ_SEGMENTS_MAX  65536


typedef struct {
    size_t  start;
    size_t  len;
} fuzz_seg_t;


static int
fuzz_hexpair_is(const uint8_t *p, const char *pair)
{
    return (p[0] | 0x20) == (pair[0] | 0x20)
           && (p[1] | 0x20) == (pair[1] | 0x20);
}


/* "." or "..", each dot possibly written %2e or %2E */

static int
fuzz_is_dots(const uint8_t *p, size_t len)
{
    size_t  i, units;

    units = 0;

    for (i = 0; i < len; /* void */) {
        if (p[i] == '.') {
            i += 1;

        } else if (len - i >= 3 && p[i] == '%' && p[i + 1] == '2'
                   && (p[i + 2] == 'e' || p[i + 2] == 'E'))
        {
            i += 3;

        } else {
            return 0;
        }

        units++;
    }

    return units == 1 || units == 2;
}


/* "api" once %XX escapes are decoded and letters lower-cased */

static int
fuzz_like_api(const uint8_t *p, size_t len)
{
    size_t   i, n;
    uint8_t  out[3], c;

    n = 0;

    for (i = 0; i < len; /* void */) {
        c = p[i];

        /* the shared hex digit rule: the module's parser has its own */

        if (c == '%' && len - i >= 3 && fsauth_hex_digit(p[i + 1]) >= 0
            && fsauth_hex_digit(p[i + 2]) >= 0)
        {
            c = (uint8_t) (fsauth_hex_digit(p[i + 1]) << 4
                           | fsauth_hex_digit(p[i + 2]));
            i += 3;

        } else {
            i += 1;
        }

        if (n == 3) {
            return 0;
        }

        out[n++] = (c >= 'A' && c <= 'Z') ? (uint8_t) (c | 0x20) : c;
    }

    return n == 3 && memcmp(out, "api", 3) == 0;
}


/* 1: accepted with *rs, *rl the resource; 0: refused */

static int
fuzz_resource_model(const uint8_t *p, size_t len, size_t *rs, size_t *rl,
    fuzz_seg_t *segs)
{
    size_t  i, n, start, k;

    *rs = 0;
    *rl = 0;

    if (len == 0 || p[0] != '/') {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (p[i] <= 0x20 || p[i] >= 0x7f || p[i] == '\\' || p[i] == '#') {
            return 0;
        }

        if (p[i] == '%') {
            if (len - i < 3) {
                return 0;
            }

            if (fuzz_hexpair_is(&p[i + 1], "00")
                || fuzz_hexpair_is(&p[i + 1], "2f")
                || fuzz_hexpair_is(&p[i + 1], "5c"))
            {
                return 0;
            }
        }
    }

    n = 0;
    start = 1;

    for (i = 1; i <= len; i++) {
        if (i == len || p[i] == '/') {
            if (n == FUZZ_SEGMENTS_MAX) {
                abort();
            }

            segs[n].start = start;
            segs[n].len = i - start;
            n++;
            start = i + 1;
        }
    }

    for (k = 0; k < n; k++) {
        if (segs[k].len == 0 && k + 1 < n) {
            return 0;
        }

        if (fuzz_is_dots(p + segs[k].start, segs[k].len)) {
            return 0;
        }
    }

    for (k = 0; k < n; k++) {
        if (segs[k].len == 3 && memcmp(p + segs[k].start, "api", 3) == 0) {
            if (k + 2 < n) {
                *rs = segs[k + 2].start;
                *rl = segs[k + 2].len;
            }

            break;
        }

        /* before the "api" segment: nothing that decodes to "api" */

        if (fuzz_like_api(p + segs[k].start, segs[k].len)) {
            return 0;
        }
    }

    return 1;
}


/*
 * The module maps the method nginx parsed (r->method) to a grant word
 * with a switch; it must be the shared map of method names,
 * fsauth_method_grant(), for every method nginx knows.  Checked once.
 */

static const struct {
    ngx_uint_t   method;
    const char  *name;
} fuzz_methods[] = {
    { NGX_HTTP_GET, "GET" },
    { NGX_HTTP_HEAD, "HEAD" },
    { NGX_HTTP_POST, "POST" },
    { NGX_HTTP_PUT, "PUT" },
    { NGX_HTTP_DELETE, "DELETE" },
    { NGX_HTTP_MKCOL, "MKCOL" },
    { NGX_HTTP_COPY, "COPY" },
    { NGX_HTTP_MOVE, "MOVE" },
    { NGX_HTTP_OPTIONS, "OPTIONS" },
    { NGX_HTTP_PROPFIND, "PROPFIND" },
    { NGX_HTTP_PROPPATCH, "PROPPATCH" },
    { NGX_HTTP_LOCK, "LOCK" },
    { NGX_HTTP_UNLOCK, "UNLOCK" },
    { NGX_HTTP_PATCH, "PATCH" },
    { NGX_HTTP_TRACE, "TRACE" },
#ifdef NGX_HTTP_CONNECT
    { NGX_HTTP_CONNECT, "CONNECT" },
#endif
    { NGX_HTTP_UNKNOWN, "FROB" },
    { 0, NULL }
};


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    ngx_uint_t  i;

    for (i = 0; fuzz_methods[i].name; i++) {
        if (ngx_http_fsauth_method_mask(fuzz_methods[i].method)
            != fsauth_method_grant(fuzz_methods[i].name,
                                   strlen(fuzz_methods[i].name)))
        {
            abort();
        }
    }

    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int                want;
    size_t             rs, rl;
    u_char            *path;
    ngx_int_t          rc;
    ngx_str_t          resource;
    static fuzz_seg_t  segs[FUZZ_SEGMENTS_MAX];

    if (size >= FUZZ_SEGMENTS_MAX) {
        return 0;
    }

    path = malloc(size ? size : 1);
    if (path == NULL) {
        abort();
    }

    memcpy(path, data, size);

    rc = ngx_http_fsauth_resource_parse(path, size, &resource);
    want = fuzz_resource_model(data, size, &rs, &rl, segs);

    if ((rc == NGX_OK) != want) {
        abort();
    }

    if (rc == NGX_OK) {
        if (resource.len != rl) {
            abort();
        }

        if (rl
            && (resource.data != path + rs
                || memchr(resource.data, '/', resource.len) != NULL))
        {
            abort();
        }

        if (resource.data == NULL
            || resource.data < path || resource.data > path + size)
        {
            abort();
        }

    } else if (resource.len != 0
               && (resource.data < path
                   || resource.data + resource.len > path + size))
    {
        /*
         * A refused path may leave the segment found before the refusal
         * in *resource (e.g. "/api/3/clientes/../x" gives "clientes",
         * which then shows in $fsauth_resource of the 403); only its
         * bounds are checked.
         */
        abort();
    }

    free(path);

    return 0;
}
