
/*
 * Copyright (C) fsauth authors
 * BSD-2-Clause, see LICENSE.
 */


/*
 * fsauthctl: "sync --from URL", Redis made to match the FacturaScripts
 * tables api_keys and api_access, once or every --interval.
 *
 * A FacturaScripts key keeps its id: api_keys.id N is the Redis key id N
 * (<prefix>keyid:N), so that $fsauth_key_id, the logs and "fsauthctl key
 * show N" name the key the admin panel shows.  Sync owns only the key
 * hashes it wrote, marked with the field source = facturascripts; an id
 * or a token already used by another key is reported and skipped, never
 * overwritten.
 *
 * A pass: one consistent snapshot of both tables (syncdb.c), each row
 * turned into a key record by import's mapping (import.c), one SCAN of
 * the key hashes in Redis; then only what differs is written, one
 * MULTI/EXEC per key, re-checked under WATCH.  Nothing is written before
 * the database has answered in full.
 */

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fsauthctl.h"


#define FSAUTHCTL_SYNC_SOURCE       "facturascripts"

/*
 * Keys written in one MULTI/EXEC, after one WATCH of all they depend on:
 * one key a transaction would cost about ten round trips each.
 */
#define FSAUTHCTL_SYNC_BATCH        256
#define FSAUTHCTL_SYNC_BATCH_TRIES  3

/* the longest wait between two attempts after a failure */
#define FSAUTHCTL_SYNC_BACKOFF_MAX  30000


/* a key hash found in Redis */

typedef struct {
    char                       digest[FSAUTH_HEX_LEN + 1];
    long long                  id;             /* 0: none */
    int                        synced;         /* source = facturascripts */
    int                        claimed;        /* a row uses this digest */
    redisReply                *hash;           /* HGETALL */
} fsauthctl_sync_cur_t;

/* a row of api_keys that is to be in Redis */

typedef struct {
    fsauthctl_import_key_t     ik;
    fsauthctl_sync_cur_t      *cur;            /* the hash at its digest */
    char                      *keyid;          /* GET keyid:<id>, or NULL */
    char                      *what;           /* the change, for stdout */
    int                        written;
} fsauthctl_sync_key_t;

typedef struct {
    fsauthctl_t               *ctl;
    fsauthctl_db_t            *db;
    long                       interval;       /* ms, 0: one pass */
    int                        dry_run;
    int                        allow_empty;
    int                        json;           /* one object a line */

    /* warnings: in watch mode, a warning of the previous pass is not
     * repeated */
    char                     **said;
    size_t                     nsaid;
    char                     **saying;
    size_t                     nsaying;
    size_t                     refused;        /* rows in said */

    /* this pass */
    json_t                    *rows;
    json_t                    *access;
    fsauthctl_sync_key_t      *keys;
    size_t                     nkeys;
    fsauthctl_import_grant_t  *grants;
    size_t                     ngrants;
    fsauthctl_sync_cur_t      *cur;
    size_t                     ncur;
    size_t                     created, updated, deleted, unchanged;
    size_t                     skipped;
} fsauthctl_sync_t;

/* one key write or delete, in one transaction */

typedef struct {
    fsauthctl_sync_t          *s;
    fsauthctl_sync_key_t      *k;              /* NULL: a delete */
    fsauthctl_sync_cur_t      *del;            /* the hash deleted */
    char                     **old;            /* digests to delete too */
    size_t                     nold;
    long long                  oldid;          /* keyid:<oldid> to drop */
    int                        drop_keyid;
    char                      *conflict_msg;   /* skipped: why */
} fsauthctl_sync_tx_t;


static volatile sig_atomic_t  fsauthctl_sync_stop;


static void fsauthctl_sync_signal(int signo);
static int fsauthctl_sync_interval(const char *s, long *ms);
static int fsauthctl_sync_pass(fsauthctl_sync_t *s);
static void fsauthctl_sync_pass_free(fsauthctl_sync_t *s);
static int fsauthctl_sync_rows(fsauthctl_sync_t *s);
static int fsauthctl_sync_redis(fsauthctl_sync_t *s);
static int fsauthctl_sync_apply(fsauthctl_sync_t *s);
static char *fsauthctl_sync_plan(fsauthctl_sync_t *s,
    fsauthctl_sync_key_t *k);
static int fsauthctl_sync_batch(fsauthctl_sync_t *s,
    fsauthctl_sync_key_t **ks, size_t n);
static int fsauthctl_sync_write(fsauthctl_sync_t *s,
    fsauthctl_sync_key_t *k);
static void fsauthctl_sync_key_cmds(fsauthctl_sync_t *s,
    fsauthctl_sync_key_t *k, char **old, size_t nold, long long drop_id,
    fsauthctl_args_t *cmds);
static void fsauthctl_sync_written(fsauthctl_sync_t *s,
    fsauthctl_sync_key_t *k);
static int fsauthctl_sync_delete(fsauthctl_sync_t *s,
    fsauthctl_sync_cur_t *c);
static void fsauthctl_sync_hset(fsauthctl_sync_t *s, fsauthctl_args_t *args,
    fsauthctl_sync_key_t *k);
static char *fsauthctl_sync_diff(fsauthctl_sync_t *s,
    fsauthctl_sync_key_t *k);
static fsauthctl_sync_cur_t *fsauthctl_sync_find(fsauthctl_sync_t *s,
    const char *digest);
static void fsauthctl_sync_warn(fsauthctl_sync_t *s, const char *fmt, ...);
static void fsauthctl_sync_said(fsauthctl_sync_t *s);
static int fsauthctl_sync_note(fsauthctl_sync_t *s, char *msg);
static char *fsauthctl_sync_fingerprint(json_t *row, const char *digest);
static int fsauthctl_sync_refused(fsauthctl_sync_t *s, json_t *row,
    const char *digest);
static void fsauthctl_sync_refuse(fsauthctl_sync_t *s, json_t *row,
    const char *digest, const char *fmt, long long n);
static void fsauthctl_sync_change(fsauthctl_sync_t *s, long long id,
    const char *what);
static void fsauthctl_sync_json_line(json_t *json);
static void fsauthctl_sync_sleep(long ms);
static int fsauthctl_sync_cmp_keys(const void *a, const void *b);
static int fsauthctl_sync_cmp_digests(const void *a, const void *b);
static int fsauthctl_sync_cmp_cur(const void *a, const void *b);
static int fsauthctl_sync_cmp_grants(const void *a, const void *b);
static int fsauthctl_sync_cmp_strings(const void *a, const void *b);


/* usage errors, before the database or Redis is reached */

int
fsauthctl_sync_args(fsauthctl_call_t *call)
{
    long  ms;

    if (call->from == NULL) {
        return fsauthctl_opt_usage(call->cmd, "--from URL is required");
    }

    if (call->interval
        && fsauthctl_sync_interval(call->interval, &ms) != FSAUTHCTL_OK)
    {
        return fsauthctl_opt_usage(call->cmd, "invalid --interval \"%s\" "
                                   "(e.g. 5s, 500ms, 1m)", call->interval);
    }

    return FSAUTHCTL_OK;
}


int
fsauthctl_sync(fsauthctl_t *ctl, fsauthctl_call_t *call)
{
    int                rc, failures, n;
    long               delay;
    size_t             i;
    fsauthctl_sync_t   s;
    struct sigaction   sa;

    memset(&s, 0, sizeof(fsauthctl_sync_t));
    s.ctl = ctl;
    s.dry_run = call->dry_run;
    s.allow_empty = call->allow_empty;
    s.json = call->json;

    if (call->interval) {
        (void) fsauthctl_sync_interval(call->interval, &s.interval);
    }

    rc = fsauthctl_db_open(call->from, call->db_password_file, &s.db);
    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    if (s.interval == 0) {
        rc = fsauthctl_redis_connect(ctl);

        if (rc == FSAUTHCTL_OK) {
            rc = fsauthctl_sync_pass(&s);
        }

        if (rc == FSAUTHCTL_OK && s.json) {
            fsauthctl_sync_json_line(
                json_pack("{s:I, s:I, s:I, s:I, s:I, s:b}",
                          "created", (json_int_t) s.created,
                          "updated", (json_int_t) s.updated,
                          "deleted", (json_int_t) s.deleted,
                          "unchanged", (json_int_t) s.unchanged,
                          "skipped", (json_int_t) s.skipped,
                          "dry_run", s.dry_run));

        } else if (rc == FSAUTHCTL_OK) {
            printf("%s%zu created, %zu updated, %zu deleted, %zu unchanged, "
                   "%zu skipped\n", s.dry_run ? "dry run: " : "",
                   s.created, s.updated, s.deleted, s.unchanged, s.skipped);
        }

        goto done;
    }

    /* watch mode: until SIGTERM or SIGINT, which end it cleanly */

    memset(&sa, 0, sizeof(struct sigaction));
    sa.sa_handler = fsauthctl_sync_signal;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    failures = 0;

    while (!fsauthctl_sync_stop) {

        rc = ctl->redis ? FSAUTHCTL_OK : fsauthctl_redis_connect(ctl);

        if (rc == FSAUTHCTL_OK) {
            rc = fsauthctl_sync_pass(&s);
        }

        fflush(stdout);

        if (ctl->redis && ctl->redis->err) {
            fsauthctl_redis_close(ctl);
        }

        if (rc == FSAUTHCTL_OK) {
            failures = 0;
            delay = s.interval;

        } else {
            /* the database or Redis failed: nothing was changed for it;
             * wait longer each time, up to 30 s (or the interval) */

            delay = s.interval;

            for (n = 0; n < failures; n++) {
                if (delay >= FSAUTHCTL_SYNC_BACKOFF_MAX) {
                    break;
                }

                delay *= 2;
            }

            if (delay > FSAUTHCTL_SYNC_BACKOFF_MAX) {
                delay = FSAUTHCTL_SYNC_BACKOFF_MAX > s.interval
                        ? FSAUTHCTL_SYNC_BACKOFF_MAX : s.interval;
            }

            failures++;
        }

        fsauthctl_sync_sleep(delay);
    }

    rc = FSAUTHCTL_OK;

done:

    fsauthctl_db_close(s.db);

    for (i = 0; i < s.nsaid; i++) {
        free(s.said[i]);
    }

    for (i = 0; i < s.nsaying; i++) {
        free(s.saying[i]);
    }

    free(s.said);
    free(s.saying);

    return rc;
}


static void
fsauthctl_sync_signal(int signo)
{
    (void) signo;

    fsauthctl_sync_stop = 1;
}


/* "5s", "500ms", "2m", "1h"; a bare number is seconds */

static int
fsauthctl_sync_interval(const char *s, long *ms)
{
    char  *end;
    long   n, unit;

    if (*s < '0' || *s > '9') {
        return FSAUTHCTL_ERROR;
    }

    errno = 0;
    n = strtol(s, &end, 10);

    if (errno || n <= 0 || n > 86400000) {
        return FSAUTHCTL_ERROR;
    }

    if (strcmp(end, "ms") == 0) {
        unit = 1;

    } else if (strcmp(end, "s") == 0 || *end == '\0') {
        unit = 1000;

    } else if (strcmp(end, "m") == 0) {
        unit = 60000;

    } else if (strcmp(end, "h") == 0) {
        unit = 3600000;

    } else {
        return FSAUTHCTL_ERROR;
    }

    if (n > 86400000 / unit) {
        return FSAUTHCTL_ERROR;
    }

    *ms = n * unit;

    return FSAUTHCTL_OK;
}


/* an interval, cut short by SIGTERM */

static void
fsauthctl_sync_sleep(long ms)
{
    struct timespec  ts;

    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000;

    while (!fsauthctl_sync_stop && nanosleep(&ts, &ts) == -1
           && errno == EINTR)
    {
        /* void */
    }
}


static int
fsauthctl_sync_pass(fsauthctl_sync_t *s)
{
    int  rc;

    s->created = 0;
    s->updated = 0;
    s->deleted = 0;
    s->unchanged = 0;
    s->skipped = 0;

    rc = fsauthctl_db_read(s->db, &s->rows, &s->access);

    if (rc == FSAUTHCTL_OK) {
        rc = fsauthctl_sync_rows(s);
    }

    if (rc == FSAUTHCTL_OK) {
        rc = fsauthctl_sync_redis(s);
    }

    if (rc == FSAUTHCTL_OK) {
        rc = fsauthctl_sync_apply(s);
    }

    fsauthctl_sync_pass_free(s);

    /* a failed pass keeps what was said before: said again only if new */

    if (rc == FSAUTHCTL_OK) {
        fsauthctl_sync_said(s);
    }

    return rc;
}


static void
fsauthctl_sync_pass_free(fsauthctl_sync_t *s)
{
    size_t  i;

    for (i = 0; i < s->nkeys; i++) {
        free(s->keys[i].ik.key.grants);
        free(s->keys[i].keyid);
        free(s->keys[i].what);
    }

    free(s->keys);
    s->keys = NULL;
    s->nkeys = 0;

    free(s->grants);
    s->grants = NULL;
    s->ngrants = 0;

    for (i = 0; i < s->ncur; i++) {
        if (s->cur[i].hash) {
            freeReplyObject(s->cur[i].hash);
        }
    }

    free(s->cur);
    s->cur = NULL;
    s->ncur = 0;

    /* the apikeys are wiped as they are read */

    json_decref(s->rows);
    json_decref(s->access);
    s->rows = NULL;
    s->access = NULL;
}


/*
 * The rows become key records, through import's checks.  A row whose
 * token can never pass the gateway, or that import refuses, is skipped;
 * of rows sharing one token, the first enabled one wins, as in the
 * backend's lookup.
 */

static int
fsauthctl_sync_rows(fsauthctl_sync_t *s)
{
    int                        rc;
    size_t                     i, j, n, nrows;
    json_t                    *row, *v;
    long long                  id;
    fsauthctl_sync_key_t      *k, **bydigest;
    fsauthctl_import_grant_t  *g;

    nrows = json_array_size(s->rows);
    s->keys = fsauthctl_alloc(nrows * sizeof(fsauthctl_sync_key_t));
    n = 0;

    for (i = 0; i < nrows; i++) {
        row = json_array_get(s->rows, i);
        v = json_object_get(row, "id");
        id = 0;

        if (!json_is_string(v)
            || fsauthctl_parse_id(json_string_value(v), json_string_length(v),
                                  &id) != FSAUTHCTL_OK)
        {
            fsauthctl_sync_warn(s, "sync: api_keys row %zu: id is not a "
                                "positive integer; skipped", i + 1);
            s->skipped++;
            continue;
        }

        v = json_object_get(row, "apikey");

        if (!json_is_string(v)
            || !fsauth_token_valid(json_string_value(v),
                                   json_string_length(v)))
        {
            fsauthctl_sync_warn(s, "sync: api_keys id %lld: its apikey can "
                                "never pass the gateway (1 to 99 printable "
                                "ASCII characters without spaces, not "
                                "\"0\"); skipped", id);

            if (json_is_string(v)) {
                explicit_bzero((char *) json_string_value(v),
                               json_string_length(v));
            }

            s->skipped++;
            continue;
        }

        k = &s->keys[n];
        k->ik.index = i;

        if (s->refused
            && fsauthctl_token_digest(json_string_value(v),
                                      json_string_length(v), k->ik.digest)
               == FSAUTHCTL_OK
            && fsauthctl_sync_refused(s, row, k->ik.digest))
        {
            explicit_bzero((char *) json_string_value(v),
                           json_string_length(v));
            memset(k, 0, sizeof(fsauthctl_sync_key_t));
            s->skipped++;
            continue;
        }

        if (fsauthctl_import_key(row, &k->ik) != FSAUTHCTL_OK) {
            fsauthctl_sync_refuse(s, row, k->ik.digest,
                                  "sync: api_keys id %lld: skipped", id);
            memset(k, 0, sizeof(fsauthctl_sync_key_t));
            s->skipped++;
            continue;
        }

        n++;
    }

    s->nkeys = n;

    qsort(s->keys, n, sizeof(fsauthctl_sync_key_t), fsauthctl_sync_cmp_keys);

    for (i = 0; i < n; i++) {
        if (s->keys[i].ik.key.creationdate) {
            s->keys[i].ik.key.creationdate = s->keys[i].ik.date;
        }
    }

    /* one token, several rows: the enabled one with the lowest id wins */

    bydigest = fsauthctl_alloc(n * sizeof(fsauthctl_sync_key_t *));

    for (i = 0; i < n; i++) {
        bydigest[i] = &s->keys[i];
    }

    qsort(bydigest, n, sizeof(fsauthctl_sync_key_t *),
          fsauthctl_sync_cmp_digests);

    for (i = 0; i < n; i = j) {
        for (j = i + 1; j < n; j++) {
            if (strcmp(bydigest[j]->ik.digest, bydigest[i]->ik.digest) != 0) {
                break;
            }

            fsauthctl_sync_warn(s, "sync: api_keys id %lld has the same "
                                "apikey as id %lld, which is used (the "
                                "first enabled row wins, as in "
                                "FacturaScripts); skipped",
                                bydigest[j]->ik.key.id,
                                bydigest[i]->ik.key.id);
            s->skipped++;

            /* id 0 marks a row that lost */
            bydigest[j]->ik.key.id = 0;
        }
    }

    free(bydigest);

    for (i = 0, j = 0; i < n; i++) {
        if (s->keys[i].ik.key.id != 0) {
            s->keys[j++] = s->keys[i];
        }
    }

    s->nkeys = j;

    for (i = 0; i < s->nkeys; i++) {
        if (s->keys[i].ik.key.creationdate) {
            s->keys[i].ik.key.creationdate = s->keys[i].ik.date;
        }
    }

    /* grants: each row through import's checks, then to its key */

    nrows = json_array_size(s->access);
    s->grants = fsauthctl_alloc(nrows * sizeof(fsauthctl_import_grant_t));
    n = 0;

    for (i = 0; i < nrows; i++) {
        g = &s->grants[n];
        g->index = i;
        row = json_array_get(s->access, i);

        if (fsauthctl_sync_refused(s, row, NULL)) {
            continue;
        }

        rc = fsauthctl_import_grant(row, g);

        if (rc != FSAUTHCTL_OK) {
            fsauthctl_sync_refuse(s, row, NULL,
                                  "sync: api_access row %lld: skipped",
                                  (long long) i + 1);
            memset(g, 0, sizeof(fsauthctl_import_grant_t));
            continue;
        }

        n++;
    }

    s->ngrants = n;

    qsort(s->grants, n, sizeof(fsauthctl_import_grant_t),
          fsauthctl_sync_cmp_grants);

    for (i = 0, k = s->keys; i < n; i = j) {
        for (j = i + 1; j < n; j++) {
            if (s->grants[j].id != s->grants[i].id) {
                break;
            }
        }

        while (k < s->keys + s->nkeys && k->ik.key.id < s->grants[i].id) {
            k++;
        }

        if (k == s->keys + s->nkeys || k->ik.key.id != s->grants[i].id) {
            continue;
        }

        k->ik.key.grants = fsauthctl_alloc((j - i)
                                           * sizeof(fsauthctl_grant_t));
        k->ik.key.ngrants = j - i;

        for (g = &s->grants[i]; g < &s->grants[j]; g++) {
            k->ik.key.grants[g - &s->grants[i]] = g->grant;
        }
    }

    return FSAUTHCTL_OK;
}


/*
 * What Redis holds: every key hash of the prefix (one SCAN, one pipeline
 * of HGETALL) and the keyid:<id> of every row (one pipeline of GET).
 */

static int
fsauthctl_sync_redis(fsauthctl_sync_t *s)
{
    int                    rc;
    char                 **names;
    size_t                 nnames, i, j, plen, n;
    redisReply           **replies, *h, *f, *v;
    fsauthctl_args_t      *cmds;
    fsauthctl_sync_cur_t  *c;

    rc = fsauthctl_store_scan(s->ctl, &names, &nnames);
    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    n = nnames > s->nkeys ? nnames : s->nkeys;
    cmds = fsauthctl_alloc((n ? n : 1) * sizeof(fsauthctl_args_t));
    s->cur = fsauthctl_alloc((nnames ? nnames : 1)
                             * sizeof(fsauthctl_sync_cur_t));
    plen = strlen(s->ctl->prefix) + sizeof(FSAUTH_NAME_KEY) - 1;
    rc = FSAUTHCTL_OK;

    if (nnames) {
        for (i = 0; i < nnames; i++) {
            fsauthctl_args_init(&cmds[i]);
            fsauthctl_args_add(&cmds[i], "HGETALL", 7);
            fsauthctl_args_add(&cmds[i], names[i], strlen(names[i]));
        }

        rc = fsauthctl_redis_pipeline(s->ctl, cmds, nnames, &replies);

        for (i = 0; i < nnames; i++) {
            fsauthctl_args_free(&cmds[i]);
        }
    }

    if (rc == FSAUTHCTL_OK && nnames) {
        for (i = 0; i < nnames; i++) {
            h = replies[i];

            /* a name no token hashes to, or not a hash: not ours */

            if (h->type != REDIS_REPLY_ARRAY || h->elements == 0
                || !fsauth_hex_digest_valid(names[i] + plen,
                                            strlen(names[i] + plen)))
            {
                continue;
            }

            c = &s->cur[s->ncur++];
            memcpy(c->digest, names[i] + plen, FSAUTH_HEX_LEN + 1);
            c->hash = h;
            replies[i] = NULL;

            for (j = 0; j + 1 < h->elements; j += 2) {
                f = h->element[j];
                v = h->element[j + 1];

                if (f->type != REDIS_REPLY_STRING
                    || v->type != REDIS_REPLY_STRING)
                {
                    continue;
                }

                if (strcmp(f->str, "id") == 0
                    && fsauthctl_parse_id(v->str, v->len, &c->id)
                       != FSAUTHCTL_OK)
                {
                    c->id = 0;

                } else if (strcmp(f->str, "source") == 0) {
                    c->synced = (strcmp(v->str, FSAUTHCTL_SYNC_SOURCE) == 0);
                }
            }
        }

        fsauthctl_redis_free_replies(replies, nnames);
    }

    for (i = 0; i < nnames; i++) {
        free(names[i]);
    }

    free(names);

    if (rc != FSAUTHCTL_OK) {
        free(cmds);
        return rc;
    }

    qsort(s->cur, s->ncur, sizeof(fsauthctl_sync_cur_t),
          fsauthctl_sync_cmp_cur);

    if (s->nkeys) {
        for (i = 0; i < s->nkeys; i++) {
            fsauthctl_args_init(&cmds[i]);
            fsauthctl_args_add(&cmds[i], "GET", 3);
            fsauthctl_args_add_name(&cmds[i],
                               fsauthctl_name_id(s->ctl, FSAUTH_NAME_KEYID,
                                                 s->keys[i].ik.key.id));
        }

        rc = fsauthctl_redis_pipeline(s->ctl, cmds, s->nkeys, &replies);

        for (i = 0; i < s->nkeys; i++) {
            fsauthctl_args_free(&cmds[i]);
        }

        if (rc == FSAUTHCTL_OK) {
            for (i = 0; i < s->nkeys; i++) {
                if (replies[i]->type == REDIS_REPLY_STRING) {
                    s->keys[i].keyid = fsauthctl_strndup(replies[i]->str,
                                                         replies[i]->len);
                }

                s->keys[i].cur = fsauthctl_sync_find(s,
                                                     s->keys[i].ik.digest);
            }

            fsauthctl_redis_free_replies(replies, s->nkeys);
        }
    }

    free(cmds);

    return rc;
}


/* what differs, then each key written or deleted on its own */

static int
fsauthctl_sync_apply(fsauthctl_sync_t *s)
{
    int                     rc;
    size_t                  i, nsynced, ntodo;
    fsauthctl_sync_cur_t   *c, *at;
    fsauthctl_sync_key_t   *k, **todo;

    nsynced = 0;

    for (i = 0; i < s->ncur; i++) {
        nsynced += s->cur[i].synced;
    }

    if (json_array_size(s->rows) == 0 && nsynced && !s->allow_empty) {
        fsauthctl_sync_warn(s, "sync: api_keys is empty but redis holds %zu "
                            "key%s from FacturaScripts: nothing changed "
                            "(--allow-empty deletes them)", nsynced,
                            nsynced == 1 ? "" : "s");

        return s->interval ? FSAUTHCTL_OK : FSAUTHCTL_ERROR;
    }

    todo = fsauthctl_alloc((s->nkeys ? s->nkeys : 1)
                           * sizeof(fsauthctl_sync_key_t *));
    ntodo = 0;

    for (i = 0; i < s->nkeys; i++) {
        k = &s->keys[i];
        c = k->cur;

        if (c && !c->synced) {
            fsauthctl_sync_warn(s, "sync: api_keys id %lld: its apikey "
                                "belongs to key %lld, not written by sync; "
                                "skipped", k->ik.key.id, c->id);
            s->skipped++;
            continue;
        }

        if (k->keyid && (c == NULL || strcmp(k->keyid, c->digest) != 0)) {
            at = fsauthctl_sync_find(s, k->keyid);

            if (at && !at->synced) {
                fsauthctl_sync_warn(s, "sync: api_keys id %lld: id %lld is "
                                    "used by a key not written by sync; "
                                    "skipped", k->ik.key.id, k->ik.key.id);
                s->skipped++;
                continue;
            }
        }

        if (c) {
            c->claimed = 1;
        }

        /* the hash of its old token goes with the write, not apart */

        if (k->keyid) {
            at = fsauthctl_sync_find(s, k->keyid);

            if (at && at->synced) {
                at->claimed = 1;
            }
        }

        k->what = fsauthctl_sync_plan(s, k);

        if (k->what) {
            todo[ntodo++] = k;
        }
    }

    /* in batches; what a batch could not check goes one key at a time */

    rc = FSAUTHCTL_OK;

    for (i = 0; i < ntodo && !s->dry_run && rc == FSAUTHCTL_OK;
         i += FSAUTHCTL_SYNC_BATCH)
    {
        rc = fsauthctl_sync_batch(s, todo + i,
                                  ntodo - i < FSAUTHCTL_SYNC_BATCH
                                  ? ntodo - i : FSAUTHCTL_SYNC_BATCH);
    }

    for (i = 0; i < ntodo && rc == FSAUTHCTL_OK; i++) {
        if (!todo[i]->written) {
            rc = fsauthctl_sync_write(s, todo[i]);
        }
    }

    free(todo);

    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    /* keys gone from api_keys, or whose token changed */

    for (i = 0; i < s->ncur; i++) {
        c = &s->cur[i];

        if (!c->synced || c->claimed) {
            continue;
        }

        rc = fsauthctl_sync_delete(s, c);
        if (rc != FSAUTHCTL_OK) {
            return rc;
        }
    }

    return FSAUTHCTL_OK;
}


/*
 * The fields the key hash is to have differ from those it has: their
 * names, comma separated (no values: they are not needed to follow what
 * happens), or NULL when they are the same.
 */

static char *
fsauthctl_sync_diff(fsauthctl_sync_t *s, fsauthctl_sync_key_t *k)
{
    int                i;
    char              *diff, *t, *e;
    size_t             j;
    redisReply        *h, *f, *v;
    fsauthctl_args_t   args;

    fsauthctl_args_init(&args);
    fsauthctl_sync_hset(s, &args, k);

    h = k->cur->hash;
    diff = NULL;

    for (i = 2; i + 1 < args.n; i += 2) {
        for (j = 0; j + 1 < h->elements; j += 2) {
            f = h->element[j];

            if (f->type == REDIS_REPLY_STRING && f->len == args.lens[i]
                && memcmp(f->str, args.argv[i], f->len) == 0)
            {
                break;
            }
        }

        v = j + 1 < h->elements ? h->element[j + 1] : NULL;

        if (v && v->type == REDIS_REPLY_STRING && v->len == args.lens[i + 1]
            && memcmp(v->str, args.argv[i + 1], v->len) == 0)
        {
            continue;
        }

        t = diff ? fsauthctl_sprintf("%s, %s", diff, args.argv[i])
                 : fsauthctl_strdup(args.argv[i]);
        free(diff);
        diff = t;
    }

    /* fields it has and is not to have: grants revoked, hand edits */

    for (j = 0; j + 1 < h->elements; j += 2) {
        f = h->element[j];

        for (i = 2; i + 1 < args.n; i += 2) {
            if (f->type == REDIS_REPLY_STRING && f->len == args.lens[i]
                && memcmp(f->str, args.argv[i], f->len) == 0)
            {
                break;
            }
        }

        if (i + 1 < args.n) {
            continue;
        }

        e = fsauthctl_output_escape(f->type == REDIS_REPLY_STRING ? f->str
                                                                  : "?");
        t = diff ? fsauthctl_sprintf("%s, -%s", diff, e)
                 : fsauthctl_sprintf("-%s", e);
        free(e);
        free(diff);
        diff = t;
    }

    fsauthctl_args_free(&args);

    return diff;
}


/* HSET <prefix>key:<D> with the row's fields, grants, and the mark */

static void
fsauthctl_sync_hset(fsauthctl_sync_t *s, fsauthctl_args_t *args,
    fsauthctl_sync_key_t *k)
{
    fsauthctl_store_hset(s->ctl, args, k->ik.digest, &k->ik.key);
    fsauthctl_args_add(args, "source", 6);
    fsauthctl_args_add(args, FSAUTHCTL_SYNC_SOURCE,
                       sizeof(FSAUTHCTL_SYNC_SOURCE) - 1);
}


/*
 * WATCHes a name, then reads it: HMGET source id of a key hash (hash = 1)
 * or GET.  The name is freed.
 */

static int
fsauthctl_sync_watched(fsauthctl_t *ctl, char *name, int hash,
    redisReply **reply)
{
    int  rc;

    rc = fsauthctl_redis_call(ctl, NULL, "WATCH", name, NULL);

    if (rc == FSAUTHCTL_OK && hash) {
        rc = fsauthctl_redis_call(ctl, reply, "HMGET", name, "source", "id",
                                  NULL);

    } else if (rc == FSAUTHCTL_OK) {
        rc = fsauthctl_redis_call(ctl, reply, "GET", name, NULL);
    }

    free(name);

    return rc;
}


/* an HMGET source id reply: 1 synced, 0 absent, -1 another key's */

static int
fsauthctl_sync_owner(redisReply *r)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2
        || (r->element[0]->type != REDIS_REPLY_STRING
            && r->element[1]->type != REDIS_REPLY_STRING))
    {
        return 0;
    }

    return (r->element[0]->type == REDIS_REPLY_STRING
            && strcmp(r->element[0]->str, FSAUTHCTL_SYNC_SOURCE) == 0)
           ? 1 : -1;
}


/* GET of a keyid: is it this digest? */

static int
fsauthctl_sync_points(redisReply *r, const char *digest)
{
    return r->type == REDIS_REPLY_STRING && strcmp(r->str, digest) == 0;
}


static int
fsauthctl_sync_write_watch(fsauthctl_t *ctl, void *data)
{
    int                    rc, owner;
    size_t                 i;
    redisReply            *reply, *r;
    fsauthctl_sync_tx_t   *tx;
    fsauthctl_sync_key_t  *k;

    tx = data;
    k = tx->k;

    for (i = 0; i < tx->nold; i++) {
        free(tx->old[i]);
    }

    tx->nold = 0;
    tx->drop_keyid = 0;

    /* the token's hash: absent, or one sync wrote */

    rc = fsauthctl_sync_watched(ctl, fsauthctl_name_key(ctl, k->ik.digest),
                                1, &reply);
    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    owner = fsauthctl_sync_owner(reply);

    if (owner == -1) {
        freeReplyObject(reply);
        tx->conflict_msg = fsauthctl_sprintf("sync: api_keys id %lld: its "
                               "apikey belongs to a key not written by "
                               "sync; skipped", k->ik.key.id);
        return FSAUTHCTL_TX_SKIP;
    }

    /* another synced id had this token: its keyid goes */

    if (owner == 1
        && reply->element[1]->type == REDIS_REPLY_STRING
        && fsauthctl_parse_id(reply->element[1]->str,
                              reply->element[1]->len, &tx->oldid)
           == FSAUTHCTL_OK
        && tx->oldid != k->ik.key.id)
    {
        rc = fsauthctl_sync_watched(ctl,
                                    fsauthctl_name_id(ctl, FSAUTH_NAME_KEYID,
                                                      tx->oldid),
                                    0, &r);

        if (rc == FSAUTHCTL_OK) {
            tx->drop_keyid = fsauthctl_sync_points(r, k->ik.digest);
            freeReplyObject(r);
        }
    }

    freeReplyObject(reply);

    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    /* the id's current hash: absent, or one sync wrote (then deleted) */

    rc = fsauthctl_sync_watched(ctl, fsauthctl_name_id(ctl, FSAUTH_NAME_KEYID,
                                                       k->ik.key.id),
                                0, &reply);
    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    if (reply->type == REDIS_REPLY_STRING
        && !fsauthctl_sync_points(reply, k->ik.digest)
        && fsauth_hex_digest_valid(reply->str, reply->len))
    {
        rc = fsauthctl_sync_watched(ctl, fsauthctl_name_key(ctl, reply->str),
                                    1, &r);

        if (rc == FSAUTHCTL_OK) {
            owner = fsauthctl_sync_owner(r);
            freeReplyObject(r);

            if (owner == -1) {
                tx->conflict_msg = fsauthctl_sprintf("sync: api_keys id "
                                       "%lld: id %lld is used by a key not "
                                       "written by sync; skipped",
                                       k->ik.key.id, k->ik.key.id);

            } else {
                tx->old = fsauthctl_realloc(tx->old, sizeof(char *));
                tx->old[tx->nold++] = fsauthctl_strdup(reply->str);
            }
        }
    }

    freeReplyObject(reply);

    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    return tx->conflict_msg ? FSAUTHCTL_TX_SKIP : FSAUTHCTL_OK;
}


/*
 * The three writes of one key: DEL of its digest (and of its old ones,
 * and of another id's keyid: drop_id), HSET of the record, SET of its
 * keyid.  cmds: three argument vectors, initialised here.
 */

static void
fsauthctl_sync_key_cmds(fsauthctl_sync_t *s, fsauthctl_sync_key_t *k,
    char **old, size_t nold, long long drop_id, fsauthctl_args_t *cmds)
{
    size_t        i;
    fsauthctl_t  *ctl;

    ctl = s->ctl;

    for (i = 0; i < 3; i++) {
        fsauthctl_args_init(&cmds[i]);
    }

    fsauthctl_args_add(&cmds[0], "DEL", 3);
    fsauthctl_args_add_name(&cmds[0], fsauthctl_name_key(ctl, k->ik.digest));

    for (i = 0; i < nold; i++) {
        fsauthctl_args_add_name(&cmds[0], fsauthctl_name_key(ctl, old[i]));
    }

    if (drop_id) {
        fsauthctl_args_add_name(&cmds[0],
                                fsauthctl_name_id(ctl, FSAUTH_NAME_KEYID,
                                                  drop_id));
    }

    fsauthctl_sync_hset(s, &cmds[1], k);

    fsauthctl_args_add(&cmds[2], "SET", 3);
    fsauthctl_args_add_name(&cmds[2], fsauthctl_name_id(ctl, FSAUTH_NAME_KEYID,
                                                        k->ik.key.id));
    fsauthctl_args_add(&cmds[2], k->ik.digest, FSAUTH_HEX_LEN);
}


static int
fsauthctl_sync_write_queue(fsauthctl_t *ctl, void *data)
{
    int                   rc, i;
    fsauthctl_args_t      cmds[3];
    fsauthctl_sync_tx_t  *tx;

    tx = data;

    fsauthctl_sync_key_cmds(tx->s, tx->k, tx->old, tx->nold,
                            tx->drop_keyid ? tx->oldid : 0, cmds);

    rc = FSAUTHCTL_OK;

    for (i = 0; i < 3; i++) {
        if (rc == FSAUTHCTL_OK) {
            rc = fsauthctl_redis_queue(ctl, &cmds[i]);
        }

        fsauthctl_args_free(&cmds[i]);
    }

    return rc;
}


/*
 * One key: created, rewritten or left as it is.  Its old hash (another
 * digest: the token changed) goes in the same transaction.
 */

static char *
fsauthctl_sync_plan(fsauthctl_sync_t *s, fsauthctl_sync_key_t *k)
{
    int      token;
    char    *diff, *what;
    size_t   i;

    /* no creationdate in the row: the stored one, else today */

    if (k->ik.key.creationdate == NULL) {
        fsauthctl_today(k->ik.date);
        k->ik.key.creationdate = k->ik.date;

        if (k->cur) {
            redisReply  *h = k->cur->hash;

            for (i = 0; i + 1 < h->elements; i += 2) {
                if (h->element[i]->type == REDIS_REPLY_STRING
                    && strcmp(h->element[i]->str, "creationdate") == 0
                    && h->element[i + 1]->type == REDIS_REPLY_STRING
                    && h->element[i + 1]->len == 10)
                {
                    memcpy(k->ik.date, h->element[i + 1]->str, 11);
                }
            }
        }
    }

    token = (k->keyid != NULL && strcmp(k->keyid, k->ik.digest) != 0);

    if (k->cur && k->cur->id == k->ik.key.id && !token && k->keyid) {
        diff = fsauthctl_sync_diff(s, k);

        if (diff == NULL) {
            s->unchanged++;
            return NULL;
        }

        what = fsauthctl_sprintf("updated (%s)", diff);
        free(diff);

    } else if (token) {
        what = fsauthctl_strdup("token changed");

    } else if (k->cur || k->keyid) {
        what = fsauthctl_strdup("updated");

    } else {
        what = fsauthctl_strdup("created");
    }

    return what;
}


static int
fsauthctl_sync_write(fsauthctl_sync_t *s, fsauthctl_sync_key_t *k)
{
    int                   rc, outcome;
    size_t                i;
    fsauthctl_sync_tx_t   tx;

    if (s->dry_run) {
        fsauthctl_sync_written(s, k);
        return FSAUTHCTL_OK;
    }

    memset(&tx, 0, sizeof(fsauthctl_sync_tx_t));
    tx.s = s;
    tx.k = k;

    fsauthctl_audit_set(s->ctl, "sync", k->ik.key.id, "%s", k->what);

    rc = fsauthctl_redis_tx(s->ctl, FSAUTHCTL_TX_RETRIES,
                            fsauthctl_sync_write_watch,
                            fsauthctl_sync_write_queue, &tx, &outcome);

    for (i = 0; i < tx.nold; i++) {
        free(tx.old[i]);
    }

    free(tx.old);

    if (rc == FSAUTHCTL_OK && tx.conflict_msg) {
        fsauthctl_sync_warn(s, "%s", tx.conflict_msg);
        free(tx.conflict_msg);
        s->skipped++;
        return FSAUTHCTL_OK;
    }

    free(tx.conflict_msg);

    if (rc == FSAUTHCTL_OK && outcome == -1) {
        rc = fsauthctl_error("sync: key %lld keeps changing concurrently",
                             k->ik.key.id);
    }

    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    fsauthctl_sync_written(s, k);

    return FSAUTHCTL_OK;
}


static void
fsauthctl_sync_written(fsauthctl_sync_t *s, fsauthctl_sync_key_t *k)
{
    k->written = 1;

    if (strcmp(k->what, "created") == 0) {
        s->created++;

    } else {
        s->updated++;
    }

    fsauthctl_sync_change(s, k->ik.key.id, k->what);
}


/*
 * Up to FSAUTHCTL_SYNC_BATCH keys in one MULTI/EXEC: every name each
 * write depends on is WATCHed at once, then read again in one pipeline.
 * A key whose names no longer hold what the pass read (a concurrent
 * change) is left out, for the one-key transaction and its messages;
 * the others are written, each as fsauthctl_sync_write_queue() would,
 * the whole block sent in one pipeline.  EXEC aborted: tried again.
 */

typedef struct {
    fsauthctl_sync_key_t      *k;
    char                      *old;            /* keyid's other digest */
    long long                  oldid;          /* another id's digest */
    int                        drop_keyid;
    int                        ok;
} fsauthctl_sync_item_t;


static int
fsauthctl_sync_batch_check(fsauthctl_sync_item_t *it, redisReply **r)
{
    int                    owner;
    char                   id[32];
    fsauthctl_sync_key_t  *k;

    k = it->k;

    /* key:<D>: as the pass saw it, synced with its id, or absent */

    owner = fsauthctl_sync_owner(r[0]);

    if (owner != (k->cur ? 1 : 0)) {
        return 0;
    }

    if (k->cur) {
        snprintf(id, sizeof(id), "%lld", k->cur->id);

        if (r[0]->element[1]->type != REDIS_REPLY_STRING
            || strcmp(r[0]->element[1]->str, id) != 0)
        {
            return 0;
        }
    }

    /* keyid:<id>: the same digest, or still absent */

    if (k->keyid ? !fsauthctl_sync_points(r[1], k->keyid)
                 : r[1]->type != REDIS_REPLY_NIL)
    {
        return 0;
    }

    r += 2;

    if (it->old) {
        owner = fsauthctl_sync_owner(*r++);

        if (owner == -1) {
            return 0;
        }
    }

    if (it->oldid) {
        it->drop_keyid = fsauthctl_sync_points(*r, k->ik.digest);
    }

    return 1;
}


static int
fsauthctl_sync_batch(fsauthctl_sync_t *s, fsauthctl_sync_key_t **ks,
    size_t n)
{
    int                     rc, attempt;
    size_t                  i, j, nr, nt, nok;
    fsauthctl_t            *ctl;
    redisReply            **replies, *exec;
    fsauthctl_args_t        watch, *cmds;
    fsauthctl_sync_item_t  *items, *it;

    ctl = s->ctl;
    items = fsauthctl_alloc(n * sizeof(fsauthctl_sync_item_t));
    cmds = fsauthctl_alloc((4 * n + 3) * sizeof(fsauthctl_args_t));
    rc = FSAUTHCTL_OK;

    for (i = 0; i < n; i++) {
        it = &items[i];
        it->k = ks[i];

        if (it->k->keyid && strcmp(it->k->keyid, it->k->ik.digest) != 0
            && fsauth_hex_digest_valid(it->k->keyid, strlen(it->k->keyid)))
        {
            it->old = it->k->keyid;
        }

        if (it->k->cur && it->k->cur->id != it->k->ik.key.id) {
            it->oldid = it->k->cur->id;
        }
    }

    for (attempt = 0; attempt < FSAUTHCTL_SYNC_BATCH_TRIES; attempt++) {

        /* WATCH everything, then read it all again */

        fsauthctl_args_init(&watch);
        fsauthctl_args_add(&watch, "WATCH", 5);
        nr = 0;

        for (i = 0; i < n; i++) {
            it = &items[i];
            it->ok = 0;
            it->drop_keyid = 0;

            fsauthctl_args_add_name(&watch,
                                    fsauthctl_name_key(ctl, it->k->ik.digest));
            fsauthctl_args_add_name(&watch,
                                    fsauthctl_name_id(ctl, FSAUTH_NAME_KEYID,
                                                      it->k->ik.key.id));

            fsauthctl_args_init(&cmds[nr]);
            fsauthctl_args_add(&cmds[nr], "HMGET", 5);
            fsauthctl_args_add_name(&cmds[nr],
                                    fsauthctl_name_key(ctl, it->k->ik.digest));
            fsauthctl_args_add(&cmds[nr], "source", 6);
            fsauthctl_args_add(&cmds[nr++], "id", 2);

            fsauthctl_args_init(&cmds[nr]);
            fsauthctl_args_add(&cmds[nr], "GET", 3);
            fsauthctl_args_add_name(&cmds[nr++],
                                    fsauthctl_name_id(ctl, FSAUTH_NAME_KEYID,
                                                      it->k->ik.key.id));

            if (it->old) {
                fsauthctl_args_add_name(&watch,
                                        fsauthctl_name_key(ctl, it->old));

                fsauthctl_args_init(&cmds[nr]);
                fsauthctl_args_add(&cmds[nr], "HMGET", 5);
                fsauthctl_args_add_name(&cmds[nr],
                                        fsauthctl_name_key(ctl, it->old));
                fsauthctl_args_add(&cmds[nr], "source", 6);
                fsauthctl_args_add(&cmds[nr++], "id", 2);
            }

            if (it->oldid) {
                fsauthctl_args_add_name(&watch,
                                        fsauthctl_name_id(ctl,
                                                          FSAUTH_NAME_KEYID,
                                                          it->oldid));

                fsauthctl_args_init(&cmds[nr]);
                fsauthctl_args_add(&cmds[nr], "GET", 3);
                fsauthctl_args_add_name(&cmds[nr++],
                                        fsauthctl_name_id(ctl,
                                                          FSAUTH_NAME_KEYID,
                                                          it->oldid));
            }
        }

        rc = fsauthctl_redis_argv(ctl, &watch, NULL);
        fsauthctl_args_free(&watch);

        if (rc == FSAUTHCTL_OK) {
            rc = fsauthctl_redis_pipeline(ctl, cmds, nr, &replies);
        }

        for (i = 0; i < nr; i++) {
            fsauthctl_args_free(&cmds[i]);
        }

        if (rc != FSAUTHCTL_OK) {
            break;
        }

        for (i = 0, j = 0, nok = 0; i < n; i++) {
            it = &items[i];
            it->ok = fsauthctl_sync_batch_check(it, &replies[j]);
            nok += it->ok;
            j += 2 + (it->old != NULL) + (it->oldid != 0);
        }

        fsauthctl_redis_free_replies(replies, nr);

        if (nok == 0) {
            fsauthctl_redis_unwatch(ctl);
            break;
        }

        /*
         * MULTI, each key's writes and its audit entry, <prefix>schema,
         * EXEC: one pipeline
         */

        rc = fsauthctl_audit_check(ctl);
        if (rc != FSAUTHCTL_OK) {
            fsauthctl_redis_unwatch(ctl);
            break;
        }

        nt = 0;
        fsauthctl_args_init(&cmds[nt]);
        fsauthctl_args_add(&cmds[nt++], "MULTI", 5);

        for (i = 0; i < n; i++) {
            it = &items[i];

            if (!it->ok) {
                continue;
            }

            fsauthctl_sync_key_cmds(s, it->k, &it->old,
                                    it->old ? 1 : 0,
                                    it->drop_keyid ? it->oldid : 0,
                                    &cmds[nt]);
            nt += 3;

            fsauthctl_audit_set(ctl, "sync", it->k->ik.key.id, "%s",
                                it->k->what);
            rc = fsauthctl_audit_xadd(ctl, &cmds[nt]);
            if (rc != FSAUTHCTL_OK) {
                break;
            }

            nt++;
        }

        fsauthctl_audit_clear(ctl);

        if (rc != FSAUTHCTL_OK) {
            for (i = 0; i < nt; i++) {
                fsauthctl_args_free(&cmds[i]);
            }

            fsauthctl_redis_unwatch(ctl);
            break;
        }

        fsauthctl_args_init(&cmds[nt]);
        fsauthctl_args_add(&cmds[nt], "SET", 3);
        fsauthctl_args_add_name(&cmds[nt],
                                fsauthctl_name(ctl, FSAUTH_NAME_SCHEMA));
        fsauthctl_args_add(&cmds[nt++], FSAUTH_SCHEMA_VERSION,
                           sizeof(FSAUTH_SCHEMA_VERSION) - 1);

        fsauthctl_args_init(&cmds[nt]);
        fsauthctl_args_add(&cmds[nt++], "EXEC", 4);

        rc = fsauthctl_redis_pipeline(ctl, cmds, nt, &replies);

        for (i = 0; i < nt; i++) {
            fsauthctl_args_free(&cmds[i]);
        }

        if (rc != FSAUTHCTL_OK) {
            break;
        }

        exec = replies[nt - 1];

        if (exec->type == REDIS_REPLY_NIL) {
            /* a WATCHed name changed meanwhile: nothing written */
            fsauthctl_redis_free_replies(replies, nt);
            fsauthctl_redis_backoff(attempt);
            continue;
        }

        for (i = 0; i < nt && rc == FSAUTHCTL_OK; i++) {
            if (replies[i]->type == REDIS_REPLY_ERROR) {
                rc = FSAUTHCTL_UNAVAILABLE;
                fsauthctl_error("sync: redis: %s", replies[i]->str);
            }
        }

        for (i = 0; i < exec->elements && rc == FSAUTHCTL_OK; i++) {
            if (exec->element[i]->type == REDIS_REPLY_ERROR) {
                rc = FSAUTHCTL_UNAVAILABLE;
                fsauthctl_error("sync: redis: %s", exec->element[i]->str);
            }
        }

        fsauthctl_redis_free_replies(replies, nt);

        if (rc == FSAUTHCTL_OK) {
            for (i = 0; i < n; i++) {
                if (items[i].ok) {
                    fsauthctl_sync_written(s, items[i].k);
                }
            }
        }

        break;
    }

    free(items);
    free(cmds);

    return rc;
}


static int
fsauthctl_sync_delete_watch(fsauthctl_t *ctl, void *data)
{
    int                   rc, owner;
    redisReply           *reply;
    fsauthctl_sync_tx_t  *tx;

    tx = data;
    tx->drop_keyid = 0;

    rc = fsauthctl_sync_watched(ctl, fsauthctl_name_key(ctl, tx->del->digest),
                                1, &reply);
    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    owner = fsauthctl_sync_owner(reply);
    freeReplyObject(reply);

    /* gone, or taken over by hand meanwhile: not ours to delete */

    if (owner != 1) {
        return FSAUTHCTL_TX_SKIP;
    }

    if (tx->del->id == 0) {
        return FSAUTHCTL_OK;
    }

    rc = fsauthctl_sync_watched(ctl, fsauthctl_name_id(ctl, FSAUTH_NAME_KEYID,
                                                       tx->del->id),
                                0, &reply);
    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    tx->drop_keyid = fsauthctl_sync_points(reply, tx->del->digest);
    freeReplyObject(reply);

    return FSAUTHCTL_OK;
}


static int
fsauthctl_sync_delete_queue(fsauthctl_t *ctl, void *data)
{
    int                   rc;
    fsauthctl_args_t      args;
    fsauthctl_sync_tx_t  *tx;

    tx = data;

    fsauthctl_args_init(&args);
    fsauthctl_args_add(&args, "DEL", 3);
    fsauthctl_args_add_name(&args, fsauthctl_name_key(ctl, tx->del->digest));

    /* the key is gone for good: its id entry and activity too */

    if (tx->drop_keyid) {
        fsauthctl_args_add_name(&args, fsauthctl_name_id(ctl,
                                                         FSAUTH_NAME_KEYID,
                                                         tx->del->id));
        fsauthctl_args_add_name(&args, fsauthctl_name_id(ctl,
                                                       FSAUTH_NAME_ACTIVITY,
                                                       tx->del->id));
    }

    rc = fsauthctl_redis_queue(ctl, &args);
    fsauthctl_args_free(&args);

    return rc;
}


static int
fsauthctl_sync_delete(fsauthctl_sync_t *s, fsauthctl_sync_cur_t *c)
{
    int                  rc, outcome;
    fsauthctl_sync_tx_t  tx;

    if (!s->dry_run) {
        memset(&tx, 0, sizeof(fsauthctl_sync_tx_t));
        tx.s = s;
        tx.del = c;

        fsauthctl_audit_set(s->ctl, "sync", c->id, "deleted");

        rc = fsauthctl_redis_tx(s->ctl, FSAUTHCTL_TX_RETRIES,
                                fsauthctl_sync_delete_watch,
                                fsauthctl_sync_delete_queue, &tx, &outcome);

        if (rc == FSAUTHCTL_OK && outcome == -1) {
            rc = fsauthctl_error("sync: key %lld keeps changing "
                                 "concurrently", c->id);
        }

        if (rc != FSAUTHCTL_OK) {
            return rc;
        }

        if (outcome == 0) {
            return FSAUTHCTL_OK;
        }
    }

    s->deleted++;
    fsauthctl_sync_change(s, c->id, "deleted");

    return FSAUTHCTL_OK;
}


/* one line per change on stdout: "key 7: updated (enabled)" */

static void
fsauthctl_sync_change(fsauthctl_sync_t *s, long long id, const char *what)
{
    if (s->json) {
        fsauthctl_sync_json_line(json_pack("{s:I, s:s, s:b}",
                                           "id", (json_int_t) id,
                                           "change", what,
                                           "dry_run", s->dry_run));
        return;
    }

    printf("%skey %lld: %s\n", s->dry_run ? "dry run: " : "", id, what);
}


/* --json: an object a line, so that watch mode's output stays a stream */

static void
fsauthctl_sync_json_line(json_t *json)
{
    if (json) {
        (void) json_dumpf(json, stdout, JSON_COMPACT);
        putchar('\n');
        json_decref(json);
    }
}


/*
 * A warning on stderr.  In watch mode one that the previous pass gave
 * already is not repeated: a bad row is reported once, when it appears.
 */

static void
fsauthctl_sync_warn(fsauthctl_sync_t *s, const char *fmt, ...)
{
    char     *msg;
    va_list   ap;

    va_start(ap, fmt);
    msg = fsauthctl_vsprintf(fmt, ap);
    va_end(ap);

    if (!fsauthctl_sync_note(s, msg)) {
        fsauthctl_error("%s", msg);
    }
}


/* keeps msg (allocated) for the next pass: 1 if the last one had it */

static int
fsauthctl_sync_note(fsauthctl_sync_t *s, char *msg)
{
    s->saying = fsauthctl_realloc(s->saying,
                                  (s->nsaying + 1) * sizeof(char *));
    s->saying[s->nsaying++] = msg;

    return s->interval != 0
           && s->nsaid != 0
           && bsearch(&msg, s->said, s->nsaid, sizeof(char *),
                      fsauthctl_sync_cmp_strings) != NULL;
}


/*
 * A row's fingerprint: SHA-256 of its text without the apikey, whose
 * digest stands in for it.  Watch mode keeps those of the rows import's
 * checks refused, so as not to repeat import's message every pass.
 */

static char *
fsauthctl_sync_fingerprint(json_t *row, const char *digest)
{
    char     *dump, *text, hex[FSAUTH_HEX_LEN + 1];
    json_t   *copy;
    size_t    len;

    copy = json_copy(row);
    json_object_del(copy, "apikey");
    dump = json_dumps(copy, JSON_SORT_KEYS | JSON_COMPACT);
    json_decref(copy);

    text = fsauthctl_sprintf("%s %s", digest ? digest : "-",
                             dump ? dump : "");
    free(dump);

    len = strlen(text);

    if (fsauthctl_token_digest(text, len, hex) != FSAUTHCTL_OK) {
        hex[0] = '\0';
    }

    free(text);

    return fsauthctl_sprintf("refused row %s", hex);
}


/* refused as it is in the last pass: noted again, skipped silently */

static int
fsauthctl_sync_refused(fsauthctl_sync_t *s, json_t *row, const char *digest)
{
    char  *fp;

    if (s->interval == 0 || s->refused == 0) {
        return 0;
    }

    fp = fsauthctl_sync_fingerprint(row, digest);

    if (bsearch(&fp, s->said, s->nsaid, sizeof(char *),
                fsauthctl_sync_cmp_strings) == NULL)
    {
        free(fp);
        return 0;
    }

    (void) fsauthctl_sync_note(s, fp);

    return 1;
}


/* import refused the row: reported, and in watch mode remembered */

static void
fsauthctl_sync_refuse(fsauthctl_sync_t *s, json_t *row, const char *digest,
    const char *fmt, long long n)
{
    if (s->interval) {
        (void) fsauthctl_sync_note(s, fsauthctl_sync_fingerprint(row,
                                                                 digest));
    }

    fsauthctl_sync_warn(s, fmt, n);
}


static void
fsauthctl_sync_said(fsauthctl_sync_t *s)
{
    size_t  i;

    for (i = 0; i < s->nsaid; i++) {
        free(s->said[i]);
    }

    free(s->said);

    s->said = s->saying;
    s->nsaid = s->nsaying;
    s->saying = NULL;
    s->nsaying = 0;
    s->refused = 0;

    for (i = 0; i < s->nsaid; i++) {
        s->refused += (strncmp(s->said[i], "refused row ", 12) == 0);
    }

    if (s->nsaid > 1) {
        qsort(s->said, s->nsaid, sizeof(char *), fsauthctl_sync_cmp_strings);
    }
}


static fsauthctl_sync_cur_t *
fsauthctl_sync_find(fsauthctl_sync_t *s, const char *digest)
{
    fsauthctl_sync_cur_t  key;

    if (strlen(digest) != FSAUTH_HEX_LEN) {
        return NULL;
    }

    memcpy(key.digest, digest, FSAUTH_HEX_LEN + 1);

    return bsearch(&key, s->cur, s->ncur, sizeof(fsauthctl_sync_cur_t),
                   fsauthctl_sync_cmp_cur);
}


static int
fsauthctl_sync_cmp_keys(const void *a, const void *b)
{
    const fsauthctl_sync_key_t  *x = a, *y = b;

    if (x->ik.key.id != y->ik.key.id) {
        return x->ik.key.id < y->ik.key.id ? -1 : 1;
    }

    return 0;
}


/* by digest, then enabled first, then by id */

static int
fsauthctl_sync_cmp_digests(const void *a, const void *b)
{
    int                          c;
    const fsauthctl_sync_key_t  *x, *y;

    x = *(fsauthctl_sync_key_t * const *) a;
    y = *(fsauthctl_sync_key_t * const *) b;

    c = strcmp(x->ik.digest, y->ik.digest);
    if (c) {
        return c;
    }

    if (x->ik.key.enabled != y->ik.key.enabled) {
        return x->ik.key.enabled ? -1 : 1;
    }

    return x->ik.key.id < y->ik.key.id ? -1 : (x->ik.key.id > y->ik.key.id);
}


static int
fsauthctl_sync_cmp_cur(const void *a, const void *b)
{
    const fsauthctl_sync_cur_t  *x = a, *y = b;

    return strcmp(x->digest, y->digest);
}


static int
fsauthctl_sync_cmp_grants(const void *a, const void *b)
{
    const fsauthctl_import_grant_t  *x = a, *y = b;

    if (x->id != y->id) {
        return x->id < y->id ? -1 : 1;
    }

    return strcmp(x->grant.resource, y->grant.resource);
}


static int
fsauthctl_sync_cmp_strings(const void *a, const void *b)
{
    return strcmp(*(char * const *) a, *(char * const *) b);
}
