
/*
 * Copyright (C) fsauth authors
 * BSD-2-Clause, see LICENSE.
 */


/* the low-level SHA-256 calls are the cheapest; OpenSSL 3 deprecates them */
#define OPENSSL_SUPPRESS_DEPRECATED

#include "ngx_http_fsauth_module.h"

#include <openssl/sha.h>


#define NGX_HTTP_FSAUTH_HEADERS_MAX  8


/*
 * Finds the token: the first configured header name that is present wins,
 * even with an empty value.  Returns NGX_OK with the value, NGX_DECLINED
 * when no configured header is present, NGX_BUSY when the winning header
 * was sent more than once.
 */

ngx_int_t
ngx_http_fsauth_token_find(ngx_list_t *headers, ngx_array_t *names,
    ngx_str_t *token)
{
    ngx_uint_t                 i, j, n, best, count;
    ngx_list_part_t           *part;
    ngx_table_elt_t           *h, *found;
    ngx_http_fsauth_header_t  *name;

    name = names->elts;
    n = names->nelts;

    best = n;
    count = 0;
    found = NULL;

    part = &headers->part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        /* nginx hashed the lower-cased name already: compare that first */

        for (j = 0; j < n; j++) {
            if (h[i].hash == name[j].hash
                && h[i].key.len == name[j].name.len
                && ngx_memcmp(h[i].lowcase_key, name[j].name.data,
                              name[j].name.len)
                   == 0)
            {
                break;
            }
        }

        if (j < best) {
            best = j;
            found = &h[i];
            count = 1;

        } else if (j == best && j < n) {
            count++;
        }
    }

    if (found == NULL) {
        return NGX_DECLINED;
    }

    if (count > 1) {
        return NGX_BUSY;
    }

    *token = found->value;

    return NGX_OK;
}


/* the shared rule, inlined: see fsauth_token_valid() */

ngx_int_t
ngx_http_fsauth_token_valid(u_char *p, size_t len)
{
    return fsauth_token_valid(p, len) ? NGX_OK : NGX_DECLINED;
}


/*
 * Constant-time comparison: the time depends on the secret's length only
 * (and on whether the lengths match), never on where the first difference
 * is.  Eight bytes at a time.
 */

ngx_uint_t
ngx_http_fsauth_token_equal(ngx_str_t *secret, ngx_str_t *token)
{
    size_t     i;
    u_char    *t;
    uint64_t   a, b, diff;

    /* a token of another length is compared with the secret itself */

    t = (token->len == secret->len) ? token->data : secret->data;
    diff = token->len ^ secret->len;

    for (i = 0; i + 8 <= secret->len; i += 8) {
        ngx_memcpy(&a, secret->data + i, 8);
        ngx_memcpy(&b, t + i, 8);
        diff |= a ^ b;
    }

    for ( /* void */ ; i < secret->len; i++) {
        diff |= secret->data[i] ^ t[i];
    }

    return diff == 0;
}


void
ngx_http_fsauth_token_digest(u_char *p, size_t len, u_char *digest)
{
    SHA256_CTX  sha;

    SHA256_Init(&sha);
    SHA256_Update(&sha, p, len);
    SHA256_Final(digest, &sha);

    ngx_explicit_memzero(&sha, sizeof(SHA256_CTX));
}


/*
 * The cache key of one resource's decision for a key whose grants did not
 * fit in its cache node.  A digest, not a weaker hash: the resource comes
 * from the client, who must not be able to make it collide with another.
 */

void
ngx_http_fsauth_token_grant_digest(u_char *digest, ngx_str_t *resource,
    u_char *out)
{
    SHA256_CTX  sha;

    SHA256_Init(&sha);
    SHA256_Update(&sha, digest, NGX_HTTP_FSAUTH_DIGEST_LEN);
    SHA256_Update(&sha, resource->data, resource->len);
    SHA256_Final(out, &sha);
}


/*
 * Removes every configured token header before the request goes upstream.
 * The kept headers are copied into a fresh list: the old elements stay
 * where they are, so pointers such as r->headers_in.host remain valid.
 */

ngx_int_t
ngx_http_fsauth_token_hide(ngx_http_request_t *r, ngx_array_t *names)
{
    ngx_uint_t                 i, j;
    ngx_list_t                 old;
    ngx_list_part_t           *part;
    ngx_table_elt_t           *h, *e;
    ngx_http_fsauth_header_t  *name;

    old = r->headers_in.headers;
    name = names->elts;

    if (ngx_list_init(&r->headers_in.headers, r->pool, old.nalloc,
                      sizeof(ngx_table_elt_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    part = &old.part;
    h = part->elts;

    for (i = 0; /* void */; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = (ngx_uint_t) -1;
            continue;
        }

        for (j = 0; j < names->nelts; j++) {
            if (h[i].key.len == name[j].name.len
                && ngx_strncasecmp(h[i].key.data, name[j].name.data,
                                   name[j].name.len)
                   == 0)
            {
                break;
            }
        }

        if (j < names->nelts) {
            continue;
        }

        e = ngx_list_push(&r->headers_in.headers);
        if (e == NULL) {
            return NGX_ERROR;
        }

        *e = h[i];
    }

    return NGX_OK;
}
