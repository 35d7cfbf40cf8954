
/*
 * Copyright (C) fsauth authors
 * BSD-2-Clause, see LICENSE.
 */


/*
 * What the module and fsauthctl say when TLS to Redis fails: OpenSSL's
 * reason, and why a handshake was refused (the certificate check first:
 * "certificate has expired", "hostname mismatch", ...).  Included only
 * where hiredis has hiredis_ssl, after <openssl/ssl.h>.
 */

#ifndef _FSAUTH_TLS_H_INCLUDED_
#define _FSAUTH_TLS_H_INCLUDED_


#include <openssl/err.h>
#include <openssl/x509.h>


/* the reason of the last OpenSSL error, or NULL; the queue is emptied */

static inline const char *
fsauth_tls_reason(void)
{
    const char     *s;
    unsigned long   e;

    e = ERR_peek_last_error();
    s = e ? ERR_reason_error_string(e) : NULL;

    ERR_clear_error();

    return s;
}


/* errstr: hiredis's text of the failure (a system error, a close) */

static inline const char *
fsauth_tls_why(SSL *ssl, const char *errstr)
{
    long         rc;
    const char  *s;

    rc = SSL_get_verify_result(ssl);

    if (rc != X509_V_OK) {
        ERR_clear_error();
        return X509_verify_cert_error_string(rc);
    }

    s = fsauth_tls_reason();
    if (s) {
        return s;
    }

    return (errstr && errstr[0]) ? errstr : "closed by the server";
}


/* for a configuration error: never NULL */

static inline const char *
fsauth_tls_errstr(void)
{
    const char  *s;

    s = fsauth_tls_reason();

    return s ? s : "unknown error";
}


#endif /* _FSAUTH_TLS_H_INCLUDED_ */
