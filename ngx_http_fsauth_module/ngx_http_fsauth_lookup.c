
/*
 * Copyright (C) fsauth authors
 * BSD-2-Clause, see LICENSE.
 */


#include "ngx_http_fsauth_module.h"


/*
 * A cache miss.  Requests that miss on the same digest share one fetch
 * (the pending tree, per worker); its reply is handled here once: the
 * record goes into the cache, the activity write is decided, and each
 * waiting request gets its result and a posted wake-up.  The Redis layer
 * below knows nothing of requests, the handler above nothing of fetches.
 */


struct ngx_http_fsauth_pending_s {
    ngx_rbtree_node_t               node;            /* key: digest bytes */
    u_char                          digest[NGX_HTTP_FSAUTH_DIGEST_LEN];
    ngx_queue_t                     waiters;         /* ctx->link */
    ngx_http_fsauth_fetch_t         fetch;
    ngx_http_fsauth_pending_t      *next_free;
    uint32_t                        epoch;
};


/* the recent activity writes of this worker, by key id */
typedef struct {
    ngx_int_t                       id;
    ngx_msec_t                      last;
} ngx_http_fsauth_written_t;


#define NGX_HTTP_FSAUTH_WRITTEN_SLOTS     1024
#define NGX_HTTP_FSAUTH_FREE_PENDING_MAX  64


static void ngx_http_fsauth_lookup_reply(ngx_http_fsauth_fetch_t *f,
    ngx_int_t rc, ngx_http_fsauth_record_t *rec);
static void ngx_http_fsauth_lookup_settle(ngx_http_fsauth_pending_t *p,
    ngx_http_fsauth_ctx_t *ctx, ngx_int_t rc, ngx_http_fsauth_record_t *rec);
static void ngx_http_fsauth_lookup_free(ngx_http_fsauth_pending_t *p);
static void ngx_http_fsauth_pending_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);


static ngx_rbtree_t                ngx_http_fsauth_pending;
static ngx_rbtree_node_t           ngx_http_fsauth_pending_sentinel;
static ngx_http_fsauth_pending_t  *ngx_http_fsauth_free_pending;
static ngx_uint_t                  ngx_http_fsauth_nfree_pending;
static ngx_http_fsauth_written_t  *ngx_http_fsauth_written;


ngx_int_t
ngx_http_fsauth_lookup_init_worker(ngx_cycle_t *cycle)
{
    ngx_rbtree_init(&ngx_http_fsauth_pending,
                    &ngx_http_fsauth_pending_sentinel,
                    ngx_http_fsauth_pending_insert);

    ngx_http_fsauth_written = ngx_pcalloc(cycle->pool,
                                          NGX_HTTP_FSAUTH_WRITTEN_SLOTS
                                          * sizeof(ngx_http_fsauth_written_t));
    if (ngx_http_fsauth_written == NULL) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* after the Redis layer has answered every fetch at exit */

void
ngx_http_fsauth_lookup_exit_worker(void)
{
    ngx_http_fsauth_pending_t  *p, *next;

    for (p = ngx_http_fsauth_free_pending; p; p = next) {
        next = p->next_free;
        ngx_free(p);
    }

    ngx_http_fsauth_free_pending = NULL;
    ngx_http_fsauth_nfree_pending = 0;
}


/*
 * Starts or joins the fetch of ctx->digest.  NGX_AGAIN: the request waits
 * on ctx->wait, which the reply posts or the timeout fires.  NGX_DECLINED:
 * Redis is not usable now.
 */

ngx_int_t
ngx_http_fsauth_lookup_start(ngx_http_request_t *r,
    ngx_http_fsauth_ctx_t *ctx, ngx_http_fsauth_redis_conf_t *rcf)
{
    ngx_rbtree_node_t          *node;
    ngx_http_fsauth_pending_t  *p;

    node = ngx_http_fsauth_digest_find(&ngx_http_fsauth_pending, ctx->digest,
                                       offsetof(ngx_http_fsauth_pending_t,
                                                digest));

    if (node) {
        p = (ngx_http_fsauth_pending_t *) node;

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "fsauth: lookup %08xD... joined",
                       ngx_http_fsauth_digest_key(ctx->digest));

        goto wait;
    }

    /* recycled: a miss costs no malloc() of ours */

    if (ngx_http_fsauth_free_pending) {
        p = ngx_http_fsauth_free_pending;
        ngx_http_fsauth_free_pending = p->next_free;
        ngx_http_fsauth_nfree_pending--;

    } else {
        p = ngx_alloc(sizeof(ngx_http_fsauth_pending_t), ngx_cycle->log);
        if (p == NULL) {
            return NGX_DECLINED;
        }
    }

    ngx_memcpy(p->digest, ctx->digest, NGX_HTTP_FSAUTH_DIGEST_LEN);

    /* taken before the command leaves: see the cache's epoch */

    p->epoch = rcf->cache ? ngx_http_fsauth_cache_epoch(rcf->cache) : 0;

    p->fetch.handler = ngx_http_fsauth_lookup_reply;
    p->fetch.data = p;

    if (ngx_http_fsauth_redis_get_record(rcf, p->digest, &p->fetch)
        != NGX_OK)
    {
        ngx_http_fsauth_lookup_free(p);
        return NGX_DECLINED;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "fsauth: lookup %08xD... sent",
                   ngx_http_fsauth_digest_key(ctx->digest));

    ngx_queue_init(&p->waiters);

    p->node.key = ngx_http_fsauth_digest_key(p->digest);
    ngx_rbtree_insert(&ngx_http_fsauth_pending, &p->node);

wait:

    ctx->pending = p;
    ngx_queue_insert_tail(&p->waiters, &ctx->link);

    ngx_add_timer(&ctx->wait, rcf->timeout);

    return NGX_AGAIN;
}


/* the request stopped waiting (timeout, or it is going away) */

void
ngx_http_fsauth_lookup_detach(ngx_http_fsauth_ctx_t *ctx)
{
    ngx_http_fsauth_pending_t  *p;

    p = ctx->pending;
    ctx->pending = NULL;

    ngx_queue_remove(&ctx->link);

    /* may answer the fetch at once: p is not used afterwards */

    ngx_http_fsauth_redis_overdue(&p->fetch);
}


/*
 * The one home of the activity decision: is the last use of key "id"
 * to be written now?  "due" is what the cache entry says (1: its last
 * write, by any worker, is an interval old and it is stamped now; 0: not
 * yet; NGX_DECLINED: the cache does not know).  This worker's own table
 * is asked as well: an entry evicted and filled again has forgotten its
 * last write, the worker may remember it.
 */

void
ngx_http_fsauth_lookup_activity(ngx_http_request_t *r,
    ngx_http_fsauth_redis_conf_t *rcf, ngx_int_t id, ngx_msec_t interval,
    ngx_int_t due)
{
    ngx_http_fsauth_written_t  *w;

    if (due == 0 || ngx_http_fsauth_written == NULL) {
        return;
    }

    w = &ngx_http_fsauth_written[id % NGX_HTTP_FSAUTH_WRITTEN_SLOTS];

    if (w->id == id && ngx_current_msec - w->last < interval) {
        return;
    }

    if (ngx_http_fsauth_activity_queue(rcf, r, id) != NGX_OK) {
        return;
    }

    w->id = id;
    w->last = ngx_current_msec;
}


/*
 * The fetch's answer, handled once for all the requests that wait for
 * it, and also when none waits any more: it fills the cache all the same.
 */

static void
ngx_http_fsauth_lookup_reply(ngx_http_fsauth_fetch_t *f, ngx_int_t rc,
    ngx_http_fsauth_record_t *rec)
{
    ngx_http_fsauth_pending_t *p = f->data;

    ngx_int_t                      due;
    ngx_msec_t                     interval;
    ngx_queue_t                   *q;
    ngx_http_request_t            *first;
    ngx_http_fsauth_ctx_t         *ctx;
    ngx_http_fsauth_loc_conf_t    *flcf;
    ngx_http_fsauth_redis_conf_t  *rcf;

    ngx_rbtree_delete(&ngx_http_fsauth_pending, &p->node);

    if (rc == NGX_ABORT) {

        /* the worker is exiting: nobody is woken, nobody points at p */

        while (!ngx_queue_empty(&p->waiters)) {
            q = ngx_queue_head(&p->waiters);
            ngx_queue_remove(q);

            ctx = ngx_queue_data(q, ngx_http_fsauth_ctx_t, link);
            ctx->pending = NULL;
        }

        ngx_http_fsauth_lookup_free(p);
        return;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                   "fsauth: lookup %08xD... reply %i",
                   ngx_http_fsauth_digest_key(p->digest), rc);

    rcf = f->conf;

    /*
     * The activity write goes with the first waiting request that tracks
     * activity, for an enabled key while the API is on; the cache entry
     * is stamped with its interval as it is stored.
     */

    interval = 0;
    first = NULL;

    if (rc == NGX_OK && rec->enabled
        && (rec->expires == 0 || ngx_time() < rec->expires)
        && ngx_http_fsauth_redis_api_enabled(rcf) != 0)
    {
        for (q = ngx_queue_head(&p->waiters);
             q != ngx_queue_sentinel(&p->waiters);
             q = ngx_queue_next(q))
        {
            ctx = ngx_queue_data(q, ngx_http_fsauth_ctx_t, link);
            flcf = ngx_http_get_module_loc_conf(ctx->request,
                                                ngx_http_fsauth_module);

            if (flcf->activity) {
                interval = flcf->activity_interval;
                first = ctx->request;
                break;
            }
        }
    }

    due = NGX_DECLINED;

    if (rcf->cache && rc != NGX_ERROR) {
        due = ngx_http_fsauth_cache_insert(rcf->cache, p->digest,
                                           rc == NGX_OK ? rec : NULL,
                                           p->epoch, interval);
    }

    if (first) {
        ngx_http_fsauth_lookup_activity(first, rcf, rec->id, interval, due);
    }

    while (!ngx_queue_empty(&p->waiters)) {
        q = ngx_queue_head(&p->waiters);
        ngx_queue_remove(q);

        ctx = ngx_queue_data(q, ngx_http_fsauth_ctx_t, link);
        ngx_http_fsauth_lookup_settle(p, ctx, rc, rec);
    }

    ngx_http_fsauth_lookup_free(p);
}


/* one waiting request gets its result; it decides on its own stack */

static void
ngx_http_fsauth_lookup_settle(ngx_http_fsauth_pending_t *p,
    ngx_http_fsauth_ctx_t *ctx, ngx_int_t rc, ngx_http_fsauth_record_t *rec)
{
    ngx_uint_t                     mask;
    ngx_http_fsauth_redis_conf_t  *rcf;

    ctx->pending = NULL;

    if (rc == NGX_ERROR) {
        ctx->state = NGX_HTTP_FSAUTH_STATE_FAILED;
        goto wake;
    }

    ngx_memzero(&ctx->result, sizeof(ngx_http_fsauth_result_t));

    if (rc == NGX_OK) {
        ngx_http_fsauth_record_extract(rec, &ctx->resource,
                                       ctx->request->connection->sockaddr,
                                       &ctx->result);

        if (!ctx->result.has_grant && rec->incomplete) {

            /* the grant did not fit in the record: read from the reply */

            if (ngx_http_fsauth_redis_reply_grant(&p->fetch, &ctx->resource,
                                                  &mask)
                == NGX_OK)
            {
                ctx->result.has_grant = 1;
                ctx->result.mask = mask;
            }

            /* not in the cached node: cached on its own */

            rcf = p->fetch.conf;

            if (rcf->cache) {
                ngx_http_fsauth_cache_insert_grant(rcf->cache, p->digest,
                                                   &ctx->resource,
                                                   &ctx->result, p->epoch);
            }
        }
    }

    ctx->state = NGX_HTTP_FSAUTH_STATE_ANSWERED;

wake:

    if (ctx->wait.timer_set) {
        ngx_del_timer(&ctx->wait);
    }

    ngx_post_event(&ctx->wait, &ngx_posted_events);
}


static void
ngx_http_fsauth_lookup_free(ngx_http_fsauth_pending_t *p)
{
    if (ngx_http_fsauth_nfree_pending >= NGX_HTTP_FSAUTH_FREE_PENDING_MAX) {
        ngx_free(p);
        return;
    }

    p->next_free = ngx_http_fsauth_free_pending;
    ngx_http_fsauth_free_pending = p;
    ngx_http_fsauth_nfree_pending++;
}


static void
ngx_http_fsauth_pending_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel)
{
    ngx_http_fsauth_digest_insert(temp, node, sentinel,
                                  offsetof(ngx_http_fsauth_pending_t, digest));
}
