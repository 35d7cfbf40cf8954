
/*
 * Copyright (C) fsauth authors
 * BSD-2-Clause, see LICENSE.
 */


/*
 * The few nginx core functions that the fuzzed module files reference.
 * Debian's nginx-dev ships headers only, so these are small independent
 * implementations with the documented semantics of the nginx originals
 * (see nginx's src/core/ngx_string.h), written for the fuzzers.  The
 * functions the fuzzers never reach abort, so that reaching one is a
 * visible crash instead of a silent wrong answer.
 */


#include <ngx_config.h>
#include <ngx_core.h>

#include <stdlib.h>
#include <string.h>


/* decimal digits only, no sign; NGX_ERROR when empty or overflowing */

ngx_int_t
ngx_atoi(u_char *line, size_t n)
{
    ngx_int_t  value, digit;

    if (n == 0) {
        return NGX_ERROR;
    }

    value = 0;

    while (n--) {
        if (*line < '0' || *line > '9') {
            return NGX_ERROR;
        }

        digit = *line++ - '0';

        if (value > (NGX_MAX_INT_T_VALUE - digit) / 10) {
            return NGX_ERROR;
        }

        value = value * 10 + digit;
    }

    return value;
}


/* ASCII case-insensitive, stops at a NUL in either string, like nginx */

ngx_int_t
ngx_strncasecmp(u_char *s1, u_char *s2, size_t n)
{
    ngx_uint_t  a, b;

    while (n--) {
        a = ngx_tolower(*s1);
        b = ngx_tolower(*s2);
        s1++;
        s2++;

        if (a != b) {
            return (ngx_int_t) a - (ngx_int_t) b;
        }

        if (a == 0) {
            return 0;
        }
    }

    return 0;
}


void
ngx_explicit_memzero(void *buf, size_t n)
{
    explicit_bzero(buf, n);
}


u_char *
ngx_hex_dump(u_char *dst, u_char *src, size_t len)
{
    static const u_char  hex[] = "0123456789abcdef";

    while (len--) {
        *dst++ = hex[*src >> 4];
        *dst++ = hex[*src++ & 0xf];
    }

    return dst;
}


/* request-time helpers of ngx_http_fsauth_token.c the fuzzers never call */

void *
ngx_palloc(ngx_pool_t *pool, size_t size)
{
    abort();
}


void *
ngx_list_push(ngx_list_t *list)
{
    abort();
}


/* the cached clock that record.c reads for "expires": a fixed second */

static ngx_time_t  ngx_stub_time = { 1700000000, 0, 0 };

volatile ngx_time_t  *ngx_cached_time = &ngx_stub_time;
