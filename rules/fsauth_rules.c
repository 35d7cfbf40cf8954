
/*
 * Copyright (C) fsauth authors
 * BSD-2-Clause, see LICENSE.
 */


/*
 * The shared rules that are not on the module's per-request path; see
 * fsauth_rules.h.
 */

#include <string.h>

#include "fsauth_rules.h"


static const struct {
    const char  *word;
    size_t       len;
    unsigned     bit;
} fsauth_grant_words[] = {
    { "get", 3, FSAUTH_GRANT_GET },
    { "post", 4, FSAUTH_GRANT_POST },
    { "put", 3, FSAUTH_GRANT_PUT },
    { "delete", 6, FSAUTH_GRANT_DELETE },
    { NULL, 0, 0 }
};


/*
 * The method -> grant word map: GET needs get, POST post, PUT and PATCH
 * put, DELETE delete; methods are case-sensitive, as in HTTP, and any
 * other method (HEAD, OPTIONS...) maps to nothing, so it is refused.
 */

unsigned
fsauth_method_grant(const char *method, size_t len)
{
    switch (len) {

    case 3:
        if (memcmp(method, "GET", 3) == 0) {
            return FSAUTH_GRANT_GET;
        }

        if (memcmp(method, "PUT", 3) == 0) {
            return FSAUTH_GRANT_PUT;
        }

        break;

    case 4:
        if (memcmp(method, "POST", 4) == 0) {
            return FSAUTH_GRANT_POST;
        }

        break;

    case 5:
        if (memcmp(method, "PATCH", 5) == 0) {
            return FSAUTH_GRANT_PUT;
        }

        break;

    case 6:
        if (memcmp(method, "DELETE", 6) == 0) {
            return FSAUTH_GRANT_DELETE;
        }

        break;

    default:
        break;
    }

    return 0;
}


/*
 * The grant string fsauthctl writes: the words of mask in the order
 * get,post,put,delete, "" for none.  buf: FSAUTH_GRANT_TEXT_SIZE bytes.
 * Returns the length.
 */

size_t
fsauth_grant_format(unsigned mask, char *buf)
{
    size_t  i;
    char   *p;

    p = buf;

    for (i = 0; fsauth_grant_words[i].word; i++) {
        if (mask & fsauth_grant_words[i].bit) {
            if (p != buf) {
                *p++ = ',';
            }

            memcpy(p, fsauth_grant_words[i].word, fsauth_grant_words[i].len);
            p += fsauth_grant_words[i].len;
        }
    }

    *p = '\0';

    return p - buf;
}


/* lower-case hex of len bytes, and a NUL: hex holds 2 * len + 1 bytes */

void
fsauth_hex_encode(char *hex, const void *data, size_t len)
{
    size_t                i;
    const unsigned char  *p;
    static const char     digits[] = "0123456789abcdef";

    p = data;

    for (i = 0; i < len; i++) {
        hex[2 * i] = digits[p[i] >> 4];
        hex[2 * i + 1] = digits[p[i] & 0x0f];
    }

    hex[2 * len] = '\0';
}


/* the value of a hex digit of either case, -1 for another byte */

int
fsauth_hex_digit(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    c |= 0x20;

    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }

    return -1;
}


/*
 * 64 lower-case hex digits: a name a token digest can have (the module
 * looks records up by the lower-case hex SHA-256 of the token).
 */

int
fsauth_hex_digest_valid(const char *s, size_t len)
{
    size_t  i;

    if (len != FSAUTH_HEX_LEN) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) {
            return 0;
        }
    }

    return 1;
}


/*
 * Redis key names.  buf holds plen + FSAUTH_NAME_MAX - FSAUTH_PREFIX_MAX
 * + 1 bytes (FSAUTH_NAME_MAX + 1 for any valid prefix), or more for a
 * key name whose digest is longer than a digest; the name is
 * NUL-terminated and its length returned.
 *
 *   fsauth_name(buf, p, plen, FSAUTH_NAME_API)          <prefix>api
 *   fsauth_name_key(buf, p, plen, hex, 64)              <prefix>key:<D>
 *   fsauth_name_id(buf, p, plen, FSAUTH_NAME_KEYID, 7)  <prefix>keyid:7
 */

size_t
fsauth_name(char *buf, const char *prefix, size_t plen, const char *kind)
{
    size_t  klen;

    klen = strlen(kind);

    memcpy(buf, prefix, plen);
    memcpy(buf + plen, kind, klen + 1);

    return plen + klen;
}


size_t
fsauth_name_key(char *buf, const char *prefix, size_t plen, const char *hex,
    size_t len)
{
    size_t  n;

    n = fsauth_name(buf, prefix, plen, FSAUTH_NAME_KEY);

    memcpy(buf + n, hex, len);
    buf[n + len] = '\0';

    return n + len;
}


size_t
fsauth_name_id(char *buf, const char *prefix, size_t plen, const char *kind,
    long long id)
{
    char                digits[24], *d;
    size_t              n, len;
    unsigned long long  v;

    n = fsauth_name(buf, prefix, plen, kind);

    /* ids are positive; a negative one is written as such all the same */

    v = (id < 0) ? 0ULL - (unsigned long long) id : (unsigned long long) id;

    d = digits + sizeof(digits);

    do {
        *--d = (char) ('0' + v % 10);
        v /= 10;
    } while (v);

    if (id < 0) {
        *--d = '-';
    }

    len = digits + sizeof(digits) - d;

    memcpy(buf + n, d, len);
    buf[n + len] = '\0';

    return n + len;
}
