
/*
 * Copyright (C) fsauth authors
 * BSD-2-Clause, see LICENSE.
 */


/*
 * fsauthctl: reading and updating key records (Redis schema 1).
 *
 *     <prefix>key:<D>       hash: id nick description enabled fullaccess
 *                           creationdate res:<resource>...
 *     <prefix>keyid:<id>    string: D
 *     <prefix>activity:<id> hash: lastactivity lastip (written by the module)
 *     <prefix>grace:<id>    sorted set: old tokens in their grace (grace.c)
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsauthctl.h"


static int fsauthctl_store_lookup_once(fsauthctl_t *ctl, long long id,
    const char *keyid, int watch, char *digest, int *moved);
static void fsauthctl_store_parse(redisReply *hash, fsauthctl_key_t *key);
static void fsauthctl_store_activity(redisReply *reply,
    fsauthctl_key_t *key);
static int fsauthctl_store_cmp_names(const void *a, const void *b);
static int fsauthctl_store_cmp_keys(const void *a, const void *b);
static int fsauthctl_store_cmp_grants(const void *a, const void *b);


/*
 * Finds the digest of key "id" and checks that its hash exists.  With
 * "watch", both keys are WATCHed first, so that a following EXEC fails if
 * the key is rotated or deleted meanwhile: a write never recreates half a
 * key.  On error nothing stays watched.
 */

int
fsauthctl_store_lookup(fsauthctl_t *ctl, long long id, int watch,
    char *digest)
{
    int    rc, attempt, moved;
    char  *keyid;

    keyid = fsauthctl_name_id(ctl, FSAUTH_NAME_KEYID, id);

    for (attempt = 0; attempt < FSAUTHCTL_TX_RETRIES; attempt++) {
        rc = fsauthctl_store_lookup_once(ctl, id, keyid, watch, digest,
                                         &moved);

        if ((rc != FSAUTHCTL_OK || moved) && watch && !ctl->redis->err) {
            fsauthctl_redis_unwatch(ctl);
        }

        if (rc != FSAUTHCTL_OK || !moved) {
            free(keyid);
            return rc;
        }

        fsauthctl_redis_backoff(attempt);
    }

    free(keyid);

    return fsauthctl_error("key %lld keeps changing concurrently", id);
}


/*
 * *moved: the hash was missing because a rotation renamed it between the
 * two reads; the caller starts over.
 */

static int
fsauthctl_store_lookup_once(fsauthctl_t *ctl, long long id,
    const char *keyid, int watch, char *digest, int *moved)
{
    int          rc, exists;
    char        *key;
    redisReply  *reply;

    *moved = 0;

    rc = fsauthctl_redis_read(ctl, watch, &reply, "GET", keyid, NULL);
    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    if (reply->type != REDIS_REPLY_STRING) {
        freeReplyObject(reply);
        return fsauthctl_error("no key with id %lld", id);
    }

    if (!fsauth_hex_digest_valid(reply->str, reply->len)) {
        freeReplyObject(reply);
        return fsauthctl_error("%s does not hold a SHA-256 digest", keyid);
    }

    memcpy(digest, reply->str, FSAUTH_HEX_LEN + 1);
    freeReplyObject(reply);

    key = fsauthctl_name_key(ctl, digest);
    rc = fsauthctl_redis_read(ctl, watch, &reply, "EXISTS", key, NULL);
    free(key);

    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    exists = (reply->type == REDIS_REPLY_INTEGER && reply->integer == 1);
    freeReplyObject(reply);

    if (exists) {
        return FSAUTHCTL_OK;
    }

    rc = fsauthctl_redis_call(ctl, &reply, "GET", keyid, NULL);
    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    *moved = (reply->type == REDIS_REPLY_STRING
              && (reply->len != FSAUTH_HEX_LEN
                  || memcmp(reply->str, digest, FSAUTH_HEX_LEN) != 0));
    freeReplyObject(reply);

    if (*moved) {
        /* not an error: the caller unwatches and starts over */
        return FSAUTHCTL_OK;
    }

    return fsauthctl_error("no key with id %lld", id);
}


int
fsauthctl_store_load(fsauthctl_t *ctl, long long id, fsauthctl_key_t *key)
{
    int          rc, attempt;
    char        *name;
    char         digest[FSAUTH_HEX_LEN + 1];
    redisReply  *reply;

    for (attempt = 0; /* void */ ; attempt++) {

        rc = fsauthctl_store_lookup(ctl, id, 0, digest);
        if (rc != FSAUTHCTL_OK) {
            return rc;
        }

        name = fsauthctl_name_key(ctl, digest);
        rc = fsauthctl_redis_call(ctl, &reply, "HGETALL", name, NULL);
        free(name);

        if (rc != FSAUTHCTL_OK) {
            return rc;
        }

        memset(key, 0, sizeof(fsauthctl_key_t));
        fsauthctl_store_parse(reply, key);
        freeReplyObject(reply);

        if (key->description) {
            break;
        }

        /* renamed by a rotation or deleted since the lookup: look again */

        fsauthctl_store_free(key, 0);

        if (attempt + 1 == FSAUTHCTL_TX_RETRIES) {
            return fsauthctl_error("key %lld keeps changing concurrently",
                                   id);
        }
    }

    key->id = id;
    memcpy(key->digest, digest, sizeof(digest));

    name = fsauthctl_name_id(ctl, FSAUTH_NAME_ACTIVITY, id);
    rc = fsauthctl_redis_call(ctl, &reply, "HMGET", name, "lastactivity",
                              "lastip", NULL);
    free(name);

    if (rc != FSAUTHCTL_OK) {
        fsauthctl_store_free(key, 0);
        return rc;
    }

    fsauthctl_store_activity(reply, key);
    freeReplyObject(reply);

    return FSAUTHCTL_OK;
}


/*
 * Parses an HGETALL reply.  An empty or non-hash reply leaves
 * key->description NULL; otherwise every string member is set.
 */

static void
fsauthctl_store_parse(redisReply *hash, fsauthctl_key_t *key)
{
    size_t       i;
    redisReply  *f, *v;

    if (hash->type != REDIS_REPLY_ARRAY || hash->elements == 0) {
        return;
    }

    key->id = 0;

    for (i = 0; i + 1 < hash->elements; i += 2) {
        f = hash->element[i];
        v = hash->element[i + 1];

        if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING) {
            continue;
        }

        if (strcmp(f->str, "id") == 0) {
            if (fsauthctl_parse_id(v->str, v->len, &key->id) != FSAUTHCTL_OK)
            {
                key->id = 0;
            }

        } else if (strcmp(f->str, "nick") == 0) {
            free(key->nick);
            key->nick = fsauthctl_strndup(v->str, v->len);

        } else if (strcmp(f->str, "description") == 0) {
            free(key->description);
            key->description = fsauthctl_strndup(v->str, v->len);

        } else if (strcmp(f->str, "enabled") == 0) {
            /* exactly "1", as the module reads it: not "1\0..." */
            key->enabled = fsauth_flag_on(v->str, v->len);

        } else if (strcmp(f->str, "fullaccess") == 0) {
            key->fullaccess = fsauth_flag_on(v->str, v->len);

        } else if (strcmp(f->str, "creationdate") == 0) {
            free(key->creationdate);
            key->creationdate = fsauthctl_strndup(v->str, v->len);

        } else if (strcmp(f->str, "expires") == 0) {
            free(key->expires);
            key->expires = fsauthctl_strndup(v->str, v->len);

        } else if (strcmp(f->str, "rotated") == 0) {
            key->rotated = 1;
        } else if (strcmp(f->str, "allow_ips") == 0) {
            free(key->allow_ips);
            key->allow_ips = fsauthctl_strndup(v->str, v->len);

        } else if (f->len > 4 && memcmp(f->str, "res:", 4) == 0) {
            key->grants = fsauthctl_realloc(key->grants,
                              (key->ngrants + 1) * sizeof(fsauthctl_grant_t));
            key->grants[key->ngrants].resource =
                                   fsauthctl_strndup(f->str + 4, f->len - 4);
            key->grants[key->ngrants].mask =
                                   fsauth_grant_parse(v->str, v->len);
            key->ngrants++;
        }
    }

    if (key->nick == NULL) {
        key->nick = fsauthctl_strdup("");
    }

    if (key->description == NULL) {
        key->description = fsauthctl_strdup("");
    }

    if (key->ngrants > 1) {
        qsort(key->grants, key->ngrants, sizeof(fsauthctl_grant_t),
              fsauthctl_store_cmp_grants);
    }
}


/* HMGET activity:<id> lastactivity lastip */

static void
fsauthctl_store_activity(redisReply *reply, fsauthctl_key_t *key)
{
    redisReply  *v;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2) {
        return;
    }

    v = reply->element[0];
    if (v->type == REDIS_REPLY_STRING && v->len) {
        key->lastactivity = fsauthctl_strndup(v->str, v->len);
    }

    v = reply->element[1];
    if (v->type == REDIS_REPLY_STRING && v->len) {
        key->lastip = fsauthctl_strndup(v->str, v->len);
    }
}


/*
 * All keys, sorted by id.  The <prefix>key:* hashes are listed rather than
 * <prefix>keyid:*: they are what the module accepts, so a hash written by
 * hand without its keyid entry still shows up.
 */

int
fsauthctl_store_load_all(fsauthctl_t *ctl, fsauthctl_key_t **keys,
    size_t *nkeys)
{
    int                rc;
    char             **names;
    size_t             nnames, i, n, plen;
    redisReply       **replies;
    fsauthctl_key_t   *k;
    fsauthctl_args_t  *cmds;

    rc = fsauthctl_store_scan(ctl, &names, &nnames);
    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    *keys = NULL;
    *nkeys = 0;

    if (nnames == 0) {
        free(names);
        return FSAUTHCTL_OK;
    }

    cmds = fsauthctl_alloc(nnames * sizeof(fsauthctl_args_t));

    for (i = 0; i < nnames; i++) {
        fsauthctl_args_init(&cmds[i]);
        fsauthctl_args_add(&cmds[i], "HGETALL", 7);
        fsauthctl_args_add(&cmds[i], names[i], strlen(names[i]));
    }

    rc = fsauthctl_redis_pipeline(ctl, cmds, nnames, &replies);

    for (i = 0; i < nnames; i++) {
        fsauthctl_args_free(&cmds[i]);
    }

    if (rc != FSAUTHCTL_OK) {
        goto done;
    }

    k = fsauthctl_alloc(nnames * sizeof(fsauthctl_key_t));
    plen = strlen(ctl->prefix) + sizeof(FSAUTH_NAME_KEY) - 1;
    n = 0;

    for (i = 0; i < nnames; i++) {
        fsauthctl_store_parse(replies[i], &k[n]);

        if (k[n].description == NULL) {
            continue;
        }

        /*
         * no usable id, or a name no token can hash to: not a key; an old
         * token in its grace is its key's, listed by "key show"
         */

        if (k[n].id == 0 || k[n].rotated
            || !fsauth_hex_digest_valid(names[i] + plen,
                                             strlen(names[i] + plen)))
        {
            fsauthctl_store_free(&k[n], 0);
            memset(&k[n], 0, sizeof(fsauthctl_key_t));
            continue;
        }

        memcpy(k[n].digest, names[i] + plen, FSAUTH_HEX_LEN + 1);
        n++;
    }

    fsauthctl_redis_free_replies(replies, nnames);

    if (n == 0) {
        free(k);
        goto done;
    }

    for (i = 0; i < n; i++) {
        fsauthctl_args_init(&cmds[i]);
        fsauthctl_args_add(&cmds[i], "HMGET", 5);
        fsauthctl_args_add_name(&cmds[i],
                                fsauthctl_name_id(ctl, FSAUTH_NAME_ACTIVITY,
                                                  k[i].id));
        fsauthctl_args_add(&cmds[i], "lastactivity", 12);
        fsauthctl_args_add(&cmds[i], "lastip", 6);
    }

    rc = fsauthctl_redis_pipeline(ctl, cmds, n, &replies);

    for (i = 0; i < n; i++) {
        fsauthctl_args_free(&cmds[i]);
    }

    if (rc != FSAUTHCTL_OK) {
        fsauthctl_store_free(k, n);
        goto done;
    }

    for (i = 0; i < n; i++) {
        fsauthctl_store_activity(replies[i], &k[i]);
    }

    fsauthctl_redis_free_replies(replies, n);

    qsort(k, n, sizeof(fsauthctl_key_t), fsauthctl_store_cmp_keys);

    *keys = k;
    *nkeys = n;

done:

    for (i = 0; i < nnames; i++) {
        free(names[i]);
    }

    free(names);
    free(cmds);

    return rc;
}


/* SCAN MATCH <prefix>key:*, the prefix escaped for the glob pattern */

int
fsauthctl_store_scan(fsauthctl_t *ctl, char ***names, size_t *nnames)
{
    int          rc;
    char        *pattern, *p, *cursor;
    size_t       i, n, cap;
    const char  *s;
    redisReply  *reply, *keys;

    pattern = fsauthctl_alloc(2 * strlen(ctl->prefix)
                              + sizeof(FSAUTH_NAME_KEY "*"));
    p = pattern;

    for (s = ctl->prefix; *s; s++) {
        if (strchr("*?[]\\", *s)) {
            *p++ = '\\';
        }

        *p++ = *s;
    }

    memcpy(p, FSAUTH_NAME_KEY "*", sizeof(FSAUTH_NAME_KEY "*"));

    *names = NULL;
    n = 0;
    cap = 0;
    cursor = fsauthctl_strdup("0");

    for ( ;; ) {
        rc = fsauthctl_redis_call(ctl, &reply, "SCAN", cursor, "MATCH",
                                  pattern, "COUNT", "1000", NULL);
        if (rc != FSAUTHCTL_OK) {
            break;
        }

        if (reply->type != REDIS_REPLY_ARRAY
            || reply->elements != 2
            || reply->element[0]->type != REDIS_REPLY_STRING
            || reply->element[1]->type != REDIS_REPLY_ARRAY)
        {
            freeReplyObject(reply);
            rc = fsauthctl_error("unexpected reply to SCAN");
            break;
        }

        keys = reply->element[1];

        for (i = 0; i < keys->elements; i++) {
            if (keys->element[i]->type != REDIS_REPLY_STRING) {
                continue;
            }

            if (n == cap) {
                cap = cap ? cap * 2 : 64;
                *names = fsauthctl_realloc(*names, cap * sizeof(char *));
            }

            (*names)[n++] = fsauthctl_strndup(keys->element[i]->str,
                                              keys->element[i]->len);
        }

        free(cursor);
        cursor = fsauthctl_strdup(reply->element[0]->str);
        freeReplyObject(reply);

        if (strcmp(cursor, "0") == 0) {
            break;
        }
    }

    free(cursor);
    free(pattern);

    if (rc != FSAUTHCTL_OK) {
        for (i = 0; i < n; i++) {
            free((*names)[i]);
        }

        free(*names);
        return rc;
    }

    /* SCAN may return a key twice */

    if (n > 1) {
        size_t  j;

        qsort(*names, n, sizeof(char *), fsauthctl_store_cmp_names);

        for (i = 1, j = 1; i < n; i++) {
            if (strcmp((*names)[i], (*names)[j - 1]) == 0) {
                free((*names)[i]);
                continue;
            }

            (*names)[j++] = (*names)[i];
        }

        n = j;
    }

    *nnames = n;

    return FSAUTHCTL_OK;
}


void
fsauthctl_store_free(fsauthctl_key_t *keys, size_t nkeys)
{
    size_t            i, j, n;
    fsauthctl_key_t  *k;

    /* nkeys == 0: one key that is not in an allocated array */
    n = nkeys ? nkeys : 1;

    for (i = 0; i < n; i++) {
        k = &keys[i];

        free(k->nick);
        free(k->description);
        free(k->creationdate);
        free(k->lastactivity);
        free(k->lastip);
        free(k->expires);
        free(k->allow_ips);

        for (j = 0; j < k->ngrants; j++) {
            free(k->grants[j].resource);
        }

        free(k->grants);
    }

    if (nkeys) {
        free(keys);
    }
}


typedef struct {
    long long          id;
    const char        *field;
    const char        *value;
    int                existed;
    char              *key;
    fsauthctl_grace_t  old;         /* the key's old tokens in their grace */
} fsauthctl_store_field_t;


static int
fsauthctl_store_field_watch(fsauthctl_t *ctl, void *data)
{
    int                       rc;
    char                      digest[FSAUTH_HEX_LEN + 1];
    redisReply               *reply;
    fsauthctl_store_field_t  *sf;

    sf = data;

    rc = fsauthctl_store_lookup(ctl, sf->id, 1, digest);
    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    free(sf->key);
    sf->key = fsauthctl_name_key(ctl, digest);

    fsauthctl_grace_free(&sf->old);

    rc = fsauthctl_grace_read(ctl, sf->id, 1, &sf->old);
    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    rc = fsauthctl_redis_call(ctl, &reply, "HEXISTS", sf->key, sf->field,
                              NULL);
    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    sf->existed = (reply->type == REDIS_REPLY_INTEGER && reply->integer);
    freeReplyObject(reply);

    if (sf->value == NULL && !sf->existed) {
        return FSAUTHCTL_TX_SKIP;
    }

    return FSAUTHCTL_OK;
}


static int
fsauthctl_store_field_queue(fsauthctl_t *ctl, void *data)
{
    int                       rc;
    fsauthctl_args_t          args;
    fsauthctl_store_field_t  *sf;

    sf = data;

    fsauthctl_args_init(&args);
    fsauthctl_args_add(&args, sf->value ? "HSET" : "HDEL", 4);
    fsauthctl_args_add(&args, sf->key, strlen(sf->key));
    fsauthctl_args_add(&args, sf->field, strlen(sf->field));

    if (sf->value) {
        fsauthctl_args_add(&args, sf->value, strlen(sf->value));
    }

    rc = fsauthctl_redis_queue(ctl, &args);
    fsauthctl_args_free(&args);

    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    return fsauthctl_grace_queue_field(ctl, sf->id, &sf->old, sf->field,
                                       sf->value);
}


/*
 * Sets (value != NULL) or deletes one field of key "id", atomically and
 * only if the key exists; *existed tells whether the field was there.
 * Deleting a missing field writes nothing.  Old tokens of the key in
 * their grace get the change too (grace.c).
 */

int
fsauthctl_store_set_field(fsauthctl_t *ctl, long long id, const char *field,
    const char *value, int *existed)
{
    int                      rc, outcome;
    fsauthctl_store_field_t  sf;

    sf.id = id;
    sf.field = field;
    sf.value = value;
    sf.existed = 0;
    sf.key = NULL;
    memset(&sf.old, 0, sizeof(fsauthctl_grace_t));

    rc = fsauthctl_redis_tx(ctl, FSAUTHCTL_TX_RETRIES,
                            fsauthctl_store_field_watch,
                            fsauthctl_store_field_queue, &sf, &outcome);
    free(sf.key);
    fsauthctl_grace_free(&sf.old);

    *existed = sf.existed;

    if (rc == FSAUTHCTL_OK && outcome == -1) {
        return fsauthctl_error("key %lld keeps changing concurrently, "
                               "nothing written", id);
    }

    return rc;
}


/* HSET <prefix>key:<D> with every field of "key", grants included */

void
fsauthctl_store_hset(fsauthctl_t *ctl, fsauthctl_args_t *args,
    const char *digest, const fsauthctl_key_t *key)
{
    size_t  i;
    char    list[32];

    fsauthctl_args_add(args, "HSET", 4);
    fsauthctl_args_add_name(args, fsauthctl_name_key(ctl, digest));
    fsauthctl_args_add(args, "id", 2);
    fsauthctl_args_addf(args, "%lld", key->id);
    fsauthctl_args_add(args, "nick", 4);
    fsauthctl_args_add(args, key->nick, strlen(key->nick));
    fsauthctl_args_add(args, "description", 11);
    fsauthctl_args_add(args, key->description, strlen(key->description));
    fsauthctl_args_add(args, "enabled", 7);
    fsauthctl_args_add(args, key->enabled ? "1" : "0", 1);
    fsauthctl_args_add(args, "fullaccess", 10);
    fsauthctl_args_add(args, key->fullaccess ? "1" : "0", 1);
    fsauthctl_args_add(args, "creationdate", 12);
    fsauthctl_args_add(args, key->creationdate, strlen(key->creationdate));

    if (key->expires) {
        fsauthctl_args_add(args, "expires", 7);
        fsauthctl_args_add(args, key->expires, strlen(key->expires));
    }

    for (i = 0; i < key->ngrants; i++) {
        fsauth_grant_format(key->grants[i].mask, list);
        fsauthctl_args_addf(args, "res:%s", key->grants[i].resource);
        fsauthctl_args_add(args, list, strlen(list));
    }
}


static int
fsauthctl_store_cmp_names(const void *a, const void *b)
{
    return strcmp(*(char * const *) a, *(char * const *) b);
}


static int
fsauthctl_store_cmp_keys(const void *a, const void *b)
{
    const fsauthctl_key_t  *x = a, *y = b;

    if (x->id != y->id) {
        return x->id < y->id ? -1 : 1;
    }

    return strcmp(x->digest, y->digest);
}


static int
fsauthctl_store_cmp_grants(const void *a, const void *b)
{
    const fsauthctl_grant_t  *x = a, *y = b;

    return strcmp(x->resource, y->resource);
}
