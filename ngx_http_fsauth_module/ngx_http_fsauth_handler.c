
/*
 * Copyright (C) fsauth authors
 * BSD-2-Clause, see LICENSE.
 */


#include "ngx_http_fsauth_module.h"


static ngx_int_t ngx_http_fsauth_start(ngx_http_request_t *r,
    ngx_http_fsauth_ctx_t *ctx, ngx_http_fsauth_loc_conf_t *flcf);
static ngx_int_t ngx_http_fsauth_decide(ngx_http_request_t *r,
    ngx_http_fsauth_ctx_t *ctx, ngx_http_fsauth_loc_conf_t *flcf);
static ngx_int_t ngx_http_fsauth_outage(ngx_http_request_t *r,
    ngx_http_fsauth_ctx_t *ctx, ngx_http_fsauth_loc_conf_t *flcf);
static ngx_int_t ngx_http_fsauth_grant(ngx_http_request_t *r,
    ngx_http_fsauth_ctx_t *ctx, ngx_http_fsauth_loc_conf_t *flcf,
    ngx_uint_t status);
static ngx_int_t ngx_http_fsauth_deny(ngx_http_request_t *r,
    ngx_http_fsauth_ctx_t *ctx, ngx_uint_t status, ngx_uint_t err);
static void ngx_http_fsauth_count_decision(ngx_http_fsauth_ctx_t *ctx,
    ngx_uint_t status);
static ngx_int_t ngx_http_fsauth_resource_read(ngx_http_request_t *r,
    ngx_http_fsauth_ctx_t *ctx, ngx_http_fsauth_loc_conf_t *flcf);
static ngx_http_fsauth_ctx_t *ngx_http_fsauth_create_ctx(
    ngx_http_request_t *r);
static void ngx_http_fsauth_cleanup(void *data);
static void ngx_http_fsauth_waiting(ngx_http_request_t *r);
static void ngx_http_fsauth_wake(ngx_event_t *ev);
static ngx_int_t ngx_http_fsauth_check(ngx_http_request_t *r,
    ngx_http_fsauth_loc_conf_t *flcf);


ngx_int_t
ngx_http_fsauth_access_handler(ngx_http_request_t *r)
{
    ngx_http_fsauth_loc_conf_t  *flcf;

    flcf = ngx_http_get_module_loc_conf(r, ngx_http_fsauth_module);

    if (!flcf->enable || r != r->main
        || flcf->phase != NGX_HTTP_FSAUTH_PHASE_ACCESS)
    {
        return NGX_DECLINED;
    }

    return ngx_http_fsauth_check(r, flcf);
}


ngx_int_t
ngx_http_fsauth_preaccess_handler(ngx_http_request_t *r)
{
    ngx_int_t                    rc;
    ngx_http_fsauth_loc_conf_t  *flcf;

    flcf = ngx_http_get_module_loc_conf(r, ngx_http_fsauth_module);

    if (!flcf->enable || r != r->main
        || flcf->phase != NGX_HTTP_FSAUTH_PHASE_PREACCESS)
    {
        return NGX_DECLINED;
    }

    rc = ngx_http_fsauth_check(r, flcf);

    /*
     * NGX_OK would end the preaccess phase here, before limit_req and
     * limit_conn; a granted request goes on to them instead.
     */

    return rc == NGX_OK ? NGX_DECLINED : rc;
}


static ngx_int_t
ngx_http_fsauth_check(ngx_http_request_t *r, ngx_http_fsauth_loc_conf_t *flcf)
{
    ngx_http_fsauth_ctx_t  *ctx;

    ctx = ngx_http_fsauth_get_ctx(r);

    if (ctx == NULL) {
        ctx = ngx_http_fsauth_create_ctx(r);
        if (ctx == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

    } else if (ctx->state != NGX_HTTP_FSAUTH_STATE_NEW) {
        /* woken up with the lookup's answer or failure */
        return ngx_http_fsauth_decide(r, ctx, flcf);
    }

    /* a new request, or a new location after an internal redirect */

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "fsauth: check \"%V\"%s", &r->uri,
                   r->internal ? " again, after a redirect" : "");

    ctx->status = NGX_HTTP_FSAUTH_ST_NONE;
    ctx->cache_status = NGX_HTTP_FSAUTH_CACHE_NONE;
    ctx->key_id = 0;
    ngx_str_null(&ctx->nick);
    ctx->full_access = 0;

    return ngx_http_fsauth_start(r, ctx, flcf);
}


static ngx_int_t
ngx_http_fsauth_start(ngx_http_request_t *r, ngx_http_fsauth_ctx_t *ctx,
    ngx_http_fsauth_loc_conf_t *flcf)
{
    ngx_int_t                     rc;
    ngx_str_t                     token;
    ngx_http_fsauth_main_conf_t  *fmcf;

    fmcf = ngx_http_get_module_main_conf(r, ngx_http_fsauth_module);

    /* the resource is known early so that $fsauth_resource is always set */

    rc = ngx_http_fsauth_resource_read(r, ctx, flcf);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (!flcf->api
        || (fmcf->redis && ngx_http_fsauth_redis_api_enabled(fmcf->redis)
                           == 0))
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "fsauth: API disabled");
        return ngx_http_fsauth_deny(r, ctx, NGX_HTTP_FSAUTH_ST_DISABLED,
                                    NGX_HTTP_FSAUTH_ERR_DISABLED);
    }

    if (r->method == NGX_HTTP_OPTIONS
        && flcf->preflight == NGX_HTTP_FSAUTH_PREFLIGHT_PASS)
    {
        ctx->status = NGX_HTTP_FSAUTH_ST_PREFLIGHT;
        ngx_http_fsauth_count_decision(ctx, NGX_HTTP_FSAUTH_ST_PREFLIGHT);
        return NGX_OK;
    }

    /* before the token, so that a banned address is refused even with a
     * valid key, as the backend does */

    if (fmcf->cache && flcf->ban_threshold
        && ngx_http_fsauth_ban_check(fmcf->cache, r, flcf->ban_threshold,
                                     flcf->ban_window))
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "fsauth: client address banned");
        return ngx_http_fsauth_deny(r, ctx, NGX_HTTP_FSAUTH_ST_BANNED,
                                    NGX_HTTP_FSAUTH_ERR_BANNED);
    }

    /*
     * After an internal redirect the token is looked for in the headers
     * as the client sent them, whatever fsauth_hide_credentials removed
     * for the previous location.
     */

    switch (ngx_http_fsauth_token_find(ctx->hidden ? &ctx->headers
                                                   : &r->headers_in.headers,
                                       flcf->token_headers, &token))
    {

    case NGX_OK:
        break;

    case NGX_BUSY:
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "fsauth: token header sent more than once");
        return ngx_http_fsauth_deny(r, ctx, NGX_HTTP_FSAUTH_ST_UNAUTHORIZED,
                                    NGX_HTTP_FSAUTH_ERR_UNAUTHORIZED);

    default: /* NGX_DECLINED */
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "fsauth: no token was provided");
        return ngx_http_fsauth_deny(r, ctx, NGX_HTTP_FSAUTH_ST_UNAUTHORIZED,
                                    NGX_HTTP_FSAUTH_ERR_UNAUTHORIZED);
    }

    if (ngx_http_fsauth_token_valid(token.data, token.len) != NGX_OK) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "fsauth: malformed token of %uz bytes", token.len);
        return ngx_http_fsauth_deny(r, ctx, NGX_HTTP_FSAUTH_ST_UNAUTHORIZED,
                                    NGX_HTTP_FSAUTH_ERR_UNAUTHORIZED);
    }

    if (rc == NGX_DECLINED) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "fsauth: ambiguous request path refused");
        return ngx_http_fsauth_deny(r, ctx, NGX_HTTP_FSAUTH_ST_FORBIDDEN,
                                    NGX_HTTP_FSAUTH_ERR_FORBIDDEN);
    }

    if (rc == NGX_BUSY) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "fsauth: the rewritten URI \"%V\" names another "
                      "resource than the request line, refused", &r->uri);
        return ngx_http_fsauth_deny(r, ctx, NGX_HTTP_FSAUTH_ST_FORBIDDEN,
                                    NGX_HTTP_FSAUTH_ERR_FORBIDDEN);
    }

    if (flcf->global_key.len
        && ngx_http_fsauth_token_equal(&flcf->global_key, &token))
    {
        ctx->full_access = 1;
        ctx->cache_status = NGX_HTTP_FSAUTH_CACHE_BYPASS;
        return ngx_http_fsauth_grant(r, ctx, flcf, NGX_HTTP_FSAUTH_ST_GLOBAL);
    }

    if (fmcf->redis == NULL) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "fsauth: unknown token and no fsauth_redis");
        return ngx_http_fsauth_deny(r, ctx, NGX_HTTP_FSAUTH_ST_UNAUTHORIZED,
                                    NGX_HTTP_FSAUTH_ERR_UNAUTHORIZED);
    }

    ngx_http_fsauth_token_digest(token.data, token.len, ctx->digest);

    /* a hit sets the rest (see record_extract), a negative entry found */

    ctx->result.found = 0;
    ctx->result.activity = 0;
    ctx->has_stale = 0;

    if (fmcf->cache) {
        rc = ngx_http_fsauth_cache_lookup(fmcf->cache, ctx->digest,
                                          &ctx->resource,
                                          r->connection->sockaddr,
                                          &ctx->result,
                                          flcf->activity
                                          ? flcf->activity_interval : 0);

        switch (rc) {
        case NGX_HTTP_FSAUTH_CACHE_HIT:
        case NGX_HTTP_FSAUTH_CACHE_NEGATIVE:
            ctx->cache_status = rc;
            ctx->state = NGX_HTTP_FSAUTH_STATE_ANSWERED;
            return ngx_http_fsauth_decide(r, ctx, flcf);

        case NGX_HTTP_FSAUTH_CACHE_STALE:
            ctx->stale = ctx->result;
            ctx->has_stale = 1;
            break;

        default:
            break;
        }
    }

    ctx->cache_status = NGX_HTTP_FSAUTH_CACHE_MISS;

    ctx->wait.handler = ngx_http_fsauth_wake;
    ctx->wait.data = ctx;
    ctx->wait.log = r->connection->log;

    if (ngx_http_fsauth_lookup_start(r, ctx, fmcf->redis) == NGX_AGAIN) {

        /* as limit_req's delay: the request sleeps until ctx->wait */

        ctx->state = NGX_HTTP_FSAUTH_STATE_WAITING;
        r->read_event_handler = ngx_http_test_reading;
        r->write_event_handler = ngx_http_fsauth_waiting;
        return NGX_AGAIN;
    }

    ctx->state = NGX_HTTP_FSAUTH_STATE_FAILED;

    return ngx_http_fsauth_decide(r, ctx, flcf);
}


/* the lookup has an answer (ANSWERED) or has failed (FAILED) */

static ngx_int_t
ngx_http_fsauth_decide(ngx_http_request_t *r, ngx_http_fsauth_ctx_t *ctx,
    ngx_http_fsauth_loc_conf_t *flcf)
{
    u_char                        hex[8];
    ngx_http_fsauth_result_t     *res;
    ngx_http_fsauth_main_conf_t  *fmcf;

    if (ctx->state == NGX_HTTP_FSAUTH_STATE_FAILED) {
        ctx->state = NGX_HTTP_FSAUTH_STATE_NEW;
        return ngx_http_fsauth_outage(r, ctx, flcf);
    }

    ctx->state = NGX_HTTP_FSAUTH_STATE_NEW;
    res = &ctx->result;

    fmcf = ngx_http_get_module_main_conf(r, ngx_http_fsauth_module);

    /*
     * The kill switch may have been read while the request waited; an
     * answer straight from the cache follows the check in start.
     */

    if (ctx->cache_status != NGX_HTTP_FSAUTH_CACHE_HIT
        && ctx->cache_status != NGX_HTTP_FSAUTH_CACHE_NEGATIVE
        && ngx_http_fsauth_redis_api_enabled(fmcf->redis) == 0)
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "fsauth: API disabled");
        return ngx_http_fsauth_deny(r, ctx, NGX_HTTP_FSAUTH_ST_DISABLED,
                                    NGX_HTTP_FSAUTH_ERR_DISABLED);
    }

    if (!res->found || !res->enabled) {
        ngx_http_fsauth_digest_hex(hex, ctx->digest, sizeof(hex) / 2);
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "fsauth: %s key %*s...",
                      !res->found ? "unknown"
                      : (res->expired ? "expired" : "disabled"),
                      sizeof(hex), hex);
        return ngx_http_fsauth_deny(r, ctx, NGX_HTTP_FSAUTH_ST_UNAUTHORIZED,
                                    NGX_HTTP_FSAUTH_ERR_UNAUTHORIZED);
    }

    ctx->key_id = res->id;
    ctx->nick.data = res->nick;
    ctx->nick.len = res->nick_len;
    ctx->full_access = res->fullaccess;

    /* only a fresh hit says so: a miss's write went with its reply */

    if (res->activity) {
        ngx_http_fsauth_lookup_activity(r, fmcf->redis, res->id,
                                        flcf->activity_interval, 1);
    }

    /*
     * The key's address list ("allow_ips"), matched against $remote_addr
     * (after realip) when the record was read.  Before the grants, so
     * that full access and the listing do not bypass it; after the
     * activity write, as a refusal by the grants is (the key was used).
     */

    if (res->outside) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "fsauth: key %i may not be used from %V",
                      res->id, &r->connection->addr_text);
        return ngx_http_fsauth_deny(r, ctx, NGX_HTTP_FSAUTH_ST_FORBIDDEN,
                                    NGX_HTTP_FSAUTH_ERR_FORBIDDEN);
    }

    /* the same decision as "fsauthctl access check": one rule, shared */

    if (fsauth_decide(1, res->fullaccess, ctx->resource.len, res->has_grant,
                      res->mask, ngx_http_fsauth_method_mask(r->method))
        != FSAUTH_ALLOW)
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "fsauth: key %i may not %V \"%V\"",
                      res->id, &r->method_name, &ctx->resource);
        return ngx_http_fsauth_deny(r, ctx, NGX_HTTP_FSAUTH_ST_FORBIDDEN,
                                    NGX_HTTP_FSAUTH_ERR_FORBIDDEN);
    }

    return ngx_http_fsauth_grant(r, ctx, flcf, NGX_HTTP_FSAUTH_ST_GRANTED);
}


/* Redis unreachable or too slow, and nothing usable cached */

static ngx_int_t
ngx_http_fsauth_outage(ngx_http_request_t *r, ngx_http_fsauth_ctx_t *ctx,
    ngx_http_fsauth_loc_conf_t *flcf)
{
    ngx_http_fsauth_main_conf_t  *fmcf;

    if (flcf->failure_mode == NGX_HTTP_FSAUTH_FAIL_STALE && ctx->has_stale) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "fsauth: authentication service unavailable, "
                      "cached decision used");

        fmcf = ngx_http_get_module_main_conf(r, ngx_http_fsauth_module);
        ngx_http_fsauth_cache_count_stale(fmcf->cache);

        ctx->result = ctx->stale;
        ctx->cache_status = NGX_HTTP_FSAUTH_CACHE_STALE;
        ctx->state = NGX_HTTP_FSAUTH_STATE_ANSWERED;
        return ngx_http_fsauth_decide(r, ctx, flcf);
    }

    if (flcf->failure_mode == NGX_HTTP_FSAUTH_FAIL_OPEN) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "fsauth: authentication service unavailable, "
                      "request let through (fsauth_failure_mode open)");
        return ngx_http_fsauth_grant(r, ctx, flcf, NGX_HTTP_FSAUTH_ST_OPEN);
    }

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "fsauth: authentication service unavailable");

    return ngx_http_fsauth_deny(r, ctx, NGX_HTTP_FSAUTH_ST_UNAVAILABLE,
                                NGX_HTTP_FSAUTH_ERR_UNAVAILABLE);
}


static ngx_int_t
ngx_http_fsauth_grant(ngx_http_request_t *r, ngx_http_fsauth_ctx_t *ctx,
    ngx_http_fsauth_loc_conf_t *flcf, ngx_uint_t status)
{
    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "fsauth: granted, status %ui", status);

    ctx->status = status;
    ngx_http_fsauth_count_decision(ctx, status);

    if (flcf->hide_credentials) {

        /* an internal redirect may need the token again */

        if (!ctx->hidden) {
            ctx->headers = r->headers_in.headers;
            ctx->hidden = 1;
        }

        if (ngx_http_fsauth_token_hide(r, flcf->token_headers) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    /* NGX_OK, not NGX_DECLINED: under "satisfy any" this grants access */

    return NGX_OK;
}


static ngx_int_t
ngx_http_fsauth_deny(ngx_http_request_t *r, ngx_http_fsauth_ctx_t *ctx,
    ngx_uint_t status, ngx_uint_t err)
{
    ngx_int_t                     rc;
    ngx_http_fsauth_loc_conf_t   *flcf;
    ngx_http_fsauth_main_conf_t  *fmcf;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "fsauth: denied, status %ui", status);

    ctx->status = status;
    ngx_http_fsauth_count_decision(ctx, status);

    /*
     * Only 401 and 403 are incidents, as for the backend's ban; a request
     * is one incident at most, however many locations checked it.
     */

    if ((status == NGX_HTTP_FSAUTH_ST_UNAUTHORIZED
         || status == NGX_HTTP_FSAUTH_ST_FORBIDDEN)
        && !ctx->incident)
    {
        ctx->incident = 1;

        fmcf = ngx_http_get_module_main_conf(r, ngx_http_fsauth_module);
        flcf = ngx_http_get_module_loc_conf(r, ngx_http_fsauth_module);

        if (fmcf->cache && flcf->ban_threshold) {
            ngx_http_fsauth_ban_incident(fmcf->cache, r, flcf->ban_threshold,
                                         flcf->ban_window);
        }
    }

    rc = ngx_http_fsauth_response_send(r, err);

    ngx_http_finalize_request(r, rc);

    return NGX_DONE;
}


/*
 * A request is one decision in the metrics: the first one.  A check
 * repeated after an internal redirect does not count again.
 */

static void
ngx_http_fsauth_count_decision(ngx_http_fsauth_ctx_t *ctx, ngx_uint_t status)
{
    if (ctx->counted) {
        return;
    }

    ctx->counted = 1;
    ngx_http_fsauth_count(decisions[status]);
}


/*
 * Sets ctx->resource.  NGX_OK, NGX_DECLINED for an ambiguous path,
 * NGX_BUSY when a rewrite or an internal redirect changed the URI to one
 * that names another resource than the raw path (the backend may be
 * given either), NGX_ERROR.
 */

static ngx_int_t
ngx_http_fsauth_resource_read(ngx_http_request_t *r, ngx_http_fsauth_ctx_t *ctx,
    ngx_http_fsauth_loc_conf_t *flcf)
{
    u_char     *p, *q;
    ngx_int_t   rc;
    ngx_str_t   routed;

    if (flcf->resource) {
        if (ngx_http_complex_value(r, flcf->resource, &ctx->resource)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        return NGX_OK;
    }

    p = r->unparsed_uri.data;

    /*
     * nginx clears r->args_start when a fragment follows the query
     * ("/x?a#b"): then the raw path ends at the first "?"
     */

    q = r->args_start ? r->args_start - 1
                      : ngx_strlchr(p, p + r->unparsed_uri.len, '?');

    if (q == NULL || q < p || q > p + r->unparsed_uri.len) {
        q = p + r->unparsed_uri.len;
    }

    rc = ngx_http_fsauth_resource_parse(p, q - p, &ctx->resource);

    /* nginx sets r->internal on every rewrite and internal redirect */

    if (rc != NGX_OK || !r->internal) {
        return rc;
    }

    if (ngx_http_fsauth_resource_parse(r->uri.data, r->uri.len, &routed)
        != NGX_OK)
    {
        return NGX_DECLINED;
    }

    if (routed.len != ctx->resource.len
        || ngx_memcmp(routed.data, ctx->resource.data, routed.len) != 0)
    {
        return NGX_BUSY;
    }

    return NGX_OK;
}


static ngx_http_fsauth_ctx_t *
ngx_http_fsauth_create_ctx(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t     *cln;
    ngx_http_fsauth_ctx_t  *ctx;

    cln = ngx_pool_cleanup_add(r->pool, sizeof(ngx_http_fsauth_ctx_t));
    if (cln == NULL) {
        return NULL;
    }

    ctx = cln->data;
    ngx_memzero(ctx, sizeof(ngx_http_fsauth_ctx_t));

    ctx->request = r;

    cln->handler = ngx_http_fsauth_cleanup;

    ngx_http_set_ctx(r, ctx, ngx_http_fsauth_module);

    return ctx;
}


/*
 * An internal redirect zeroes the module contexts; the context lives in
 * a request pool cleanup, so it is found again there (as realip does) and
 * the $fsauth_* variables survive error_page and try_files.
 */

ngx_http_fsauth_ctx_t *
ngx_http_fsauth_get_ctx(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t     *cln;
    ngx_http_fsauth_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_fsauth_module);

    if (ctx || !(r->internal || r->filter_finalize)) {
        return ctx;
    }

    for (cln = r->pool->cleanup; cln; cln = cln->next) {
        if (cln->handler == ngx_http_fsauth_cleanup) {
            ctx = cln->data;
            ngx_http_set_ctx(r, ctx, ngx_http_fsauth_module);
            return ctx;
        }
    }

    return NULL;
}


/* the request is going away: nothing may point at it afterwards */

static void
ngx_http_fsauth_cleanup(void *data)
{
    ngx_http_fsauth_ctx_t  *ctx = data;

    if (ctx->pending) {
        ngx_http_fsauth_lookup_detach(ctx);
    }

    if (ctx->wait.timer_set) {
        ngx_del_timer(&ctx->wait);
    }

    if (ctx->wait.posted) {
        ngx_delete_posted_event(&ctx->wait);
    }
}


/*
 * The request's write handler while it waits: a write event is not its
 * wake-up (ctx->wait is), so it only keeps the event armed.
 */

static void
ngx_http_fsauth_waiting(ngx_http_request_t *r)
{
    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "fsauth: write event while waiting");

    if (ngx_handle_write_event(r->connection->write, 0) != NGX_OK) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
    }
}


/* the lookup answered, failed or timed out: resume the phase engine */

static void
ngx_http_fsauth_wake(ngx_event_t *ev)
{
    ngx_connection_t       *c;
    ngx_http_request_t     *r;
    ngx_http_fsauth_ctx_t  *ctx;

    ctx = ev->data;
    r = ctx->request;
    c = r->connection;

    ngx_http_set_log_request(c->log, r);

    if (ev->timedout) {
        ev->timedout = 0;

        ngx_log_error(NGX_LOG_WARN, c->log, 0,
                      "fsauth: redis lookup timed out");
        ngx_http_fsauth_count(timeouts);

        if (ctx->pending) {
            ngx_http_fsauth_lookup_detach(ctx);
        }

        ctx->state = NGX_HTTP_FSAUTH_STATE_FAILED;
    }

    if (ev->timer_set) {
        ngx_del_timer(ev);
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, c->log, 0,
                   "fsauth: woken up, lookup %s",
                   ctx->state == NGX_HTTP_FSAUTH_STATE_ANSWERED
                   ? "answered" : "failed");

    r->read_event_handler = ngx_http_block_reading;
    r->write_event_handler = ngx_http_core_run_phases;

    ngx_http_core_run_phases(r);
    ngx_http_run_posted_requests(c);
}
