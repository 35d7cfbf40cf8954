
/*
 * Copyright (C) fsauth authors
 * BSD-2-Clause, see LICENSE.
 */


/*
 * fsauthctl: administration of the fsauth keys kept in Redis.
 * Shared declarations of every fsauthctl source file.
 */

#ifndef _FSAUTHCTL_H_INCLUDED_
#define _FSAUTHCTL_H_INCLUDED_


#include <stddef.h>
#include <stdarg.h>

#include <hiredis/hiredis.h>
#include <jansson.h>

#include "fsauth_rules.h"


/* exit codes, also the return codes of every command */
#define FSAUTHCTL_OK            0
#define FSAUTHCTL_ERROR         1   /* usage or data error, "denied" */
#define FSAUTHCTL_UNAVAILABLE   2   /* Redis unreachable or AUTH failed */
#define FSAUTHCTL_HELP          (-1) /* --help printed, exit 0 */

/* the audit stream <prefix>audit keeps about this many entries */
#define FSAUTHCTL_AUDIT_MAXLEN  "10000"

#define FSAUTHCTL_TOKEN_LEN     20
#define FSAUTHCTL_TOKEN_MAX     99
#define FSAUTHCTL_DIGEST_LEN    64
#define FSAUTHCTL_RESOURCE_MAX  100
#define FSAUTHCTL_PREFIX_MAX    256

/* what fsauthctl_text_valid() refuses, for messages */
#define FSAUTHCTL_TEXT_RULE                                                   \
    "control character or invalid UTF-8 (printable UTF-8 only)"

/* a transaction that lost a WATCH race is retried this many times */
#define FSAUTHCTL_TX_RETRIES    50

#define FSAUTHCTL_GRANT_GET     0x01
#define FSAUTHCTL_GRANT_POST    0x02
#define FSAUTHCTL_GRANT_PUT     0x04
#define FSAUTHCTL_GRANT_DELETE  0x08


/*
 * The audit entry the next committed transaction carries (audit.c): set
 * before fsauthctl_redis_tx() or in its steps, cleared when it returns.
 */
typedef struct {
    const char         *action;        /* NULL: none set */
    long long           id;            /* 0: no key */
    char               *detail;
} fsauthctl_audit_t;


typedef struct {
    const char         *host;
    int                 port;
    const char         *socket;
    long                db;
    const char         *password_file;
    const char         *prefix;
    const char         *actor;         /* --actor, or user@host */
    fsauthctl_audit_t   audit;
    int                 audit_checked;
    redisContext       *redis;

    /* connection security (secure.c) */
    const char         *user;
    int                 tls;
    const char         *cacert;
    const char         *cert;
    const char         *key;
    const char         *sni;

    /* --sentinel: the primary of --master, asked for (sentinel.c) */
    const char         *sentinel;
    const char         *master;
    const char         *sentinel_password_file;
    char               *sentinel_password;
    const char         *sentinel_user;
} fsauthctl_t;


typedef struct fsauthctl_cmd_s  fsauthctl_cmd_t;

/* a command line as the dispatcher (cmd.c) parsed it */
typedef struct {
    const fsauthctl_cmd_t  *cmd;
    char                   *pos[3];        /* the positional arguments */
    long long               id;            /* FSAUTHCTL_CMD_ID: pos[0] */
    const char             *description;   /* FSAUTHCTL_OPT_CREATE */
    const char             *nick;
    int                     full_access;   /* or "key full-access ID on" */
    int                     json;          /* --json, every command */
    int                     get;           /* FSAUTHCTL_OPT_GRANT */
    int                     post;
    int                     put;
    int                     del;
    const char             *since;         /* FSAUTHCTL_OPT_SINCE */
    const char             *from;          /* FSAUTHCTL_OPT_SYNC */
    const char             *db_password_file;
    const char             *interval;
    int                     dry_run;
    int                     allow_empty;
    const char             *expires;       /* FSAUTHCTL_OPT_CREATE */
    long long               expires_at;    /* checked; 0: never */
    const char             *grace;         /* FSAUTHCTL_OPT_ROTATE */
    long long               grace_secs;    /* checked; 0: none */
    void                   *data;          /* from check to run and done */
} fsauthctl_call_t;

/* the steps of a command, named in its table entry */
typedef int fsauthctl_check_t(fsauthctl_call_t *call);
typedef int fsauthctl_run_t(fsauthctl_t *ctl, fsauthctl_call_t *call);
typedef void fsauthctl_done_t(fsauthctl_call_t *call);

/* what the dispatcher does before a command runs */
#define FSAUTHCTL_CMD_ID        0x01    /* pos[0] is a key id: call->id */
#define FSAUTHCTL_CMD_REDIS     0x02    /* connect, once check has passed */

/* the option sets a command may take; every command takes --json */
#define FSAUTHCTL_OPT_SINCE     0x01    /* --since T */
#define FSAUTHCTL_OPT_ALL       0       /* in cmd.c: --json, for all */
#define FSAUTHCTL_OPT_CREATE    0x02    /* --description --nick --full-access
                                           --expires */
#define FSAUTHCTL_OPT_GRANT     0x04    /* --get --post --put --delete */
#define FSAUTHCTL_OPT_SYNC      0x08    /* --from --password-file --interval
                                           --dry-run --allow-empty */
#define FSAUTHCTL_OPT_ROTATE    0x10    /* --grace DURATION */

/*
 * One command: the dispatcher parses its options and exactly "npos"
 * positional arguments, its id, runs "check" (usage and input errors,
 * before any connection), connects, runs "run", then "done" whatever
 * happened after check.  A group ("key") has only name, path and help.
 */

struct fsauthctl_cmd_s {
    const char             *name;
    const char             *path;      /* "key create", for messages */
    const char             *help;
    unsigned                flags;     /* FSAUTHCTL_CMD_* */
    unsigned                opts;      /* FSAUTHCTL_OPT_* */
    int                     npos;
    fsauthctl_check_t      *check;     /* NULL: nothing to check */
    fsauthctl_run_t        *run;
    fsauthctl_done_t       *done;      /* NULL: nothing to free */
};

int fsauthctl_cmd_run(fsauthctl_t *ctl, const fsauthctl_cmd_t *cmd,
    int argc, char **argv);

/* the most options a command takes */
#define FSAUTHCTL_CMD_OPTS_MAX  9


/* option parser (opt.c) */

typedef struct {
    const char         *name;          /* long name without "--" */
    int                 short_name;    /* 0: none */
    int                 has_arg;
    const char        **value;         /* option with an argument */
    int                *flag;          /* option without an argument */
} fsauthctl_opt_t;

void fsauthctl_cmd_options(const fsauthctl_cmd_t *cmd,
    fsauthctl_call_t *call, fsauthctl_opt_t *opts);

int fsauthctl_opt_parse(const fsauthctl_cmd_t *cmd, int argc, char **argv,
    const fsauthctl_opt_t *opts, char **pos, int min_pos, int max_pos,
    int *npos);
int fsauthctl_opt_usage(const fsauthctl_cmd_t *cmd, const char *fmt, ...);


/* argument vectors of Redis commands (util.c) */

typedef struct {
    int                 n;
    int                 cap;
    char              **argv;
    size_t             *lens;
} fsauthctl_args_t;

void fsauthctl_args_init(fsauthctl_args_t *args);
void fsauthctl_args_add(fsauthctl_args_t *args, const char *s, size_t len);
void fsauthctl_args_addf(fsauthctl_args_t *args, const char *fmt, ...);
void fsauthctl_args_add_name(fsauthctl_args_t *args, char *name);
void fsauthctl_args_free(fsauthctl_args_t *args);


/* helpers (util.c) */

int fsauthctl_error(const char *fmt, ...);
void *fsauthctl_alloc(size_t size);
void *fsauthctl_realloc(void *p, size_t size);
char *fsauthctl_strdup(const char *s);
char *fsauthctl_strndup(const char *s, size_t len);
char *fsauthctl_sprintf(const char *fmt, ...);
char *fsauthctl_vsprintf(const char *fmt, va_list ap);
int fsauthctl_parse_id(const char *s, size_t len, long long *id);
int fsauthctl_parse_long(const char *s, long min, long max, long *n);
size_t fsauthctl_utf8_decode(const char *p, size_t len, unsigned *cp);
int fsauthctl_text_valid(const char *s, size_t len);
void fsauthctl_today(char date[11]);
int fsauthctl_parse_date(const char *s, char *date);
int fsauthctl_read_file(const char *path, const char *what, char **data,
    size_t *len);
int fsauthctl_read_secret(const char *path, const char *what,
    char **secret);


/* Redis connection security (secure.c) */

int fsauthctl_secure_check(const fsauthctl_cmd_t *cmd, fsauthctl_t *ctl);
int fsauthctl_secure_password(fsauthctl_t *ctl, char **password);
int fsauthctl_secure_tls(fsauthctl_t *ctl, redisContext *c, char *why,
    size_t size);


/* Redis connection and transactions (redis.c) */

int fsauthctl_redis_connect(fsauthctl_t *ctl);
int fsauthctl_redis_open(fsauthctl_t *ctl);
int fsauthctl_sentinel_connect(fsauthctl_t *ctl);
void fsauthctl_redis_close(fsauthctl_t *ctl);
char *fsauthctl_name(fsauthctl_t *ctl, const char *kind);
char *fsauthctl_name_key(fsauthctl_t *ctl, const char *digest);
char *fsauthctl_name_id(fsauthctl_t *ctl, const char *kind, long long id);
int fsauthctl_redis_call(fsauthctl_t *ctl, redisReply **reply, ...);
int fsauthctl_redis_read(fsauthctl_t *ctl, int watch, redisReply **reply,
    const char *cmd, const char *key, const char *field);
int fsauthctl_redis_argv(fsauthctl_t *ctl, fsauthctl_args_t *args,
    redisReply **reply);
int fsauthctl_redis_pipeline(fsauthctl_t *ctl, fsauthctl_args_t *cmds,
    size_t n, redisReply ***replies);
void fsauthctl_redis_free_replies(redisReply **replies, size_t n);
int fsauthctl_redis_queue(fsauthctl_t *ctl, fsauthctl_args_t *args);
void fsauthctl_redis_unwatch(fsauthctl_t *ctl);
void fsauthctl_redis_backoff(int attempt);

/* the phases of fsauthctl_redis_tx() */
#define FSAUTHCTL_TX_SKIP       10  /* watch: nothing to write */
#define FSAUTHCTL_TX_AGAIN      11  /* watch: start over at once */

typedef int (*fsauthctl_tx_pt)(fsauthctl_t *ctl, void *data);

int fsauthctl_redis_tx(fsauthctl_t *ctl, int tries, fsauthctl_tx_pt watch,
    fsauthctl_tx_pt queue, void *data, int *outcome);


/* tokens and digests (token.c) */

int fsauthctl_token_generate(char *token);
int fsauthctl_token_digest(const char *token, size_t len, char *hex);
int fsauthctl_token_valid(const char *token, size_t len);
int fsauthctl_token_print(long long id, char *token, int json,
    const char *more, int *err);


/* key records (store.c) */

typedef struct {
    char               *resource;
    unsigned            mask;
} fsauthctl_grant_t;

typedef struct {
    long long           id;
    char                digest[FSAUTHCTL_DIGEST_LEN + 1];
    char               *nick;          /* "" when absent */
    char               *description;   /* "" when absent */
    char               *creationdate;  /* NULL when absent */
    int                 enabled;
    int                 fullaccess;
    char               *lastactivity;  /* NULL when absent */
    char               *lastip;        /* NULL when absent */
    char               *expires;       /* NULL when absent */
    int                 rotated;       /* an old token in its grace */
    char               *allow_ips;     /* NULL when absent */
    fsauthctl_grant_t  *grants;
    size_t              ngrants;
} fsauthctl_key_t;

int fsauthctl_store_lookup(fsauthctl_t *ctl, long long id, int watch,
    char *digest);
int fsauthctl_store_load(fsauthctl_t *ctl, long long id,
    fsauthctl_key_t *key);
int fsauthctl_store_load_all(fsauthctl_t *ctl, fsauthctl_key_t **keys,
    size_t *nkeys);
void fsauthctl_store_free(fsauthctl_key_t *keys, size_t nkeys);
int fsauthctl_store_digest_valid(const char *s, size_t len);
int fsauthctl_store_scan(fsauthctl_t *ctl, char ***names, size_t *nnames);
int fsauthctl_store_set_field(fsauthctl_t *ctl, long long id,
    const char *field, const char *value, int *existed);
void fsauthctl_store_hset(fsauthctl_t *ctl, fsauthctl_args_t *args,
    const char *digest, const fsauthctl_key_t *key);


/* rows of the FacturaScripts tables (import.c), also read by sync.c */

typedef struct {
    fsauthctl_key_t            key;
    size_t                     index;      /* in api_keys, for messages */
    int                        has_token;
    char                       digest[FSAUTH_HEX_LEN + 1];
    char                       date[11];
} fsauthctl_import_key_t;

typedef struct {
    long long                  id;
    fsauthctl_grant_t          grant;
    size_t                     index;      /* in api_access */
} fsauthctl_import_grant_t;

int fsauthctl_import_key(json_t *obj, fsauthctl_import_key_t *ik);
int fsauthctl_import_grant(json_t *obj, fsauthctl_import_grant_t *g);


/* the FacturaScripts database of "sync" (syncdb.c) */

typedef struct fsauthctl_db_s  fsauthctl_db_t;

int fsauthctl_db_open(const char *url, const char *password_file,
    fsauthctl_db_t **db);
int fsauthctl_db_read(fsauthctl_db_t *db, json_t **keys, json_t **access);
const char *fsauthctl_db_url(fsauthctl_db_t *db);
void fsauthctl_db_disconnect(fsauthctl_db_t *db);
void fsauthctl_db_close(fsauthctl_db_t *db);


/* grants (access.c) */

unsigned fsauthctl_access_parse(const char *list, size_t len);
void fsauthctl_access_format(unsigned mask, char *buf);
int fsauthctl_access_resource_valid(const char *s, size_t len);


/* output (output.c) */

typedef struct {
    int                 ncols;
    size_t              nrows;
    size_t              cap;
    char              **cells;
} fsauthctl_table_t;

void fsauthctl_table_init(fsauthctl_table_t *t, int ncols, ...);
void fsauthctl_table_row(fsauthctl_table_t *t, ...);
void fsauthctl_table_print(fsauthctl_table_t *t);
char *fsauthctl_output_escape(const char *s);
char *fsauthctl_output_time(const char *unix_seconds);
json_t *fsauthctl_json_string(const char *s);
json_t *fsauthctl_json_key(const fsauthctl_key_t *key, int activity);
json_t *fsauthctl_json_grant(const fsauthctl_grant_t *g, const char *idname,
    long long id);
int fsauthctl_json_print(json_t *json);
int fsauthctl_output_result(fsauthctl_call_t *call, json_t *json,
    const char *fmt, ...);


/*
 * The audit trail (audit.c).  A new write (e.g. "sync") calls
 * fsauthctl_audit_set(ctl, "sync", id, "detail %s", ...) before its
 * fsauthctl_redis_tx(), or in its watch or queue step once it knows what
 * it writes: the commit refuses a write without an entry.  Never a token
 * or a digest in the detail.
 */

void fsauthctl_audit_set(fsauthctl_t *ctl, const char *action, long long id,
    const char *fmt, ...);
void fsauthctl_audit_clear(fsauthctl_t *ctl);
int fsauthctl_audit_queue(fsauthctl_t *ctl);
int fsauthctl_audit_xadd(fsauthctl_t *ctl, fsauthctl_args_t *args);
int fsauthctl_audit_check(fsauthctl_t *ctl);
int fsauthctl_audit_actor(fsauthctl_t *ctl);


/* commands: the steps of their table entries (main.c) */

fsauthctl_check_t  fsauthctl_key_create_args, fsauthctl_key_full_access_args,
    fsauthctl_access_grant_args, fsauthctl_access_revoke_args,
    fsauthctl_access_check_args, fsauthctl_import_args, fsauthctl_audit_args,
    fsauthctl_sync_args;

fsauthctl_run_t  fsauthctl_key_create, fsauthctl_key_list, fsauthctl_key_show,
    fsauthctl_key_enable, fsauthctl_key_full_access, fsauthctl_key_rotate,
    fsauthctl_key_delete, fsauthctl_access_grant, fsauthctl_access_revoke,
    fsauthctl_access_list, fsauthctl_access_check, fsauthctl_api,
    fsauthctl_import, fsauthctl_export, fsauthctl_audit, fsauthctl_complete,
    fsauthctl_sync;

fsauthctl_done_t  fsauthctl_import_done;

/* key lifecycle (lifecycle.c) */
fsauthctl_check_t  fsauthctl_key_expire_args;
fsauthctl_run_t  fsauthctl_key_expire;
int fsauthctl_lifecycle_when(const char *s, long long now, long long *at);
int fsauthctl_lifecycle_create_args(fsauthctl_call_t *call);
int fsauthctl_lifecycle_duration(const char *s, long long *secs);

/* old tokens in their grace after a rotation (grace.c) */

#define FSAUTHCTL_NAME_GRACE    "grace:"    /* + id: sorted set */

typedef struct {
    char                digest[FSAUTH_HEX_LEN + 1];
    long long           until;         /* unix seconds: refused from then */
} fsauthctl_old_token_t;

typedef struct {
    fsauthctl_old_token_t  *old;
    size_t                  n;
} fsauthctl_grace_t;

fsauthctl_check_t  fsauthctl_key_rotate_args;
int fsauthctl_grace_read(fsauthctl_t *ctl, long long id, int watch,
    fsauthctl_grace_t *g);
void fsauthctl_grace_free(fsauthctl_grace_t *g);
int fsauthctl_grace_queue_end(fsauthctl_t *ctl, long long id,
    const fsauthctl_grace_t *g);
int fsauthctl_grace_queue_keep(fsauthctl_t *ctl, long long id,
    const fsauthctl_grace_t *g, const char *digest, long long until);
int fsauthctl_grace_queue_field(fsauthctl_t *ctl, long long id,
    const fsauthctl_grace_t *g, const char *field, const char *value);
void fsauthctl_grace_print(const fsauthctl_grace_t *g);
json_t *fsauthctl_grace_json(const fsauthctl_grace_t *g);

/* a key's address list, "allow_ips" (allowips.c) */
fsauthctl_check_t  fsauthctl_key_allow_ips_args;
fsauthctl_run_t  fsauthctl_key_allow_ips;
char *fsauthctl_allowips_check(const char *list);
json_t *fsauthctl_allowips_json(const char *list);
char *fsauthctl_allowips_text(const char *list);

/* the kill switch, as the module reads it (api.c) */
int fsauthctl_api_disabled(fsauthctl_t *ctl, int *disabled);


#endif /* _FSAUTHCTL_H_INCLUDED_ */
