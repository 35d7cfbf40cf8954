
/*
 * Copyright (C) fsauth authors
 * BSD-2-Clause, see LICENSE.
 */


#include "ngx_http_fsauth_module.h"
#include "ngx_http_fsauth_redis.h"

#include <sys/ioctl.h>


static void ngx_http_fsauth_adapter_add_read(void *data);
static void ngx_http_fsauth_adapter_del_read(void *data);
static void ngx_http_fsauth_adapter_add_write(void *data);
static void ngx_http_fsauth_adapter_del_write(void *data);
static void ngx_http_fsauth_adapter_cleanup(void *data);
static void ngx_http_fsauth_adapter_read(ngx_event_t *rev);
static void ngx_http_fsauth_adapter_write(ngx_event_t *wev);


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
    /* timeouts are nginx timers owned by the module */
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

    if (c->data) {
        redisAsyncHandleWrite(c->data);
    }
}
