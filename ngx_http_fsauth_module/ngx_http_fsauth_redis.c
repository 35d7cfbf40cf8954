
/*
 * Copyright (C) fsauth authors
 * BSD-2-Clause, see LICENSE.
 */


#include "ngx_http_fsauth_module.h"
#include "ngx_http_fsauth_redis.h"


#define NGX_HTTP_FSAUTH_BACKOFF_MIN       50
/* with jitter, a retry comes at most 800 ms after the last one: recovery
 * within 1 s of Redis returning */
#define NGX_HTTP_FSAUTH_BACKOFF_MAX       800
#define NGX_HTTP_FSAUTH_POLL_INTERVAL     1000
#define NGX_HTTP_FSAUTH_INFLIGHT_MAX      8192


static void ngx_http_fsauth_conn_init(ngx_http_fsauth_peer_t *peer,
    ngx_http_fsauth_conn_t *conn, ngx_uint_t kind, ngx_log_t *log);
static void ngx_http_fsauth_conn_connect(ngx_http_fsauth_conn_t *conn);
static void ngx_http_fsauth_conn_reset(ngx_http_fsauth_conn_t *conn,
    const char *reason);
static void ngx_http_fsauth_conn_schedule(ngx_http_fsauth_conn_t *conn);
static void ngx_http_fsauth_conn_ready(ngx_http_fsauth_conn_t *conn);
static void ngx_http_fsauth_conn_free(ngx_http_fsauth_conn_t *conn);
static void ngx_http_fsauth_conn_lost(ngx_http_fsauth_conn_t *conn);
static void ngx_http_fsauth_conn_restart(ngx_http_fsauth_conn_t *conn);
static void ngx_http_fsauth_conn_retry_handler(ngx_event_t *ev);
static void ngx_http_fsauth_redis_apart_free(ngx_http_fsauth_builder_t *b);
static void ngx_http_fsauth_conn_deadline_handler(ngx_event_t *ev);
static ngx_http_fsauth_conn_t *ngx_http_fsauth_conn_current(
    const redisAsyncContext *ac);
static ngx_http_fsauth_conn_t *ngx_http_fsauth_conn_reply(
    const redisAsyncContext *ac, redisReply *rr);
static void ngx_http_fsauth_conn_connected(const redisAsyncContext *ac,
    int status);
static void ngx_http_fsauth_conn_disconnected(const redisAsyncContext *ac,
    int status);
static redisCallbackFn  ngx_http_fsauth_conn_handshake_cb;
static redisCallbackFn  ngx_http_fsauth_conn_role_cb;
static void ngx_http_fsauth_conn_replica_role(ngx_http_fsauth_conn_t *conn,
    redisReply *rr);
static redisCallbackFn  ngx_http_fsauth_tracking_id_cb;
static redisCallbackFn  ngx_http_fsauth_tracking_on_cb;
static redisCallbackFn  ngx_http_fsauth_tracking_message_cb;
static redisCallbackFn  ngx_http_fsauth_redis_api_cb;
static redisCallbackFn  ngx_http_fsauth_redis_record_cb;
static ngx_http_fsauth_conn_t *ngx_http_fsauth_tracking_reply(
    const redisAsyncContext *ac, redisReply *rr, const char *cmd);
static ngx_uint_t ngx_http_fsauth_tracking_final(u_char *err, size_t len);
static void ngx_http_fsauth_tracking_refused(ngx_http_fsauth_conn_t *conn,
    const char *cmd, u_char *err, size_t len);
static void ngx_http_fsauth_tracking_invalidate(ngx_http_fsauth_peer_t *peer,
    redisReply *key);
static void ngx_http_fsauth_redis_poll_handler(ngx_event_t *ev);
static ngx_int_t ngx_http_fsauth_redis_api_query(
    ngx_http_fsauth_peer_t *peer);
static int ngx_http_fsauth_redis_command2(redisAsyncContext *ac,
    redisCallbackFn *fn, char *cmd, char *arg, size_t len);


/* a record read into objects (a replica's reply, an error) is built here */
static ngx_http_fsauth_builder_t  ngx_http_fsauth_redis_apart;


/*
 * fsauth_redis host:port | unix:/path | sentinel=HOST:PORT[,...] master=NAME
 *              [read=primary|replica] [prefer_replica=HOST:PORT]
 *              [sentinel_password_file=PATH] [sentinel_user=NAME]
 *              [db=N] [password_file=PATH]
 *              [user=NAME] [prefix=S] [connect_timeout=T] [timeout=T]
 *              [tls=on|off] [tls_*=...];
 */

char *
ngx_http_fsauth_redis_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_fsauth_main_conf_t *fmcf = conf;

    char                          *rv;
    ngx_int_t                      n, rc;
    ngx_str_t                     *value, s;
    ngx_msec_t                    *msp;
    ngx_url_t                      u;
    ngx_uint_t                     i;
    ngx_http_fsauth_redis_conf_t  *rcf;

    if (fmcf->redis) {
        return "is duplicate";
    }

    value = cf->args->elts;

    rcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_fsauth_redis_conf_t));
    if (rcf == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_str_set(&rcf->prefix, "fsauth:");
    rcf->connect_timeout = 1000;
    rcf->timeout = 500;

    if (ngx_strncmp(value[1].data, "sentinel=", 9) == 0) {
        rv = ngx_http_fsauth_sentinel_directive(cf, rcf);
        if (rv != NGX_CONF_OK) {
            return rv;
        }

        goto options;
    }

    ngx_memzero(&u, sizeof(ngx_url_t));

    u.url = value[1];
    u.default_port = 6379;

    /* resolved here, never at run time */

    if (ngx_parse_url(cf->pool, &u) != NGX_OK) {
        if (u.err) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "%s in \"%V\" of fsauth_redis",
                               u.err, &u.url);
        }

        return NGX_CONF_ERROR;
    }

    if (u.naddrs == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "no address for \"%V\" in fsauth_redis", &u.url);
        return NGX_CONF_ERROR;
    }

    rcf->addr_text = value[1];

    /* a name may resolve to several addresses: each is tried in turn */

    rcf->naddrs = u.naddrs;
    rcf->addrs = ngx_pcalloc(cf->pool,
                             u.naddrs * sizeof(ngx_http_fsauth_redis_addr_t));
    if (rcf->addrs == NULL) {
        return NGX_CONF_ERROR;
    }

    for (i = 0; i < u.naddrs; i++) {
        if (ngx_http_fsauth_redis_addr(cf, &u.addrs[i], &rcf->addrs[i])
            != NGX_OK)
        {
            return NGX_CONF_ERROR;
        }
    }

options:

    for (i = 2; i < cf->args->nelts; i++) {

        if (rcf->nsentinels) {
            rc = ngx_http_fsauth_sentinel_param(cf, rcf, &value[i]);

            if (rc == NGX_ERROR) {
                return NGX_CONF_ERROR;
            }

            if (rc == NGX_OK) {
                continue;
            }
        }

        /* a replica to read from is one the sentinels name; their AUTH */

        if (ngx_strncmp(value[i].data, "read=", 5) == 0
            || ngx_strncmp(value[i].data, "prefer_replica=", 15) == 0
            || ngx_strncmp(value[i].data, "sentinel_user=", 14) == 0
            || ngx_strncmp(value[i].data, "sentinel_password_file=", 23)
               == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "fsauth_redis: \"%V\" needs \"sentinel=\"",
                               &value[i]);
            return NGX_CONF_ERROR;
        }

        if (ngx_strncmp(value[i].data, "db=", 3) == 0) {
            n = ngx_atoi(value[i].data + 3, value[i].len - 3);
            if (n == NGX_ERROR) {
                goto invalid;
            }

            rcf->db = n;
            continue;
        }

        if (ngx_strncmp(value[i].data, "password_file=", 14) == 0) {
            s.data = value[i].data + 14;
            s.len = value[i].len - 14;

            if (ngx_http_fsauth_redis_password(cf, &s, &rcf->password)
                != NGX_OK)
            {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "user=", 5) == 0) {
            rcf->user.data = value[i].data + 5;
            rcf->user.len = value[i].len - 5;

            if (rcf->user.len == 0) {
                goto invalid;
            }

            continue;
        }

        rc = ngx_http_fsauth_tls_param(cf, rcf, &value[i]);

        if (rc == NGX_ERROR) {
            return NGX_CONF_ERROR;
        }

        if (rc == NGX_OK) {
            continue;
        }

        if (ngx_strncmp(value[i].data, "prefix=", 7) == 0) {
            rcf->prefix.data = value[i].data + 7;
            rcf->prefix.len = value[i].len - 7;

            /* key names are built in fixed buffers */

            if (rcf->prefix.len == 0
                || rcf->prefix.len > NGX_HTTP_FSAUTH_PREFIX_MAX)
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "fsauth_redis: prefix must be 1 to 200 "
                                   "bytes");
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "connect_timeout=", 16) == 0) {
            s.data = value[i].data + 16;
            msp = &rcf->connect_timeout;

        } else if (ngx_strncmp(value[i].data, "timeout=", 8) == 0) {
            s.data = value[i].data + 8;
            msp = &rcf->timeout;

        } else {
            goto invalid;
        }

        s.len = value[i].data + value[i].len - s.data;

        *msp = ngx_parse_time(&s, 0);
        if (*msp == (ngx_msec_t) NGX_ERROR || *msp == 0) {
            goto invalid;
        }
    }

    if (rcf->nsentinels && rcf->master.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "fsauth_redis: \"sentinel=\" needs \"master=\"");
        return NGX_CONF_ERROR;
    }

    if (rcf->sentinel_user.len && rcf->sentinel_password.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "fsauth_redis: \"sentinel_user=\" needs "
                           "\"sentinel_password_file=\"");
        return NGX_CONF_ERROR;
    }

    if (rcf->nprefer && !rcf->read_replica) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "fsauth_redis: \"prefer_replica=\" needs "
                           "\"read=replica\"");
        return NGX_CONF_ERROR;
    }

    rv = ngx_http_fsauth_tls_init(cf, rcf);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    fmcf->redis = rcf;

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\" of fsauth_redis", &value[i]);
    return NGX_CONF_ERROR;
}


/* the first line of a file, not empty */

ngx_int_t
ngx_http_fsauth_redis_password(ngx_conf_t *cf, ngx_str_t *path,
    ngx_str_t *password)
{
    ngx_str_t  name;

    ngx_str_set(&name, "fsauth_redis");

    if (ngx_http_fsauth_read_secret(cf, &name, path,
                                    NGX_HTTP_FSAUTH_PASSWORD_MAX,
                                    "password", password)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (password->len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "fsauth_redis: empty password in \"%s\"",
                           path->data);
        return NGX_ERROR;
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_fsauth_redis_addr(ngx_conf_t *cf, ngx_addr_t *addr,
    ngx_http_fsauth_redis_addr_t *ra)
{
    u_char              *p;
    size_t               len;
#if (NGX_HAVE_UNIX_DOMAIN)
    struct sockaddr_un  *saun;

    if (addr->sockaddr->sa_family == AF_UNIX) {
        saun = (struct sockaddr_un *) addr->sockaddr;
        len = ngx_strlen(saun->sun_path);

        ra->host.data = ngx_pnalloc(cf->pool, len + 1);
        if (ra->host.data == NULL) {
            return NGX_ERROR;
        }

        ngx_cpystrn(ra->host.data, (u_char *) saun->sun_path, len + 1);
        ra->host.len = len;
        ra->port = 0;

        return NGX_OK;
    }
#endif

    ra->host.data = ngx_pnalloc(cf->pool, NGX_SOCKADDR_STRLEN + 1);
    if (ra->host.data == NULL) {
        return NGX_ERROR;
    }

    ra->host.len = ngx_sock_ntop(addr->sockaddr, addr->socklen, ra->host.data,
                                 NGX_SOCKADDR_STRLEN, 0);
    ra->host.data[ra->host.len] = '\0';
    ra->port = ngx_inet_get_port(addr->sockaddr);

    /* hiredis wants a bare IPv6 address */

    if (ra->host.data[0] == '[') {
        p = ra->host.data;
        len = ra->host.len - 2;
        ngx_memmove(p, p + 1, len);
        p[len] = '\0';
        ra->host.len = len;
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_fsauth_redis_init_worker(ngx_cycle_t *cycle,
    ngx_http_fsauth_redis_conf_t *rcf)
{
    u_char                  *p;
    ngx_http_fsauth_peer_t  *peer;

    peer = ngx_pcalloc(cycle->pool, sizeof(ngx_http_fsauth_peer_t));
    if (peer == NULL) {
        return NGX_ERROR;
    }

    if (ngx_http_fsauth_activity_init(cycle, peer) != NGX_OK) {
        return NGX_ERROR;
    }

    peer->conf = rcf;
    peer->log = cycle->log;
    peer->api_enabled = -1;

    peer->lookup_head.data = ngx_pnalloc(cycle->pool, 64 + rcf->prefix.len);
    if (peer->lookup_head.data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(peer->lookup_head.data,
                    "*2\r\n$7\r\nHGETALL\r\n$%uz\r\n%Vkey:",
                    rcf->prefix.len + 4 + NGX_HTTP_FSAUTH_HEX_LEN,
                    &rcf->prefix);
    peer->lookup_head.len = p - peer->lookup_head.data;

    /* worker timers must not hold up a graceful shutdown */

    peer->poll.handler = ngx_http_fsauth_redis_poll_handler;
    peer->poll.data = peer;
    peer->poll.log = cycle->log;
    peer->poll.cancelable = 1;

    ngx_http_fsauth_conn_init(peer, &peer->lookup,
                              NGX_HTTP_FSAUTH_CONN_LOOKUP, cycle->log);
    ngx_http_fsauth_conn_init(peer, &peer->tracking,
                              NGX_HTTP_FSAUTH_CONN_TRACKING, cycle->log);
    ngx_http_fsauth_conn_init(peer, &peer->read,
                              NGX_HTTP_FSAUTH_CONN_READ, cycle->log);

    rcf->peer = peer;

    /* with sentinels, the data connections wait for a primary */

    if (rcf->nsentinels) {
        return ngx_http_fsauth_sentinel_init(cycle, peer);
    }

    ngx_http_fsauth_conn_connect(&peer->lookup);
    ngx_http_fsauth_conn_connect(&peer->tracking);

    return NGX_OK;
}


void
ngx_http_fsauth_redis_exit_worker(ngx_http_fsauth_redis_conf_t *rcf)
{
    ngx_http_fsauth_peer_t  *peer;

    peer = rcf->peer;
    if (peer == NULL) {
        return;
    }

    peer->exiting = 1;

    if (peer->poll.timer_set) {
        ngx_del_timer(&peer->poll);
    }

    /*
     * Queued activity records go out now: one non-blocking write of what
     * hiredis holds, in order; the reply is not awaited.
     */

    if (peer->lookup.state == NGX_HTTP_FSAUTH_REDIS_READY) {
        ngx_http_fsauth_activity_flush(peer);

        if (peer->lookup.ac) {
            redisAsyncHandleWrite(peer->lookup.ac);
        }
    }

    if (peer->flush.timer_set) {
        ngx_del_timer(&peer->flush);
    }

    /* frees the fds too: no "open socket left" at exit */

    ngx_http_fsauth_conn_free(&peer->lookup);
    ngx_http_fsauth_conn_free(&peer->tracking);
    ngx_http_fsauth_conn_free(&peer->read);

    if (peer->sentinel) {
        ngx_http_fsauth_sentinel_exit(peer);
    }

    if (peer->batch) {
        ngx_free(peer->batch);
        peer->batch = NULL;
    }

    ngx_http_fsauth_redis_apart_free(&ngx_http_fsauth_redis_apart);
}


static void
ngx_http_fsauth_conn_init(ngx_http_fsauth_peer_t *peer,
    ngx_http_fsauth_conn_t *conn, ngx_uint_t kind, ngx_log_t *log)
{
    conn->peer = peer;
    conn->kind = kind;
    conn->state = NGX_HTTP_FSAUTH_REDIS_DOWN;

    conn->retry.handler = ngx_http_fsauth_conn_retry_handler;
    conn->retry.data = conn;
    conn->retry.log = log;
    conn->retry.cancelable = 1;

    conn->deadline.handler = ngx_http_fsauth_conn_deadline_handler;
    conn->deadline.data = conn;
    conn->deadline.log = log;
    conn->deadline.cancelable = 1;
}


static void
ngx_http_fsauth_conn_lost(ngx_http_fsauth_conn_t *conn)
{
    ngx_http_fsauth_redis_conf_t  *rcf;

    if (!conn->subscribed) {
        return;
    }

    conn->subscribed = 0;
    rcf = conn->peer->conf;

    if (rcf->cache) {
        (void) ngx_http_fsauth_cache_subscribed(rcf->cache, 0, 0);
    }
}


static void
ngx_http_fsauth_conn_free(ngx_http_fsauth_conn_t *conn)
{
    redisAsyncContext  *ac;

    ngx_http_fsauth_conn_lost(conn);

    if (conn->retry.timer_set) {
        ngx_del_timer(&conn->retry);
    }

    if (conn->deadline.timer_set) {
        ngx_del_timer(&conn->deadline);
    }

    ac = conn->ac;
    if (ac) {
        conn->ac = NULL;
        conn->state = NGX_HTTP_FSAUTH_REDIS_DOWN;
        redisAsyncFree(ac);
    }
}


static void
ngx_http_fsauth_conn_connect(ngx_http_fsauth_conn_t *conn)
{
    int                            n;
    char                           db[NGX_INT_T_LEN];
    redisAsyncContext             *ac;
    ngx_http_fsauth_peer_t        *peer;
    ngx_http_fsauth_redis_addr_t  *ra;
    ngx_http_fsauth_redis_conf_t  *rcf;

    peer = conn->peer;
    rcf = peer->conf;

    ra = &rcf->addrs[conn->addr];
    conn->attempt_ready = 0;
    conn->replica = 0;
    conn->rejected = 0;

    /* read=replica: lookups and invalidations on a replica, if any */

    if (conn->kind == NGX_HTTP_FSAUTH_CONN_READ
        || (rcf->read_replica && conn->kind == NGX_HTTP_FSAUTH_CONN_TRACKING))
    {
        if (ngx_http_fsauth_sentinel_replica(peer)) {
            ra = ngx_http_fsauth_sentinel_replica(peer);
            conn->replica = 1;

        } else if (conn->kind == NGX_HTTP_FSAUTH_CONN_READ) {

            /* none: the primary's lookup connection serves */

            conn->state = NGX_HTTP_FSAUTH_REDIS_DOWN;
            return;
        }
    }

    if (ra->port) {
        ac = redisAsyncConnect((char *) ra->host.data, ra->port);

    } else {
        ac = redisAsyncConnectUnix((char *) ra->host.data);
    }

    if (ac == NULL) {
        ngx_log_error(NGX_LOG_ALERT, peer->log, 0,
                      "fsauth: cannot allocate a redis context");
        ngx_http_fsauth_conn_schedule(conn);
        return;
    }

    if (ac->err) {
        if (!conn->down_logged) {
            ngx_log_error(NGX_LOG_ERR, peer->log, 0,
                          "fsauth: cannot connect to redis at \"%V\": %s",
                          &rcf->addr_text, ac->errstr);
            conn->down_logged = 1;
        }

        redisAsyncFree(ac);
        ngx_http_fsauth_conn_schedule(conn);
        return;
    }

    if (ngx_http_fsauth_tls_connect(conn, ac, NULL) != NGX_OK) {
        redisAsyncFree(ac);
        ngx_http_fsauth_conn_schedule(conn);
        return;
    }

    if (ngx_http_fsauth_adapter_attach(ac, peer->log) != NGX_OK) {
        ngx_log_error(NGX_LOG_ALERT, peer->log, 0,
                      "fsauth: no free connection for redis");
        redisAsyncFree(ac);
        ngx_http_fsauth_conn_schedule(conn);
        return;
    }

    ac->data = conn;

    if (conn->kind == NGX_HTTP_FSAUTH_CONN_LOOKUP) {
        ngx_http_fsauth_adapter_use_arena(ac);
    }

    redisAsyncSetConnectCallback(ac, ngx_http_fsauth_conn_connected);
    redisAsyncSetDisconnectCallback(ac, ngx_http_fsauth_conn_disconnected);

    conn->ac = ac;
    conn->state = NGX_HTTP_FSAUTH_REDIS_CONNECTING;
    conn->subscribing = 0;

    /* hiredis keeps command order: AUTH, SELECT, then the first query */

    if (rcf->password.len) {
        /* the callback's privdata names the command in messages */

        if (ngx_http_fsauth_redis_auth(ac, &rcf->user, &rcf->password,
                                       ngx_http_fsauth_conn_handshake_cb,
                                       "AUTH")
            != REDIS_OK)
        {
            goto failed;
        }
    }

    /* the node a sentinel names must say it is what it was named as */

    if (rcf->nsentinels) {
        if (redisAsyncCommand(ac, ngx_http_fsauth_conn_role_cb, NULL, "ROLE")
            != REDIS_OK)
        {
            goto failed;
        }
    }

    if (conn->kind == NGX_HTTP_FSAUTH_CONN_TRACKING) {
        if (ngx_http_fsauth_redis_command2(ac, ngx_http_fsauth_tracking_id_cb,
                                           "CLIENT", "ID", 2)
            != REDIS_OK)
        {
            goto failed;
        }

        ngx_add_timer(&conn->deadline, rcf->connect_timeout);
        return;
    }

    if (rcf->db) {
        n = ngx_sprintf((u_char *) db, "%ui", rcf->db) - (u_char *) db;

        if (ngx_http_fsauth_redis_command2(ac,
                                           ngx_http_fsauth_conn_handshake_cb,
                                           "SELECT", db, n)
            != REDIS_OK)
        {
            goto failed;
        }
    }

    /* a replica's lookup connection is ready when ROLE says so */

    if (conn->kind == NGX_HTTP_FSAUTH_CONN_READ) {
        ngx_add_timer(&conn->deadline, rcf->connect_timeout);
        return;
    }

    if (ngx_http_fsauth_redis_api_query(peer) != NGX_OK) {
        goto failed;
    }

    ngx_add_timer(&conn->deadline, rcf->connect_timeout);

    return;

failed:

    ngx_http_fsauth_conn_reset(conn, "cannot queue the handshake");
}


/* drops the connection now; pending commands fail at once */

static void
ngx_http_fsauth_conn_reset(ngx_http_fsauth_conn_t *conn, const char *reason)
{
    redisAsyncContext  *ac;

    if (conn->ac == NULL) {
        return;
    }

    if (!conn->down_logged) {
        ngx_log_error(NGX_LOG_ERR, conn->peer->log, 0,
                      "fsauth: redis at \"%V\": %s",
                      &conn->peer->conf->addr_text, reason);
        conn->down_logged = 1;
    }

    ngx_http_fsauth_conn_lost(conn);

    ac = conn->ac;
    conn->ac = NULL;
    conn->state = NGX_HTTP_FSAUTH_REDIS_DOWN;

    if (conn->deadline.timer_set) {
        ngx_del_timer(&conn->deadline);
    }

    /* deferred by hiredis when called from one of its callbacks */

    redisAsyncFree(ac);

    ngx_http_fsauth_conn_schedule(conn);
}


static void
ngx_http_fsauth_conn_schedule(ngx_http_fsauth_conn_t *conn)
{
    ngx_msec_t  delay;

    conn->state = NGX_HTTP_FSAUTH_REDIS_DOWN;
    ngx_http_fsauth_metrics_peer(conn->peer);

    if (conn->peer->exiting) {
        return;
    }

    /*
     * A lost data node: the sentinels may know a new primary; a lost
     * replica sends this connection to the primary at once, unless it
     * has been already.
     */

    if (conn->peer->sentinel) {
        if (conn->replica) {
            conn->replica = 0;
            conn->failures = 0;
            ngx_http_fsauth_sentinel_replica_lost(conn->peer,
                                                  "connection failed");
        }

        ngx_http_fsauth_sentinel_discover(conn->peer);

        /* a node ROLE refused: the sentinels' next answer brings it back */

        if (conn->rejected) {
            return;
        }
    }

    if (conn->ac || conn->no_tracking || conn->retry.timer_set) {
        return;
    }

    if (conn->kind == NGX_HTTP_FSAUTH_CONN_READ
        && ngx_http_fsauth_sentinel_replica(conn->peer) == NULL)
    {
        return;
    }

    /*
     * A connection that failed before it was ready tries the next
     * address of the name at once, as nginx's upstreams do; the backoff
     * applies once every address has failed.
     */

    if (!conn->attempt_ready && conn->peer->conf->naddrs > 1) {
        conn->addr = (conn->addr + 1) % conn->peer->conf->naddrs;

        if (conn->addr != conn->round) {
            ngx_add_timer(&conn->retry, 1);
            return;
        }
    }

    /* capped exponential backoff with jitter: workers do not march */

    delay = NGX_HTTP_FSAUTH_BACKOFF_MIN << ngx_min(conn->failures, 5);
    delay = ngx_min(delay, NGX_HTTP_FSAUTH_BACKOFF_MAX);
    delay = delay / 2 + (ngx_random() % (delay / 2 + 1));

    conn->failures++;

    ngx_add_timer(&conn->retry, delay);
}


static void
ngx_http_fsauth_conn_ready(ngx_http_fsauth_conn_t *conn)
{
    if (conn->was_ready) {
        ngx_http_fsauth_count(reconnects);
    }

    conn->was_ready = 1;
    conn->attempt_ready = 1;
    conn->round = conn->addr;
    conn->state = NGX_HTTP_FSAUTH_REDIS_READY;
    conn->failures = 0;
    ngx_http_fsauth_metrics_peer(conn->peer);
    conn->peer->refused_logged = 0;

    if (conn->deadline.timer_set) {
        ngx_del_timer(&conn->deadline);
    }

    if (conn->down_logged) {
        ngx_log_error(NGX_LOG_NOTICE, conn->peer->log, 0,
                      "fsauth: redis at \"%V\" is back",
                      &conn->peer->conf->addr_text);
        conn->down_logged = 0;
    }

    if (conn->kind == NGX_HTTP_FSAUTH_CONN_LOOKUP) {
        ngx_http_fsauth_activity_probe(conn->peer);
    }
}


static void
ngx_http_fsauth_conn_retry_handler(ngx_event_t *ev)
{
    ngx_http_fsauth_conn_t  *conn = ev->data;

    if (conn->peer->exiting || ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    ngx_http_fsauth_conn_connect(conn);
}


static void
ngx_http_fsauth_conn_deadline_handler(ngx_event_t *ev)
{
    ngx_http_fsauth_conn_t  *conn = ev->data;

    if (conn->state != NGX_HTTP_FSAUTH_REDIS_READY) {
        ngx_http_fsauth_conn_reset(conn, "connect timed out");
    }
}


/* the connection whose context ac is, or NULL: a context it dropped */

static ngx_http_fsauth_conn_t *
ngx_http_fsauth_conn_current(const redisAsyncContext *ac)
{
    ngx_http_fsauth_conn_t  *conn = ac->data;

    if (conn == NULL || ac != conn->ac) {
        return NULL;
    }

    return conn;
}


/* NULL as well when there is no reply: hiredis is freeing the context */

static ngx_http_fsauth_conn_t *
ngx_http_fsauth_conn_reply(const redisAsyncContext *ac, redisReply *rr)
{
    return rr ? ngx_http_fsauth_conn_current(ac) : NULL;
}


static void
ngx_http_fsauth_conn_connected(const redisAsyncContext *ac, int status)
{
    ngx_http_fsauth_conn_t        *conn;
    ngx_http_fsauth_redis_conf_t  *rcf;

    conn = ngx_http_fsauth_conn_current(ac);

    if (status == REDIS_OK || conn == NULL) {
        return;
    }

    /* hiredis frees the context when this returns */

    ngx_http_fsauth_count(losses);

    rcf = conn->peer->conf;

    if (rcf->naddrs > 1 && (conn->addr + 1) % rcf->naddrs != conn->round) {
        ngx_log_error(NGX_LOG_INFO, conn->peer->log, 0,
                      "fsauth: cannot connect to redis at \"%V\" (%V): %s, "
                      "trying its next address", &rcf->addr_text,
                      &rcf->addrs[conn->addr].host, ac->errstr);

    } else if (!conn->down_logged
               && !ngx_http_fsauth_tls_refused(conn, ac, 1))
    {
        ngx_log_error(NGX_LOG_ERR, conn->peer->log, 0,
                      "fsauth: cannot connect to redis at \"%V\": %s",
                      &rcf->addr_text, ac->errstr);
        conn->down_logged = 1;
    }

    conn->ac = NULL;

    if (conn->deadline.timer_set) {
        ngx_del_timer(&conn->deadline);
    }

    ngx_http_fsauth_conn_schedule(conn);
}


static void
ngx_http_fsauth_conn_disconnected(const redisAsyncContext *ac, int status)
{
    ngx_http_fsauth_conn_t  *conn;

    conn = ngx_http_fsauth_conn_current(ac);
    if (conn == NULL) {
        return;
    }

    ngx_http_fsauth_count(losses);

    /*
     * hiredis has no callback for an error reply to SUBSCRIBE: it drops
     * the connection with the error as its reason.
     */

    if (conn->subscribing && !conn->subscribed && ac->err == REDIS_ERR_OTHER
        && ac->errstr && ac->errstr[0] != '\0')
    {
        conn->ac = NULL;

        if (conn->deadline.timer_set) {
            ngx_del_timer(&conn->deadline);
        }

        ngx_http_fsauth_tracking_refused(conn, "SUBSCRIBE",
                                         (u_char *) ac->errstr,
                                         ngx_strlen(ac->errstr));
        ngx_http_fsauth_conn_schedule(conn);
        return;
    }

    if (!conn->down_logged && !ngx_http_fsauth_tls_refused(conn, ac, 0)) {
        ngx_log_error(NGX_LOG_ERR, conn->peer->log, 0,
                      "fsauth: lost redis connection to \"%V\": %s",
                      &conn->peer->conf->addr_text,
                      ac->errstr ? ac->errstr : "closed");
        conn->down_logged = 1;
    }

    ngx_http_fsauth_conn_lost(conn);

    conn->ac = NULL;

    if (conn->deadline.timer_set) {
        ngx_del_timer(&conn->deadline);
    }

    ngx_http_fsauth_conn_schedule(conn);
}


static void
ngx_http_fsauth_conn_handshake_cb(redisAsyncContext *ac, void *reply,
    void *privdata)
{
    redisReply              *rr = reply;
    ngx_http_fsauth_conn_t  *conn;

    conn = ngx_http_fsauth_conn_reply(ac, rr);
    if (conn == NULL) {
        return;
    }

    if (rr->type == REDIS_REPLY_ERROR) {
        ngx_http_fsauth_redis_refused(conn, privdata, rr);
        conn->down_logged = 1;
        ngx_http_fsauth_conn_reset(conn, "handshake failed");
    }
}


/*
 * ROLE on a node a sentinel named: anything but "master" (a replica, a
 * node not yet promoted, a sentinel that lies or lags) and the node is
 * not used; the sentinels are asked again, the one that named it last.
 */

static void
ngx_http_fsauth_conn_role_cb(redisAsyncContext *ac, void *reply,
    void *privdata)
{
    redisReply              *rr = reply, *role;
    ngx_http_fsauth_conn_t  *conn;

    conn = ngx_http_fsauth_conn_reply(ac, rr);
    if (conn == NULL) {
        return;
    }

    if (conn->replica) {
        ngx_http_fsauth_conn_replica_role(conn, rr);
        return;
    }

    if (rr->type == REDIS_REPLY_ARRAY && rr->elements > 0
        && rr->element[0]->type == REDIS_REPLY_STRING
        && rr->element[0]->len == 6
        && ngx_strncmp(rr->element[0]->str, "master", 6) == 0)
    {
        ngx_http_fsauth_sentinel_confirmed(conn->peer);
        return;
    }

    role = (rr->type == REDIS_REPLY_ARRAY && rr->elements > 0
            && rr->element[0]->type == REDIS_REPLY_STRING)
           ? rr->element[0] : NULL;

    ngx_http_fsauth_sentinel_distrust(conn->peer,
                                      role ? role->str : "no role",
                                      role ? ngx_min(role->len, 20) : 7);

    conn->down_logged = 1;
    conn->rejected = 1;
    ngx_http_fsauth_conn_reset(conn, "not the primary");
}


/*
 * ROLE on a replica: "slave", its link to the primary "connected" (not
 * still syncing, not cut off); anything else and reads go to the primary.
 */

static void
ngx_http_fsauth_conn_replica_role(ngx_http_fsauth_conn_t *conn,
    redisReply *rr)
{
    if (rr->type == REDIS_REPLY_ARRAY && rr->elements >= 4
        && rr->element[0]->type == REDIS_REPLY_STRING
        && rr->element[0]->len == 5
        && ngx_strncmp(rr->element[0]->str, "slave", 5) == 0
        && rr->element[3]->type == REDIS_REPLY_STRING
        && rr->element[3]->len == 9
        && ngx_strncmp(rr->element[3]->str, "connected", 9) == 0)
    {
        if (conn->kind == NGX_HTTP_FSAUTH_CONN_READ) {
            ngx_http_fsauth_conn_ready(conn);
        }

        return;
    }

    /* both connections to the replica leave it, this one included */

    ngx_http_fsauth_sentinel_replica_lost(conn->peer,
                                          "ROLE says it is no connected "
                                          "replica");
}


/*
 * The tracking connection: CLIENT ID, then CLIENT TRACKING on REDIRECT to
 * itself in broadcast mode for <prefix>key: and <prefix>api, then
 * SUBSCRIBE __redis__:invalidate.  Every change to a matching key, by
 * anyone, arrives as a message naming the keys.
 */

static void
ngx_http_fsauth_tracking_id_cb(redisAsyncContext *ac, void *reply,
    void *privdata)
{
    ngx_str_t               *prefix;
    redisReply              *rr = reply;
    ngx_http_fsauth_conn_t  *conn;

    conn = ngx_http_fsauth_tracking_reply(ac, rr, "CLIENT ID");
    if (conn == NULL) {
        return;
    }

    if (rr->type != REDIS_REPLY_INTEGER) {

        /* a proxy that answers something else: no tracking there */

        ngx_http_fsauth_tracking_refused(conn, "CLIENT ID", NULL, 0);
        return;
    }

    prefix = &conn->peer->conf->prefix;

    /* %b: the prefix is bytes, whatever it holds */

    if (redisAsyncCommand(ac, ngx_http_fsauth_tracking_on_cb, NULL,
                          "CLIENT TRACKING on REDIRECT %lld BCAST "
                          "PREFIX %bkey: PREFIX %bapi",
                          (long long) rr->integer,
                          (char *) prefix->data, prefix->len,
                          (char *) prefix->data, prefix->len)
        != REDIS_OK)
    {
        ngx_http_fsauth_conn_reset(conn, "cannot queue CLIENT TRACKING");
    }
}


static void
ngx_http_fsauth_tracking_on_cb(redisAsyncContext *ac, void *reply,
    void *privdata)
{
    ngx_http_fsauth_conn_t  *conn;

    conn = ngx_http_fsauth_tracking_reply(ac, reply, "CLIENT TRACKING");
    if (conn == NULL) {
        return;
    }

    if (ngx_http_fsauth_redis_command2(ac, ngx_http_fsauth_tracking_message_cb,
                                       "SUBSCRIBE", "__redis__:invalidate",
                                       20)
        != REDIS_OK)
    {
        ngx_http_fsauth_conn_reset(conn, "cannot queue SUBSCRIBE");
        return;
    }

    conn->subscribing = 1;
}


/*
 * The tracking connection's answer to one step of its set-up; NULL when
 * there is nothing more to do: no reply, an older connection's, or an
 * error, which is dealt with here.
 */

static ngx_http_fsauth_conn_t *
ngx_http_fsauth_tracking_reply(const redisAsyncContext *ac, redisReply *rr,
    const char *cmd)
{
    ngx_http_fsauth_conn_t  *conn;

    conn = ngx_http_fsauth_conn_reply(ac, rr);

    if (conn && rr->type == REDIS_REPLY_ERROR) {
        ngx_http_fsauth_tracking_refused(conn, cmd, (u_char *) rr->str,
                                         rr->len);
        return NULL;
    }

    return conn;
}


/*
 * Whether an error reply to CLIENT ID, CLIENT TRACKING or SUBSCRIBE is a
 * definitive "no": the server has no such command (Redis older than 6,
 * a proxy) or an ACL forbids it.  Anything else (-LOADING after a
 * restart, -BUSY, -NOAUTH, "max number of clients reached") passes, and
 * the channel is retried with the usual backoff.
 */

static ngx_uint_t
ngx_http_fsauth_tracking_final(u_char *err, size_t len)
{
    size_t       i, n;
    ngx_uint_t   k;
    static char *final[] = {
        "unknown command", "unknown subcommand", "syntax error", NULL
    };

    if (err == NULL) {
        return 1;
    }

    if (len >= 6 && ngx_strncmp(err, "NOPERM", 6) == 0) {
        return 1;
    }

    for (k = 0; final[k]; k++) {
        n = ngx_strlen(final[k]);

        for (i = 0; i + n <= len; i++) {
            if (ngx_strncasecmp(err + i, (u_char *) final[k], n) == 0) {
                return 1;
            }
        }
    }

    return 0;
}


/* err == NULL: a reply that is not an error, but not the expected one */

static void
ngx_http_fsauth_tracking_refused(ngx_http_fsauth_conn_t *conn,
    const char *cmd, u_char *err, size_t len)
{
    ngx_http_fsauth_peer_t  *peer;

    peer = conn->peer;
    len = ngx_min(len, 200);

    if (ngx_http_fsauth_tracking_final(err, len)) {

        if (!peer->tracking_warned) {
            ngx_log_error(NGX_LOG_WARN, peer->log, 0,
                          "fsauth: redis refused %s (%*s); revocation is "
                          "degraded: cached keys are refreshed by ttl only",
                          cmd, err ? len : 15,
                          err ? err : (u_char *) "unexpected type");
            peer->tracking_warned = 1;
        }

        conn->no_tracking = 1;

    } else if (!conn->down_logged) {
        ngx_log_error(NGX_LOG_WARN, peer->log, 0,
                      "fsauth: redis answered %s with \"%*s\", "
                      "invalidation channel retried", cmd, len, err);
    }

    conn->down_logged = 1;

    if (conn->ac) {
        ngx_http_fsauth_conn_reset(conn, "no invalidation channel");
    }
}


static void
ngx_http_fsauth_tracking_message_cb(redisAsyncContext *ac, void *reply,
    void *privdata)
{
    size_t                   i;
    ngx_uint_t               kind;
    redisReply              *rr = reply, *payload;
    ngx_http_fsauth_conn_t  *conn;
    ngx_http_fsauth_peer_t  *peer;

    conn = ngx_http_fsauth_conn_reply(ac, rr);
    if (conn == NULL || conn->peer->exiting) {
        return;
    }

    peer = conn->peer;

    payload = NULL;
    kind = ngx_http_fsauth_redis_pubsub(rr, &payload);

    if (kind == NGX_HTTP_FSAUTH_PUBSUB_SUBSCRIBE) {

        /* messages may have been lost while the channel was down */

        if (peer->conf->cache
            && ngx_http_fsauth_cache_subscribed(peer->conf->cache, 1,
                                                conn->was_subscribed))
        {
            ngx_log_error(NGX_LOG_INFO, peer->log, 0,
                          "fsauth: invalidation channel up, cache flushed");
        }

        conn->subscribing = 0;
        conn->subscribed = 1;
        conn->was_subscribed = 1;

        if (peer->lookup.state == NGX_HTTP_FSAUTH_REDIS_READY) {
            (void) ngx_http_fsauth_redis_api_query(peer);
        }

        ngx_http_fsauth_conn_ready(conn);

        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, peer->log, 0,
                       "fsauth: invalidation channel subscribed");
        return;
    }

    if (kind != NGX_HTTP_FSAUTH_PUBSUB_MESSAGE) {
        return;
    }

    ngx_http_fsauth_count(invalidations);

    if (payload->type == REDIS_REPLY_NIL) {

        /*
         * FLUSHALL / FLUSHDB, or a replica's full resync (a node demoted
         * by a failover): every entry is expired, and kept as stale,
         * since the node may answer lookups only after it has loaded.
         */

        if (peer->conf->cache) {
            ngx_http_fsauth_cache_expire(peer->conf->cache);
        }

        if (peer->lookup.state == NGX_HTTP_FSAUTH_REDIS_READY) {
            (void) ngx_http_fsauth_redis_api_query(peer);
        }

        return;
    }

    if (payload->type == REDIS_REPLY_STRING) {
        ngx_http_fsauth_tracking_invalidate(peer, payload);
        return;
    }

    if (payload->type != REDIS_REPLY_ARRAY) {
        return;
    }

    for (i = 0; i < payload->elements; i++) {
        if (payload->element[i]->type == REDIS_REPLY_STRING) {
            ngx_http_fsauth_tracking_invalidate(peer, payload->element[i]);
        }
    }
}


static void
ngx_http_fsauth_tracking_invalidate(ngx_http_fsauth_peer_t *peer,
    redisReply *key)
{
    u_char                         *p;
    u_char                          digest[NGX_HTTP_FSAUTH_DIGEST_LEN];
    ngx_str_t                      *prefix;
    ngx_http_fsauth_redis_conf_t   *rcf;

    rcf = peer->conf;
    prefix = &rcf->prefix;
    p = (u_char *) key->str;

    if (key->len < prefix->len
        || ngx_memcmp(p, prefix->data, prefix->len) != 0)
    {
        return;
    }

    p += prefix->len;

    if (key->len == prefix->len + 3 && ngx_strncmp(p, "api", 3) == 0) {
        if (peer->lookup.state == NGX_HTTP_FSAUTH_REDIS_READY) {
            (void) ngx_http_fsauth_redis_api_query(peer);
        }

        return;
    }

    if (rcf->cache == NULL
        || key->len != prefix->len + 4 + NGX_HTTP_FSAUTH_HEX_LEN
        || ngx_strncmp(p, "key:", 4) != 0)
    {
        return;
    }

    if (ngx_http_fsauth_digest_unhex(digest, p + 4,
                                     NGX_HTTP_FSAUTH_DIGEST_LEN)
        != NGX_OK)
    {
        return;
    }

    ngx_http_fsauth_cache_delete(rcf->cache, digest);
}


static void
ngx_http_fsauth_redis_poll_handler(ngx_event_t *ev)
{
    ngx_http_fsauth_peer_t  *peer = ev->data;

    if (peer->lookup.state == NGX_HTTP_FSAUTH_REDIS_READY && !peer->exiting) {
        (void) ngx_http_fsauth_redis_api_query(peer);
    }
}


static ngx_int_t
ngx_http_fsauth_redis_api_query(ngx_http_fsauth_peer_t *peer)
{
    ngx_str_t  *prefix;

    prefix = &peer->conf->prefix;

    if (peer->lookup.ac == NULL
        || redisAsyncCommand(peer->lookup.ac, ngx_http_fsauth_redis_api_cb,
                             NULL, "HGET %bapi enabled",
                             (char *) prefix->data, prefix->len)
           != REDIS_OK)
    {
        return NGX_ERROR;
    }

    ngx_http_fsauth_count(commands[NGX_HTTP_FSAUTH_CMD_KILL_SWITCH]);

    return NGX_OK;
}


/* the kill switch; its first answer also ends the handshake */

static void
ngx_http_fsauth_redis_api_cb(redisAsyncContext *ac, void *reply,
    void *privdata)
{
    redisReply              *rr = reply;
    ngx_int_t                enabled;
    ngx_http_fsauth_conn_t  *conn;
    ngx_http_fsauth_peer_t  *peer;

    conn = ngx_http_fsauth_conn_reply(ac, rr);
    if (conn == NULL) {
        return;
    }

    peer = conn->peer;

    if (rr->type == REDIS_REPLY_STRING) {
        enabled = !(rr->len == 1 && rr->str[0] == '0');

    } else if (rr->type == REDIS_REPLY_NIL) {
        enabled = 1;

    } else {
        if (!peer->api_warned) {
            ngx_log_error(NGX_LOG_ERR, peer->log, 0,
                          "fsauth: unexpected reply for \"%Vapi\", kill "
                          "switch state kept", &peer->conf->prefix);
            peer->api_warned = 1;
        }

        enabled = peer->api_enabled;
    }

    if (enabled != peer->api_enabled && peer->api_enabled != -1) {
        ngx_log_error(NGX_LOG_NOTICE, peer->log, 0,
                      "fsauth: API %s by \"%Vapi\"",
                      enabled ? "enabled" : "disabled", &peer->conf->prefix);
    }

    peer->api_enabled = enabled;
    ngx_http_fsauth_metrics_peer(peer);

    if (conn->state == NGX_HTTP_FSAUTH_REDIS_CONNECTING) {
        ngx_http_fsauth_conn_ready(conn);
    }

    if (!peer->exiting) {
        ngx_add_timer(&peer->poll, NGX_HTTP_FSAUTH_POLL_INTERVAL);
    }
}


ngx_int_t
ngx_http_fsauth_redis_api_enabled(ngx_http_fsauth_redis_conf_t *rcf)
{
    return rcf->peer ? rcf->peer->api_enabled : -1;
}


/*
 * Sends HGETALL <prefix>key:<hex digest>; f->handler is called with the
 * record, later, exactly once.  NGX_DECLINED: Redis is not usable now.
 */

ngx_int_t
ngx_http_fsauth_redis_get_record(ngx_http_fsauth_redis_conf_t *rcf,
    u_char *digest, ngx_http_fsauth_fetch_t *f)
{
    u_char                  *p;
    u_char                   cmd[64 + 256 + NGX_HTTP_FSAUTH_HEX_LEN];
    ngx_http_fsauth_conn_t  *conn;
    ngx_http_fsauth_peer_t  *peer;

    peer = rcf->peer;

    if (peer == NULL) {
        return NGX_DECLINED;
    }

    /* read=replica: on the replica when it is ready, else the primary */

    conn = (peer->read.state == NGX_HTTP_FSAUTH_REDIS_READY && peer->read.ac)
           ? &peer->read : &peer->lookup;

    if (conn->ac == NULL || conn->state == NGX_HTTP_FSAUTH_REDIS_DOWN
        || peer->inflight >= NGX_HTTP_FSAUTH_INFLIGHT_MAX
        || rcf->prefix.len > 256 - 4)
    {
        return NGX_DECLINED;
    }

    /* the command in RESP, without hiredis's formatting machinery */

    p = ngx_cpymem(cmd, peer->lookup_head.data, peer->lookup_head.len);
    p = ngx_http_fsauth_digest_hex(p, digest, NGX_HTTP_FSAUTH_DIGEST_LEN);
    *p++ = CR;
    *p++ = LF;

    if (redisAsyncFormattedCommand(conn->ac,
                                   ngx_http_fsauth_redis_record_cb, f,
                                   (char *) cmd, p - cmd)
        != REDIS_OK)
    {
        return NGX_DECLINED;
    }

    ngx_http_fsauth_count(commands[NGX_HTTP_FSAUTH_CMD_LOOKUP]);

    f->conf = rcf;
    f->conn = conn;
    f->reply = NULL;
    f->sent = ngx_current_msec;

    peer->inflight++;

    return NGX_OK;
}


/*
 * The owner of an unanswered fetch stopped waiting for it.  A command
 * unanswered for a whole timeout means the connection is not healthy
 * (Redis hangs or the path is broken): it is dropped, so that the next
 * requests fail fast instead of queueing behind it, and f is answered
 * with NGX_ERROR before this returns.
 */

void
ngx_http_fsauth_redis_overdue(ngx_http_fsauth_fetch_t *f)
{
    ngx_http_fsauth_conn_t  *conn;

    conn = f->conn;

    if (conn->ac && ngx_current_msec - f->sent >= f->conf->timeout) {
        ngx_http_fsauth_conn_reset(conn, "lookup timed out");
    }
}


/* a grant that did not fit in the record, kept aside from the reply */

ngx_int_t
ngx_http_fsauth_redis_reply_grant(ngx_http_fsauth_fetch_t *f,
    ngx_str_t *resource, ngx_uint_t *mask)
{
    if (f->reply == NULL) {
        return NGX_DECLINED;
    }

    return ngx_http_fsauth_record_over_grant(f->reply, resource, mask);
}


/*
 * Is the reply being read the answer to a lookup?  Asked by the reader
 * when a reply starts: hiredis answers commands in order, and the head
 * of its queue is the command being answered.
 */

ngx_uint_t
ngx_http_fsauth_redis_wants_record(redisAsyncContext *ac)
{
    return ac != NULL && ac->replies.head != NULL
           && ac->replies.head->fn == ngx_http_fsauth_redis_record_cb;
}


/*
 * The grants the last record read apart kept aside: freed at the next
 * one, and at worker exit.
 */

static void
ngx_http_fsauth_redis_apart_free(ngx_http_fsauth_builder_t *b)
{
    ngx_http_fsauth_over_t  *o;

    while (b->over) {
        o = b->over;
        b->over = o->next;
        free(o);
    }

    b->over_last = &b->over;
}


static void
ngx_http_fsauth_redis_record_cb(redisAsyncContext *ac, void *reply,
    void *privdata)
{
    ngx_http_fsauth_fetch_t *f = privdata;

    redisReply                 *rr = reply;
    ngx_int_t                   rc;
    const char                 *err;
    ngx_http_fsauth_peer_t     *peer;
    ngx_http_fsauth_record_t   *rec;
    ngx_http_fsauth_builder_t  *b;

    peer = f->conf->peer;
    peer->inflight--;

    if (peer->exiting) {
        f->handler(f, NGX_ABORT, NULL);
        return;
    }

    /* the reader built the record as the reply came in */

    b = ngx_http_fsauth_adapter_builder();

    if (rr == &b->reply) {
        rc = ngx_http_fsauth_record_end(b, &err);

    } else {

        /*
         * A reply read into objects (an error, or a replica's
         * connection): a builder of its own, since the reader's may be
         * halfway through another reply.
         */

        b = &ngx_http_fsauth_redis_apart;
        ngx_http_fsauth_redis_apart_free(b);
        b->alloc = malloc;

        rc = ngx_http_fsauth_record_from_reply(rr, b, &err);
    }

    rec = &b->rec;

    if (rr) {
        ngx_http_fsauth_metrics_latency(ngx_current_msec - f->sent);
    }

    if (rc == NGX_ERROR && rr) {
        ngx_http_fsauth_count(errors);

        ngx_log_error(NGX_LOG_ERR, peer->log, 0,
                      "fsauth: redis lookup failed: %s%s%*s", err,
                      rr->type == REDIS_REPLY_ERROR ? ": " : "",
                      (size_t) (rr->type == REDIS_REPLY_ERROR
                                ? ngx_min(rr->len, 200) : 0),
                      rr->str);

    } else if (rc == NGX_DECLINED && err) {
        if (rec->id) {
            ngx_log_error(NGX_LOG_ERR, peer->log, 0,
                          "fsauth: key record %i has %s, treated as unknown",
                          rec->id, err);

        } else {
            ngx_log_error(NGX_LOG_ERR, peer->log, 0,
                          "fsauth: key record has %s, treated as unknown",
                          err);
        }
    }

    f->reply = b;
    f->handler(f, rc, rec);
}


/*
 * A command of two words; the callback's data is the command's name, for
 * the handshake's messages.
 */

static int
ngx_http_fsauth_redis_command2(redisAsyncContext *ac, redisCallbackFn *fn,
    char *cmd, char *arg, size_t len)
{
    const char  *argv[2];
    size_t       argvlen[2];

    argv[0] = cmd;
    argvlen[0] = ngx_strlen(cmd);
    argv[1] = arg;
    argvlen[1] = len;

    return redisAsyncCommandArgv(ac, fn, cmd, 2, argv, argvlen);
}


/*
 * The sentinels named another primary: the data connections leave the
 * old node now (its pending commands fail at once) and connect to the
 * new one without waiting for their backoff.
 */

void
ngx_http_fsauth_redis_switch(ngx_http_fsauth_peer_t *peer)
{
    ngx_http_fsauth_conn_restart(&peer->lookup);
    ngx_http_fsauth_redis_reread(peer);
}


/* read=replica: another replica, or none: the reads go there now */

void
ngx_http_fsauth_redis_reread(ngx_http_fsauth_peer_t *peer)
{
    ngx_http_fsauth_conn_restart(&peer->tracking);
    ngx_http_fsauth_conn_restart(&peer->read);
}


static void
ngx_http_fsauth_conn_restart(ngx_http_fsauth_conn_t *conn)
{
    ngx_http_fsauth_conn_free(conn);

    conn->state = NGX_HTTP_FSAUTH_REDIS_DOWN;
    conn->failures = 0;
    conn->no_tracking = 0;

    if (!conn->peer->exiting) {
        ngx_http_fsauth_conn_connect(conn);
    }
}


/* what a subscribed connection received, and its payload */

ngx_uint_t
ngx_http_fsauth_redis_pubsub(redisReply *rr, redisReply **payload)
{
    redisReply  *kind;

    if (rr->type != REDIS_REPLY_ARRAY || rr->elements != 3
        || rr->element[0]->type != REDIS_REPLY_STRING)
    {
        return NGX_HTTP_FSAUTH_PUBSUB_OTHER;
    }

    kind = rr->element[0];
    *payload = rr->element[2];

    if (kind->len == 9 && ngx_strncmp(kind->str, "subscribe", 9) == 0) {
        return NGX_HTTP_FSAUTH_PUBSUB_SUBSCRIBE;
    }

    if (kind->len == 7 && ngx_strncmp(kind->str, "message", 7) == 0) {
        return NGX_HTTP_FSAUTH_PUBSUB_MESSAGE;
    }

    return NGX_HTTP_FSAUTH_PUBSUB_OTHER;
}
