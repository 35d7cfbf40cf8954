
/*
 * Copyright (C) fsauth authors
 * BSD-2-Clause, see LICENSE.
 */


#include "ngx_http_fsauth_module.h"

#include <jansson.h>


typedef struct {
    ngx_uint_t   status;
    char        *message;
} ngx_http_fsauth_error_t;


/* indexed by ngx_http_fsauth_err_e; texts are the backend's (en) */
static ngx_http_fsauth_error_t  ngx_http_fsauth_errors[] = {
    { NGX_HTTP_UNAUTHORIZED, "Invalid auth token" },
    { NGX_HTTP_FORBIDDEN, "Forbidden" },
    { NGX_HTTP_FORBIDDEN,
      "API disabled. You can activate it from application preferences." },
    { NGX_HTTP_TOO_MANY_REQUESTS,
      "For security reasons, access from your IP has been blocked "
      "for 10 minutes." },
    { NGX_HTTP_SERVICE_UNAVAILABLE, "Authentication service unavailable" }
};


static ngx_str_t  ngx_http_fsauth_json_type = ngx_string("application/json");


/*
 * The bodies never change, so they are rendered once with jansson at
 * configuration time and kept in the configuration pool; no jansson
 * object or allocator hook lives at run time.
 */

ngx_int_t
ngx_http_fsauth_response_init(ngx_conf_t *cf,
    ngx_http_fsauth_main_conf_t *fmcf)
{
    char        *s;
    size_t       len;
    json_t      *obj;
    ngx_uint_t   i;

    for (i = 0; i < NGX_HTTP_FSAUTH_ERR_LAST; i++) {

        obj = json_pack("{s:s, s:s}", "status", "error",
                        "message", ngx_http_fsauth_errors[i].message);
        if (obj == NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "fsauth: json_pack() failed");
            return NGX_ERROR;
        }

        s = json_dumps(obj, JSON_COMPACT|JSON_PRESERVE_ORDER);
        json_decref(obj);

        if (s == NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "fsauth: json_dumps() failed");
            return NGX_ERROR;
        }

        len = ngx_strlen(s);

        fmcf->bodies[i].data = ngx_pnalloc(cf->pool, len);
        if (fmcf->bodies[i].data == NULL) {
            free(s);
            return NGX_ERROR;
        }

        ngx_memcpy(fmcf->bodies[i].data, s, len);
        fmcf->bodies[i].len = len;

        free(s);
    }

    return NGX_OK;
}


/*
 * Sends an error from the access phase.  Returns what the caller passes
 * to ngx_http_finalize_request(); the handler then returns NGX_DONE.
 */

ngx_int_t
ngx_http_fsauth_response_send(ngx_http_request_t *r, ngx_uint_t err)
{
    ngx_int_t                     rc;
    ngx_buf_t                    *b;
    ngx_chain_t                   out;
    ngx_table_elt_t              *h;
    ngx_http_fsauth_loc_conf_t   *flcf;
    ngx_http_fsauth_main_conf_t  *fmcf;

    fmcf = ngx_http_get_module_main_conf(r, ngx_http_fsauth_module);
    flcf = ngx_http_get_module_loc_conf(r, ngx_http_fsauth_module);

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    /*
     * A refusal is never shown with the status of an error_page that
     * redirected here ("error_page 404 /api/..." would turn it into 404).
     */

    r->err_status = 0;
    r->headers_out.status = ngx_http_fsauth_errors[err].status;
    r->headers_out.content_type = ngx_http_fsauth_json_type;
    r->headers_out.content_type_len = ngx_http_fsauth_json_type.len;
    r->headers_out.content_type_lowcase = NULL;
    r->headers_out.content_length_n = fmcf->bodies[err].len;

    if (r->headers_out.content_length) {
        r->headers_out.content_length->hash = 0;
        r->headers_out.content_length = NULL;
    }

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Cache-Control");
    ngx_str_set(&h->value, "no-store");
#if (nginx_version >= 1023000)
    h->next = NULL;
#endif

    if (err == NGX_HTTP_FSAUTH_ERR_UNAUTHORIZED) {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "WWW-Authenticate");
        h->value = flcf->www_authenticate;
#if (nginx_version >= 1023000)
        h->next = NULL;
#endif
        r->headers_out.www_authenticate = h;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->pos = fmcf->bodies[err].data;
    b->last = b->pos + fmcf->bodies[err].len;
    b->memory = 1;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}
