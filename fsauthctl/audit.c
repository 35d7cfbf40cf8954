
/*
 * Copyright (C) fsauth authors
 * BSD-2-Clause, see LICENSE.
 */


/*
 * fsauthctl: the audit trail, the Redis stream <prefix>audit.
 *
 * Every write transaction carries one entry, XADDed between MULTI and
 * EXEC: the entry exists exactly when the change does.  A write sets its
 * entry with fsauthctl_audit_set() before fsauthctl_redis_tx() runs (or in
 * its watch or queue step, once it knows the id); the commit refuses a
 * write without one, so that no write of fsauthctl goes unrecorded.
 * Entries name keys by id, never by token or digest.
 */

#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fsauthctl.h"


#define FSAUTHCTL_AUDIT_NAME  "audit"


static int fsauthctl_audit_since(const char *s, long long *t);
static int fsauthctl_audit_print(redisReply *entries, int json,
    long long since);


void
fsauthctl_audit_set(fsauthctl_t *ctl, const char *action, long long id,
    const char *fmt, ...)
{
    va_list  ap;

    free(ctl->audit.detail);

    va_start(ap, fmt);
    ctl->audit.detail = fsauthctl_vsprintf(fmt, ap);
    va_end(ap);

    ctl->audit.action = action;
    ctl->audit.id = id;
}


void
fsauthctl_audit_clear(fsauthctl_t *ctl)
{
    free(ctl->audit.detail);
    ctl->audit.detail = NULL;
    ctl->audit.action = NULL;
    ctl->audit.id = 0;
}


/* the actor of the entries: --actor, or user@host */

int
fsauthctl_audit_actor(fsauthctl_t *ctl)
{
    char            host[256];
    static char     actor[512];
    struct passwd  *pw;

    if (ctl->actor) {
        if (ctl->actor[0] == '\0'
            || !fsauthctl_text_valid(ctl->actor, strlen(ctl->actor)))
        {
            return fsauthctl_error("--actor: empty, or " FSAUTHCTL_TEXT_RULE);
        }

        return FSAUTHCTL_OK;
    }

    if (gethostname(host, sizeof(host)) != 0) {
        strcpy(host, "unknown");
    }

    host[sizeof(host) - 1] = '\0';

    pw = getpwuid(getuid());

    if (pw && pw->pw_name[0]) {
        snprintf(actor, sizeof(actor), "%s@%s", pw->pw_name, host);

    } else {
        snprintf(actor, sizeof(actor), "uid%u@%s", (unsigned) getuid(), host);
    }

    ctl->actor = actor;

    return FSAUTHCTL_OK;
}


/*
 * Once per run, before the first write: EXEC does not roll back, so an
 * XADD failing there (<prefix>audit written by hand as something else
 * than a stream) would leave a change without its entry.  Nothing is
 * written then.
 */

int
fsauthctl_audit_check(fsauthctl_t *ctl)
{
    int          rc, ok;
    char        *name;
    redisReply  *reply;

    if (ctl->audit_checked) {
        return FSAUTHCTL_OK;
    }

    name = fsauthctl_name(ctl, FSAUTHCTL_AUDIT_NAME);
    rc = fsauthctl_redis_call(ctl, &reply, "TYPE", name, NULL);

    if (rc != FSAUTHCTL_OK) {
        free(name);
        return rc;
    }

    ok = (reply->type == REDIS_REPLY_STATUS
          && (strcmp(reply->str, "stream") == 0
              || strcmp(reply->str, "none") == 0));
    freeReplyObject(reply);

    if (!ok) {
        rc = fsauthctl_error("%s is not a stream: the audit trail cannot be "
                             "written, nothing written", name);
        free(name);
        return rc;
    }

    free(name);
    ctl->audit_checked = 1;

    return FSAUTHCTL_OK;
}


/* queued by the commit: XADD <prefix>audit MAXLEN ~ N * time ... */

int
fsauthctl_audit_queue(fsauthctl_t *ctl)
{
    int                rc;
    fsauthctl_args_t   args;

    rc = fsauthctl_audit_xadd(ctl, &args);

    if (rc != FSAUTHCTL_OK) {
        (void) redisCommand(ctl->redis, "DISCARD");
        return rc;
    }

    rc = fsauthctl_redis_queue(ctl, &args);

    fsauthctl_args_free(&args);

    return rc;
}


/*
 * The XADD of the entry set with fsauthctl_audit_set(), in args, for a
 * caller that sends its own MULTI/EXEC pipeline ("sync" writes many keys
 * in one); the caller frees args.
 */

int
fsauthctl_audit_xadd(fsauthctl_t *ctl, fsauthctl_args_t *args)
{
    int  rc;

    if (ctl->audit.action == NULL) {
        return fsauthctl_error("internal error: a write without an audit "
                               "entry, nothing written");
    }

    if (ctl->actor == NULL) {
        rc = fsauthctl_audit_actor(ctl);
        if (rc != FSAUTHCTL_OK) {
            return rc;
        }
    }

    fsauthctl_args_init(args);
    fsauthctl_args_add(args, "XADD", 4);
    fsauthctl_args_add_name(args, fsauthctl_name(ctl, FSAUTHCTL_AUDIT_NAME));
    fsauthctl_args_add(args, "MAXLEN", 6);
    fsauthctl_args_add(args, "~", 1);
    fsauthctl_args_add(args, FSAUTHCTL_AUDIT_MAXLEN,
                       sizeof(FSAUTHCTL_AUDIT_MAXLEN) - 1);
    fsauthctl_args_add(args, "*", 1);
    fsauthctl_args_add(args, "time", 4);
    fsauthctl_args_addf(args, "%lld", (long long) time(NULL));
    fsauthctl_args_add(args, "actor", 5);
    fsauthctl_args_add(args, ctl->actor, strlen(ctl->actor));
    fsauthctl_args_add(args, "action", 6);
    fsauthctl_args_add(args, ctl->audit.action, strlen(ctl->audit.action));
    fsauthctl_args_add(args, "id", 2);

    if (ctl->audit.id) {
        fsauthctl_args_addf(args, "%lld", ctl->audit.id);

    } else {
        fsauthctl_args_add(args, "", 0);
    }

    fsauthctl_args_add(args, "detail", 6);
    fsauthctl_args_add(args, ctl->audit.detail, strlen(ctl->audit.detail));

    return FSAUTHCTL_OK;
}


/* --since T: a unix time, a date (UTC) or a duration back from now */

int
fsauthctl_audit_args(fsauthctl_call_t *call)
{
    long long  t;

    if (call->since && fsauthctl_audit_since(call->since, &t) != FSAUTHCTL_OK)
    {
        return fsauthctl_opt_usage(call->cmd, "invalid --since \"%s\" "
                                   "(a unix time, YYYY-MM-DD[THH:MM[:SS]] "
                                   "or a duration such as 90s, 15m, 1h, "
                                   "7d)", call->since);
    }

    return FSAUTHCTL_OK;
}


static int
fsauthctl_audit_since(const char *s, long long *t)
{
    int          h, m, sec, n;
    char         date[11], *end;
    size_t       len;
    long long    v;
    struct tm    tm;
    const char  *unit;

    static const char       units[] = "smhdw";
    static const long long  seconds[] = { 1, 60, 3600, 86400, 604800 };

    len = strlen(s);

    if (len == 0) {
        return FSAUTHCTL_ERROR;
    }

    /* a unix time */

    if (fsauthctl_parse_id(s, len, &v) == FSAUTHCTL_OK || strcmp(s, "0") == 0)
    {
        *t = (s[0] == '0') ? 0 : v;
        return FSAUTHCTL_OK;
    }

    /* a duration: digits then s, m, h, d or w */

    if (len > 1 && fsauthctl_parse_id(s, len - 1, &v) == FSAUTHCTL_OK) {
        unit = strchr(units, s[len - 1]);

        if (unit == NULL || v > 100LL * 366 * 86400) {
            return FSAUTHCTL_ERROR;
        }

        *t = (long long) time(NULL) - v * seconds[unit - units];
        return FSAUTHCTL_OK;
    }

    /* YYYY-MM-DD, then maybe THH:MM[:SS][Z] or " HH:MM[:SS]", in UTC */

    if (len < 10 || s[4] != '-'
        || fsauthctl_parse_date(s, date) != FSAUTHCTL_OK)
    {
        return FSAUTHCTL_ERROR;
    }

    h = 0;
    m = 0;
    sec = 0;

    if (len > 10) {
        n = 0;

        if (sscanf(s + 11, "%2d:%2d%n", &h, &m, &n) != 2 || n != 5) {
            return FSAUTHCTL_ERROR;
        }

        end = (char *) s + 16;

        if (*end == ':') {
            n = 0;

            if (sscanf(end + 1, "%2d%n", &sec, &n) != 1 || n != 2) {
                return FSAUTHCTL_ERROR;
            }

            end += 3;
        }

        if (*end == 'Z') {
            end++;
        }

        if (*end != '\0' || h > 23 || m > 59 || sec > 59 || h < 0 || m < 0
            || sec < 0)
        {
            return FSAUTHCTL_ERROR;
        }
    }

    memset(&tm, 0, sizeof(struct tm));
    tm.tm_year = atoi(date) - 1900;
    tm.tm_mon = atoi(date + 5) - 1;
    tm.tm_mday = atoi(date + 8);
    tm.tm_hour = h;
    tm.tm_min = m;
    tm.tm_sec = sec;

    *t = (long long) timegm(&tm);

    return FSAUTHCTL_OK;
}


/* "fsauthctl audit [--since T] [--json]" */

int
fsauthctl_audit(fsauthctl_t *ctl, fsauthctl_call_t *call)
{
    int          rc;
    char         start[32], *name;
    long long    t;
    redisReply  *reply;

    strcpy(start, "-");
    t = -1;

    if (call->since) {
        (void) fsauthctl_audit_since(call->since, &t);

        /* stream ids are milliseconds */
        snprintf(start, sizeof(start), "%lld", t < 0 ? 0 : t * 1000);
    }

    name = fsauthctl_name(ctl, FSAUTHCTL_AUDIT_NAME);
    rc = fsauthctl_redis_call(ctl, &reply, "XRANGE", name, start, "+", NULL);
    free(name);

    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    if (reply->type != REDIS_REPLY_ARRAY) {
        freeReplyObject(reply);
        return fsauthctl_error("unexpected reply to XRANGE");
    }

    rc = fsauthctl_audit_print(reply, call->json, t);
    freeReplyObject(reply);

    return rc;
}


/*
 * Entries as a table or a JSON array, oldest first.  The stream id is
 * Redis's clock at EXEC, "time" fsauthctl's a moment earlier: an entry
 * whose "time" is before "since" (-1: none) is left out, so that --since
 * agrees with the times shown.
 */

static int
fsauthctl_audit_print(redisReply *entries, int json, long long since)
{
    int                 rc;
    size_t              i, j, k;
    char               *cells[5], *esc[5];
    json_t             *arr, *obj;
    long long           n;
    redisReply         *fields, *f;
    fsauthctl_table_t   table;
    static const char  *names[] = { "time", "actor", "action", "id",
                                    "detail" };

    arr = NULL;

    if (json) {
        arr = json_array();

    } else {
        fsauthctl_table_init(&table, 5, "TIME", "ACTOR", "ACTION", "ID",
                             "DETAIL");
    }

    for (i = 0; i < entries->elements; i++) {
        if (entries->element[i]->type != REDIS_REPLY_ARRAY
            || entries->element[i]->elements != 2)
        {
            continue;
        }

        fields = entries->element[i]->element[1];

        for (k = 0; k < 5; k++) {
            cells[k] = "";
        }

        for (j = 0; fields->type == REDIS_REPLY_ARRAY
                    && j + 1 < fields->elements; j += 2)
        {
            f = fields->element[j];

            for (k = 0; k < 5; k++) {
                if (f->type == REDIS_REPLY_STRING
                    && strcmp(f->str, names[k]) == 0
                    && fields->element[j + 1]->type == REDIS_REPLY_STRING)
                {
                    cells[k] = fields->element[j + 1]->str;
                }
            }
        }

        if (since >= 0
            && (fsauthctl_parse_id(cells[0], strlen(cells[0]), &n)
                != FSAUTHCTL_OK || n < since))
        {
            continue;
        }

        if (json) {
            obj = json_object();

            for (k = 0; k < 5; k++) {
                if ((k == 0 || k == 3)
                    && fsauthctl_parse_id(cells[k], strlen(cells[k]), &n)
                       == FSAUTHCTL_OK)
                {
                    json_object_set_new(obj, names[k], json_integer(n));

                } else if (k == 3 && cells[k][0] == '\0') {
                    json_object_set_new(obj, names[k], json_null());

                } else {
                    json_object_set_new(obj, names[k],
                                        fsauthctl_json_string(cells[k]));
                }
            }

            json_array_append_new(arr, obj);
            continue;
        }

        esc[0] = fsauthctl_output_time(cells[0][0] ? cells[0] : NULL);

        for (k = 1; k < 5; k++) {
            esc[k] = fsauthctl_output_escape(cells[k]);
        }

        fsauthctl_table_row(&table, esc[0], esc[1], esc[2], esc[3], esc[4]);

        for (k = 0; k < 5; k++) {
            free(esc[k]);
        }
    }

    rc = FSAUTHCTL_OK;

    if (json) {
        rc = fsauthctl_json_print(arr);
        json_decref(arr);

    } else {
        fsauthctl_table_print(&table);
    }

    return rc;
}
