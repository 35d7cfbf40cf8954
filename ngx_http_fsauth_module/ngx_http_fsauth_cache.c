
/*
 * Copyright (C) fsauth authors
 * BSD-2-Clause, see LICENSE.
 */


#include "ngx_http_fsauth_module.h"
#include "ngx_http_fsauth_siphash.h"

#include <openssl/rand.h>


/*
 * One shared zone holds three kinds of nodes, each kind with its own LRU
 * queue: key records (sized to the record's bytes in use, so in the
 * slab's 256, 512 or 1024-byte class), negative entries for unknown
 * tokens and the decisions for resources whose grants did not fit in
 * their key's node (fixed sizes, each kind bounded to a share of the
 * zone so that a flood of bad tokens or resources can only evict its own
 * kind).  The ban counters live in the same zone (see
 * ngx_http_fsauth_ban.c).  Everything is copied out under the lock.
 *
 * Two chained hash tables find the nodes, never by the token itself.  A
 * request finds its key or negative node by the token's index, a keyed
 * SipHash-2-4-128 of it under the zone's random key, so that a hit costs
 * no SHA-256.  Invalidations name the token's SHA-256 digest: key and
 * negative nodes keep it, and a second table finds them by it (resource
 * nodes are found there too, by their own digest).  Both tables choose a
 * bucket with a key of the zone, so nobody can aim at one bucket.
 */


#define NGX_HTTP_FSAUTH_NODE_KEY          0
#define NGX_HTTP_FSAUTH_NODE_NEGATIVE     1
#define NGX_HTTP_FSAUTH_NODE_GRANT        2

/* a lookup result internal to this file: a resource entry is needed */
#define NGX_HTTP_FSAUTH_CACHE_GRANT_NEEDED  ((ngx_uint_t) -1)

#define NGX_HTTP_FSAUTH_EVICT_MAX         16

/* how far back in an LRU to look for a node of the size wanted */
#define NGX_HTTP_FSAUTH_SCAN_MAX          256

/* workers whose invalidation channel is up, by pid (reloads included) */
#define NGX_HTTP_FSAUTH_SUBSCRIBERS_MAX   256

/* an expired entry's time: in the past for every worker's clock */
#define NGX_HTTP_FSAUTH_EXPIRED_AGO       60000

/* at most a bucket per 512 bytes of zone, at least one per 1024 */
#define NGX_HTTP_FSAUTH_BUCKET_BYTES      512


typedef struct ngx_http_fsauth_entry_s  ngx_http_fsauth_entry_t;

struct ngx_http_fsauth_entry_s {
    ngx_http_fsauth_entry_t        *index_next;      /* key, negative */
    ngx_http_fsauth_entry_t        *digest_next;
    u_char                          kind;
    u_char                          shift;           /* slab class */
    u_char                          pad[2];
    uint32_t                        epoch;
    ngx_queue_t                     queue;
    ngx_msec_t                      expires;
    ngx_msec_t                      stale_until;
    uint64_t                        index[2];        /* key, negative */
    u_char                          digest[NGX_HTTP_FSAUTH_DIGEST_LEN];
};


/* allocated only up to the record's bytes in use: "rec" comes last */

typedef struct {
    ngx_http_fsauth_entry_t         e;
    ngx_msec_t                      activity;        /* last write */
    uint32_t                        gen;             /* of its decisions */
    ngx_http_fsauth_record_t        rec;
} ngx_http_fsauth_key_node_t;


/* the largest key node stays in the slab's 1024-byte class */

typedef char ngx_http_fsauth_key_node_fits[
    sizeof(ngx_http_fsauth_key_node_t) <= 1024 ? 1 : -1];

/* a key with 3 grants of 16-byte resources fits in 256 bytes */

typedef char ngx_http_fsauth_key_node_small[
    offsetof(ngx_http_fsauth_key_node_t, rec.grants) + 3 * (2 + 16) <= 256
    ? 1 : -1];


/*
 * One resource's decision for a key whose grants did not all fit in its
 * node, keyed by a digest of the token digest and the resource.  It is
 * valid only with the key node of the same generation: a key node read
 * anew after a change gets a new one, and the old decisions are never
 * used again (they leave by LRU or age).
 */

typedef struct {
    ngx_http_fsauth_entry_t         e;
    uint32_t                        gen;
    u_char                          has_grant;
    u_char                          mask;
} ngx_http_fsauth_grant_node_t;


struct ngx_http_fsauth_cache_sh_s {
    ngx_http_fsauth_entry_t       **by_index;        /* buckets */
    ngx_http_fsauth_entry_t       **by_digest;
    ngx_uint_t                      mask;            /* buckets - 1 */

    /* random, made with the zone: the index is worthless without it */
    u_char                          key[NGX_HTTP_FSAUTH_SIPHASH_KEY_LEN];

    /* random too, for the digest table's buckets */
    u_char                          digest_key[
                                        NGX_HTTP_FSAUTH_SIPHASH_KEY_LEN];

    ngx_queue_t                     keys;            /* LRU */
    ngx_queue_t                     negatives;       /* LRU */
    ngx_uint_t                      nnegatives;
    ngx_queue_t                     grants;          /* LRU */
    ngx_uint_t                      ngrants;
    ngx_uint_t                      nkeys;
    uint32_t                        gen;

    ngx_http_fsauth_ban_sh_t       *ban;

    uint32_t                        fingerprint;
    uint32_t                        epoch;

    /* pids, 0: free; a crashed worker's pid is found dead and dropped */
    ngx_pid_t                       subscribers[
                                        NGX_HTTP_FSAUTH_SUBSCRIBERS_MAX];

    ngx_msec_t                      nomem_logged;

    ngx_http_fsauth_stats_t         stats;
};


static void ngx_http_fsauth_cache_fingerprint_str(uint32_t *crc,
    ngx_str_t *s);
static void ngx_http_fsauth_cache_fingerprint_addrs(uint32_t *crc,
    ngx_http_fsauth_redis_addr_t *addrs, ngx_uint_t n);
static ngx_int_t ngx_http_fsauth_cache_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_uint_t ngx_http_fsauth_cache_get(ngx_http_fsauth_cache_t *cache,
    uint64_t *index, u_char *digest, ngx_str_t *resource,
    u_char *grant_digest, struct sockaddr *sa, ngx_http_fsauth_result_t *res,
    ngx_msec_t interval);
static void ngx_http_fsauth_cache_flush_locked(ngx_http_fsauth_cache_t *cache);
static void ngx_http_fsauth_cache_expire_locked(
    ngx_http_fsauth_cache_t *cache);
static ngx_http_fsauth_entry_t *ngx_http_fsauth_cache_find_index(
    ngx_http_fsauth_cache_sh_t *sh, uint64_t *index);
static ngx_http_fsauth_entry_t *ngx_http_fsauth_cache_find(
    ngx_http_fsauth_cache_sh_t *sh, u_char *digest);
static ngx_http_fsauth_entry_t **ngx_http_fsauth_cache_digest_bucket(
    ngx_http_fsauth_cache_sh_t *sh, u_char *digest);
static void ngx_http_fsauth_cache_link(ngx_http_fsauth_cache_sh_t *sh,
    ngx_http_fsauth_entry_t *e);
static ngx_uint_t ngx_http_fsauth_cache_activity_due(
    ngx_http_fsauth_key_node_t *kn, ngx_msec_t now, ngx_msec_t interval);
static void ngx_http_fsauth_cache_remove(ngx_http_fsauth_cache_t *cache,
    ngx_http_fsauth_entry_t *e);
static void *ngx_http_fsauth_cache_alloc(ngx_http_fsauth_cache_t *cache,
    size_t size, ngx_queue_t *lru);
static ngx_uint_t ngx_http_fsauth_cache_shift(size_t size);


/* fsauth_cache zone=NAME:SIZE [ttl=T] [negative_ttl=T] [stale=T] */

char *
ngx_http_fsauth_cache_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_fsauth_main_conf_t *fmcf = conf;

    u_char                   *p;
    ssize_t                   size;
    ngx_str_t                *value, name, s;
    ngx_msec_t               *msp;
    ngx_uint_t                i;
    ngx_http_fsauth_cache_t  *cache;

    if (fmcf->cache) {
        return "is duplicate";
    }

    cache = ngx_pcalloc(cf->pool, sizeof(ngx_http_fsauth_cache_t));
    if (cache == NULL) {
        return NGX_CONF_ERROR;
    }

    cache->ttl = 60000;
    cache->negative_ttl = 10000;
    cache->stale = 300000;

    value = cf->args->elts;

    size = 0;
    ngx_str_null(&name);

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "zone=", 5) == 0) {

            name.data = value[i].data + 5;

            p = (u_char *) ngx_strchr(name.data, ':');
            if (p == NULL) {
                goto invalid;
            }

            name.len = p - name.data;

            s.data = p + 1;
            s.len = value[i].data + value[i].len - s.data;

            size = ngx_parse_size(&s);
            if (name.len == 0 || size == NGX_ERROR) {
                goto invalid;
            }

            if (size < (ssize_t) (16 * ngx_pagesize)) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "fsauth_cache: zone \"%V\" is too small, "
                                   "at least %uz bytes are needed", &name,
                                   16 * ngx_pagesize);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "ttl=", 4) == 0) {
            s.data = value[i].data + 4;
            msp = &cache->ttl;

        } else if (ngx_strncmp(value[i].data, "negative_ttl=", 13) == 0) {
            s.data = value[i].data + 13;
            msp = &cache->negative_ttl;

        } else if (ngx_strncmp(value[i].data, "stale=", 6) == 0) {
            s.data = value[i].data + 6;
            msp = &cache->stale;

        } else {
            goto invalid;
        }

        s.len = value[i].data + value[i].len - s.data;

        *msp = ngx_parse_time(&s, 0);
        if (*msp == (ngx_msec_t) NGX_ERROR) {
            goto invalid;
        }
    }

    if (name.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "fsauth_cache: \"zone=NAME:SIZE\" is required");
        return NGX_CONF_ERROR;
    }

    if (cache->ttl == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "fsauth_cache: ttl must not be 0");
        return NGX_CONF_ERROR;
    }

    cache->shm_zone = ngx_shared_memory_add(cf, &name, size,
                                            &ngx_http_fsauth_module);
    if (cache->shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (cache->shm_zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "fsauth_cache: zone \"%V\" is already used",
                           &name);
        return NGX_CONF_ERROR;
    }

    /*
     * The small kinds are bounded so that a flood of bad tokens, of
     * resources or of addresses can only evict its own kind: unknown
     * tokens may take a quarter of the zone (128-byte nodes), resource
     * decisions and ban counters an eighth each (128 and 512 bytes).
     */

    cache->max_negative = size / 4 / 128;
    cache->max_grants = size / 8 / 128;
    cache->max_bans = size / 8 / 512;

    cache->shm_zone->init = ngx_http_fsauth_cache_init_zone;
    cache->shm_zone->data = cache;

    fmcf->cache = cache;

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\" of fsauth_cache", &value[i]);
    return NGX_CONF_ERROR;
}


/*
 * What a cached entry depends on: a reload that changes it flushes.  That
 * is every input that says which Redis data the records come from: the
 * address as written and every address it resolved to, the sentinels and
 * the master's name, the user (its ACL may show other keys), db= and
 * prefix=.  A way of naming Redis added later belongs here too.
 */

void
ngx_http_fsauth_cache_set_fingerprint(ngx_http_fsauth_cache_t *cache,
    ngx_http_fsauth_redis_conf_t *rcf)
{
    uint32_t  crc;

    ngx_crc32_init(crc);
    ngx_crc32_update(&crc, (u_char *) &cache->ttl, sizeof(ngx_msec_t));
    ngx_crc32_update(&crc, (u_char *) &cache->negative_ttl,
                     sizeof(ngx_msec_t));

    if (rcf) {
        ngx_http_fsauth_cache_fingerprint_str(&crc, &rcf->addr_text);

        /* with sentinel= the data node is named at run time: no addrs */

        if (rcf->addrs) {
            ngx_http_fsauth_cache_fingerprint_addrs(&crc, rcf->addrs,
                                                    rcf->naddrs);
        }

        ngx_http_fsauth_cache_fingerprint_addrs(&crc, rcf->sentinels,
                                                rcf->nsentinels);
        ngx_http_fsauth_cache_fingerprint_str(&crc, &rcf->master);
        ngx_http_fsauth_cache_fingerprint_str(&crc, &rcf->user);
        ngx_http_fsauth_cache_fingerprint_str(&crc, &rcf->prefix);
        ngx_crc32_update(&crc, (u_char *) &rcf->db, sizeof(ngx_uint_t));
    }

    ngx_crc32_final(crc);

    cache->fingerprint = crc;
}


/* length first: "ab" + "c" and "a" + "bc" differ */

static void
ngx_http_fsauth_cache_fingerprint_str(uint32_t *crc, ngx_str_t *s)
{
    ngx_crc32_update(crc, (u_char *) &s->len, sizeof(size_t));
    ngx_crc32_update(crc, s->data, s->len);
}


static void
ngx_http_fsauth_cache_fingerprint_addrs(uint32_t *crc,
    ngx_http_fsauth_redis_addr_t *addrs, ngx_uint_t n)
{
    ngx_uint_t  i;

    ngx_crc32_update(crc, (u_char *) &n, sizeof(ngx_uint_t));

    for (i = 0; i < n; i++) {
        ngx_http_fsauth_cache_fingerprint_str(crc, &addrs[i].host);
        ngx_crc32_update(crc, (u_char *) &addrs[i].port, sizeof(in_port_t));
    }
}


static ngx_int_t
ngx_http_fsauth_cache_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_fsauth_cache_t *ocache = data;

    size_t                    len;
    ngx_uint_t                n;
    ngx_http_fsauth_cache_t  *cache;

    cache = shm_zone->data;
    cache->shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (ocache) {

        /*
         * Reload with the zone kept: keep the entries if still valid, and
         * the index key with them (entries and key live and die together).
         */

        cache->sh = ocache->sh;
        cache->ban = cache->sh->ban;

        if (cache->sh->fingerprint != cache->fingerprint) {
            ngx_shmtx_lock(&cache->shpool->mutex);
            ngx_http_fsauth_cache_flush_locked(cache);
            cache->sh->fingerprint = cache->fingerprint;
            ngx_shmtx_unlock(&cache->shpool->mutex);

            ngx_log_error(NGX_LOG_NOTICE, shm_zone->shm.log, 0,
                          "fsauth: cache zone \"%V\" flushed, its "
                          "parameters changed", &shm_zone->shm.name);
        }

        return NGX_OK;
    }

    if (shm_zone->shm.exists) {
        cache->sh = cache->shpool->data;
        cache->ban = cache->sh->ban;
        return NGX_OK;
    }

    cache->sh = ngx_slab_calloc(cache->shpool,
                                sizeof(ngx_http_fsauth_cache_sh_t));
    if (cache->sh == NULL) {
        return NGX_ERROR;
    }

    cache->shpool->data = cache->sh;

    if (RAND_bytes(cache->sh->key, NGX_HTTP_FSAUTH_SIPHASH_KEY_LEN) != 1
        || RAND_bytes(cache->sh->digest_key, NGX_HTTP_FSAUTH_SIPHASH_KEY_LEN)
           != 1)
    {
        ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                      "fsauth: no random key for cache zone \"%V\"",
                      &shm_zone->shm.name);
        return NGX_ERROR;
    }

    /* a power of two: the bucket is some bits of a hash */

    for (n = 64; n * 2 <= shm_zone->shm.size / NGX_HTTP_FSAUTH_BUCKET_BYTES;
         n <<= 1)
    {
        /* void */
    }

    cache->sh->mask = n - 1;

    len = n * sizeof(ngx_http_fsauth_entry_t *);

    cache->sh->by_index = ngx_slab_calloc(cache->shpool, len);
    cache->sh->by_digest = ngx_slab_calloc(cache->shpool, len);

    if (cache->sh->by_index == NULL || cache->sh->by_digest == NULL) {
        return NGX_ERROR;
    }

    ngx_queue_init(&cache->sh->keys);
    ngx_queue_init(&cache->sh->negatives);
    ngx_queue_init(&cache->sh->grants);

    cache->sh->ban = ngx_http_fsauth_ban_init_zone(cache->shpool);
    if (cache->sh->ban == NULL) {
        return NGX_ERROR;
    }

    cache->ban = cache->sh->ban;

    cache->sh->fingerprint = cache->fingerprint;

    len = sizeof(" in fsauth_cache zone \"\"") + shm_zone->shm.name.len;

    cache->shpool->log_ctx = ngx_slab_alloc(cache->shpool, len);
    if (cache->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(cache->shpool->log_ctx, " in fsauth_cache zone \"%V\"%Z",
                &shm_zone->shm.name);

    /* eviction is normal operation here, not an error to log */

    cache->shpool->log_nomem = 0;

    return NGX_OK;
}


/*
 * Looks the token up by its index and copies out what this request needs.
 * "index" gets the token's index (for the insert after a miss).  Returns
 * NGX_HTTP_FSAUTH_CACHE_HIT or _NEGATIVE for fresh entries, _STALE for an
 * expired entry still within stale= (res is filled, to be used only if
 * Redis fails), _MISS otherwise.  Unless it is _MISS, "digest" gets the
 * token's digest, kept in the entry.
 */

ngx_uint_t
ngx_http_fsauth_cache_lookup(ngx_http_fsauth_cache_t *cache,
    ngx_str_t *token, uint64_t *index, u_char *digest, ngx_str_t *resource,
    struct sockaddr *sa, ngx_http_fsauth_result_t *res, ngx_msec_t interval)
{
    ngx_uint_t  rc;
    u_char      gd[NGX_HTTP_FSAUTH_DIGEST_LEN];

    /* the key never changes once made: read without the lock */

    ngx_http_fsauth_siphash128(cache->sh->key, token->data, token->len,
                               index);

    rc = ngx_http_fsauth_cache_get(cache, index, digest, resource, NULL, sa,
                                   res, interval);

    if (rc != NGX_HTTP_FSAUTH_CACHE_GRANT_NEEDED) {
        return rc;
    }

    /* the resource's own entry, with its digest made outside the lock */

    ngx_http_fsauth_token_grant_digest(digest, resource, gd);

    return ngx_http_fsauth_cache_get(cache, index, digest, resource, gd, sa,
                                     res, interval);
}


static ngx_uint_t
ngx_http_fsauth_cache_get(ngx_http_fsauth_cache_t *cache, uint64_t *index,
    u_char *digest, ngx_str_t *resource, u_char *grant_digest,
    struct sockaddr *sa, ngx_http_fsauth_result_t *res, ngx_msec_t interval)
{
    ngx_uint_t                     rc, fresh;
    ngx_msec_t                     now;
    ngx_http_fsauth_entry_t       *e, *g;
    ngx_http_fsauth_key_node_t    *kn;
    ngx_http_fsauth_grant_node_t  *gn;

    now = ngx_current_msec;
    rc = NGX_HTTP_FSAUTH_CACHE_MISS;

    ngx_shmtx_lock(&cache->shpool->mutex);

    e = ngx_http_fsauth_cache_find_index(cache->sh, index);

    if (e == NULL) {
        cache->sh->stats.misses++;
        goto done;
    }

    if ((ngx_msec_int_t) (e->stale_until - now) <= 0) {
        ngx_http_fsauth_cache_remove(cache, e);
        cache->sh->stats.misses++;
        goto done;
    }

    /* for the log, a resource's entry, or Redis if the entry is stale */

    ngx_memcpy(digest, e->digest, NGX_HTTP_FSAUTH_DIGEST_LEN);

    if (e->kind == NGX_HTTP_FSAUTH_NODE_NEGATIVE) {
        res->found = 0;

        if ((ngx_msec_int_t) (e->expires - now) > 0) {
            cache->sh->stats.negative++;
            rc = NGX_HTTP_FSAUTH_CACHE_NEGATIVE;

        } else {
            cache->sh->stats.misses++;
            rc = NGX_HTTP_FSAUTH_CACHE_STALE;
        }

        goto done;
    }

    kn = (ngx_http_fsauth_key_node_t *) e;

    fresh = ((ngx_msec_int_t) (e->expires - now) > 0);

    /*
     * The entry's end was set from the wall clock when it was stored, but
     * it runs on nginx's monotonic one: if they drift, a stale entry may
     * still be there when its key's expiry second has come.  Nothing is
     * served stale past that second.
     */

    if (!fresh && kn->rec.expires && ngx_time() >= kn->rec.expires) {
        ngx_http_fsauth_cache_remove(cache, e);
        cache->sh->stats.misses++;
        goto done;
    }

    ngx_http_fsauth_record_extract(&kn->rec, resource, sa, res);

    if (!res->has_grant && kn->rec.incomplete && resource->len
        && kn->rec.enabled && !kn->rec.fullaccess)
    {
        /* this resource did not fit in the node: its own entry decides */

        if (grant_digest == NULL) {
            rc = NGX_HTTP_FSAUTH_CACHE_GRANT_NEEDED;
            goto done;
        }

        g = ngx_http_fsauth_cache_find(cache->sh, grant_digest);
        gn = (ngx_http_fsauth_grant_node_t *) g;

        if (g
            && (g->kind != NGX_HTTP_FSAUTH_NODE_GRANT || gn->gen != kn->gen
                || (ngx_msec_int_t) (g->stale_until - now) <= 0))
        {
            /* made from an older record of the key, or too old */

            ngx_http_fsauth_cache_remove(cache, g);
            g = NULL;
        }

        if (g == NULL) {
            cache->sh->stats.misses++;
            goto done;
        }

        res->has_grant = gn->has_grant;
        res->mask = gn->mask;

        if ((ngx_msec_int_t) (g->expires - now) <= 0) {
            fresh = 0;
        }

        ngx_queue_remove(&g->queue);
        ngx_queue_insert_head(&cache->sh->grants, &g->queue);
    }

    ngx_queue_remove(&e->queue);
    ngx_queue_insert_head(&cache->sh->keys, &e->queue);

    if (fresh) {
        cache->sh->stats.hits++;
        rc = NGX_HTTP_FSAUTH_CACHE_HIT;

        /* is an activity write due?  decided here, under the same lock */

        if (interval && res->enabled) {
            res->activity = ngx_http_fsauth_cache_activity_due(kn, now,
                                                               interval);
        }

    } else {
        cache->sh->stats.misses++;
        rc = NGX_HTTP_FSAUTH_CACHE_STALE;
    }

done:

    ngx_shmtx_unlock(&cache->shpool->mutex);

    return rc;
}


void
ngx_http_fsauth_cache_count_stale(ngx_http_fsauth_cache_t *cache)
{
    ngx_shmtx_lock(&cache->shpool->mutex);
    cache->sh->stats.stale++;
    ngx_shmtx_unlock(&cache->shpool->mutex);
}


/*
 * The invalidation epoch: a lookup sent before a change is not cached.
 * Read without the lock: the epoch only grows, under the lock, and a
 * value read late is an older one, which only makes the insert refuse
 * the record.
 */

uint32_t
ngx_http_fsauth_cache_epoch(ngx_http_fsauth_cache_t *cache)
{
    return *(volatile uint32_t *) &cache->sh->epoch;
}


/*
 * rec == NULL stores a negative entry (unknown token).  With an activity
 * interval, a key entry also decides whether the activity write is due:
 * 1, stamped now, the caller writes it; 0, not yet.  NGX_DECLINED:
 * nothing was cached or decided.
 */

ngx_int_t
ngx_http_fsauth_cache_insert(ngx_http_fsauth_cache_t *cache, uint64_t *index,
    u_char *digest, ngx_http_fsauth_record_t *rec, uint32_t epoch,
    ngx_msec_t interval)
{
    size_t                        size;
    time_t                        left;
    uint32_t                      gen;
    ngx_int_t                     rc;
    ngx_msec_t                    now, ttl, stale, last;
    ngx_time_t                   *tp;
    ngx_queue_t                  *lru;
    ngx_http_fsauth_entry_t      *e;
    ngx_http_fsauth_key_node_t   *kn;
    ngx_http_fsauth_cache_sh_t   *sh;

    now = ngx_current_msec;
    sh = cache->sh;
    rc = NGX_DECLINED;

    ngx_shmtx_lock(&cache->shpool->mutex);

    if (sh->epoch != epoch) {

        /* something changed in Redis while this lookup was on the wire */

        goto done;
    }

    /* a refreshed entry remembers when the key's activity was written */

    last = now - NGX_MAX_INT32_VALUE;
    gen = 0;

    e = ngx_http_fsauth_cache_find_index(sh, index);
    if (e) {
        if (e->kind == NGX_HTTP_FSAUTH_NODE_KEY) {
            kn = (ngx_http_fsauth_key_node_t *) e;
            last = kn->activity;

            /*
             * Still fresh: no change to the key was signalled since it
             * was read, so the decisions made from it stay valid.
             */

            if ((ngx_msec_int_t) (e->expires - now) > 0) {
                gen = kn->gen;
            }
        }

        ngx_http_fsauth_cache_remove(cache, e);
    }

    if (rec) {
        size = offsetof(ngx_http_fsauth_key_node_t, rec.grants)
               + ngx_http_fsauth_record_used(rec);
        lru = &sh->keys;
        ttl = cache->ttl;

    } else {
        if (sh->nnegatives >= cache->max_negative
            && !ngx_queue_empty(&sh->negatives))
        {
            e = ngx_queue_data(ngx_queue_last(&sh->negatives),
                               ngx_http_fsauth_entry_t, queue);
            ngx_http_fsauth_cache_remove(cache, e);
            sh->stats.evictions++;
        }

        size = sizeof(ngx_http_fsauth_entry_t);
        lru = &sh->negatives;
        ttl = cache->negative_ttl;
    }

    if (ttl == 0) {
        goto done;
    }

    stale = cache->stale;

    /* no entry outlives an expiring key: it ends, stale= too, with it */

    if (rec && rec->expires) {
        tp = ngx_timeofday();
        left = rec->expires - tp->sec;

        if (left > 0 && left <= (time_t) ((ttl + stale) / 1000) + 1) {
            stale = (ngx_msec_t) left * 1000 - tp->msec;
            ttl = ngx_min(ttl, stale);
            stale -= ttl;
        }
    }

    e = ngx_http_fsauth_cache_alloc(cache, size, lru);
    if (e == NULL) {
        goto done;
    }

    e->kind = rec ? NGX_HTTP_FSAUTH_NODE_KEY : NGX_HTTP_FSAUTH_NODE_NEGATIVE;
    e->shift = (u_char) ngx_http_fsauth_cache_shift(size);
    e->epoch = epoch;
    e->expires = now + ttl;
    e->stale_until = now + ttl + stale;
    e->index[0] = index[0];
    e->index[1] = index[1];
    ngx_memcpy(e->digest, digest, NGX_HTTP_FSAUTH_DIGEST_LEN);

    if (rec) {
        kn = (ngx_http_fsauth_key_node_t *) e;

        /*
         * the grants and addresses in use, not the whole array: nothing
         * reads past them
         */

        ngx_memcpy(&kn->rec, rec,
                   size - offsetof(ngx_http_fsauth_key_node_t, rec));

        kn->activity = last;

        if (gen == 0) {
            gen = ++sh->gen;

            if (gen == 0) {
                gen = ++sh->gen;
            }
        }

        kn->gen = gen;
        sh->nkeys++;

        if (interval) {
            rc = ngx_http_fsauth_cache_activity_due(kn, now, interval);
        }

    } else {
        sh->nnegatives++;
    }

    ngx_http_fsauth_cache_link(sh, e);
    ngx_queue_insert_head(lru, &e->queue);

done:

    ngx_shmtx_unlock(&cache->shpool->mutex);

    return rc;
}


/*
 * The decision for a resource that did not fit in the key's node, as
 * read from the same reply: the next request for it is then a hit.
 */

void
ngx_http_fsauth_cache_insert_grant(ngx_http_fsauth_cache_t *cache,
    u_char *digest, ngx_str_t *resource, ngx_http_fsauth_result_t *res,
    uint32_t epoch)
{
    u_char                         gd[NGX_HTTP_FSAUTH_DIGEST_LEN];
    size_t                         size;
    uint32_t                       gen;
    ngx_msec_t                     now;
    ngx_http_fsauth_entry_t       *e;
    ngx_http_fsauth_cache_sh_t    *sh;
    ngx_http_fsauth_grant_node_t  *gn;

    /* the grants of a disabled key or of full access are never read */

    if (resource->len == 0 || !res->found || !res->enabled
        || res->fullaccess)
    {
        return;
    }

    ngx_http_fsauth_token_grant_digest(digest, resource, gd);

    now = ngx_current_msec;
    sh = cache->sh;

    ngx_shmtx_lock(&cache->shpool->mutex);

    if (sh->epoch != epoch) {
        goto done;
    }

    e = ngx_http_fsauth_cache_find(sh, digest);
    if (e == NULL || e->kind != NGX_HTTP_FSAUTH_NODE_KEY) {
        goto done;
    }

    gen = ((ngx_http_fsauth_key_node_t *) e)->gen;

    e = ngx_http_fsauth_cache_find(sh, gd);
    if (e) {
        ngx_http_fsauth_cache_remove(cache, e);
    }

    if (sh->ngrants >= cache->max_grants && !ngx_queue_empty(&sh->grants)) {
        e = ngx_queue_data(ngx_queue_last(&sh->grants),
                           ngx_http_fsauth_entry_t, queue);
        ngx_http_fsauth_cache_remove(cache, e);
        sh->stats.evictions++;
    }

    size = sizeof(ngx_http_fsauth_grant_node_t);

    gn = ngx_http_fsauth_cache_alloc(cache, size, &sh->grants);
    if (gn == NULL) {
        goto done;
    }

    gn->e.kind = NGX_HTTP_FSAUTH_NODE_GRANT;
    gn->e.shift = (u_char) ngx_http_fsauth_cache_shift(size);
    gn->e.epoch = epoch;
    gn->e.expires = now + cache->ttl;
    gn->e.stale_until = now + cache->ttl + cache->stale;
    ngx_memcpy(gn->e.digest, gd, NGX_HTTP_FSAUTH_DIGEST_LEN);

    gn->gen = gen;
    gn->has_grant = (u_char) res->has_grant;
    gn->mask = (u_char) res->mask;

    sh->ngrants++;

    ngx_http_fsauth_cache_link(sh, &gn->e);
    ngx_queue_insert_head(&sh->grants, &gn->e.queue);

done:

    ngx_shmtx_unlock(&cache->shpool->mutex);
}


/* an invalidation: the key changed in Redis */

void
ngx_http_fsauth_cache_delete(ngx_http_fsauth_cache_t *cache, u_char *digest)
{
    ngx_http_fsauth_entry_t  *e;

    ngx_shmtx_lock(&cache->shpool->mutex);

    cache->sh->epoch++;

    e = ngx_http_fsauth_cache_find(cache->sh, digest);
    if (e) {
        ngx_http_fsauth_cache_remove(cache, e);
    }

    ngx_shmtx_unlock(&cache->shpool->mutex);
}


/*
 * A worker's invalidation channel is up (on = 1) or lost (on = 0).  The
 * cache must be flushed when messages may have been lost: on a reconnect,
 * or when no other worker was listening.  Returns 1 if it was flushed.
 * "Flushed" here means every entry is expired, not deleted: the next
 * request for it asks Redis, and the old decision is used only as a stale
 * one if that fails (the lookup connection may come back after this one,
 * and during an outage those entries were usable anyway).
 */

ngx_int_t
ngx_http_fsauth_cache_subscribed(ngx_http_fsauth_cache_t *cache,
    ngx_uint_t on, ngx_uint_t reconnect)
{
    ngx_int_t    flushed;
    ngx_pid_t   *pid;
    ngx_uint_t   i, others, free;

    flushed = 0;
    pid = cache->sh->subscribers;

    ngx_shmtx_lock(&cache->shpool->mutex);

    /*
     * A worker that dies without exiting (SIGKILL, a crash) never says
     * that its channel is down, so a slot counts only while its process
     * exists (the master reaps a dead worker before it starts the next
     * one).  EPERM: the pid now belongs to another user, not to a worker.
     */

    others = 0;
    free = NGX_HTTP_FSAUTH_SUBSCRIBERS_MAX;

    for (i = 0; i < NGX_HTTP_FSAUTH_SUBSCRIBERS_MAX; i++) {

        if (pid[i] == ngx_pid) {
            pid[i] = 0;

        } else if (pid[i] && kill(pid[i], 0) == -1) {
            pid[i] = 0;
        }

        if (pid[i]) {
            others++;

        } else if (free == NGX_HTTP_FSAUTH_SUBSCRIBERS_MAX) {
            free = i;
        }
    }

    if (on) {
        if (reconnect || others == 0) {
            ngx_http_fsauth_cache_expire_locked(cache);
            flushed = 1;
        }

        /* with every slot taken, others listen anyway */

        if (free < NGX_HTTP_FSAUTH_SUBSCRIBERS_MAX) {
            pid[free] = ngx_pid;
        }
    }

    ngx_shmtx_unlock(&cache->shpool->mutex);

    return flushed;
}


void
ngx_http_fsauth_cache_expire(ngx_http_fsauth_cache_t *cache)
{
    ngx_shmtx_lock(&cache->shpool->mutex);
    ngx_http_fsauth_cache_expire_locked(cache);
    ngx_shmtx_unlock(&cache->shpool->mutex);
}


/* the zone's counters and sizes, for the metrics: no walk of an LRU */

void
ngx_http_fsauth_cache_stats(ngx_http_fsauth_cache_t *cache,
    ngx_http_fsauth_stats_t *stats, ngx_uint_t *keys, ngx_uint_t *bans)
{
    ngx_shmtx_lock(&cache->shpool->mutex);

    *stats = cache->sh->stats;
    *keys = cache->sh->nkeys;
    *bans = ngx_http_fsauth_ban_stats_locked(cache->ban, stats);

    ngx_shmtx_unlock(&cache->shpool->mutex);
}


static void
ngx_http_fsauth_cache_flush_locked(ngx_http_fsauth_cache_t *cache)
{
    ngx_queue_t              *q;
    ngx_http_fsauth_entry_t  *e;

    cache->sh->epoch++;

    while (!ngx_queue_empty(&cache->sh->keys)) {
        q = ngx_queue_head(&cache->sh->keys);
        e = ngx_queue_data(q, ngx_http_fsauth_entry_t, queue);
        ngx_http_fsauth_cache_remove(cache, e);
    }

    while (!ngx_queue_empty(&cache->sh->negatives)) {
        q = ngx_queue_head(&cache->sh->negatives);
        e = ngx_queue_data(q, ngx_http_fsauth_entry_t, queue);
        ngx_http_fsauth_cache_remove(cache, e);
    }

    while (!ngx_queue_empty(&cache->sh->grants)) {
        q = ngx_queue_head(&cache->sh->grants);
        e = ngx_queue_data(q, ngx_http_fsauth_entry_t, queue);
        ngx_http_fsauth_cache_remove(cache, e);
    }
}


static void
ngx_http_fsauth_cache_expire_locked(ngx_http_fsauth_cache_t *cache)
{
    ngx_uint_t                i;
    ngx_msec_t                now;
    ngx_queue_t              *q, *lru[3];
    ngx_http_fsauth_entry_t  *e;

    now = ngx_current_msec;

    /* lookups on the wire now are not cached either */

    cache->sh->epoch++;

    lru[0] = &cache->sh->keys;
    lru[1] = &cache->sh->negatives;
    lru[2] = &cache->sh->grants;

    for (i = 0; i < 3; i++) {
        for (q = ngx_queue_head(lru[i]);
             q != ngx_queue_sentinel(lru[i]);
             q = ngx_queue_next(q))
        {
            e = ngx_queue_data(q, ngx_http_fsauth_entry_t, queue);

            if ((ngx_msec_int_t) (e->expires - now) > 0) {
                e->expires = now - NGX_HTTP_FSAUTH_EXPIRED_AGO;
            }
        }
    }
}


/*
 * 1, and the entry stamped now, when the key's activity was last written
 * an interval ago or more: the caller writes it.  Signed: another
 * worker's clock may be a little ahead of this one's.
 */

static ngx_uint_t
ngx_http_fsauth_cache_activity_due(ngx_http_fsauth_key_node_t *kn,
    ngx_msec_t now, ngx_msec_t interval)
{
    if ((ngx_msec_int_t) (now - kn->activity) < (ngx_msec_int_t) interval) {
        return 0;
    }

    kn->activity = now;

    return 1;
}


/*
 * A key or negative node by its token's index.  The index is compared in
 * constant time, every word of it: how far a comparison got tells nothing.
 */

static ngx_http_fsauth_entry_t *
ngx_http_fsauth_cache_find_index(ngx_http_fsauth_cache_sh_t *sh,
    uint64_t *index)
{
    ngx_http_fsauth_entry_t  *e;

    for (e = sh->by_index[index[0] & sh->mask]; e; e = e->index_next) {

        if (((e->index[0] ^ index[0]) | (e->index[1] ^ index[1])) == 0) {
            return e;
        }
    }

    return NULL;
}


/* any node by its digest: a token's (key, negative), a resource entry's */

static ngx_http_fsauth_entry_t *
ngx_http_fsauth_cache_find(ngx_http_fsauth_cache_sh_t *sh, u_char *digest)
{
    ngx_http_fsauth_entry_t  *e;

    for (e = *ngx_http_fsauth_cache_digest_bucket(sh, digest);
         e;
         e = e->digest_next)
    {
        if (ngx_memcmp(e->digest, digest, NGX_HTTP_FSAUTH_DIGEST_LEN) == 0) {
            return e;
        }
    }

    return NULL;
}


/*
 * Anyone can make tokens whose digests share a few chosen bits (2^k
 * tries for k bits), so the bucket is not taken from the digest's bits
 * but from a keyed hash of them.  Its first 8 bytes are enough, and
 * cost half the rounds of all 32: entries with distinct first words get
 * independent buckets under a key nobody knows, whatever those words
 * are, and a chain of n entries sharing the same word needs n SHA-256
 * outputs equal in 64 bits (2^32 tries for the first two).  Whole
 * digests are compared in the chain.
 */

static ngx_http_fsauth_entry_t **
ngx_http_fsauth_cache_digest_bucket(ngx_http_fsauth_cache_sh_t *sh,
    u_char *digest)
{
    return &sh->by_digest[ngx_http_fsauth_siphash64_word(sh->digest_key,
                                                         digest)
                          & sh->mask];
}


static void
ngx_http_fsauth_cache_link(ngx_http_fsauth_cache_sh_t *sh,
    ngx_http_fsauth_entry_t *e)
{
    ngx_http_fsauth_entry_t  **bucket;

    bucket = ngx_http_fsauth_cache_digest_bucket(sh, e->digest);
    e->digest_next = *bucket;
    *bucket = e;

    if (e->kind != NGX_HTTP_FSAUTH_NODE_GRANT) {
        bucket = &sh->by_index[e->index[0] & sh->mask];
        e->index_next = *bucket;
        *bucket = e;
    }
}


static void
ngx_http_fsauth_cache_remove(ngx_http_fsauth_cache_t *cache,
    ngx_http_fsauth_entry_t *e)
{
    ngx_http_fsauth_entry_t    **pp;
    ngx_http_fsauth_cache_sh_t  *sh;

    sh = cache->sh;

    if (e->kind == NGX_HTTP_FSAUTH_NODE_KEY) {
        sh->nkeys--;

    } else if (e->kind == NGX_HTTP_FSAUTH_NODE_NEGATIVE) {
        sh->nnegatives--;

    } else {
        sh->ngrants--;
    }

    /* every node is in its chains: the walks end at it */

    for (pp = ngx_http_fsauth_cache_digest_bucket(sh, e->digest);
         *pp != e;
         pp = &(*pp)->digest_next)
    {
        /* void */
    }

    *pp = e->digest_next;

    if (e->kind != NGX_HTTP_FSAUTH_NODE_GRANT) {
        for (pp = &sh->by_index[e->index[0] & sh->mask];
             *pp != e;
             pp = &(*pp)->index_next)
        {
            /* void */
        }

        *pp = e->index_next;
    }

    ngx_queue_remove(&e->queue);
    ngx_slab_free_locked(cache->shpool, e);
}


/*
 * Allocates a node, evicting the least recently used nodes of the same
 * kind when the zone is full.  Failure is logged at most once a minute.
 */

static void *
ngx_http_fsauth_cache_alloc(ngx_http_fsauth_cache_t *cache, size_t size,
    ngx_queue_t *lru)
{
    void                     *p;
    ngx_uint_t                i, shift;
    ngx_queue_t              *q;
    ngx_http_fsauth_entry_t  *e;

    for (i = 0; /* void */; i++) {

        p = ngx_slab_alloc_locked(cache->shpool, size);
        if (p) {
            return p;
        }

        if (i == NGX_HTTP_FSAUTH_EVICT_MAX) {
            break;
        }

        if (ngx_queue_empty(lru)) {
            break;
        }

        e = ngx_queue_data(ngx_queue_last(lru), ngx_http_fsauth_entry_t,
                           queue);
        ngx_http_fsauth_cache_remove(cache, e);

        cache->sh->stats.evictions++;
    }

    /*
     * Nodes of other sizes were freed, but their pages still hold others:
     * the oldest node of this size class frees a chunk this size can use.
     */

    shift = ngx_http_fsauth_cache_shift(size);

    for (q = ngx_queue_last(lru), i = 0;
         q != ngx_queue_sentinel(lru) && i < NGX_HTTP_FSAUTH_SCAN_MAX;
         q = ngx_queue_prev(q), i++)
    {
        e = ngx_queue_data(q, ngx_http_fsauth_entry_t, queue);

        if (e->shift == shift) {
            ngx_http_fsauth_cache_remove(cache, e);
            cache->sh->stats.evictions++;

            p = ngx_slab_alloc_locked(cache->shpool, size);
            if (p) {
                return p;
            }

            break;
        }
    }

    ngx_http_fsauth_cache_nomem_locked(cache);

    return NULL;
}


/* the slab's size class of a node: the smallest power of two it fits */

static ngx_uint_t
ngx_http_fsauth_cache_shift(size_t size)
{
    ngx_uint_t  shift;

    for (shift = 3; ((size_t) 1 << shift) < size; shift++) {
        /* void */
    }

    return shift;
}


/* the zone is full: said at most once a minute */

void
ngx_http_fsauth_cache_nomem_locked(ngx_http_fsauth_cache_t *cache)
{
    if (ngx_current_msec - cache->sh->nomem_logged > 60000
        || cache->sh->nomem_logged == 0)
    {
        cache->sh->nomem_logged = ngx_current_msec;
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "fsauth: cache zone \"%V\" is full, entry not cached",
                      &cache->shm_zone->shm.name);
    }
}

