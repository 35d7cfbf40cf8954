
/*
 * Copyright (C) fsauth authors
 * BSD-2-Clause, see LICENSE.
 */


/*
 * fsauthctl: the "key" commands.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fsauthctl.h"


/*
 * "key create" draws a new id from <prefix>nextid until it finds one that
 * no key uses (ids imported or written by hand may be above it).
 */
#define FSAUTHCTL_CREATE_TRIES  100


static int fsauthctl_key_unused(fsauthctl_t *ctl, const char *keyid,
    const char *digest, int *unused);
static void fsauthctl_key_print(const fsauthctl_key_t *key);
static void fsauthctl_key_print_field(const char *name, const char *value);
static int fsauthctl_key_set_flag(fsauthctl_t *ctl, fsauthctl_call_t *call,
    const char *field, int on, const char *said);
static int fsauthctl_key_created(fsauthctl_t *ctl, fsauthctl_call_t *call,
    long long id, char *token, const char *digest);
static int fsauthctl_key_rotated(fsauthctl_t *ctl, fsauthctl_call_t *call,
    long long id, char *token, const char *olddigest, const char *digest,
    long long until);
static int fsauthctl_key_unrotate(fsauthctl_t *ctl, long long id,
    const char *olddigest, const char *digest, long long until,
    int *restored);
static int fsauthctl_key_drop(fsauthctl_t *ctl, long long id,
    const char *digest, int *found);


/*
 * WATCHes keyid (unless NULL) and key:<digest>, then tells whether both are
 * unused: a new key must take neither an id nor a digest of another one,
 * and EXEC fails if one is taken meanwhile.
 */

static int
fsauthctl_key_unused(fsauthctl_t *ctl, const char *keyid, const char *digest,
    int *unused)
{
    int                rc;
    redisReply        *reply;
    fsauthctl_args_t   args;

    *unused = 0;
    reply = NULL;

    fsauthctl_args_init(&args);
    fsauthctl_args_add(&args, "WATCH", 5);
    fsauthctl_args_add_name(&args, fsauthctl_name_key(ctl, digest));

    if (keyid) {
        fsauthctl_args_add(&args, keyid, strlen(keyid));
    }

    rc = fsauthctl_redis_argv(ctl, &args, NULL);

    if (rc == FSAUTHCTL_OK) {
        free(args.argv[0]);
        args.argv[0] = fsauthctl_strdup("EXISTS");
        args.lens[0] = 6;

        rc = fsauthctl_redis_argv(ctl, &args, &reply);
    }

    fsauthctl_args_free(&args);

    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    *unused = (reply->type == REDIS_REPLY_INTEGER && reply->integer == 0);
    freeReplyObject(reply);

    if (!*unused) {
        fsauthctl_redis_unwatch(ctl);
    }

    return FSAUTHCTL_OK;
}


/* what the transactions of this file read and write */
typedef struct {
    fsauthctl_key_t    key;         /* create: the new record */
    long long          id;
    char              *keyid;       /* <prefix>keyid:<id> */
    char              *nextid;      /* create: <prefix>nextid */
    char              *name;        /* drop: the hash keyid:<id> names */
    char              *activity;    /* drop: <prefix>activity:<id> */
    const char        *only;        /* drop: only while keyid names it */
    char              *oldname;     /* (un)rotate: key:<olddigest>, from */
    char              *newname;     /* (un)rotate: key:<digest>, to */
    long long          grace;       /* rotate: --grace, seconds */
    long long          until;       /* (un)rotate: the old token's end */
    int                undo;        /* unrotate */
    fsauthctl_grace_t  old;         /* the old tokens in their grace */
    char               token[FSAUTHCTL_TOKEN_LEN + 1];
    char               olddigest[FSAUTH_HEX_LEN + 1];
    char               digest[FSAUTH_HEX_LEN + 1];
} fsauthctl_key_tx_t;


static int fsauthctl_key_unrotate_queue(fsauthctl_t *ctl,
    fsauthctl_key_tx_t *tx);
static int fsauthctl_key_rotate_watch(fsauthctl_t *ctl, void *data);


static void
fsauthctl_key_tx_free(fsauthctl_key_tx_t *tx)
{
    explicit_bzero(tx->token, sizeof(tx->token));
    free(tx->keyid);
    free(tx->nextid);
    free(tx->name);
    free(tx->activity);
    free(tx->oldname);
    free(tx->newname);
    fsauthctl_grace_free(&tx->old);
}


/* a new token and its digest */

static int
fsauthctl_key_new_token(fsauthctl_key_tx_t *tx)
{
    if (fsauthctl_token_generate(tx->token) != FSAUTHCTL_OK
        || fsauthctl_token_digest(tx->token, FSAUTHCTL_TOKEN_LEN, tx->digest)
           != FSAUTHCTL_OK)
    {
        return FSAUTHCTL_ERROR;
    }

    return FSAUTHCTL_OK;
}


/* create: a new id and token, neither taken (WATCHed) */

static int
fsauthctl_key_create_watch(fsauthctl_t *ctl, void *data)
{
    int                  rc, unused;
    redisReply          *reply;
    fsauthctl_key_tx_t  *tx;

    tx = data;

    rc = fsauthctl_redis_call(ctl, &reply, "INCR", tx->nextid, NULL);
    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    tx->key.id = reply->integer;
    freeReplyObject(reply);

    if (fsauthctl_key_new_token(tx) != FSAUTHCTL_OK) {
        return FSAUTHCTL_ERROR;
    }

    free(tx->keyid);
    tx->keyid = fsauthctl_name_id(ctl, FSAUTH_NAME_KEYID, tx->key.id);

    fsauthctl_audit_set(ctl, "key.create", tx->key.id,
                        "fullaccess %s, nick \"%s\", description \"%s\"%s%s",
                        tx->key.fullaccess ? "on" : "off", tx->key.nick,
                        tx->key.description,
                        tx->key.expires ? ", expires " : "",
                        tx->key.expires ? tx->key.expires : "");

    rc = fsauthctl_key_unused(ctl, tx->keyid, tx->digest, &unused);
    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    return unused ? FSAUTHCTL_OK : FSAUTHCTL_TX_AGAIN;
}


/*
 * rotate: when the old token ends, 0 at once: with a grace, not after the
 * key's own expiry; and the old tokens already in their grace (WATCHed)
 */

static int
fsauthctl_key_rotate_until(fsauthctl_t *ctl, fsauthctl_key_tx_t *tx)
{
    int          rc;
    char        *end;
    long long    now, expires;
    redisReply  *reply;

    fsauthctl_grace_free(&tx->old);

    rc = fsauthctl_grace_read(ctl, tx->id, 1, &tx->old);
    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    tx->until = 0;

    if (tx->grace == 0) {
        return FSAUTHCTL_OK;
    }

    /* the record is WATCHed already, by the lookup */

    rc = fsauthctl_redis_call(ctl, &reply, "HGET", tx->oldname, "expires",
                              NULL);
    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    now = (long long) time(NULL);
    tx->until = now + tx->grace;

    if (reply->type == REDIS_REPLY_STRING) {
        expires = strtoll(reply->str, &end, 10);

        if (*end == '\0' && expires > 0 && expires < tx->until) {
            tx->until = expires;
        }
    }

    freeReplyObject(reply);

    /* an expired key: its old token is dead anyway */

    if (tx->until <= now) {
        tx->until = 0;
    }

    return FSAUTHCTL_OK;
}


/* rotate: the watch, then the audit entry, which tells the grace's end */

static int
fsauthctl_key_rotate_audit(fsauthctl_t *ctl, void *data)
{
    int                  rc;
    char                 s[24], *when;
    fsauthctl_key_tx_t  *tx;

    tx = data;

    rc = fsauthctl_key_rotate_watch(ctl, data);
    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    if (tx->until == 0) {
        fsauthctl_audit_set(ctl, "key.rotate", tx->id,
                            "new token, the old one ends at once");
        return FSAUTHCTL_OK;
    }

    snprintf(s, sizeof(s), "%lld", tx->until);
    when = fsauthctl_output_time(s);
    fsauthctl_audit_set(ctl, "key.rotate", tx->id,
                        "new token, the old one works until %s", when);
    free(when);

    return FSAUTHCTL_OK;
}


/* rotate: the key as it is (WATCHed), and a new digest nobody has */

static int
fsauthctl_key_rotate_watch(fsauthctl_t *ctl, void *data)
{
    int                  rc, unused;
    fsauthctl_key_tx_t  *tx;

    tx = data;

    rc = fsauthctl_store_lookup(ctl, tx->id, 1, tx->olddigest);
    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    if (fsauthctl_key_new_token(tx) != FSAUTHCTL_OK) {
        return FSAUTHCTL_ERROR;
    }

    free(tx->oldname);
    free(tx->newname);
    tx->oldname = fsauthctl_name_key(ctl, tx->olddigest);
    tx->newname = fsauthctl_name_key(ctl, tx->digest);

    rc = fsauthctl_key_rotate_until(ctl, tx);
    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    /* another key has this digest: draw another token */

    rc = fsauthctl_key_unused(ctl, NULL, tx->digest, &unused);
    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    return unused ? FSAUTHCTL_OK : FSAUTHCTL_TX_AGAIN;
}


/*
 * create, rotate and unrotate: the record goes to key:<digest>, written
 * whole (create), copied from oldname (rotate with a grace: the old one
 * stays until its end) or renamed from it, and keyid:<id> names it.  A
 * rotation without a grace ends every older grace too; an unrotation
 * takes the restored token out of the pending ones.
 */

static int
fsauthctl_key_queue(fsauthctl_t *ctl, void *data)
{
    int                  rc;
    fsauthctl_args_t     args;
    fsauthctl_key_tx_t  *tx;

    tx = data;

    if (tx->oldname && tx->until && !tx->undo) {
        rc = fsauthctl_redis_call(ctl, NULL, "COPY", tx->oldname,
                                  tx->newname, NULL);

        if (rc == FSAUTHCTL_OK) {
            rc = fsauthctl_grace_queue_keep(ctl, tx->id, &tx->old,
                                            tx->olddigest, tx->until);
        }

    } else if (tx->oldname) {
        rc = fsauthctl_redis_call(ctl, NULL, "RENAME", tx->oldname,
                                  tx->newname, NULL);

        if (rc == FSAUTHCTL_OK && tx->undo) {
            rc = fsauthctl_key_unrotate_queue(ctl, tx);

        } else if (rc == FSAUTHCTL_OK) {
            rc = fsauthctl_grace_queue_end(ctl, tx->id, &tx->old);
        }

    } else {
        fsauthctl_args_init(&args);
        fsauthctl_store_hset(ctl, &args, tx->digest, &tx->key);
        rc = fsauthctl_redis_queue(ctl, &args);
        fsauthctl_args_free(&args);
    }

    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    return fsauthctl_redis_call(ctl, NULL, "SET", tx->keyid, tx->digest,
                                NULL);
}


/* unrotate: the restored token is no longer an old one */

static int
fsauthctl_key_unrotate_queue(fsauthctl_t *ctl, fsauthctl_key_tx_t *tx)
{
    int    rc;
    char  *set;

    set = fsauthctl_name_id(ctl, FSAUTHCTL_NAME_GRACE, tx->id);
    rc = fsauthctl_redis_call(ctl, NULL, "ZREM", set, tx->digest, NULL);
    free(set);

    return rc;
}


/*
 * WATCHes keyid:<id>: FSAUTHCTL_TX_SKIP unless it names a digest, and
 * "only" if given; *name (unless NULL) is then the record's name
 */

static int
fsauthctl_key_watch_keyid(fsauthctl_t *ctl, fsauthctl_key_tx_t *tx,
    const char *only, char **name)
{
    int          rc;
    redisReply  *reply;

    rc = fsauthctl_redis_read(ctl, 1, &reply, "GET", tx->keyid, NULL);
    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    if (reply->type != REDIS_REPLY_STRING
        || (only && strcmp(reply->str, only) != 0))
    {
        freeReplyObject(reply);
        return FSAUTHCTL_TX_SKIP;
    }

    if (name) {
        free(*name);
        *name = fsauthctl_name_key(ctl, reply->str);
    }

    freeReplyObject(reply);

    return FSAUTHCTL_OK;
}


/*
 * unrotate: the move back, only while the key is as the rotation left it
 * (WATCHed): keyid:<id> names olddigest, the record it had is free, or
 * still the old token in its grace
 */

static int
fsauthctl_key_unrotate_watch(fsauthctl_t *ctl, void *data)
{
    int                  rc, vacant;
    redisReply          *reply;
    fsauthctl_key_tx_t  *tx;

    tx = data;

    rc = fsauthctl_key_watch_keyid(ctl, tx, tx->olddigest, NULL);
    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    /* neither name may change before EXEC */

    rc = fsauthctl_redis_call(ctl, NULL, "WATCH", tx->oldname, NULL);
    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    rc = fsauthctl_redis_read(ctl, 1, &reply, "EXISTS", tx->newname, NULL);
    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    vacant = (reply->type == REDIS_REPLY_INTEGER && reply->integer == 0);
    freeReplyObject(reply);

    /* after a rotation with a grace, the old record is there: ours */

    return (vacant || tx->until) ? FSAUTHCTL_OK : FSAUTHCTL_TX_SKIP;
}


/*
 * drop: keyid:<id> WATCHed, so that a rotation meanwhile makes EXEC fail,
 * and the old tokens in their grace, which go with the key
 */

static int
fsauthctl_key_drop_watch(fsauthctl_t *ctl, void *data)
{
    int                  rc;
    fsauthctl_key_tx_t  *tx;

    tx = data;

    rc = fsauthctl_key_watch_keyid(ctl, tx, tx->only, &tx->name);
    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    fsauthctl_grace_free(&tx->old);

    return fsauthctl_grace_read(ctl, tx->id, 1, &tx->old);
}


static int
fsauthctl_key_drop_queue(fsauthctl_t *ctl, void *data)
{
    int                  rc;
    fsauthctl_key_tx_t  *tx;

    tx = data;

    rc = fsauthctl_redis_call(ctl, NULL, "DEL", tx->name, tx->keyid,
                              tx->activity, NULL);
    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    return fsauthctl_grace_queue_end(ctl, tx->id, &tx->old);
}


int
fsauthctl_key_create_args(fsauthctl_call_t *call)
{
    const char             *description, *nick;
    const fsauthctl_cmd_t  *cmd;

    cmd = call->cmd;
    description = call->description;
    nick = call->nick;

    if (description == NULL || description[0] == '\0') {
        return fsauthctl_opt_usage(cmd, "--description TEXT is required");
    }

    if (!fsauthctl_text_valid(description, strlen(description))) {
        return fsauthctl_opt_usage(cmd, "--description: " FSAUTHCTL_TEXT_RULE);
    }

    if (nick && !fsauthctl_text_valid(nick, strlen(nick))) {
        return fsauthctl_opt_usage(cmd, "--nick: " FSAUTHCTL_TEXT_RULE);
    }

    return fsauthctl_lifecycle_create_args(call);
}


int
fsauthctl_key_create(fsauthctl_t *ctl, fsauthctl_call_t *call)
{
    int                  rc, outcome;
    char                 date[11], expires[24];
    fsauthctl_key_tx_t   tx;

    fsauthctl_today(date);

    memset(&tx, 0, sizeof(fsauthctl_key_tx_t));
    tx.key.nick = (char *) (call->nick ? call->nick : "");
    tx.key.description = (char *) call->description;
    tx.key.enabled = 1;
    tx.key.fullaccess = call->full_access;
    tx.key.creationdate = date;

    if (call->expires_at) {
        snprintf(expires, sizeof(expires), "%lld", call->expires_at);
        tx.key.expires = expires;
    }

    tx.nextid = fsauthctl_name(ctl, FSAUTH_NAME_NEXTID);

    rc = fsauthctl_redis_tx(ctl, FSAUTHCTL_CREATE_TRIES,
                            fsauthctl_key_create_watch,
                            fsauthctl_key_queue, &tx, &outcome);

    if (rc == FSAUTHCTL_OK && outcome == 1) {
        rc = fsauthctl_key_created(ctl, call, tx.key.id, tx.token,
                                   tx.digest);
        fsauthctl_key_tx_free(&tx);
        return rc;
    }

    fsauthctl_key_tx_free(&tx);

    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    return fsauthctl_error("no free key id found, nothing written");
}


int
fsauthctl_key_list(fsauthctl_t *ctl, fsauthctl_call_t *call)
{
    int                 rc;
    char                id[32];
    char               *nick, *desc, *when, *ip, *date, *exp, *ips;
    size_t              i, n;
    json_t             *arr;
    fsauthctl_key_t    *keys, *k;
    fsauthctl_table_t   table;

    rc = fsauthctl_store_load_all(ctl, &keys, &n);
    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    if (call->json) {
        arr = json_array();

        for (i = 0; i < n; i++) {
            json_array_append_new(arr, fsauthctl_json_key(&keys[i], 1));
        }

        rc = fsauthctl_json_print(arr);
        json_decref(arr);

    } else {
        fsauthctl_table_init(&table, 10, "ID", "NICK", "ENABLED",
                             "FULLACCESS", "CREATED", "EXPIRES",
                             "ALLOW_IPS", "LASTACTIVITY", "LASTIP",
                             "DESCRIPTION");

        for (i = 0; i < n; i++) {
            k = &keys[i];

            snprintf(id, sizeof(id), "%lld", k->id);
            nick = fsauthctl_output_escape(k->nick);
            desc = fsauthctl_output_escape(k->description);
            when = fsauthctl_output_time(k->lastactivity);
            ip = fsauthctl_output_escape(k->lastip ? k->lastip : "");
            date = fsauthctl_output_escape(k->creationdate
                                           ? k->creationdate : "");
            exp = fsauthctl_output_time(k->expires);
            ips = fsauthctl_allowips_text(k->allow_ips);

            fsauthctl_table_row(&table, id, nick,
                                k->enabled ? "yes" : "no",
                                k->fullaccess ? "yes" : "no",
                                date, exp, ips, when, ip, desc);

            free(exp);
            free(ips);
            free(nick);
            free(desc);
            free(when);
            free(ip);
            free(date);
        }

        fsauthctl_table_print(&table);
    }

    if (n) {
        fsauthctl_store_free(keys, n);
    }

    return rc;
}


int
fsauthctl_key_show(fsauthctl_t *ctl, fsauthctl_call_t *call)
{
    int                 rc;
    size_t              i;
    json_t             *obj, *grants;
    fsauthctl_key_t     key;
    fsauthctl_grace_t   old;

    rc = fsauthctl_store_load(ctl, call->id, &key);
    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    rc = fsauthctl_grace_read(ctl, call->id, 0, &old);
    if (rc != FSAUTHCTL_OK) {
        fsauthctl_store_free(&key, 0);
        return rc;
    }

    if (call->json) {
        obj = fsauthctl_json_key(&key, 1);
        grants = json_array();

        for (i = 0; i < key.ngrants; i++) {
            json_array_append_new(grants,
                                  fsauthctl_json_grant(&key.grants[i],
                                                       NULL, 0));
        }

        json_object_set_new(obj, "grants", grants);
        json_object_set_new(obj, "old_tokens", fsauthctl_grace_json(&old));

        rc = fsauthctl_json_print(obj);
        json_decref(obj);

    } else {
        fsauthctl_key_print(&key);
        fsauthctl_grace_print(&old);
    }

    fsauthctl_grace_free(&old);
    fsauthctl_store_free(&key, 0);

    return rc;
}


static void
fsauthctl_key_print(const fsauthctl_key_t *key)
{
    char    *s;
    char     list[32];
    size_t   i;

    printf("id: %lld\n", key->id);

    s = fsauthctl_output_escape(key->nick);
    fsauthctl_key_print_field("nick", s);
    free(s);

    s = fsauthctl_output_escape(key->description);
    fsauthctl_key_print_field("description", s);
    free(s);

    fsauthctl_key_print_field("enabled", key->enabled ? "yes" : "no");
    fsauthctl_key_print_field("fullaccess", key->fullaccess ? "yes" : "no");

    s = fsauthctl_output_escape(key->creationdate ? key->creationdate : "");
    fsauthctl_key_print_field("creationdate", s);
    free(s);

    s = fsauthctl_output_time(key->expires);
    fsauthctl_key_print_field("expires", s[0] ? s : "never");
    free(s);

    s = fsauthctl_allowips_text(key->allow_ips);
    fsauthctl_key_print_field("allow_ips", s[0] ? s : "any");
    free(s);

    s = fsauthctl_output_time(key->lastactivity);
    fsauthctl_key_print_field("lastactivity", s);
    free(s);

    s = fsauthctl_output_escape(key->lastip ? key->lastip : "");
    fsauthctl_key_print_field("lastip", s);
    free(s);

    fsauthctl_key_print_field("grants", key->ngrants ? "" : "none");

    for (i = 0; i < key->ngrants; i++) {
        fsauth_grant_format(key->grants[i].mask, list);
        s = fsauthctl_output_escape(key->grants[i].resource);
        printf("  %s: %s\n", s, list[0] ? list : "-");
        free(s);
    }
}


/* "name: value", or "name:" alone for an empty value */

static void
fsauthctl_key_print_field(const char *name, const char *value)
{
    printf("%s:%s%s\n", name, value[0] ? " " : "", value);
}


/* sets a 0/1 field of an existing key and says so */

static int
fsauthctl_key_set_flag(fsauthctl_t *ctl, fsauthctl_call_t *call,
    const char *field, int on, const char *said)
{
    int        rc, existed;
    long long  id;

    id = call->id;

    rc = fsauthctl_store_set_field(ctl, id, field, on ? "1" : "0", &existed);
    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    return fsauthctl_output_result(call,
                                   json_pack("{s:I, s:b}",
                                             "id", (json_int_t) id,
                                             field, on),
                                   "key %lld: %s\n", id, said);
}


/* "key enable ID" and "key disable ID" */

int
fsauthctl_key_enable(fsauthctl_t *ctl, fsauthctl_call_t *call)
{
    int  enable;

    enable = (strcmp(call->cmd->name, "enable") == 0);

    fsauthctl_audit_set(ctl, enable ? "key.enable" : "key.disable", call->id,
                        "");

    return fsauthctl_key_set_flag(ctl, call, "enabled", enable,
                                  enable ? "enabled" : "disabled");
}


/* "on" or "off", kept in call->full_access */

int
fsauthctl_key_full_access_args(fsauthctl_call_t *call)
{
    if (strcmp(call->pos[1], "on") == 0) {
        call->full_access = 1;

    } else if (strcmp(call->pos[1], "off") != 0) {
        return fsauthctl_opt_usage(call->cmd, "expected \"on\" or \"off\", "
                                   "not \"%s\"", call->pos[1]);
    }

    return FSAUTHCTL_OK;
}


int
fsauthctl_key_full_access(fsauthctl_t *ctl, fsauthctl_call_t *call)
{
    int  on;

    on = call->full_access;

    fsauthctl_audit_set(ctl, "key.full-access", call->id, "%s",
                        on ? "on" : "off");

    return fsauthctl_key_set_flag(ctl, call, "fullaccess", on,
                                  on ? "full access on" : "full access off");
}


/* "--grace DURATION", checked before connecting */

int
fsauthctl_key_rotate_args(fsauthctl_call_t *call)
{
    if (call->grace
        && fsauthctl_lifecycle_duration(call->grace, &call->grace_secs)
           != FSAUTHCTL_OK)
    {
        return fsauthctl_opt_usage(call->cmd, "--grace: invalid duration "
                                   "\"%s\" (e.g. 90s, 10m, 1d)",
                                   call->grace);
    }

    return FSAUTHCTL_OK;
}


/*
 * Without a grace, the hash is renamed to the new digest in the same
 * transaction that repoints keyid:<id>: from EXEC on, the old token
 * matches nothing.  With one, it is copied, and the old hash ends by
 * itself (grace.c).  fsauthctl_key_rotated() prints the new token, or
 * undoes the rotation.
 */

int
fsauthctl_key_rotate(fsauthctl_t *ctl, fsauthctl_call_t *call)
{
    int                  rc, outcome;
    long long            id;
    fsauthctl_key_tx_t   tx;

    id = call->id;

    memset(&tx, 0, sizeof(fsauthctl_key_tx_t));
    tx.id = id;
    tx.grace = call->grace_secs;
    tx.keyid = fsauthctl_name_id(ctl, FSAUTH_NAME_KEYID, id);

    rc = fsauthctl_redis_tx(ctl, FSAUTHCTL_TX_RETRIES,
                            fsauthctl_key_rotate_audit,
                            fsauthctl_key_queue, &tx, &outcome);

    if (rc == FSAUTHCTL_OK && outcome == 1) {
        rc = fsauthctl_key_rotated(ctl, call, id, tx.token, tx.olddigest,
                                   tx.digest, tx.until);
        fsauthctl_key_tx_free(&tx);
        return rc;
    }

    fsauthctl_key_tx_free(&tx);

    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    return fsauthctl_error("key %lld keeps changing concurrently, "
                           "nothing written", id);
}


/* deletes the hash, keyid:<id> and activity:<id> */

int
fsauthctl_key_delete(fsauthctl_t *ctl, fsauthctl_call_t *call)
{
    int        rc, found;
    long long  id;

    id = call->id;

    fsauthctl_audit_set(ctl, "key.delete", id, "");

    rc = fsauthctl_key_drop(ctl, id, NULL, &found);
    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    if (found == 0) {
        return fsauthctl_error("no key with id %lld", id);
    }

    if (found == -1) {
        return fsauthctl_error("key %lld keeps changing concurrently, "
                               "nothing written", id);
    }

    return fsauthctl_output_result(call,
                                   json_pack("{s:I, s:b}",
                                             "id", (json_int_t) id,
                                             "deleted", 1),
                                   "key %lld: deleted\n", id);
}


/*
 * Prints the token of the key just created.  A token that could not be
 * printed (closed pipe, full disk) is lost, and a key nobody can use must
 * not stay behind: it is deleted again, unless someone else has rotated
 * it meanwhile.
 */

static int
fsauthctl_key_created(fsauthctl_t *ctl, fsauthctl_call_t *call, long long id,
    char *token, const char *digest)
{
    int  rc, err, found;

    if (fsauthctl_token_print(id, token, call->json, "", &err)
        == FSAUTHCTL_OK)
    {
        return FSAUTHCTL_OK;
    }

    fsauthctl_audit_set(ctl, "key.delete", id, "undone: the token could not "
                        "be printed");

    rc = fsauthctl_key_drop(ctl, id, digest, &found);

    if (rc == FSAUTHCTL_OK && found == 1) {
        return fsauthctl_error("cannot print the token of key %lld (%s): "
                               "the key is deleted again", id,
                               strerror(err));
    }

    return fsauthctl_error("cannot print the token of key %lld (%s), nor "
                           "delete the key: \"fsauthctl key delete %lld\" "
                           "does", id, strerror(err), id);
}


/*
 * Prints the new token of a rotated key, or undoes the rotation.
 *
 * The rotation is one RENAME (or COPY) of the record, committed before the
 * token is printed: the record is never rewritten from what was read, so
 * a grant written meanwhile cannot be lost, and without a grace the old
 * token dies at EXEC.  If the new token then
 * cannot be printed, nobody would hold a working token, so the record is
 * renamed back and keyid:<id> names the old digest again, in one
 * transaction: the old token is refused only for the moment in between.
 */

static int
fsauthctl_key_rotated(fsauthctl_t *ctl, fsauthctl_call_t *call, long long id,
    char *token, const char *olddigest, const char *digest, long long until)
{
    int    rc, err, restored;
    char   s[24], more[80], *when;

    /* with a grace, when the old token ends; JSON: null without one */

    snprintf(s, sizeof(s), "%lld", until);
    when = fsauthctl_output_time(s);

    if (call->json) {
        snprintf(more, sizeof(more), ", \"old_token_until\": %s",
                 until ? s : "null");

    } else if (until) {
        snprintf(more, sizeof(more), "old token until: %s\n", when);

    } else {
        more[0] = '\0';
    }

    free(when);

    if (fsauthctl_token_print(id, token, call->json, more, &err)
        == FSAUTHCTL_OK)
    {
        return FSAUTHCTL_OK;
    }

    fsauthctl_audit_set(ctl, "key.rotate", id, "undone: the new token could "
                        "not be printed");

    rc = fsauthctl_key_unrotate(ctl, id, olddigest, digest, until,
                                &restored);

    if (rc == FSAUTHCTL_OK && restored) {
        return fsauthctl_error("cannot print the new token of key %lld "
                               "(%s): rotation undone, the old token works "
                               "again", id, strerror(err));
    }

    return fsauthctl_error("cannot print the new token of key %lld (%s), "
                           "nor restore the old one: \"fsauthctl key rotate "
                           "%lld\" gives it a token", id, strerror(err), id);
}


/*
 * Renames key:<digest> back to key:<olddigest> and points keyid:<id> at it
 * again, only while the key is as the rotation left it (WATCHed): a key
 * rotated or deleted by someone else meanwhile is theirs.  The rename
 * replaces the old token's record in its grace, TTL included, with the
 * record as it was.
 */

static int
fsauthctl_key_unrotate(fsauthctl_t *ctl, long long id, const char *olddigest,
    const char *digest, long long until, int *restored)
{
    int                  rc, outcome;
    fsauthctl_key_tx_t   tx;

    memset(&tx, 0, sizeof(fsauthctl_key_tx_t));
    tx.id = id;
    tx.until = until;
    tx.undo = 1;
    tx.keyid = fsauthctl_name_id(ctl, FSAUTH_NAME_KEYID, id);

    /* the move of the rotation, backwards */

    tx.oldname = fsauthctl_name_key(ctl, digest);
    tx.newname = fsauthctl_name_key(ctl, olddigest);
    memcpy(tx.olddigest, digest, FSAUTH_HEX_LEN + 1);
    memcpy(tx.digest, olddigest, FSAUTH_HEX_LEN + 1);

    rc = fsauthctl_redis_tx(ctl, FSAUTHCTL_TX_RETRIES,
                            fsauthctl_key_unrotate_watch,
                            fsauthctl_key_queue, &tx, &outcome);

    fsauthctl_key_tx_free(&tx);

    *restored = (rc == FSAUTHCTL_OK && outcome == 1);

    return rc;
}


/*
 * Deletes key "id" in one transaction: the hash keyid:<id> names,
 * keyid:<id> and activity:<id>.  With "digest", only while keyid:<id>
 * still names it: the rollback of "key create" must not delete a key that
 * someone else has rotated meanwhile.  *found: 1 deleted, 0 no such key,
 * -1 it kept changing under our WATCH; nothing deleted and no message
 * but for a Redis failure.
 */

static int
fsauthctl_key_drop(fsauthctl_t *ctl, long long id, const char *digest,
    int *found)
{
    int                  rc;
    fsauthctl_key_tx_t   tx;

    memset(&tx, 0, sizeof(fsauthctl_key_tx_t));
    tx.id = id;
    tx.only = digest;
    tx.keyid = fsauthctl_name_id(ctl, FSAUTH_NAME_KEYID, id);
    tx.activity = fsauthctl_name_id(ctl, FSAUTH_NAME_ACTIVITY, id);

    rc = fsauthctl_redis_tx(ctl, FSAUTHCTL_TX_RETRIES,
                            fsauthctl_key_drop_watch,
                            fsauthctl_key_drop_queue, &tx, found);

    fsauthctl_key_tx_free(&tx);

    return rc;
}
