
/*
 * Copyright (C) fsauth authors
 * BSD-2-Clause, see LICENSE.
 */


/*
 * fsauthctl: old tokens in their grace, after "key rotate ID --grace D".
 *
 *     <prefix>key:<Dold>     the record as it was, with "expires" at the
 *                            end of the grace (or the key's own expiry if
 *                            sooner), "rotated" (unix seconds of the
 *                            rotation) and EXPIREAT at that same second
 *     <prefix>grace:<id>     sorted set: old digests scored by that end,
 *                            EXPIREAT its last end
 *
 * The module refuses a record whose "expires" has passed, on a cache hit
 * too, and Redis deletes the hash at that second: nothing has to run for
 * an old token to end.  The sorted set only tells "key show" which old
 * tokens are pending; ended members are dropped at the next rotation.
 *
 * While an old token is pending, every field written to the key (grants,
 * full access, expiry, ...) is written to its old hash too: the old token
 * keeps the grants of the key, not those of the rotation's moment.
 * Disabling or deleting the key ends every grace at once.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fsauthctl.h"


static int fsauthctl_grace_expireat(fsauthctl_t *ctl, const char *digest,
    long long at);


/*
 * The old tokens of key "id" still in their grace and whose hash exists.
 * With "watch", the set and each hash are WATCHed: an EXEC fails if one
 * of them changes meanwhile.
 */

int
fsauthctl_grace_read(fsauthctl_t *ctl, long long id, int watch,
    fsauthctl_grace_t *g)
{
    int          rc;
    char        *name, *end;
    size_t       i;
    long long    now, until;
    redisReply  *reply, *m, *s, *e;

    memset(g, 0, sizeof(fsauthctl_grace_t));

    name = fsauthctl_name_id(ctl, FSAUTHCTL_NAME_GRACE, id);

    if (watch) {
        rc = fsauthctl_redis_call(ctl, NULL, "WATCH", name, NULL);
        if (rc != FSAUTHCTL_OK) {
            free(name);
            return rc;
        }
    }

    rc = fsauthctl_redis_call(ctl, &reply, "ZRANGE", name, "0", "-1",
                              "WITHSCORES", NULL);
    free(name);

    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    now = (long long) time(NULL);

    if (reply->type == REDIS_REPLY_ARRAY && reply->elements) {
        g->old = fsauthctl_alloc(reply->elements / 2
                                 * sizeof(fsauthctl_old_token_t) + 1);
    }

    for (i = 0; reply->type == REDIS_REPLY_ARRAY && i + 1 < reply->elements;
         i += 2)
    {
        m = reply->element[i];
        s = reply->element[i + 1];

        if (m->type != REDIS_REPLY_STRING || s->type != REDIS_REPLY_STRING
            || !fsauth_hex_digest_valid(m->str, m->len))
        {
            continue;
        }

        until = strtoll(s->str, &end, 10);

        /* ended: the module refuses it, Redis has deleted it */

        if (*end != '\0' || until <= now) {
            continue;
        }

        name = fsauthctl_name_key(ctl, m->str);
        rc = fsauthctl_redis_read(ctl, watch, &e, "EXISTS", name, NULL);
        free(name);

        if (rc != FSAUTHCTL_OK) {
            freeReplyObject(reply);
            fsauthctl_grace_free(g);
            return rc;
        }

        if (e->type == REDIS_REPLY_INTEGER && e->integer == 1) {
            memcpy(g->old[g->n].digest, m->str, FSAUTH_HEX_LEN + 1);
            g->old[g->n].until = until;
            g->n++;
        }

        freeReplyObject(e);
    }

    freeReplyObject(reply);

    return FSAUTHCTL_OK;
}


void
fsauthctl_grace_free(fsauthctl_grace_t *g)
{
    free(g->old);
    g->old = NULL;
    g->n = 0;
}


/* queued: every grace of key "id" ends, the old hashes and the set go */

int
fsauthctl_grace_queue_end(fsauthctl_t *ctl, long long id,
    const fsauthctl_grace_t *g)
{
    int               rc;
    size_t            i;
    fsauthctl_args_t  args;

    fsauthctl_args_init(&args);
    fsauthctl_args_add(&args, "DEL", 3);
    fsauthctl_args_add_name(&args,
                            fsauthctl_name_id(ctl, FSAUTHCTL_NAME_GRACE, id));

    for (i = 0; i < g->n; i++) {
        fsauthctl_args_add_name(&args,
                                fsauthctl_name_key(ctl, g->old[i].digest));
    }

    rc = fsauthctl_redis_queue(ctl, &args);
    fsauthctl_args_free(&args);

    return rc;
}


/*
 * Queued: key:<digest> becomes an old token of key "id" until "until"
 * (unix seconds, to come); "g" is what the set held before.
 */

int
fsauthctl_grace_queue_keep(fsauthctl_t *ctl, long long id,
    const fsauthctl_grace_t *g, const char *digest, long long until)
{
    int        rc;
    char      *name, *set;
    char       at[24], now[24], last[24];
    size_t     i;
    long long  max;

    name = fsauthctl_name_key(ctl, digest);
    set = fsauthctl_name_id(ctl, FSAUTHCTL_NAME_GRACE, id);

    snprintf(at, sizeof(at), "%lld", until);
    snprintf(now, sizeof(now), "%lld", (long long) time(NULL));

    max = until;

    for (i = 0; i < g->n; i++) {
        if (g->old[i].until > max) {
            max = g->old[i].until;
        }
    }

    snprintf(last, sizeof(last), "%lld", max);

    rc = fsauthctl_redis_call(ctl, NULL, "HSET", name, "expires", at,
                              "rotated", now, NULL);

    if (rc == FSAUTHCTL_OK) {
        rc = fsauthctl_redis_call(ctl, NULL, "EXPIREAT", name, at, NULL);
    }

    if (rc == FSAUTHCTL_OK) {
        rc = fsauthctl_redis_call(ctl, NULL, "ZADD", set, at, digest, NULL);
    }

    /* members ended by now: their hashes are gone already */

    if (rc == FSAUTHCTL_OK) {
        rc = fsauthctl_redis_call(ctl, NULL, "ZREMRANGEBYSCORE", set, "-inf",
                                  now, NULL);
    }

    if (rc == FSAUTHCTL_OK) {
        rc = fsauthctl_redis_call(ctl, NULL, "EXPIREAT", set, last, NULL);
    }

    free(name);
    free(set);

    return rc;
}


/*
 * Queued: a field of key "id" set (value) or deleted (NULL) on its
 * pending old tokens too.  "enabled" 0 ends their grace instead; an
 * "expires" only shortens it.  Each old hash gets its EXPIREAT again: one
 * that Redis deleted after the WATCH is not left behind for ever.
 */

int
fsauthctl_grace_queue_field(fsauthctl_t *ctl, long long id,
    const fsauthctl_grace_t *g, const char *field, const char *value)
{
    int               rc;
    char              at[24], *set;
    size_t            i;
    long long         until, expires;
    fsauthctl_args_t  args;

    if (g->n == 0) {
        return FSAUTHCTL_OK;
    }

    if (strcmp(field, "enabled") == 0 && value && strcmp(value, "1") != 0) {
        return fsauthctl_grace_queue_end(ctl, id, g);
    }

    expires = 0;

    if (strcmp(field, "expires") == 0 && value) {
        expires = strtoll(value, NULL, 10);
    }

    rc = FSAUTHCTL_OK;

    for (i = 0; i < g->n && rc == FSAUTHCTL_OK; i++) {
        until = g->old[i].until;

        fsauthctl_args_init(&args);

        if (strcmp(field, "expires") == 0) {

            /* "never" or later: the grace still ends when it ends */

            if (expires > 0 && expires < until) {
                until = expires;
            }

            snprintf(at, sizeof(at), "%lld", until);
            fsauthctl_args_add(&args, "HSET", 4);
            fsauthctl_args_add_name(&args,
                                    fsauthctl_name_key(ctl,
                                                       g->old[i].digest));
            fsauthctl_args_add(&args, field, strlen(field));
            fsauthctl_args_add(&args, at, strlen(at));

        } else {
            fsauthctl_args_add(&args, value ? "HSET" : "HDEL", 4);
            fsauthctl_args_add_name(&args,
                                    fsauthctl_name_key(ctl,
                                                       g->old[i].digest));
            fsauthctl_args_add(&args, field, strlen(field));

            if (value) {
                fsauthctl_args_add(&args, value, strlen(value));
            }
        }

        rc = fsauthctl_redis_queue(ctl, &args);
        fsauthctl_args_free(&args);

        if (rc == FSAUTHCTL_OK) {
            rc = fsauthctl_grace_expireat(ctl, g->old[i].digest, until);
        }

        if (rc == FSAUTHCTL_OK && until != g->old[i].until) {
            snprintf(at, sizeof(at), "%lld", until);
            set = fsauthctl_name_id(ctl, FSAUTHCTL_NAME_GRACE, id);
            rc = fsauthctl_redis_call(ctl, NULL, "ZADD", set, at,
                                      g->old[i].digest, NULL);
            free(set);
        }
    }

    return rc;
}


/* queued: EXPIREAT key:<digest> at */

static int
fsauthctl_grace_expireat(fsauthctl_t *ctl, const char *digest, long long at)
{
    int    rc;
    char  *name, s[24];

    snprintf(s, sizeof(s), "%lld", at);
    name = fsauthctl_name_key(ctl, digest);
    rc = fsauthctl_redis_call(ctl, NULL, "EXPIREAT", name, s, NULL);
    free(name);

    return rc;
}


/*
 * "key show": the pending old tokens by the first 8 hex digits of their
 * digest, as "old tokens:" lines or a JSON array; nothing in text when
 * there is none
 */

void
fsauthctl_grace_print(const fsauthctl_grace_t *g)
{
    char    s[24], *when;
    size_t  i;

    if (g->n == 0) {
        return;
    }

    printf("old tokens:\n");

    for (i = 0; i < g->n; i++) {
        snprintf(s, sizeof(s), "%lld", g->old[i].until);
        when = fsauthctl_output_time(s);
        printf("  %.8s...: until %s\n", g->old[i].digest, when);
        free(when);
    }
}


json_t *
fsauthctl_grace_json(const fsauthctl_grace_t *g)
{
    char     prefix[9];
    size_t   i;
    json_t  *arr;

    arr = json_array();

    for (i = 0; i < g->n; i++) {
        memcpy(prefix, g->old[i].digest, 8);
        prefix[8] = '\0';

        json_array_append_new(arr,
                              json_pack("{s:s, s:I}", "digest", prefix,
                                        "until",
                                        (json_int_t) g->old[i].until));
    }

    return arr;
}
