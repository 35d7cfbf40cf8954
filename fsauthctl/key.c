
/*
 * fsauthctl: the "key" commands.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
static int fsauthctl_key_set_flag(fsauthctl_t *ctl, long long id,
    const char *field, int on, const char *said);
static int fsauthctl_key_created(fsauthctl_t *ctl, long long id,
    char *token, const char *digest);
static int fsauthctl_key_rotated(fsauthctl_t *ctl, long long id, char *token,
    const char *olddigest, const char *digest);
static int fsauthctl_key_unrotate(fsauthctl_t *ctl, long long id,
    const char *olddigest, const char *digest, int *restored);
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


int
fsauthctl_key_create(fsauthctl_t *ctl, const fsauthctl_cmd_t *cmd,
    int argc, char **argv)
{
    int                rc, npos, full, attempt, aborted, unused;
    char              *keyid, *keyname;
    char               date[11];
    char               token[FSAUTHCTL_TOKEN_LEN + 1];
    char               digest[FSAUTH_HEX_LEN + 1];
    const char        *description, *nick;
    redisReply        *reply;
    fsauthctl_key_t    key;
    fsauthctl_args_t   args;
    fsauthctl_opt_t    opts[] = {
        { "description", 0, 1, &description, NULL },
        { "nick", 0, 1, &nick, NULL },
        { "full-access", 0, 0, NULL, &full },
        { NULL, 0, 0, NULL, NULL }
    };

    description = NULL;
    nick = NULL;
    full = 0;
    aborted = 0;

    rc = fsauthctl_opt_parse(cmd, argc, argv, opts, NULL, 0, 0, &npos);
    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    if (description == NULL || description[0] == '\0') {
        return fsauthctl_opt_usage(cmd, "--description TEXT is required");
    }

    if (!fsauthctl_text_valid(description, strlen(description))) {
        return fsauthctl_opt_usage(cmd, "--description: " FSAUTHCTL_TEXT_RULE);
    }

    if (nick && !fsauthctl_text_valid(nick, strlen(nick))) {
        return fsauthctl_opt_usage(cmd, "--nick: " FSAUTHCTL_TEXT_RULE);
    }

    rc = fsauthctl_redis_connect(ctl);
    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    fsauthctl_today(date);

    memset(&key, 0, sizeof(fsauthctl_key_t));
    key.nick = (char *) (nick ? nick : "");
    key.description = (char *) description;
    key.enabled = 1;
    key.fullaccess = full;
    key.creationdate = date;

    keyname = fsauthctl_name(ctl, FSAUTH_NAME_NEXTID);

    for (attempt = 0; attempt < FSAUTHCTL_CREATE_TRIES; attempt++) {

        rc = fsauthctl_redis_call(ctl, &reply, "INCR", keyname, NULL);
        if (rc != FSAUTHCTL_OK) {
            break;
        }

        key.id = reply->integer;
        freeReplyObject(reply);

        if (fsauthctl_token_generate(token) != FSAUTHCTL_OK
            || fsauthctl_token_digest(token, FSAUTHCTL_TOKEN_LEN, digest)
               != FSAUTHCTL_OK)
        {
            rc = FSAUTHCTL_ERROR;
            break;
        }

        keyid = fsauthctl_name_id(ctl, FSAUTH_NAME_KEYID, key.id);

        rc = fsauthctl_key_unused(ctl, keyid, digest, &unused);
        if (rc != FSAUTHCTL_OK) {
            free(keyid);
            break;
        }

        if (!unused) {
            free(keyid);
            continue;
        }

        rc = fsauthctl_redis_multi(ctl);

        if (rc == FSAUTHCTL_OK) {
            fsauthctl_args_init(&args);
            fsauthctl_store_hset(ctl, &args, digest, &key);
            rc = fsauthctl_redis_queue(ctl, &args);
            fsauthctl_args_free(&args);
        }

        if (rc == FSAUTHCTL_OK) {
            rc = fsauthctl_redis_call(ctl, NULL, "SET", keyid, digest, NULL);
        }

        free(keyid);

        if (rc == FSAUTHCTL_OK) {
            rc = fsauthctl_redis_commit(ctl, &aborted);
        }

        if (rc != FSAUTHCTL_OK) {
            break;
        }

        if (!aborted) {
            free(keyname);
            return fsauthctl_key_created(ctl, key.id, token, digest);
        }

        fsauthctl_redis_backoff(attempt);
    }

    explicit_bzero(token, sizeof(token));
    free(keyname);

    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    return fsauthctl_error("no free key id found, nothing written");
}


int
fsauthctl_key_list(fsauthctl_t *ctl, const fsauthctl_cmd_t *cmd,
    int argc, char **argv)
{
    int                 rc, npos, json;
    char                id[32];
    char               *nick, *desc, *when, *ip, *date;
    size_t              i, n;
    json_t             *arr;
    fsauthctl_key_t    *keys, *k;
    fsauthctl_table_t   table;
    fsauthctl_opt_t     opts[] = {
        { "json", 0, 0, NULL, &json },
        { NULL, 0, 0, NULL, NULL }
    };

    json = 0;

    rc = fsauthctl_opt_parse(cmd, argc, argv, opts, NULL, 0, 0, &npos);
    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    rc = fsauthctl_redis_connect(ctl);
    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    rc = fsauthctl_store_load_all(ctl, &keys, &n);
    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    if (json) {
        arr = json_array();

        for (i = 0; i < n; i++) {
            json_array_append_new(arr, fsauthctl_json_key(&keys[i], 1));
        }

        rc = fsauthctl_json_print(arr);
        json_decref(arr);

    } else {
        fsauthctl_table_init(&table, 8, "ID", "NICK", "ENABLED",
                             "FULLACCESS", "CREATED", "LASTACTIVITY",
                             "LASTIP", "DESCRIPTION");

        for (i = 0; i < n; i++) {
            k = &keys[i];

            snprintf(id, sizeof(id), "%lld", k->id);
            nick = fsauthctl_output_escape(k->nick);
            desc = fsauthctl_output_escape(k->description);
            when = fsauthctl_output_time(k->lastactivity);
            ip = fsauthctl_output_escape(k->lastip ? k->lastip : "");
            date = fsauthctl_output_escape(k->creationdate
                                           ? k->creationdate : "");

            fsauthctl_table_row(&table, id, nick,
                                k->enabled ? "yes" : "no",
                                k->fullaccess ? "yes" : "no",
                                date, when, ip, desc);

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
fsauthctl_key_show(fsauthctl_t *ctl, const fsauthctl_cmd_t *cmd,
    int argc, char **argv)
{
    int               rc, npos, json;
    char             *pos[1];
    size_t            i;
    json_t           *obj, *grants;
    long long         id;
    fsauthctl_key_t   key;
    fsauthctl_opt_t   opts[] = {
        { "json", 0, 0, NULL, &json },
        { NULL, 0, 0, NULL, NULL }
    };

    json = 0;

    rc = fsauthctl_opt_parse(cmd, argc, argv, opts, pos, 1, 1, &npos);
    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    rc = fsauthctl_opt_id(cmd, pos[0], &id);
    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    rc = fsauthctl_redis_connect(ctl);
    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    rc = fsauthctl_store_load(ctl, id, &key);
    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    if (json) {
        obj = fsauthctl_json_key(&key, 1);
        grants = json_array();

        for (i = 0; i < key.ngrants; i++) {
            json_array_append_new(grants,
                                  fsauthctl_json_grant(&key.grants[i],
                                                       NULL, 0));
        }

        json_object_set_new(obj, "grants", grants);

        rc = fsauthctl_json_print(obj);
        json_decref(obj);

    } else {
        fsauthctl_key_print(&key);
    }

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
fsauthctl_key_set_flag(fsauthctl_t *ctl, long long id, const char *field,
    int on, const char *said)
{
    int  rc, existed;

    rc = fsauthctl_redis_connect(ctl);
    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    rc = fsauthctl_store_set_field(ctl, id, field, on ? "1" : "0", &existed);
    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    printf("key %lld: %s\n", id, said);

    return FSAUTHCTL_OK;
}


/* "key enable ID" and "key disable ID" */

int
fsauthctl_key_enable(fsauthctl_t *ctl, const fsauthctl_cmd_t *cmd,
    int argc, char **argv)
{
    int               rc, npos, enable;
    char             *pos[1];
    long long         id;
    fsauthctl_opt_t   opts[] = {
        { NULL, 0, 0, NULL, NULL }
    };

    rc = fsauthctl_opt_parse(cmd, argc, argv, opts, pos, 1, 1, &npos);
    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    rc = fsauthctl_opt_id(cmd, pos[0], &id);
    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    enable = (strcmp(cmd->name, "enable") == 0);

    return fsauthctl_key_set_flag(ctl, id, "enabled", enable,
                                  enable ? "enabled" : "disabled");
}


int
fsauthctl_key_full_access(fsauthctl_t *ctl, const fsauthctl_cmd_t *cmd,
    int argc, char **argv)
{
    int               rc, npos, on;
    char             *pos[2];
    long long         id;
    fsauthctl_opt_t   opts[] = {
        { NULL, 0, 0, NULL, NULL }
    };

    rc = fsauthctl_opt_parse(cmd, argc, argv, opts, pos, 2, 2, &npos);
    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    rc = fsauthctl_opt_id(cmd, pos[0], &id);
    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    if (strcmp(pos[1], "on") == 0) {
        on = 1;

    } else if (strcmp(pos[1], "off") == 0) {
        on = 0;

    } else {
        return fsauthctl_opt_usage(cmd, "expected \"on\" or \"off\", "
                                   "not \"%s\"", pos[1]);
    }

    return fsauthctl_key_set_flag(ctl, id, "fullaccess", on,
                                  on ? "full access on" : "full access off");
}


/*
 * The hash is renamed to the new digest in the same transaction that
 * repoints keyid:<id>: from EXEC on, the old token matches nothing.
 * fsauthctl_key_rotated() prints the new token, or undoes the rotation.
 */

int
fsauthctl_key_rotate(fsauthctl_t *ctl, const fsauthctl_cmd_t *cmd,
    int argc, char **argv)
{
    int               rc, npos, attempt, aborted, unused;
    char             *pos[1], *oldname, *newname, *keyid;
    char              token[FSAUTHCTL_TOKEN_LEN + 1];
    char              olddigest[FSAUTH_HEX_LEN + 1];
    char              digest[FSAUTH_HEX_LEN + 1];
    long long         id;
    fsauthctl_opt_t   opts[] = {
        { NULL, 0, 0, NULL, NULL }
    };

    rc = fsauthctl_opt_parse(cmd, argc, argv, opts, pos, 1, 1, &npos);
    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    rc = fsauthctl_opt_id(cmd, pos[0], &id);
    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    rc = fsauthctl_redis_connect(ctl);
    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    keyid = fsauthctl_name_id(ctl, FSAUTH_NAME_KEYID, id);

    for (attempt = 0; attempt < FSAUTHCTL_TX_RETRIES; attempt++) {

        rc = fsauthctl_store_lookup(ctl, id, 1, olddigest);
        if (rc != FSAUTHCTL_OK) {
            break;
        }

        if (fsauthctl_token_generate(token) != FSAUTHCTL_OK
            || fsauthctl_token_digest(token, FSAUTHCTL_TOKEN_LEN, digest)
               != FSAUTHCTL_OK)
        {
            rc = FSAUTHCTL_ERROR;
            break;
        }

        oldname = fsauthctl_name_key(ctl, olddigest);
        newname = fsauthctl_name_key(ctl, digest);

        rc = fsauthctl_key_unused(ctl, NULL, digest, &unused);

        /* another key has this digest: draw another token */
        aborted = !unused;

        if (rc == FSAUTHCTL_OK && unused) {
            rc = fsauthctl_redis_multi(ctl);

            if (rc == FSAUTHCTL_OK) {
                rc = fsauthctl_redis_call(ctl, NULL, "RENAME", oldname,
                                          newname, NULL);
            }

            if (rc == FSAUTHCTL_OK) {
                rc = fsauthctl_redis_call(ctl, NULL, "SET", keyid, digest,
                                          NULL);
            }

            if (rc == FSAUTHCTL_OK) {
                rc = fsauthctl_redis_commit(ctl, &aborted);
            }
        }

        free(oldname);
        free(newname);

        if (rc != FSAUTHCTL_OK) {
            break;
        }

        if (!aborted) {
            free(keyid);
            return fsauthctl_key_rotated(ctl, id, token, olddigest, digest);
        }

        fsauthctl_redis_backoff(attempt);
    }

    explicit_bzero(token, sizeof(token));
    free(keyid);

    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    return fsauthctl_error("key %lld keeps changing concurrently, "
                           "nothing written", id);
}


/* deletes the hash, keyid:<id> and activity:<id> */

int
fsauthctl_key_delete(fsauthctl_t *ctl, const fsauthctl_cmd_t *cmd,
    int argc, char **argv)
{
    int               rc, npos, found;
    char             *pos[1];
    long long         id;
    fsauthctl_opt_t   opts[] = {
        { NULL, 0, 0, NULL, NULL }
    };

    rc = fsauthctl_opt_parse(cmd, argc, argv, opts, pos, 1, 1, &npos);
    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    rc = fsauthctl_opt_id(cmd, pos[0], &id);
    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    rc = fsauthctl_redis_connect(ctl);
    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

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

    printf("key %lld: deleted\n", id);

    return FSAUTHCTL_OK;
}


/*
 * Prints the token of the key just created.  A token that could not be
 * printed (closed pipe, full disk) is lost, and a key nobody can use must
 * not stay behind: it is deleted again, unless someone else has rotated
 * it meanwhile.
 */

static int
fsauthctl_key_created(fsauthctl_t *ctl, long long id, char *token,
    const char *digest)
{
    int  rc, err, found;

    if (fsauthctl_token_print(id, token, &err) == FSAUTHCTL_OK) {
        return FSAUTHCTL_OK;
    }

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
 * The rotation is one RENAME of the record, committed before the token is
 * printed: the record is never copied, so a grant written meanwhile
 * cannot be lost, and the old token dies at EXEC.  If the new token then
 * cannot be printed, nobody would hold a working token, so the record is
 * renamed back and keyid:<id> names the old digest again, in one
 * transaction: the old token is refused only for the moment in between.
 */

static int
fsauthctl_key_rotated(fsauthctl_t *ctl, long long id, char *token,
    const char *olddigest, const char *digest)
{
    int  rc, err, restored;

    if (fsauthctl_token_print(id, token, &err) == FSAUTHCTL_OK) {
        return FSAUTHCTL_OK;
    }

    rc = fsauthctl_key_unrotate(ctl, id, olddigest, digest, &restored);

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
 * rotated or deleted by someone else meanwhile is theirs.
 */

static int
fsauthctl_key_unrotate(fsauthctl_t *ctl, long long id, const char *olddigest,
    const char *digest, int *restored)
{
    int          rc, attempt, aborted, same;
    char        *keyid, *oldname, *newname;
    redisReply  *reply;

    *restored = 0;
    aborted = 1;

    keyid = fsauthctl_name_id(ctl, FSAUTH_NAME_KEYID, id);
    oldname = fsauthctl_name_key(ctl, olddigest);
    newname = fsauthctl_name_key(ctl, digest);

    for (attempt = 0; attempt < FSAUTHCTL_TX_RETRIES; attempt++) {

        rc = fsauthctl_redis_call(ctl, NULL, "WATCH", keyid, oldname,
                                  newname, NULL);
        if (rc != FSAUTHCTL_OK) {
            break;
        }

        rc = fsauthctl_redis_call(ctl, &reply, "GET", keyid, NULL);
        if (rc != FSAUTHCTL_OK) {
            break;
        }

        same = (reply->type == REDIS_REPLY_STRING
                && strcmp(reply->str, digest) == 0);
        freeReplyObject(reply);

        if (same) {
            rc = fsauthctl_redis_call(ctl, &reply, "EXISTS", oldname, NULL);
            if (rc != FSAUTHCTL_OK) {
                break;
            }

            same = (reply->type == REDIS_REPLY_INTEGER
                    && reply->integer == 0);
            freeReplyObject(reply);
        }

        if (!same) {
            fsauthctl_redis_unwatch(ctl);
            aborted = 0;
            break;
        }

        rc = fsauthctl_redis_multi(ctl);

        if (rc == FSAUTHCTL_OK) {
            rc = fsauthctl_redis_call(ctl, NULL, "RENAME", newname, oldname,
                                      NULL);
        }

        if (rc == FSAUTHCTL_OK) {
            rc = fsauthctl_redis_call(ctl, NULL, "SET", keyid, olddigest,
                                      NULL);
        }

        if (rc == FSAUTHCTL_OK) {
            rc = fsauthctl_redis_commit(ctl, &aborted);
        }

        if (rc != FSAUTHCTL_OK) {
            break;
        }

        if (!aborted) {
            *restored = 1;
            break;
        }

        fsauthctl_redis_backoff(attempt);
    }

    free(keyid);
    free(oldname);
    free(newname);

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
    int          rc, attempt, aborted;
    char        *keyid, *activity, *name;
    redisReply  *reply;

    *found = 0;
    aborted = 1;

    keyid = fsauthctl_name_id(ctl, FSAUTH_NAME_KEYID, id);
    activity = fsauthctl_name_id(ctl, FSAUTH_NAME_ACTIVITY, id);

    for (attempt = 0; attempt < FSAUTHCTL_TX_RETRIES; attempt++) {

        /* keyid:<id> WATCHed: a rotation meanwhile makes EXEC fail */

        rc = fsauthctl_redis_call(ctl, NULL, "WATCH", keyid, NULL);
        if (rc != FSAUTHCTL_OK) {
            break;
        }

        rc = fsauthctl_redis_call(ctl, &reply, "GET", keyid, NULL);
        if (rc != FSAUTHCTL_OK) {
            break;
        }

        if (reply->type != REDIS_REPLY_STRING
            || (digest && strcmp(reply->str, digest) != 0))
        {
            freeReplyObject(reply);
            fsauthctl_redis_unwatch(ctl);
            aborted = 0;
            break;
        }

        name = fsauthctl_name_key(ctl, reply->str);
        freeReplyObject(reply);

        rc = fsauthctl_redis_multi(ctl);

        if (rc == FSAUTHCTL_OK) {
            rc = fsauthctl_redis_call(ctl, NULL, "DEL", name, keyid,
                                      activity, NULL);
        }

        free(name);

        if (rc == FSAUTHCTL_OK) {
            rc = fsauthctl_redis_commit(ctl, &aborted);
        }

        if (rc != FSAUTHCTL_OK) {
            break;
        }

        if (!aborted) {
            *found = 1;
            break;
        }

        fsauthctl_redis_backoff(attempt);
    }

    free(keyid);
    free(activity);

    if (rc == FSAUTHCTL_OK && aborted) {
        *found = -1;
    }

    return rc;
}
