
/*
 * Copyright (C) fsauth authors
 * BSD-2-Clause, see LICENSE.
 */


#include "ngx_http_fsauth_module.h"
#include "ngx_http_fsauth_redis.h"


/* set by "config" from the VERSION file */
#ifndef NGX_HTTP_FSAUTH_VERSION
#define NGX_HTTP_FSAUTH_VERSION  "unknown"
#endif


/*
 * Counters live in a small shared zone of their own, so that they exist
 * with or without fsauth_cache, and are updated with atomic additions (no
 * lock).  As with stub_status, a process-wide pointer to the shared
 * counters is set when the zone is initialized, before the workers fork.
 */


ngx_http_fsauth_metrics_t  *ngx_http_fsauth_metrics;


/*
 * The connection gauges are not counters that a worker increments and
 * decrements: a worker killed by SIGKILL would leave its increment behind
 * for ever.  Each worker owns the slot of its number instead, holding its
 * pid and the state bits below; a respawned worker takes the same number,
 * so it overwrites the dead one's slot.  Slots are only changed with a
 * compare-and-swap that checks the pid, so that an old worker finishing
 * its requests after a reload does not overwrite the state of the new
 * worker of its number.  The reader skips the slots of dead processes.
 */

#define NGX_HTTP_FSAUTH_SLOT_LOOKUP     0x01
#define NGX_HTTP_FSAUTH_SLOT_TRACKING   0x02
#define NGX_HTTP_FSAUTH_SLOT_API_OFF    0x04
#define NGX_HTTP_FSAUTH_SLOT_SHIFT      8


static ngx_uint_t  ngx_http_fsauth_latency_bounds[] = {
    1, 2, 5, 10, 25, 50, 100, 250, 500, 1000
};


static char *ngx_http_fsauth_status_label[] = {
    NULL, "granted", "global", "preflight", "unauthorized", "forbidden",
    "disabled", "banned", "unavailable", "open"
};


static char *ngx_http_fsauth_command_label[] = {
    "lookup", "kill_switch", "activity"
};


static ngx_int_t ngx_http_fsauth_metrics_init_zone(ngx_shm_zone_t *shm_zone,
    void *data);
static ngx_int_t ngx_http_fsauth_metrics_handler(ngx_http_request_t *r);
static void ngx_http_fsauth_metrics_workers(ngx_http_fsauth_metrics_t *m,
    ngx_uint_t *lookup, ngx_uint_t *tracking, ngx_uint_t *api);


ngx_int_t
ngx_http_fsauth_metrics_add_zone(ngx_conf_t *cf)
{
    size_t           size;
    ngx_str_t        name = ngx_string("fsauth_metrics");
    ngx_shm_zone_t  *shm_zone;

    /* a zone of another size is a new zone: no counters of another layout */

    size = 8 * ngx_pagesize + sizeof(ngx_http_fsauth_metrics_t);

    shm_zone = ngx_shared_memory_add(cf, &name, size,
                                     &ngx_http_fsauth_metrics);
    if (shm_zone == NULL) {
        return NGX_ERROR;
    }

    shm_zone->init = ngx_http_fsauth_metrics_init_zone;
    shm_zone->data = (void *) 1;

    return NGX_OK;
}


static ngx_int_t
ngx_http_fsauth_metrics_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_slab_pool_t  *shpool;

    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (data || shm_zone->shm.exists) {

        /* a reload keeps the zone: counters keep counting */

        ngx_http_fsauth_metrics = shpool->data;
        return NGX_OK;
    }

    ngx_http_fsauth_metrics = ngx_slab_calloc(shpool,
                                    sizeof(ngx_http_fsauth_metrics_t));
    if (ngx_http_fsauth_metrics == NULL) {
        return NGX_ERROR;
    }

    shpool->data = ngx_http_fsauth_metrics;

    return NGX_OK;
}


void
ngx_http_fsauth_metrics_latency(ngx_msec_t ms)
{
    ngx_uint_t                  i;
    ngx_http_fsauth_metrics_t  *m;

    m = ngx_http_fsauth_metrics;
    if (m == NULL) {
        return;
    }

    for (i = 0; i < NGX_HTTP_FSAUTH_LATENCY_BUCKETS - 1; i++) {
        if (ms <= ngx_http_fsauth_latency_bounds[i]) {
            break;
        }
    }

    (void) ngx_atomic_fetch_add(&m->latency[i], 1);
    (void) ngx_atomic_fetch_add(&m->latency_sum, ms);
}


void
ngx_http_fsauth_metrics_dropped(ngx_uint_t n)
{
    if (ngx_http_fsauth_metrics && n) {
        (void) ngx_atomic_fetch_add(&ngx_http_fsauth_metrics->activity_dropped,
                                    n);
    }
}


static ngx_atomic_t *
ngx_http_fsauth_metrics_slot(void)
{
    if (ngx_http_fsauth_metrics == NULL || ngx_worker >= NGX_MAX_PROCESSES) {
        return NULL;
    }

    return &ngx_http_fsauth_metrics->workers[ngx_worker];
}


/* a worker starts: its slot is its own, nothing is up yet */

void
ngx_http_fsauth_metrics_claim(void)
{
    ngx_atomic_t  *slot;

    slot = ngx_http_fsauth_metrics_slot();
    if (slot == NULL) {
        return;
    }

    *slot = (ngx_atomic_uint_t) ngx_pid << NGX_HTTP_FSAUTH_SLOT_SHIFT;
    ngx_memory_barrier();
}


/* the value is stored only while the slot is this worker's */

static void
ngx_http_fsauth_metrics_set(ngx_atomic_uint_t value)
{
    ngx_atomic_t       *slot;
    ngx_atomic_uint_t   old;

    slot = ngx_http_fsauth_metrics_slot();
    if (slot == NULL) {
        return;
    }

    do {
        old = *slot;

        if (old >> NGX_HTTP_FSAUTH_SLOT_SHIFT != (ngx_atomic_uint_t) ngx_pid) {
            return;
        }

    } while (!ngx_atomic_cmp_set(slot, old, value));
}


/* a worker exits: its connections are closed, its slot is free */

void
ngx_http_fsauth_metrics_release(void)
{
    ngx_http_fsauth_metrics_set(0);
}


/* called wherever a connection comes up or goes, or the kill switch is read */

void
ngx_http_fsauth_metrics_peer(ngx_http_fsauth_peer_t *peer)
{
    ngx_atomic_uint_t  value;

    value = (ngx_atomic_uint_t) ngx_pid << NGX_HTTP_FSAUTH_SLOT_SHIFT;

    if (peer->lookup.state == NGX_HTTP_FSAUTH_REDIS_READY) {
        value |= NGX_HTTP_FSAUTH_SLOT_LOOKUP;
    }

    if (peer->tracking.state == NGX_HTTP_FSAUTH_REDIS_READY) {
        value |= NGX_HTTP_FSAUTH_SLOT_TRACKING;
    }

    /* -1: not read yet, on as far as requests go */

    if (peer->api_enabled == 0) {
        value |= NGX_HTTP_FSAUTH_SLOT_API_OFF;
    }

    ngx_http_fsauth_metrics_set(value);
}


char *
ngx_http_fsauth_metrics_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_fsauth_metrics_handler;

    return NGX_CONF_OK;
}


/* the sum of the slots of the workers alive */

static void
ngx_http_fsauth_metrics_workers(ngx_http_fsauth_metrics_t *m,
    ngx_uint_t *lookup, ngx_uint_t *tracking, ngx_uint_t *api)
{
    ngx_pid_t          pid;
    ngx_uint_t         i;
    ngx_atomic_uint_t  v;

    *lookup = 0;
    *tracking = 0;
    *api = 1;

    for (i = 0; i < NGX_MAX_PROCESSES; i++) {
        v = m->workers[i];

        if (v == 0) {
            continue;
        }

        /*
         * A worker killed before its exit hook ran, and not replaced (an
         * old worker after a reload).  EPERM: the pid is another user's
         * process now, not a worker.
         */

        pid = (ngx_pid_t) (v >> NGX_HTTP_FSAUTH_SLOT_SHIFT);

        if (pid != ngx_pid && kill(pid, 0) == -1) {
            continue;
        }

        *lookup += (v & NGX_HTTP_FSAUTH_SLOT_LOOKUP) ? 1 : 0;
        *tracking += (v & NGX_HTTP_FSAUTH_SLOT_TRACKING) ? 1 : 0;

        if (v & NGX_HTTP_FSAUTH_SLOT_API_OFF) {
            *api = 0;
        }
    }
}


#define ngx_http_fsauth_metrics_line(p, end, ...)                             \
    p = ngx_slprintf(p, end, __VA_ARGS__)


static ngx_int_t
ngx_http_fsauth_metrics_handler(ngx_http_request_t *r)
{
    u_char                       *p, *end;
    size_t                        size;
    ngx_int_t                     rc;
    ngx_buf_t                    *b;
    ngx_uint_t                    i, cum, keys, bans, up, inv, api;
    ngx_chain_t                   out;
    ngx_http_fsauth_stats_t       stats;
    ngx_http_fsauth_metrics_t    *m;
    ngx_http_fsauth_main_conf_t  *fmcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    m = ngx_http_fsauth_metrics;
    if (m == NULL) {
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    fmcf = ngx_http_get_module_main_conf(r, ngx_http_fsauth_module);

    ngx_memzero(&stats, sizeof(ngx_http_fsauth_stats_t));
    keys = 0;
    bans = 0;

    if (fmcf->cache) {
        ngx_http_fsauth_cache_stats(fmcf->cache, &stats, &keys, &bans);
    }

    ngx_http_fsauth_metrics_workers(m, &up, &inv, &api);

    size = 8192;

    b = ngx_create_temp_buf(r->pool, size);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = b->pos;
    end = b->end;

    ngx_http_fsauth_metrics_line(p, end,
        "# HELP fsauth_build_info Versions of the module and of the nginx "
        "and hiredis it was built with.\n"
        "# TYPE fsauth_build_info gauge\n"
        "fsauth_build_info{version=\"%s\",nginx=\"%s\","
        "hiredis=\"%d.%d.%d\"} 1\n"
        "# HELP fsauth_redis_connected Workers whose Redis lookup "
        "connection is up.\n"
        "# TYPE fsauth_redis_connected gauge\n"
        "fsauth_redis_connected %ui\n"
        "# HELP fsauth_invalidation_connected Workers whose invalidation "
        "channel is up.\n"
        "# TYPE fsauth_invalidation_connected gauge\n"
        "fsauth_invalidation_connected %ui\n"
        "# HELP fsauth_api_enabled 0 when a worker has read the kill switch "
        "as off, 1 otherwise.\n"
        "# TYPE fsauth_api_enabled gauge\n"
        "fsauth_api_enabled %ui\n",
        NGX_HTTP_FSAUTH_VERSION, NGINX_VERSION,
        HIREDIS_MAJOR, HIREDIS_MINOR, HIREDIS_PATCH, up, inv, api);

    ngx_http_fsauth_metrics_line(p, end,
        "# HELP fsauth_decisions_total Access decisions by outcome.\n"
        "# TYPE fsauth_decisions_total counter\n");

    for (i = 1; i < NGX_HTTP_FSAUTH_ST_LAST; i++) {
        ngx_http_fsauth_metrics_line(p, end,
            "fsauth_decisions_total{status=\"%s\"} %uA\n",
            ngx_http_fsauth_status_label[i], m->decisions[i]);
    }

    ngx_http_fsauth_metrics_line(p, end,
        "# HELP fsauth_cache_requests_total Cache lookups by result.\n"
        "# TYPE fsauth_cache_requests_total counter\n"
        "fsauth_cache_requests_total{result=\"hit\"} %ui\n"
        "fsauth_cache_requests_total{result=\"miss\"} %ui\n"
        "fsauth_cache_requests_total{result=\"negative\"} %ui\n"
        "fsauth_cache_requests_total{result=\"stale\"} %ui\n"
        "# HELP fsauth_cache_evictions_total Entries evicted to make room.\n"
        "# TYPE fsauth_cache_evictions_total counter\n"
        "fsauth_cache_evictions_total %ui\n"
        "# HELP fsauth_cache_keys Key records in the cache.\n"
        "# TYPE fsauth_cache_keys gauge\n"
        "fsauth_cache_keys %ui\n"
        "# HELP fsauth_bans Client addresses banned now.\n"
        "# TYPE fsauth_bans gauge\n"
        "fsauth_bans %ui\n"
        "# HELP fsauth_ban_refused_total Incidents not counted, the ban "
        "table being full of bans in force.\n"
        "# TYPE fsauth_ban_refused_total counter\n"
        "fsauth_ban_refused_total %ui\n",
        stats.hits, stats.misses, stats.negative, stats.stale,
        stats.evictions, keys, bans, stats.ban_refused);

    ngx_http_fsauth_metrics_line(p, end,
        "# HELP fsauth_redis_commands_total Commands sent to Redis.\n"
        "# TYPE fsauth_redis_commands_total counter\n");

    for (i = 0; i < NGX_HTTP_FSAUTH_CMD_LAST; i++) {
        ngx_http_fsauth_metrics_line(p, end,
            "fsauth_redis_commands_total{command=\"%s\"} %uA\n",
            ngx_http_fsauth_command_label[i], m->commands[i]);
    }

    ngx_http_fsauth_metrics_line(p, end,
        "# HELP fsauth_redis_errors_total Error or malformed replies.\n"
        "# TYPE fsauth_redis_errors_total counter\n"
        "fsauth_redis_errors_total %uA\n"
        "# HELP fsauth_redis_timeouts_total Lookups unanswered in time.\n"
        "# TYPE fsauth_redis_timeouts_total counter\n"
        "fsauth_redis_timeouts_total %uA\n"
        "# HELP fsauth_redis_connection_losses_total Connections lost or "
        "refused.\n"
        "# TYPE fsauth_redis_connection_losses_total counter\n"
        "fsauth_redis_connection_losses_total %uA\n"
        "# HELP fsauth_redis_reconnects_total Connections re-established "
        "after a loss.\n"
        "# TYPE fsauth_redis_reconnects_total counter\n"
        "fsauth_redis_reconnects_total %uA\n"
        "# HELP fsauth_redis_invalidations_total Invalidation messages.\n"
        "# TYPE fsauth_redis_invalidations_total counter\n"
        "fsauth_redis_invalidations_total %uA\n"
        "# HELP fsauth_activity_dropped_total Activity records dropped "
        "unsent.\n"
        "# TYPE fsauth_activity_dropped_total counter\n"
        "fsauth_activity_dropped_total %uA\n",
        m->errors, m->timeouts, m->losses, m->reconnects, m->invalidations,
        m->activity_dropped);

    ngx_http_fsauth_metrics_line(p, end,
        "# HELP fsauth_lookup_duration_seconds Redis lookup latency.\n"
        "# TYPE fsauth_lookup_duration_seconds histogram\n");

    cum = 0;

    for (i = 0; i < NGX_HTTP_FSAUTH_LATENCY_BUCKETS; i++) {
        cum += m->latency[i];

        if (i < NGX_HTTP_FSAUTH_LATENCY_BUCKETS - 1) {
            ngx_http_fsauth_metrics_line(p, end,
                "fsauth_lookup_duration_seconds_bucket{le=\"%ui.%03ui\"} "
                "%ui\n",
                ngx_http_fsauth_latency_bounds[i] / 1000,
                ngx_http_fsauth_latency_bounds[i] % 1000, cum);

        } else {
            ngx_http_fsauth_metrics_line(p, end,
                "fsauth_lookup_duration_seconds_bucket{le=\"+Inf\"} %ui\n"
                "fsauth_lookup_duration_seconds_sum %uA.%03uA\n"
                "fsauth_lookup_duration_seconds_count %ui\n",
                cum, m->latency_sum / 1000, m->latency_sum % 1000, cum);
        }
    }

    b->last = p;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = b->last - b->pos;
    ngx_str_set(&r->headers_out.content_type,
                "text/plain; version=0.0.4; charset=utf-8");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}
