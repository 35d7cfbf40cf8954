
/*
 * Copyright (C) fsauth authors
 * BSD-2-Clause, see LICENSE.
 */


#ifndef _NGX_HTTP_FSAUTH_SIPHASH_H_INCLUDED_
#define _NGX_HTTP_FSAUTH_SIPHASH_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>


/*
 * SipHash-2-4 with a 128-bit output (Aumasson and Bernstein): a keyed
 * pseudo-random function, the cache's index of a token.  No nginx types,
 * so that its test builds it alone.
 */

#define NGX_HTTP_FSAUTH_SIPHASH_KEY_LEN   16

void ngx_http_fsauth_siphash128(const unsigned char *key,
    const unsigned char *in, size_t len, uint64_t out[2]);


#endif /* _NGX_HTTP_FSAUTH_SIPHASH_H_INCLUDED_ */
