
/*
 * Copyright (C) fsauth authors
 * BSD-2-Clause, see LICENSE.
 */


#include "ngx_http_fsauth_module.h"
#include "ngx_http_fsauth_redis.h"

#include <sys/ioctl.h>


/* the largest output buffer kept between writes */
#define NGX_HTTP_FSAUTH_OBUF_KEEP         16384


static void ngx_http_fsauth_adapter_add_read(void *data);
static void ngx_http_fsauth_adapter_del_read(void *data);
static void ngx_http_fsauth_adapter_add_write(void *data);
static void ngx_http_fsauth_adapter_del_write(void *data);
static void ngx_http_fsauth_adapter_cleanup(void *data);
static void ngx_http_fsauth_adapter_read(ngx_event_t *rev);
static void ngx_http_fsauth_adapter_write(ngx_event_t *wev);
static ngx_int_t ngx_http_fsauth_adapter_send(redisAsyncContext *ac);


/*
 * Binds a hiredis async context to nginx's event loop through an
 * ngx_connection_t for its fd.  hiredis owns the fd and closes it in
 * redisFree(); the nginx side only ever detaches.
 */

ngx_int_t
ngx_http_fsauth_adapter_attach(redisAsyncContext *ac, ngx_log_t *log)
{
    ngx_connection_t  *c;

    c = ngx_get_connection(ac->c.fd, log);
    if (c == NULL) {
        return NGX_ERROR;
    }

    c->data = ac;
    c->read->handler = ngx_http_fsauth_adapter_read;
    c->write->handler = ngx_http_fsauth_adapter_write;
    c->read->log = log;
    c->write->log = log;

    ac->ev.data = c;
    ac->ev.addRead = ngx_http_fsauth_adapter_add_read;
    ac->ev.delRead = ngx_http_fsauth_adapter_del_read;
    ac->ev.addWrite = ngx_http_fsauth_adapter_add_write;
    ac->ev.delWrite = ngx_http_fsauth_adapter_del_write;
    ac->ev.cleanup = ngx_http_fsauth_adapter_cleanup;
#if (NGX_HTTP_FSAUTH_HIREDIS_V1)
    /* hiredis 1.x only; timeouts are nginx timers owned by the module */
    ac->ev.scheduleTimer = NULL;
#endif

    return NGX_OK;
}


static ngx_uint_t
ngx_http_fsauth_adapter_flags(void)
{
    return (ngx_event_flags & NGX_USE_CLEAR_EVENT) ? NGX_CLEAR_EVENT
                                                   : NGX_LEVEL_EVENT;
}


static void
ngx_http_fsauth_adapter_add_read(void *data)
{
    ngx_connection_t  *c = data;

    if (!c->read->active) {
        if (ngx_add_event(c->read, NGX_READ_EVENT,
                          ngx_http_fsauth_adapter_flags())
            != NGX_OK)
        {
            ngx_log_error(NGX_LOG_ALERT, c->log, 0,
                          "fsauth: cannot add redis read event");
        }
    }
}


static void
ngx_http_fsauth_adapter_del_read(void *data)
{
    ngx_connection_t  *c = data;

    /* edge-triggered registrations stay; level-triggered would spin */

    if (c->read->active && !(ngx_event_flags & NGX_USE_CLEAR_EVENT)) {
        ngx_del_event(c->read, NGX_READ_EVENT, 0);
    }
}


static void
ngx_http_fsauth_adapter_add_write(void *data)
{
    ngx_connection_t  *c = data;

    redisAsyncContext  *ac;

    ac = c->data;

    if (!c->write->active) {
        if (ngx_add_event(c->write, NGX_WRITE_EVENT,
                          ngx_http_fsauth_adapter_flags())
            != NGX_OK)
        {
            ngx_log_error(NGX_LOG_ALERT, c->log, 0,
                          "fsauth: cannot add redis write event");
        }

        return;
    }

    /*
     * An edge-triggered socket that stayed writable reports nothing new:
     * post the write event.  Commands queued in the same loop iteration
     * then leave in one write.
     */

    if ((ngx_event_flags & NGX_USE_CLEAR_EVENT)
        && (ac->c.flags & REDIS_CONNECTED)
        && !c->write->posted)
    {
        ngx_post_event(c->write, &ngx_posted_events);
    }
}


static void
ngx_http_fsauth_adapter_del_write(void *data)
{
    ngx_connection_t  *c = data;

    if (c->write->active && !(ngx_event_flags & NGX_USE_CLEAR_EVENT)) {
        ngx_del_event(c->write, NGX_WRITE_EVENT, 0);
    }
}


static void
ngx_http_fsauth_adapter_cleanup(void *data)
{
    ngx_connection_t  *c = data;

    redisAsyncContext  *ac;

    ac = c->data;

    if (c->read->active) {
        ngx_del_event(c->read, NGX_READ_EVENT, NGX_CLOSE_EVENT);
    }

    if (c->write->active) {
        ngx_del_event(c->write, NGX_WRITE_EVENT, NGX_CLOSE_EVENT);
    }

    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }

    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }

    if (c->read->timer_set) {
        ngx_del_timer(c->read);
    }

    if (c->write->timer_set) {
        ngx_del_timer(c->write);
    }

    c->data = NULL;
    c->fd = (ngx_socket_t) -1;
    ngx_free_connection(c);

    if (ac) {
        ac->ev.data = NULL;
        ac->ev.addRead = NULL;
        ac->ev.delRead = NULL;
        ac->ev.addWrite = NULL;
        ac->ev.delWrite = NULL;
        ac->ev.cleanup = NULL;
    }
}


static void
ngx_http_fsauth_adapter_read(ngx_event_t *rev)
{
    int                 n;
    ngx_socket_t        fd;
    ngx_connection_t   *c;
    redisAsyncContext  *ac;

    c = rev->data;
    ac = c->data;
    fd = c->fd;

    /*
     * hiredis reads at most 16 KiB per call; under edge triggering the
     * rest would wait for the next event, so drain while bytes remain.
     * The context may be freed by any call: then c->data is cleared.
     */

    for ( ;; ) {
        redisAsyncHandleRead(ac);

        if (c->data != ac || c->fd != fd) {
            return;
        }

        if (!(ngx_event_flags & NGX_USE_CLEAR_EVENT)) {
            return;
        }

        if (ioctl(fd, FIONREAD, &n) == -1 || n <= 0) {
            return;
        }
    }
}


static void
ngx_http_fsauth_adapter_write(ngx_event_t *wev)
{
    ngx_connection_t  *c;

    c = wev->data;

    if (c->data == NULL) {
        return;
    }

    /*
     * Everything written on an edge-triggered connection: hiredis would
     * only drop the write event and add the read event, which stays
     * registered from the connection's start (see del_read).
     */

    if (ngx_http_fsauth_adapter_send(c->data) == NGX_OK
        && (ngx_event_flags & NGX_USE_CLEAR_EVENT))
    {
        return;
    }

    /* the rest, an error, and the events: hiredis's own handling */

    redisAsyncHandleWrite(c->data);
}


/*
 * Writes what hiredis holds and keeps its output buffer for the next
 * commands.  hiredis frees the buffer after each complete write and grows
 * a new one for the next command: a malloc(), a realloc() and a free()
 * per lookup.  Only a plain socket, connected and without error, is
 * written here; what is not written stays in the buffer for hiredis, and
 * a buffer grown large (a burst of commands) is left to hiredis to free.
 * NGX_OK: nothing is left to write.
 */

static ngx_int_t
ngx_http_fsauth_adapter_send(redisAsyncContext *ac)
{
    char                    *buf;
    size_t                   len;
    ssize_t                  n;
    redisContext            *rc;
    ngx_http_fsauth_conn_t  *conn;

    rc = &ac->c;
    conn = ac->data;
    buf = rc->obuf;

    if (conn == NULL || conn->ssl != NULL || rc->err
        || !(rc->flags & REDIS_CONNECTED) || buf == NULL)
    {
        return NGX_DECLINED;
    }

    len = sdslen(buf);

    if (len == 0) {
        return NGX_OK;
    }

    if (sdsalloc(buf) > NGX_HTTP_FSAUTH_OBUF_KEEP) {
        return NGX_DECLINED;
    }

    n = send(rc->fd, buf, len, 0);

    if (n <= 0) {
        return NGX_DECLINED;
    }

    len -= n;

    if (len) {
        ngx_memmove(buf, buf + n, len);
    }

    sdssetlen(buf, len);
    buf[len] = '\0';

    return len ? NGX_DECLINED : NGX_OK;
}


/*
 * Reply objects of the lookup connection come from a per-process arena
 * instead of one malloc() per element: a reply is a few small objects
 * that all die together when hiredis frees the root after the callback.
 * Only one reply is ever under construction on a connection, and
 * callbacks copy out what they keep, so freeing the root resets the
 * arena.
 *
 * The reply to a lookup (HGETALL) builds no objects at all: each element
 * goes to the record builder as hiredis reads it, and the root handed to
 * the callback is the builder's.
 *
 * Other arrays are bounded here, before any element arrives.  A longer
 * one is still read to its end, so that the connection and the replies
 * queued behind it survive: it is kept without its elements (element ==
 * NULL, "elements" says how many there were).
 */

#define NGX_HTTP_FSAUTH_ARENA_SIZE        32768


typedef struct ngx_http_fsauth_arena_block_s  ngx_http_fsauth_arena_block_t;

struct ngx_http_fsauth_arena_block_s {
    ngx_http_fsauth_arena_block_t  *next;
};


static u_char                          ngx_http_fsauth_arena[
                                           NGX_HTTP_FSAUTH_ARENA_SIZE];
static redisReply                      ngx_http_fsauth_reply_skipped;
static size_t                          ngx_http_fsauth_arena_used;
static ngx_http_fsauth_arena_block_t  *ngx_http_fsauth_arena_extra;
static ngx_http_fsauth_builder_t       ngx_http_fsauth_builder;


static void *
ngx_http_fsauth_arena_alloc(size_t size)
{
    void                           *p;
    ngx_http_fsauth_arena_block_t  *b;

    size = ngx_align(size, sizeof(void *));

    if (ngx_http_fsauth_arena_used + size <= NGX_HTTP_FSAUTH_ARENA_SIZE) {
        p = ngx_http_fsauth_arena + ngx_http_fsauth_arena_used;
        ngx_http_fsauth_arena_used += size;
        return p;
    }

    /* a large reply: its own block, freed with the arena */

    b = malloc(sizeof(ngx_http_fsauth_arena_block_t) + size);
    if (b == NULL) {
        return NULL;
    }

    b->next = ngx_http_fsauth_arena_extra;
    ngx_http_fsauth_arena_extra = b;

    return (u_char *) b + sizeof(ngx_http_fsauth_arena_block_t);
}


ngx_http_fsauth_builder_t *
ngx_http_fsauth_adapter_builder(void)
{
    return &ngx_http_fsauth_builder;
}


/* the element of an array kept without its elements */

static ngx_inline ngx_uint_t
ngx_http_fsauth_reply_skip(const redisReadTask *task)
{
    return task->parent
           && ((redisReply *) task->parent->obj)->element == NULL;
}


/*
 * "extra" bytes follow the object: a string reply's bytes.  Inlined: a
 * call each would cost more than this.
 */

static ngx_inline redisReply *
ngx_http_fsauth_reply_object(const redisReadTask *task, size_t extra)
{
    redisReply  *r, *parent;

    r = ngx_http_fsauth_arena_alloc(sizeof(redisReply) + extra);
    if (r == NULL) {
        return NULL;
    }

    ngx_memzero(r, sizeof(redisReply));
    r->type = task->type;

    if (task->parent) {
        parent = task->parent->obj;
        parent->element[task->idx] = r;
    }

    return r;
}


static void *
ngx_http_fsauth_reply_string(const redisReadTask *task, char *str,
    size_t len)
{
    redisReply  *r;

    if (ngx_http_fsauth_reply_skip(task)) {
        return &ngx_http_fsauth_reply_skipped;
    }

    r = ngx_http_fsauth_reply_object(task, len + 1);
    if (r == NULL) {
        return NULL;
    }

    r->str = (char *) r + sizeof(redisReply);

    ngx_memcpy(r->str, str, len);
    r->str[len] = '\0';
    r->len = len;

    return r;
}


static redisReplyObjectFunctions  ngx_http_fsauth_reply_functions;
static redisReplyObjectFunctions  ngx_http_fsauth_record_functions;
static redisReader               *ngx_http_fsauth_reading;


/* the element count is a size_t in hiredis 1.x, an int in hiredis 0.14 */
static void *
#if (NGX_HTTP_FSAUTH_HIREDIS_V1)
ngx_http_fsauth_reply_array(const redisReadTask *task, size_t elements)
#else
/* hiredis 0.14 passes an int */
ngx_http_fsauth_reply_array(const redisReadTask *task, int elements)
#endif
{
    redisReply         *r;
    redisAsyncContext  *ac;

#if !(NGX_HTTP_FSAUTH_HIREDIS_V1)
    if (elements < 0) {
        return NULL;
    }
#endif

    if (ngx_http_fsauth_reply_skip(task)) {
        return &ngx_http_fsauth_reply_skipped;
    }

    /*
     * A lookup's reply: its elements go to the record builder, through
     * the reader's functions for them, until the reply is freed.
     */

    if (task->parent == NULL && task->type == REDIS_REPLY_ARRAY
        && ngx_http_fsauth_redis_wants_record(task->privdata))
    {
        ac = task->privdata;

        ngx_http_fsauth_builder.alloc = ngx_http_fsauth_arena_alloc;
        ngx_http_fsauth_record_begin(&ngx_http_fsauth_builder, elements);

        ngx_http_fsauth_reading = ac->c.reader;
        ac->c.reader->fn = &ngx_http_fsauth_record_functions;

        return &ngx_http_fsauth_builder;
    }

    r = ngx_http_fsauth_reply_object(task, 0);
    if (r == NULL) {
        return NULL;
    }

    r->elements = elements;

    if ((size_t) elements > NGX_HTTP_FSAUTH_REPLY_ELEMENTS_MAX) {
        return r;
    }

    if (elements > 0) {
        r->element = ngx_http_fsauth_arena_alloc(elements
                                                 * sizeof(redisReply *));
        if (r->element == NULL) {
            return NULL;
        }

        ngx_memzero(r->element, elements * sizeof(redisReply *));
    }

    return r;
}


static void *
ngx_http_fsauth_reply_integer(const redisReadTask *task, long long value)
{
    redisReply  *r;

    if (ngx_http_fsauth_reply_skip(task)) {
        return &ngx_http_fsauth_reply_skipped;
    }

    r = ngx_http_fsauth_reply_object(task, 0);
    if (r == NULL) {
        return NULL;
    }

    r->integer = value;

    return r;
}


static void *
ngx_http_fsauth_reply_nil(const redisReadTask *task)
{
    if (ngx_http_fsauth_reply_skip(task)) {
        return &ngx_http_fsauth_reply_skipped;
    }

    return ngx_http_fsauth_reply_object(task, 0);
}


static void
ngx_http_fsauth_reply_free(void *reply)
{
    ngx_http_fsauth_arena_block_t  *b;

    /* the end of a lookup's reply: ordinary replies follow */

    if (reply == &ngx_http_fsauth_builder && ngx_http_fsauth_reading) {
        ngx_http_fsauth_reading->fn = &ngx_http_fsauth_reply_functions;
        ngx_http_fsauth_reading = NULL;
    }

    while (ngx_http_fsauth_arena_extra) {
        b = ngx_http_fsauth_arena_extra;
        ngx_http_fsauth_arena_extra = b->next;
        free(b);
    }

    ngx_http_fsauth_arena_used = 0;
}


void
ngx_http_fsauth_adapter_use_arena(redisAsyncContext *ac)
{
    /* start from the defaults: RESP3 types, never asked for, keep them */

    ngx_http_fsauth_reply_functions = *ac->c.reader->fn;

    ngx_http_fsauth_reply_functions.createString =
                                                ngx_http_fsauth_reply_string;
    ngx_http_fsauth_reply_functions.createArray = ngx_http_fsauth_reply_array;
    ngx_http_fsauth_reply_functions.createInteger =
                                                ngx_http_fsauth_reply_integer;
    ngx_http_fsauth_reply_functions.createNil = ngx_http_fsauth_reply_nil;
    ngx_http_fsauth_reply_functions.freeObject = ngx_http_fsauth_reply_free;

    ngx_http_fsauth_record_functions = ngx_http_fsauth_reply_functions;
    ngx_http_fsauth_record_reader(&ngx_http_fsauth_record_functions);

    ngx_http_fsauth_reply_free(NULL);
    ngx_http_fsauth_reading = NULL;

    /* the reader asks the connection whether a reply is a lookup's */

    ac->c.reader->privdata = ac;
    ac->c.reader->fn = &ngx_http_fsauth_reply_functions;
}
