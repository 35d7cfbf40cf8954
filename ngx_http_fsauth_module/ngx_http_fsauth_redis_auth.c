
/*
 * Copyright (C) fsauth authors
 * BSD-2-Clause, see LICENSE.
 */


/*
 * AUTH on every new Redis connection (data nodes and sentinels, each with
 * their own user and password): "AUTH password" for requirepass, "AUTH
 * user password" for an ACL user, and the one line that says a data node
 * refused it.
 */


#include "ngx_http_fsauth_module.h"
#include "ngx_http_fsauth_redis.h"


int
ngx_http_fsauth_redis_auth(redisAsyncContext *ac, ngx_str_t *user,
    ngx_str_t *password, redisCallbackFn *fn, void *privdata)
{
    int          n;
    const char  *argv[3];
    size_t       argvlen[3];

    n = 0;

    argv[n] = "AUTH";
    argvlen[n++] = 4;

    if (user->len) {
        argv[n] = (char *) user->data;
        argvlen[n++] = user->len;
    }

    argv[n] = (char *) password->data;
    argvlen[n++] = password->len;

    return redisAsyncCommandArgv(ac, fn, privdata, n, argv, argvlen);
}


/*
 * An error reply to AUTH or SELECT: one line per worker until Redis
 * answers again, naming the address and the user, never the password.
 * Requests meanwhile get the outage policy, as for any unreachable Redis.
 */

void
ngx_http_fsauth_redis_refused(ngx_http_fsauth_conn_t *conn, char *cmd,
    redisReply *rr)
{
    ngx_str_t                      user;
    ngx_http_fsauth_redis_conf_t  *rcf;

    if (conn->peer->refused_logged) {
        return;
    }

    conn->peer->refused_logged = 1;
    rcf = conn->peer->conf;

    if (rcf->user.len) {
        user = rcf->user;

    } else {
        ngx_str_set(&user, "default");
    }

    ngx_log_error(NGX_LOG_ERR, conn->peer->log, 0,
                  "fsauth: redis %s failed at \"%V\" as user \"%V\": %*s",
                  cmd, &rcf->addr_text, &user,
                  (size_t) ngx_min(rr->len, 200), rr->str);
}
