
/*
 * Copyright (C) fsauth authors
 * BSD-2-Clause, see LICENSE.
 */


/*
 * TLS to Redis: the tls*= parameters of fsauth_redis, one SSL_CTX built
 * at configuration time, and one SSL object per connection attempt that
 * hiredis drives without blocking (its read and write handlers continue
 * the handshake).  The connection deadline of the caller runs until the
 * first reply, so it bounds the handshake too.
 */


#include "ngx_http_fsauth_module.h"
#include "ngx_http_fsauth_redis.h"

#if (NGX_HTTP_FSAUTH_HIREDIS_SSL)
#include <hiredis/hiredis_ssl.h>
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "fsauth_tls.h"
#endif


struct ngx_http_fsauth_tls_s {
    ngx_flag_t                      on;
    ngx_flag_t                      verify;
    ngx_str_t                       ca;
    ngx_str_t                       cert;
    ngx_str_t                       key;
    ngx_str_t                       server_name;   /* NUL-terminated */
    ngx_uint_t                      server_ip;     /* the name is an IP */
    ngx_str_t                       other;         /* a tls_*= seen */
#if (NGX_HTTP_FSAUTH_HIREDIS_SSL)
    SSL_CTX                        *ctx;
#endif
};


static ngx_int_t ngx_http_fsauth_tls_flag(ngx_conf_t *cf, ngx_str_t *value,
    ngx_str_t *v, ngx_flag_t *flag);
#if (NGX_HTTP_FSAUTH_HIREDIS_SSL)
static ngx_int_t ngx_http_fsauth_tls_ctx(ngx_conf_t *cf,
    ngx_http_fsauth_tls_t *tls);
static void ngx_http_fsauth_tls_cleanup(void *data);
static void ngx_http_fsauth_tls_log_refused(ngx_http_fsauth_conn_t *conn,
    const char *why);
static ngx_int_t ngx_http_fsauth_tls_default_name(ngx_conf_t *cf,
    ngx_http_fsauth_redis_conf_t *rcf);
static ngx_uint_t ngx_http_fsauth_tls_is_ip(u_char *name, size_t len);
#endif


/*
 * One parameter of fsauth_redis: NGX_DECLINED when it is not a TLS one,
 * NGX_ERROR (logged) when it is one with a bad value.
 */

ngx_int_t
ngx_http_fsauth_tls_param(ngx_conf_t *cf, ngx_http_fsauth_redis_conf_t *rcf,
    ngx_str_t *value)
{
    u_char                 *eq;
    ngx_str_t               name, v, *field;
    ngx_http_fsauth_tls_t  *tls;

    if (value->len < 4 || ngx_strncmp(value->data, "tls", 3) != 0) {
        return NGX_DECLINED;
    }

    eq = ngx_strlchr(value->data, value->data + value->len, '=');
    if (eq == NULL) {
        return NGX_DECLINED;
    }

    name.data = value->data;
    name.len = eq - value->data;
    v.data = eq + 1;
    v.len = value->data + value->len - v.data;

    tls = rcf->tls;

    if (tls == NULL) {
        tls = ngx_pcalloc(cf->pool, sizeof(ngx_http_fsauth_tls_t));
        if (tls == NULL) {
            return NGX_ERROR;
        }

        tls->verify = 1;
        rcf->tls = tls;
    }

    if (name.len > 3 && tls->other.len == 0) {
        tls->other = *value;
    }

    field = NULL;

    if (name.len == 3) {                                   /* tls= */
        return ngx_http_fsauth_tls_flag(cf, value, &v, &tls->on);
    }

    if (name.len == 10 && ngx_strncmp(name.data, "tls_verify", 10) == 0) {
        return ngx_http_fsauth_tls_flag(cf, value, &v, &tls->verify);
    }

    if (name.len == 6 && ngx_strncmp(name.data, "tls_ca", 6) == 0) {
        field = &tls->ca;

    } else if (name.len == 8 && ngx_strncmp(name.data, "tls_cert", 8) == 0) {
        field = &tls->cert;

    } else if (name.len == 7 && ngx_strncmp(name.data, "tls_key", 7) == 0) {
        field = &tls->key;

    } else if (name.len == 15
               && ngx_strncmp(name.data, "tls_server_name", 15) == 0)
    {
        field = &tls->server_name;

    } else {
        return NGX_DECLINED;
    }

    if (v.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\" of fsauth_redis", value);
        return NGX_ERROR;
    }

    if (field != &tls->server_name) {
        if (ngx_conf_full_name(cf->cycle, &v, 1) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    /* ngx_conf_full_name() and the arguments are NUL-terminated */

    *field = v;

    return NGX_OK;
}


static ngx_int_t
ngx_http_fsauth_tls_flag(ngx_conf_t *cf, ngx_str_t *value, ngx_str_t *v,
    ngx_flag_t *flag)
{
    if (v->len == 2 && ngx_strncmp(v->data, "on", 2) == 0) {
        *flag = 1;
        return NGX_OK;
    }

    if (v->len == 3 && ngx_strncmp(v->data, "off", 3) == 0) {
        *flag = 0;
        return NGX_OK;
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\" of fsauth_redis", value);
    return NGX_ERROR;
}


/* after every parameter: checks them together, builds the SSL_CTX */

char *
ngx_http_fsauth_tls_init(ngx_conf_t *cf, ngx_http_fsauth_redis_conf_t *rcf)
{
    ngx_http_fsauth_tls_t  *tls;
#if (NGX_HTTP_FSAUTH_HIREDIS_SSL)
    ngx_uint_t              i;
#endif

    if (rcf->user.len && rcf->password.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "fsauth_redis: \"user=\" needs \"password_file=\"");
        return NGX_CONF_ERROR;
    }

    tls = rcf->tls;

    if (tls == NULL) {
        return NGX_CONF_OK;
    }

    if (!tls->on) {
        if (tls->other.len) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "fsauth_redis: \"%V\" needs \"tls=on\"",
                               &tls->other);
            return NGX_CONF_ERROR;
        }

        rcf->tls = NULL;
        return NGX_CONF_OK;
    }

#if !(NGX_HTTP_FSAUTH_HIREDIS_SSL)

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "fsauth_redis: \"tls=on\" needs hiredis with TLS "
                       "(the hiredis_ssl library of hiredis 1.0 or later), "
                       "which this build of the module lacks");
    return NGX_CONF_ERROR;

#else

    /* sentinel=: no address yet; sentinels and nodes named are IP ones */

    for (i = 0; rcf->nsentinels == 0 && i < rcf->naddrs; i++) {
        if (rcf->addrs[i].port == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "fsauth_redis: \"tls=on\" needs a TCP "
                               "address, not a unix socket");
            return NGX_CONF_ERROR;
        }
    }

    if ((tls->cert.len == 0) != (tls->key.len == 0)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "fsauth_redis: \"tls_cert=\" and \"tls_key=\" "
                           "go together");
        return NGX_CONF_ERROR;
    }

    /*
     * sentinel= without tls_server_name=: each sentinel and each node
     * named is checked against the address connected to, as it comes
     */

    if (tls->server_name.len == 0 && rcf->nsentinels == 0
        && ngx_http_fsauth_tls_default_name(cf, rcf) != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    tls->server_ip = ngx_http_fsauth_tls_is_ip(tls->server_name.data,
                                               tls->server_name.len);

    if (ngx_http_fsauth_tls_ctx(cf, tls) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;

#endif
}


#if (NGX_HTTP_FSAUTH_HIREDIS_SSL)

static ngx_uint_t
ngx_http_fsauth_tls_is_ip(u_char *name, size_t len)
{
#if (NGX_HAVE_INET6)
    struct in6_addr  a6;
#endif

    if (len == 0) {
        return 0;
    }

    if (ngx_inet_addr(name, len) != INADDR_NONE) {
        return 1;
    }

#if (NGX_HAVE_INET6)
    if (ngx_inet6_addr(name, len, a6.s6_addr) == NGX_OK) {
        return 1;
    }
#endif

    return 0;
}


/* the name checked in the certificate: the host of the address */

static ngx_int_t
ngx_http_fsauth_tls_default_name(ngx_conf_t *cf,
    ngx_http_fsauth_redis_conf_t *rcf)
{
    u_char     *p, *last, *colon;
    ngx_str_t  *name;

    p = rcf->addr_text.data;
    last = p + rcf->addr_text.len;

    if (p < last && *p == '[') {
        p++;
        last = ngx_strlchr(p, last, ']');
        if (last == NULL) {
            return NGX_ERROR;
        }

    } else {
        colon = ngx_strlchr(p, last, ':');
        if (colon) {
            last = colon;
        }
    }

    name = &rcf->tls->server_name;

    name->len = last - p;
    name->data = ngx_pnalloc(cf->pool, name->len + 1);
    if (name->data == NULL) {
        return NGX_ERROR;
    }

    ngx_cpystrn(name->data, p, name->len + 1);

    return NGX_OK;
}


static ngx_int_t
ngx_http_fsauth_tls_ctx(ngx_conf_t *cf, ngx_http_fsauth_tls_t *tls)
{
    SSL_CTX             *ctx;
    ngx_pool_cleanup_t  *cln;

    ERR_clear_error();

    ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "fsauth_redis: SSL_CTX_new() failed: %s",
                           fsauth_tls_errstr());
        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        SSL_CTX_free(ctx);
        return NGX_ERROR;
    }

    cln->handler = ngx_http_fsauth_tls_cleanup;
    cln->data = ctx;
    tls->ctx = ctx;

    (void) SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);

    /* hiredis writes from its own buffer, which moves between calls */

    SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);

    if (tls->ca.len) {
        if (SSL_CTX_load_verify_locations(ctx, (char *) tls->ca.data, NULL)
            != 1)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "fsauth_redis: cannot load \"tls_ca=%s\": %s",
                               tls->ca.data, fsauth_tls_errstr());
            return NGX_ERROR;
        }

    } else if (tls->verify && SSL_CTX_set_default_verify_paths(ctx) != 1) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "fsauth_redis: cannot load the system CA "
                           "certificates: %s", fsauth_tls_errstr());
        return NGX_ERROR;
    }

    SSL_CTX_set_verify(ctx, tls->verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE,
                       NULL);

    if (tls->cert.len) {
        if (SSL_CTX_use_certificate_chain_file(ctx, (char *) tls->cert.data)
            != 1)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "fsauth_redis: cannot load \"tls_cert=%s\": "
                               "%s", tls->cert.data,
                               fsauth_tls_errstr());
            return NGX_ERROR;
        }

        if (SSL_CTX_use_PrivateKey_file(ctx, (char *) tls->key.data,
                                        SSL_FILETYPE_PEM)
            != 1
            || SSL_CTX_check_private_key(ctx) != 1)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "fsauth_redis: cannot use \"tls_key=%s\": %s",
                               tls->key.data, fsauth_tls_errstr());
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static void
ngx_http_fsauth_tls_cleanup(void *data)
{
    SSL_CTX_free(data);
}


/*
 * Starts TLS on a connection being established; hiredis owns the SSL
 * object from here on and frees it with the context.  A data node's
 * failure is logged here; a sentinel's (why != NULL) gets its reason in
 * *why, for the caller's line that names the sentinel.
 */

ngx_int_t
ngx_http_fsauth_tls_connect(ngx_http_fsauth_conn_t *conn,
    redisAsyncContext *ac, const char **why)
{
    char                          *name;
    SSL                           *ssl;
    ngx_uint_t                     ip;
    ngx_http_fsauth_tls_t         *tls;
    ngx_http_fsauth_redis_conf_t  *rcf;

    conn->ssl = NULL;
    ssl = NULL;

    rcf = conn->peer->conf;
    tls = rcf->tls;

    if (tls == NULL) {
        return NGX_OK;
    }

    ERR_clear_error();

    name = (char *) tls->server_name.data;
    ip = tls->server_ip;

    if (tls->server_name.len == 0) {

        /* sentinel=: the host of this connection, a sentinel or a node */

        name = ac->c.tcp.host;
        if (name == NULL) {
            goto failed;
        }

        ip = ngx_http_fsauth_tls_is_ip((u_char *) name, ngx_strlen(name));
    }

    ssl = SSL_new(tls->ctx);
    if (ssl == NULL) {
        goto failed;
    }

    if (!ip && SSL_set_tlsext_host_name(ssl, name) != 1) {
        goto failed;
    }

    if (tls->verify) {
        if (ip) {
            if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name)
                != 1)
            {
                goto failed;
            }

        } else if (SSL_set1_host(ssl, name) != 1) {
            goto failed;
        }
    }

    if (redisInitiateSSL(&ac->c, ssl) != REDIS_OK) {

        /* the server may have answered already: a refusal, said once */

        if (why) {
            *why = fsauth_tls_why(ssl, ac->c.errstr);

        } else {
            ngx_http_fsauth_tls_log_refused(conn,
                                            fsauth_tls_why(ssl,
                                                           ac->c.errstr));
        }

        SSL_free(ssl);
        return NGX_ERROR;
    }

    conn->ssl = ssl;

    return NGX_OK;

failed:

    if (why) {
        *why = ac->c.err ? ac->c.errstr : fsauth_tls_errstr();

    } else if (!conn->down_logged) {
        ngx_log_error(NGX_LOG_ERR, conn->peer->log, 0,
                      "fsauth: cannot start TLS to redis at \"%V\": %s",
                      &rcf->addr_text,
                      ac->c.err ? ac->c.errstr
                                : fsauth_tls_errstr());
        conn->down_logged = 1;
    }

    ERR_clear_error();

    if (ssl) {
        SSL_free(ssl);
    }

    return NGX_ERROR;
}


/*
 * Called when a connection fails or is lost, before the generic message:
 * when its TLS handshake was refused, logs one line that says why (at
 * most one per worker until Redis answers again) and returns 1.
 */

ngx_uint_t
ngx_http_fsauth_tls_refused(ngx_http_fsauth_conn_t *conn,
    const redisAsyncContext *ac, ngx_uint_t connecting)
{
    /*
     * With TLS 1.3 the client is done before the server has checked its
     * certificate: a loss before the first reply counts as a refusal.
     * hiredis may report it as a failed connect (a reset seen while it
     * checks the socket): a refusal only once the server has answered.
     */

    if (conn->ssl == NULL || conn->state == NGX_HTTP_FSAUTH_REDIS_READY) {
        return 0;
    }

    if (connecting && SSL_get_peer_cert_chain(conn->ssl) == NULL) {
        return 0;
    }

    ngx_http_fsauth_tls_log_refused(conn,
                                    fsauth_tls_why(conn->ssl,
                                                            ac->errstr));
    return 1;
}


/*
 * A sentinel connection that failed or was lost: why, when its TLS
 * handshake did not finish (the sentinel's certificate refused, or an
 * alert from it); NULL otherwise.  Its own line, naming the sentinel, is
 * the caller's.
 */

const char *
ngx_http_fsauth_tls_sentinel_why(ngx_http_fsauth_conn_t *conn,
    const redisAsyncContext *ac)
{
    if (conn->ssl == NULL) {
        return NULL;
    }

    if (SSL_get_verify_result(conn->ssl) == X509_V_OK
        && SSL_is_init_finished(conn->ssl))
    {
        return NULL;
    }

    return fsauth_tls_why(conn->ssl, ac->errstr);
}


/* one line per worker until Redis answers again */

static void
ngx_http_fsauth_tls_log_refused(ngx_http_fsauth_conn_t *conn,
    const char *why)
{
    ngx_http_fsauth_peer_t  *peer;

    peer = conn->peer;

    if (!peer->refused_logged) {
        ngx_log_error(NGX_LOG_ERR, peer->log, 0,
                      "fsauth: TLS handshake with redis at \"%V\" failed: %s",
                      &peer->conf->addr_text, why);
        peer->refused_logged = 1;
    }

    conn->down_logged = 1;
}


#else


ngx_int_t
ngx_http_fsauth_tls_connect(ngx_http_fsauth_conn_t *conn,
    redisAsyncContext *ac, const char **why)
{
    return NGX_OK;
}


ngx_uint_t
ngx_http_fsauth_tls_refused(ngx_http_fsauth_conn_t *conn,
    const redisAsyncContext *ac, ngx_uint_t connecting)
{
    return 0;
}


const char *
ngx_http_fsauth_tls_sentinel_why(ngx_http_fsauth_conn_t *conn,
    const redisAsyncContext *ac)
{
    return NULL;
}


#endif
