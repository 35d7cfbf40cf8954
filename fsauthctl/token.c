
/*
 * Copyright (C) fsauth authors
 * BSD-2-Clause, see LICENSE.
 */


/*
 * fsauthctl: token generation, validation and digests.
 *
 * Tokens exist only in this process: Redis holds the SHA-256 digest, and
 * every buffer that held a token is wiped once it has been used.
 */

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/random.h>

#include <openssl/evp.h>

#include "fsauthctl.h"


static const char  fsauthctl_token_alphabet[] =
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

/*
 * 248 = 4 * 62: bytes at or above it are dropped, so that "byte % 62"
 * picks each of the 62 characters with the same probability.
 */
#define FSAUTHCTL_TOKEN_REJECT  248


static int fsauthctl_token_io(int fd, void *buf, size_t len);


/* token: FSAUTHCTL_TOKEN_LEN + 1 bytes */

int
fsauthctl_token_generate(char *token)
{
    int            rc;
    size_t         n, i;
    unsigned char  rnd[64];

    n = 0;

    while (n < FSAUTHCTL_TOKEN_LEN) {
        if (fsauthctl_token_io(-1, rnd, sizeof(rnd)) != FSAUTHCTL_OK) {
            rc = fsauthctl_error("getrandom() failed: %s", strerror(errno));
            explicit_bzero(token, n);
            return rc;
        }

        for (i = 0; i < sizeof(rnd) && n < FSAUTHCTL_TOKEN_LEN; i++) {
            if (rnd[i] < FSAUTHCTL_TOKEN_REJECT) {
                token[n++] = fsauthctl_token_alphabet[rnd[i] % 62];
            }
        }
    }

    token[n] = '\0';
    explicit_bzero(rnd, sizeof(rnd));

    return FSAUTHCTL_OK;
}


/* hex: FSAUTH_HEX_LEN + 1 bytes, lower-case hex SHA-256 */

int
fsauthctl_token_digest(const char *token, size_t len, char *hex)
{
    unsigned int   n;
    unsigned char  md[EVP_MAX_MD_SIZE];

    if (EVP_Digest(token, len, md, &n, EVP_sha256(), NULL) != 1
        || n != FSAUTH_DIGEST_LEN)
    {
        return fsauthctl_error("SHA-256 failed");
    }

    fsauth_hex_encode(hex, md, FSAUTH_DIGEST_LEN);

    return FSAUTHCTL_OK;
}


/*
 * Prints "id: N\ntoken: T\n" (with json, {"id": N, "token": "T"}), then
 * "more" (further lines, or JSON members after a comma), with
 * write(2) rather than stdio, so that no
 * stdio buffer keeps the token, then wipes both the token and the line.
 * FSAUTHCTL_ERROR, with the errno in *err and no message, when the line
 * was not written whole: the caller undoes what the token was for.
 */

int
fsauthctl_token_print(long long id, char *token, int json, const char *more,
    int *err)
{
    int   rc, n;
    char  line[192 + FSAUTH_TOKEN_MAX];

    fflush(stdout);

    /* a token is 0-9a-zA-Z: nothing to escape in JSON */

    n = snprintf(line, sizeof(line),
                 json ? "{\"id\": %lld, \"token\": \"%s\"%s}\n"
                      : "id: %lld\ntoken: %s\n%s",
                 id, token, more);

    rc = fsauthctl_token_io(STDOUT_FILENO, line, n);
    *err = errno;

    explicit_bzero(line, sizeof(line));
    explicit_bzero(token, strlen(token));

    return rc;
}


/*
 * Fills buf from getrandom(2) (fd -1), or writes it whole to fd, going on
 * after a signal or a short count; FSAUTHCTL_ERROR with errno set, and no
 * message, when it fails.
 */

static int
fsauthctl_token_io(int fd, void *buf, size_t len)
{
    char     *p;
    ssize_t   n;

    p = buf;

    while (len) {
        n = (fd == -1) ? getrandom(p, len, 0) : write(fd, p, len);

        if (n == -1) {
            if (errno == EINTR) {
                continue;
            }

            return FSAUTHCTL_ERROR;
        }

        p += n;
        len -= n;
    }

    return FSAUTHCTL_OK;
}
