
/*
 * Copyright (C) fsauth authors
 * BSD-2-Clause, see LICENSE.
 */


#include "ngx_http_fsauth_module.h"


/*
 * Token digests: the rbtree keyed by them (the cache and the pending
 * lookups) and their lower-case hex form (Redis key names, logs).
 */


/*
 * The first four bytes are the tree key, the whole digest breaks ties.
 * "offset" is where a node's digest lies, counted from the node.
 */

ngx_rbtree_node_t *
ngx_http_fsauth_digest_find(ngx_rbtree_t *tree, u_char *digest,
    size_t offset)
{
    ngx_int_t           rc;
    ngx_rbtree_key_t    key;
    ngx_rbtree_node_t  *node, *sentinel;

    key = ngx_http_fsauth_digest_key(digest);

    node = tree->root;
    sentinel = tree->sentinel;

    while (node != sentinel) {

        if (key != node->key) {
            node = (key < node->key) ? node->left : node->right;
            continue;
        }

        rc = ngx_memcmp(digest, (u_char *) node + offset,
                        NGX_HTTP_FSAUTH_DIGEST_LEN);

        if (rc == 0) {
            return node;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}


void
ngx_http_fsauth_digest_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel, size_t offset)
{
    ngx_rbtree_node_t  **p;

    for ( ;; ) {

        if (node->key != temp->key) {
            p = (node->key < temp->key) ? &temp->left : &temp->right;

        } else {
            p = (ngx_memcmp((u_char *) node + offset, (u_char *) temp + offset,
                            NGX_HTTP_FSAUTH_DIGEST_LEN) < 0)
                ? &temp->left : &temp->right;
        }

        if (*p == sentinel) {
            break;
        }

        temp = *p;
    }

    *p = node;
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    ngx_rbt_red(node);
}


/*
 * Lower-case hex.  A miss writes 64 digits: four bytes at a time, the
 * nibbles are spread into eight lanes and made digits together, a few
 * times fewer instructions than ngx_hex_dump()'s digit at a time.
 */

u_char *
ngx_http_fsauth_digest_hex(u_char *dst, u_char *src, size_t len)
{
    u_char         *last;
#if (NGX_HAVE_LITTLE_ENDIAN)
    uint32_t        x;
    uint64_t        y, n, m;
#endif
    static u_char   digits[] = "0123456789abcdef";

#if (NGX_HAVE_LITTLE_ENDIAN)

    for (last = src + (len & ~(size_t) 3); src < last; src += 4) {
        ngx_memcpy(&x, src, 4);

        /* each byte into the low half of its own 16-bit lane */

        y = (x & 0xffff) | (uint64_t) (x & 0xffff0000) << 16;
        y = (y & 0x000000ff000000ff) | (y & 0x0000ff000000ff00) << 8;

        /* the high nibble first in memory, then the low one */

        n = (y >> 4 & 0x000f000f000f000f) | (y & 0x000f000f000f000f) << 8;

        /* '0' + n, and 'a' - '0' - 10 more where n > 9 */

        m = (n + 0x0606060606060606) >> 4 & 0x0101010101010101;
        n += 0x3030303030303030 + m * 0x27;

        ngx_memcpy(dst, &n, 8);
        dst += 8;
    }

    len &= 3;

#endif

    for (last = src + len; src < last; src++) {
        *dst++ = digits[*src >> 4];
        *dst++ = digits[*src & 0xf];
    }

    return dst;
}


/* 2 * len hex digits, either case, into len bytes; NGX_ERROR if not hex */

ngx_int_t
ngx_http_fsauth_digest_unhex(u_char *dst, u_char *src, size_t len)
{
    ngx_int_t  hi, lo;

    while (len--) {
        hi = ngx_hextoi(src++, 1);
        lo = ngx_hextoi(src++, 1);

        if (hi == NGX_ERROR || lo == NGX_ERROR) {
            return NGX_ERROR;
        }

        *dst++ = (u_char) (hi << 4 | lo);
    }

    return NGX_OK;
}
