
/*
 * Copyright (C) fsauth authors
 * BSD-2-Clause, see LICENSE.
 */


#include "ngx_http_fsauth_module.h"
#include "ngx_http_fsauth_redis.h"


/*
 * Activity records (<prefix>activity:<id>: lastactivity, lastip) are
 * queued per worker and written in batches: one EVAL of a short script
 * that does the HSETs, sent when NGX_HTTP_FSAUTH_ACTIVITY_BATCH records
 * are queued or NGX_HTTP_FSAUTH_ACTIVITY_DELAY ms after the first one.
 * One command and one reply for up to 64 keys instead of one each: the
 * first request of a key costs a line in a buffer, not a Redis command.
 * The script uses redis.pcall() so one bad key does not stop the others,
 * and answers with the last error, if any.  Where EVAL is refused (an ACL
 * without +eval, a renamed command), each record is its own HSET: a probe
 * on every new lookup connection decides.
 */

static u_char  ngx_http_fsauth_activity_script[] =
    "local e "
    "for i = 1, #KEYS do "
    "local r = redis.pcall('HSET', KEYS[i], "
    "'lastactivity', ARGV[2 * i - 1], 'lastip', ARGV[2 * i]) "
    "if type(r) == 'table' and r.err then e = r end "
    "end "
    "if e then return e end "
    "return #KEYS";


/* the longest record in RESP: key, time and address with their headers */
#define NGX_HTTP_FSAUTH_ACTIVITY_ENTRY_LEN                                   \
    (3 * (1 + NGX_INT_T_LEN + 2 + 2) + NGX_HTTP_FSAUTH_PREFIX_MAX            \
     + sizeof("activity:") - 1 + NGX_INT_T_LEN + NGX_TIME_T_LEN              \
     + NGX_SOCKADDR_STRLEN)

#define NGX_HTTP_FSAUTH_ACTIVITY_BUF_LEN                                     \
    (64 + sizeof(ngx_http_fsauth_activity_script)                           \
     + NGX_HTTP_FSAUTH_ACTIVITY_BATCH * NGX_HTTP_FSAUTH_ACTIVITY_ENTRY_LEN)


static u_char *ngx_http_fsauth_activity_decimal(u_char *p, uint64_t n,
    size_t len);
static u_char *ngx_http_fsauth_activity_key(u_char *p, ngx_str_t *prefix,
    ngx_int_t id);
static u_char *ngx_http_fsauth_activity_time(u_char *p, time_t t);
static void ngx_http_fsauth_activity_send(ngx_http_fsauth_peer_t *peer,
    u_char *last, ngx_uint_t n);
static void ngx_http_fsauth_activity_hsets(ngx_http_fsauth_peer_t *peer,
    ngx_uint_t n);
static void ngx_http_fsauth_activity_flush_handler(ngx_event_t *ev);
static void ngx_http_fsauth_activity_probe_cb(redisAsyncContext *ac,
    void *reply, void *privdata);
static void ngx_http_fsauth_activity_cb(redisAsyncContext *ac, void *reply,
    void *privdata);


ngx_int_t
ngx_http_fsauth_activity_init(ngx_cycle_t *cycle,
    ngx_http_fsauth_peer_t *peer)
{
    peer->queued = ngx_palloc(cycle->pool,
                              NGX_HTTP_FSAUTH_ACTIVITY_BATCH
                              * sizeof(ngx_http_fsauth_activity_rec_t));
    if (peer->queued == NULL) {
        return NGX_ERROR;
    }

    /* a pending batch does not hold up a graceful shutdown: see exit */

    peer->activity_eval = -1;

    peer->flush.handler = ngx_http_fsauth_activity_flush_handler;
    peer->flush.data = peer;
    peer->flush.log = cycle->log;
    peer->flush.cancelable = 1;

    return NGX_OK;
}


/*
 * Queues the key's last use; whether it is due was decided by the caller
 * (see ngx_http_fsauth_lookup_activity).  NGX_DECLINED: Redis is down.
 */

ngx_int_t
ngx_http_fsauth_activity_queue(ngx_http_fsauth_redis_conf_t *rcf,
    ngx_http_request_t *r, ngx_int_t id)
{
    ngx_str_t                       *addr;
    ngx_http_fsauth_peer_t          *peer;
    ngx_http_fsauth_activity_rec_t  *rec;

    peer = rcf->peer;

    if (peer == NULL || peer->lookup.state != NGX_HTTP_FSAUTH_REDIS_READY) {
        ngx_http_fsauth_metrics_dropped(1);
        return NGX_DECLINED;
    }

    addr = &r->connection->addr_text;

    rec = &peer->queued[peer->nqueued++];
    rec->id = id;
    rec->time = ngx_time();
    rec->addr_len = ngx_min(addr->len, NGX_SOCKADDR_STRLEN);
    ngx_memcpy(rec->addr, addr->data, rec->addr_len);

    if (peer->nqueued == NGX_HTTP_FSAUTH_ACTIVITY_BATCH) {
        ngx_http_fsauth_activity_flush(peer);

    } else if (!peer->flush.timer_set) {
        ngx_add_timer(&peer->flush, NGX_HTTP_FSAUTH_ACTIVITY_DELAY);
    }

    return NGX_OK;
}


/* the number of decimal digits of n, two at a time */

static ngx_inline size_t
ngx_http_fsauth_activity_digits(uint64_t n)
{
    size_t  len;

    for (len = 1; n >= 100; n /= 100) {
        len += 2;
    }

    return len + (n >= 10);
}


/*
 * Writes n as its len decimal digits, in place and two digits per
 * division: ngx_sprintf() would parse its format each time, and a copy
 * from a scratch buffer costs a memcpy() call per number.
 */

static u_char *
ngx_http_fsauth_activity_decimal(u_char *p, uint64_t n, size_t len)
{
    u_char             *d;
    static const char   pairs[] =
        "00010203040506070809101112131415161718192021222324252627282930313233"
        "34353637383940414243444546474849505152535455565758596061626364656667"
        "6869707172737475767778798081828384858687888990919293949596979899";

    d = p + len;

    while (n >= 100) {
        d -= 2;
        ngx_memcpy(d, &pairs[(n % 100) * 2], 2);
        n /= 100;
    }

    if (n >= 10) {
        ngx_memcpy(d - 2, &pairs[n * 2], 2);

    } else {
        d[-1] = (u_char) ('0' + n);
    }

    return p + len;
}


static ngx_inline u_char *
ngx_http_fsauth_activity_number(u_char *p, uint64_t n)
{
    return ngx_http_fsauth_activity_decimal(p, n,
                                            ngx_http_fsauth_activity_digits(n));
}


static u_char *
ngx_http_fsauth_activity_bulk(u_char *p, u_char *s, size_t len)
{
    *p++ = '$';
    p = ngx_http_fsauth_activity_number(p, len);
    *p++ = CR;
    *p++ = LF;
    p = ngx_cpymem(p, s, len);
    *p++ = CR;
    *p++ = LF;

    return p;
}


/*
 * Sends the queued records:
 * EVAL <script> <n> <prefix>activity:<id>... <time> <addr>...
 * Records queued while Redis is down are dropped: activity is a hint, and
 * the next use of the key after the interval writes it again.
 */

void
ngx_http_fsauth_activity_flush(ngx_http_fsauth_peer_t *peer)
{
    u_char                          *p;
    size_t                           len, tlen;
    time_t                           last;
    ngx_str_t                       *prefix;
    ngx_uint_t                       i, n;
    u_char                           num[NGX_INT64_LEN];
    u_char                           tbulk[NGX_INT64_LEN + 8];
    ngx_http_fsauth_activity_rec_t  *rec;

    n = peer->nqueued;
    peer->nqueued = 0;

    if (peer->flush.timer_set) {
        ngx_del_timer(&peer->flush);
    }

    if (n == 0 || peer->lookup.state != NGX_HTTP_FSAUTH_REDIS_READY) {
        ngx_http_fsauth_metrics_dropped(n);
        return;
    }

    if (peer->batch == NULL) {
        peer->batch = ngx_alloc(NGX_HTTP_FSAUTH_ACTIVITY_BUF_LEN, peer->log);
        if (peer->batch == NULL) {
            ngx_http_fsauth_metrics_dropped(n);
            return;
        }
    }

    if (peer->activity_eval != 1) {
        ngx_http_fsauth_activity_hsets(peer, n);
        return;
    }

    prefix = &peer->conf->prefix;

    p = peer->batch;
    *p++ = '*';
    p = ngx_http_fsauth_activity_number(p, 3 + 3 * n);
    p = ngx_http_fsauth_put(p, "\r\n$4\r\nEVAL\r\n");
    len = sizeof(ngx_http_fsauth_activity_script) - 1;
    p = ngx_http_fsauth_activity_bulk(p, ngx_http_fsauth_activity_script, len);

    len = ngx_http_fsauth_activity_number(num, n) - num;
    p = ngx_http_fsauth_activity_bulk(p, num, len);

    for (i = 0; i < n; i++) {
        p = ngx_http_fsauth_activity_key(p, prefix, peer->queued[i].id);
    }

    /* ARGV: time and address of each */

    last = -1;
    tlen = 0;

    for (i = 0; i < n; i++) {
        rec = &peer->queued[i];

        /* the records of a batch mostly share their second */

        if (rec->time != last) {
            last = rec->time;
            tlen = ngx_http_fsauth_activity_time(tbulk, rec->time) - tbulk;
        }

        p = ngx_cpymem(p, tbulk, tlen);
        p = ngx_http_fsauth_activity_bulk(p, rec->addr, rec->addr_len);
    }

    ngx_http_fsauth_activity_send(peer, p, n);
}


/* sends the command written in peer->batch, up to last: n records */

static void
ngx_http_fsauth_activity_send(ngx_http_fsauth_peer_t *peer, u_char *last,
    ngx_uint_t n)
{
    if (redisAsyncFormattedCommand(peer->lookup.ac,
                                   ngx_http_fsauth_activity_cb, peer,
                                   (char *) peer->batch, last - peer->batch)
        == REDIS_OK)
    {
        ngx_http_fsauth_count(commands[NGX_HTTP_FSAUTH_CMD_ACTIVITY]);

    } else {
        ngx_http_fsauth_metrics_dropped(n);
    }
}


/* "$<len>\r\n<prefix>activity:<id>\r\n" */

static u_char *
ngx_http_fsauth_activity_key(u_char *p, ngx_str_t *prefix, ngx_int_t id)
{
    size_t  len;

    len = ngx_http_fsauth_activity_digits(id);

    *p++ = '$';
    p = ngx_http_fsauth_activity_number(p, prefix->len
                                           + sizeof("activity:") - 1 + len);
    *p++ = CR;
    *p++ = LF;
    p = ngx_cpymem(p, prefix->data, prefix->len);
    p = ngx_http_fsauth_put(p, "activity:");
    p = ngx_http_fsauth_activity_decimal(p, id, len);
    *p++ = CR;
    *p++ = LF;

    return p;
}


/* "$<len>\r\n<t>\r\n" */

static u_char *
ngx_http_fsauth_activity_time(u_char *p, time_t t)
{
    size_t  len;
    u_char  num[NGX_INT64_LEN];

    len = ngx_http_fsauth_activity_number(num, t) - num;

    return ngx_http_fsauth_activity_bulk(p, num, len);
}


/* without EVAL: HSET <prefix>activity:<id> lastactivity T lastip A, each */

static void
ngx_http_fsauth_activity_hsets(ngx_http_fsauth_peer_t *peer, ngx_uint_t n)
{
    u_char                          *p;
    ngx_uint_t                       i;
    ngx_http_fsauth_activity_rec_t  *rec;

    for (i = 0; i < n && peer->lookup.ac; i++) {
        rec = &peer->queued[i];

        p = ngx_http_fsauth_put(peer->batch, "*6\r\n$4\r\nHSET\r\n");
        p = ngx_http_fsauth_activity_key(p, &peer->conf->prefix, rec->id);
        p = ngx_http_fsauth_put(p, "$12\r\nlastactivity\r\n");
        p = ngx_http_fsauth_activity_time(p, rec->time);
        p = ngx_http_fsauth_put(p, "$6\r\nlastip\r\n");
        p = ngx_http_fsauth_activity_bulk(p, rec->addr, rec->addr_len);

        ngx_http_fsauth_activity_send(peer, p, 1);
    }

    /* the connection went while the records were written */

    ngx_http_fsauth_metrics_dropped(n - i);
}


/*
 * Asked on every new lookup connection (the server may have changed):
 * may this client run EVAL?  Until the answer, records go out as HSETs.
 */

void
ngx_http_fsauth_activity_probe(ngx_http_fsauth_peer_t *peer)
{
    static u_char  probe[] = "*3\r\n$4\r\nEVAL\r\n$8\r\nreturn 1\r\n"
                             "$1\r\n0\r\n";

    peer->activity_eval = -1;

    if (redisAsyncFormattedCommand(peer->lookup.ac,
                                   ngx_http_fsauth_activity_probe_cb, peer,
                                   (char *) probe, sizeof(probe) - 1)
        != REDIS_OK)
    {
        peer->activity_eval = 0;
    }
}


static void
ngx_http_fsauth_activity_probe_cb(redisAsyncContext *ac, void *reply,
    void *privdata)
{
    ngx_http_fsauth_peer_t *peer = privdata;

    redisReply  *rp = reply;

    if (rp == NULL || peer->exiting) {
        return;
    }

    if (rp->type == REDIS_REPLY_INTEGER) {
        peer->activity_eval = 1;
        return;
    }

    peer->activity_eval = 0;

    if (rp->type == REDIS_REPLY_ERROR && !peer->eval_warned) {
        peer->eval_warned = 1;
        ngx_log_error(NGX_LOG_WARN, peer->log, 0,
                      "fsauth: redis refused EVAL (%*s); activity records "
                      "are written one HSET each",
                      (size_t) ngx_min(rp->len, 200), rp->str);
    }
}


static void
ngx_http_fsauth_activity_flush_handler(ngx_event_t *ev)
{
    ngx_http_fsauth_activity_flush(ev->data);
}


/*
 * A failing write (a read-only replica, a wrong type, an ACL) is logged
 * once, and again only after a batch has succeeded in between.
 */

static void
ngx_http_fsauth_activity_cb(redisAsyncContext *ac, void *reply,
    void *privdata)
{
    ngx_http_fsauth_peer_t *peer = privdata;

    redisReply  *rp = reply;

    if (rp == NULL || peer->exiting) {
        return;
    }

    if (rp->type != REDIS_REPLY_ERROR) {
        peer->activity_failing = 0;
        return;
    }

    ngx_http_fsauth_count(errors);

    if (!peer->activity_failing) {
        peer->activity_failing = 1;
        ngx_log_error(NGX_LOG_ERR, peer->log, 0,
                      "fsauth: activity write failed: %*s",
                      (size_t) ngx_min(rp->len, 200), rp->str);
    }
}
