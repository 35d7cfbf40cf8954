
/*
 * Copyright (C) fsauth authors
 * BSD-2-Clause, see LICENSE.
 */


/*
 * An in-memory stand-in for a Redis server behind the synchronous hiredis
 * calls fsauthctl makes (redisConnect*, redisCommandArgv, redisCommand,
 * redisFree, redisSetTimeout), for the import fuzzer.  The fuzzer binary
 * defines these symbols itself, so fsauthctl's objects bind to them
 * instead of libhiredis; freeReplyObject stays hiredis's own, which is why
 * every reply is built from plain malloc'd pieces the way hiredis builds
 * them.
 *
 * Only the commands fsauthctl's import path sends are known: PING, AUTH,
 * SELECT, WATCH, UNWATCH, MULTI, EXEC, DISCARD, GET, SET, DEL, EXISTS,
 * HGET, HSET, TYPE, XADD (the audit entry, answered but not kept).  Anything
 * else aborts, so that a new command in fsauthctl
 * shows up as a fuzzer crash to extend this file rather than as a silently
 * wrong answer.  WATCH is accepted but not tracked; fake_redis_abort_exec
 * makes the next EXECs answer nil (a lost WATCH race).
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <hiredis/hiredis.h>

#include "fake_redis.h"


#define FAKE_STRING  1
#define FAKE_HASH    2


typedef struct {
    char       *name;
    size_t      nlen;
    char       *value;
    size_t      vlen;
} fake_field_t;


typedef struct {
    char          *key;
    size_t         klen;
    int            type;
    char          *str;
    size_t         slen;
    fake_field_t  *fields;
    size_t         nfields;
} fake_entry_t;


typedef struct {
    int      argc;
    char   **argv;
    size_t  *lens;
} fake_cmd_t;


static fake_entry_t  *fake_db;
static size_t         fake_n;

static fake_cmd_t    *fake_queue;
static size_t         fake_nqueue;
static int            fake_multi;

int                   fake_redis_abort_exec;
unsigned long         fake_redis_commands;


static void *
fake_alloc(size_t size)
{
    void  *p;

    p = calloc(1, size ? size : 1);
    if (p == NULL) {
        abort();
    }

    return p;
}


static char *
fake_dup(const char *s, size_t len)
{
    char  *p;

    p = fake_alloc(len + 1);
    memcpy(p, s, len);
    p[len] = '\0';

    return p;
}


/* replies, shaped like hiredis's own so that freeReplyObject frees them */

static redisReply *
fake_reply(int type)
{
    redisReply  *r;

    r = fake_alloc(sizeof(redisReply));
    r->type = type;

    return r;
}


static redisReply *
fake_text(int type, const char *s, size_t len)
{
    redisReply  *r;

    r = fake_reply(type);
    r->str = fake_dup(s, len);
    r->len = len;

    return r;
}


static redisReply *
fake_status(const char *s)
{
    return fake_text(REDIS_REPLY_STATUS, s, strlen(s));
}


static redisReply *
fake_error(const char *s)
{
    return fake_text(REDIS_REPLY_ERROR, s, strlen(s));
}


static redisReply *
fake_integer(long long n)
{
    redisReply  *r;

    r = fake_reply(REDIS_REPLY_INTEGER);
    r->integer = n;

    return r;
}


static fake_entry_t *
fake_find(const char *key, size_t klen)
{
    size_t  i;

    for (i = 0; i < fake_n; i++) {
        if (fake_db[i].klen == klen && memcmp(fake_db[i].key, key, klen) == 0)
        {
            return &fake_db[i];
        }
    }

    return NULL;
}


static void
fake_entry_free(fake_entry_t *e)
{
    size_t  i;

    for (i = 0; i < e->nfields; i++) {
        free(e->fields[i].name);
        free(e->fields[i].value);
    }

    free(e->fields);
    free(e->str);
    free(e->key);
}


static int
fake_del(const char *key, size_t klen)
{
    fake_entry_t  *e;

    e = fake_find(key, klen);
    if (e == NULL) {
        return 0;
    }

    fake_entry_free(e);
    *e = fake_db[--fake_n];

    return 1;
}


static fake_entry_t *
fake_add(const char *key, size_t klen, int type)
{
    fake_entry_t  *e;

    fake_db = realloc(fake_db, (fake_n + 1) * sizeof(fake_entry_t));
    if (fake_db == NULL) {
        abort();
    }

    e = &fake_db[fake_n++];
    memset(e, 0, sizeof(fake_entry_t));
    e->key = fake_dup(key, klen);
    e->klen = klen;
    e->type = type;

    return e;
}


static int
fake_is(const fake_cmd_t *c, const char *name, int argc)
{
    return strcasecmp(c->argv[0], name) == 0 && (argc == 0 || c->argc == argc);
}


static redisReply *
fake_run(const fake_cmd_t *c)
{
    int            i, added;
    size_t         j;
    fake_entry_t  *e;
    fake_field_t  *f;

    if (fake_is(c, "GET", 2)) {
        e = fake_find(c->argv[1], c->lens[1]);

        if (e == NULL) {
            return fake_reply(REDIS_REPLY_NIL);
        }

        if (e->type != FAKE_STRING) {
            return fake_error("WRONGTYPE Operation against a key holding "
                              "the wrong kind of value");
        }

        return fake_text(REDIS_REPLY_STRING, e->str, e->slen);
    }

    if (fake_is(c, "SET", 3)) {
        fake_del(c->argv[1], c->lens[1]);
        e = fake_add(c->argv[1], c->lens[1], FAKE_STRING);
        e->str = fake_dup(c->argv[2], c->lens[2]);
        e->slen = c->lens[2];
        return fake_status("OK");
    }

    if (fake_is(c, "DEL", 0) && c->argc >= 2) {
        added = 0;

        for (i = 1; i < c->argc; i++) {
            added += fake_del(c->argv[i], c->lens[i]);
        }

        return fake_integer(added);
    }

    if (fake_is(c, "EXISTS", 0) && c->argc >= 2) {
        added = 0;

        for (i = 1; i < c->argc; i++) {
            added += fake_find(c->argv[i], c->lens[i]) != NULL;
        }

        return fake_integer(added);
    }

    if (fake_is(c, "HGET", 3)) {
        e = fake_find(c->argv[1], c->lens[1]);

        if (e == NULL) {
            return fake_reply(REDIS_REPLY_NIL);
        }

        if (e->type != FAKE_HASH) {
            return fake_error("WRONGTYPE Operation against a key holding "
                              "the wrong kind of value");
        }

        for (j = 0; j < e->nfields; j++) {
            f = &e->fields[j];

            if (f->nlen == c->lens[2]
                && memcmp(f->name, c->argv[2], f->nlen) == 0)
            {
                return fake_text(REDIS_REPLY_STRING, f->value, f->vlen);
            }
        }

        return fake_reply(REDIS_REPLY_NIL);
    }

    if (fake_is(c, "XADD", 0)) {
        if (c->argc < 5) {
            return fake_error("ERR wrong number of arguments for 'xadd' "
                              "command");
        }

        return fake_text(REDIS_REPLY_STRING, "1-1", 3);
    }

    if (fake_is(c, "HSET", 0)) {
        if (c->argc < 4 || c->argc % 2) {
            return fake_error("ERR wrong number of arguments for 'hset' "
                              "command");
        }

        e = fake_find(c->argv[1], c->lens[1]);

        if (e && e->type != FAKE_HASH) {
            return fake_error("WRONGTYPE Operation against a key holding "
                              "the wrong kind of value");
        }

        if (e == NULL) {
            e = fake_add(c->argv[1], c->lens[1], FAKE_HASH);
        }

        added = 0;

        for (i = 2; i < c->argc; i += 2) {
            for (j = 0; j < e->nfields; j++) {
                f = &e->fields[j];

                if (f->nlen == c->lens[i]
                    && memcmp(f->name, c->argv[i], f->nlen) == 0)
                {
                    break;
                }
            }

            if (j == e->nfields) {
                e->fields = realloc(e->fields,
                                    (e->nfields + 1) * sizeof(fake_field_t));
                if (e->fields == NULL) {
                    abort();
                }

                f = &e->fields[e->nfields++];
                f->name = fake_dup(c->argv[i], c->lens[i]);
                f->nlen = c->lens[i];
                f->value = NULL;
                added++;
            }

            free(f->value);
            f->value = fake_dup(c->argv[i + 1], c->lens[i + 1]);
            f->vlen = c->lens[i + 1];
        }

        return fake_integer(added);
    }

    fprintf(stderr, "fake redis: unexpected command \"%s\" with %d "
            "arguments\n", c->argv[0], c->argc);
    abort();
}


static void
fake_cmd_free(fake_cmd_t *c)
{
    int  i;

    for (i = 0; i < c->argc; i++) {
        free(c->argv[i]);
    }

    free(c->argv);
    free(c->lens);
}


static void
fake_queue_clear(void)
{
    size_t  i;

    for (i = 0; i < fake_nqueue; i++) {
        fake_cmd_free(&fake_queue[i]);
    }

    free(fake_queue);
    fake_queue = NULL;
    fake_nqueue = 0;
    fake_multi = 0;
}


static redisReply *
fake_command(fake_cmd_t *c)
{
    size_t       i;
    redisReply  *r;

    fake_redis_commands++;

    if (c->argc < 1) {
        abort();
    }

    if (fake_is(c, "PING", 1)) {
        return fake_status("PONG");
    }

    /* only asked of the audit stream, never kept: "none" */
    if (fake_is(c, "TYPE", 2)) {
        return fake_status(fake_find(c->argv[1], c->lens[1]) ? "string"
                                                             : "none");
    }

    if (fake_is(c, "AUTH", 0) || fake_is(c, "SELECT", 2)
        || fake_is(c, "WATCH", 0) || fake_is(c, "UNWATCH", 1))
    {
        return fake_status("OK");
    }

    if (fake_is(c, "MULTI", 1)) {
        if (fake_multi) {
            return fake_error("ERR MULTI calls can not be nested");
        }

        fake_multi = 1;
        return fake_status("OK");
    }

    if (fake_is(c, "DISCARD", 1)) {
        if (!fake_multi) {
            return fake_error("ERR DISCARD without MULTI");
        }

        fake_queue_clear();
        return fake_status("OK");
    }

    if (fake_is(c, "EXEC", 1)) {
        if (!fake_multi) {
            return fake_error("ERR EXEC without MULTI");
        }

        if (fake_redis_abort_exec > 0) {
            fake_redis_abort_exec--;
            fake_queue_clear();
            return fake_reply(REDIS_REPLY_NIL);
        }

        r = fake_reply(REDIS_REPLY_ARRAY);
        r->element = fake_alloc(fake_nqueue * sizeof(redisReply *));
        r->elements = fake_nqueue;

        for (i = 0; i < fake_nqueue; i++) {
            r->element[i] = fake_run(&fake_queue[i]);
        }

        fake_queue_clear();
        return r;
    }

    if (fake_multi) {
        fake_queue = realloc(fake_queue,
                             (fake_nqueue + 1) * sizeof(fake_cmd_t));
        if (fake_queue == NULL) {
            abort();
        }

        fake_queue[fake_nqueue++] = *c;
        c->argc = 0;
        c->argv = NULL;
        c->lens = NULL;

        return fake_status("QUEUED");
    }

    return fake_run(c);
}


/* the hiredis API, as far as fsauthctl uses it */

static redisContext *
fake_connect(void)
{
    redisContext  *c;

    c = fake_alloc(sizeof(redisContext));
    c->fd = -1;

    return c;
}


redisContext *
redisConnectWithTimeout(const char *ip, int port, const struct timeval tv)
{
    return fake_connect();
}


redisContext *
redisConnectUnixWithTimeout(const char *path, const struct timeval tv)
{
    return fake_connect();
}


int
redisSetTimeout(redisContext *c, const struct timeval tv)
{
    return REDIS_OK;
}


void
redisFree(redisContext *c)
{
    if (fake_multi) {
        fake_queue_clear();
    }

    free(c);
}


void *
redisCommandArgv(redisContext *c, int argc, const char **argv,
    const size_t *argvlen)
{
    int          i;
    fake_cmd_t   cmd;
    redisReply  *r;

    if (c == NULL || argc < 1) {
        abort();
    }

    cmd.argc = argc;
    cmd.argv = fake_alloc(argc * sizeof(char *));
    cmd.lens = fake_alloc(argc * sizeof(size_t));

    for (i = 0; i < argc; i++) {
        cmd.lens[i] = argvlen ? argvlen[i] : strlen(argv[i]);
        cmd.argv[i] = fake_dup(argv[i], cmd.lens[i]);
    }

    r = fake_command(&cmd);

    fake_cmd_free(&cmd);

    return r;
}


/* only constant commands ("UNWATCH", "DISCARD") are sent this way */

void *
redisCommand(redisContext *c, const char *format, ...)
{
    const char  *argv[1];

    if (strchr(format, '%') || strchr(format, ' ')) {
        abort();
    }

    argv[0] = format;

    return redisCommandArgv(c, 1, argv, NULL);
}


int
redisAppendCommandArgv(redisContext *c, int argc, const char **argv,
    const size_t *argvlen)
{
    abort();
}


int
redisGetReply(redisContext *c, void **reply)
{
    abort();
}


/* the store */

void
fake_redis_reset(void)
{
    size_t  i;

    fake_queue_clear();

    for (i = 0; i < fake_n; i++) {
        fake_entry_free(&fake_db[i]);
    }

    free(fake_db);
    fake_db = NULL;
    fake_n = 0;
    fake_redis_abort_exec = 0;
}


void
fake_redis_hset(const char *key, const char *field, const char *value)
{
    const char  *argv[4];

    argv[0] = "HSET";
    argv[1] = key;
    argv[2] = field;
    argv[3] = value;

    freeReplyObject(redisCommandArgv(fake_connect_static(), 4, argv, NULL));
}


void
fake_redis_set(const char *key, const char *value)
{
    const char  *argv[3];

    argv[0] = "SET";
    argv[1] = key;
    argv[2] = value;

    freeReplyObject(redisCommandArgv(fake_connect_static(), 3, argv, NULL));
}


redisContext *
fake_connect_static(void)
{
    static redisContext  c;

    return &c;
}


static int
fake_cmp_entries(const void *a, const void *b)
{
    const fake_entry_t  *x = *(fake_entry_t * const *) a;
    const fake_entry_t  *y = *(fake_entry_t * const *) b;
    size_t               n;
    int                  c;

    n = x->klen < y->klen ? x->klen : y->klen;
    c = memcmp(x->key, y->key, n);

    if (c) {
        return c;
    }

    return (x->klen > y->klen) - (x->klen < y->klen);
}


static int
fake_cmp_fields(const void *a, const void *b)
{
    const fake_field_t  *x = *(fake_field_t * const *) a;
    const fake_field_t  *y = *(fake_field_t * const *) b;
    size_t               n;
    int                  c;

    n = x->nlen < y->nlen ? x->nlen : y->nlen;
    c = memcmp(x->name, y->name, n);

    if (c) {
        return c;
    }

    return (x->nlen > y->nlen) - (x->nlen < y->nlen);
}


static void
fake_append(char **buf, size_t *len, const char *s, size_t n)
{
    char  tag[32];
    int   t;

    t = snprintf(tag, sizeof(tag), "%zu:", n);

    *buf = realloc(*buf, *len + t + n + 1);
    if (*buf == NULL) {
        abort();
    }

    memcpy(*buf + *len, tag, t);
    memcpy(*buf + *len + t, s, n);
    *len += t + n;
    (*buf)[*len] = '\0';
}


/* a canonical, binary-safe rendering of the whole store */

char *
fake_redis_dump(size_t *len)
{
    char           *buf;
    size_t          i, j;
    fake_entry_t  **es;
    fake_field_t  **fs;

    buf = NULL;
    *len = 0;
    fake_append(&buf, len, "", 0);

    es = fake_alloc(fake_n * sizeof(fake_entry_t *));

    for (i = 0; i < fake_n; i++) {
        es[i] = &fake_db[i];
    }

    qsort(es, fake_n, sizeof(fake_entry_t *), fake_cmp_entries);

    for (i = 0; i < fake_n; i++) {
        fake_append(&buf, len, es[i]->key, es[i]->klen);

        if (es[i]->type == FAKE_STRING) {
            fake_append(&buf, len, "s", 1);
            fake_append(&buf, len, es[i]->str, es[i]->slen);
            continue;
        }

        fake_append(&buf, len, "h", 1);

        fs = fake_alloc(es[i]->nfields * sizeof(fake_field_t *));

        for (j = 0; j < es[i]->nfields; j++) {
            fs[j] = &es[i]->fields[j];
        }

        qsort(fs, es[i]->nfields, sizeof(fake_field_t *), fake_cmp_fields);

        for (j = 0; j < es[i]->nfields; j++) {
            fake_append(&buf, len, fs[j]->name, fs[j]->nlen);
            fake_append(&buf, len, fs[j]->value, fs[j]->vlen);
        }

        free(fs);
    }

    free(es);

    return buf;
}


/* calls fn for every key name, string value, field name and field value */

void
fake_redis_each(void (*fn)(const char *s, size_t len, void *data),
    void *data)
{
    size_t  i, j;

    for (i = 0; i < fake_n; i++) {
        fn(fake_db[i].key, fake_db[i].klen, data);

        if (fake_db[i].type == FAKE_STRING) {
            fn(fake_db[i].str, fake_db[i].slen, data);
            continue;
        }

        for (j = 0; j < fake_db[i].nfields; j++) {
            fn(fake_db[i].fields[j].name, fake_db[i].fields[j].nlen, data);
            fn(fake_db[i].fields[j].value, fake_db[i].fields[j].vlen, data);
        }
    }
}


/* the value of a string key or of a hash field (field != NULL) */

const char *
fake_redis_get(const char *key, const char *field, size_t *len)
{
    size_t         j;
    fake_entry_t  *e;

    e = fake_find(key, strlen(key));
    if (e == NULL) {
        return NULL;
    }

    if (field == NULL) {
        if (e->type != FAKE_STRING) {
            return NULL;
        }

        *len = e->slen;
        return e->str;
    }

    if (e->type != FAKE_HASH) {
        return NULL;
    }

    for (j = 0; j < e->nfields; j++) {
        if (e->fields[j].nlen == strlen(field)
            && memcmp(e->fields[j].name, field, e->fields[j].nlen) == 0)
        {
            *len = e->fields[j].vlen;
            return e->fields[j].value;
        }
    }

    return NULL;
}


size_t
fake_redis_keys(const char ***names, size_t **lens)
{
    size_t  i;

    *names = fake_alloc(fake_n * sizeof(char *));
    *lens = fake_alloc(fake_n * sizeof(size_t));

    for (i = 0; i < fake_n; i++) {
        (*names)[i] = fake_db[i].key;
        (*lens)[i] = fake_db[i].klen;
    }

    return fake_n;
}
