
/*
 * Copyright (C) fsauth authors
 * BSD-2-Clause, see LICENSE.
 */


#include "ngx_http_fsauth_module.h"


static void *ngx_http_fsauth_create_main_conf(ngx_conf_t *cf);
static void *ngx_http_fsauth_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_fsauth_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_fsauth_global_key(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_fsauth_global_key_file(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_fsauth_token_header(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_fsauth_resource(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_fsauth_realm(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_fsauth_activity(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_fsauth_set_enum(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_fsauth_ban(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_fsauth_set_global_key(ngx_conf_t *cf,
    ngx_http_fsauth_loc_conf_t *flcf, ngx_str_t *key, ngx_str_t *name,
    ngx_str_t *file);
static ngx_int_t ngx_http_fsauth_preconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_http_fsauth_init(ngx_conf_t *cf);
static void ngx_http_fsauth_phase_after_realip(ngx_http_core_main_conf_t *cmcf);
static ngx_int_t ngx_http_fsauth_init_process(ngx_cycle_t *cycle);
static void ngx_http_fsauth_exit_process(ngx_cycle_t *cycle);


static ngx_conf_enum_t  ngx_http_fsauth_preflight_modes[] = {
    { ngx_string("pass"), NGX_HTTP_FSAUTH_PREFLIGHT_PASS },
    { ngx_string("auth"), NGX_HTTP_FSAUTH_PREFLIGHT_AUTH },
    { ngx_null_string, 0 }
};


static ngx_conf_enum_t  ngx_http_fsauth_phases[] = {
    { ngx_string("access"), NGX_HTTP_FSAUTH_PHASE_ACCESS },
    { ngx_string("preaccess"), NGX_HTTP_FSAUTH_PHASE_PREACCESS },
    { ngx_null_string, 0 }
};


static ngx_conf_enum_t  ngx_http_fsauth_failure_modes[] = {
    { ngx_string("stale"), NGX_HTTP_FSAUTH_FAIL_STALE },
    { ngx_string("closed"), NGX_HTTP_FSAUTH_FAIL_CLOSED },
    { ngx_string("open"), NGX_HTTP_FSAUTH_FAIL_OPEN },
    { ngx_null_string, 0 }
};


static ngx_command_t  ngx_http_fsauth_commands[] = {

    { ngx_string("fsauth"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_fsauth_loc_conf_t, enable),
      NULL },

    { ngx_string("fsauth_redis"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_fsauth_redis_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("fsauth_cache"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_fsauth_cache_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("fsauth_ban"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE123,
      ngx_http_fsauth_ban,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("fsauth_global_key"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_fsauth_global_key,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("fsauth_global_key_file"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_fsauth_global_key_file,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("fsauth_token_header"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_fsauth_token_header,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("fsauth_resource"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_fsauth_resource,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("fsauth_api"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_fsauth_loc_conf_t, api),
      NULL },

    { ngx_string("fsauth_preflight"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_fsauth_set_enum,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_fsauth_loc_conf_t, preflight),
      &ngx_http_fsauth_preflight_modes },

    { ngx_string("fsauth_phase"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_fsauth_set_enum,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_fsauth_loc_conf_t, phase),
      &ngx_http_fsauth_phases },

    { ngx_string("fsauth_failure_mode"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_fsauth_set_enum,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_fsauth_loc_conf_t, failure_mode),
      &ngx_http_fsauth_failure_modes },

    { ngx_string("fsauth_activity"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_http_fsauth_activity,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("fsauth_hide_credentials"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_fsauth_loc_conf_t, hide_credentials),
      NULL },

    { ngx_string("fsauth_metrics"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_fsauth_metrics_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("fsauth_realm"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_fsauth_realm,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_fsauth_module_ctx = {
    ngx_http_fsauth_preconfiguration,      /* preconfiguration */
    ngx_http_fsauth_init,                  /* postconfiguration */

    ngx_http_fsauth_create_main_conf,      /* create main configuration */
    NULL,                                  /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_fsauth_create_loc_conf,       /* create location configuration */
    ngx_http_fsauth_merge_loc_conf         /* merge location configuration */
};


ngx_module_t  ngx_http_fsauth_module = {
    NGX_MODULE_V1,
    &ngx_http_fsauth_module_ctx,           /* module context */
    ngx_http_fsauth_commands,              /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_fsauth_init_process,          /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_fsauth_exit_process,          /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_http_fsauth_header_t  ngx_http_fsauth_default_headers[] = {
    { ngx_string("x-auth-token"), 0 },
    { ngx_string("token"), 0 }
};


static void *
ngx_http_fsauth_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_fsauth_main_conf_t  *fmcf;

    fmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_fsauth_main_conf_t));
    if (fmcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     fmcf->redis = NULL;
     *     fmcf->bodies = { { 0, NULL }, ... };
     */

    return fmcf;
}


static void *
ngx_http_fsauth_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_fsauth_loc_conf_t  *flcf;

    flcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_fsauth_loc_conf_t));
    if (flcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     flcf->resource = NULL;
     *     flcf->global_key = { 0, NULL };
     *     flcf->realm = { 0, NULL };
     *     flcf->www_authenticate = { 0, NULL };
     */

    flcf->enable = NGX_CONF_UNSET;
    flcf->api = NGX_CONF_UNSET;
    flcf->preflight = NGX_CONF_UNSET_UINT;
    flcf->phase = NGX_CONF_UNSET_UINT;
    flcf->failure_mode = NGX_CONF_UNSET_UINT;
    flcf->hide_credentials = NGX_CONF_UNSET;
    flcf->activity = NGX_CONF_UNSET;
    flcf->activity_interval = NGX_CONF_UNSET_MSEC;
    flcf->token_headers = NGX_CONF_UNSET_PTR;
    flcf->ban_threshold = NGX_CONF_UNSET_UINT;
    flcf->ban_window = NGX_CONF_UNSET_MSEC;
    flcf->ban_ipv6_prefix = NGX_CONF_UNSET_UINT;

    return flcf;
}


static char *
ngx_http_fsauth_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_fsauth_loc_conf_t *prev = parent;
    ngx_http_fsauth_loc_conf_t *conf = child;

    u_char                    *p;
    ngx_uint_t                 i;
    ngx_http_fsauth_header_t  *h;

    ngx_conf_merge_value(conf->enable, prev->enable, 0);
    ngx_conf_merge_value(conf->api, prev->api, 1);
    ngx_conf_merge_uint_value(conf->preflight, prev->preflight,
                              NGX_HTTP_FSAUTH_PREFLIGHT_PASS);
    ngx_conf_merge_uint_value(conf->phase, prev->phase,
                              NGX_HTTP_FSAUTH_PHASE_ACCESS);
    ngx_conf_merge_uint_value(conf->failure_mode, prev->failure_mode,
                              NGX_HTTP_FSAUTH_FAIL_STALE);
    ngx_conf_merge_value(conf->hide_credentials, prev->hide_credentials, 0);
    ngx_conf_merge_value(conf->activity, prev->activity, 1);
    ngx_conf_merge_msec_value(conf->activity_interval,
                              prev->activity_interval, 60000);
    ngx_conf_merge_uint_value(conf->ban_threshold, prev->ban_threshold, 5);
    ngx_conf_merge_msec_value(conf->ban_window, prev->ban_window, 600000);
    ngx_conf_merge_uint_value(conf->ban_ipv6_prefix, prev->ban_ipv6_prefix,
                              64);

    if (conf->token_headers == NGX_CONF_UNSET_PTR) {
        if (prev->token_headers == NGX_CONF_UNSET_PTR) {
            prev->token_headers = ngx_array_create(cf->pool, 2,
                                           sizeof(ngx_http_fsauth_header_t));
            if (prev->token_headers == NULL) {
                return NGX_CONF_ERROR;
            }

            for (i = 0; i < 2; i++) {
                h = ngx_array_push(prev->token_headers);
                if (h == NULL) {
                    return NGX_CONF_ERROR;
                }

                *h = ngx_http_fsauth_default_headers[i];
                h->hash = ngx_hash_key(h->name.data, h->name.len);
            }
        }

        conf->token_headers = prev->token_headers;
    }

    if (conf->resource == NULL) {
        conf->resource = prev->resource;
    }

    if (conf->global_key.data == NULL) {
        conf->global_key = prev->global_key;
    }

    if (conf->realm.data == NULL) {
        conf->realm = prev->realm;
        conf->www_authenticate = prev->www_authenticate;
    }

    if (conf->realm.data == NULL) {
        ngx_str_set(&conf->realm, "FacturaScripts API");
    }

    if (conf->www_authenticate.data == NULL) {

        /* Token realm="<realm>", quotes and backslashes escaped */

        p = ngx_pnalloc(cf->pool, sizeof("Token realm=\"\"") - 1
                                  + 2 * conf->realm.len);
        if (p == NULL) {
            return NGX_CONF_ERROR;
        }

        conf->www_authenticate.data = p;
        p = ngx_cpymem(p, "Token realm=\"", sizeof("Token realm=\"") - 1);

        for (i = 0; i < conf->realm.len; i++) {
            if (conf->realm.data[i] == '"' || conf->realm.data[i] == '\\') {
                *p++ = '\\';
            }

            *p++ = conf->realm.data[i];
        }

        *p++ = '"';
        conf->www_authenticate.len = p - conf->www_authenticate.data;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_fsauth_global_key(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_fsauth_loc_conf_t *flcf = conf;

    ngx_str_t  *value;

    if (flcf->global_key.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_http_fsauth_set_global_key(cf, flcf, &value[1], &cmd->name,
                                       NULL)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_fsauth_global_key_file(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_fsauth_loc_conf_t *flcf = conf;

    ngx_str_t  *value, key;

    if (flcf->global_key.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_http_fsauth_read_secret(cf, &cmd->name, &value[1],
                                    NGX_HTTP_FSAUTH_TOKEN_MAX, "key", &key)
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_fsauth_set_global_key(cf, flcf, &key, &cmd->name, &value[1])
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * The first line of a secret file (fsauth_global_key_file, password_file=),
 * trimmed of blanks, copied into the pool; the read buffer is wiped.  A
 * line longer than max is refused, never cut short.  An empty secret is
 * returned empty: the caller says why that is wrong.  "path" is made a
 * full name, for the caller's messages.
 */

ngx_int_t
ngx_http_fsauth_read_secret(ngx_conf_t *cf, ngx_str_t *name,
    ngx_str_t *path, size_t max, const char *what, ngx_str_t *secret)
{
    u_char     *p, *start, *last, buf[NGX_HTTP_FSAUTH_PASSWORD_MAX + 1];
    ssize_t     n;
    ngx_fd_t    fd;
    ngx_int_t   rc;

    if (max > NGX_HTTP_FSAUTH_PASSWORD_MAX) {
        return NGX_ERROR;
    }

    if (ngx_conf_full_name(cf->cycle, path, 1) != NGX_OK) {
        return NGX_ERROR;
    }

    fd = ngx_open_file(path->data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "%V: " ngx_open_file_n " \"%s\" failed",
                           name, path->data);
        return NGX_ERROR;
    }

    n = ngx_read_fd(fd, buf, max + 1);

    if (ngx_close_file(fd) == NGX_FILE_ERROR) {
        ngx_conf_log_error(NGX_LOG_ALERT, cf, ngx_errno,
                           ngx_close_file_n " \"%s\" failed", path->data);
    }

    rc = NGX_ERROR;

    if (n == -1) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "%V: " ngx_read_fd_n " \"%s\" failed",
                           name, path->data);
        goto done;
    }

    start = buf;
    last = buf + n;

    for (p = start; p < last && *p != LF && *p != CR; p++) {
        /* void */
    }

    if (p == last && (size_t) n == max + 1) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "%V: the %s in \"%s\" is longer than %uz bytes",
                           name, what, path->data, max);
        goto done;
    }

    while (start < p && (*start == ' ' || *start == '\t')) {
        start++;
    }

    while (p > start && (p[-1] == ' ' || p[-1] == '\t')) {
        p--;
    }

    secret->len = p - start;
    secret->data = ngx_pnalloc(cf->pool, secret->len + 1);
    if (secret->data == NULL) {
        goto done;
    }

    ngx_memcpy(secret->data, start, secret->len);
    rc = NGX_OK;

done:

    ngx_explicit_memzero(buf, sizeof(buf));

    return rc;
}


static ngx_int_t
ngx_http_fsauth_set_global_key(ngx_conf_t *cf,
    ngx_http_fsauth_loc_conf_t *flcf, ngx_str_t *key, ngx_str_t *name,
    ngx_str_t *file)
{
    ngx_str_t  where;

    /* the key itself is never echoed */

    where.len = 0;
    where.data = (u_char *) "";

    if (key->len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%V: empty key%s%V%s",
                           name, file ? " in \"" : "",
                           file ? file : &where, file ? "\"" : "");
        return NGX_ERROR;
    }

    if (ngx_http_fsauth_token_valid(key->data, key->len) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "%V: invalid key%s%V%s, it must be 1 to %d bytes "
                           "in 0x21..0x7e and not \"0\"", name,
                           file ? " in \"" : "", file ? file : &where,
                           file ? "\"" : "", NGX_HTTP_FSAUTH_TOKEN_MAX);
        return NGX_ERROR;
    }

    flcf->global_key.data = ngx_pnalloc(cf->pool, key->len);
    if (flcf->global_key.data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(flcf->global_key.data, key->data, key->len);
    flcf->global_key.len = key->len;

    return NGX_OK;
}


static char *
ngx_http_fsauth_token_header(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_fsauth_loc_conf_t *flcf = conf;

    ngx_str_t                 *value;
    ngx_uint_t                 i, j;
    ngx_http_fsauth_header_t  *h;

    if (flcf->token_headers != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    flcf->token_headers = ngx_array_create(cf->pool, cf->args->nelts - 1,
                                           sizeof(ngx_http_fsauth_header_t));
    if (flcf->token_headers == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        for (j = 0; j < value[i].len; j++) {
            if (value[i].data[j] <= ' ' || value[i].data[j] >= 0x7f
                || value[i].data[j] == ':')
            {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "fsauth_token_header: invalid header "
                                   "name \"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }
        }

        if (value[i].len == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "fsauth_token_header: empty header name");
            return NGX_CONF_ERROR;
        }

        h = ngx_array_push(flcf->token_headers);
        if (h == NULL) {
            return NGX_CONF_ERROR;
        }

        h->name.len = value[i].len;
        h->name.data = ngx_pnalloc(cf->pool, h->name.len);
        if (h->name.data == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_strlow(h->name.data, value[i].data, h->name.len);
        h->hash = ngx_hash_key(h->name.data, h->name.len);
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_fsauth_resource(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_fsauth_loc_conf_t *flcf = conf;

    ngx_str_t                         *value;
    ngx_http_compile_complex_value_t   ccv;

    if (flcf->resource) {
        return "is duplicate";
    }

    value = cf->args->elts;

    flcf->resource = ngx_palloc(cf->pool, sizeof(ngx_http_complex_value_t));
    if (flcf->resource == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&ccv, sizeof(ngx_http_compile_complex_value_t));

    ccv.cf = cf;
    ccv.value = &value[1];
    ccv.complex_value = flcf->resource;

    if (ngx_http_compile_complex_value(&ccv) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_fsauth_realm(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_fsauth_loc_conf_t *flcf = conf;

    ngx_str_t   *value;
    ngx_uint_t   i;

    if (flcf->realm.data) {
        return "is duplicate";
    }

    value = cf->args->elts;

    for (i = 0; i < value[1].len; i++) {
        if (value[1].data[i] < 0x20 || value[1].data[i] == 0x7f) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "fsauth_realm: invalid realm \"%V\"",
                               &value[1]);
            return NGX_CONF_ERROR;
        }
    }

    flcf->realm = value[1];

    return NGX_CONF_OK;
}


/* fsauth_ban THRESHOLD WINDOW [ipv6_prefix=N] | off */

static char *
ngx_http_fsauth_ban(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_fsauth_loc_conf_t *flcf = conf;

    ngx_int_t   n;
    ngx_str_t  *value, s;

    if (flcf->ban_threshold != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    /* set here, not inherited: the directive is overridden as a whole */

    flcf->ban_ipv6_prefix = 64;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        if (cf->args->nelts != 2) {
            goto invalid;
        }

        flcf->ban_threshold = 0;
        flcf->ban_window = 0;
        return NGX_CONF_OK;
    }

    if (cf->args->nelts == 2) {
        goto invalid;
    }

    n = ngx_atoi(value[1].data, value[1].len);
    if (n < 1 || n > 32) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "fsauth_ban: threshold \"%V\" must be 1 to 32",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    flcf->ban_threshold = n;

    flcf->ban_window = ngx_parse_time(&value[2], 0);
    if (flcf->ban_window == (ngx_msec_t) NGX_ERROR
        || flcf->ban_window == 0)
    {
        goto invalid;
    }

    if (cf->args->nelts == 3) {
        return NGX_CONF_OK;
    }

    if (ngx_strncmp(value[3].data, "ipv6_prefix=", 12) != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\" of fsauth_ban",
                           &value[3]);
        return NGX_CONF_ERROR;
    }

    s.data = value[3].data + 12;
    s.len = value[3].len - 12;

    n = ngx_atoi(s.data, s.len);
    if (n < 1 || n > 128) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "fsauth_ban: ipv6_prefix \"%V\" must be 1 to 128",
                           &s);
        return NGX_CONF_ERROR;
    }

    flcf->ban_ipv6_prefix = n;

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid value in fsauth_ban, it must be "
                       "\"THRESHOLD WINDOW [ipv6_prefix=N]\" or \"off\"");
    return NGX_CONF_ERROR;
}


/* ngx_conf_set_enum_slot(), with a message that names the directive */

static char *
ngx_http_fsauth_set_enum(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    char  *p = conf;

    ngx_str_t        *value;
    ngx_uint_t       *np;
    ngx_conf_enum_t  *e;

    np = (ngx_uint_t *) (p + cmd->offset);

    if (*np != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    for (e = cmd->post; e->name.len; e++) {
        if (e->name.len == value[1].len
            && ngx_strcmp(e->name.data, value[1].data) == 0)
        {
            *np = e->value;
            return NGX_CONF_OK;
        }
    }

    e = cmd->post;

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid value \"%V\" in \"%V\" directive, it must "
                       "be \"%V\"%s\"%V\"%s%s%V%s", &value[1], &cmd->name,
                       &e[0].name, e[2].name.len ? ", " : " or ",
                       &e[1].name, e[2].name.len ? " or " : "",
                       e[2].name.len ? "\"" : "", &e[2].name,
                       e[2].name.len ? "\"" : "");

    return NGX_CONF_ERROR;
}


static char *
ngx_http_fsauth_activity(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_fsauth_loc_conf_t *flcf = conf;

    ngx_str_t  *value, s;

    if (flcf->activity != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "on") == 0) {
        flcf->activity = 1;

    } else if (ngx_strcmp(value[1].data, "off") == 0) {
        flcf->activity = 0;

    } else {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\" in fsauth_activity, it "
                           "must be \"on\" or \"off\"", &value[1]);
        return NGX_CONF_ERROR;
    }

    if (cf->args->nelts == 3) {
        if (ngx_strncmp(value[2].data, "interval=", 9) != 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\" of "
                               "fsauth_activity", &value[2]);
            return NGX_CONF_ERROR;
        }

        s.data = value[2].data + 9;
        s.len = value[2].len - 9;

        flcf->activity_interval = ngx_parse_time(&s, 0);
        if (flcf->activity_interval == (ngx_msec_t) NGX_ERROR
            || flcf->activity_interval == 0)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid interval \"%V\" in "
                               "fsauth_activity", &value[2]);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_fsauth_preconfiguration(ngx_conf_t *cf)
{
    return ngx_http_fsauth_variables_add(cf);
}


static ngx_int_t
ngx_http_fsauth_init(ngx_conf_t *cf)
{
    ngx_array_t                  *a;
    ngx_http_handler_pt          *h;
    ngx_http_core_main_conf_t    *cmcf;
    ngx_http_fsauth_main_conf_t  *fmcf;

    fmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_fsauth_module);

    if (ngx_http_fsauth_response_init(cf, fmcf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_fsauth_metrics_add_zone(cf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (fmcf->cache) {
        ngx_http_fsauth_cache_set_fingerprint(fmcf->cache, fmcf->redis);

        if (fmcf->redis) {
            fmcf->redis->cache = fmcf->cache;
        }
    }

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    /*
     * Handlers of a phase run in reverse order of registration, and a
     * dynamic module registers after the static ones.  In the access
     * phase fsauth goes first in the array, so it runs last: allow/deny,
     * auth_basic and auth_request decide before any token is looked at,
     * and "satisfy any" can grant access without one.  In the preaccess
     * phase it goes last, so it runs first: limit_req and limit_conn then
     * see $fsauth_key_id.  Each location runs it in one of the two.
     */

    a = &cmcf->phases[NGX_HTTP_ACCESS_PHASE].handlers;

    h = ngx_array_push(a);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h = a->elts;
    ngx_memmove(&h[1], &h[0], (a->nelts - 1) * sizeof(ngx_http_handler_pt));
    h[0] = ngx_http_fsauth_access_handler;

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_PREACCESS_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_fsauth_preaccess_handler;

    ngx_http_fsauth_phase_after_realip(cmcf);

    return NGX_OK;
}


/*
 * realip applies set_real_ip_from / real_ip_header of http and server in
 * the post-read phase, but those of a location only in the preaccess
 * phase, where fsauth (pushed last) would otherwise run first and decide
 * with the proxy's address.  realip's handler is the one found in both
 * phases; it is moved to the end of the preaccess array, so it runs just
 * before fsauth.  It applies itself once per request, whichever phase
 * runs it first.
 */

static void
ngx_http_fsauth_phase_after_realip(ngx_http_core_main_conf_t *cmcf)
{
    ngx_uint_t            i, j, n;
    ngx_http_handler_pt  *pre, *post, h;

    post = cmcf->phases[NGX_HTTP_POST_READ_PHASE].handlers.elts;
    pre = cmcf->phases[NGX_HTTP_PREACCESS_PHASE].handlers.elts;
    n = cmcf->phases[NGX_HTTP_PREACCESS_PHASE].handlers.nelts;

    for (i = 0; i + 1 < n; i++) {

        for (j = 0;
             j < cmcf->phases[NGX_HTTP_POST_READ_PHASE].handlers.nelts;
             j++)
        {
            if (post[j] == pre[i]) {
                break;
            }
        }

        if (j == cmcf->phases[NGX_HTTP_POST_READ_PHASE].handlers.nelts) {
            continue;
        }

        h = pre[i];
        ngx_memmove(&pre[i], &pre[i + 1],
                    (n - i - 1) * sizeof(ngx_http_handler_pt));
        pre[n - 1] = h;
        return;
    }
}


static ngx_int_t
ngx_http_fsauth_init_process(ngx_cycle_t *cycle)
{
    ngx_http_fsauth_main_conf_t  *fmcf;

    /* cache manager and loader processes run init_process too */

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    fmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_fsauth_module);

    if (fmcf == NULL || fmcf->redis == NULL) {
        return NGX_OK;
    }

    if (ngx_http_fsauth_lookup_init_worker(cycle) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_http_fsauth_metrics_claim();

    return ngx_http_fsauth_redis_init_worker(cycle, fmcf->redis);
}


static void
ngx_http_fsauth_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_fsauth_main_conf_t  *fmcf;

    fmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_fsauth_module);

    if (fmcf == NULL || fmcf->redis == NULL) {
        return;
    }

    /* answers the fetches on the wire first: then they can be freed */

    ngx_http_fsauth_redis_exit_worker(fmcf->redis);
    ngx_http_fsauth_lookup_exit_worker();
    ngx_http_fsauth_metrics_release();
}
