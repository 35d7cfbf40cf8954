
/*
 * Copyright (C) fsauth authors
 * BSD-2-Clause, see LICENSE.
 */


#include "ngx_http_fsauth_module.h"
#include "ngx_http_fsauth_redis.h"


#define NGX_HTTP_FSAUTH_BACKOFF_MIN       50
#define NGX_HTTP_FSAUTH_BACKOFF_MAX       1000
#define NGX_HTTP_FSAUTH_POLL_INTERVAL     1000
#define NGX_HTTP_FSAUTH_INFLIGHT_MAX      8192


static ngx_int_t ngx_http_fsauth_redis_read_password(ngx_conf_t *cf,
    ngx_str_t *path, ngx_str_t *password);
static void ngx_http_fsauth_redis_connect(ngx_http_fsauth_peer_t *peer);
static void ngx_http_fsauth_redis_reset(ngx_http_fsauth_peer_t *peer,
    const char *reason);
static void ngx_http_fsauth_redis_schedule(ngx_http_fsauth_peer_t *peer);
static void ngx_http_fsauth_redis_retry_handler(ngx_event_t *ev);
static void ngx_http_fsauth_redis_deadline_handler(ngx_event_t *ev);
static void ngx_http_fsauth_redis_poll_handler(ngx_event_t *ev);
static void ngx_http_fsauth_redis_connected(const redisAsyncContext *ac,
    int status);
static void ngx_http_fsauth_redis_disconnected(const redisAsyncContext *ac,
    int status);
static void ngx_http_fsauth_redis_handshake_cb(redisAsyncContext *ac,
    void *reply, void *privdata);
static void ngx_http_fsauth_redis_api_cb(redisAsyncContext *ac, void *reply,
    void *privdata);
static ngx_int_t ngx_http_fsauth_redis_api_query(
    ngx_http_fsauth_peer_t *peer);
static void ngx_http_fsauth_redis_lookup_cb(redisAsyncContext *ac,
    void *reply, void *privdata);
static ngx_http_fsauth_op_t *ngx_http_fsauth_redis_find_op(
    ngx_http_fsauth_peer_t *peer, u_char *digest);
static void ngx_http_fsauth_redis_op_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);


/*
 * fsauth_redis host:port | unix:/path [db=N] [password_file=PATH]
 *              [prefix=S] [connect_timeout=T] [timeout=T];
 */

char *
ngx_http_fsauth_redis_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_fsauth_main_conf_t *fmcf = conf;

    u_char                        *p;
    size_t                         len;
    ngx_int_t                      n;
    ngx_str_t                     *value, s;
    ngx_url_t                      u;
    ngx_uint_t                     i;
    struct sockaddr_un            *saun;
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

#if (NGX_HAVE_UNIX_DOMAIN)
    if (u.addrs[0].sockaddr->sa_family == AF_UNIX) {
        saun = (struct sockaddr_un *) u.addrs[0].sockaddr;
        len = ngx_strlen(saun->sun_path);

        rcf->host.data = ngx_pnalloc(cf->pool, len + 1);
        if (rcf->host.data == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_cpystrn(rcf->host.data, (u_char *) saun->sun_path, len + 1);
        rcf->host.len = len;
        rcf->port = 0;

    } else
#endif
    {
        rcf->host.data = ngx_pnalloc(cf->pool, NGX_SOCKADDR_STRLEN + 1);
        if (rcf->host.data == NULL) {
            return NGX_CONF_ERROR;
        }

        rcf->host.len = ngx_sock_ntop(u.addrs[0].sockaddr,
                                      u.addrs[0].socklen, rcf->host.data,
                                      NGX_SOCKADDR_STRLEN, 0);
        rcf->host.data[rcf->host.len] = '\0';
        rcf->port = ngx_inet_get_port(u.addrs[0].sockaddr);

        /* hiredis wants a bare IPv6 address */

        if (rcf->host.data[0] == '[') {
            p = rcf->host.data;
            len = rcf->host.len - 2;
            ngx_memmove(p, p + 1, len);
            p[len] = '\0';
            rcf->host.len = len;
        }
    }

    for (i = 2; i < cf->args->nelts; i++) {

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

            if (ngx_http_fsauth_redis_read_password(cf, &s, &rcf->password)
                != NGX_OK)
            {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "prefix=", 7) == 0) {
            rcf->prefix.data = value[i].data + 7;
            rcf->prefix.len = value[i].len - 7;

            if (rcf->prefix.len == 0) {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "connect_timeout=", 16) == 0) {
            s.data = value[i].data + 16;
            s.len = value[i].len - 16;

            rcf->connect_timeout = ngx_parse_time(&s, 0);
            if (rcf->connect_timeout == (ngx_msec_t) NGX_ERROR
                || rcf->connect_timeout == 0)
            {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "timeout=", 8) == 0) {
            s.data = value[i].data + 8;
            s.len = value[i].len - 8;

            rcf->timeout = ngx_parse_time(&s, 0);
            if (rcf->timeout == (ngx_msec_t) NGX_ERROR || rcf->timeout == 0) {
                goto invalid;
            }

            continue;
        }

        goto invalid;
    }

    fmcf->redis = rcf;

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\" of fsauth_redis", &value[i]);
    return NGX_CONF_ERROR;
}


static ngx_int_t
ngx_http_fsauth_redis_read_password(ngx_conf_t *cf, ngx_str_t *path,
    ngx_str_t *password)
{
    u_char      *p, *start, *last, buf[512];
    ssize_t      n;
    ngx_fd_t     fd;
    ngx_int_t    rc;
    ngx_str_t    name;

    name = *path;

    if (ngx_conf_full_name(cf->cycle, &name, 1) != NGX_OK) {
        return NGX_ERROR;
    }

    fd = ngx_open_file(name.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "fsauth_redis: " ngx_open_file_n " \"%s\" failed",
                           name.data);
        return NGX_ERROR;
    }

    n = ngx_read_fd(fd, buf, sizeof(buf));
    ngx_close_file(fd);

    rc = NGX_ERROR;

    if (n == -1) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "fsauth_redis: " ngx_read_fd_n " \"%s\" failed",
                           name.data);
        goto done;
    }

    start = buf;
    last = buf + n;

    for (p = start; p < last && *p != LF && *p != CR; p++) {
        /* void */
    }

    while (start < p && (*start == ' ' || *start == '\t')) {
        start++;
    }

    while (p > start && (p[-1] == ' ' || p[-1] == '\t')) {
        p--;
    }

    if (p == start) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "fsauth_redis: empty password in \"%s\"",
                           name.data);
        goto done;
    }

    password->len = p - start;
    password->data = ngx_pnalloc(cf->pool, password->len);
    if (password->data == NULL) {
        goto done;
    }

    ngx_memcpy(password->data, start, password->len);
    rc = NGX_OK;

done:

    ngx_explicit_memzero(buf, sizeof(buf));

    return rc;
}


ngx_int_t
ngx_http_fsauth_redis_init_worker(ngx_cycle_t *cycle,
    ngx_http_fsauth_redis_conf_t *rcf)
{
    ngx_http_fsauth_peer_t  *peer;

    peer = ngx_pcalloc(cycle->pool, sizeof(ngx_http_fsauth_peer_t));
    if (peer == NULL) {
        return NGX_ERROR;
    }

    peer->activity = ngx_pcalloc(cycle->pool,
                                 NGX_HTTP_FSAUTH_ACTIVITY_SLOTS
                                 * sizeof(ngx_http_fsauth_activity_t));
    if (peer->activity == NULL) {
        return NGX_ERROR;
    }

    peer->conf = rcf;
    peer->log = cycle->log;
    peer->api_enabled = -1;

    ngx_rbtree_init(&peer->ops, &peer->sentinel,
                    ngx_http_fsauth_redis_op_insert);

    /* worker timers must not hold up a graceful shutdown */

    peer->retry.handler = ngx_http_fsauth_redis_retry_handler;
    peer->retry.data = peer;
    peer->retry.log = cycle->log;
    peer->retry.cancelable = 1;

    peer->deadline.handler = ngx_http_fsauth_redis_deadline_handler;
    peer->deadline.data = peer;
    peer->deadline.log = cycle->log;
    peer->deadline.cancelable = 1;

    peer->poll.handler = ngx_http_fsauth_redis_poll_handler;
    peer->poll.data = peer;
    peer->poll.log = cycle->log;
    peer->poll.cancelable = 1;

    rcf->peer = peer;

    ngx_http_fsauth_redis_connect(peer);

    return NGX_OK;
}


void
ngx_http_fsauth_redis_exit_worker(ngx_http_fsauth_redis_conf_t *rcf)
{
    redisAsyncContext       *ac;
    ngx_http_fsauth_peer_t  *peer;

    peer = rcf->peer;
    if (peer == NULL) {
        return;
    }

    peer->exiting = 1;

    if (peer->retry.timer_set) {
        ngx_del_timer(&peer->retry);
    }

    if (peer->deadline.timer_set) {
        ngx_del_timer(&peer->deadline);
    }

    if (peer->poll.timer_set) {
        ngx_del_timer(&peer->poll);
    }

    /* frees the fd too: no "open socket left" at exit */

    ac = peer->ac;
    if (ac) {
        peer->ac = NULL;
        redisAsyncFree(ac);
    }
}


static void
ngx_http_fsauth_redis_connect(ngx_http_fsauth_peer_t *peer)
{
    int                            argc;
    char                           db[NGX_INT_T_LEN];
    const char                    *argv[2];
    size_t                         argvlen[2];
    redisAsyncContext             *ac;
    ngx_http_fsauth_redis_conf_t  *rcf;

    rcf = peer->conf;

    if (rcf->port) {
        ac = redisAsyncConnect((char *) rcf->host.data, rcf->port);

    } else {
        ac = redisAsyncConnectUnix((char *) rcf->host.data);
    }

    if (ac == NULL) {
        ngx_log_error(NGX_LOG_ALERT, peer->log, 0,
                      "fsauth: cannot allocate a redis context");
        ngx_http_fsauth_redis_schedule(peer);
        return;
    }

    if (ac->err) {
        if (!peer->down_logged) {
            ngx_log_error(NGX_LOG_ERR, peer->log, 0,
                          "fsauth: cannot connect to redis at \"%V\": %s",
                          &rcf->addr_text, ac->errstr);
            peer->down_logged = 1;
        }

        redisAsyncFree(ac);
        ngx_http_fsauth_redis_schedule(peer);
        return;
    }

    if (ngx_http_fsauth_adapter_attach(ac, peer->log) != NGX_OK) {
        ngx_log_error(NGX_LOG_ALERT, peer->log, 0,
                      "fsauth: no free connection for redis");
        redisAsyncFree(ac);
        ngx_http_fsauth_redis_schedule(peer);
        return;
    }

    ac->data = peer;
    redisAsyncSetConnectCallback(ac, ngx_http_fsauth_redis_connected);
    redisAsyncSetDisconnectCallback(ac, ngx_http_fsauth_redis_disconnected);

    peer->ac = ac;
    peer->state = NGX_HTTP_FSAUTH_REDIS_CONNECTING;

    /* hiredis keeps command order: AUTH, SELECT, then the kill switch */

    if (rcf->password.len) {
        argv[0] = "AUTH";
        argvlen[0] = 4;
        argv[1] = (char *) rcf->password.data;
        argvlen[1] = rcf->password.len;

        if (redisAsyncCommandArgv(ac, ngx_http_fsauth_redis_handshake_cb,
                                  (void *) "AUTH", 2, argv, argvlen)
            != REDIS_OK)
        {
            goto failed;
        }
    }

    if (rcf->db) {
        argc = ngx_sprintf((u_char *) db, "%ui", rcf->db) - (u_char *) db;

        argv[0] = "SELECT";
        argvlen[0] = 6;
        argv[1] = db;
        argvlen[1] = argc;

        if (redisAsyncCommandArgv(ac, ngx_http_fsauth_redis_handshake_cb,
                                  (void *) "SELECT", 2, argv, argvlen)
            != REDIS_OK)
        {
            goto failed;
        }
    }

    if (ngx_http_fsauth_redis_api_query(peer) != NGX_OK) {
        goto failed;
    }

    ngx_add_timer(&peer->deadline, rcf->connect_timeout);

    return;

failed:

    ngx_http_fsauth_redis_reset(peer, "cannot queue the handshake");
}


/* drops the connection now; pending lookups fail at once */

static void
ngx_http_fsauth_redis_reset(ngx_http_fsauth_peer_t *peer, const char *reason)
{
    redisAsyncContext  *ac;

    if (peer->ac == NULL) {
        return;
    }

    if (!peer->down_logged) {
        ngx_log_error(NGX_LOG_ERR, peer->log, 0,
                      "fsauth: redis at \"%V\": %s",
                      &peer->conf->addr_text, reason);
        peer->down_logged = 1;
    }

    ac = peer->ac;
    peer->ac = NULL;
    peer->state = NGX_HTTP_FSAUTH_REDIS_DOWN;

    if (peer->deadline.timer_set) {
        ngx_del_timer(&peer->deadline);
    }

    /* deferred by hiredis when called from one of its callbacks */

    redisAsyncFree(ac);

    ngx_http_fsauth_redis_schedule(peer);
}


static void
ngx_http_fsauth_redis_schedule(ngx_http_fsauth_peer_t *peer)
{
    ngx_msec_t  delay;

    peer->state = NGX_HTTP_FSAUTH_REDIS_DOWN;

    if (peer->exiting || peer->retry.timer_set) {
        return;
    }

    /* capped exponential backoff with jitter: workers do not march */

    delay = NGX_HTTP_FSAUTH_BACKOFF_MIN << ngx_min(peer->failures, 5);
    delay = ngx_min(delay, NGX_HTTP_FSAUTH_BACKOFF_MAX);
    delay = delay / 2 + (ngx_random() % (delay / 2 + 1));

    peer->failures++;

    ngx_add_timer(&peer->retry, delay);
}


static void
ngx_http_fsauth_redis_retry_handler(ngx_event_t *ev)
{
    ngx_http_fsauth_peer_t  *peer = ev->data;

    if (peer->exiting || ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    ngx_http_fsauth_redis_connect(peer);
}


static void
ngx_http_fsauth_redis_deadline_handler(ngx_event_t *ev)
{
    ngx_http_fsauth_peer_t  *peer = ev->data;

    if (peer->state != NGX_HTTP_FSAUTH_REDIS_READY) {
        ngx_http_fsauth_redis_reset(peer, "connect timed out");
    }
}


static void
ngx_http_fsauth_redis_poll_handler(ngx_event_t *ev)
{
    ngx_http_fsauth_peer_t  *peer = ev->data;

    if (peer->state == NGX_HTTP_FSAUTH_REDIS_READY && !peer->exiting) {
        (void) ngx_http_fsauth_redis_api_query(peer);
    }
}


static void
ngx_http_fsauth_redis_connected(const redisAsyncContext *ac, int status)
{
    ngx_http_fsauth_peer_t  *peer = ac->data;

    if (status == REDIS_OK || peer == NULL || ac != peer->ac) {
        return;
    }

    /* hiredis frees the context when this returns */

    if (!peer->down_logged) {
        ngx_log_error(NGX_LOG_ERR, peer->log, 0,
                      "fsauth: cannot connect to redis at \"%V\": %s",
                      &peer->conf->addr_text, ac->errstr);
        peer->down_logged = 1;
    }

    peer->ac = NULL;

    if (peer->deadline.timer_set) {
        ngx_del_timer(&peer->deadline);
    }

    ngx_http_fsauth_redis_schedule(peer);
}


static void
ngx_http_fsauth_redis_disconnected(const redisAsyncContext *ac, int status)
{
    ngx_http_fsauth_peer_t  *peer = ac->data;

    if (peer == NULL || ac != peer->ac) {
        return;
    }

    if (!peer->down_logged) {
        ngx_log_error(NGX_LOG_ERR, peer->log, 0,
                      "fsauth: lost redis connection to \"%V\": %s",
                      &peer->conf->addr_text,
                      ac->errstr ? ac->errstr : "closed");
        peer->down_logged = 1;
    }

    peer->ac = NULL;

    if (peer->deadline.timer_set) {
        ngx_del_timer(&peer->deadline);
    }

    ngx_http_fsauth_redis_schedule(peer);
}


static void
ngx_http_fsauth_redis_handshake_cb(redisAsyncContext *ac, void *reply,
    void *privdata)
{
    redisReply              *rr = reply;
    ngx_http_fsauth_peer_t  *peer = ac->data;

    if (rr == NULL || peer == NULL || ac != peer->ac) {
        return;
    }

    if (rr->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, peer->log, 0,
                      "fsauth: redis %s failed: %*s", (char *) privdata,
                      (size_t) ngx_min(rr->len, 200), rr->str);
        peer->down_logged = 1;
        ngx_http_fsauth_redis_reset(peer, "handshake failed");
    }
}


static ngx_int_t
ngx_http_fsauth_redis_api_query(ngx_http_fsauth_peer_t *peer)
{
    u_char                        *p;
    const char                    *argv[3];
    size_t                         argvlen[3];
    u_char                         key[256];
    ngx_http_fsauth_redis_conf_t  *rcf;

    rcf = peer->conf;

    if (rcf->prefix.len + 3 > sizeof(key)) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(key, rcf->prefix.data, rcf->prefix.len);
    p = ngx_cpymem(p, "api", 3);

    argv[0] = "HGET";
    argvlen[0] = 4;
    argv[1] = (char *) key;
    argvlen[1] = p - key;
    argv[2] = "enabled";
    argvlen[2] = 7;

    if (redisAsyncCommandArgv(peer->ac, ngx_http_fsauth_redis_api_cb, NULL,
                              3, argv, argvlen)
        != REDIS_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* the kill switch; its first answer also ends the handshake */

static void
ngx_http_fsauth_redis_api_cb(redisAsyncContext *ac, void *reply,
    void *privdata)
{
    redisReply              *rr = reply;
    ngx_int_t                enabled;
    ngx_http_fsauth_peer_t  *peer = ac->data;

    if (rr == NULL || peer == NULL || ac != peer->ac) {
        return;
    }

    if (rr->type == REDIS_REPLY_STRING) {
        enabled = !(rr->len == 1 && rr->str[0] == '0');

    } else if (rr->type == REDIS_REPLY_NIL) {
        enabled = 1;

    } else {
        ngx_log_error(NGX_LOG_ERR, peer->log, 0,
                      "fsauth: unexpected reply for \"%Vapi\", kill switch "
                      "state kept", &peer->conf->prefix);
        enabled = peer->api_enabled;
    }

    if (enabled != peer->api_enabled && peer->api_enabled != -1) {
        ngx_log_error(NGX_LOG_NOTICE, peer->log, 0,
                      "fsauth: API %s by \"%Vapi\"",
                      enabled ? "enabled" : "disabled", &peer->conf->prefix);
    }

    peer->api_enabled = enabled;

    if (peer->state == NGX_HTTP_FSAUTH_REDIS_CONNECTING) {
        peer->state = NGX_HTTP_FSAUTH_REDIS_READY;
        peer->failures = 0;

        if (peer->deadline.timer_set) {
            ngx_del_timer(&peer->deadline);
        }

        if (peer->down_logged) {
            ngx_log_error(NGX_LOG_NOTICE, peer->log, 0,
                          "fsauth: redis at \"%V\" is back",
                          &peer->conf->addr_text);
            peer->down_logged = 0;
        }
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
 * Starts or joins the lookup of ctx->digest.  NGX_AGAIN: the request waits
 * on ctx->wait, which is posted by the reply or fires at the deadline.
 * NGX_DECLINED: Redis is not usable now (ctx->failed is set).
 */

ngx_int_t
ngx_http_fsauth_redis_lookup(ngx_http_fsauth_redis_conf_t *rcf,
    ngx_http_fsauth_ctx_t *ctx)
{
    u_char                  *p;
    const char              *argv[2];
    size_t                   argvlen[2];
    u_char                   key[256 + NGX_HTTP_FSAUTH_HEX_LEN];
    ngx_http_fsauth_op_t    *op;
    ngx_http_fsauth_peer_t  *peer;

    peer = rcf->peer;

    ctx->cache_status = NGX_HTTP_FSAUTH_CACHE_MISS;

    if (peer == NULL || peer->ac == NULL
        || peer->state == NGX_HTTP_FSAUTH_REDIS_DOWN)
    {
        ctx->failed = 1;
        return NGX_DECLINED;
    }

    op = ngx_http_fsauth_redis_find_op(peer, ctx->digest);

    if (op == NULL) {

        if (peer->inflight >= NGX_HTTP_FSAUTH_INFLIGHT_MAX
            || rcf->prefix.len > 256 - 4)
        {
            ctx->failed = 1;
            return NGX_DECLINED;
        }

        op = ngx_alloc(sizeof(ngx_http_fsauth_op_t), ngx_cycle->log);
        if (op == NULL) {
            ctx->failed = 1;
            return NGX_DECLINED;
        }

        p = ngx_cpymem(key, rcf->prefix.data, rcf->prefix.len);
        p = ngx_cpymem(p, "key:", 4);
        p = ngx_hex_dump(p, ctx->digest, NGX_HTTP_FSAUTH_DIGEST_LEN);

        argv[0] = "HGETALL";
        argvlen[0] = 7;
        argv[1] = (char *) key;
        argvlen[1] = p - key;

        if (redisAsyncCommandArgv(peer->ac, ngx_http_fsauth_redis_lookup_cb,
                                  op, 2, argv, argvlen)
            != REDIS_OK)
        {
            ngx_free(op);
            ctx->failed = 1;
            return NGX_DECLINED;
        }

        ngx_memcpy(op->digest, ctx->digest, NGX_HTTP_FSAUTH_DIGEST_LEN);
        ngx_queue_init(&op->waiters);
        op->peer = peer;
        op->sent = ngx_current_msec;

        op->node.key = (ngx_rbtree_key_t) ((uint32_t) op->digest[0] << 24
                                           | op->digest[1] << 16
                                           | op->digest[2] << 8
                                           | op->digest[3]);
        ngx_rbtree_insert(&peer->ops, &op->node);
        op->in_tree = 1;

        peer->inflight++;
    }

    ctx->op = op;
    ngx_queue_insert_tail(&op->waiters, &ctx->link);

    ngx_add_timer(&ctx->wait, rcf->timeout);

    return NGX_AGAIN;
}


/* the request stopped waiting; its op may still get a reply */

void
ngx_http_fsauth_redis_detach(ngx_http_fsauth_ctx_t *ctx)
{
    ngx_http_fsauth_op_t    *op;
    ngx_http_fsauth_peer_t  *peer;

    op = ctx->op;
    ctx->op = NULL;

    ngx_queue_remove(&ctx->link);

    peer = op->peer;

    /*
     * A command unanswered for a whole timeout means the connection is
     * not healthy (Redis hangs or the path is broken): drop it, so that
     * the next requests fail fast instead of queueing behind it.
     */

    if (op->in_tree && peer->ac
        && ngx_current_msec - op->sent >= peer->conf->timeout)
    {
        ngx_http_fsauth_redis_reset(peer, "lookup timed out");
    }
}


static void
ngx_http_fsauth_redis_lookup_cb(redisAsyncContext *ac, void *reply,
    void *privdata)
{
    ngx_http_fsauth_op_t *op = privdata;

    ngx_int_t                  rc;
    ngx_uint_t                 mask;
    const char                *err;
    ngx_queue_t               *q;
    ngx_http_fsauth_ctx_t     *ctx;
    ngx_http_fsauth_peer_t    *peer;
    ngx_http_fsauth_record_t   rec;

    peer = op->peer;

    if (op->in_tree) {
        ngx_rbtree_delete(&peer->ops, &op->node);
        op->in_tree = 0;
        peer->inflight--;
    }

    if (peer->exiting || ngx_queue_empty(&op->waiters)) {
        ngx_free(op);
        return;
    }

    rc = ngx_http_fsauth_record_from_reply(reply, &rec, &err);

    if (rc == NGX_ERROR && reply) {
        ngx_log_error(NGX_LOG_ERR, peer->log, 0,
                      "fsauth: redis lookup failed: %s%s%*s", err,
                      ((redisReply *) reply)->type == REDIS_REPLY_ERROR
                      ? ": " : "",
                      (size_t) (((redisReply *) reply)->type
                                == REDIS_REPLY_ERROR
                                ? ngx_min(((redisReply *) reply)->len, 200)
                                : 0),
                      ((redisReply *) reply)->str);

    } else if (rc == NGX_DECLINED && err) {
        ngx_log_error(NGX_LOG_ERR, peer->log, 0,
                      "fsauth: key record has %s, treated as unknown", err);
    }

    while (!ngx_queue_empty(&op->waiters)) {
        q = ngx_queue_head(&op->waiters);
        ngx_queue_remove(q);

        ctx = ngx_queue_data(q, ngx_http_fsauth_ctx_t, link);
        ctx->op = NULL;

        if (rc == NGX_ERROR) {
            ctx->failed = 1;

        } else {
            ngx_memzero(&ctx->result, sizeof(ngx_http_fsauth_result_t));

            if (rc == NGX_OK) {
                ngx_http_fsauth_record_extract(&rec, &ctx->resource,
                                               &ctx->result);

                if (!ctx->result.has_grant && rec.incomplete
                    && ngx_http_fsauth_record_reply_grant(reply,
                                                          &ctx->resource,
                                                          &mask)
                       == NGX_OK)
                {
                    ctx->result.has_grant = 1;
                    ctx->result.mask = mask;
                }
            }

            ctx->answered = 1;
        }

        /* the handler decides, later, on its own stack */

        if (ctx->wait.timer_set) {
            ngx_del_timer(&ctx->wait);
        }

        ngx_post_event(&ctx->wait, &ngx_posted_events);
    }

    ngx_free(op);
}


static ngx_http_fsauth_op_t *
ngx_http_fsauth_redis_find_op(ngx_http_fsauth_peer_t *peer, u_char *digest)
{
    ngx_int_t              rc;
    ngx_rbtree_key_t       key;
    ngx_rbtree_node_t     *node, *sentinel;
    ngx_http_fsauth_op_t  *op;

    key = (ngx_rbtree_key_t) ((uint32_t) digest[0] << 24 | digest[1] << 16
                              | digest[2] << 8 | digest[3]);

    node = peer->ops.root;
    sentinel = peer->ops.sentinel;

    while (node != sentinel) {

        if (key < node->key) {
            node = node->left;
            continue;
        }

        if (key > node->key) {
            node = node->right;
            continue;
        }

        op = (ngx_http_fsauth_op_t *) node;

        rc = ngx_memcmp(digest, op->digest, NGX_HTTP_FSAUTH_DIGEST_LEN);

        if (rc == 0) {
            return op;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}


static void
ngx_http_fsauth_redis_op_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t     **p;
    ngx_http_fsauth_op_t   *op, *opt;

    for ( ;; ) {

        if (node->key < temp->key) {
            p = &temp->left;

        } else if (node->key > temp->key) {
            p = &temp->right;

        } else {
            op = (ngx_http_fsauth_op_t *) node;
            opt = (ngx_http_fsauth_op_t *) temp;

            p = (ngx_memcmp(op->digest, opt->digest,
                            NGX_HTTP_FSAUTH_DIGEST_LEN) < 0)
                ? &temp->left : &temp->right;
        }

        if (*p == sentinel) {
            break;
        }

        temp = *p;
    }

    *p = node;
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    ngx_rbt_red(node);
}


/*
 * Records the key's last use in <prefix>activity:<id>, at most once per
 * interval per key and worker.  Fire and forget: no reply is awaited.
 */

void
ngx_http_fsauth_redis_activity(ngx_http_fsauth_redis_conf_t *rcf,
    ngx_http_request_t *r, ngx_int_t id, ngx_msec_t interval)
{
    u_char                      *p;
    const char                  *argv[6];
    size_t                       argvlen[6];
    u_char                       key[256 + NGX_INT_T_LEN];
    u_char                       now[NGX_TIME_T_LEN];
    ngx_http_fsauth_peer_t      *peer;
    ngx_http_fsauth_activity_t  *slot;

    peer = rcf->peer;

    if (peer == NULL || peer->state != NGX_HTTP_FSAUTH_REDIS_READY
        || rcf->prefix.len > 256 - 9)
    {
        return;
    }

    slot = &peer->activity[id % NGX_HTTP_FSAUTH_ACTIVITY_SLOTS];

    if (slot->id == id && ngx_current_msec - slot->last < interval) {
        return;
    }

    slot->id = id;
    slot->last = ngx_current_msec;

    p = ngx_cpymem(key, rcf->prefix.data, rcf->prefix.len);
    p = ngx_sprintf(p, "activity:%i", id);

    argv[0] = "HSET";
    argvlen[0] = 4;
    argv[1] = (char *) key;
    argvlen[1] = p - key;
    argv[2] = "lastactivity";
    argvlen[2] = 12;
    argv[3] = (char *) now;
    argvlen[3] = ngx_sprintf(now, "%T", ngx_time()) - now;
    argv[4] = "lastip";
    argvlen[4] = 6;
    argv[5] = (char *) r->connection->addr_text.data;
    argvlen[5] = r->connection->addr_text.len;

    (void) redisAsyncCommandArgv(peer->ac, NULL, NULL, 6, argv, argvlen);
}
