
/*
 * Copyright (C) fsauth authors
 * BSD-2-Clause, see LICENSE.
 */


#include "ngx_http_fsauth_module.h"
#include "ngx_http_fsauth_redis.h"


static void *ngx_http_fsauth_record_read_string(const redisReadTask *task,
    char *str, size_t len);


/*
 * The shared rules own these limits; ngx_http_fsauth_redis.h keeps its
 * own names for them, which must not drift.
 */

#if (NGX_HTTP_FSAUTH_PREFIX_MAX != FSAUTH_PREFIX_MAX                          \
     || NGX_HTTP_FSAUTH_REPLY_ELEMENTS_MAX != FSAUTH_REPLY_ELEMENTS_MAX)
#error "ngx_http_fsauth_redis.h and fsauth_rules.h disagree on a limit"
#endif


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


/* what a hash field's name says its value is */
#define NGX_HTTP_FSAUTH_FIELD_OTHER       0
#define NGX_HTTP_FSAUTH_FIELD_ID          1
#define NGX_HTTP_FSAUTH_FIELD_NICK        2
#define NGX_HTTP_FSAUTH_FIELD_ENABLED     3
#define NGX_HTTP_FSAUTH_FIELD_EXPIRES     4
#define NGX_HTTP_FSAUTH_FIELD_ALLOW_IPS   5
#define NGX_HTTP_FSAUTH_FIELD_FULLACCESS  6
#define NGX_HTTP_FSAUTH_FIELD_GRANT       7   /* its name is in the record */
#define NGX_HTTP_FSAUTH_FIELD_GRANT_OVER  8   /* no room for it there */


/*
 * The name of one hash field of <prefix>key:<digest>.  A grant's length
 * and resource go into the record's grants area at once, past grants_len:
 * its value, when it comes, only adds the mask and counts it in.
 * Inlined in the reply's loops: a call per field would cost more than
 * most fields do.
 */

static ngx_inline ngx_uint_t
ngx_http_fsauth_record_name(ngx_http_fsauth_record_t *rec, u_char *name,
    size_t name_len)
{
    u_char  *g;

    /*
     * Only a known name returns here: "res:abc" has the length of
     * "enabled", "res:ab" that of "nick" + 2, and so on.
     */

    switch (name_len) {

    case 2:
        if (ngx_memcmp(name, "id", 2) == 0) {
            return NGX_HTTP_FSAUTH_FIELD_ID;
        }

        break;

    case 4:
        if (ngx_memcmp(name, "nick", 4) == 0) {
            return NGX_HTTP_FSAUTH_FIELD_NICK;
        }

        break;

    case 7:
        if (ngx_memcmp(name, "enabled", 7) == 0) {
            return NGX_HTTP_FSAUTH_FIELD_ENABLED;
        }

        if (ngx_memcmp(name, "expires", 7) == 0) {
            return NGX_HTTP_FSAUTH_FIELD_EXPIRES;
        }

        break;

    case 9:
        if (ngx_memcmp(name, "allow_ips", 9) == 0) {
            return NGX_HTTP_FSAUTH_FIELD_ALLOW_IPS;
        }

        break;

    case 10:
        if (ngx_memcmp(name, "fullaccess", 10) == 0) {
            return NGX_HTTP_FSAUTH_FIELD_FULLACCESS;
        }

        break;

    default:
        break;
    }

    if (name_len <= 4 || ngx_memcmp(name, "res:", 4) != 0) {
        return NGX_HTTP_FSAUTH_FIELD_OTHER;
    }

    name += 4;
    name_len -= 4;

    if (name_len > NGX_HTTP_FSAUTH_RESOURCE_MAX
        || rec->grants_len + 2 + name_len > NGX_HTTP_FSAUTH_GRANTS_MAX)
    {
        rec->incomplete = 1;
        return NGX_HTTP_FSAUTH_FIELD_GRANT_OVER;
    }

    g = rec->grants + rec->grants_len;
    g[0] = (u_char) name_len;
    ngx_memcpy(&g[2], name, name_len);

    return NGX_HTTP_FSAUTH_FIELD_GRANT;
}


/*
 * The value of a field whose name was "kind".  Returns NGX_ERROR for an
 * "id" that is not a positive integer, NGX_DONE for "allow_ips" (the
 * caller reads it: the list goes after every grant); unknown fields are
 * ignored.
 */

static ngx_inline ngx_int_t
ngx_http_fsauth_record_value(ngx_http_fsauth_record_t *rec, ngx_uint_t kind,
    u_char *value, size_t value_len)
{
    u_char  *g;

    switch (kind) {

    case NGX_HTTP_FSAUTH_FIELD_GRANT:
        g = rec->grants + rec->grants_len;
        g[1] = (u_char) fsauth_grant_parse(value, value_len);
        rec->grants_len += 2 + g[0];
        return NGX_OK;

    case NGX_HTTP_FSAUTH_FIELD_ID:
        rec->id = ngx_atoi(value, value_len);
        if (rec->id <= 0) {
            rec->id = 0;
            return NGX_ERROR;
        }

        return NGX_OK;

    case NGX_HTTP_FSAUTH_FIELD_NICK:
        if (ngx_http_fsauth_record_text_valid(value, value_len) != NGX_OK) {
            rec->bad_nick = 1;
            return NGX_OK;
        }

        rec->nick_len = ngx_http_fsauth_record_utf8_cut(value, value_len,
                                                    NGX_HTTP_FSAUTH_NICK_MAX);
        ngx_memcpy(rec->nick, value, rec->nick_len);
        return NGX_OK;

    case NGX_HTTP_FSAUTH_FIELD_ENABLED:
        rec->enabled = fsauth_flag_on(value, value_len);
        return NGX_OK;

    case NGX_HTTP_FSAUTH_FIELD_EXPIRES:
        rec->expires = fsauth_expires_parse(value, value_len);
        rec->bad_expires = (rec->expires <= 0);
        return NGX_OK;

    case NGX_HTTP_FSAUTH_FIELD_FULLACCESS:
        rec->fullaccess = fsauth_flag_on(value, value_len);
        return NGX_OK;

    case NGX_HTTP_FSAUTH_FIELD_ALLOW_IPS:
        return NGX_DONE;

    default:
        return NGX_OK;
    }
}


/*
 * One field alone, for the fuzzers, through the reply's own code; its
 * value is not parsed when it is "allow_ips" (NGX_DONE), which only a
 * whole reply places.
 */

ngx_int_t
ngx_http_fsauth_record_field(ngx_http_fsauth_record_t *rec, u_char *name,
    size_t name_len, u_char *value, size_t value_len)
{
    ngx_uint_t                 kind;
    redisReadTask              root, task;
    ngx_http_fsauth_builder_t  b;

    ngx_memzero(&b, sizeof(ngx_http_fsauth_builder_t));
    b.rec = *rec;
    b.over_last = &b.over;
    b.alloc = malloc;

    ngx_memzero(&root, sizeof(redisReadTask));
    root.type = REDIS_REPLY_ARRAY;
    root.obj = &b;

    ngx_memzero(&task, sizeof(redisReadTask));
    task.type = REDIS_REPLY_STRING;
    task.parent = &root;

    (void) ngx_http_fsauth_record_read_string(&task, (char *) name, name_len);

    kind = b.kind;

    if (kind != NGX_HTTP_FSAUTH_FIELD_ALLOW_IPS) {
        task.idx = 1;
        (void) ngx_http_fsauth_record_read_string(&task, (char *) value,
                                                  value_len);
    }

    *rec = b.rec;

    /* a grant with no room in the record: only the flag says so here */

    if (b.pending) {
        free(b.pending);
    }

    if (kind == NGX_HTTP_FSAUTH_FIELD_ALLOW_IPS) {
        return NGX_DONE;
    }

    return (kind == NGX_HTTP_FSAUTH_FIELD_ID && rec->id == 0) ? NGX_ERROR
                                                              : NGX_OK;
}


/*
 * An HGETALL reply read as it arrives: hiredis's reader hands each
 * element over while its bytes are in the read buffer, and only what the
 * record keeps is copied, with no reply objects in between.  A grant
 * that does not fit in the record is kept aside (b->over), with its
 * resource, for the request that asks for it.
 */

void
ngx_http_fsauth_record_begin(ngx_http_fsauth_builder_t *b, size_t elements)
{
    ngx_memzero(&b->reply, sizeof(redisReply));
    b->reply.type = REDIS_REPLY_ARRAY;
    b->reply.elements = elements;

    ngx_http_fsauth_record_init(&b->rec);

    b->over = NULL;
    b->over_last = &b->over;
    b->pending = NULL;
    b->kind = NGX_HTTP_FSAUTH_FIELD_OTHER;
    b->nips = 0;
    b->too_many = (elements > NGX_HTTP_FSAUTH_REPLY_ELEMENTS_MAX);
    b->bad_element = 0;
    b->bad_id = 0;
    b->ips = 0;
    b->bad_ips = 0;
    b->nomem = 0;
}


static ngx_http_fsauth_over_t *
ngx_http_fsauth_record_over(ngx_http_fsauth_builder_t *b, u_char *name,
    size_t len, ngx_uint_t mask)
{
    ngx_http_fsauth_over_t  *o;

    o = b->alloc(offsetof(ngx_http_fsauth_over_t, name) + len);
    if (o == NULL) {
        b->nomem = 1;
        return NULL;
    }

    o->len = len;
    o->mask = mask;
    ngx_memcpy(o->name, name, len);

    o->next = NULL;
    *b->over_last = o;
    b->over_last = &o->next;

    return o;
}


/*
 * Element "idx" of the reply, a bulk string.  Returns what hiredis's
 * reader keeps for the element (the reply's root: elements are not
 * stored), NULL when a grant kept aside finds no memory.
 */

static ngx_inline void *
ngx_http_fsauth_record_string(ngx_http_fsauth_builder_t *b, size_t idx,
    u_char *s, size_t len)
{
    int        n;
    ngx_int_t  rc;

    if (idx % 2 == 0) {

        /* a record too large to be a key: only its id, for the log */

        if (b->too_many) {
            b->kind = (len == 2 && s[0] == 'i' && s[1] == 'd')
                      ? NGX_HTTP_FSAUTH_FIELD_ID
                      : NGX_HTTP_FSAUTH_FIELD_OTHER;
            return &b->reply;
        }

        if (len > FSAUTH_FIELD_NAME_MAX) {
            b->bad_element = 1;
            b->kind = NGX_HTTP_FSAUTH_FIELD_OTHER;
            return &b->reply;
        }

        b->kind = ngx_http_fsauth_record_name(&b->rec, s, len);

        if (b->kind == NGX_HTTP_FSAUTH_FIELD_GRANT_OVER) {
            b->pending = ngx_http_fsauth_record_over(b, s + 4, len - 4, 0);
            if (b->pending == NULL) {
                return NULL;
            }
        }

        return &b->reply;
    }

    if (b->too_many) {
        if (b->kind == NGX_HTTP_FSAUTH_FIELD_ID) {
            b->rec.id = ngx_atoi(s, len);
            b->rec.id = ngx_max(b->rec.id, 0);
        }

        return &b->reply;
    }

    /* after an invalid id nothing more is read: the key is declined */

    if (b->bad_id) {
        return &b->reply;
    }

    if (b->kind == NGX_HTTP_FSAUTH_FIELD_GRANT_OVER) {
        b->pending->mask = fsauth_grant_parse(s, len);
        return &b->reply;
    }

    rc = ngx_http_fsauth_record_value(&b->rec, b->kind, s, len);

    if (rc == NGX_DONE) {

        /* "allow_ips": parsed now, placed after the grants at the end */

        b->ips = 1;
        b->bad_ips = 0;
        b->nips = 0;

        if (len) {
            n = fsauth_cidr_list_parse((const char *) s, len, b->cidrs,
                                       NGX_HTTP_FSAUTH_CIDRS_MAX);
            if (n <= 0) {
                b->bad_ips = 1;

            } else {
                b->nips = n;
            }
        }

    } else if (rc == NGX_ERROR) {
        b->bad_id = 1;
    }

    return &b->reply;
}


/* element "idx" of the reply, anything but a bulk string */

static void
ngx_http_fsauth_record_other(ngx_http_fsauth_builder_t *b, size_t idx)
{
    if (!b->too_many) {
        b->bad_element = 1;
    }

    b->kind = NGX_HTTP_FSAUTH_FIELD_OTHER;
}


/*
 * hiredis's reader hands the reply's elements to these functions: the
 * root object, task->parent->obj, is the builder.  What the reader
 * keeps for an element is the builder again: nothing is stored, and
 * whatever lies deeper, inside an element that is not a string, is
 * skipped.
 */

static void *
ngx_http_fsauth_record_read_string(const redisReadTask *task, char *str,
    size_t len)
{
    if (task->parent->parent) {
        return task->parent->obj;
    }

    if (task->type != REDIS_REPLY_STRING) {
        ngx_http_fsauth_record_other(task->parent->obj, task->idx);
        return task->parent->obj;
    }

    return ngx_http_fsauth_record_string(task->parent->obj, task->idx,
                                         (u_char *) str, len);
}


static void *
ngx_http_fsauth_record_read_other(const redisReadTask *task)
{
    if (task->parent->parent == NULL) {
        ngx_http_fsauth_record_other(task->parent->obj, task->idx);
    }

    return task->parent->obj;
}


#if (NGX_HTTP_FSAUTH_HIREDIS_V1)

static void *
ngx_http_fsauth_record_read_array(const redisReadTask *task, size_t elements)
{
    return ngx_http_fsauth_record_read_other(task);
}


static void *
ngx_http_fsauth_record_read_double(const redisReadTask *task, double value,
    char *str, size_t len)
{
    return ngx_http_fsauth_record_read_other(task);
}


static void *
ngx_http_fsauth_record_read_bool(const redisReadTask *task, int value)
{
    return ngx_http_fsauth_record_read_other(task);
}

#else

static void *
ngx_http_fsauth_record_read_array(const redisReadTask *task, int elements)
{
    return ngx_http_fsauth_record_read_other(task);
}

#endif


static void *
ngx_http_fsauth_record_read_integer(const redisReadTask *task,
    long long value)
{
    return ngx_http_fsauth_record_read_other(task);
}


/* the reader's functions for the elements of a lookup reply */

void
ngx_http_fsauth_record_reader(redisReplyObjectFunctions *fn)
{
    fn->createString = ngx_http_fsauth_record_read_string;
    fn->createArray = ngx_http_fsauth_record_read_array;
    fn->createInteger = ngx_http_fsauth_record_read_integer;
    fn->createNil = ngx_http_fsauth_record_read_other;
#if (NGX_HTTP_FSAUTH_HIREDIS_V1)
    fn->createDouble = ngx_http_fsauth_record_read_double;
    fn->createBool = ngx_http_fsauth_record_read_bool;
#endif
}


/*
 * "allow_ips": at most 8 IPv4/IPv6 networks, stored after the grants.
 * The list is always kept whole: grants that no longer fit leave the
 * area from its end and are kept aside with those that never fit.
 */

static ngx_int_t
ngx_http_fsauth_record_place_ips(ngx_http_fsauth_builder_t *b)
{
    u_char                    *g, *last;
    size_t                     need, keep;
    ngx_http_fsauth_record_t  *rec;

    rec = &b->rec;
    need = b->nips * sizeof(fsauth_cidr_t);

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

        for (g = rec->grants + keep; g < last; g += 2 + g[0]) {
            if (ngx_http_fsauth_record_over(b, &g[2], g[0], g[1]) == NULL) {
                return NGX_ERROR;
            }
        }

        rec->grants_len = keep;
        rec->incomplete = 1;
    }

    ngx_memcpy(rec->grants + rec->grants_len, b->cidrs, need);
    rec->ncidrs = b->nips;

    return NGX_OK;
}


/*
 * The reply is complete.  NGX_OK: a usable record in b->rec;
 * NGX_DECLINED: no such key (empty hash) or a record without a valid id;
 * NGX_ERROR: a reply of the wrong shape, which is treated like an outage.
 */

ngx_int_t
ngx_http_fsauth_record_end(ngx_http_fsauth_builder_t *b, const char **err)
{
    ngx_http_fsauth_record_t  *rec;

    rec = &b->rec;

    if (b->reply.elements % 2) {
        *err = "unexpected reply";
        return NGX_ERROR;
    }

    if (b->nomem) {
        *err = "no memory";
        return NGX_ERROR;
    }

    /* a record too large to be a key is refused alone, like an invalid one */

    if (b->too_many) {
        *err = "too many fields";
        return NGX_DECLINED;
    }

    if (b->reply.elements == 0) {
        *err = NULL;
        return NGX_DECLINED;
    }

    /*
     * Field values are not bounded here: a long "description" must not
     * break the key; the fields that matter are bounded where they are
     * read (id, nick, grants).
     */

    if (b->bad_element) {
        *err = "unexpected reply element";
        return NGX_ERROR;
    }

    if (b->bad_id) {
        *err = "invalid id";
        return NGX_DECLINED;
    }

    if (b->ips) {
        if (b->bad_ips) {
            rec->bad_allow_ips = 1;

        } else if (b->nips
                   && ngx_http_fsauth_record_place_ips(b) != NGX_OK)
        {
            *err = "no memory";
            return NGX_ERROR;
        }
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


/* a grant that is not in the record, from those kept aside */

ngx_int_t
ngx_http_fsauth_record_over_grant(ngx_http_fsauth_builder_t *b,
    ngx_str_t *resource, ngx_uint_t *mask)
{
    ngx_http_fsauth_over_t  *o;

    for (o = b->over; o; o = o->next) {
        if (o->len == resource->len
            && ngx_memcmp(o->name, resource->data, resource->len) == 0)
        {
            *mask = o->mask;
            return NGX_OK;
        }
    }

    return NGX_DECLINED;
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
 * A reply as a whole (one that did not go through the builder: an error,
 * a reply of another type, no reply when the link drops; and the
 * fuzzers' replies), converted like one read as it arrives.
 */

ngx_int_t
ngx_http_fsauth_record_from_reply(redisReply *reply,
    ngx_http_fsauth_builder_t *b, const char **err)
{
    size_t          i;
    redisReply     *e;
    redisReadTask   root, task;

    ngx_http_fsauth_record_init(&b->rec);

    if (reply == NULL) {
        *err = "no reply";
        return NGX_ERROR;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        *err = "error reply";
        return NGX_ERROR;
    }

    if (reply->type != REDIS_REPLY_ARRAY) {
        *err = "unexpected reply";
        return NGX_ERROR;
    }

    ngx_http_fsauth_record_begin(b, reply->elements);

    /* each element as the reader would hand it over */

    ngx_memzero(&root, sizeof(redisReadTask));
    root.type = REDIS_REPLY_ARRAY;
    root.obj = b;

    ngx_memzero(&task, sizeof(redisReadTask));
    task.parent = &root;

    for (i = 0; reply->element && i < reply->elements; i++) {
        e = reply->element[i];
        task.idx = i;

        if (e && (e->type == REDIS_REPLY_STRING
                  || e->type == REDIS_REPLY_STATUS
                  || e->type == REDIS_REPLY_ERROR))
        {
            task.type = e->type;

            if (ngx_http_fsauth_record_read_string(&task, e->str, e->len)
                == NULL)
            {
                break;
            }

        } else {
            task.type = e ? e->type : REDIS_REPLY_NIL;
            (void) ngx_http_fsauth_record_read_other(&task);
        }
    }

    return ngx_http_fsauth_record_end(b, err);
}
