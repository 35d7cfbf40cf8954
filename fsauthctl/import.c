
/*
 * Copyright (C) fsauth authors
 * BSD-2-Clause, see LICENSE.
 */


/*
 * fsauthctl: "import FILE", keys and grants in the shape of the
 * FacturaScripts api_keys and api_access tables, so that a database dump
 * converts directly.
 *
 * The whole file is checked, against itself and against Redis, before
 * anything is written.  Then each key is written in one MULTI/EXEC:
 * the module sees either the old record or the new one.  A key listed in
 * api_keys is replaced as a whole (fields and grants); api_access rows of
 * a key that is only in Redis are added to its grants.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fsauthctl.h"


typedef struct {
    const char                *file;
    json_t                    *root;
    fsauthctl_import_key_t    *keys;
    size_t                     nkeys;
    fsauthctl_import_grant_t  *grants;
    size_t                     ngrants;
    long long                  maxid;
    size_t                     replaced;
} fsauthctl_import_t;


static void fsauthctl_import_wipe(json_t *root);
static int fsauthctl_import_load(fsauthctl_import_t *imp);
static int fsauthctl_import_keys(fsauthctl_import_t *imp, json_t *arr);
static int fsauthctl_import_grants(fsauthctl_import_t *imp, json_t *arr);
static int fsauthctl_import_attach(fsauthctl_import_t *imp);
static int fsauthctl_import_exists(fsauthctl_t *ctl, long long id,
    int *exists);
static int fsauthctl_import_check(fsauthctl_t *ctl,
    fsauthctl_import_t *imp);
static int fsauthctl_import_nextid(fsauthctl_t *ctl,
    fsauthctl_import_t *imp);
static int fsauthctl_import_write_key(fsauthctl_t *ctl,
    fsauthctl_import_t *imp, fsauthctl_import_key_t *ik);
static int fsauthctl_import_write_grants(fsauthctl_t *ctl,
    fsauthctl_import_grant_t *g, size_t n);
static int fsauthctl_import_id(json_t *v, long long *id);
static int fsauthctl_import_bool(json_t *v, int null_value, int *b);
static int fsauthctl_import_days(int y, int m);
static int fsauthctl_import_pattern(const char *s, const char *pattern);
static int fsauthctl_import_text(json_t *obj, fsauthctl_import_key_t *ik,
    const char *field, const char *expected, char **text);
static int fsauthctl_import_invalid(const char *table, size_t index,
    const char *field, const char *what);
static int fsauthctl_import_cmp_keys(const void *a, const void *b);
static int fsauthctl_import_cmp_digests(const void *a, const void *b);
static int fsauthctl_import_cmp_grants(const void *a, const void *b);
static fsauthctl_import_key_t *fsauthctl_import_find(fsauthctl_import_t *imp,
    long long id);


/* reads and checks FILE, before any connection */

int
fsauthctl_import_args(fsauthctl_call_t *call)
{
    fsauthctl_import_t  *imp;

    imp = fsauthctl_alloc(sizeof(fsauthctl_import_t));
    memset(imp, 0, sizeof(fsauthctl_import_t));
    imp->file = call->pos[0];

    call->data = imp;

    return fsauthctl_import_load(imp);
}


int
fsauthctl_import(fsauthctl_t *ctl, fsauthctl_call_t *call)
{
    int                  rc;
    size_t               i, j, ngranted;
    fsauthctl_import_t  *imp;

    imp = call->data;

    rc = fsauthctl_import_check(ctl, imp);
    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    /* before any key is written, so that "key create" cannot take an id */

    rc = fsauthctl_import_nextid(ctl, imp);
    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    ngranted = 0;

    for (i = 0; i < imp->nkeys; i++) {
        rc = fsauthctl_import_write_key(ctl, imp, &imp->keys[i]);
        if (rc != FSAUTHCTL_OK) {
            return rc;
        }

        ngranted += imp->keys[i].key.ngrants;
    }

    /* the grants left over are for keys only in Redis, one batch per key */

    for (i = 0; i < imp->ngrants; i = j) {
        for (j = i + 1; j < imp->ngrants; j++) {
            if (imp->grants[j].id != imp->grants[i].id) {
                break;
            }
        }

        if (fsauthctl_import_find(imp, imp->grants[i].id)) {
            continue;
        }

        rc = fsauthctl_import_write_grants(ctl, &imp->grants[i], j - i);
        if (rc != FSAUTHCTL_OK) {
            return rc;
        }

        ngranted += j - i;
    }

    return fsauthctl_output_result(call,
                                   json_pack("{s:I, s:I, s:I}",
                                             "keys", (json_int_t) imp->nkeys,
                                             "grants", (json_int_t) ngranted,
                                             "replaced",
                                             (json_int_t) imp->replaced),
                                   "imported %zu key%s, %zu grant%s "
                                   "(%zu replaced)\n",
                                   imp->nkeys, imp->nkeys == 1 ? "" : "s",
                                   ngranted, ngranted == 1 ? "" : "s",
                                   imp->replaced);
}


void
fsauthctl_import_done(fsauthctl_call_t *call)
{
    size_t               i;
    fsauthctl_import_t  *imp;

    imp = call->data;

    if (imp == NULL) {
        return;
    }

    for (i = 0; i < imp->nkeys; i++) {
        free(imp->keys[i].key.grants);
    }

    free(imp->keys);
    free(imp->grants);

    if (imp->root) {
        fsauthctl_import_wipe(imp->root);
        json_decref(imp->root);
    }

    free(imp);
}


/* whatever happened, no apikey stays in memory that is given back */

static void
fsauthctl_import_wipe(json_t *root)
{
    size_t   i;
    json_t  *keys, *v;

    keys = json_object_get(root, "api_keys");

    for (i = 0; i < json_array_size(keys); i++) {
        v = json_object_get(json_array_get(keys, i), "apikey");

        if (json_is_string(v)) {
            explicit_bzero((char *) json_string_value(v),
                           json_string_length(v));
        }
    }
}


/* parse and check the file: nothing here talks to Redis */

static int
fsauthctl_import_load(fsauthctl_import_t *imp)
{
    int            rc;
    char          *data;
    size_t         len;
    json_t        *keys, *access;
    json_error_t   err;

    rc = fsauthctl_read_file(imp->file, "import file", &data, &len);
    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    imp->root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &err);

    explicit_bzero(data, len);
    free(data);

    if (imp->root == NULL) {
        return fsauthctl_error("import: %s: invalid JSON at line %d, "
                               "column %d: %s",
                               strcmp(imp->file, "-") ? imp->file : "stdin",
                               err.line, err.column, err.text);
    }

    if (!json_is_object(imp->root)) {
        return fsauthctl_error("import: expected a JSON object with "
                               "\"api_keys\" and \"api_access\" arrays");
    }

    keys = json_object_get(imp->root, "api_keys");
    access = json_object_get(imp->root, "api_access");

    if (keys == NULL && access == NULL) {
        return fsauthctl_error("import: neither \"api_keys\" nor "
                               "\"api_access\" in the file");
    }

    /* null, as SQL aggregates give for an empty table, is no rows */

    if ((keys && !json_is_array(keys) && !json_is_null(keys))
        || (access && !json_is_array(access) && !json_is_null(access)))
    {
        return fsauthctl_error("import: \"api_keys\" and \"api_access\" "
                               "must be arrays");
    }

    if (json_is_array(keys)) {
        rc = fsauthctl_import_keys(imp, keys);
        if (rc != FSAUTHCTL_OK) {
            return rc;
        }
    }

    if (json_is_array(access)) {
        rc = fsauthctl_import_grants(imp, access);
        if (rc != FSAUTHCTL_OK) {
            return rc;
        }
    }

    return fsauthctl_import_attach(imp);
}


static int
fsauthctl_import_keys(fsauthctl_import_t *imp, json_t *arr)
{
    int                       rc;
    size_t                    i, j, n;
    fsauthctl_import_key_t   *k, **bydigest;

    n = json_array_size(arr);
    imp->keys = fsauthctl_alloc(n * sizeof(fsauthctl_import_key_t));
    imp->nkeys = n;

    for (i = 0; i < n; i++) {
        k = &imp->keys[i];
        k->index = i;

        rc = fsauthctl_import_key(json_array_get(arr, i), k);
        if (rc != FSAUTHCTL_OK) {
            return rc;
        }
    }

    qsort(imp->keys, n, sizeof(fsauthctl_import_key_t),
          fsauthctl_import_cmp_keys);

    /* the keys moved: creationdate must point to their own date again */

    for (i = 0; i < n; i++) {
        if (imp->keys[i].key.creationdate) {
            imp->keys[i].key.creationdate = imp->keys[i].date;
        }
    }

    for (i = 1; i < n; i++) {
        if (imp->keys[i].key.id == imp->keys[i - 1].key.id) {
            return fsauthctl_error("import: api_keys[%zu] and api_keys[%zu] "
                                   "have the same id %lld",
                                   imp->keys[i - 1].index,
                                   imp->keys[i].index, imp->keys[i].key.id);
        }
    }

    if (n) {
        imp->maxid = imp->keys[n - 1].key.id;
    }

    /* two ids with one token: the module could not tell them apart */

    bydigest = fsauthctl_alloc(n * sizeof(fsauthctl_import_key_t *));

    for (i = 0, j = 0; i < n; i++) {
        if (imp->keys[i].has_token) {
            bydigest[j++] = &imp->keys[i];
        }
    }

    qsort(bydigest, j, sizeof(fsauthctl_import_key_t *),
          fsauthctl_import_cmp_digests);

    rc = FSAUTHCTL_OK;

    for (i = 1; i < j; i++) {
        if (strcmp(bydigest[i]->digest, bydigest[i - 1]->digest) == 0) {
            rc = fsauthctl_error("import: api_keys[%zu] and api_keys[%zu] "
                                 "have the same apikey",
                                 bydigest[i - 1]->index, bydigest[i]->index);
            break;
        }
    }

    free(bydigest);

    return rc;
}


/* one api_keys row; also what "sync" makes of a database row */

int
fsauthctl_import_key(json_t *obj, fsauthctl_import_key_t *ik)
{
    int               rc;
    size_t            len;
    json_t           *v;
    const char       *s;
    fsauthctl_key_t  *key;

    key = &ik->key;

    if (!json_is_object(obj)) {
        return fsauthctl_import_invalid("api_keys", ik->index, NULL,
                                        "expected an object");
    }

    /* the apikey is reduced to its digest at once, and wiped */

    v = json_object_get(obj, "apikey");

    if (v && !json_is_null(v)) {
        if (!json_is_string(v)) {
            return fsauthctl_import_invalid("api_keys", ik->index, "apikey",
                                            "expected a string or null");
        }

        s = json_string_value(v);
        len = json_string_length(v);

        rc = FSAUTHCTL_OK;

        if (!fsauth_token_valid(s, len)) {
            rc = fsauthctl_import_invalid("api_keys", ik->index, "apikey",
                                          "expected 1..99 printable ASCII "
                                          "characters without spaces, "
                                          "not \"0\"");

        } else if (fsauthctl_token_digest(s, len, ik->digest)
                   != FSAUTHCTL_OK)
        {
            rc = FSAUTHCTL_ERROR;
        }

        explicit_bzero((char *) s, len);

        if (rc != FSAUTHCTL_OK) {
            return rc;
        }

        ik->has_token = 1;
    }

    if (fsauthctl_import_id(json_object_get(obj, "id"), &key->id)
        != FSAUTHCTL_OK)
    {
        return fsauthctl_import_invalid("api_keys", ik->index, "id",
                                        "expected a positive integer");
    }

    rc = fsauthctl_import_text(obj, ik, "description", "expected a string",
                               &key->description);
    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    rc = fsauthctl_import_text(obj, ik, "nick", "expected a string or null",
                               &key->nick);
    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    /* enabled is NOT NULL in the table, fullaccess is nullable */

    v = json_object_get(obj, "enabled");
    key->enabled = 1;

    if (v && fsauthctl_import_bool(v, -1, &key->enabled) != FSAUTHCTL_OK) {
        return fsauthctl_import_invalid("api_keys", ik->index, "enabled",
                                        "expected a boolean");
    }

    v = json_object_get(obj, "fullaccess");
    key->fullaccess = 0;

    if (v && fsauthctl_import_bool(v, 0, &key->fullaccess) != FSAUTHCTL_OK) {
        return fsauthctl_import_invalid("api_keys", ik->index, "fullaccess",
                                        "expected a boolean or null");
    }

    v = json_object_get(obj, "creationdate");

    if (v && !json_is_null(v)) {
        if (!json_is_string(v)
            || fsauthctl_parse_date(json_string_value(v), ik->date)
               != FSAUTHCTL_OK)
        {
            return fsauthctl_import_invalid("api_keys", ik->index,
                                            "creationdate",
                                            "expected a YYYY-MM-DD date "
                                            "that exists");
        }

        key->creationdate = ik->date;
    }

    return FSAUTHCTL_OK;
}


static int
fsauthctl_import_grants(fsauthctl_import_t *imp, json_t *arr)
{
    int     rc;
    size_t  i, n;

    n = json_array_size(arr);
    imp->grants = fsauthctl_alloc(n * sizeof(fsauthctl_import_grant_t));
    imp->ngrants = n;

    for (i = 0; i < n; i++) {
        imp->grants[i].index = i;

        rc = fsauthctl_import_grant(json_array_get(arr, i), &imp->grants[i]);
        if (rc != FSAUTHCTL_OK) {
            return rc;
        }
    }

    return FSAUTHCTL_OK;
}


/* one api_access row; also what "sync" makes of a database row */

int
fsauthctl_import_grant(json_t *obj, fsauthctl_import_grant_t *g)
{
    int          b;
    size_t       i;
    json_t      *v;
    const char  *s;
    static const struct {
        const char  *name;
        unsigned     bit;
    } flags[] = {
        { "allowget", FSAUTH_GRANT_GET },
        { "allowpost", FSAUTH_GRANT_POST },
        { "allowput", FSAUTH_GRANT_PUT },
        { "allowdelete", FSAUTH_GRANT_DELETE },
        { NULL, 0 }
    };

    i = g->index;

    if (!json_is_object(obj)) {
        return fsauthctl_import_invalid("api_access", i, NULL,
                                        "expected an object");
    }

    if (fsauthctl_import_id(json_object_get(obj, "idapikey"), &g->id)
        != FSAUTHCTL_OK)
    {
        return fsauthctl_import_invalid("api_access", i, "idapikey",
                                        "expected a positive integer");
    }

    v = json_object_get(obj, "resource");
    s = json_string_value(v);

    if (s == NULL
        || !fsauthctl_access_resource_valid(s, json_string_length(v)))
    {
        return fsauthctl_import_invalid("api_access", i, "resource",
                                        "expected 1..100 bytes without "
                                        "\"/\", spaces or control "
                                        "characters");
    }

    g->grant.resource = (char *) s;

    /* NULL flags are false, like the backend reads them */

    for (b = 0; flags[b].name; b++) {
        int  on;

        v = json_object_get(obj, flags[b].name);
        on = 0;

        if (v && fsauthctl_import_bool(v, 0, &on) != FSAUTHCTL_OK) {
            return fsauthctl_import_invalid("api_access", i, flags[b].name,
                                            "expected a boolean or null");
        }

        if (on) {
            g->grant.mask |= flags[b].bit;
        }
    }

    return FSAUTHCTL_OK;
}


/*
 * Sorts the grants by key id and resource, rejects a resource granted
 * twice to one key (the table has UNIQUE (idapikey, resource)), and gives
 * each key of the file its grants.
 */

static int
fsauthctl_import_attach(fsauthctl_import_t *imp)
{
    size_t                     i, j;
    fsauthctl_import_key_t    *k;
    fsauthctl_import_grant_t  *g;

    if (imp->ngrants > 1) {
        qsort(imp->grants, imp->ngrants, sizeof(fsauthctl_import_grant_t),
              fsauthctl_import_cmp_grants);
    }

    for (i = 1; i < imp->ngrants; i++) {
        g = &imp->grants[i];

        if (g->id == g[-1].id
            && strcmp(g->grant.resource, g[-1].grant.resource) == 0)
        {
            return fsauthctl_error("import: api_access[%zu] and "
                                   "api_access[%zu] both grant \"%s\" to "
                                   "key %lld",
                                   g[-1].index, g->index,
                                   g->grant.resource, g->id);
        }
    }

    for (i = 0; i < imp->ngrants; i = j) {
        for (j = i + 1; j < imp->ngrants; j++) {
            if (imp->grants[j].id != imp->grants[i].id) {
                break;
            }
        }

        k = fsauthctl_import_find(imp, imp->grants[i].id);
        if (k == NULL) {
            continue;
        }

        k->key.grants = fsauthctl_alloc((j - i) * sizeof(fsauthctl_grant_t));
        k->key.ngrants = j - i;

        for (g = &imp->grants[i]; g < &imp->grants[j]; g++) {
            k->key.grants[g - &imp->grants[i]] = g->grant;
        }
    }

    return FSAUTHCTL_OK;
}


/* is there a key "id" in Redis, a keyid:<id>? */

static int
fsauthctl_import_exists(fsauthctl_t *ctl, long long id, int *exists)
{
    int          rc;
    char        *name;
    redisReply  *reply;

    name = fsauthctl_name_id(ctl, FSAUTH_NAME_KEYID, id);
    rc = fsauthctl_redis_call(ctl, &reply, "EXISTS", name, NULL);
    free(name);

    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    *exists = (reply->integer != 0);
    freeReplyObject(reply);

    return FSAUTHCTL_OK;
}


/*
 * Checks against Redis, still without writing: a token must not belong to
 * another id, a key without apikey must exist, and so must the keys that
 * only api_access refers to.
 */

static int
fsauthctl_import_check(fsauthctl_t *ctl, fsauthctl_import_t *imp)
{
    int                     rc, exists;
    char                   *name;
    size_t                  i;
    long long               id;
    redisReply             *reply;
    fsauthctl_import_key_t *k;

    for (i = 0; i < imp->nkeys; i++) {
        k = &imp->keys[i];

        if (k->has_token) {
            name = fsauthctl_name_key(ctl, k->digest);
            rc = fsauthctl_redis_call(ctl, &reply, "HGET", name, "id", NULL);
            free(name);

            if (rc != FSAUTHCTL_OK) {
                return rc;
            }

            if (reply->type == REDIS_REPLY_STRING
                && (fsauthctl_parse_id(reply->str, reply->len, &id)
                    != FSAUTHCTL_OK
                    || id != k->key.id))
            {
                /* an id written by hand may hold anything */
                name = fsauthctl_output_escape(reply->str);
                rc = fsauthctl_error("import: api_keys[%zu]: its apikey "
                                     "already belongs to key %s",
                                     k->index, name);
                free(name);
                freeReplyObject(reply);
                return rc;
            }

            freeReplyObject(reply);
            continue;
        }

        rc = fsauthctl_import_exists(ctl, k->key.id, &exists);
        if (rc != FSAUTHCTL_OK) {
            return rc;
        }

        if (!exists) {
            return fsauthctl_error("import: api_keys[%zu]: no apikey, and "
                                   "there is no key with id %lld to update",
                                   k->index, k->key.id);
        }
    }

    for (i = 0; i < imp->ngrants; i++) {
        if (fsauthctl_import_find(imp, imp->grants[i].id)) {
            continue;
        }

        rc = fsauthctl_import_exists(ctl, imp->grants[i].id, &exists);
        if (rc != FSAUTHCTL_OK) {
            return rc;
        }

        if (!exists) {
            return fsauthctl_error("import: api_access[%zu]: idapikey %lld "
                                   "is neither in api_keys nor in redis",
                                   imp->grants[i].index, imp->grants[i].id);
        }
    }

    return FSAUTHCTL_OK;
}


/* ids are never reused: <prefix>nextid is raised to the largest id */

typedef struct {
    char                      *name;
    char                       max[32];
    long long                  maxid;
} fsauthctl_import_nextid_t;


static int
fsauthctl_import_nextid_watch(fsauthctl_t *ctl, void *data)
{
    int                         rc;
    long long                   cur;
    redisReply                 *reply;
    fsauthctl_import_nextid_t  *nx;

    nx = data;

    rc = fsauthctl_redis_read(ctl, 1, &reply, "GET", nx->name, NULL);
    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    cur = 0;

    if (reply->type == REDIS_REPLY_STRING
        && fsauthctl_parse_id(reply->str, reply->len, &cur) != FSAUTHCTL_OK
        && strcmp(reply->str, "0") != 0)
    {
        freeReplyObject(reply);
        fsauthctl_redis_unwatch(ctl);
        return fsauthctl_error("%s is not an integer", nx->name);
    }

    freeReplyObject(reply);

    return cur >= nx->maxid ? FSAUTHCTL_TX_SKIP : FSAUTHCTL_OK;
}


static int
fsauthctl_import_nextid_queue(fsauthctl_t *ctl, void *data)
{
    fsauthctl_import_nextid_t  *nx;

    nx = data;

    return fsauthctl_redis_call(ctl, NULL, "SET", nx->name, nx->max, NULL);
}


static int
fsauthctl_import_nextid(fsauthctl_t *ctl, fsauthctl_import_t *imp)
{
    int                        rc, outcome;
    fsauthctl_import_nextid_t  nx;

    if (imp->maxid == 0) {
        return FSAUTHCTL_OK;
    }

    nx.name = fsauthctl_name(ctl, FSAUTH_NAME_NEXTID);
    nx.maxid = imp->maxid;
    snprintf(nx.max, sizeof(nx.max), "%lld", imp->maxid);

    fsauthctl_audit_set(ctl, "import", 0, "nextid raised to %lld",
                        imp->maxid);

    rc = fsauthctl_redis_tx(ctl, FSAUTHCTL_TX_RETRIES,
                            fsauthctl_import_nextid_watch,
                            fsauthctl_import_nextid_queue, &nx, &outcome);

    if (rc == FSAUTHCTL_OK && outcome == -1) {
        rc = fsauthctl_error("%s keeps changing concurrently, nothing "
                             "written", nx.name);
    }

    free(nx.name);

    return rc;
}


/*
 * One key, one transaction: the old record (another digest when the token
 * changed) is deleted and the new one written whole, with keyid:<id>.
 */

typedef struct {
    fsauthctl_import_key_t    *ik;
    char                      *keyid;
    char                      *name;       /* key:<digest> */
    const char                *digest;
    int                        existed;
    char                       olddigest[FSAUTH_HEX_LEN + 1];
    char                       date[11];
    fsauthctl_key_t            key;
} fsauthctl_import_write_t;


static int
fsauthctl_import_write_watch(fsauthctl_t *ctl, void *data)
{
    int                        rc;
    char                      *old;
    long long                  id;
    redisReply                *reply;
    fsauthctl_import_key_t    *ik;
    fsauthctl_import_write_t  *w;

    w = data;
    ik = w->ik;

    rc = fsauthctl_redis_read(ctl, 1, &reply, "GET", w->keyid, NULL);
    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    w->existed = (reply->type == REDIS_REPLY_STRING
                  && reply->len == FSAUTH_HEX_LEN);

    if (w->existed) {
        memcpy(w->olddigest, reply->str, FSAUTH_HEX_LEN + 1);
    }

    freeReplyObject(reply);

    if (!w->existed && !ik->has_token) {
        fsauthctl_redis_unwatch(ctl);
        return fsauthctl_error("import: no key with id %lld to update "
                               "(deleted meanwhile?)", ik->key.id);
    }

    w->digest = ik->has_token ? ik->digest : w->olddigest;
    w->key = ik->key;

    free(w->name);
    w->name = fsauthctl_name_key(ctl, w->digest);

    /* the owner of the new digest is checked again, under WATCH */

    rc = fsauthctl_redis_read(ctl, 1, &reply, "HGET", w->name, "id");
    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    if (reply->type == REDIS_REPLY_STRING
        && (fsauthctl_parse_id(reply->str, reply->len, &id) != FSAUTHCTL_OK
            || id != ik->key.id))
    {
        freeReplyObject(reply);
        fsauthctl_redis_unwatch(ctl);
        return fsauthctl_error("import: api_keys[%zu]: its apikey already "
                               "belongs to another key", ik->index);
    }

    freeReplyObject(reply);

    /* no creationdate in the file: keep the stored one, else today */

    if (w->key.creationdate == NULL) {
        fsauthctl_today(w->date);
        w->key.creationdate = w->date;

        if (w->existed) {
            old = fsauthctl_name_key(ctl, w->olddigest);

            rc = fsauthctl_redis_read(ctl, 1, &reply, "HGET", old,
                                      "creationdate");
            free(old);

            if (rc != FSAUTHCTL_OK) {
                return rc;
            }

            if (reply->type == REDIS_REPLY_STRING
                && fsauthctl_parse_date(reply->str, w->date) != FSAUTHCTL_OK)
            {
                fsauthctl_today(w->date);
            }

            freeReplyObject(reply);
        }
    }

    return FSAUTHCTL_OK;
}


static int
fsauthctl_import_write_queue(fsauthctl_t *ctl, void *data)
{
    int                        rc;
    fsauthctl_args_t           args;
    fsauthctl_import_write_t  *w;

    w = data;

    fsauthctl_audit_set(ctl, "import", w->key.id, "key %s, %zu grant%s",
                        w->existed ? "replaced" : "created", w->key.ngrants,
                        w->key.ngrants == 1 ? "" : "s");

    fsauthctl_args_init(&args);
    fsauthctl_args_add(&args, "DEL", 3);
    fsauthctl_args_add(&args, w->name, strlen(w->name));

    if (w->existed && strcmp(w->olddigest, w->digest) != 0) {
        fsauthctl_args_add_name(&args,
                                fsauthctl_name_key(ctl, w->olddigest));
    }

    rc = fsauthctl_redis_queue(ctl, &args);
    fsauthctl_args_free(&args);

    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    fsauthctl_args_init(&args);
    fsauthctl_store_hset(ctl, &args, w->digest, &w->key);
    rc = fsauthctl_redis_queue(ctl, &args);
    fsauthctl_args_free(&args);

    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    return fsauthctl_redis_call(ctl, NULL, "SET", w->keyid, w->digest, NULL);
}


static int
fsauthctl_import_write_key(fsauthctl_t *ctl, fsauthctl_import_t *imp,
    fsauthctl_import_key_t *ik)
{
    int                       rc, outcome;
    fsauthctl_import_write_t  w;

    memset(&w, 0, sizeof(fsauthctl_import_write_t));
    w.ik = ik;
    w.keyid = fsauthctl_name_id(ctl, FSAUTH_NAME_KEYID, ik->key.id);

    rc = fsauthctl_redis_tx(ctl, FSAUTHCTL_TX_RETRIES,
                            fsauthctl_import_write_watch,
                            fsauthctl_import_write_queue, &w, &outcome);

    free(w.keyid);
    free(w.name);

    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    if (outcome == -1) {
        return fsauthctl_error("import: key %lld keeps changing "
                               "concurrently", ik->key.id);
    }

    imp->replaced += w.existed;

    return FSAUTHCTL_OK;
}


/* grants for a key that is only in Redis: added to its grants */

typedef struct {
    fsauthctl_import_grant_t  *g;
    size_t                     n;
    char                       digest[FSAUTH_HEX_LEN + 1];
} fsauthctl_import_grants_t;


static int
fsauthctl_import_grants_watch(fsauthctl_t *ctl, void *data)
{
    fsauthctl_import_grants_t  *gs;

    gs = data;

    return fsauthctl_store_lookup(ctl, gs->g->id, 1, gs->digest);
}


static int
fsauthctl_import_grants_queue(fsauthctl_t *ctl, void *data)
{
    int                         rc;
    char                        list[FSAUTH_GRANT_TEXT_SIZE];
    size_t                      i;
    fsauthctl_args_t            args;
    fsauthctl_import_grant_t   *g;
    fsauthctl_import_grants_t  *gs;

    gs = data;
    g = gs->g;

    fsauthctl_args_init(&args);
    fsauthctl_args_add(&args, "HSET", 4);
    fsauthctl_args_add_name(&args, fsauthctl_name_key(ctl, gs->digest));

    for (i = 0; i < gs->n; i++) {
        fsauth_grant_format(g[i].grant.mask, list);
        fsauthctl_args_addf(&args, "res:%s", g[i].grant.resource);
        fsauthctl_args_add(&args, list, strlen(list));
    }

    rc = fsauthctl_redis_queue(ctl, &args);
    fsauthctl_args_free(&args);

    return rc;
}


static int
fsauthctl_import_write_grants(fsauthctl_t *ctl, fsauthctl_import_grant_t *g,
    size_t n)
{
    int                        rc, outcome;
    fsauthctl_import_grants_t  gs;

    gs.g = g;
    gs.n = n;

    fsauthctl_audit_set(ctl, "import", g->id, "%zu grant%s added", n,
                        n == 1 ? "" : "s");

    rc = fsauthctl_redis_tx(ctl, FSAUTHCTL_TX_RETRIES,
                            fsauthctl_import_grants_watch,
                            fsauthctl_import_grants_queue, &gs, &outcome);

    if (rc == FSAUTHCTL_OK && outcome == -1) {
        return fsauthctl_error("import: key %lld keeps changing "
                               "concurrently", g->id);
    }

    return rc;
}


/* an id is a positive JSON integer or a string of digits */

static int
fsauthctl_import_id(json_t *v, long long *id)
{
    /* the same range as ids given on the command line (18 digits) */

    if (json_is_integer(v)) {
        *id = json_integer_value(v);
        return (*id > 0 && *id <= 999999999999999999LL) ? FSAUTHCTL_OK
                                                         : FSAUTHCTL_ERROR;
    }

    if (json_is_string(v)) {
        return fsauthctl_parse_id(json_string_value(v), json_string_length(v),
                                  id);
    }

    return FSAUTHCTL_ERROR;
}


/*
 * Booleans as the databases dump them: true/false, 1/0 as numbers or
 * strings, and "t"/"f", "true"/"false" in any case.  null gives
 * null_value, or is an error when null_value is -1.
 */

static int
fsauthctl_import_bool(json_t *v, int null_value, int *b)
{
    size_t       i;
    const char  *s;
    static const struct {
        const char  *text;
        int          value;
    } words[] = {
        { "1", 1 }, { "0", 0 }, { "t", 1 }, { "f", 0 },
        { "true", 1 }, { "false", 0 }, { NULL, 0 }
    };

    if (json_is_null(v)) {
        if (null_value == -1) {
            return FSAUTHCTL_ERROR;
        }

        *b = null_value;
        return FSAUTHCTL_OK;
    }

    if (json_is_boolean(v)) {
        *b = json_is_true(v);
        return FSAUTHCTL_OK;
    }

    if (json_is_integer(v)) {
        if (json_integer_value(v) != 0 && json_integer_value(v) != 1) {
            return FSAUTHCTL_ERROR;
        }

        *b = (int) json_integer_value(v);
        return FSAUTHCTL_OK;
    }

    if (json_is_string(v)) {
        s = json_string_value(v);

        for (i = 0; words[i].text; i++) {
            if (strcasecmp(s, words[i].text) == 0
                && strlen(words[i].text) == json_string_length(v))
            {
                *b = words[i].value;
                return FSAUTHCTL_OK;
            }
        }
    }

    return FSAUTHCTL_ERROR;
}


/*
 * "YYYY-MM-DD", possibly followed by a time ("YYYY-MM-DD HH:MM:SS" or
 * ISO 8601), or "DD-MM-YYYY" as FacturaScripts displays dates.  The day
 * must exist: a 2023-02-29 in a dump is a corrupt row, not a date to keep.
 * "audit --since" reads its dates with it too.
 */

int
fsauthctl_parse_date(const char *s, char *date)
{
    int  y, m, d;

    if (fsauthctl_import_pattern(s, "dddd-dd-dd")
        && (s[10] == '\0' || s[10] == ' ' || s[10] == 'T'))
    {
        y = atoi(s);
        m = atoi(s + 5);
        d = atoi(s + 8);

    } else if (fsauthctl_import_pattern(s, "dd-dd-dddd") && s[10] == '\0') {
        d = atoi(s);
        m = atoi(s + 3);
        y = atoi(s + 6);

    } else {
        return FSAUTHCTL_ERROR;
    }

    /* "d > 31" also bounds d for the compiler's snprintf() check */

    if (y < 1 || y > 9999 || m < 1 || m > 12 || d < 1 || d > 31
        || d > fsauthctl_import_days(y, m))
    {
        return FSAUTHCTL_ERROR;
    }

    snprintf(date, 11, "%04d-%02d-%02d", y, m, d);

    return FSAUTHCTL_OK;
}


/* days in month m of year y, Gregorian leap years */

static int
fsauthctl_import_days(int y, int m)
{
    static const int  days[] = {
        31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31
    };

    if (m == 2 && (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))) {
        return 29;
    }

    return days[m - 1];
}


/* "d" in the pattern is a digit, anything else itself */

static int
fsauthctl_import_pattern(const char *s, const char *pattern)
{
    for ( /* void */ ; *pattern; s++, pattern++) {
        if (*pattern == 'd' ? (*s < '0' || *s > '9') : *s != *pattern) {
            return 0;
        }
    }

    return 1;
}


/*
 * A text member of api_keys[i] (description, nick): a string of printable
 * UTF-8, or null/absent meaning "".
 */

static int
fsauthctl_import_text(json_t *obj, fsauthctl_import_key_t *ik,
    const char *field, const char *expected, char **text)
{
    json_t  *v;

    v = json_object_get(obj, field);

    if (v == NULL || json_is_null(v)) {
        *text = "";
        return FSAUTHCTL_OK;
    }

    if (!json_is_string(v)) {
        return fsauthctl_import_invalid("api_keys", ik->index, field,
                                        expected);
    }

    if (!fsauthctl_text_valid(json_string_value(v), json_string_length(v))) {
        return fsauthctl_import_invalid("api_keys", ik->index, field,
                                        FSAUTHCTL_TEXT_RULE);
    }

    *text = (char *) json_string_value(v);

    return FSAUTHCTL_OK;
}


static int
fsauthctl_import_invalid(const char *table, size_t index, const char *field,
    const char *what)
{
    if (field) {
        return fsauthctl_error("import: %s[%zu].%s: %s", table, index, field,
                               what);
    }

    return fsauthctl_error("import: %s[%zu]: %s", table, index, what);
}


static int
fsauthctl_import_cmp_keys(const void *a, const void *b)
{
    const fsauthctl_import_key_t  *x = a, *y = b;

    if (x->key.id != y->key.id) {
        return x->key.id < y->key.id ? -1 : 1;
    }

    return x->index < y->index ? -1 : (x->index > y->index);
}


static int
fsauthctl_import_cmp_digests(const void *a, const void *b)
{
    const fsauthctl_import_key_t  *x, *y;

    x = *(fsauthctl_import_key_t * const *) a;
    y = *(fsauthctl_import_key_t * const *) b;

    return strcmp(x->digest, y->digest);
}


static int
fsauthctl_import_cmp_grants(const void *a, const void *b)
{
    int                              c;
    const fsauthctl_import_grant_t  *x = a, *y = b;

    if (x->id != y->id) {
        return x->id < y->id ? -1 : 1;
    }

    c = strcmp(x->grant.resource, y->grant.resource);
    if (c) {
        return c;
    }

    return x->index < y->index ? -1 : (x->index > y->index);
}


static fsauthctl_import_key_t *
fsauthctl_import_find(fsauthctl_import_t *imp, long long id)
{
    size_t  lo, hi, mid;

    lo = 0;
    hi = imp->nkeys;

    while (lo < hi) {
        mid = lo + (hi - lo) / 2;

        if (imp->keys[mid].key.id == id) {
            return &imp->keys[mid];
        }

        if (imp->keys[mid].key.id < id) {
            lo = mid + 1;

        } else {
            hi = mid;
        }
    }

    return NULL;
}
