
/*
 * Copyright (C) fsauth authors
 * BSD-2-Clause, see LICENSE.
 */


/*
 * fsauthctl: what secures the Redis connection.  The password comes from
 * -a FILE or from FSAUTHCTL_PASSWORD, never from the command line (other
 * users can read it in ps); --user names an ACL user; --tls speaks TLS,
 * built only where hiredis has its hiredis_ssl library.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>

#include "fsauthctl.h"

#if (FSAUTHCTL_TLS)
#include <hiredis/hiredis_ssl.h>
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "fsauth_tls.h"
#endif


#define FSAUTHCTL_PASSWORD_ENV  "FSAUTHCTL_PASSWORD"


/* after option parsing: options that only make sense together */

int
fsauthctl_secure_check(const fsauthctl_cmd_t *cmd, fsauthctl_t *ctl)
{
    const char  *opt;

    if (ctl->user && ctl->user[0] == '\0') {
        return fsauthctl_opt_usage(cmd, "empty user name");
    }

    opt = ctl->cacert ? "--cacert" : ctl->cert ? "--cert"
          : ctl->key ? "--key" : ctl->sni ? "--sni" : NULL;

    if (!ctl->tls) {
        if (opt) {
            return fsauthctl_opt_usage(cmd, "%s needs --tls", opt);
        }

        return FSAUTHCTL_OK;
    }

#if !(FSAUTHCTL_TLS)

    return fsauthctl_opt_usage(cmd, "--tls: this fsauthctl is built without "
                               "TLS: hiredis_ssl (hiredis 1.0 or later) "
                               "was missing");

#else

    if (ctl->socket) {
        return fsauthctl_opt_usage(cmd, "--tls needs host and port, not a "
                                   "unix socket");
    }

    if ((ctl->cert == NULL) != (ctl->key == NULL)) {
        return fsauthctl_opt_usage(cmd, "--cert and --key go together");
    }

    return FSAUTHCTL_OK;

#endif
}


/* *password: NULL (no AUTH) or the secret, to be wiped and freed */

int
fsauthctl_secure_password(fsauthctl_t *ctl, char **password)
{
    const char  *env;

    *password = NULL;

    if (ctl->password_file) {
        return fsauthctl_read_secret(ctl->password_file, "password file",
                                     password);
    }

    env = getenv(FSAUTHCTL_PASSWORD_ENV);

    if (env && env[0] != '\0') {
        *password = fsauthctl_strdup(env);
        return FSAUTHCTL_OK;
    }

    if (ctl->user) {
        return fsauthctl_error("--user %s needs a password: -a FILE or "
                               FSAUTHCTL_PASSWORD_ENV, ctl->user);
    }

    return FSAUTHCTL_OK;
}


#if (FSAUTHCTL_TLS)

/*
 * TLS on a connected context: the handshake runs here, bounded by the
 * context's timeout.  A refused certificate says why, in one line.
 */

int
fsauthctl_secure_tls(fsauthctl_t *ctl, redisContext *c, char *why_buf,
    size_t size)
{
    int                 ip;
    SSL                *ssl;
    SSL_CTX            *sctx;
    const char         *name, *why;
    unsigned char       buf[16];

    if (!ctl->tls) {
        return FSAUTHCTL_OK;
    }

    ssl = NULL;
    why = NULL;

    ERR_clear_error();

    sctx = SSL_CTX_new(TLS_client_method());
    if (sctx == NULL) {
        why = fsauth_tls_errstr();
        goto failed;
    }

    (void) SSL_CTX_set_min_proto_version(sctx, TLS1_2_VERSION);

    if (ctl->cacert) {
        if (SSL_CTX_load_verify_locations(sctx, ctl->cacert, NULL) != 1) {
            fsauthctl_error("--cacert %s: %s", ctl->cacert,
                            fsauth_tls_errstr());
            SSL_CTX_free(sctx);
            return FSAUTHCTL_ERROR;
        }

    } else if (SSL_CTX_set_default_verify_paths(sctx) != 1) {
        why = fsauth_tls_errstr();
        goto failed;
    }

    SSL_CTX_set_verify(sctx, SSL_VERIFY_PEER, NULL);

    if (ctl->cert) {
        if (SSL_CTX_use_certificate_chain_file(sctx, ctl->cert) != 1) {
            fsauthctl_error("--cert %s: %s", ctl->cert,
                            fsauth_tls_errstr());
            SSL_CTX_free(sctx);
            return FSAUTHCTL_ERROR;
        }

        if (SSL_CTX_use_PrivateKey_file(sctx, ctl->key, SSL_FILETYPE_PEM)
            != 1
            || SSL_CTX_check_private_key(sctx) != 1)
        {
            fsauthctl_error("--key %s: %s", ctl->key,
                            fsauth_tls_errstr());
            SSL_CTX_free(sctx);
            return FSAUTHCTL_ERROR;
        }
    }

    ssl = SSL_new(sctx);

    /* the SSL object holds its own reference */
    SSL_CTX_free(sctx);

    if (ssl == NULL) {
        why = fsauth_tls_errstr();
        goto failed;
    }

    name = ctl->sni ? ctl->sni : ctl->host;
    ip = inet_pton(AF_INET, name, buf) == 1
         || inet_pton(AF_INET6, name, buf) == 1;

    if ((!ip && SSL_set_tlsext_host_name(ssl, name) != 1)
        || (ip && X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name)
                  != 1)
        || (!ip && SSL_set1_host(ssl, name) != 1))
    {
        why = fsauth_tls_errstr();
        goto failed;
    }

    if (redisInitiateSSL(c, ssl) == REDIS_OK) {
        return FSAUTHCTL_OK;
    }

    why = fsauth_tls_why(ssl, c->errstr);

failed:

    /* a sentinel's: the caller says it in its one line, with the next */

    if (why_buf) {
        snprintf(why_buf, size, "TLS handshake failed: %s", why);

    } else {
        fsauthctl_error("TLS handshake with redis at %s:%d failed: %s",
                        ctl->host, ctl->port, why);
    }

    ERR_clear_error();

    if (ssl) {
        SSL_free(ssl);
    }

    return FSAUTHCTL_UNAVAILABLE;
}

#else

int
fsauthctl_secure_tls(fsauthctl_t *ctl, redisContext *c, char *why,
    size_t size)
{
    (void) c;
    (void) why;
    (void) size;

    return ctl->tls ? FSAUTHCTL_ERROR : FSAUTHCTL_OK;
}

#endif
