
/*
 * Copyright (C) fsauth authors
 * BSD-2-Clause, see LICENSE.
 */


#include "ngx_http_fsauth_module.h"


/*
 * Ban counters: the last THRESHOLD incident times of a client address,
 * kept in the cache zone with their own tree and queues, bounded to an
 * eighth of it (max_bans) so that a flood of addresses evicts only other
 * counters.  Counters that were not a ban at their last incident are in
 * one LRU queue, bans in another (in the order they began): room for a
 * new address is made from the first queue, or from bans that have
 * lifted, never from a ban in force.
 */


#define NGX_HTTP_FSAUTH_BAN_SLOTS         32

/* an IPv4 address; an IPv6 prefix and its length; a unix socket */
#define NGX_HTTP_FSAUTH_BAN_ADDR_LEN      17

/* how often a refused ban incident is logged, at most */
#define NGX_HTTP_FSAUTH_BAN_LOG_INTERVAL  60000

#define NGX_HTTP_FSAUTH_BAN_EVICT_MAX     16


/* keyed by crc32 and the address, which sn.str points to (addr[]) */
typedef struct {
    ngx_str_node_t                  sn;
    u_char                          count;
    u_char                          next;
    u_char                          threshold;       /* of the last incident */
    ngx_msec_t                      window;
    ngx_queue_t                     queue;
    u_char                          addr[NGX_HTTP_FSAUTH_BAN_ADDR_LEN];
    ngx_msec_t                      times[NGX_HTTP_FSAUTH_BAN_SLOTS];
} ngx_http_fsauth_ban_node_t;


struct ngx_http_fsauth_ban_sh_s {
    ngx_rbtree_t                    tree;
    ngx_rbtree_node_t               sentinel;
    ngx_queue_t                     lru;
    ngx_queue_t                     active;
    ngx_uint_t                      n;
    ngx_msec_t                      full_until;      /* no ban lifts before */
    ngx_msec_t                      refused_logged;

    ngx_uint_t                      banned;
    ngx_uint_t                      refused;
    ngx_uint_t                      evictions;
};


/* a ban in force, by the threshold and window of its last incident */
#define ngx_http_fsauth_ban_active(bn, now)                                   \
    ngx_http_fsauth_ban_in_force(bn, (bn)->threshold, (bn)->window, now)


static ngx_msec_t ngx_http_fsauth_ban_lift(ngx_http_fsauth_ban_node_t *bn,
    ngx_uint_t threshold, ngx_msec_t window);
static ngx_uint_t ngx_http_fsauth_ban_in_force(ngx_http_fsauth_ban_node_t *bn,
    ngx_uint_t threshold, ngx_msec_t window, ngx_msec_t now);
static ngx_http_fsauth_ban_node_t *ngx_http_fsauth_ban_alloc(
    ngx_http_fsauth_cache_t *cache, ngx_msec_t now);
static ngx_http_fsauth_ban_node_t *ngx_http_fsauth_ban_find(
    ngx_http_fsauth_ban_sh_t *sh, u_char *addr, size_t len, uint32_t hash);
static ngx_int_t ngx_http_fsauth_ban_evict(ngx_http_fsauth_cache_t *cache,
    ngx_msec_t now);
static void ngx_http_fsauth_ban_remove(ngx_http_fsauth_cache_t *cache,
    ngx_http_fsauth_ban_node_t *bn);
static size_t ngx_http_fsauth_ban_addr(ngx_http_request_t *r, u_char *addr);


/* in a new zone, under no lock: nothing else sees it yet */

ngx_http_fsauth_ban_sh_t *
ngx_http_fsauth_ban_init_zone(ngx_slab_pool_t *shpool)
{
    ngx_http_fsauth_ban_sh_t  *sh;

    sh = ngx_slab_calloc(shpool, sizeof(ngx_http_fsauth_ban_sh_t));
    if (sh == NULL) {
        return NULL;
    }

    ngx_rbtree_init(&sh->tree, &sh->sentinel,
                    ngx_str_rbtree_insert_value);
    ngx_queue_init(&sh->lru);
    ngx_queue_init(&sh->active);

    return sh;
}


/*
 * When the ban lifts, by THRESHOLD and WINDOW: WINDOW after the oldest of
 * the last THRESHOLD incidents.  The one place that says it.
 */

static ngx_msec_t
ngx_http_fsauth_ban_lift(ngx_http_fsauth_ban_node_t *bn, ngx_uint_t threshold,
    ngx_msec_t window)
{
    return bn->times[(bn->next + NGX_HTTP_FSAUTH_BAN_SLOTS - threshold)
                     % NGX_HTTP_FSAUTH_BAN_SLOTS]
           + window;
}


static ngx_uint_t
ngx_http_fsauth_ban_in_force(ngx_http_fsauth_ban_node_t *bn,
    ngx_uint_t threshold, ngx_msec_t window, ngx_msec_t now)
{
    return threshold && bn->count >= threshold
           && (ngx_msec_int_t) (ngx_http_fsauth_ban_lift(bn, threshold, window)
                                - now) > 0;
}


/* the bans in force now (an eighth of the zone at most), and counters */

ngx_uint_t
ngx_http_fsauth_ban_stats_locked(ngx_http_fsauth_ban_sh_t *sh,
    ngx_http_fsauth_stats_t *stats)
{
    ngx_uint_t                   n;
    ngx_msec_t                   now;
    ngx_queue_t                 *q;
    ngx_http_fsauth_ban_node_t  *bn;

    stats->banned = sh->banned;
    stats->ban_refused = sh->refused;
    stats->evictions += sh->evictions;

    now = ngx_current_msec;
    n = 0;

    /* a counter that was not a ban at its last incident is not one now */

    for (q = ngx_queue_head(&sh->active);
         q != ngx_queue_sentinel(&sh->active);
         q = ngx_queue_next(q))
    {
        bn = ngx_queue_data(q, ngx_http_fsauth_ban_node_t, queue);

        if (ngx_http_fsauth_ban_active(bn, now)) {
            n++;
        }
    }

    return n;
}


/* a new counter; room is made from other counters only */

static ngx_http_fsauth_ban_node_t *
ngx_http_fsauth_ban_alloc(ngx_http_fsauth_cache_t *cache, ngx_msec_t now)
{
    void        *p;
    ngx_uint_t   i;

    for (i = 0; /* void */; i++) {
        p = ngx_slab_alloc_locked(cache->shpool,
                                  sizeof(ngx_http_fsauth_ban_node_t));
        if (p) {
            return p;
        }

        if (i == NGX_HTTP_FSAUTH_BAN_EVICT_MAX
            || ngx_http_fsauth_ban_evict(cache, now) != NGX_OK)
        {
            break;
        }

        cache->ban->evictions++;
    }

    ngx_http_fsauth_cache_nomem_locked(cache);

    return NULL;
}


static size_t
ngx_http_fsauth_ban_addr(ngx_http_request_t *r, u_char *addr)
{
    struct sockaddr_in          *sin;
#if (NGX_HAVE_INET6)
    u_char                      *p;
    ngx_uint_t                   i, bits;
    struct sockaddr_in6         *sin6;
    ngx_http_fsauth_loc_conf_t  *flcf;
#endif

    switch (r->connection->sockaddr->sa_family) {

#if (NGX_HAVE_INET6)
    case AF_INET6:
        sin6 = (struct sockaddr_in6 *) r->connection->sockaddr;
        p = sin6->sin6_addr.s6_addr;

        /* an IPv4 client seen through an IPv6 socket */

        if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr)) {
            ngx_memcpy(addr, p + 12, 4);
            return 4;
        }

        /*
         * An IPv6 client usually holds a whole /64 or more, and a new
         * address costs it nothing: the prefix is counted.  Its length
         * is part of the key, so that locations counting other lengths
         * never share a counter.
         */

        flcf = ngx_http_get_module_loc_conf(r, ngx_http_fsauth_module);
        bits = flcf->ban_ipv6_prefix;

        for (i = 0; i < 16; i++) {
            if (bits >= 8) {
                addr[i] = p[i];
                bits -= 8;

            } else {
                addr[i] = (u_char) (p[i] & (0xff00 >> bits));
                bits = 0;
            }
        }

        addr[16] = (u_char) flcf->ban_ipv6_prefix;

        return 17;
#endif

    case AF_INET:
        sin = (struct sockaddr_in *) r->connection->sockaddr;
        ngx_memcpy(addr, &sin->sin_addr, 4);
        return 4;

    default:
        /* unix sockets: one shared identity */
        ngx_memzero(addr, 1);
        return 1;
    }
}


static ngx_http_fsauth_ban_node_t *
ngx_http_fsauth_ban_find(ngx_http_fsauth_ban_sh_t *sh, u_char *addr,
    size_t len, uint32_t hash)
{
    ngx_str_t  key;

    key.len = len;
    key.data = addr;

    /* the tree node is the first member */

    return (ngx_http_fsauth_ban_node_t *)
           ngx_str_rbtree_lookup(&sh->tree, &key, hash);
}


/* is the client address banned: THRESHOLD incidents within WINDOW? */

ngx_int_t
ngx_http_fsauth_ban_check(ngx_http_fsauth_cache_t *cache,
    ngx_http_request_t *r, ngx_uint_t threshold, ngx_msec_t window)
{
    u_char                       addr[NGX_HTTP_FSAUTH_BAN_ADDR_LEN];
    size_t                       len;
    uint32_t                     hash;
    ngx_int_t                    banned;
    ngx_http_fsauth_ban_node_t  *bn;

    /* no incident anywhere yet: nothing to look up (a racy read is fine,
     * an incident being recorded now cannot ban this request anyway) */

    if (cache->ban->n == 0) {
        return 0;
    }

    len = ngx_http_fsauth_ban_addr(r, addr);
    hash = ngx_crc32_short(addr, len);

    banned = 0;

    ngx_shmtx_lock(&cache->shpool->mutex);

    bn = ngx_http_fsauth_ban_find(cache->ban, addr, len, hash);

    if (bn) {
        banned = ngx_http_fsauth_ban_in_force(bn, threshold, window,
                                              ngx_current_msec);
    }

    if (banned) {
        cache->ban->banned++;
    }

    ngx_shmtx_unlock(&cache->shpool->mutex);

    return banned;
}


void
ngx_http_fsauth_ban_incident(ngx_http_fsauth_cache_t *cache,
    ngx_http_request_t *r, ngx_uint_t threshold, ngx_msec_t window)
{
    u_char                       addr[NGX_HTTP_FSAUTH_BAN_ADDR_LEN];
    size_t                       len;
    uint32_t                     hash;
    ngx_msec_t                   now, lift;
    ngx_uint_t                   full, log, refused;
    ngx_http_fsauth_ban_sh_t    *sh;
    ngx_http_fsauth_ban_node_t  *bn;

    len = ngx_http_fsauth_ban_addr(r, addr);
    hash = ngx_crc32_short(addr, len);

    now = ngx_current_msec;
    sh = cache->ban;
    full = 0;
    log = 0;
    refused = 0;

    ngx_shmtx_lock(&cache->shpool->mutex);

    bn = ngx_http_fsauth_ban_find(sh, addr, len, hash);

    if (bn == NULL) {

        if (sh->n >= cache->max_bans) {
            if (ngx_http_fsauth_ban_evict(cache, now) != NGX_OK) {
                full = 1;
                goto refused;
            }

            sh->evictions++;
        }

        /* a failure here is logged as the zone being full */

        bn = ngx_http_fsauth_ban_alloc(cache, now);
        if (bn == NULL) {
            goto refused;
        }

        bn->count = 0;
        bn->next = 0;
        ngx_memcpy(bn->addr, addr, len);
        bn->sn.str.len = len;
        bn->sn.str.data = bn->addr;

        bn->sn.node.key = hash;
        ngx_rbtree_insert(&sh->tree, &bn->sn.node);
        sh->n++;

    } else {
        ngx_queue_remove(&bn->queue);
    }

    /* for the "bans in force" gauge and for eviction */

    bn->threshold = (u_char) threshold;
    bn->window = window;

    bn->times[bn->next] = now;
    bn->next = (bn->next + 1) % NGX_HTTP_FSAUTH_BAN_SLOTS;

    if (bn->count < NGX_HTTP_FSAUTH_BAN_SLOTS) {
        bn->count++;
    }

    if (ngx_http_fsauth_ban_in_force(bn, threshold, window, now)) {
        ngx_queue_insert_head(&sh->active, &bn->queue);

        /* a ban with a shorter window may lift before the others */

        lift = ngx_http_fsauth_ban_lift(bn, threshold, window);

        if ((ngx_msec_int_t) (lift - sh->full_until) < 0) {
            sh->full_until = lift;
        }

    } else {
        ngx_queue_insert_head(&sh->lru, &bn->queue);
    }

    goto done;

refused:

    /*
     * No room without lifting a ban in force (or the zone is full): the
     * new address is not counted, and the bans stay.
     */

    refused = ++sh->refused;

    if (full
        && (sh->refused_logged == 0
            || now - sh->refused_logged >= NGX_HTTP_FSAUTH_BAN_LOG_INTERVAL))
    {
        sh->refused_logged = now ? now : 1;
        log = 1;
    }

done:

    ngx_shmtx_unlock(&cache->shpool->mutex);

    if (log) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "fsauth: ban table of cache zone \"%V\" is full of "
                      "bans in force, incidents from new addresses are not "
                      "counted (%ui refused so far)",
                      &cache->shm_zone->shm.name, refused);
    }
}


/*
 * Makes room for a new address: the oldest counter that is not a ban, or
 * failing that a ban that has lifted, never a ban in force.  NGX_DECLINED
 * when every counter is a ban in force.
 */

static ngx_int_t
ngx_http_fsauth_ban_evict(ngx_http_fsauth_cache_t *cache, ngx_msec_t now)
{
    ngx_msec_t                   lift, first;
    ngx_queue_t                 *q;
    ngx_http_fsauth_ban_sh_t    *sh;
    ngx_http_fsauth_ban_node_t  *bn;

    sh = cache->ban;

    /* the oldest ban is usually the first to lift */

    if (!ngx_queue_empty(&sh->active)) {
        bn = ngx_queue_data(ngx_queue_last(&sh->active),
                            ngx_http_fsauth_ban_node_t, queue);

        if (!ngx_http_fsauth_ban_active(bn, now)) {
            ngx_http_fsauth_ban_remove(cache, bn);
            return NGX_OK;
        }
    }

    if (!ngx_queue_empty(&sh->lru)) {
        bn = ngx_queue_data(ngx_queue_last(&sh->lru),
                            ngx_http_fsauth_ban_node_t, queue);
        ngx_http_fsauth_ban_remove(cache, bn);
        return NGX_OK;
    }

    /*
     * Only bans: one with other settings may have lifted out of order.
     * The whole queue is read at most once until the first ban lifts.
     */

    if ((ngx_msec_int_t) (sh->full_until - now) > 0) {
        return NGX_DECLINED;
    }

    first = now + NGX_MAX_INT32_VALUE;

    for (q = ngx_queue_last(&sh->active);
         q != ngx_queue_sentinel(&sh->active);
         q = ngx_queue_prev(q))
    {
        bn = ngx_queue_data(q, ngx_http_fsauth_ban_node_t, queue);

        if (!ngx_http_fsauth_ban_active(bn, now)) {
            ngx_http_fsauth_ban_remove(cache, bn);
            return NGX_OK;
        }

        lift = ngx_http_fsauth_ban_lift(bn, bn->threshold, bn->window);

        if ((ngx_msec_int_t) (lift - first) < 0) {
            first = lift;
        }
    }

    sh->full_until = first;

    return NGX_DECLINED;
}


static void
ngx_http_fsauth_ban_remove(ngx_http_fsauth_cache_t *cache,
    ngx_http_fsauth_ban_node_t *bn)
{
    ngx_queue_remove(&bn->queue);
    ngx_rbtree_delete(&cache->ban->tree, &bn->sn.node);
    ngx_slab_free_locked(cache->shpool, bn);
    cache->ban->n--;
}
