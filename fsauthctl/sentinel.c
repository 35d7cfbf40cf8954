/*
 * Copyright (C) fsauth authors
 * BSD-2-Clause, see LICENSE.
 */


/*
 * fsauthctl --sentinel HOST:PORT[,...] --master NAME: the sentinels are
 * asked in turn which node is the primary of NAME; fsauthctl connects
 * there and writes only after ROLE says "master".  A sentinel that is
 * down, does not know NAME or names a node that is not the primary is
 * passed over; when none names a primary, one line and exit status 2.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "fsauthctl.h"


#define FSAUTHCTL_SENTINEL_PORT     26379
#define FSAUTHCTL_SENTINEL_TIMEOUT  2


static int fsauthctl_sentinel_addr(char *item, char **host, int *port);
static int fsauthctl_sentinel_ask(fsauthctl_t *ctl, const char *host,
    int port, char *why, size_t size);
static int fsauthctl_sentinel_role(fsauthctl_t *ctl, char *why,
    size_t size);


int
fsauthctl_sentinel_connect(fsauthctl_t *ctl)
{
    int    rc, port;
    char  *list, *item, *next, *host;
    char   why[512];

    if (ctl->sentinel_password_file && ctl->sentinel_password == NULL) {
        rc = fsauthctl_read_secret(ctl->sentinel_password_file,
                                   "sentinel password file",
                                   &ctl->sentinel_password);
        if (rc != FSAUTHCTL_OK) {
            return rc;
        }
    }

    list = fsauthctl_alloc(strlen(ctl->sentinel) + 1);
    strcpy(list, ctl->sentinel);

    snprintf(why, sizeof(why), "no sentinel given");

    for (item = list; item; item = next) {
        next = strchr(item, ',');
        if (next) {
            *next++ = '\0';
        }

        if (fsauthctl_sentinel_addr(item, &host, &port) != FSAUTHCTL_OK) {
            snprintf(why, sizeof(why), "bad sentinel address \"%s\"", item);
            continue;
        }

        if (fsauthctl_sentinel_ask(ctl, host, port, why, sizeof(why))
            != FSAUTHCTL_OK)
        {
            continue;
        }

        /* the node named: its own failures are reported as they are */

        rc = fsauthctl_redis_open(ctl);

        if (rc == FSAUTHCTL_OK) {
            rc = fsauthctl_sentinel_role(ctl, why, sizeof(why));
        }

        if (rc == FSAUTHCTL_OK) {
            free(list);
            return FSAUTHCTL_OK;
        }

        fsauthctl_redis_close(ctl);

        if (rc != FSAUTHCTL_ERROR) {
            free(list);
            return rc;
        }

        /* a replica, or a node not promoted yet: the next sentinel */
    }

    fsauthctl_error("no sentinel named the primary of \"%s\" (last: %s)",
                    ctl->master, why);

    free(list);

    return FSAUTHCTL_UNAVAILABLE;
}


/* "HOST:PORT", "[IPv6]:PORT", "HOST" (port 26379); item is modified */

static int
fsauthctl_sentinel_addr(char *item, char **host, int *port)
{
    long   n;
    char  *colon;

    *port = FSAUTHCTL_SENTINEL_PORT;

    if (item[0] == '[') {
        *host = item + 1;
        colon = strchr(item, ']');
        if (colon == NULL) {
            return FSAUTHCTL_ERROR;
        }

        *colon++ = '\0';

        if (*colon == '\0') {
            return **host ? FSAUTHCTL_OK : FSAUTHCTL_ERROR;
        }

        if (*colon != ':') {
            return FSAUTHCTL_ERROR;
        }

    } else {
        *host = item;
        colon = strrchr(item, ':');

        if (colon == NULL) {
            return **host ? FSAUTHCTL_OK : FSAUTHCTL_ERROR;
        }

        *colon = '\0';
    }

    if (**host == '\0'
        || fsauthctl_parse_long(colon + 1, 1, 65535, &n) != FSAUTHCTL_OK)
    {
        return FSAUTHCTL_ERROR;
    }

    *port = (int) n;

    return FSAUTHCTL_OK;
}


/*
 * SENTINEL get-master-addr-by-name; on success ctl->host and ctl->port
 * are the node named.  FSAUTHCTL_ERROR: no answer, why says so.
 */

static int
fsauthctl_sentinel_ask(fsauthctl_t *ctl, const char *host, int port,
    char *why, size_t size)
{
    int             rc;
    long            n;
    redisReply     *r;
    redisContext   *c;
    struct timeval  tv;
    char            tls_why[256];
    static char     primary[64];

    tv.tv_sec = FSAUTHCTL_SENTINEL_TIMEOUT;
    tv.tv_usec = 0;

    c = redisConnectWithTimeout(host, port, tv);

    if (c == NULL || c->err) {
        snprintf(why, size, "sentinel %s:%d: %s", host, port,
                 c ? c->errstr : "out of memory");
        if (c) {
            redisFree(c);
        }

        return FSAUTHCTL_ERROR;
    }

    redisSetTimeout(c, tv);

    /* --tls covers the sentinels too; their names are checked the same */

    ctl->host = host;
    ctl->port = port;

    snprintf(tls_why, sizeof(tls_why), "TLS failed");

    if (fsauthctl_secure_tls(ctl, c, tls_why, sizeof(tls_why))
        != FSAUTHCTL_OK)
    {
        snprintf(why, size, "sentinel %s:%d: %s", host, port, tls_why);
        redisFree(c);
        return FSAUTHCTL_ERROR;
    }

    rc = FSAUTHCTL_ERROR;

    if (ctl->sentinel_password) {

        /* --sentinel-user: an ACL user of the sentinels */

        if (ctl->sentinel_user) {
            r = redisCommand(c, "AUTH %s %b", ctl->sentinel_user,
                             ctl->sentinel_password,
                             strlen(ctl->sentinel_password));

        } else {
            r = redisCommand(c, "AUTH %b", ctl->sentinel_password,
                             strlen(ctl->sentinel_password));
        }

        if (r == NULL || r->type == REDIS_REPLY_ERROR) {
            snprintf(why, size, "sentinel %s:%d: AUTH failed: %s", host,
                     port, r ? r->str : c->errstr);
            goto done;
        }

        freeReplyObject(r);
    }

    r = redisCommand(c, "SENTINEL get-master-addr-by-name %s", ctl->master);

    if (r == NULL) {
        snprintf(why, size, "sentinel %s:%d: %s", host, port, c->errstr);
        goto done;
    }

    if (r->type == REDIS_REPLY_ARRAY && r->elements == 2
        && r->element[0]->type == REDIS_REPLY_STRING
        && r->element[1]->type == REDIS_REPLY_STRING
        && r->element[0]->len > 0 && r->element[0]->len < sizeof(primary)
        && fsauthctl_parse_long(r->element[1]->str, 1, 65535, &n)
           == FSAUTHCTL_OK)
    {
        memcpy(primary, r->element[0]->str, r->element[0]->len);
        primary[r->element[0]->len] = '\0';

        ctl->host = primary;
        ctl->port = (int) n;

        snprintf(why, size, "sentinel %.64s:%d named %s:%d", host, port,
                 primary, ctl->port);
        rc = FSAUTHCTL_OK;

    } else if (r->type == REDIS_REPLY_NIL) {
        snprintf(why, size, "sentinel %s:%d does not know \"%s\"", host,
                 port, ctl->master);

    } else {
        snprintf(why, size, "sentinel %s:%d: unexpected reply%s%.100s",
                 host, port, r->type == REDIS_REPLY_ERROR ? ": " : "",
                 r->type == REDIS_REPLY_ERROR ? r->str : "");
    }

done:

    if (r) {
        freeReplyObject(r);
    }

    redisFree(c);

    return rc;
}


/* FSAUTHCTL_ERROR: the node is not the primary; why says what it is */

static int
fsauthctl_sentinel_role(fsauthctl_t *ctl, char *why, size_t size)
{
    int          rc;
    size_t       len;
    redisReply  *r, *role;

    rc = fsauthctl_redis_call(ctl, &r, "ROLE", NULL);
    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    role = (r->type == REDIS_REPLY_ARRAY && r->elements > 0
            && r->element[0]->type == REDIS_REPLY_STRING)
           ? r->element[0] : NULL;

    if (role && role->len == 6 && memcmp(role->str, "master", 6) == 0) {
        freeReplyObject(r);
        return FSAUTHCTL_OK;
    }

    len = strlen(why);

    snprintf(why + len, size - len, ", whose role is \"%.20s\"",
             role ? role->str : "unknown");

    freeReplyObject(r);

    return FSAUTHCTL_ERROR;
}
