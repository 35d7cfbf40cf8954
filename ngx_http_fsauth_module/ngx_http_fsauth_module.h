
/*
 * Copyright (C) fsauth authors
 * BSD-2-Clause, see LICENSE.
 */


#ifndef _NGX_HTTP_FSAUTH_MODULE_H_INCLUDED_
#define _NGX_HTTP_FSAUTH_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "fsauth_rules.h"


/* the limits and grant words are the shared rules' (fsauth_rules.h) */
#define NGX_HTTP_FSAUTH_TOKEN_MAX         FSAUTH_TOKEN_MAX
#define NGX_HTTP_FSAUTH_DIGEST_LEN        FSAUTH_DIGEST_LEN
#define NGX_HTTP_FSAUTH_HEX_LEN           FSAUTH_HEX_LEN
#define NGX_HTTP_FSAUTH_NICK_MAX          56
#define NGX_HTTP_FSAUTH_RESOURCE_MAX      FSAUTH_RESOURCE_MAX
/*
 * so that a key's cache node fits in 1024 bytes (ngx_http_fsauth_cache.c);
 * the area also holds the key's address list, after the grants
 */
#define NGX_HTTP_FSAUTH_GRANTS_MAX        808
#define NGX_HTTP_FSAUTH_CIDRS_MAX         FSAUTH_CIDRS_MAX

/* Redis ACL passwords have no length limit; this one is generous */
#define NGX_HTTP_FSAUTH_PASSWORD_MAX      4096

/* grant words, as bits */
#define NGX_HTTP_FSAUTH_GET               FSAUTH_GRANT_GET
#define NGX_HTTP_FSAUTH_POST              FSAUTH_GRANT_POST
#define NGX_HTTP_FSAUTH_PUT               FSAUTH_GRANT_PUT
#define NGX_HTTP_FSAUTH_DELETE            FSAUTH_GRANT_DELETE

#define NGX_HTTP_FSAUTH_PHASE_ACCESS      0
#define NGX_HTTP_FSAUTH_PHASE_PREACCESS   1

#define NGX_HTTP_FSAUTH_PREFLIGHT_PASS    0
#define NGX_HTTP_FSAUTH_PREFLIGHT_AUTH    1

#define NGX_HTTP_FSAUTH_FAIL_STALE        0
#define NGX_HTTP_FSAUTH_FAIL_CLOSED       1
#define NGX_HTTP_FSAUTH_FAIL_OPEN         2


/* $fsauth_status values; 0 means "not involved" */
typedef enum {
    NGX_HTTP_FSAUTH_ST_NONE = 0,
    NGX_HTTP_FSAUTH_ST_GRANTED,
    NGX_HTTP_FSAUTH_ST_GLOBAL,
    NGX_HTTP_FSAUTH_ST_PREFLIGHT,
    NGX_HTTP_FSAUTH_ST_UNAUTHORIZED,
    NGX_HTTP_FSAUTH_ST_FORBIDDEN,
    NGX_HTTP_FSAUTH_ST_DISABLED,
    NGX_HTTP_FSAUTH_ST_BANNED,
    NGX_HTTP_FSAUTH_ST_UNAVAILABLE,
    NGX_HTTP_FSAUTH_ST_OPEN,
    NGX_HTTP_FSAUTH_ST_LAST
} ngx_http_fsauth_status_e;


/* Redis commands, for the metrics */
typedef enum {
    NGX_HTTP_FSAUTH_CMD_LOOKUP = 0,
    NGX_HTTP_FSAUTH_CMD_KILL_SWITCH,
    NGX_HTTP_FSAUTH_CMD_ACTIVITY,
    NGX_HTTP_FSAUTH_CMD_LAST
} ngx_http_fsauth_command_e;


#define NGX_HTTP_FSAUTH_LATENCY_BUCKETS   11


/* shared counters, see ngx_http_fsauth_metrics.c */
typedef struct {
    ngx_atomic_t                    decisions[NGX_HTTP_FSAUTH_ST_LAST];
    ngx_atomic_t                    commands[NGX_HTTP_FSAUTH_CMD_LAST];
    ngx_atomic_t                    errors;
    ngx_atomic_t                    timeouts;
    ngx_atomic_t                    losses;
    ngx_atomic_t                    reconnects;
    ngx_atomic_t                    invalidations;
    ngx_atomic_t                    latency[NGX_HTTP_FSAUTH_LATENCY_BUCKETS];
    ngx_atomic_t                    latency_sum;        /* ms */
    ngx_atomic_t                    activity_dropped;
    ngx_atomic_t                    workers[NGX_MAX_PROCESSES];
} ngx_http_fsauth_metrics_t;


extern ngx_http_fsauth_metrics_t  *ngx_http_fsauth_metrics;


#define ngx_http_fsauth_count(field)                                          \
    if (ngx_http_fsauth_metrics) {                                            \
        (void) ngx_atomic_fetch_add(&ngx_http_fsauth_metrics->field, 1);      \
    }


/* $fsauth_cache_status values */
typedef enum {
    NGX_HTTP_FSAUTH_CACHE_NONE = 0,
    NGX_HTTP_FSAUTH_CACHE_HIT,
    NGX_HTTP_FSAUTH_CACHE_MISS,
    NGX_HTTP_FSAUTH_CACHE_STALE,
    NGX_HTTP_FSAUTH_CACHE_NEGATIVE,
    NGX_HTTP_FSAUTH_CACHE_BYPASS
} ngx_http_fsauth_cache_status_e;


/* error responses, pre-rendered at configuration time */
typedef enum {
    NGX_HTTP_FSAUTH_ERR_UNAUTHORIZED = 0,
    NGX_HTTP_FSAUTH_ERR_FORBIDDEN,
    NGX_HTTP_FSAUTH_ERR_DISABLED,
    NGX_HTTP_FSAUTH_ERR_BANNED,
    NGX_HTTP_FSAUTH_ERR_UNAVAILABLE,
    NGX_HTTP_FSAUTH_ERR_LAST
} ngx_http_fsauth_err_e;


/*
 * a key record as read from Redis; no pointers.  A cache node keeps it up
 * to the grants area's bytes in use: the header is kept small.
 */
typedef struct {
    ngx_int_t                       id;
    time_t                          expires;         /* 0: never */
    uint16_t                        nick_len;
    uint16_t                        grants_len;
    unsigned                        enabled:1;
    unsigned                        fullaccess:1;
    unsigned                        incomplete:1;
    unsigned                        bad_nick:1;
    unsigned                        bad_expires:1;
    unsigned                        bad_allow_ips:1;
    unsigned                        ncidrs:4;        /* "allow_ips" */
    u_char                          nick[NGX_HTTP_FSAUTH_NICK_MAX];

    /*
     * packed: length byte, mask byte, resource bytes; repeated; then
     * ncidrs fsauth_cidr_t (bytes only: no alignment needed)
     */
    u_char                          grants[NGX_HTTP_FSAUTH_GRANTS_MAX];
} ngx_http_fsauth_record_t;


/* the address list of a record, right after its grants */
#define ngx_http_fsauth_record_cidrs(rec)                                     \
    ((fsauth_cidr_t *) ((rec)->grants + (rec)->grants_len))

/* the bytes of the grants area in use */
#define ngx_http_fsauth_record_used(rec)                                      \
    ((rec)->grants_len + (rec)->ncidrs * sizeof(fsauth_cidr_t))


/* what one request needs to know about its key */
typedef struct {
    ngx_int_t                       id;
    size_t                          nick_len;
    ngx_uint_t                      mask;
    unsigned                        found:1;
    unsigned                        enabled:1;
    unsigned                        fullaccess:1;
    unsigned                        has_grant:1;
    unsigned                        activity:1;      /* cache: write due */
    unsigned                        expired:1;
    unsigned                        outside:1;       /* of "allow_ips" */
    u_char                          nick[NGX_HTTP_FSAUTH_NICK_MAX];
} ngx_http_fsauth_result_t;


/* a token header name, lower case, with nginx's hash of it */
typedef struct {
    ngx_str_t                       name;
    ngx_uint_t                      hash;
} ngx_http_fsauth_header_t;


typedef struct ngx_http_fsauth_peer_s      ngx_http_fsauth_peer_t;
typedef struct ngx_http_fsauth_tls_s       ngx_http_fsauth_tls_t;
typedef struct ngx_http_fsauth_pending_s   ngx_http_fsauth_pending_t;
typedef struct ngx_http_fsauth_cache_sh_s  ngx_http_fsauth_cache_sh_t;
typedef struct ngx_http_fsauth_ban_sh_s    ngx_http_fsauth_ban_sh_t;
typedef struct ngx_http_fsauth_fetch_s     ngx_http_fsauth_fetch_t;


/* counters kept in the cache zone, shared by all workers */
typedef struct {
    ngx_uint_t                      hits;
    ngx_uint_t                      misses;
    ngx_uint_t                      stale;
    ngx_uint_t                      negative;
    ngx_uint_t                      evictions;
    ngx_uint_t                      banned;
    ngx_uint_t                      ban_refused;
} ngx_http_fsauth_stats_t;


typedef struct ngx_http_fsauth_cache_s {
    ngx_shm_zone_t                 *shm_zone;
    ngx_slab_pool_t                *shpool;
    ngx_http_fsauth_cache_sh_t     *sh;
    ngx_http_fsauth_ban_sh_t       *ban;          /* in the same zone */
    ngx_msec_t                      ttl;
    ngx_msec_t                      negative_ttl;
    ngx_msec_t                      stale;
    ngx_uint_t                      max_negative;
    ngx_uint_t                      max_grants;
    ngx_uint_t                      max_bans;
    uint32_t                        fingerprint;
} ngx_http_fsauth_cache_t;


/* one address of fsauth_redis, as hiredis takes it */
typedef struct {
    ngx_str_t                       host;         /* IP text or unix path */
    in_port_t                       port;         /* 0: unix socket */
} ngx_http_fsauth_redis_addr_t;


typedef struct {
    ngx_str_t                       addr_text;
    ngx_http_fsauth_redis_addr_t   *addrs;        /* all a name resolved to */
    ngx_uint_t                      naddrs;
    ngx_uint_t                      db;
    ngx_str_t                       user;         /* AUTH user password */
    ngx_str_t                       password;
    ngx_str_t                       prefix;
    ngx_msec_t                      connect_timeout;
    ngx_msec_t                      timeout;
    ngx_http_fsauth_peer_t         *peer;         /* per worker */
    struct ngx_http_fsauth_cache_s *cache;
    ngx_http_fsauth_tls_t          *tls;          /* NULL: plain TCP */

    /* sentinel=: the data node is the primary the sentinels name */
    ngx_http_fsauth_redis_addr_t   *sentinels;
    ngx_uint_t                      nsentinels;
    ngx_str_t                       master;
    ngx_str_t                       sentinel_user;
    ngx_str_t                       sentinel_password;
    ngx_uint_t                      read_replica; /* read=replica */
    ngx_http_fsauth_redis_addr_t   *prefer;       /* prefer_replica= */
    ngx_uint_t                      nprefer;
} ngx_http_fsauth_redis_conf_t;


/*
 * One record fetch, shaped like auth_request's ngx_http_post_subrequest_t:
 * the owner sets handler and data and keeps the structure until the
 * handler has been called, exactly once, with NGX_OK and the record,
 * NGX_DECLINED (unknown key, or a record refused), NGX_ERROR (no answer),
 * or NGX_ABORT (the worker is exiting: free it, nothing else).
 */

typedef void (*ngx_http_fsauth_fetch_handler_pt)(ngx_http_fsauth_fetch_t *f,
    ngx_int_t rc, ngx_http_fsauth_record_t *rec);

struct ngx_http_fsauth_fetch_s {
    ngx_http_fsauth_fetch_handler_pt  handler;
    void                             *data;

    /* set by the Redis layer */
    ngx_http_fsauth_redis_conf_t     *conf;
    void                             *reply;      /* during the handler */
    void                             *conn;       /* the one it went on */
    ngx_msec_t                        sent;
};


typedef struct {
    ngx_http_fsauth_redis_conf_t   *redis;
    ngx_http_fsauth_cache_t        *cache;
    ngx_str_t                       bodies[NGX_HTTP_FSAUTH_ERR_LAST];
} ngx_http_fsauth_main_conf_t;


typedef struct {
    ngx_flag_t                      enable;
    ngx_flag_t                      api;
    ngx_uint_t                      preflight;
    ngx_uint_t                      phase;
    ngx_uint_t                      failure_mode;
    ngx_flag_t                      hide_credentials;
    ngx_flag_t                      activity;
    ngx_msec_t                      activity_interval;
    ngx_array_t                    *token_headers;
                                          /* ngx_http_fsauth_header_t */
    ngx_http_complex_value_t       *resource;
    ngx_str_t                       global_key;
    ngx_str_t                       realm;
    ngx_str_t                       www_authenticate;
    ngx_uint_t                      ban_threshold;   /* 0: off */
    ngx_msec_t                      ban_window;
    ngx_uint_t                      ban_ipv6_prefix;
} ngx_http_fsauth_loc_conf_t;


/* where a request is in its check (of the current location) */
typedef enum {
    NGX_HTTP_FSAUTH_STATE_NEW = 0,     /* to be checked */
    NGX_HTTP_FSAUTH_STATE_WAITING,     /* for a lookup; ctx->wait wakes */
    NGX_HTTP_FSAUTH_STATE_ANSWERED,    /* ctx->result is to be decided */
    NGX_HTTP_FSAUTH_STATE_FAILED       /* no answer: the outage policy */
} ngx_http_fsauth_state_e;


typedef struct {
    ngx_http_request_t             *request;
    ngx_str_t                       resource;
    ngx_str_t                       nick;
    ngx_int_t                       key_id;

    ngx_uint_t                      state;
    ngx_uint_t                      status;
    ngx_uint_t                      cache_status;

    u_char                          digest[NGX_HTTP_FSAUTH_DIGEST_LEN];
    uint64_t                        index[2];        /* in the cache */
    ngx_http_fsauth_result_t        result;
    ngx_http_fsauth_result_t        stale;

    /* a lookup being waited for */
    ngx_http_fsauth_pending_t      *pending;
    ngx_queue_t                     link;            /* in its waiters */
    ngx_event_t                     wait;

    /* the request headers as sent, before fsauth_hide_credentials */
    ngx_list_t                      headers;

    unsigned                        full_access:1;
    unsigned                        counted:1;       /* in the metrics */
    unsigned                        incident:1;      /* ban incident */
    unsigned                        hidden:1;        /* headers saved */
    unsigned                        has_stale:1;     /* ctx->stale is set */
} ngx_http_fsauth_ctx_t;


/* ngx_http_fsauth_module.c */
extern ngx_module_t  ngx_http_fsauth_module;
ngx_int_t ngx_http_fsauth_read_secret(ngx_conf_t *cf, ngx_str_t *name,
    ngx_str_t *path, size_t max, const char *what, ngx_str_t *secret);

/* ngx_http_fsauth_handler.c */
ngx_int_t ngx_http_fsauth_access_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_fsauth_preaccess_handler(ngx_http_request_t *r);
ngx_http_fsauth_ctx_t *ngx_http_fsauth_get_ctx(ngx_http_request_t *r);

/* ngx_http_fsauth_token.c */
ngx_int_t ngx_http_fsauth_token_find(ngx_list_t *headers,
    ngx_array_t *names, ngx_str_t *token);
ngx_int_t ngx_http_fsauth_token_valid(u_char *p, size_t len);
ngx_uint_t ngx_http_fsauth_token_equal(ngx_str_t *secret, ngx_str_t *token);
void ngx_http_fsauth_token_digest(u_char *p, size_t len, u_char *digest);
void ngx_http_fsauth_token_grant_digest(u_char *digest, ngx_str_t *resource,
    u_char *out);
ngx_int_t ngx_http_fsauth_token_hide(ngx_http_request_t *r, ngx_array_t *names);

/* ngx_http_fsauth_resource.c */
ngx_int_t ngx_http_fsauth_resource_parse(u_char *p, size_t len,
    ngx_str_t *resource);
ngx_uint_t ngx_http_fsauth_method_mask(ngx_uint_t method);

/* ngx_http_fsauth_record.c */
ngx_uint_t ngx_http_fsauth_grant_parse(u_char *p, size_t len);
void ngx_http_fsauth_record_init(ngx_http_fsauth_record_t *rec);
ngx_int_t ngx_http_fsauth_record_text_valid(u_char *p, size_t len);
size_t ngx_http_fsauth_record_utf8_cut(u_char *p, size_t len, size_t max);
ngx_int_t ngx_http_fsauth_record_field(ngx_http_fsauth_record_t *rec,
    u_char *name, size_t name_len, u_char *value, size_t value_len);
void ngx_http_fsauth_record_extract(ngx_http_fsauth_record_t *rec,
    ngx_str_t *resource, struct sockaddr *sa, ngx_http_fsauth_result_t *res);
ngx_uint_t ngx_http_fsauth_record_addr_allowed(ngx_http_fsauth_record_t *rec,
    struct sockaddr *sa);

/* ngx_http_fsauth_digest.c */

#define ngx_http_fsauth_digest_key(d)                                         \
    ((ngx_rbtree_key_t) ((uint32_t) (d)[0] << 24 | (uint32_t) (d)[1] << 16   \
                         | (uint32_t) (d)[2] << 8 | (d)[3]))

ngx_rbtree_node_t *ngx_http_fsauth_digest_find(ngx_rbtree_t *tree,
    u_char *digest, size_t offset);
void ngx_http_fsauth_digest_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel, size_t offset);
u_char *ngx_http_fsauth_digest_hex(u_char *dst, u_char *src, size_t len);
ngx_int_t ngx_http_fsauth_digest_unhex(u_char *dst, u_char *src, size_t len);

/* ngx_http_fsauth_lookup.c */
ngx_int_t ngx_http_fsauth_lookup_init_worker(ngx_cycle_t *cycle);
void ngx_http_fsauth_lookup_exit_worker(void);
ngx_int_t ngx_http_fsauth_lookup_start(ngx_http_request_t *r,
    ngx_http_fsauth_ctx_t *ctx, ngx_http_fsauth_redis_conf_t *rcf);
void ngx_http_fsauth_lookup_detach(ngx_http_fsauth_ctx_t *ctx);
void ngx_http_fsauth_lookup_activity(ngx_http_request_t *r,
    ngx_http_fsauth_redis_conf_t *rcf, ngx_int_t id, ngx_msec_t interval,
    ngx_int_t due);

/* ngx_http_fsauth_cache.c */
char *ngx_http_fsauth_cache_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
void ngx_http_fsauth_cache_set_fingerprint(ngx_http_fsauth_cache_t *cache,
    ngx_http_fsauth_redis_conf_t *rcf);
ngx_uint_t ngx_http_fsauth_cache_lookup(ngx_http_fsauth_cache_t *cache,
    ngx_str_t *token, uint64_t *index, u_char *digest, ngx_str_t *resource,
    struct sockaddr *sa,
    ngx_http_fsauth_result_t *res, ngx_msec_t interval);
uint32_t ngx_http_fsauth_cache_epoch(ngx_http_fsauth_cache_t *cache);
void ngx_http_fsauth_cache_count_stale(ngx_http_fsauth_cache_t *cache);
ngx_int_t ngx_http_fsauth_cache_insert(ngx_http_fsauth_cache_t *cache,
    uint64_t *index, u_char *digest, ngx_http_fsauth_record_t *rec,
    uint32_t epoch, ngx_msec_t interval);
void ngx_http_fsauth_cache_insert_grant(ngx_http_fsauth_cache_t *cache,
    u_char *digest, ngx_str_t *resource, ngx_http_fsauth_result_t *res,
    uint32_t epoch);
void ngx_http_fsauth_cache_delete(ngx_http_fsauth_cache_t *cache,
    u_char *digest);
void ngx_http_fsauth_cache_expire(ngx_http_fsauth_cache_t *cache);
ngx_int_t ngx_http_fsauth_cache_subscribed(ngx_http_fsauth_cache_t *cache,
    ngx_uint_t on, ngx_uint_t reconnect);
void ngx_http_fsauth_cache_stats(ngx_http_fsauth_cache_t *cache,
    ngx_http_fsauth_stats_t *stats, ngx_uint_t *keys, ngx_uint_t *bans);
void ngx_http_fsauth_cache_nomem_locked(ngx_http_fsauth_cache_t *cache);

/* ngx_http_fsauth_ban.c */
ngx_http_fsauth_ban_sh_t *ngx_http_fsauth_ban_init_zone(
    ngx_slab_pool_t *shpool);
ngx_uint_t ngx_http_fsauth_ban_stats_locked(ngx_http_fsauth_ban_sh_t *sh,
    ngx_http_fsauth_stats_t *stats);
ngx_int_t ngx_http_fsauth_ban_check(ngx_http_fsauth_cache_t *cache,
    ngx_http_request_t *r, ngx_uint_t threshold, ngx_msec_t window);
void ngx_http_fsauth_ban_incident(ngx_http_fsauth_cache_t *cache,
    ngx_http_request_t *r, ngx_uint_t threshold, ngx_msec_t window);

/* ngx_http_fsauth_metrics.c */
ngx_int_t ngx_http_fsauth_metrics_add_zone(ngx_conf_t *cf);
char *ngx_http_fsauth_metrics_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
void ngx_http_fsauth_metrics_latency(ngx_msec_t ms);
void ngx_http_fsauth_metrics_claim(void);
void ngx_http_fsauth_metrics_release(void);
void ngx_http_fsauth_metrics_peer(ngx_http_fsauth_peer_t *peer);
void ngx_http_fsauth_metrics_dropped(ngx_uint_t n);

/* ngx_http_fsauth_response.c */
ngx_int_t ngx_http_fsauth_response_init(ngx_conf_t *cf,
    ngx_http_fsauth_main_conf_t *fmcf);
ngx_int_t ngx_http_fsauth_response_send(ngx_http_request_t *r,
    ngx_uint_t err);

/* ngx_http_fsauth_variables.c */
ngx_int_t ngx_http_fsauth_variables_add(ngx_conf_t *cf);

/* ngx_http_fsauth_redis.c */
char *ngx_http_fsauth_redis_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_fsauth_redis_init_worker(ngx_cycle_t *cycle,
    ngx_http_fsauth_redis_conf_t *rcf);
void ngx_http_fsauth_redis_exit_worker(ngx_http_fsauth_redis_conf_t *rcf);
ngx_int_t ngx_http_fsauth_redis_get_record(ngx_http_fsauth_redis_conf_t *rcf,
    u_char *digest, ngx_http_fsauth_fetch_t *f);
void ngx_http_fsauth_redis_overdue(ngx_http_fsauth_fetch_t *f);
ngx_int_t ngx_http_fsauth_redis_reply_grant(ngx_http_fsauth_fetch_t *f,
    ngx_str_t *resource, ngx_uint_t *mask);
ngx_int_t ngx_http_fsauth_redis_api_enabled(
    ngx_http_fsauth_redis_conf_t *rcf);

/* ngx_http_fsauth_tls.c */
ngx_int_t ngx_http_fsauth_tls_param(ngx_conf_t *cf,
    ngx_http_fsauth_redis_conf_t *rcf, ngx_str_t *value);
char *ngx_http_fsauth_tls_init(ngx_conf_t *cf,
    ngx_http_fsauth_redis_conf_t *rcf);

/* ngx_http_fsauth_activity.c */
ngx_int_t ngx_http_fsauth_activity_queue(ngx_http_fsauth_redis_conf_t *rcf,
    ngx_http_request_t *r, ngx_int_t id);


#endif /* _NGX_HTTP_FSAUTH_MODULE_H_INCLUDED_ */
