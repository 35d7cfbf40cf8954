/*
 * Copyright (C) fsauth authors
 * BSD-2-Clause, see LICENSE.
 */


/*
 * fsauth_redis sentinel=: each worker asks the sentinels which node is
 * the primary (SENTINEL get-master-addr-by-name) at start, whenever a
 * data connection is lost, and on +switch-master, heard on a connection
 * subscribed to one sentinel.  The data connections check the node with
 * ROLE; a sentinel whose node is not the primary is passed over for a
 * while.  With read=replica, the same question also asks for the
 * replicas (SENTINEL replicas): one the sentinels report healthy serves
 * the lookups and the invalidation channel, checked with ROLE as well;
 * one that fails is passed over for a while, and without one the
 * primary serves all.  The replicas are asked for again every few
 * seconds, every second while there is none.  Everything here is
 * asynchronous, on nginx's event loop; the sentinels' addresses are
 * resolved when the configuration is read.
 */


#include "ngx_http_fsauth_module.h"
#include "ngx_http_fsauth_redis.h"


#define NGX_HTTP_FSAUTH_SENTINEL_PORT      26379
#define NGX_HTTP_FSAUTH_SENTINEL_DISTRUST  10000
#define NGX_HTTP_FSAUTH_SENTINEL_BACKOFF   800
#define NGX_HTTP_FSAUTH_SENTINEL_SHUNNED   4
#define NGX_HTTP_FSAUTH_SENTINEL_SHUN      2000
#define NGX_HTTP_FSAUTH_SENTINEL_RECHECK   5000
#define NGX_HTTP_FSAUTH_SENTINEL_NONE      1000
#define NGX_HTTP_FSAUTH_SENTINEL_PREFER    8


/* a replica passed over until a time */
typedef struct {
    ngx_http_fsauth_redis_addr_t    addr;
    u_char                          host[NGX_SOCKADDR_STRLEN + 1];
    ngx_msec_t                      until;
} ngx_http_fsauth_shunned_t;


struct ngx_http_fsauth_sentinel_s {
    ngx_http_fsauth_peer_t         *peer;

    ngx_http_fsauth_conn_t          query;     /* one question at a time */
    ngx_http_fsauth_conn_t          watch;     /* SUBSCRIBE +switch-master */

    ngx_uint_t                      next;      /* to ask first */
    ngx_uint_t                      asked;     /* being asked */
    ngx_uint_t                      source;    /* named the primary */
    ngx_uint_t                      tried;     /* in this round */
    ngx_uint_t                      failures;  /* rounds without answer */
    ngx_uint_t                      watched;   /* the watch's sentinel */
    ngx_uint_t                      rejected;  /* nodes refused in a row */
    ngx_msec_t                     *distrust;  /* until, per sentinel */
    ngx_msec_t                     *logged;    /* its last lie logged */

    ngx_http_fsauth_redis_addr_t    primary;
    u_char                          host[NGX_SOCKADDR_STRLEN + 1];

    /* the primary named, kept until the replicas are known too */
    u_char                          named[NGX_SOCKADDR_STRLEN + 1];
    size_t                          named_len;
    in_port_t                       named_port;

    /* read=replica: the replica read from, and those passed over */
    ngx_http_fsauth_redis_addr_t    replica;
    u_char                          rhost[NGX_SOCKADDR_STRLEN + 1];
    ngx_http_fsauth_shunned_t       shunned[NGX_HTTP_FSAUTH_SENTINEL_SHUNNED];
    ngx_event_t                     repick;

    unsigned                        known:1;
    unsigned                        replica_known:1;
    unsigned                        again:1;
    unsigned                        none_logged:1;
    unsigned                        watch_logged:1;
};


static ngx_int_t ngx_http_fsauth_sentinel_list(ngx_conf_t *cf,
    ngx_http_fsauth_redis_conf_t *rcf, ngx_str_t *list);
static ngx_int_t ngx_http_fsauth_sentinel_addrs(ngx_conf_t *cf,
    ngx_str_t *item, in_port_t port, const char *what,
    ngx_http_fsauth_redis_addr_t *addrs, ngx_uint_t *n, ngx_uint_t max);
static ngx_int_t ngx_http_fsauth_sentinel_word(ngx_conf_t *cf,
    ngx_str_t *value, size_t len, ngx_str_t *word);
static ngx_int_t ngx_http_fsauth_sentinel_prefer(ngx_conf_t *cf,
    ngx_http_fsauth_redis_conf_t *rcf, ngx_str_t *item);
static void ngx_http_fsauth_sentinel_query(ngx_http_fsauth_sentinel_t *s);
static ngx_msec_t ngx_http_fsauth_sentinel_backoff(ngx_uint_t failures);
static void ngx_http_fsauth_sentinel_failed(ngx_http_fsauth_sentinel_t *s,
    const char *reason);
static ngx_int_t ngx_http_fsauth_sentinel_ip(redisReply *host,
    redisReply *port, u_char *addr, in_port_t *pport);
static void ngx_http_fsauth_sentinel_answer(ngx_http_fsauth_sentinel_t *s,
    ngx_http_fsauth_redis_addr_t *replica);
static ngx_int_t ngx_http_fsauth_sentinel_pick(ngx_http_fsauth_sentinel_t *s,
    redisReply *rr, ngx_http_fsauth_redis_addr_t *pick);
static ngx_uint_t ngx_http_fsauth_sentinel_same(
    ngx_http_fsauth_redis_addr_t *a, ngx_http_fsauth_redis_addr_t *b);
static ngx_uint_t ngx_http_fsauth_sentinel_preferred(
    ngx_http_fsauth_sentinel_t *s, ngx_http_fsauth_redis_addr_t *a);
static ngx_uint_t ngx_http_fsauth_sentinel_shunned(
    ngx_http_fsauth_sentinel_t *s, ngx_http_fsauth_redis_addr_t *a);
static void ngx_http_fsauth_sentinel_watch(ngx_http_fsauth_sentinel_t *s);
static void ngx_http_fsauth_sentinel_watch_lost(
    ngx_http_fsauth_sentinel_t *s);
static redisAsyncContext *ngx_http_fsauth_sentinel_connect(
    ngx_http_fsauth_conn_t *conn, ngx_uint_t i, const char **why);
static void ngx_http_fsauth_sentinel_close(ngx_http_fsauth_conn_t *conn);
static ngx_http_fsauth_conn_t *ngx_http_fsauth_sentinel_conn(
    const redisAsyncContext *ac);
static void ngx_http_fsauth_sentinel_connected(const redisAsyncContext *ac,
    int status);
static void ngx_http_fsauth_sentinel_disconnected(
    const redisAsyncContext *ac, int status);
static void ngx_http_fsauth_sentinel_gone(ngx_http_fsauth_conn_t *conn,
    const char *reason);
static void ngx_http_fsauth_sentinel_retry_handler(ngx_event_t *ev);
static void ngx_http_fsauth_sentinel_deadline_handler(ngx_event_t *ev);
static void ngx_http_fsauth_sentinel_repick_handler(ngx_event_t *ev);
static redisCallbackFn  ngx_http_fsauth_sentinel_auth_cb;
static redisCallbackFn  ngx_http_fsauth_sentinel_query_cb;
static redisCallbackFn  ngx_http_fsauth_sentinel_replicas_cb;
static redisCallbackFn  ngx_http_fsauth_sentinel_message_cb;


/* value[1] of fsauth_redis: sentinel=HOST:PORT[,HOST:PORT...] */

char *
ngx_http_fsauth_sentinel_directive(ngx_conf_t *cf,
    ngx_http_fsauth_redis_conf_t *rcf)
{
    u_char     *p, *last, *comma;
    ngx_str_t  *value, item;

    value = cf->args->elts;

    p = value[1].data + 9;
    last = value[1].data + value[1].len;

    /* a list of up to 32 sentinels: plenty for any deployment */

    rcf->sentinels = ngx_pcalloc(cf->pool,
                                 32 * sizeof(ngx_http_fsauth_redis_addr_t));
    if (rcf->sentinels == NULL) {
        return NGX_CONF_ERROR;
    }

    while (p < last) {
        comma = ngx_strlchr(p, last, ',');

        item.data = p;
        item.len = (comma ? comma : last) - p;

        if (ngx_http_fsauth_sentinel_list(cf, rcf, &item) != NGX_OK) {
            return NGX_CONF_ERROR;
        }

        p = comma ? comma + 1 : last;
    }

    if (rcf->nsentinels == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "fsauth_redis: empty \"sentinel=\"");
        return NGX_CONF_ERROR;
    }

    /* the data node is this worker's primary, set when it is known */

    rcf->naddrs = 1;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_fsauth_sentinel_list(ngx_conf_t *cf,
    ngx_http_fsauth_redis_conf_t *rcf, ngx_str_t *item)
{
    return ngx_http_fsauth_sentinel_addrs(cf, item,
                                          NGX_HTTP_FSAUTH_SENTINEL_PORT,
                                          "sentinel", rcf->sentinels,
                                          &rcf->nsentinels, 32);
}


/*
 * HOST[:PORT] of a sentinel or a replica, resolved here, never later:
 * each address it resolves to is added to addrs[*n], up to max
 */

static ngx_int_t
ngx_http_fsauth_sentinel_addrs(ngx_conf_t *cf, ngx_str_t *item,
    in_port_t port, const char *what, ngx_http_fsauth_redis_addr_t *addrs,
    ngx_uint_t *n, ngx_uint_t max)
{
    ngx_url_t   u;
    ngx_uint_t  i;

    ngx_memzero(&u, sizeof(ngx_url_t));

    u.url = *item;
    u.default_port = port;

    if (item->len == 0 || ngx_parse_url(cf->pool, &u) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "fsauth_redis: %s in %s \"%V\"",
                           u.err ? u.err : "no address", what, item);
        return NGX_ERROR;
    }

    if (u.naddrs == 0 || u.family == AF_UNIX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "fsauth_redis: %s \"%V\" must be an IP "
                           "address or a name with a port", what, item);
        return NGX_ERROR;
    }

    for (i = 0; i < u.naddrs; i++) {
        if (*n == max) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "fsauth_redis: more than %ui addresses in "
                               "%s", max, what);
            return NGX_ERROR;
        }

        if (ngx_http_fsauth_redis_addr(cf, &u.addrs[i], &addrs[*n])
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        (*n)++;
    }

    return NGX_OK;
}


/* the options only sentinel= takes; NGX_DECLINED: not one of them */

ngx_int_t
ngx_http_fsauth_sentinel_param(ngx_conf_t *cf,
    ngx_http_fsauth_redis_conf_t *rcf, ngx_str_t *value)
{
    ngx_str_t  s;

    if (ngx_strncmp(value->data, "master=", 7) == 0) {

        /* logs name the primary by its master name */

        rcf->addr_text = *value;

        return ngx_http_fsauth_sentinel_word(cf, value, 7, &rcf->master);
    }

    if (ngx_strncmp(value->data, "sentinel_user=", 14) == 0) {
        return ngx_http_fsauth_sentinel_word(cf, value, 14,
                                             &rcf->sentinel_user);
    }

    if (ngx_strncmp(value->data, "read=", 5) == 0) {
        if (value->len == 12
            && ngx_strncmp(value->data + 5, "primary", 7) == 0)
        {
            rcf->read_replica = 0;
            return NGX_OK;
        }

        if (value->len == 12
            && ngx_strncmp(value->data + 5, "replica", 7) == 0)
        {
            rcf->read_replica = 1;
            return NGX_OK;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "fsauth_redis: \"read=\" must be \"primary\" or "
                           "\"replica\", not \"%V\"", value);
        return NGX_ERROR;
    }

    if (ngx_strncmp(value->data, "prefer_replica=", 15) == 0) {
        s.data = value->data + 15;
        s.len = value->len - 15;

        return ngx_http_fsauth_sentinel_prefer(cf, rcf, &s);
    }

    if (ngx_strncmp(value->data, "sentinel_password_file=", 23) == 0) {
        s.data = value->data + 23;
        s.len = value->len - 23;

        return ngx_http_fsauth_redis_password(cf, &s,
                                              &rcf->sentinel_password);
    }

    return NGX_DECLINED;
}


/* NAME=VALUE, the name "len" bytes with its "=": VALUE, not empty */

static ngx_int_t
ngx_http_fsauth_sentinel_word(ngx_conf_t *cf, ngx_str_t *value,
    size_t len, ngx_str_t *word)
{
    word->data = value->data + len;
    word->len = value->len - len;

    if (word->len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "fsauth_redis: empty \"%V\"", value);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * prefer_replica=HOST[:PORT]: the replica this node reads from while the
 * sentinels report it healthy (every address a name resolves to counts)
 */

static ngx_int_t
ngx_http_fsauth_sentinel_prefer(ngx_conf_t *cf,
    ngx_http_fsauth_redis_conf_t *rcf, ngx_str_t *item)
{
    rcf->prefer = ngx_pcalloc(cf->pool, NGX_HTTP_FSAUTH_SENTINEL_PREFER
                                        * sizeof(ngx_http_fsauth_redis_addr_t));
    if (rcf->prefer == NULL) {
        return NGX_ERROR;
    }

    rcf->nprefer = 0;

    return ngx_http_fsauth_sentinel_addrs(cf, item, 6379, "prefer_replica",
                                          rcf->prefer, &rcf->nprefer,
                                          NGX_HTTP_FSAUTH_SENTINEL_PREFER);
}


ngx_int_t
ngx_http_fsauth_sentinel_init(ngx_cycle_t *cycle,
    ngx_http_fsauth_peer_t *peer)
{
    ngx_uint_t                     i;
    ngx_http_fsauth_conn_t        *conns[2];
    ngx_http_fsauth_sentinel_t    *s;
    ngx_http_fsauth_redis_conf_t  *rcf;

    rcf = peer->conf;

    s = ngx_pcalloc(cycle->pool, sizeof(ngx_http_fsauth_sentinel_t));
    if (s == NULL) {
        return NGX_ERROR;
    }

    s->distrust = ngx_pcalloc(cycle->pool,
                              2 * rcf->nsentinels * sizeof(ngx_msec_t));
    if (s->distrust == NULL) {
        return NGX_ERROR;
    }

    s->logged = s->distrust + rcf->nsentinels;

    s->peer = peer;
    s->primary.host.data = s->host;
    s->replica.host.data = s->rhost;

    for (i = 0; i < NGX_HTTP_FSAUTH_SENTINEL_SHUNNED; i++) {
        s->shunned[i].addr.host.data = s->shunned[i].host;
    }

    s->repick.handler = ngx_http_fsauth_sentinel_repick_handler;
    s->repick.data = s;
    s->repick.log = cycle->log;
    s->repick.cancelable = 1;

    /* this worker's copy of the configuration points at its primary */

    rcf->addrs = &s->primary;
    rcf->naddrs = 1;

    /* the sentinels are asked in the order listed: s->next is 0 */

    conns[0] = &s->query;
    conns[1] = &s->watch;

    for (i = 0; i < 2; i++) {
        conns[i]->peer = peer;
        conns[i]->kind = NGX_HTTP_FSAUTH_CONN_SENTINEL;
        conns[i]->state = NGX_HTTP_FSAUTH_REDIS_DOWN;

        conns[i]->retry.handler = ngx_http_fsauth_sentinel_retry_handler;
        conns[i]->retry.data = conns[i];
        conns[i]->retry.log = cycle->log;
        conns[i]->retry.cancelable = 1;

        conns[i]->deadline.handler = ngx_http_fsauth_sentinel_deadline_handler;
        conns[i]->deadline.data = conns[i];
        conns[i]->deadline.log = cycle->log;
        conns[i]->deadline.cancelable = 1;
    }

    peer->sentinel = s;

    ngx_http_fsauth_sentinel_query(s);
    ngx_http_fsauth_sentinel_watch(s);

    return NGX_OK;
}


void
ngx_http_fsauth_sentinel_exit(ngx_http_fsauth_peer_t *peer)
{
    ngx_http_fsauth_sentinel_t  *s;

    s = peer->sentinel;

    ngx_http_fsauth_sentinel_close(&s->query);
    ngx_http_fsauth_sentinel_close(&s->watch);

    if (s->query.retry.timer_set) {
        ngx_del_timer(&s->query.retry);
    }

    if (s->watch.retry.timer_set) {
        ngx_del_timer(&s->watch.retry);
    }

    if (s->repick.timer_set) {
        ngx_del_timer(&s->repick);
    }
}


/*
 * Asks the sentinels again: at once, after the question in flight, or
 * when the backoff after a round that nobody answered ends.
 */

void
ngx_http_fsauth_sentinel_discover(ngx_http_fsauth_peer_t *peer)
{
    ngx_http_fsauth_sentinel_t  *s;

    s = peer->sentinel;

    if (peer->exiting || s->query.retry.timer_set) {
        return;
    }

    if (s->query.ac) {
        s->again = 1;
        return;
    }

    ngx_http_fsauth_sentinel_query(s);
}


/*
 * A data connection found that the node named is not the primary.  The
 * next question waits for the backoff, which grows with each node
 * refused in a row: a sentinel may go on naming a demoted primary for
 * a long time, and asking and connecting again at once would loop.
 * The other data connection's ROLE on the same node counts once.
 */

void
ngx_http_fsauth_sentinel_distrust(ngx_http_fsauth_peer_t *peer,
    const char *role, size_t len)
{
    ngx_uint_t                     n, i;
    ngx_msec_t                     delay;
    ngx_http_fsauth_sentinel_t    *s;
    ngx_http_fsauth_redis_conf_t  *rcf;

    s = peer->sentinel;
    rcf = peer->conf;
    n = rcf->nsentinels;
    i = s->source;

    if (!s->known) {
        return;
    }

    /* one line per sentinel and interval, not one per attempt */

    if (s->logged[i] == 0
        || (ngx_msec_int_t) (ngx_current_msec - s->logged[i])
           >= NGX_HTTP_FSAUTH_SENTINEL_DISTRUST)
    {
        ngx_log_error(NGX_LOG_ERR, peer->log, 0,
                      "fsauth: sentinel %V:%d named %V:%d as the primary of "
                      "\"%V\", but its role is \"%*s\"; not used, that "
                      "sentinel is asked last for %d s",
                      &rcf->sentinels[i].host, (int) rcf->sentinels[i].port,
                      &s->primary.host, (int) s->primary.port, &rcf->master,
                      len, role, NGX_HTTP_FSAUTH_SENTINEL_DISTRUST / 1000);

        s->logged[i] = ngx_current_msec | 1;
    }

    s->distrust[i] = ngx_current_msec + NGX_HTTP_FSAUTH_SENTINEL_DISTRUST;
    s->next = (i + 1) % n;

    /* the same answer again must lead to a new check */

    s->known = 0;
    s->rejected++;

    if (peer->exiting || s->query.ac || s->query.retry.timer_set) {
        return;
    }

    delay = ngx_http_fsauth_sentinel_backoff(s->rejected - 1);

    ngx_add_timer(&s->query.retry, delay);
}


/* the node named answered ROLE "master": the backoff starts over */

void
ngx_http_fsauth_sentinel_confirmed(ngx_http_fsauth_peer_t *peer)
{
    peer->sentinel->rejected = 0;
}


/* 50 ms doubling up to 800 ms, with jitter: workers do not march */

static ngx_msec_t
ngx_http_fsauth_sentinel_backoff(ngx_uint_t failures)
{
    ngx_msec_t  delay;

    delay = 50 << ngx_min(failures, 5);
    delay = ngx_min(delay, NGX_HTTP_FSAUTH_SENTINEL_BACKOFF);

    return delay / 2 + (ngx_random() % (delay / 2 + 1));
}


/* one question to one sentinel, the first not distrusted from s->next */

static void
ngx_http_fsauth_sentinel_query(ngx_http_fsauth_sentinel_t *s)
{
    ngx_uint_t                     i, k, n;
    const char                    *why;
    redisAsyncContext             *ac;
    ngx_http_fsauth_redis_conf_t  *rcf;

    rcf = s->peer->conf;
    n = rcf->nsentinels;

    for (k = 0; k < n; k++) {
        i = (s->next + k) % n;

        if ((ngx_msec_int_t) (s->distrust[i] - ngx_current_msec) <= 0) {
            break;
        }
    }

    if (k == n) {

        /*
         * Every sentinel was caught out: the one whose time runs out
         * first is asked (the backoff paced this question), the others
         * stay distrusted.
         */

        i = s->next % n;

        for (k = 0; k < n; k++) {
            if ((ngx_msec_int_t) (s->distrust[k] - s->distrust[i]) < 0) {
                i = k;
            }
        }
    }

    s->asked = i;
    s->again = 0;

    ac = ngx_http_fsauth_sentinel_connect(&s->query, i, &why);
    if (ac == NULL) {
        ngx_http_fsauth_sentinel_failed(s, why);
        return;
    }

    if (redisAsyncCommand(ac, ngx_http_fsauth_sentinel_query_cb, NULL,
                          "SENTINEL get-master-addr-by-name %b",
                          (char *) rcf->master.data, rcf->master.len)
        != REDIS_OK)
    {
        ngx_http_fsauth_sentinel_failed(s, "cannot queue the question");
        return;
    }

    /* read=replica: the replicas on the same connection, answered next */

    if (rcf->read_replica
        && redisAsyncCommand(ac, ngx_http_fsauth_sentinel_replicas_cb, NULL,
                             "SENTINEL replicas %b",
                             (char *) rcf->master.data, rcf->master.len)
           != REDIS_OK)
    {
        ngx_http_fsauth_sentinel_failed(s, "cannot queue the question");
    }
}


/*
 * The sentinel asked gave no answer: the next one is asked at once; when
 * each has failed in turn, the round is tried again after a backoff.
 */

static void
ngx_http_fsauth_sentinel_failed(ngx_http_fsauth_sentinel_t *s,
    const char *reason)
{
    ngx_msec_t                     delay;
    ngx_http_fsauth_redis_conf_t  *rcf;

    rcf = s->peer->conf;

    ngx_http_fsauth_sentinel_close(&s->query);

    ngx_log_error(NGX_LOG_INFO, s->peer->log, 0,
                  "fsauth: sentinel %V:%d: %s",
                  &rcf->sentinels[s->asked].host,
                  (int) rcf->sentinels[s->asked].port, reason);

    if (s->peer->exiting) {
        return;
    }

    s->next = (s->asked + 1) % rcf->nsentinels;

    if (++s->tried < rcf->nsentinels) {
        ngx_http_fsauth_sentinel_query(s);
        return;
    }

    if (!s->none_logged) {
        ngx_log_error(NGX_LOG_ERR, s->peer->log, 0,
                      "fsauth: no sentinel named the primary of \"%V\" "
                      "(last: %V:%d: %s); asked again", &rcf->master,
                      &rcf->sentinels[s->asked].host,
                      (int) rcf->sentinels[s->asked].port, reason);
        s->none_logged = 1;
    }

    s->tried = 0;
    s->again = 0;

    delay = ngx_http_fsauth_sentinel_backoff(s->failures++);

    ngx_add_timer(&s->query.retry, delay);
}


static void
ngx_http_fsauth_sentinel_query_cb(redisAsyncContext *ac, void *reply,
    void *privdata)
{
    redisReply                  *rr = reply;
    ngx_http_fsauth_conn_t      *conn;
    ngx_http_fsauth_sentinel_t  *s;

    conn = ngx_http_fsauth_sentinel_conn(ac);
    if (conn == NULL || rr == NULL) {
        return;
    }

    s = conn->peer->sentinel;

    if (rr->type == REDIS_REPLY_NIL) {
        ngx_http_fsauth_sentinel_failed(s, "does not know that master");
        return;
    }

    if (rr->type != REDIS_REPLY_ARRAY || rr->elements != 2
        || rr->element[0]->type != REDIS_REPLY_STRING
        || rr->element[1]->type != REDIS_REPLY_STRING)
    {
        ngx_http_fsauth_sentinel_failed(s, rr->type == REDIS_REPLY_ERROR
                                           ? "answered with an error"
                                           : "answered something else");
        return;
    }

    /* an address, never a name: nothing is resolved at run time */

    if (ngx_http_fsauth_sentinel_ip(rr->element[0], rr->element[1], s->named,
                                    &s->named_port)
        != NGX_OK)
    {
        ngx_http_fsauth_sentinel_failed(s, "named no IP address and port");
        return;
    }

    s->named_len = rr->element[0]->len;

    if (!conn->peer->conf->read_replica) {
        ngx_http_fsauth_sentinel_answer(s, NULL);
    }
}


/* read=replica: the answer to SENTINEL replicas, after the primary's */

static void
ngx_http_fsauth_sentinel_replicas_cb(redisAsyncContext *ac, void *reply,
    void *privdata)
{
    u_char                         host[NGX_SOCKADDR_STRLEN + 1];
    redisReply                    *rr = reply;
    ngx_http_fsauth_conn_t        *conn;
    ngx_http_fsauth_redis_addr_t   pick;

    conn = ngx_http_fsauth_sentinel_conn(ac);
    if (conn == NULL || rr == NULL) {
        return;
    }

    pick.host.data = host;

    if (ngx_http_fsauth_sentinel_pick(conn->peer->sentinel, rr, &pick)
        != NGX_OK)
    {
        ngx_http_fsauth_sentinel_answer(conn->peer->sentinel, NULL);
        return;
    }

    ngx_http_fsauth_sentinel_answer(conn->peer->sentinel, &pick);
}


/* IP text and port of an answer into addr (NUL-terminated) and *pport */

static ngx_int_t
ngx_http_fsauth_sentinel_ip(redisReply *host, redisReply *port, u_char *addr,
    in_port_t *pport)
{
    ngx_int_t   n;
    ngx_uint_t  ip;
#if (NGX_HAVE_INET6)
    u_char      a6[16];
#endif

    if (host->type != REDIS_REPLY_STRING || port->type != REDIS_REPLY_STRING)
    {
        return NGX_ERROR;
    }

    n = ngx_atoi((u_char *) port->str, port->len);

    ip = 0;

    if (host->len > 0 && host->len < NGX_SOCKADDR_STRLEN + 1) {
        ngx_memcpy(addr, host->str, host->len);
        addr[host->len] = '\0';

        ip = (ngx_inet_addr(addr, host->len) != INADDR_NONE);
#if (NGX_HAVE_INET6)
        if (!ip) {
            ip = (ngx_inet6_addr(addr, host->len, a6) == NGX_OK);
        }
#endif
    }

    if (!ip || n <= 0 || n > 65535) {
        return NGX_ERROR;
    }

    *pport = (in_port_t) n;

    return NGX_OK;
}


/*
 * The replica to read from, of those the sentinels report healthy: not
 * down by any account, its link to the primary up.  The one of
 * prefer_replica= comes first; then the one in use is kept while it
 * stays healthy; otherwise the workers spread over them.  NGX_DECLINED:
 * none.
 */

static ngx_int_t
ngx_http_fsauth_sentinel_pick(ngx_http_fsauth_sentinel_t *s, redisReply *rr,
    ngx_http_fsauth_redis_addr_t *pick)
{
    size_t                         k;
    ngx_uint_t                     i, n, want, pass, keep;
    redisReply                    *r, *f, *v, *ip, *port, *flags, *link;
    ngx_http_fsauth_redis_addr_t   a;
    u_char                         host[NGX_SOCKADDR_STRLEN + 1];

    if (rr->type != REDIS_REPLY_ARRAY) {
        return NGX_DECLINED;
    }

    a.host.data = host;
    want = 0;
    keep = 0;

    /* pass 0 counts the healthy ones, pass 1 takes one of them */

    for (pass = 0; pass < 2; pass++) {
        n = 0;

        for (i = 0; i < rr->elements; i++) {
            r = rr->element[i];

            if (r->type != REDIS_REPLY_ARRAY) {
                continue;
            }

            ip = port = flags = link = NULL;

            for (k = 0; k + 1 < r->elements; k += 2) {
                f = r->element[k];
                v = r->element[k + 1];

                if (f->type != REDIS_REPLY_STRING
                    || v->type != REDIS_REPLY_STRING)
                {
                    continue;
                }

                if (f->len == 2 && ngx_strncmp(f->str, "ip", 2) == 0) {
                    ip = v;

                } else if (f->len == 4 && ngx_strncmp(f->str, "port", 4) == 0)
                {
                    port = v;

                } else if (f->len == 5
                           && ngx_strncmp(f->str, "flags", 5) == 0)
                {
                    flags = v;

                } else if (f->len == 18
                           && ngx_strncmp(f->str, "master-link-status", 18)
                              == 0)
                {
                    link = v;
                }
            }

            if (ip == NULL || port == NULL || flags == NULL || link == NULL
                || ngx_strnstr((u_char *) flags->str, "s_down", flags->len)
                || ngx_strnstr((u_char *) flags->str, "o_down", flags->len)
                || ngx_strnstr((u_char *) flags->str, "disconnected",
                               flags->len)
                || link->len != 2 || ngx_strncmp(link->str, "ok", 2) != 0
                || ngx_http_fsauth_sentinel_ip(ip, port, host, &a.port)
                   != NGX_OK)
            {
                continue;
            }

            a.host.len = ip->len;

            /* one that failed us lately is passed over for a while */

            if (ngx_http_fsauth_sentinel_shunned(s, &a)) {
                continue;
            }

            if (pass == 0) {
                if (ngx_http_fsauth_sentinel_preferred(s, &a)) {
                    goto found;
                }

                if (s->replica_known
                    && ngx_http_fsauth_sentinel_same(&a, &s->replica))
                {
                    keep = 1;
                }

                n++;
                continue;
            }

            if (n++ == want) {
                goto found;
            }
        }

        if (pass == 0) {
            if (n == 0) {
                break;
            }

            if (keep) {
                ngx_memcpy(pick->host.data, s->rhost,
                           s->replica.host.len + 1);
                pick->host.len = s->replica.host.len;
                pick->port = s->replica.port;

                return NGX_OK;
            }

            want = (ngx_uint_t) ngx_pid % n;
        }
    }

    return NGX_DECLINED;

found:

    ngx_memcpy(pick->host.data, host, a.host.len + 1);
    pick->host.len = a.host.len;
    pick->port = a.port;

    return NGX_OK;
}


static ngx_uint_t
ngx_http_fsauth_sentinel_same(ngx_http_fsauth_redis_addr_t *a,
    ngx_http_fsauth_redis_addr_t *b)
{
    return a->port == b->port && a->host.len == b->host.len
           && ngx_memcmp(a->host.data, b->host.data, a->host.len) == 0;
}


/* whether a replica is the one of prefer_replica= */

static ngx_uint_t
ngx_http_fsauth_sentinel_preferred(ngx_http_fsauth_sentinel_t *s,
    ngx_http_fsauth_redis_addr_t *a)
{
    ngx_uint_t                     i;
    ngx_http_fsauth_redis_conf_t  *rcf;

    rcf = s->peer->conf;

    for (i = 0; i < rcf->nprefer; i++) {
        if (ngx_http_fsauth_sentinel_same(a, &rcf->prefer[i])) {
            return 1;
        }
    }

    return 0;
}


/* whether a replica is passed over still */

static ngx_uint_t
ngx_http_fsauth_sentinel_shunned(ngx_http_fsauth_sentinel_t *s,
    ngx_http_fsauth_redis_addr_t *a)
{
    ngx_uint_t  i;

    for (i = 0; i < NGX_HTTP_FSAUTH_SENTINEL_SHUNNED; i++) {
        if ((ngx_msec_int_t) (s->shunned[i].until - ngx_current_msec) > 0
            && ngx_http_fsauth_sentinel_same(a, &s->shunned[i].addr))
        {
            return 1;
        }
    }

    return 0;
}


/*
 * The sentinel named the primary (s->named) and, with read=replica, the
 * replica to read from (NULL: none): the connections that lead to
 * another node than before go there now.
 */

static void
ngx_http_fsauth_sentinel_answer(ngx_http_fsauth_sentinel_t *s,
    ngx_http_fsauth_redis_addr_t *replica)
{
    ngx_uint_t                     again, reread;
    ngx_http_fsauth_peer_t        *peer;
    ngx_http_fsauth_redis_addr_t   named;
    ngx_http_fsauth_redis_conf_t  *rcf;

    peer = s->peer;
    rcf = peer->conf;

    again = s->again;

    ngx_http_fsauth_sentinel_close(&s->query);

    s->tried = 0;
    s->failures = 0;
    s->none_logged = 0;
    s->source = s->asked;
    s->next = s->asked;

    reread = 0;

    if (rcf->read_replica
        && (replica ? !s->replica_known
                      || !ngx_http_fsauth_sentinel_same(replica, &s->replica)
                    : s->replica_known))
    {
        reread = 1;

        if (replica) {
            ngx_memcpy(s->rhost, replica->host.data, replica->host.len + 1);
            s->replica.host.len = replica->host.len;
            s->replica.port = replica->port;
            s->replica_known = 1;

            ngx_log_error(NGX_LOG_NOTICE, peer->log, 0,
                          "fsauth: sentinel %V:%d names %V:%d as a healthy "
                          "replica of \"%V\"; lookups and invalidations are "
                          "read there%s", &rcf->sentinels[s->source].host,
                          (int) rcf->sentinels[s->source].port,
                          &s->replica.host, (int) s->replica.port,
                          &rcf->master,
                          rcf->nprefer == 0
                          || ngx_http_fsauth_sentinel_preferred(s,
                                                                &s->replica)
                          ? "" : ", not on the one of prefer_replica= "
                                 "(not reported healthy, or failed lately)");

        } else {
            s->replica_known = 0;

            ngx_log_error(NGX_LOG_NOTICE, peer->log, 0,
                          "fsauth: no healthy replica of \"%V\"; lookups "
                          "and invalidations are read on the primary",
                          &rcf->master);
        }
    }

    named.host.data = s->named;
    named.host.len = s->named_len;
    named.port = s->named_port;

    /* read=replica: the replicas' health is asked for again later */

    if (rcf->read_replica && !peer->exiting) {
        if (s->repick.timer_set) {
            ngx_del_timer(&s->repick);
        }

        ngx_add_timer(&s->repick, s->replica_known
                                  ? NGX_HTTP_FSAUTH_SENTINEL_RECHECK
                                  : NGX_HTTP_FSAUTH_SENTINEL_NONE);
    }

    if (s->known && ngx_http_fsauth_sentinel_same(&named, &s->primary)) {
        if (reread) {
            ngx_http_fsauth_redis_reread(peer);
        }

        if (again && s->query.ac == NULL && !s->query.retry.timer_set) {
            ngx_http_fsauth_sentinel_query(s);
        }

        return;
    }

    /* the node refused last, named again: said once, when refused */

    if (s->rejected == 0 || !ngx_http_fsauth_sentinel_same(&named, &s->primary))
    {
        ngx_log_error(NGX_LOG_NOTICE, peer->log, 0,
                      "fsauth: sentinel %V:%d names %V:%d as the primary of "
                      "\"%V\"", &rcf->sentinels[s->source].host,
                      (int) rcf->sentinels[s->source].port,
                      &named.host, (int) named.port, &rcf->master);
    }

    ngx_memcpy(s->host, s->named, s->named_len + 1);
    s->primary.host.len = s->named_len;
    s->primary.port = s->named_port;
    s->known = 1;

    ngx_http_fsauth_redis_switch(peer);

    if (again && s->query.ac == NULL && !s->query.retry.timer_set) {
        ngx_http_fsauth_sentinel_query(s);
    }
}


/* read=replica: the replica in use, NULL: none, the primary serves all */

ngx_http_fsauth_redis_addr_t *
ngx_http_fsauth_sentinel_replica(ngx_http_fsauth_peer_t *peer)
{
    ngx_http_fsauth_sentinel_t  *s;

    s = peer->sentinel;

    return (s && s->replica_known) ? &s->replica : NULL;
}


/*
 * A connection to the replica failed, was lost, or found the node no
 * healthy replica: reads go to the primary, the replica is passed over
 * for a while, the sentinels are asked for another.
 */

void
ngx_http_fsauth_sentinel_replica_lost(ngx_http_fsauth_peer_t *peer,
    const char *reason)
{
    ngx_uint_t                   i;
    ngx_http_fsauth_shunned_t   *sh;
    ngx_http_fsauth_sentinel_t  *s;

    s = peer->sentinel;

    if (!s->replica_known) {
        return;
    }

    ngx_log_error(NGX_LOG_WARN, peer->log, 0,
                  "fsauth: replica %V:%d of \"%V\": %s; read on the primary, "
                  "that replica passed over for %d s", &s->replica.host,
                  (int) s->replica.port, &peer->conf->master, reason,
                  NGX_HTTP_FSAUTH_SENTINEL_SHUN / 1000);

    /* in the slot whose time is up first */

    sh = &s->shunned[0];

    for (i = 1; i < NGX_HTTP_FSAUTH_SENTINEL_SHUNNED; i++) {
        if ((ngx_msec_int_t) (s->shunned[i].until - sh->until) < 0) {
            sh = &s->shunned[i];
        }
    }

    ngx_memcpy(sh->host, s->rhost, s->replica.host.len + 1);
    sh->addr.host.len = s->replica.host.len;
    sh->addr.port = s->replica.port;
    sh->until = ngx_current_msec + NGX_HTTP_FSAUTH_SENTINEL_SHUN;

    s->replica_known = 0;

    ngx_http_fsauth_redis_reread(peer);
    ngx_http_fsauth_sentinel_discover(peer);
}


/*
 * The watch: SUBSCRIBE +switch-master on one sentinel; a failover of
 * our master leads to a new question at once, past any backoff.
 */

static void
ngx_http_fsauth_sentinel_watch(ngx_http_fsauth_sentinel_t *s)
{
    const char         *why;
    redisAsyncContext  *ac;

    /* the question's connection says why, when it fails as well */

    ac = ngx_http_fsauth_sentinel_connect(&s->watch, s->watched, &why);
    if (ac == NULL) {
        ngx_http_fsauth_sentinel_watch_lost(s);
        return;
    }

    if (redisAsyncCommand(ac, ngx_http_fsauth_sentinel_message_cb, NULL,
                          "SUBSCRIBE +switch-master")
        != REDIS_OK)
    {
        ngx_http_fsauth_sentinel_close(&s->watch);
        ngx_http_fsauth_sentinel_watch_lost(s);
    }
}


static void
ngx_http_fsauth_sentinel_watch_lost(ngx_http_fsauth_sentinel_t *s)
{
    ngx_msec_t                     delay;
    ngx_http_fsauth_redis_conf_t  *rcf;

    rcf = s->peer->conf;

    if (s->peer->exiting || s->watch.retry.timer_set) {
        return;
    }

    s->watched = (s->watched + 1) % rcf->nsentinels;

    delay = ngx_http_fsauth_sentinel_backoff(s->watch.failures++);

    ngx_add_timer(&s->watch.retry, delay);
}


static void
ngx_http_fsauth_sentinel_message_cb(redisAsyncContext *ac, void *reply,
    void *privdata)
{
    ngx_str_t                     *master;
    ngx_uint_t                     i, kind;
    redisReply                    *rr = reply, *payload;
    ngx_http_fsauth_conn_t        *conn;
    ngx_http_fsauth_sentinel_t    *s;

    conn = ngx_http_fsauth_sentinel_conn(ac);
    if (conn == NULL || rr == NULL || conn->peer->exiting) {
        return;
    }

    s = conn->peer->sentinel;
    master = &conn->peer->conf->master;

    payload = NULL;
    kind = ngx_http_fsauth_redis_pubsub(rr, &payload);

    if (kind == NGX_HTTP_FSAUTH_PUBSUB_SUBSCRIBE) {
        if (conn->deadline.timer_set) {
            ngx_del_timer(&conn->deadline);
        }

        conn->state = NGX_HTTP_FSAUTH_REDIS_READY;
        conn->failures = 0;
        s->watch_logged = 0;

        /* a failover may have passed unheard while there was no watch */

        ngx_http_fsauth_sentinel_discover(conn->peer);
        return;
    }

    /* "<master name> <old ip> <old port> <new ip> <new port>" */

    if (kind != NGX_HTTP_FSAUTH_PUBSUB_MESSAGE
        || payload->type != REDIS_REPLY_STRING
        || payload->len <= master->len
        || payload->str[master->len] != ' '
        || ngx_memcmp(payload->str, master->data, master->len) != 0)
    {
        return;
    }

    ngx_log_error(NGX_LOG_NOTICE, conn->peer->log, 0,
                  "fsauth: sentinel reports a failover of \"%V\"", master);

    if (s->query.retry.timer_set) {
        ngx_del_timer(&s->query.retry);
    }

    s->failures = 0;
    s->tried = 0;

    /* replicas that failed during the failover may be fine after it */

    for (i = 0; i < NGX_HTTP_FSAUTH_SENTINEL_SHUNNED; i++) {
        s->shunned[i].until = ngx_current_msec;
    }

    ngx_http_fsauth_sentinel_discover(conn->peer);
}


/*
 * A connection to sentinel i, AUTH queued; NULL: none now, and *why
 * says why (a refused TLS handshake may be known at once on loopback).
 */

static redisAsyncContext *
ngx_http_fsauth_sentinel_connect(ngx_http_fsauth_conn_t *conn, ngx_uint_t i,
    const char **why)
{
    const char                    *tls_why;
    redisAsyncContext             *ac;
    ngx_http_fsauth_peer_t        *peer;
    ngx_http_fsauth_redis_addr_t  *sa;
    ngx_http_fsauth_redis_conf_t  *rcf;

    /* outlives the context, which may hold the text */
    static u_char                  reason[128];

    peer = conn->peer;
    rcf = peer->conf;
    sa = &rcf->sentinels[i];

    *why = "cannot connect";

    ac = redisAsyncConnect((char *) sa->host.data, sa->port);
    if (ac == NULL) {
        return NULL;
    }

    if (ac->err) {
        redisAsyncFree(ac);
        return NULL;
    }

    /* the same TLS settings as for the data nodes */

    tls_why = NULL;

    if (ngx_http_fsauth_tls_connect(conn, ac, &tls_why) != NGX_OK) {
        if (tls_why) {
            ngx_cpystrn(reason, (u_char *) tls_why, sizeof(reason));
            *why = (const char *) reason;
        }

        redisAsyncFree(ac);
        return NULL;
    }

    if (ngx_http_fsauth_adapter_attach(ac, peer->log) != NGX_OK) {
        redisAsyncFree(ac);
        return NULL;
    }

    ac->data = conn;

    redisAsyncSetConnectCallback(ac, ngx_http_fsauth_sentinel_connected);
    redisAsyncSetDisconnectCallback(ac,
                                    ngx_http_fsauth_sentinel_disconnected);

    conn->ac = ac;
    conn->state = NGX_HTTP_FSAUTH_REDIS_CONNECTING;

    /* the sentinels' own password, and ACL user if any */

    if (rcf->sentinel_password.len) {
        if (ngx_http_fsauth_redis_auth(ac, &rcf->sentinel_user,
                                       &rcf->sentinel_password,
                                       ngx_http_fsauth_sentinel_auth_cb, NULL)
            != REDIS_OK)
        {
            ngx_http_fsauth_sentinel_close(conn);
            return NULL;
        }
    }

    ngx_add_timer(&conn->deadline, rcf->connect_timeout);

    return ac;
}


/* drops a sentinel connection; its callbacks see no context of theirs */

static void
ngx_http_fsauth_sentinel_close(ngx_http_fsauth_conn_t *conn)
{
    redisAsyncContext  *ac;

    if (conn->deadline.timer_set) {
        ngx_del_timer(&conn->deadline);
    }

    conn->state = NGX_HTTP_FSAUTH_REDIS_DOWN;

    ac = conn->ac;
    if (ac == NULL) {
        return;
    }

    conn->ac = NULL;

    /* deferred by hiredis when called from one of its callbacks */

    redisAsyncFree(ac);
}


static ngx_http_fsauth_conn_t *
ngx_http_fsauth_sentinel_conn(const redisAsyncContext *ac)
{
    ngx_http_fsauth_conn_t  *conn = ac->data;

    if (conn == NULL || ac != conn->ac) {
        return NULL;
    }

    return conn;
}


static void
ngx_http_fsauth_sentinel_connected(const redisAsyncContext *ac, int status)
{
    const char              *why;
    ngx_http_fsauth_conn_t  *conn;

    conn = ngx_http_fsauth_sentinel_conn(ac);

    if (status == REDIS_OK || conn == NULL) {
        return;
    }

    why = ngx_http_fsauth_tls_sentinel_why(conn, ac);

    /* hiredis frees the context when this returns */

    conn->ac = NULL;
    ngx_http_fsauth_sentinel_gone(conn, why ? why : ac->errstr);
}


static void
ngx_http_fsauth_sentinel_disconnected(const redisAsyncContext *ac,
    int status)
{
    const char              *why;
    ngx_http_fsauth_conn_t  *conn;

    conn = ngx_http_fsauth_sentinel_conn(ac);
    if (conn == NULL) {
        return;
    }

    why = ngx_http_fsauth_tls_sentinel_why(conn, ac);

    if (why == NULL) {
        why = ac->errstr[0] ? ac->errstr : "closed";
    }

    conn->ac = NULL;
    ngx_http_fsauth_sentinel_gone(conn, why);
}


/* the connection is gone already (conn->ac is NULL) */

static void
ngx_http_fsauth_sentinel_gone(ngx_http_fsauth_conn_t *conn,
    const char *reason)
{
    ngx_http_fsauth_sentinel_t    *s;
    ngx_http_fsauth_redis_conf_t  *rcf;

    s = conn->peer->sentinel;
    rcf = conn->peer->conf;

    if (conn->deadline.timer_set) {
        ngx_del_timer(&conn->deadline);
    }

    conn->state = NGX_HTTP_FSAUTH_REDIS_DOWN;

    if (conn == &s->query) {
        ngx_http_fsauth_sentinel_failed(s, reason);
        return;
    }

    if (!s->watch_logged) {
        ngx_log_error(NGX_LOG_WARN, conn->peer->log, 0,
                      "fsauth: lost the watch on sentinel %V:%d: %s; "
                      "failovers are noticed when a connection drops",
                      &rcf->sentinels[s->watched].host,
                      (int) rcf->sentinels[s->watched].port, reason);
        s->watch_logged = 1;
    }

    ngx_http_fsauth_sentinel_watch_lost(s);
}


static void
ngx_http_fsauth_sentinel_auth_cb(redisAsyncContext *ac, void *reply,
    void *privdata)
{
    redisReply                  *rr = reply;
    ngx_http_fsauth_conn_t      *conn;
    ngx_http_fsauth_sentinel_t  *s;

    conn = ngx_http_fsauth_sentinel_conn(ac);
    if (conn == NULL || rr == NULL || rr->type != REDIS_REPLY_ERROR) {
        return;
    }

    s = conn->peer->sentinel;

    ngx_http_fsauth_sentinel_close(conn);

    if (conn == &s->query) {
        ngx_http_fsauth_sentinel_failed(s, "refused AUTH");
        return;
    }

    ngx_http_fsauth_sentinel_gone(conn, "refused AUTH");
}


static void
ngx_http_fsauth_sentinel_retry_handler(ngx_event_t *ev)
{
    ngx_http_fsauth_conn_t      *conn = ev->data;
    ngx_http_fsauth_sentinel_t  *s;

    s = conn->peer->sentinel;

    if (conn->peer->exiting || ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    if (conn == &s->query) {
        if (s->query.ac == NULL) {
            ngx_http_fsauth_sentinel_query(s);
        }

        return;
    }

    ngx_http_fsauth_sentinel_watch(s);
}


static void
ngx_http_fsauth_sentinel_repick_handler(ngx_event_t *ev)
{
    ngx_http_fsauth_sentinel_t  *s = ev->data;

    if (s->peer->exiting || ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    ngx_http_fsauth_sentinel_discover(s->peer);
}


static void
ngx_http_fsauth_sentinel_deadline_handler(ngx_event_t *ev)
{
    ngx_http_fsauth_conn_t      *conn = ev->data;
    ngx_http_fsauth_sentinel_t  *s;

    s = conn->peer->sentinel;

    if (conn == &s->query) {
        ngx_http_fsauth_sentinel_failed(s, "timed out");
        return;
    }

    if (conn->state == NGX_HTTP_FSAUTH_REDIS_READY) {
        return;
    }

    ngx_http_fsauth_sentinel_close(conn);
    ngx_http_fsauth_sentinel_gone(conn, "timed out");
}
