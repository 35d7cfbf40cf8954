
/*
 * Copyright (C) fsauth authors
 * BSD-2-Clause, see LICENSE.
 */


/*
 * fsauthctl: Redis connection, commands and MULTI/EXEC transactions.
 *
 * The synchronous hiredis API is enough for a command line tool.  Every
 * failure is reported here, once, as one line; callers only propagate the
 * return code.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/time.h>

#include "fsauthctl.h"


#define FSAUTHCTL_CONNECT_TIMEOUT  5
#define FSAUTHCTL_COMMAND_TIMEOUT  10


static int fsauthctl_redis_multi(fsauthctl_t *ctl);
static int fsauthctl_redis_commit(fsauthctl_t *ctl, int *aborted);
static int fsauthctl_redis_tx_run(fsauthctl_t *ctl, int tries,
    fsauthctl_tx_pt watch, fsauthctl_tx_pt queue, void *data, int *outcome);
static int fsauthctl_redis_lost(fsauthctl_t *ctl);
static int fsauthctl_redis_reply_error(const char *cmd, redisReply *reply);


int
fsauthctl_redis_connect(fsauthctl_t *ctl)
{
    if (ctl->sentinel) {
        return fsauthctl_sentinel_connect(ctl);
    }

    return fsauthctl_redis_open(ctl);
}


/* to ctl->host and ctl->port or ctl->socket: AUTH, SELECT, PING */

int
fsauthctl_redis_open(fsauthctl_t *ctl)
{
    int             rc;
    char           *password;
    redisReply     *reply;
    redisContext   *c;
    struct timeval  tv;

    rc = fsauthctl_secure_password(ctl, &password);
    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    tv.tv_sec = FSAUTHCTL_CONNECT_TIMEOUT;
    tv.tv_usec = 0;

    if (ctl->socket) {
        c = redisConnectUnixWithTimeout(ctl->socket, tv);

    } else {
        c = redisConnectWithTimeout(ctl->host, ctl->port, tv);
    }

    if (c == NULL || c->err) {
        if (ctl->socket) {
            fsauthctl_error("cannot connect to redis at unix:%s: %s",
                            ctl->socket, c ? c->errstr : "out of memory");

        } else {
            fsauthctl_error("cannot connect to redis at %s:%d: %s",
                            ctl->host, ctl->port,
                            c ? c->errstr : "out of memory");
        }

        if (c) {
            redisFree(c);
        }

        rc = FSAUTHCTL_UNAVAILABLE;
        goto done;
    }

    tv.tv_sec = FSAUTHCTL_COMMAND_TIMEOUT;
    redisSetTimeout(c, tv);

    ctl->redis = c;

    rc = fsauthctl_secure_tls(ctl, c, NULL, 0);
    if (rc != FSAUTHCTL_OK) {
        goto done;
    }

    if (password) {
        int          n;
        const char  *argv[3];
        size_t       lens[3];

        n = 0;
        argv[n] = "AUTH";
        lens[n++] = 4;

        if (ctl->user) {
            argv[n] = ctl->user;
            lens[n++] = strlen(ctl->user);
        }

        argv[n] = password;
        lens[n++] = strlen(password);

        reply = redisCommandArgv(c, n, argv, lens);
        if (reply == NULL) {
            rc = fsauthctl_redis_lost(ctl);
            goto done;
        }

        if (reply->type == REDIS_REPLY_ERROR) {
            fsauthctl_error("redis authentication failed: %s", reply->str);
            freeReplyObject(reply);
            rc = FSAUTHCTL_UNAVAILABLE;
            goto done;
        }

        freeReplyObject(reply);
    }

    if (ctl->db != 0) {
        char  db[32];

        snprintf(db, sizeof(db), "%ld", ctl->db);

        rc = fsauthctl_redis_call(ctl, NULL, "SELECT", db, NULL);
        if (rc != FSAUTHCTL_OK) {
            goto done;
        }
    }

    /* without -a against a server with requirepass, this is what fails */
    rc = fsauthctl_redis_call(ctl, NULL, "PING", NULL);

done:

    if (password) {
        explicit_bzero(password, strlen(password));
        free(password);
    }

    return rc;
}


void
fsauthctl_redis_close(fsauthctl_t *ctl)
{
    if (ctl->redis) {
        redisFree(ctl->redis);
        ctl->redis = NULL;
    }
}


/*
 * Redis key names, built by the shared rules (fsauth_rules.c); each is
 * allocated, the caller frees it.
 */

static char *
fsauthctl_name_buf(fsauthctl_t *ctl, size_t *plen)
{
    *plen = strlen(ctl->prefix);

    return fsauthctl_alloc(*plen + FSAUTH_NAME_MAX - FSAUTH_PREFIX_MAX + 1);
}


/* <prefix>api, <prefix>schema, <prefix>nextid */

char *
fsauthctl_name(fsauthctl_t *ctl, const char *kind)
{
    char    *buf;
    size_t   plen;

    buf = fsauthctl_name_buf(ctl, &plen);
    fsauth_name(buf, ctl->prefix, plen, kind);

    return buf;
}


/*
 * <prefix>key:<hex digest>; the digest may come from a keyid written by
 * hand, so its length is not assumed
 */

char *
fsauthctl_name_key(fsauthctl_t *ctl, const char *digest)
{
    char    *buf;
    size_t   plen, len;

    len = strlen(digest);
    plen = strlen(ctl->prefix);
    buf = fsauthctl_alloc(plen + sizeof(FSAUTH_NAME_KEY) + len);

    fsauth_name_key(buf, ctl->prefix, plen, digest, len);

    return buf;
}


/* <prefix>keyid:<id>, <prefix>activity:<id> */

char *
fsauthctl_name_id(fsauthctl_t *ctl, const char *kind, long long id)
{
    char    *buf;
    size_t   plen;

    buf = fsauthctl_name_buf(ctl, &plen);
    fsauth_name_id(buf, ctl->prefix, plen, kind, id);

    return buf;
}


/* fsauthctl_redis_call(ctl, &reply, "HGET", key, field, NULL) */

int
fsauthctl_redis_call(fsauthctl_t *ctl, redisReply **reply, ...)
{
    int                rc;
    va_list            ap;
    const char        *arg;
    fsauthctl_args_t   args;

    fsauthctl_args_init(&args);

    va_start(ap, reply);

    while ((arg = va_arg(ap, const char *)) != NULL) {
        fsauthctl_args_add(&args, arg, strlen(arg));
    }

    va_end(ap);

    rc = fsauthctl_redis_argv(ctl, &args, reply);

    fsauthctl_args_free(&args);

    return rc;
}


/*
 * One read of "key": GET, EXISTS, or HGET with "field".  With "watch" the
 * key is WATCHed first, so that a following EXEC fails if it changes
 * after this read.
 */

int
fsauthctl_redis_read(fsauthctl_t *ctl, int watch, redisReply **reply,
    const char *cmd, const char *key, const char *field)
{
    int  rc;

    if (watch) {
        rc = fsauthctl_redis_call(ctl, NULL, "WATCH", key, NULL);
        if (rc != FSAUTHCTL_OK) {
            return rc;
        }
    }

    return fsauthctl_redis_call(ctl, reply, cmd, key, field, NULL);
}


/* error replies are reported and freed; *reply is set only on success */

int
fsauthctl_redis_argv(fsauthctl_t *ctl, fsauthctl_args_t *args,
    redisReply **reply)
{
    int          rc;
    redisReply  *r;

    r = redisCommandArgv(ctl->redis, args->n, (const char **) args->argv,
                         args->lens);
    if (r == NULL) {
        return fsauthctl_redis_lost(ctl);
    }

    if (r->type == REDIS_REPLY_ERROR) {
        rc = fsauthctl_redis_reply_error(args->argv[0], r);
        freeReplyObject(r);
        return rc;
    }

    if (reply) {
        *reply = r;

    } else {
        freeReplyObject(r);
    }

    return FSAUTHCTL_OK;
}


/*
 * Sends n commands at once and reads the n replies: one round trip for
 * "HGETALL every key".  Error replies stay in the array for the caller.
 */

int
fsauthctl_redis_pipeline(fsauthctl_t *ctl, fsauthctl_args_t *cmds, size_t n,
    redisReply ***replies)
{
    size_t        i;
    void         *r;
    redisReply  **rs;

    rs = fsauthctl_alloc(n * sizeof(redisReply *));

    for (i = 0; i < n; i++) {
        if (redisAppendCommandArgv(ctl->redis, cmds[i].n,
                                   (const char **) cmds[i].argv,
                                   cmds[i].lens)
            != REDIS_OK)
        {
            free(rs);
            return fsauthctl_redis_lost(ctl);
        }
    }

    for (i = 0; i < n; i++) {
        if (redisGetReply(ctl->redis, &r) != REDIS_OK || r == NULL) {
            fsauthctl_redis_free_replies(rs, i);
            return fsauthctl_redis_lost(ctl);
        }

        rs[i] = r;
    }

    *replies = rs;

    return FSAUTHCTL_OK;
}


void
fsauthctl_redis_free_replies(redisReply **replies, size_t n)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        if (replies[i]) {
            freeReplyObject(replies[i]);
        }
    }

    free(replies);
}


static int
fsauthctl_redis_multi(fsauthctl_t *ctl)
{
    return fsauthctl_redis_call(ctl, NULL, "MULTI", NULL);
}


int
fsauthctl_redis_queue(fsauthctl_t *ctl, fsauthctl_args_t *args)
{
    int  rc;

    rc = fsauthctl_redis_argv(ctl, args, NULL);

    if (rc == FSAUTHCTL_ERROR) {
        /* leave the connection usable; the error is already reported */
        (void) redisCommand(ctl->redis, "DISCARD");
    }

    return rc;
}


/*
 * Every write transaction also adds its audit entry and sets
 * <prefix>schema, then runs EXEC.
 * *aborted = 1 when a WATCHed key changed: nothing was written and the
 * caller starts over with fresh reads.
 */

static int
fsauthctl_redis_commit(fsauthctl_t *ctl, int *aborted)
{
    int                rc;
    size_t             i;
    redisReply        *reply;
    fsauthctl_args_t   args;

    *aborted = 0;

    rc = fsauthctl_audit_queue(ctl);
    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    fsauthctl_args_init(&args);
    fsauthctl_args_add(&args, "SET", 3);
    fsauthctl_args_add_name(&args, fsauthctl_name(ctl, FSAUTH_NAME_SCHEMA));
    fsauthctl_args_add(&args, FSAUTH_SCHEMA_VERSION,
                       sizeof(FSAUTH_SCHEMA_VERSION) - 1);

    rc = fsauthctl_redis_queue(ctl, &args);

    fsauthctl_args_free(&args);

    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    rc = fsauthctl_redis_call(ctl, &reply, "EXEC", NULL);
    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    if (reply->type == REDIS_REPLY_NIL) {
        freeReplyObject(reply);
        *aborted = 1;
        return FSAUTHCTL_OK;
    }

    rc = FSAUTHCTL_OK;

    if (reply->type == REDIS_REPLY_ARRAY) {
        for (i = 0; i < reply->elements; i++) {
            if (reply->element[i]->type == REDIS_REPLY_ERROR) {
                rc = fsauthctl_redis_reply_error("EXEC", reply->element[i]);
                break;
            }
        }
    }

    freeReplyObject(reply);

    return rc;
}


/*
 * One optimistic transaction, retried while it loses a WATCH race:
 *
 *   watch(ctl, data)   WATCHes and reads what the write depends on, then
 *                      returns FSAUTHCTL_OK to write, FSAUTHCTL_TX_SKIP
 *                      when there is nothing to write, FSAUTHCTL_TX_AGAIN
 *                      to start over at once (an id or digest taken), or
 *                      an error, already reported; NULL: nothing to watch;
 *   queue(ctl, data)   queues the writes between MULTI and EXEC (the
 *                      commit adds the audit entry set with
 *                      fsauthctl_audit_set() and <prefix>schema).
 *
 * Nothing stays WATCHed after a skip or a retry.  *outcome: 1 committed,
 * 0 skipped, -1 every one of "tries" attempts was aborted or retried
 * (nothing written, no message: the caller says what kept changing).
 */

int
fsauthctl_redis_tx(fsauthctl_t *ctl, int tries, fsauthctl_tx_pt watch,
    fsauthctl_tx_pt queue, void *data, int *outcome)
{
    int  rc;

    *outcome = -1;

    rc = fsauthctl_audit_check(ctl);

    if (rc == FSAUTHCTL_OK) {
        rc = fsauthctl_redis_tx_run(ctl, tries, watch, queue, data, outcome);
    }

    /* the entry was this transaction's; the next write sets its own */
    fsauthctl_audit_clear(ctl);

    return rc;
}


static int
fsauthctl_redis_tx_run(fsauthctl_t *ctl, int tries, fsauthctl_tx_pt watch,
    fsauthctl_tx_pt queue, void *data, int *outcome)
{
    int  rc, attempt, aborted;

    *outcome = -1;

    for (attempt = 0; attempt < tries; attempt++) {

        rc = watch ? watch(ctl, data) : FSAUTHCTL_OK;

        if (rc == FSAUTHCTL_TX_SKIP) {
            fsauthctl_redis_unwatch(ctl);
            *outcome = 0;
            return FSAUTHCTL_OK;
        }

        if (rc == FSAUTHCTL_TX_AGAIN) {
            fsauthctl_redis_unwatch(ctl);
            continue;
        }

        if (rc != FSAUTHCTL_OK) {
            return rc;
        }

        rc = fsauthctl_redis_multi(ctl);

        if (rc == FSAUTHCTL_OK) {
            rc = queue(ctl, data);
        }

        if (rc == FSAUTHCTL_OK) {
            rc = fsauthctl_redis_commit(ctl, &aborted);
        }

        if (rc != FSAUTHCTL_OK) {
            return rc;
        }

        if (!aborted) {
            *outcome = 1;
            return FSAUTHCTL_OK;
        }

        fsauthctl_redis_backoff(attempt);
    }

    return FSAUTHCTL_OK;
}


/*
 * After a lost WATCH race: wait a little, longer each time and with some
 * jitter, so that writers racing for one key do not collide again.
 */

void
fsauthctl_redis_backoff(int attempt)
{
    struct timespec  ts;

    ts.tv_sec = 0;
    ts.tv_nsec = (long) (attempt + 1) * 1000000
                 + (long) (random() % 1000) * 1000;

    nanosleep(&ts, NULL);
}


void
fsauthctl_redis_unwatch(fsauthctl_t *ctl)
{
    redisReply  *reply;

    reply = redisCommand(ctl->redis, "UNWATCH");
    if (reply) {
        freeReplyObject(reply);
    }
}


static int
fsauthctl_redis_lost(fsauthctl_t *ctl)
{
    fsauthctl_error("redis connection failed: %s",
                    ctl->redis->errstr[0] ? ctl->redis->errstr
                                          : "unknown error");

    return FSAUTHCTL_UNAVAILABLE;
}


/* errors meaning "the server cannot serve us" exit 2, the others 1 */

static int
fsauthctl_redis_reply_error(const char *cmd, redisReply *reply)
{
    size_t              i, len;
    static const char  *unavailable[] = {
        "NOAUTH", "WRONGPASS", "LOADING", "MASTERDOWN", "MISCONF",
        "READONLY", "BUSY", "TRYAGAIN", "CLUSTERDOWN", NULL
    };

    for (i = 0; unavailable[i]; i++) {
        len = strlen(unavailable[i]);

        if (reply->len >= len
            && memcmp(reply->str, unavailable[i], len) == 0
            && (reply->len == len || reply->str[len] == ' '))
        {
            if (i < 2) {
                fsauthctl_error("redis authentication failed: %s",
                                reply->str);

            } else {
                fsauthctl_error("redis unavailable: %s", reply->str);
            }

            return FSAUTHCTL_UNAVAILABLE;
        }
    }

    fsauthctl_error("redis %s failed: %s", cmd, reply->str);

    return FSAUTHCTL_ERROR;
}
