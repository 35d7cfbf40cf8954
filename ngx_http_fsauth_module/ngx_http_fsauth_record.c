
/*
 * Copyright (C) fsauth authors
 * BSD-2-Clause, see LICENSE.
 */


#include "ngx_http_fsauth_module.h"
#include "ngx_http_fsauth_redis.h"


/*
 * The shared rules own these limits; ngx_http_fsauth_redis.h keeps its
 * own names for them, which must not drift.
 */

#if (NGX_HTTP_FSAUTH_PREFIX_MAX != FSAUTH_PREFIX_MAX                          \
     || NGX_HTTP_FSAUTH_REPLY_ELEMENTS_MAX != FSAUTH_REPLY_ELEMENTS_MAX)
#error "ngx_http_fsauth_redis.h and fsauth_rules.h disagree on a limit"
#endif


static void ngx_http_fsauth_record_allow_ips(ngx_http_fsauth_record_t *rec,
    u_char *value, size_t len);


/* the shared grant-string rule: see fsauth_grant_parse() */

ngx_uint_t
ngx_http_fsauth_grant_parse(u_char *p, size_t len)
{
    return fsauth_grant_parse(p, len);
}


void
ngx_http_fsauth_record_init(ngx_http_fsauth_record_t *rec)
{
    rec->id = 0;
    rec->nick_len = 0;
    rec->grants_len = 0;
    rec->expires = 0;
    rec->enabled = 0;
    rec->fullaccess = 0;
    rec->incomplete = 0;
    rec->bad_nick = 0;
    rec->bad_expires = 0;
    rec->bad_allow_ips = 0;
    rec->ncidrs = 0;
}


/*
 * Text that may reach an upstream header or a log line ($fsauth_nick):
 * well-formed UTF-8 (no overlong forms, no surrogates) without C0, DEL
 * or C1 controls.  CR or LF in a nick would split a proxied header.
 */

ngx_int_t
ngx_http_fsauth_record_text_valid(u_char *p, size_t len)
{
    u_char     *last;
    size_t      n;
    uint32_t    c, min;

    last = p + len;

    while (p < last) {
        c = *p++;

        if (c < 0x80) {
            if (c < 0x20 || c == 0x7f) {
                return NGX_DECLINED;
            }

            continue;
        }

        if (c >= 0xc2 && c <= 0xdf) {
            n = 1;
            c &= 0x1f;
            min = 0x80;

        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2;
            c &= 0x0f;
            min = 0x800;

        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3;
            c &= 0x07;
            min = 0x10000;

        } else {
            return NGX_DECLINED;
        }

        if ((size_t) (last - p) < n) {
            return NGX_DECLINED;
        }

        while (n--) {
            if ((*p & 0xc0) != 0x80) {
                return NGX_DECLINED;
            }

            c = (c << 6) | (*p++ & 0x3f);
        }

        if (c < min || c > 0x10ffff
            || (c >= 0xd800 && c <= 0xdfff)
            || c <= 0x9f)
        {
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}


/* the longest prefix of at most max bytes that ends on a character */

size_t
ngx_http_fsauth_record_utf8_cut(u_char *p, size_t len, size_t max)
{
    if (len <= max) {
        return len;
    }

    len = max;

    while (len && (p[len] & 0xc0) == 0x80) {
        len--;
    }

    return len;
}


/* constant-size ngx_memcmp() calls below compile to a few instructions */


/*
 * Applies one hash field of <prefix>key:<digest>.  Returns NGX_ERROR for
 * an "id" that is not a positive integer, NGX_DONE for "allow_ips" (read
 * once every grant is in: the list goes after them); unknown fields are
 * ignored.
 * Inlined in the reply's loop below: a call per field would cost more
 * than most fields do.
 */

static ngx_inline ngx_int_t
ngx_http_fsauth_record_apply(ngx_http_fsauth_record_t *rec, u_char *name,
    size_t name_len, u_char *value, size_t value_len)
{
    u_char  *g;
    size_t   need;

    /*
     * Only a known name returns here: "res:abc" has the length of
     * "enabled", "res:ab" that of "nick" + 2, and so on.
     */

    switch (name_len) {

    case 2:
        if (ngx_memcmp(name, "id", 2) == 0) {
            rec->id = ngx_atoi(value, value_len);
            if (rec->id <= 0) {
                rec->id = 0;
                return NGX_ERROR;
            }

            return NGX_OK;
        }

        break;

    case 4:
        if (ngx_memcmp(name, "nick", 4) == 0) {
            if (ngx_http_fsauth_record_text_valid(value, value_len)
                != NGX_OK)
            {
                rec->bad_nick = 1;
                return NGX_OK;
            }

            rec->nick_len = ngx_http_fsauth_record_utf8_cut(value, value_len,
                                                    NGX_HTTP_FSAUTH_NICK_MAX);
            ngx_memcpy(rec->nick, value, rec->nick_len);
            return NGX_OK;
        }

        break;

    case 7:
        if (ngx_memcmp(name, "enabled", 7) == 0) {
            rec->enabled = fsauth_flag_on(value, value_len);
            return NGX_OK;
        }

        if (ngx_memcmp(name, "expires", 7) == 0) {
            rec->expires = fsauth_expires_parse(value, value_len);
            rec->bad_expires = (rec->expires <= 0);
            return NGX_OK;
        }

        break;

    case 9:
        if (ngx_memcmp(name, "allow_ips", 9) == 0) {
            return NGX_DONE;
        }

        break;

    case 10:
        if (ngx_memcmp(name, "fullaccess", 10) == 0) {
            rec->fullaccess = fsauth_flag_on(value, value_len);
            return NGX_OK;
        }

        break;

    default:
        break;
    }

    if (name_len < 4 || ngx_memcmp(name, "res:", 4) != 0) {
        return NGX_OK;
    }

    name += 4;
    name_len -= 4;

    if (name_len == 0) {
        return NGX_OK;
    }

    need = 2 + name_len;

    if (name_len > NGX_HTTP_FSAUTH_RESOURCE_MAX
        || rec->grants_len + need > NGX_HTTP_FSAUTH_GRANTS_MAX)
    {
        rec->incomplete = 1;
        return NGX_OK;
    }

    g = rec->grants + rec->grants_len;
    g[0] = (u_char) name_len;
    g[1] = (u_char) fsauth_grant_parse(value, value_len);
    ngx_memcpy(&g[2], name, name_len);

    rec->grants_len += need;

    return NGX_OK;
}


/* one field alone, for the fuzzers; "allow_ips" only in a whole reply */

ngx_int_t
ngx_http_fsauth_record_field(ngx_http_fsauth_record_t *rec, u_char *name,
    size_t name_len, u_char *value, size_t value_len)
{
    return ngx_http_fsauth_record_apply(rec, name, name_len, value,
                                        value_len);
}


/*
 * "allow_ips": a comma list of at most 8 IPv4/IPv6 networks, parsed by
 * the shared rule, stored after the grants.  An empty value is no list.
 * The list is always kept whole: grants that no longer fit leave the
 * area from its end, and are then read as those that never fit (the
 * reply, or an entry of their own in the cache).
 */

static void
ngx_http_fsauth_record_allow_ips(ngx_http_fsauth_record_t *rec,
    u_char *value, size_t len)
{
    int             n;
    u_char         *g, *last;
    size_t          need, keep;
    fsauth_cidr_t   cidrs[NGX_HTTP_FSAUTH_CIDRS_MAX];

    rec->ncidrs = 0;

    if (len == 0) {
        return;
    }

    n = fsauth_cidr_list_parse((const char *) value, len, cidrs,
                               NGX_HTTP_FSAUTH_CIDRS_MAX);
    if (n <= 0) {
        rec->bad_allow_ips = 1;
        return;
    }

    need = n * sizeof(fsauth_cidr_t);

    if (rec->grants_len + need > NGX_HTTP_FSAUTH_GRANTS_MAX) {
        keep = 0;
        g = rec->grants;
        last = g + rec->grants_len;

        while (g < last
               && (size_t) (g - rec->grants) + 2 + g[0] + need
                  <= NGX_HTTP_FSAUTH_GRANTS_MAX)
        {
            g += 2 + g[0];
            keep = g - rec->grants;
        }

        rec->grants_len = keep;
        rec->incomplete = 1;
    }

    ngx_memcpy(rec->grants + rec->grants_len, cidrs, need);
    rec->ncidrs = n;
}


void
ngx_http_fsauth_record_extract(ngx_http_fsauth_record_t *rec,
    ngx_str_t *resource, struct sockaddr *sa, ngx_http_fsauth_result_t *res)
{
    u_char  *g, *last;

    res->found = 1;
    res->id = rec->id;

    /* checked at each use, a hit included: the cached time costs nothing */

    res->expired = (rec->expires && ngx_time() >= rec->expires);
    res->enabled = rec->enabled && !res->expired;
    res->fullaccess = rec->fullaccess;
    res->nick_len = rec->nick_len;
    ngx_memcpy(res->nick, rec->nick, rec->nick_len);

    /* the address too, on a hit: the list is in the record */

    res->outside = rec->ncidrs
                   && !ngx_http_fsauth_record_addr_allowed(rec, sa);

    res->has_grant = 0;
    res->mask = 0;

    g = rec->grants;
    last = g + rec->grants_len;

    while (g < last) {
        if (g[0] == resource->len
            && ngx_memcmp(&g[2], resource->data, resource->len) == 0)
        {
            res->has_grant = 1;
            res->mask = g[1];
            return;
        }

        g += 2 + g[0];
    }
}


/*
 * Is the client address in the record's list?  An IPv4-mapped IPv6
 * address is its IPv4 address; a client without an IP address (a unix
 * socket) is in no list.
 */

ngx_uint_t
ngx_http_fsauth_record_addr_allowed(ngx_http_fsauth_record_t *rec,
    struct sockaddr *sa)
{
    int                   family;
    u_char               *addr;
    ngx_uint_t            i;
    fsauth_cidr_t        *cidrs;
#if (NGX_HAVE_INET6)
    struct sockaddr_in6  *sin6;
#endif

    switch (sa->sa_family) {

    case AF_INET:
        family = 4;
        addr = (u_char *) &((struct sockaddr_in *) sa)->sin_addr;
        break;

#if (NGX_HAVE_INET6)
    case AF_INET6:
        sin6 = (struct sockaddr_in6 *) sa;
        addr = sin6->sin6_addr.s6_addr;

        if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
            family = 4;
            addr += 12;

        } else {
            family = 6;
        }

        break;
#endif

    default:
        return 0;
    }

    cidrs = ngx_http_fsauth_record_cidrs(rec);

    for (i = 0; i < rec->ncidrs; i++) {
        if (fsauth_cidr_match(&cidrs[i], family, addr)) {
            return 1;
        }
    }

    return 0;
}


/*
 * Converts an HGETALL reply.  NGX_OK: a usable record; NGX_DECLINED: no
 * such key (empty hash) or a record without a valid id; NGX_ERROR: a
 * reply of the wrong shape, which is treated like an outage.
 */

ngx_int_t
ngx_http_fsauth_record_from_reply(redisReply *reply,
    ngx_http_fsauth_record_t *rec, const char **err)
{
    size_t       i;
    ngx_int_t    rc, frc;
    redisReply  *k, *v, *ips;

    ngx_http_fsauth_record_init(rec);

    if (reply == NULL) {
        *err = "no reply";
        return NGX_ERROR;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        *err = "error reply";
        return NGX_ERROR;
    }

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements % 2) {
        *err = "unexpected reply";
        return NGX_ERROR;
    }

    /*
     * A record too large to be a key is refused alone, like an invalid
     * one; the connection's reader kept only its id, in str.
     */

    if (reply->elements > NGX_HTTP_FSAUTH_REPLY_ELEMENTS_MAX) {
        if (reply->element == NULL) {
            if (reply->str) {
                rec->id = ngx_max(ngx_atoi((u_char *) reply->str,
                                           reply->len), 0);
            }

        } else {
            for (i = 0; i < reply->elements; i += 2) {
                k = reply->element[i];
                v = reply->element[i + 1];

                if (k && v && k->type == REDIS_REPLY_STRING
                    && v->type == REDIS_REPLY_STRING
                    && k->len == 2 && k->str[0] == 'i' && k->str[1] == 'd')
                {
                    rec->id = ngx_max(ngx_atoi((u_char *) v->str, v->len),
                                      0);
                    break;
                }
            }
        }

        *err = "too many fields";
        return NGX_DECLINED;
    }

    if (reply->elements == 0) {
        *err = NULL;
        return NGX_DECLINED;
    }

    /*
     * Field values are not bounded here: a long "description" must not
     * break the key; the fields that matter are bounded where they are
     * read (id, nick, grants).
     */

    rc = NGX_OK;
    ips = NULL;

    for (i = 0; i < reply->elements; i += 2) {
        k = reply->element[i];
        v = reply->element[i + 1];

        if (k == NULL || k->type != REDIS_REPLY_STRING
            || k->len > FSAUTH_FIELD_NAME_MAX
            || v == NULL || v->type != REDIS_REPLY_STRING)
        {
            *err = "unexpected reply element";
            return NGX_ERROR;
        }

        /* an invalid id declines the key, unless the reply is malformed */

        if (rc != NGX_OK) {
            continue;
        }

        frc = ngx_http_fsauth_record_apply(rec, (u_char *) k->str, k->len,
                                           (u_char *) v->str, v->len);

        if (frc == NGX_DONE) {
            ips = v;

        } else if (frc != NGX_OK) {
            rc = NGX_DECLINED;
        }
    }

    if (rc != NGX_OK) {
        *err = "invalid id";
        return NGX_DECLINED;
    }

    if (ips) {
        ngx_http_fsauth_record_allow_ips(rec, (u_char *) ips->str, ips->len);
    }

    if (rec->bad_nick) {
        *err = "a nick that is not printable UTF-8";
        return NGX_DECLINED;
    }

    if (rec->bad_expires) {
        *err = "an \"expires\" that is not unix seconds";
        return NGX_DECLINED;
    }

    if (rec->bad_allow_ips) {
        *err = "an \"allow_ips\" that is not a comma list of at most 8 "
               "IPv4/IPv6 networks";
        return NGX_DECLINED;
    }

    if (rec->id == 0) {
        *err = "no id";
        return NGX_DECLINED;
    }

    *err = NULL;
    return NGX_OK;
}


/* the grant of one resource, read from the reply itself */

ngx_int_t
ngx_http_fsauth_record_reply_grant(redisReply *reply, ngx_str_t *resource,
    ngx_uint_t *mask)
{
    size_t       i;
    redisReply  *k, *v;

    for (i = 0; i + 1 < reply->elements; i += 2) {
        k = reply->element[i];
        v = reply->element[i + 1];

        if (k->len == resource->len + 4
            && ngx_strncmp(k->str, "res:", 4) == 0
            && ngx_memcmp(k->str + 4, resource->data, resource->len) == 0)
        {
            *mask = ngx_http_fsauth_grant_parse((u_char *) v->str, v->len);
            return NGX_OK;
        }
    }

    return NGX_DECLINED;
}
