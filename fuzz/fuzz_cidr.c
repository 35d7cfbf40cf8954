
/*
 * Copyright (C) fsauth authors
 * BSD-2-Clause, see LICENSE.
 */


/*
 * The address list parser of "allow_ips" (fsauth_cidr_list_parse() in
 * rules/) and fsauth_cidr_match(), against an independent model built on
 * the C library's inet_pton().
 *
 * Input: the whole input is the field's value.  Each entry the parser
 * accepts must be accepted by the model with the same family, prefix and
 * bytes, and each the model accepts must be accepted; then every entry
 * is matched against an address made of the input's first bytes and
 * against its own network address, and compared with a bit-by-bit model.
 */


#include "fsauth_rules.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>


/* the prefix: decimal, no leading zero, at most max; -1 otherwise */

static int
fuzz_cidr_model_bits(const char *s, size_t len, int max)
{
    char   text[8], *end;
    long   n;

    if (len == 0 || len >= sizeof(text)) {
        return -1;
    }

    memcpy(text, s, len);
    text[len] = '\0';

    if (strspn(text, "0123456789") != len) {
        return -1;
    }

    n = strtol(text, &end, 10);

    /* "0" itself, but no "08" */

    if (*end != '\0' || (text[0] == '0' && len > 1) || n > max) {
        return -1;
    }

    return (int) n;
}


static int
fuzz_cidr_bit(const unsigned char *a, int i)
{
    return (a[i / 8] >> (7 - i % 8)) & 1;
}


/* one entry: 0 and the cidr, or -1 */

static int
fuzz_cidr_model(const char *s, size_t len, fsauth_cidr_t *c)
{
    int          bits, max, i;
    char         text[64];
    size_t       alen;
    const char  *slash;

    memset(c, 0, sizeof(fsauth_cidr_t));

    slash = memchr(s, '/', len);
    alen = slash ? (size_t) (slash - s) : len;

    /* inet_pton() reads a C string: a NUL inside is not an address */

    if (alen == 0 || alen >= sizeof(text) || memchr(s, '\0', alen)) {
        return -1;
    }

    memcpy(text, s, alen);
    text[alen] = '\0';

    if (strchr(text, ':')) {

        /* a zone ("%eth0") is not an address of a list */

        if (strchr(text, '%')
            || inet_pton(AF_INET6, text, c->addr) != 1)
        {
            return -1;
        }

        c->family = 6;
        max = 128;

    } else {
        if (inet_pton(AF_INET, text, c->addr) != 1) {
            return -1;
        }

        c->family = 4;
        max = 32;
    }

    bits = slash ? fuzz_cidr_model_bits(slash + 1, len - alen - 1, max)
                 : max;
    if (bits < 0) {
        return -1;
    }

    c->prefix = (unsigned char) bits;

    for (i = bits; i < max; i++) {
        if (fuzz_cidr_bit(c->addr, i)) {
            return -1;
        }
    }

    return 0;
}


static int
fuzz_cidr_match_model(const fsauth_cidr_t *c, int family,
    const unsigned char *addr)
{
    int  i;

    if (c->family != family) {
        return 0;
    }

    for (i = 0; i < c->prefix; i++) {
        if (fuzz_cidr_bit(c->addr, i) != fuzz_cidr_bit(addr, i)) {
            return 0;
        }
    }

    return 1;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int             n, m, ok, family;
    char           *s;
    size_t          i, start, nmodel;
    fsauth_cidr_t   got[FSAUTH_CIDRS_MAX], want[FSAUTH_CIDRS_MAX], c;
    unsigned char   addr[16];

    /* a copy of exactly the input's size: ASan sees any overread */

    s = malloc(size ? size : 1);
    if (s == NULL) {
        return 0;
    }

    memcpy(s, data, size);

    n = fsauth_cidr_list_parse(s, size, got, FSAUTH_CIDRS_MAX);

    ok = 1;
    nmodel = 0;
    start = 0;

    for (i = 0; i <= size; i++) {
        if (i < size && s[i] != ',') {
            continue;
        }

        if (nmodel == FSAUTH_CIDRS_MAX
            || fuzz_cidr_model(s + start, i - start, &c) != 0)
        {
            ok = 0;
            break;
        }

        want[nmodel++] = c;
        start = i + 1;
    }

    if (!ok) {
        if (n != -1) {
            abort();
        }

        free(s);
        return 0;
    }

    if (n != (int) nmodel) {
        abort();
    }

    /* a count alone (no output array) agrees */

    if (fsauth_cidr_list_parse(s, size, NULL, FSAUTH_CIDRS_MAX) != n) {
        abort();
    }

    memset(addr, 0, sizeof(addr));
    memcpy(addr, data, size < sizeof(addr) ? size : sizeof(addr));

    for (m = 0; m < n; m++) {
        if (got[m].family != want[m].family
            || got[m].prefix != want[m].prefix
            || memcmp(got[m].addr, want[m].addr, 16) != 0)
        {
            abort();
        }

        for (family = 4; family <= 6; family += 2) {
            if (fsauth_cidr_match(&got[m], family, addr)
                != fuzz_cidr_match_model(&want[m], family, addr))
            {
                abort();
            }
        }

        if (!fsauth_cidr_match(&got[m], got[m].family, got[m].addr)) {
            abort();
        }
    }

    free(s);

    return 0;
}
