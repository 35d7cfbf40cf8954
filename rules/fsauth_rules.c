
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


/*
 * Address lists.  The text is read strictly, with nothing guessed: an
 * entry is ADDRESS or ADDRESS/BITS; IPv4 as four decimal numbers 0-255
 * without leading zeros (01 could be octal elsewhere); IPv6 as RFC 4291
 * text (hex groups of 1-4 digits, one "::" at most, a dotted IPv4 tail),
 * without a zone; BITS decimal without leading zeros, at most 32 or 128;
 * no address bits after BITS (10.0.0.1/8 says two things).  Entries are
 * separated by single commas, without spaces.
 */

/* no "::" seen: 16 itself is a place for one, after eight groups */
#define FSAUTH_CIDR_NO_GAP  ((size_t) -1)

static int fsauth_cidr_ipv4(const char *s, size_t len, unsigned char *addr);
static int fsauth_cidr_ipv6(const char *s, size_t len, unsigned char *addr);


/* a decimal number without leading zeros, at most max; -1 otherwise */

static int
fsauth_cidr_number(const char *s, size_t len, int max)
{
    int     n;
    size_t  i;

    if (len == 0 || len > 3 || (len > 1 && s[0] == '0')) {
        return -1;
    }

    n = 0;

    for (i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }

        n = n * 10 + (s[i] - '0');
    }

    return n <= max ? n : -1;
}


static int
fsauth_cidr_ipv4(const char *s, size_t len, unsigned char *addr)
{
    int     n;
    size_t  i, start, part;

    part = 0;
    start = 0;

    for (i = 0; i <= len; i++) {
        if (i < len && s[i] != '.') {
            continue;
        }

        if (part == 4) {
            return -1;
        }

        n = fsauth_cidr_number(s + start, i - start, 255);
        if (n < 0) {
            return -1;
        }

        addr[part++] = (unsigned char) n;
        start = i + 1;
    }

    return part == 4 ? 0 : -1;
}


static int
fsauth_cidr_ipv6(const char *s, size_t len, unsigned char *addr)
{
    int            d;
    size_t         i, n, k, gap, ndigits;
    unsigned int   v;

    n = 0;              /* bytes written */
    gap = FSAUTH_CIDR_NO_GAP;   /* where "::" was */
    i = 0;

    if (len >= 2 && s[0] == ':' && s[1] == ':') {
        gap = 0;
        i = 2;

        if (len == 2) {
            memset(addr, 0, 16);
            return 0;
        }

    } else if (len == 0 || s[0] == ':') {
        return -1;
    }

    for ( ;; ) {

        /* a group, or the dotted IPv4 tail */

        v = 0;
        ndigits = 0;

        for (k = i; k < len && s[k] != ':'; k++) {
            if (s[k] == '.') {
                if (n > 12 || fsauth_cidr_ipv4(s + i, len - i, addr + n)
                              != 0)
                {
                    return -1;
                }

                n += 4;
                goto done;
            }

            d = fsauth_hex_digit((unsigned char) s[k]);
            if (d < 0 || ++ndigits > 4) {
                return -1;
            }

            v = v << 4 | (unsigned int) d;
        }

        if (ndigits == 0 || n > 14) {
            return -1;
        }

        addr[n++] = (unsigned char) (v >> 8);
        addr[n++] = (unsigned char) v;

        if (k == len) {
            break;
        }

        /* k is at a ':' */

        if (k + 1 < len && s[k + 1] == ':') {
            if (gap != FSAUTH_CIDR_NO_GAP) {
                return -1;
            }

            gap = n;
            i = k + 2;

            if (i == len) {
                break;
            }

            continue;
        }

        i = k + 1;

        if (i == len) {
            return -1;          /* a trailing single ':' */
        }
    }

done:

    if (gap == FSAUTH_CIDR_NO_GAP) {
        return n == 16 ? 0 : -1;
    }

    /* "::" stands for one zero group at least */

    if (n > 14) {
        return -1;
    }

    memmove(addr + 16 - (n - gap), addr + gap, n - gap);
    memset(addr + gap, 0, 16 - n);

    return 0;
}


int
fsauth_cidr_parse(const char *s, size_t len, fsauth_cidr_t *cidr)
{
    int            bits, max;
    size_t         i, alen, nbytes;
    const char    *slash;
    unsigned char  mask;

    slash = memchr(s, '/', len);
    alen = slash ? (size_t) (slash - s) : len;

    memset(cidr, 0, sizeof(fsauth_cidr_t));

    if (memchr(s, ':', alen)) {
        if (fsauth_cidr_ipv6(s, alen, cidr->addr) != 0) {
            return -1;
        }

        cidr->family = 6;
        max = 128;

    } else {
        if (fsauth_cidr_ipv4(s, alen, cidr->addr) != 0) {
            return -1;
        }

        cidr->family = 4;
        max = 32;
    }

    if (slash) {
        bits = fsauth_cidr_number(slash + 1, len - alen - 1, max);
        if (bits < 0) {
            return -1;
        }

    } else {
        bits = max;
    }

    cidr->prefix = (unsigned char) bits;

    /* no address bits beyond the prefix */

    nbytes = (size_t) max / 8;

    for (i = (size_t) bits / 8; i < nbytes; i++) {
        mask = (i == (size_t) bits / 8) ? (unsigned char) (0xff >> (bits % 8))
                                         : 0xff;

        if (cidr->addr[i] & mask) {
            return -1;
        }
    }

    return 0;
}


/* the number of entries, or -1: malformed, or more than max */

int
fsauth_cidr_list_parse(const char *s, size_t len, fsauth_cidr_t *cidrs,
    size_t max)
{
    size_t         n, start, i;
    fsauth_cidr_t  cidr;

    n = 0;
    start = 0;

    for (i = 0; i <= len; i++) {
        if (i < len && s[i] != ',') {
            continue;
        }

        if (n == max
            || fsauth_cidr_parse(s + start, i - start, &cidr) != 0)
        {
            return -1;
        }

        if (cidrs) {
            cidrs[n] = cidr;
        }

        n++;
        start = i + 1;
    }

    return (int) n;
}


/* 1 if the address (4 or 16 bytes, network order) is in the network */

int
fsauth_cidr_match(const fsauth_cidr_t *cidr, int family,
    const unsigned char *addr)
{
    size_t         full;
    unsigned char  mask;

    if (cidr->family != family) {
        return 0;
    }

    full = cidr->prefix / 8;

    if (memcmp(cidr->addr, addr, full) != 0) {
        return 0;
    }

    if (cidr->prefix % 8 == 0) {
        return 1;
    }

    mask = (unsigned char) (0xff << (8 - cidr->prefix % 8));

    return (cidr->addr[full] & mask) == (addr[full] & mask);
}
