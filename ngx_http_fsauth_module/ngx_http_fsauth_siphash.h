
/*
 * Copyright (C) fsauth authors
 * BSD-2-Clause, see LICENSE.
 */


#ifndef _NGX_HTTP_FSAUTH_SIPHASH_H_INCLUDED_
#define _NGX_HTTP_FSAUTH_SIPHASH_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


/*
 * SipHash-2-4 (Aumasson and Bernstein), a keyed pseudo-random function:
 * with a 128-bit output, the cache's index of a token.  No nginx types,
 * so that its test builds it alone.
 */

#define NGX_HTTP_FSAUTH_SIPHASH_KEY_LEN   16

void ngx_http_fsauth_siphash128(const unsigned char *key,
    const unsigned char *in, size_t len, uint64_t out[2]);

/* SipHash-2-4-64 of 8 bytes: the cache's digest table bucket */

uint64_t ngx_http_fsauth_siphash64_word(const unsigned char *key,
    const unsigned char *in);


#endif /* _NGX_HTTP_FSAUTH_SIPHASH_H_INCLUDED_ */
