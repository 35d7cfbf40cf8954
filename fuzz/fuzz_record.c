
/*
 * Copyright (C) fsauth authors
 * BSD-2-Clause, see LICENSE.
 */


/*
 * Redis reply -> key record: raw bytes go through hiredis's own RESP
 * reader (redisReaderCreate/Feed/GetReply), exactly as the module's
 * connection receives them, and every reply tree is converted with
 * ngx_http_fsauth_record_from_reply, then read for one resource with
 * ngx_http_fsauth_record_extract and, when the record is incomplete,
 * ngx_http_fsauth_record_reply_grant (what the lookup callback does).
 *
 * Input: "<resource>\0<RESP bytes>".  Without a NUL in the first 300
 * bytes the resource is "clientes" and the whole input is RESP.
 *
 * Checked: no memory error, and the record is self-consistent: id > 0,
 * nick and grants within their fixed buffers, the packed grants walk
 * ends exactly at grants_len, the address list ("allow_ips") after them
 * within the same buffer, each entry a network of its family, and the
 * grant found for the resource is the one a direct scan of the reply
 * finds (when that field name is unique, as Redis hash fields are), also
 * when the list pushed grants out of the record.  The client address,
 * 127.0.0.1 or ::1 by the input's length, is outside an empty list never
 * and inside a list exactly when an entry matches it.
 *
 * hiredis 0.14 allocates a multi-bulk's element array as soon as it reads
 * the "*<n>" header, before any element arrives: a rogue server can make
 * any hiredis client allocate 8 * n bytes.  That is hiredis's behaviour,
 * not the module's parser, so arrays are capped at FUZZ_ARRAY_MAX here to
 * keep the fuzzer's memory bounded (see fuzz/README.md).
 */


#include "ngx_http_fsauth_module.h"
#include "ngx_http_fsauth_redis.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>


#define FUZZ_RESOURCE_MAX  300
#define FUZZ_ARRAY_MAX     70000
#define FUZZ_REPLIES_MAX   64


static redisReplyObjectFunctions   fuzz_functions;
static redisReplyObjectFunctions  *fuzz_default;


static void *
fuzz_create_array(const redisReadTask *task, int elements)
{
    if (elements < 0 || elements > FUZZ_ARRAY_MAX) {
        return NULL;
    }

    return fuzz_default->createArray(task, elements);
}


static void
fuzz_check_record(ngx_http_fsauth_record_t *rec)
{
    size_t          n, i;
    u_char         *g, *last;
    fsauth_cidr_t  *c;

    if (rec->id <= 0
        || rec->nick_len > NGX_HTTP_FSAUTH_NICK_MAX
        || rec->grants_len > NGX_HTTP_FSAUTH_GRANTS_MAX
        || rec->ncidrs > NGX_HTTP_FSAUTH_CIDRS_MAX
        || ngx_http_fsauth_record_used(rec) > NGX_HTTP_FSAUTH_GRANTS_MAX
        || rec->bad_allow_ips)
    {
        abort();
    }

    c = ngx_http_fsauth_record_cidrs(rec);

    for (i = 0; i < rec->ncidrs; i++) {
        if (!(c[i].family == 4 && c[i].prefix <= 32)
            && !(c[i].family == 6 && c[i].prefix <= 128))
        {
            abort();
        }
    }

    g = rec->grants;
    last = g + rec->grants_len;

    while (g < last) {
        if (last - g < 2) {
            abort();
        }

        n = g[0];

        if (n == 0 || n > NGX_HTTP_FSAUTH_RESOURCE_MAX
            || (size_t) (last - g) < 2 + n || g[1] > 0x0f)
        {
            abort();
        }

        g += 2 + n;
    }
}


/* the first "res:<resource>" field of the reply, and how many there are */

static ngx_uint_t
fuzz_scan_reply(redisReply *reply, ngx_str_t *resource, ngx_uint_t *mask)
{
    size_t       i;
    ngx_uint_t   count;
    redisReply  *k, *v;

    count = 0;

    for (i = 0; i + 1 < reply->elements; i += 2) {
        k = reply->element[i];
        v = reply->element[i + 1];

        if (k->len == resource->len + 4
            && memcmp(k->str, "res:", 4) == 0
            && memcmp(k->str + 4, resource->data, resource->len) == 0)
        {
            if (count++ == 0) {
                *mask = ngx_http_fsauth_grant_parse((u_char *) v->str,
                                                    v->len);
            }
        }
    }

    return count;
}


static void
fuzz_convert(redisReply *reply, ngx_str_t *resource)
{
    int                        family, in;
    u_char                    *addr;
    ngx_int_t                  rc;
    ngx_uint_t                 mask, want_mask, count, i;
    const char                *err;
    fsauth_cidr_t             *c;
    struct sockaddr           *sa;
    struct sockaddr_in         sin;
    struct sockaddr_in6        sin6;
    ngx_http_fsauth_result_t   res;
    ngx_http_fsauth_record_t   rec;

    err = (const char *) 1;

    rc = ngx_http_fsauth_record_from_reply(reply, &rec, &err);

    if (rc == NGX_ERROR) {
        if (err == NULL || err == (const char *) 1) {
            abort();
        }

        (void) strlen(err);
        return;
    }

    if (rc == NGX_DECLINED) {
        if (err == (const char *) 1) {
            abort();
        }

        return;
    }

    if (rc != NGX_OK || err != NULL) {
        abort();
    }

    fuzz_check_record(&rec);

    ngx_memzero(&sin, sizeof(struct sockaddr_in));
    ngx_memzero(&sin6, sizeof(struct sockaddr_in6));

    if (resource->len % 2) {
        sin6.sin6_family = AF_INET6;
        sin6.sin6_addr.s6_addr[15] = 1;
        sa = (struct sockaddr *) &sin6;
        family = 6;
        addr = sin6.sin6_addr.s6_addr;

    } else {
        sin.sin_family = AF_INET;
        sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        sa = (struct sockaddr *) &sin;
        family = 4;
        addr = (u_char *) &sin.sin_addr;
    }

    ngx_memzero(&res, sizeof(ngx_http_fsauth_result_t));
    ngx_http_fsauth_record_extract(&rec, resource, sa, &res);

    c = ngx_http_fsauth_record_cidrs(&rec);
    in = 0;

    for (i = 0; i < rec.ncidrs; i++) {
        in |= fsauth_cidr_match(&c[i], family, addr);
    }

    if (res.outside != (rec.ncidrs && !in)) {
        abort();
    }

    if (!res.has_grant && rec.incomplete
        && ngx_http_fsauth_record_reply_grant(reply, resource, &mask)
           == NGX_OK)
    {
        res.has_grant = 1;
        res.mask = mask;
    }

    if (res.id != rec.id || res.nick_len != rec.nick_len
        || res.mask > 0x0f || (!res.has_grant && res.mask != 0))
    {
        abort();
    }

    if (resource->len == 0) {
        return;
    }

    want_mask = 0;
    count = fuzz_scan_reply(reply, resource, &want_mask);

    if (count == 1 && (!res.has_grant || res.mask != want_mask)) {
        abort();
    }

    if (count == 0 && res.has_grant) {
        abort();
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int             n;
    void           *reply;
    u_char         *res_copy;
    size_t          rlen;
    ngx_str_t       resource;
    redisReader    *reader;
    const uint8_t  *nul, *rname, *resp;

    if (fuzz_default == NULL) {
        reader = redisReaderCreate();
        if (reader == NULL) {
            abort();
        }

        fuzz_default = reader->fn;
        fuzz_functions = *reader->fn;
        fuzz_functions.createArray = fuzz_create_array;
        redisReaderFree(reader);
    }

    nul = memchr(data, '\0', ngx_min(size, FUZZ_RESOURCE_MAX));

    if (nul) {
        rname = data;
        rlen = nul - data;
        resp = nul + 1;

    } else {
        rname = (const uint8_t *) "clientes";
        rlen = 8;
        resp = data;
    }

    /* exactly sized, so that ASan sees any over-read of the resource */

    res_copy = malloc(rlen ? rlen : 1);
    if (res_copy == NULL) {
        abort();
    }

    memcpy(res_copy, rname, rlen);

    resource.data = res_copy;
    resource.len = rlen;

    reader = redisReaderCreateWithFunctions(&fuzz_functions);
    if (reader == NULL) {
        abort();
    }

    if (redisReaderFeed(reader, (const char *) resp, data + size - resp)
        != REDIS_OK)
    {
        abort();
    }

    for (n = 0; n < FUZZ_REPLIES_MAX; n++) {
        reply = NULL;

        if (redisReaderGetReply(reader, &reply) != REDIS_OK || reply == NULL) {
            break;
        }

        fuzz_convert(reply, &resource);

        freeReplyObject(reply);
    }

    /* the callback is also called with no reply when the link drops */

    fuzz_convert(NULL, &resource);

    redisReaderFree(reader);
    free(res_copy);

    return 0;
}
