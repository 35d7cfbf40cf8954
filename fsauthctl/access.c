
/*
 * Copyright (C) fsauth authors
 * BSD-2-Clause, see LICENSE.
 */


/*
 * fsauthctl: per-resource grants ("access" commands) and the access
 * decision shared with the module.
 *
 * A grant is the field res:<resource> of <prefix>key:<D>, whose value is a
 * comma list of the words get, post, put and delete.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fsauthctl.h"


static int fsauthctl_access_decide(redisReply *hash, const char *resource,
    const char *method);
static int fsauthctl_access_record_id(const char *s, size_t len);
static int fsauthctl_access_path_valid(const char *s, size_t len);
static int fsauthctl_access_set(fsauthctl_t *ctl, fsauthctl_call_t *call,
    const char *list, int *existed);
static int fsauthctl_access_read(fsauthctl_t *ctl, const char *keyid,
    redisReply **reply, int *moved);


/*
 * A resource is one raw path segment: 1..100 bytes (the FacturaScripts
 * column size), no "/", no space or control character.
 */

int
fsauthctl_access_resource_valid(const char *s, size_t len)
{
    size_t  i;

    if (len == 0 || len > FSAUTH_RESOURCE_MAX) {
        return 0;
    }

    for (i = 0; i < len; i++) {
        if ((unsigned char) s[i] <= 0x20 || s[i] == 0x7f || s[i] == '/') {
            return 0;
        }
    }

    return 1;
}


/* sets (list) or deletes (NULL) the grant of key ID for RESOURCE */

static int
fsauthctl_access_set(fsauthctl_t *ctl, fsauthctl_call_t *call,
    const char *list, int *existed)
{
    int    rc;
    char  *field;

    field = fsauthctl_sprintf("res:%s", call->pos[1]);
    rc = fsauthctl_store_set_field(ctl, call->id, field, list, existed);
    free(field);

    return rc;
}


int
fsauthctl_access_grant_args(fsauthctl_call_t *call)
{
    int    rc;
    char  *res;

    if (fsauthctl_access_resource_valid(call->pos[1], strlen(call->pos[1])))
    {
        return FSAUTHCTL_OK;
    }

    res = fsauthctl_output_escape(call->pos[1]);
    rc = fsauthctl_opt_usage(call->cmd, "invalid resource \"%s\" (1..%d "
                             "bytes, no \"/\", space or control "
                             "character)", res, FSAUTH_RESOURCE_MAX);
    free(res);

    return rc;
}


int
fsauthctl_access_grant(fsauthctl_t *ctl, fsauthctl_call_t *call)
{
    int                 rc, existed;
    char               *res;
    char                list[32];
    unsigned            mask;
    fsauthctl_grant_t   g;

    mask = (call->get ? FSAUTH_GRANT_GET : 0)
           | (call->post ? FSAUTH_GRANT_POST : 0)
           | (call->put ? FSAUTH_GRANT_PUT : 0)
           | (call->del ? FSAUTH_GRANT_DELETE : 0);

    fsauth_grant_format(mask, list);

    fsauthctl_audit_set(ctl, "access.grant", call->id, "%s: %s",
                        call->pos[1], list[0] ? list : "none");

    rc = fsauthctl_access_set(ctl, call, list, &existed);
    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    /* the resource as "access list" shows it, escaped */

    res = fsauthctl_output_escape(call->pos[1]);
    g.resource = call->pos[1];
    g.mask = mask;
    rc = fsauthctl_output_result(call,
                                 fsauthctl_json_grant(&g, "idapikey",
                                                      call->id),
                                 "key %lld: %s: %s\n", call->id, res,
                                 list[0] ? list : "none");
    free(res);

    return rc;
}


int
fsauthctl_access_revoke_args(fsauthctl_call_t *call)
{
    if (call->pos[1][0] == '\0') {
        return fsauthctl_opt_usage(call->cmd, "empty resource");
    }

    return FSAUTHCTL_OK;
}


int
fsauthctl_access_revoke(fsauthctl_t *ctl, fsauthctl_call_t *call)
{
    int         rc, existed;
    char       *res;
    long long   id;

    id = call->id;

    fsauthctl_audit_set(ctl, "access.revoke", id, "%s", call->pos[1]);

    rc = fsauthctl_access_set(ctl, call, NULL, &existed);
    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    res = fsauthctl_output_escape(call->pos[1]);

    if (existed) {
        rc = fsauthctl_output_result(call,
                                     json_pack("{s:I, s:o, s:b}",
                                               "idapikey", (json_int_t) id,
                                               "resource",
                                               fsauthctl_json_string(
                                                   call->pos[1]),
                                               "revoked", 1),
                                     "key %lld: %s: revoked\n", id, res);

    } else {
        rc = fsauthctl_error("key %lld has no grant for \"%s\"", id, res);
    }

    free(res);

    return rc;
}


int
fsauthctl_access_list(fsauthctl_t *ctl, fsauthctl_call_t *call)
{
    int                 rc;
    char               *res;
    char                list[32];
    size_t              i;
    json_t             *arr;
    fsauthctl_key_t     key;
    fsauthctl_table_t   table;

    rc = fsauthctl_store_load(ctl, call->id, &key);
    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    if (call->json) {
        arr = json_array();

        for (i = 0; i < key.ngrants; i++) {
            json_array_append_new(arr, fsauthctl_json_grant(&key.grants[i],
                                                            "idapikey",
                                                            call->id));
        }

        rc = fsauthctl_json_print(arr);
        json_decref(arr);

    } else {
        fsauthctl_table_init(&table, 2, "RESOURCE", "ALLOW");

        for (i = 0; i < key.ngrants; i++) {
            fsauth_grant_format(key.grants[i].mask, list);
            res = fsauthctl_output_escape(key.grants[i].resource);
            fsauthctl_table_row(&table, res, list[0] ? list : "-");
            free(res);
        }

        fsauthctl_table_print(&table);
    }

    fsauthctl_store_free(&key, 0);

    return rc;
}


/*
 * "access check" makes the module's decision for a request with the
 * token of key ID, from what the module reads in Redis, in its order
 * (the record's "enabled" and the grant are the shared fsauth_decide()):
 *
 *   the kill switch   <prefix>api "enabled" exactly "0": everything 403;
 *   the path          a resource the module's path rule refuses: 403;
 *   the record        read as ngx_http_fsauth_record_from_reply() does:
 *                     unreadable (an outage, 503), no hash, an id that is
 *                     not a positive integer, a nick that is not
 *                     printable UTF-8, "enabled" not exactly "1", an
 *                     "expires" malformed or reached, or an "allow_ips"
 *                     malformed: denied (a well-formed one is taken as
 *                     holding the client, whose address is not known);
 *   the grant         the listing and full access ("1") allowed, else the
 *                     method's word must be in res:<resource>.
 *
 * What only nginx's configuration knows (fsauth_api off, OPTIONS passed by
 * fsauth_preflight, the global key, bans, failure modes) is left out.
 */

static int
fsauthctl_access_decide(redisReply *hash, const char *resource,
    const char *method)
{
    int          key_ok;
    size_t       i, len;
    long long    expires;
    redisReply  *f, *v, *enabled, *full, *grant;

    if (hash->type != REDIS_REPLY_ARRAY
        || hash->elements % 2
        || hash->elements > FSAUTH_REPLY_ELEMENTS_MAX)
    {
        return 0;
    }

    key_ok = 0;
    enabled = NULL;
    full = NULL;
    grant = NULL;
    len = strlen(resource);

    for (i = 0; i < hash->elements; i += 2) {
        f = hash->element[i];
        v = hash->element[i + 1];

        /* a reply the module cannot read is an outage for it, never 200 */

        if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING
            || f->len > FSAUTH_FIELD_NAME_MAX)
        {
            return 0;
        }

        if (f->len == 2 && memcmp(f->str, "id", 2) == 0) {
            if (!fsauthctl_access_record_id(v->str, v->len)) {
                return 0;
            }

            key_ok = 1;

        } else if (f->len == 7 && memcmp(f->str, "enabled", 7) == 0) {
            enabled = v;

        } else if (f->len == 4 && memcmp(f->str, "nick", 4) == 0) {

            /* a nick that could split a header refuses the whole key */

            if (!fsauthctl_text_valid(v->str, v->len)) {
                return 0;
            }

        } else if (f->len == 10 && memcmp(f->str, "fullaccess", 10) == 0) {
            full = v;

        } else if (f->len == 7 && memcmp(f->str, "expires", 7) == 0) {
            expires = fsauth_expires_parse(v->str, v->len);

            if (expires <= 0 || (long long) time(NULL) >= expires) {
                return 0;
            }

        } else if (f->len == 9 && memcmp(f->str, "allow_ips", 9) == 0) {
            if (v->len
                && fsauth_cidr_list_parse(v->str, v->len, NULL,
                                          FSAUTH_CIDRS_MAX) < 0)
            {
                return 0;
            }

        } else if (f->len == len + 4 && memcmp(f->str, "res:", 4) == 0
                   && memcmp(f->str + 4, resource, len) == 0)
        {
            grant = v;
        }
    }

    key_ok = key_ok && enabled && fsauth_flag_on(enabled->str, enabled->len);

    return fsauth_decide(key_ok,
                         full && fsauth_flag_on(full->str, full->len),
                         len, grant != NULL,
                         grant ? fsauth_grant_parse(grant->str, grant->len)
                               : 0,
                         fsauth_method_grant(method, strlen(method)))
           == FSAUTH_ALLOW;
}


/*
 * The module reads "id" with ngx_atoi(): decimal digits only, no sign, no
 * overflow of ngx_int_t (intptr_t); then it must be above 0.
 */

static int
fsauthctl_access_record_id(const char *s, size_t len)
{
    size_t    i;
    intptr_t  n, cutoff, cutlim;

    if (len == 0) {
        return 0;
    }

    cutoff = INTPTR_MAX / 10;
    cutlim = INTPTR_MAX % 10;

    for (n = 0, i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return 0;
        }

        if (n >= cutoff && (n > cutoff || s[i] - '0' > cutlim)) {
            return 0;
        }

        n = n * 10 + (s[i] - '0');
    }

    return n > 0;
}


/*
 * Could RESOURCE be the resource of a request "/api/3/RESOURCE" that the
 * module does not refuse as ambiguous (403 before any lookup)?  One path
 * segment of bytes 0x21..0x7e but "#" and "\", no encoded NUL, "/" or "\",
 * not a dot segment ("." or "..", dots possibly written "%2e"); a "%" not
 * followed by two hex digits is refused by nginx itself (400).
 */

static int
fsauthctl_access_path_valid(const char *s, size_t len)
{
    size_t  i, dots;

    for (i = 0; i < len; i++) {
        if ((unsigned char) s[i] < 0x21 || (unsigned char) s[i] > 0x7e
            || s[i] == '#' || s[i] == '\\' || s[i] == '/')
        {
            return 0;
        }

        if (s[i] != '%') {
            continue;
        }

        if (len - i < 3 || fsauth_hex_digit((unsigned char) s[i + 1]) < 0
            || fsauth_hex_digit((unsigned char) s[i + 2]) < 0
            || (s[i + 1] == '0' && s[i + 2] == '0')
            || (s[i + 1] == '2' && (s[i + 2] | 0x20) == 'f')
            || (s[i + 1] == '5' && (s[i + 2] | 0x20) == 'c'))
        {
            return 0;
        }
    }

    for (i = 0, dots = 0; i < len; dots++) {
        if (s[i] == '.') {
            i++;

        } else if (len - i >= 3 && s[i] == '%' && s[i + 1] == '2'
                   && (s[i + 2] | 0x20) == 'e')
        {
            i += 3;

        } else {
            return 1;
        }
    }

    return dots == 0 || dots > 2;
}


/*
 * HGETALL of the hash that keyid:<id> names.  *reply stays NULL for an
 * unknown key, or a keyid that names no digest a token can hash to (the
 * module looks records up by the lower-case hex digest of the token);
 * *moved is set when the hash was renamed by a rotation between the two
 * reads.
 */

static int
fsauthctl_access_read(fsauthctl_t *ctl, const char *keyid,
    redisReply **reply, int *moved)
{
    int          rc;
    char        *name, *digest;
    redisReply  *r, *again;

    *reply = NULL;
    *moved = 0;

    rc = fsauthctl_redis_call(ctl, &r, "GET", keyid, NULL);
    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    if (r->type != REDIS_REPLY_STRING
        || !fsauth_hex_digest_valid(r->str, r->len))
    {
        freeReplyObject(r);
        return FSAUTHCTL_OK;
    }

    digest = fsauthctl_strndup(r->str, r->len);
    freeReplyObject(r);

    name = fsauthctl_name_key(ctl, digest);
    rc = fsauthctl_redis_call(ctl, &r, "HGETALL", name, NULL);
    free(name);

    if (rc != FSAUTHCTL_OK) {
        free(digest);
        return rc;
    }

    if (r->type == REDIS_REPLY_ARRAY && r->elements == 0) {
        rc = fsauthctl_redis_call(ctl, &again, "GET", keyid, NULL);

        if (rc == FSAUTHCTL_OK) {
            *moved = (again->type == REDIS_REPLY_STRING
                      && strcmp(again->str, digest) != 0);
            freeReplyObject(again);
        }

        freeReplyObject(r);
        free(digest);

        return rc;
    }

    free(digest);
    *reply = r;

    return FSAUTHCTL_OK;
}


/* prints "allowed" (exit 0) or "denied" (exit 1) */

int
fsauthctl_access_check_args(fsauthctl_call_t *call)
{
    if (call->pos[2][0] == '\0') {
        return fsauthctl_opt_usage(call->cmd, "empty method");
    }

    return FSAUTHCTL_OK;
}


int
fsauthctl_access_check(fsauthctl_t *ctl, fsauthctl_call_t *call)
{
    int          rc, allowed, attempt, moved, disabled;
    char       **pos, *keyid;
    redisReply  *reply;

    pos = call->pos;

    rc = fsauthctl_api_disabled(ctl, &disabled);
    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    allowed = 0;
    reply = NULL;

    if (!disabled && fsauthctl_access_path_valid(pos[1], strlen(pos[1]))) {
        keyid = fsauthctl_name_id(ctl, FSAUTH_NAME_KEYID, call->id);

        for (attempt = 0; attempt < FSAUTHCTL_TX_RETRIES; attempt++) {
            rc = fsauthctl_access_read(ctl, keyid, &reply, &moved);
            if (rc != FSAUTHCTL_OK || !moved) {
                break;
            }
        }

        free(keyid);

        if (rc != FSAUTHCTL_OK) {
            return rc;
        }
    }

    /* no reply: API disabled, refused path, unknown key, or moving key */

    if (reply) {
        allowed = fsauthctl_access_decide(reply, pos[1], pos[2]);
        freeReplyObject(reply);
    }

    /* "denied" exits 1 without a message: a lost answer must say so */

    rc = fsauthctl_output_result(call, json_pack("{s:b}", "allowed", allowed),
                                 "%s\n", allowed ? "allowed" : "denied");

    if (rc != FSAUTHCTL_OK || fflush(stdout) != 0 || ferror(stdout)) {
        return fsauthctl_error("cannot write the output");
    }

    return allowed ? FSAUTHCTL_OK : FSAUTHCTL_ERROR;
}
