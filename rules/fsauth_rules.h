
/*
 * Copyright (C) fsauth authors
 * BSD-2-Clause, see LICENSE.
 */


/*
 * The rules shared by the nginx module and fsauthctl: token validity, the
 * grant words and the method -> word map, the grant-string parser, the
 * access decision, the limits and the Redis key names.  Plain C: no nginx,
 * hiredis or jansson types, so that both programs compile this one copy
 * and cannot disagree.
 *
 * What the module calls for every request is static inline here; the
 * rest is in fsauth_rules.c.
 */

#ifndef _FSAUTH_RULES_H_INCLUDED_
#define _FSAUTH_RULES_H_INCLUDED_


#include <stddef.h>
#include <stdint.h>
#include <string.h>


/* limits */

/* a token: the api_keys.apikey column is varchar(99) */
#define FSAUTH_TOKEN_MAX            99

/* SHA-256 of a token, raw and as lower-case hex */
#define FSAUTH_DIGEST_LEN           32
#define FSAUTH_HEX_LEN              64

/*
 * A resource name in a grant: the api_access.resource column is
 * varchar(100).  fsauthctl refuses longer ones; the module caches grants
 * up to this length with the key and reads a longer, hand-written one
 * from the Redis reply itself, so it is still honoured.
 */
#define FSAUTH_RESOURCE_MAX         100

/* <prefix>, bytes */
#define FSAUTH_PREFIX_MAX           200

/* a key record the module reads: more fields, or a longer field name,
 * and the record is not a key (too many) or not readable (too long) */
#define FSAUTH_REPLY_ELEMENTS_MAX   65536
#define FSAUTH_FIELD_NAME_MAX       4096


/* grant words, as bits */
#define FSAUTH_GRANT_GET            0x01
#define FSAUTH_GRANT_POST           0x02
#define FSAUTH_GRANT_PUT            0x04
#define FSAUTH_GRANT_DELETE         0x08
#define FSAUTH_GRANT_ALL            0x0f

/* "get,post,put,delete" and its NUL */
#define FSAUTH_GRANT_TEXT_SIZE      20


/* Redis key names: <prefix><kind>[<argument>] */
#define FSAUTH_NAME_KEY             "key:"        /* + hex digest */
#define FSAUTH_NAME_KEYID           "keyid:"      /* + id */
#define FSAUTH_NAME_ACTIVITY        "activity:"   /* + id */
#define FSAUTH_NAME_API             "api"
#define FSAUTH_NAME_SCHEMA          "schema"
#define FSAUTH_NAME_NEXTID          "nextid"      /* fsauthctl's id counter */

#define FSAUTH_SCHEMA_VERSION       "1"

/* the longest name, without its NUL: "key:" + digest is the longest kind */
#define FSAUTH_NAME_MAX                                                       \
    (FSAUTH_PREFIX_MAX + sizeof(FSAUTH_NAME_KEY) - 1 + FSAUTH_HEX_LEN)


/* the access decision */
typedef enum {
    FSAUTH_ALLOW = 0,
    FSAUTH_DENY_KEY,           /* unknown or disabled key: 401 */
    FSAUTH_DENY_GRANT          /* the method is not granted: 403 */
} fsauth_decision_e;


/*
 * A token is 1 to 99 bytes in 0x21..0x7e and not "0", which PHP's
 * empty() treats as no token.
 */

static inline int
fsauth_token_valid(const void *token, size_t len)
{
    size_t                i;
    uint64_t              w;
    const unsigned char  *p;

    p = token;

    if (len == 0 || len > FSAUTH_TOKEN_MAX) {
        return 0;
    }

    if (len == 1 && p[0] == '0') {
        return 0;
    }

    /*
     * Eight bytes at a time, every request: a byte below 0x21 sets its
     * high bit in w - 0x2121..., one of 0x7f in w + 0x0101..., one from
     * 0x80 in w.  Exact: below the first such byte nothing borrows or
     * carries into the next.
     */

    for (i = 0; i + 8 <= len; i += 8) {
        memcpy(&w, p + i, 8);

        if (((w - 0x2121212121212121ULL) | (w + 0x0101010101010101ULL) | w)
            & 0x8080808080808080ULL)
        {
            return 0;
        }
    }

    for ( /* void */ ; i < len; i++) {
        if (p[i] < 0x21 || p[i] > 0x7e) {
            return 0;
        }
    }

    return 1;
}


/*
 * A grant is a comma list of "get", "post", "put", "delete".  Spaces and
 * tabs around words are ignored, and so are empty items and unknown
 * words ("GET", "getx", "get x"): fsauthctl never writes them, and a hand
 * edit must not break the key.  One pass, no copy.
 */

static inline unsigned
fsauth_grant_parse(const void *grant, size_t len)
{
    size_t                n;
    unsigned              mask, bit;
    const unsigned char  *p, *last;

    p = grant;
    last = p + len;
    mask = 0;

    /* per item: blanks, a known word or not, blanks, a comma or the end */

    for ( ;; ) {

        while (p < last && (*p == ' ' || *p == '\t')) {
            p++;
        }

        n = last - p;

        if (n >= 3 && p[0] == 'g' && p[1] == 'e' && p[2] == 't') {
            bit = FSAUTH_GRANT_GET;
            p += 3;

        } else if (n >= 4 && p[0] == 'p' && p[1] == 'o' && p[2] == 's'
                   && p[3] == 't')
        {
            bit = FSAUTH_GRANT_POST;
            p += 4;

        } else if (n >= 3 && p[0] == 'p' && p[1] == 'u' && p[2] == 't') {
            bit = FSAUTH_GRANT_PUT;
            p += 3;

        } else if (n >= 6 && p[0] == 'd' && p[1] == 'e' && p[2] == 'l'
                   && p[3] == 'e' && p[4] == 't' && p[5] == 'e')
        {
            bit = FSAUTH_GRANT_DELETE;
            p += 6;

        } else {
            bit = 0;
        }

        while (p < last && (*p == ' ' || *p == '\t')) {
            p++;
        }

        if (p < last && *p != ',') {

            /* "getx", "get x": not a word we know */

            bit = 0;

            while (p < last && *p != ',') {
                p++;
            }
        }

        mask |= bit;

        if (p == last) {
            return mask;
        }

        p++;            /* the comma */
    }
}


/* "enabled" and "fullaccess" count only when exactly "1" */

static inline int
fsauth_flag_on(const void *value, size_t len)
{
    return len == 1 && *(const unsigned char *) value == '1';
}


/*
 * "expires": unix seconds as 1 to 11 decimal digits, at least 1, with no
 * sign, space or leading zero.  -1 for anything else: such a record is
 * refused, never read some other way.
 */

#define FSAUTH_EXPIRES_DIGITS_MAX  11

static inline long long
fsauth_expires_parse(const void *value, size_t len)
{
    size_t                i;
    long long             v;
    const unsigned char  *p;

    p = value;

    if (len == 0 || len > FSAUTH_EXPIRES_DIGITS_MAX || p[0] == '0') {
        return -1;
    }

    v = 0;

    for (i = 0; i < len; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return -1;
        }

        v = v * 10 + (p[i] - '0');
    }

    return v;
}


/*
 * The decision for a request with a user key, after the kill switch and
 * the path checks, from the key record's parsed fields:
 *
 *   key_ok        the record exists, is readable and "enabled" is "1";
 *   fullaccess    "fullaccess" is "1";
 *   resource_len  0 for the API listing;
 *   has_grant     the record has "res:<resource>", whose words are grant;
 *   method        the method's grant bit, 0 for any other method.
 */

static inline fsauth_decision_e
fsauth_decide(int key_ok, int fullaccess, size_t resource_len,
    int has_grant, unsigned grant, unsigned method)
{
    if (!key_ok) {
        return FSAUTH_DENY_KEY;
    }

    if (resource_len == 0 || fullaccess) {
        return FSAUTH_ALLOW;
    }

    if (method == 0 || !has_grant || (grant & method) == 0) {
        return FSAUTH_DENY_GRANT;
    }

    return FSAUTH_ALLOW;
}


/*
 * An address list entry ("allow_ips"): IPv4 or IPv6 network, host bits
 * zero.  addr holds 4 (IPv4) or 16 bytes, network order.
 */

#define FSAUTH_CIDRS_MAX            8

typedef struct {
    unsigned char       family;        /* 4 or 6 */
    unsigned char       prefix;        /* bits */
    unsigned char       addr[16];
} fsauth_cidr_t;


/* fsauth_rules.c */

int fsauth_cidr_parse(const char *s, size_t len, fsauth_cidr_t *cidr);
int fsauth_cidr_list_parse(const char *s, size_t len, fsauth_cidr_t *cidrs,
    size_t max);
int fsauth_cidr_match(const fsauth_cidr_t *cidr, int family,
    const unsigned char *addr);

unsigned fsauth_method_grant(const char *method, size_t len);
size_t fsauth_grant_format(unsigned mask, char *buf);

void fsauth_hex_encode(char *hex, const void *data, size_t len);
int fsauth_hex_digit(int c);
int fsauth_hex_digest_valid(const char *s, size_t len);

size_t fsauth_name(char *buf, const char *prefix, size_t plen,
    const char *kind);
size_t fsauth_name_key(char *buf, const char *prefix, size_t plen,
    const char *hex, size_t len);
size_t fsauth_name_id(char *buf, const char *prefix, size_t plen,
    const char *kind, long long id);


#endif /* _FSAUTH_RULES_H_INCLUDED_ */
