
/*
 * Copyright (C) fsauth authors
 * BSD-2-Clause, see LICENSE.
 */


#include "ngx_http_fsauth_module.h"


static ngx_int_t ngx_http_fsauth_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


#define NGX_HTTP_FSAUTH_VAR_STATUS        0
#define NGX_HTTP_FSAUTH_VAR_KEY_ID        1
#define NGX_HTTP_FSAUTH_VAR_NICK          2
#define NGX_HTTP_FSAUTH_VAR_RESOURCE      3
#define NGX_HTTP_FSAUTH_VAR_FULL_ACCESS   4
#define NGX_HTTP_FSAUTH_VAR_CACHE_STATUS  5


/* not cacheable: a check run again after a redirect changes them */
#define ngx_http_fsauth_variable_entry(name, index)                           \
    { ngx_string(name), NULL, ngx_http_fsauth_variable, index,                \
      NGX_HTTP_VAR_NOCACHEABLE, 0 }


static ngx_http_variable_t  ngx_http_fsauth_vars[] = {

    ngx_http_fsauth_variable_entry("fsauth_status",
                                   NGX_HTTP_FSAUTH_VAR_STATUS),
    ngx_http_fsauth_variable_entry("fsauth_key_id",
                                   NGX_HTTP_FSAUTH_VAR_KEY_ID),
    ngx_http_fsauth_variable_entry("fsauth_nick",
                                   NGX_HTTP_FSAUTH_VAR_NICK),
    ngx_http_fsauth_variable_entry("fsauth_resource",
                                   NGX_HTTP_FSAUTH_VAR_RESOURCE),
    ngx_http_fsauth_variable_entry("fsauth_full_access",
                                   NGX_HTTP_FSAUTH_VAR_FULL_ACCESS),
    ngx_http_fsauth_variable_entry("fsauth_cache_status",
                                   NGX_HTTP_FSAUTH_VAR_CACHE_STATUS),

    ngx_http_null_variable
};


/* indexed by ngx_http_fsauth_status_e */
static ngx_str_t  ngx_http_fsauth_status_names[] = {
    ngx_null_string,
    ngx_string("granted"),
    ngx_string("global"),
    ngx_string("preflight"),
    ngx_string("unauthorized"),
    ngx_string("forbidden"),
    ngx_string("disabled"),
    ngx_string("banned"),
    ngx_string("unavailable"),
    ngx_string("open")
};


/* indexed by ngx_http_fsauth_cache_status_e */
static ngx_str_t  ngx_http_fsauth_cache_names[] = {
    ngx_null_string,
    ngx_string("HIT"),
    ngx_string("MISS"),
    ngx_string("STALE"),
    ngx_string("NEGATIVE"),
    ngx_string("BYPASS")
};


ngx_int_t
ngx_http_fsauth_variables_add(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_fsauth_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_fsauth_variable(ngx_http_request_t *r, ngx_http_variable_value_t *v,
    uintptr_t data)
{
    u_char                 *p;
    ngx_str_t              *s;
    ngx_http_fsauth_ctx_t  *ctx;

    ctx = ngx_http_fsauth_get_ctx(r);

    if (ctx == NULL || ctx->status == NGX_HTTP_FSAUTH_ST_NONE) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    switch (data) {

    case NGX_HTTP_FSAUTH_VAR_STATUS:
        s = &ngx_http_fsauth_status_names[ctx->status];
        v->len = s->len;
        v->data = s->data;
        break;

    case NGX_HTTP_FSAUTH_VAR_KEY_ID:
        if (ctx->key_id <= 0) {
            v->len = 0;
            v->data = (u_char *) "";
            break;
        }

        p = ngx_pnalloc(r->pool, NGX_INT_T_LEN);
        if (p == NULL) {
            return NGX_ERROR;
        }

        v->len = ngx_sprintf(p, "%i", ctx->key_id) - p;
        v->data = p;
        break;

    case NGX_HTTP_FSAUTH_VAR_NICK:
        v->len = ctx->nick.len;
        v->data = ctx->nick.data ? ctx->nick.data : (u_char *) "";
        break;

    case NGX_HTTP_FSAUTH_VAR_RESOURCE:
        v->len = ctx->resource.len;
        v->data = ctx->resource.data ? ctx->resource.data : (u_char *) "";
        break;

    case NGX_HTTP_FSAUTH_VAR_FULL_ACCESS:
        v->len = 1;
        v->data = (u_char *) (ctx->full_access ? "1" : "0");
        break;

    default: /* NGX_HTTP_FSAUTH_VAR_CACHE_STATUS */
        s = &ngx_http_fsauth_cache_names[ctx->cache_status];
        v->len = s->len;
        v->data = s->data;
        break;
    }

    return NGX_OK;
}
