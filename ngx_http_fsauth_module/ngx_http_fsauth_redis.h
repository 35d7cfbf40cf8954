
/*
 * Copyright (C) fsauth authors
 * BSD-2-Clause, see LICENSE.
 */


#ifndef _NGX_HTTP_FSAUTH_REDIS_H_INCLUDED_
#define _NGX_HTTP_FSAUTH_REDIS_H_INCLUDED_


#include "ngx_http_fsauth_module.h"

#include <hiredis/hiredis.h>
#include <hiredis/async.h>


#define NGX_HTTP_FSAUTH_REDIS_DOWN        0
#define NGX_HTTP_FSAUTH_REDIS_CONNECTING  1
#define NGX_HTTP_FSAUTH_REDIS_READY       2

#define NGX_HTTP_FSAUTH_PREFIX_MAX        200

/* a longer reply array is read to its end, but kept without elements */
#define NGX_HTTP_FSAUTH_REPLY_ELEMENTS_MAX  65536

/* activity records go out in batches of up to 64, at most 100 ms late */
#define NGX_HTTP_FSAUTH_ACTIVITY_BATCH    64
#define NGX_HTTP_FSAUTH_ACTIVITY_DELAY    100


/* appends a string literal */
#define ngx_http_fsauth_put(p, s)  ngx_cpymem(p, s, sizeof(s) - 1)


typedef struct ngx_http_fsauth_sentinel_s  ngx_http_fsauth_sentinel_t;


/* a queued activity record */
typedef struct {
    ngx_int_t                       id;
    time_t                          time;
    size_t                          addr_len;
    u_char                          addr[NGX_SOCKADDR_STRLEN];
} ngx_http_fsauth_activity_rec_t;


/* a grant kept out of the record, with its resource */
typedef struct ngx_http_fsauth_over_s  ngx_http_fsauth_over_t;

struct ngx_http_fsauth_over_s {
    ngx_http_fsauth_over_t         *next;
    size_t                          len;
    ngx_uint_t                      mask;
    u_char                          name[1];
};


/* an HGETALL reply turned into a record as hiredis reads it */
typedef struct {
    redisReply                      reply;           /* what the callback
                                                        receives */
    ngx_http_fsauth_record_t        rec;
    void                         *(*alloc)(size_t size);
    ngx_http_fsauth_over_t         *over;
    ngx_http_fsauth_over_t        **over_last;
    ngx_http_fsauth_over_t         *pending;         /* awaits its value */
    ngx_uint_t                      kind;            /* of the last name */
    ngx_uint_t                      nips;
    fsauth_cidr_t                   cidrs[NGX_HTTP_FSAUTH_CIDRS_MAX];
    unsigned                        too_many:1;
    unsigned                        bad_element:1;
    unsigned                        bad_id:1;
    unsigned                        ips:1;
    unsigned                        bad_ips:1;
    unsigned                        nomem:1;
} ngx_http_fsauth_builder_t;


#define NGX_HTTP_FSAUTH_CONN_LOOKUP       0
#define NGX_HTTP_FSAUTH_CONN_TRACKING     1
#define NGX_HTTP_FSAUTH_CONN_SENTINEL     2
#define NGX_HTTP_FSAUTH_CONN_READ         3      /* lookups on a replica */

#define NGX_HTTP_FSAUTH_PUBSUB_OTHER      0
#define NGX_HTTP_FSAUTH_PUBSUB_SUBSCRIBE  1
#define NGX_HTTP_FSAUTH_PUBSUB_MESSAGE    2


/* one hiredis connection and its life cycle */
typedef struct {
    redisAsyncContext              *ac;
    ngx_http_fsauth_peer_t         *peer;
    ngx_uint_t                      kind;
    ngx_uint_t                      state;
    ngx_uint_t                      failures;
    ngx_uint_t                      addr;            /* being tried */
    ngx_uint_t                      round;           /* first of a round */

    ngx_event_t                     retry;           /* backoff */
    ngx_event_t                     deadline;        /* connect + handshake */

    void                           *ssl;             /* of this attempt */

    unsigned                        down_logged:1;
    unsigned                        no_tracking:1;
    unsigned                        subscribing:1;   /* SUBSCRIBE sent */
    unsigned                        subscribed:1;
    unsigned                        was_subscribed:1;
    unsigned                        was_ready:1;
    unsigned                        attempt_ready:1;
    unsigned                        replica:1;       /* to the replica */
    unsigned                        rejected:1;      /* ROLE: not primary */
} ngx_http_fsauth_conn_t;


struct ngx_http_fsauth_peer_s {
    ngx_http_fsauth_conn_t          lookup;
    ngx_http_fsauth_conn_t          tracking;
    ngx_http_fsauth_conn_t          read;            /* read=replica */

    ngx_http_fsauth_redis_conf_t   *conf;
    ngx_log_t                      *log;

    ngx_uint_t                      inflight;
    ngx_int_t                       api_enabled;     /* -1: not known yet */

    ngx_event_t                     poll;            /* kill switch */

    ngx_http_fsauth_activity_rec_t *queued;
    ngx_uint_t                      nqueued;
    ngx_event_t                     flush;
    u_char                         *batch;           /* the EVAL command */
    ngx_int_t                       activity_eval;   /* -1: not known yet */

    /* sentinel=: the primary's discovery; NULL without */
    ngx_http_fsauth_sentinel_t     *sentinel;

    /* "*2\r\n$7\r\nHGETALL\r\n$<n>\r\n<prefix>key:", built once */
    ngx_str_t                       lookup_head;

    unsigned                        exiting:1;
    unsigned                        tracking_warned:1;
    unsigned                        api_warned:1;
    unsigned                        activity_failing:1;
    unsigned                        eval_warned:1;
    unsigned                        refused_logged:1; /* AUTH or TLS */
};


ngx_int_t ngx_http_fsauth_activity_init(ngx_cycle_t *cycle,
    ngx_http_fsauth_peer_t *peer);
void ngx_http_fsauth_activity_flush(ngx_http_fsauth_peer_t *peer);
void ngx_http_fsauth_activity_probe(ngx_http_fsauth_peer_t *peer);

ngx_int_t ngx_http_fsauth_adapter_attach(redisAsyncContext *ac,
    ngx_log_t *log);
void ngx_http_fsauth_adapter_use_arena(redisAsyncContext *ac);
ngx_http_fsauth_builder_t *ngx_http_fsauth_adapter_builder(void);
ngx_uint_t ngx_http_fsauth_redis_wants_record(redisAsyncContext *ac);

int ngx_http_fsauth_redis_auth(redisAsyncContext *ac, ngx_str_t *user,
    ngx_str_t *password, redisCallbackFn *fn, void *privdata);
void ngx_http_fsauth_redis_refused(ngx_http_fsauth_conn_t *conn, char *cmd,
    redisReply *rr);

ngx_int_t ngx_http_fsauth_tls_connect(ngx_http_fsauth_conn_t *conn,
    redisAsyncContext *ac, const char **why);
const char *ngx_http_fsauth_tls_sentinel_why(ngx_http_fsauth_conn_t *conn,
    const redisAsyncContext *ac);
ngx_uint_t ngx_http_fsauth_tls_refused(ngx_http_fsauth_conn_t *conn,
    const redisAsyncContext *ac, ngx_uint_t connecting);

void ngx_http_fsauth_record_begin(ngx_http_fsauth_builder_t *b,
    size_t elements);
void ngx_http_fsauth_record_reader(redisReplyObjectFunctions *fn);
ngx_int_t ngx_http_fsauth_record_end(ngx_http_fsauth_builder_t *b,
    const char **err);

ngx_int_t ngx_http_fsauth_redis_password(ngx_conf_t *cf, ngx_str_t *path,
    ngx_str_t *password);
ngx_int_t ngx_http_fsauth_redis_addr(ngx_conf_t *cf, ngx_addr_t *addr,
    ngx_http_fsauth_redis_addr_t *ra);
void ngx_http_fsauth_redis_switch(ngx_http_fsauth_peer_t *peer);
void ngx_http_fsauth_redis_reread(ngx_http_fsauth_peer_t *peer);
ngx_uint_t ngx_http_fsauth_redis_pubsub(redisReply *rr,
    redisReply **payload);

char *ngx_http_fsauth_sentinel_directive(ngx_conf_t *cf,
    ngx_http_fsauth_redis_conf_t *rcf);
ngx_int_t ngx_http_fsauth_sentinel_param(ngx_conf_t *cf,
    ngx_http_fsauth_redis_conf_t *rcf, ngx_str_t *value);
ngx_int_t ngx_http_fsauth_sentinel_init(ngx_cycle_t *cycle,
    ngx_http_fsauth_peer_t *peer);
void ngx_http_fsauth_sentinel_exit(ngx_http_fsauth_peer_t *peer);
void ngx_http_fsauth_sentinel_discover(ngx_http_fsauth_peer_t *peer);
void ngx_http_fsauth_sentinel_distrust(ngx_http_fsauth_peer_t *peer,
    const char *role, size_t len);
void ngx_http_fsauth_sentinel_confirmed(ngx_http_fsauth_peer_t *peer);
ngx_http_fsauth_redis_addr_t *ngx_http_fsauth_sentinel_replica(
    ngx_http_fsauth_peer_t *peer);
void ngx_http_fsauth_sentinel_replica_lost(ngx_http_fsauth_peer_t *peer,
    const char *reason);

ngx_int_t ngx_http_fsauth_record_from_reply(redisReply *reply,
    ngx_http_fsauth_builder_t *b, const char **err);
ngx_int_t ngx_http_fsauth_record_over_grant(ngx_http_fsauth_builder_t *b,
    ngx_str_t *resource, ngx_uint_t *mask);


#endif /* _NGX_HTTP_FSAUTH_REDIS_H_INCLUDED_ */
