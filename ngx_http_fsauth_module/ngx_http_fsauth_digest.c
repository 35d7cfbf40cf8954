
/*
 * Copyright (C) fsauth authors
 * BSD-2-Clause, see LICENSE.
 */


#include "ngx_http_fsauth_module.h"


/*
 * Token digests: the rbtree keyed by them (the pending lookups) and
 * their lower-case hex form (Redis key names, logs).
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
 * Lower-case hex, two digits per table entry, four entries per store: a
 * miss writes 64 digits, in fewer than half the instructions of
 * ngx_hex_dump()'s digit at a time.
 */

u_char *
ngx_http_fsauth_digest_hex(u_char *dst, u_char *src, size_t len)
{
    u_char             *last;
#if (NGX_HAVE_LITTLE_ENDIAN)
    uint16_t            a, b, c, d;
    uint64_t            v;
#endif
    static const char   hex[] =
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
        "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
        "404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f"
        "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f"
        "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"
        "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf"
        "c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf"
        "e0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff";

#if (NGX_HAVE_LITTLE_ENDIAN)

    for (last = src + (len & ~(size_t) 3); src < last; src += 4) {
        ngx_memcpy(&a, &hex[(size_t) src[0] * 2], 2);
        ngx_memcpy(&b, &hex[(size_t) src[1] * 2], 2);
        ngx_memcpy(&c, &hex[(size_t) src[2] * 2], 2);
        ngx_memcpy(&d, &hex[(size_t) src[3] * 2], 2);

        v = (uint64_t) a | (uint64_t) b << 16 | (uint64_t) c << 32
            | (uint64_t) d << 48;

        ngx_memcpy(dst, &v, 8);
        dst += 8;
    }

    len &= 3;

#endif

    for (last = src + len; src < last; src++) {
        ngx_memcpy(dst, &hex[(size_t) *src * 2], 2);
        dst += 2;
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
