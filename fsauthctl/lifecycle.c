
/*
 * Copyright (C) fsauth authors
 * BSD-2-Clause, see LICENSE.
 */


/*
 * fsauthctl: the life of a key beyond its flags, "expires" (unix
 * seconds): "key create --expires" and "key expire".
 */

#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE         /* timegm() */
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fsauthctl.h"


/* a duration or an expiry at most this far ahead: 100 years */
#define FSAUTHCTL_WHEN_MAX  (100LL * 366 * 86400)


static int fsauthctl_lifecycle_date(const char *s, long long *at);


/*
 * DATE or DURATION as unix seconds: "2027-01-31" (00:00:00 UTC of that
 * day), "2027-01-31T12:00:00Z" (UTC), or a duration from now such as
 * "90d", "12h", "1w2d", "30m", "45s".  Nothing else is read: a bare
 * number could be a duration without its unit.
 */

int
fsauthctl_lifecycle_when(const char *s, long long now, long long *at)
{
    long long  secs;

    if (fsauthctl_lifecycle_date(s, at) == FSAUTHCTL_OK) {
        return (*at > 0 && *at - now <= FSAUTHCTL_WHEN_MAX)
               ? FSAUTHCTL_OK : FSAUTHCTL_ERROR;
    }

    if (fsauthctl_lifecycle_duration(s, &secs) != FSAUTHCTL_OK) {
        return FSAUTHCTL_ERROR;
    }

    *at = now + secs;

    return FSAUTHCTL_OK;
}


/* one or more NUMBER UNIT groups, units s m h d w; more than 0 s */

int
fsauthctl_lifecycle_duration(const char *s, long long *secs)
{
    long long  n, unit, total;

    total = 0;

    if (*s == '\0') {
        return FSAUTHCTL_ERROR;
    }

    while (*s) {
        if (*s < '0' || *s > '9') {
            return FSAUTHCTL_ERROR;
        }

        n = 0;

        while (*s >= '0' && *s <= '9') {
            n = n * 10 + (*s++ - '0');

            if (n > FSAUTHCTL_WHEN_MAX) {
                return FSAUTHCTL_ERROR;
            }
        }

        switch (*s++) {
        case 's': unit = 1; break;
        case 'm': unit = 60; break;
        case 'h': unit = 3600; break;
        case 'd': unit = 86400; break;
        case 'w': unit = 7 * 86400; break;
        default:
            return FSAUTHCTL_ERROR;
        }

        total += n * unit;

        if (total > FSAUTHCTL_WHEN_MAX) {
            return FSAUTHCTL_ERROR;
        }
    }

    if (total == 0) {
        return FSAUTHCTL_ERROR;
    }

    *secs = total;

    return FSAUTHCTL_OK;
}


/* "YYYY-MM-DD" or "YYYY-MM-DDTHH:MM:SSZ", a day and time that exist */

static int
fsauthctl_lifecycle_date(const char *s, long long *at)
{
    int         n;
    char        z;
    time_t      t;
    size_t      len;
    struct tm   tm, back;

    memset(&tm, 0, sizeof(struct tm));
    len = strlen(s);
    n = 0;
    z = 0;

    if (len == 10) {
        if (sscanf(s, "%4d-%2d-%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                   &n) != 3 || n != 10)
        {
            return FSAUTHCTL_ERROR;
        }

    } else if (len == 20) {
        if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%c%n", &tm.tm_year, &tm.tm_mon,
                   &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &z, &n)
            != 7 || n != 20 || z != 'Z')
        {
            return FSAUTHCTL_ERROR;
        }

    } else {
        return FSAUTHCTL_ERROR;
    }

    /* sscanf() takes signs and spaces: only digits where digits go */

    for (n = 0; s[n]; n++) {
        if (n == 4 || n == 7 || n == 10 || n == 13 || n == 16 || n == 19) {
            continue;
        }

        if (s[n] < '0' || s[n] > '9') {
            return FSAUTHCTL_ERROR;
        }
    }

    if (s[4] != '-' || s[7] != '-') {
        return FSAUTHCTL_ERROR;
    }

    if (len == 20 && (s[13] != ':' || s[16] != ':')) {
        return FSAUTHCTL_ERROR;
    }

    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    back = tm;

    t = timegm(&tm);

    /* timegm() normalizes 2023-02-29 to March 1st: refused */

    if (t == (time_t) -1 || tm.tm_year != back.tm_year
        || tm.tm_mon != back.tm_mon || tm.tm_mday != back.tm_mday
        || tm.tm_hour != back.tm_hour || tm.tm_min != back.tm_min
        || tm.tm_sec != back.tm_sec)
    {
        return FSAUTHCTL_ERROR;
    }

    *at = (long long) t;

    return FSAUTHCTL_OK;
}


/* "key expire ID DATE|DURATION|never": checked before connecting */

int
fsauthctl_key_expire_args(fsauthctl_call_t *call)
{
    long long  at;

    if (strcmp(call->pos[1], "never") == 0) {
        call->expires_at = 0;
        return FSAUTHCTL_OK;
    }

    if (fsauthctl_lifecycle_when(call->pos[1], (long long) time(NULL), &at)
        != FSAUTHCTL_OK)
    {
        return fsauthctl_opt_usage(call->cmd, "invalid expiry \"%s\" "
                                   "(DATE, DURATION or never)",
                                   call->pos[1]);
    }

    call->expires_at = at;

    return FSAUTHCTL_OK;
}


int
fsauthctl_key_expire(fsauthctl_t *ctl, fsauthctl_call_t *call)
{
    int     rc, existed;
    char    value[24], *when;
    json_t  *json;

    if (call->expires_at == 0) {
        fsauthctl_audit_set(ctl, "key.expire", call->id, "never");

        rc = fsauthctl_store_set_field(ctl, call->id, "expires", NULL,
                                       &existed);
        if (rc != FSAUTHCTL_OK) {
            return rc;
        }

        return fsauthctl_output_result(call,
                                       json_pack("{s:I, s:n}",
                                                 "id", (json_int_t) call->id,
                                                 "expires"),
                                       "key %lld: never expires\n",
                                       call->id);
    }

    snprintf(value, sizeof(value), "%lld", call->expires_at);
    when = fsauthctl_output_time(value);

    fsauthctl_audit_set(ctl, "key.expire", call->id, "%s", when);

    rc = fsauthctl_store_set_field(ctl, call->id, "expires", value,
                                   &existed);

    if (rc == FSAUTHCTL_OK) {
        json = json_pack("{s:I, s:I}", "id", (json_int_t) call->id,
                         "expires", (json_int_t) call->expires_at);
        rc = fsauthctl_output_result(call, json, "key %lld: expires %s\n",
                                     call->id, when);
    }

    free(when);

    return rc;
}


/* "key create --expires": a time still to come */

int
fsauthctl_lifecycle_create_args(fsauthctl_call_t *call)
{
    long long  now;

    if (call->expires == NULL) {
        return FSAUTHCTL_OK;
    }

    now = (long long) time(NULL);

    if (fsauthctl_lifecycle_when(call->expires, now, &call->expires_at)
        != FSAUTHCTL_OK)
    {
        return fsauthctl_opt_usage(call->cmd, "--expires: invalid expiry "
                                   "\"%s\" (DATE or DURATION)",
                                   call->expires);
    }

    if (call->expires_at <= now) {
        return fsauthctl_opt_usage(call->cmd, "--expires: \"%s\" is past",
                                   call->expires);
    }

    return FSAUTHCTL_OK;
}
