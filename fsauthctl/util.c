
/*
 * Copyright (C) fsauth authors
 * BSD-2-Clause, see LICENSE.
 */


/*
 * fsauthctl: error reporting, memory, number and date helpers.
 */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fsauthctl.h"


/* every error is one line on stderr; returns FSAUTHCTL_ERROR for brevity */

int
fsauthctl_error(const char *fmt, ...)
{
    va_list  ap;

    fflush(stdout);

    fputs("fsauthctl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);

    return FSAUTHCTL_ERROR;
}


/* a command line tool has nothing sensible to do without memory */

static void
fsauthctl_out_of_memory(void)
{
    fsauthctl_error("out of memory");
    exit(FSAUTHCTL_ERROR);
}


void *
fsauthctl_alloc(size_t size)
{
    void  *p;

    p = calloc(1, size ? size : 1);
    if (p == NULL) {
        fsauthctl_out_of_memory();
    }

    return p;
}


void *
fsauthctl_realloc(void *p, size_t size)
{
    p = realloc(p, size ? size : 1);
    if (p == NULL) {
        fsauthctl_out_of_memory();
    }

    return p;
}


char *
fsauthctl_strdup(const char *s)
{
    return fsauthctl_strndup(s, strlen(s));
}


char *
fsauthctl_strndup(const char *s, size_t len)
{
    char  *p;

    p = fsauthctl_alloc(len + 1);
    memcpy(p, s, len);
    p[len] = '\0';

    return p;
}


char *
fsauthctl_vsprintf(const char *fmt, va_list ap)
{
    char  *p;

    if (vasprintf(&p, fmt, ap) == -1) {
        fsauthctl_out_of_memory();
    }

    return p;
}


char *
fsauthctl_sprintf(const char *fmt, ...)
{
    char     *p;
    va_list   ap;

    va_start(ap, fmt);
    p = fsauthctl_vsprintf(fmt, ap);
    va_end(ap);

    return p;
}


void
fsauthctl_args_init(fsauthctl_args_t *args)
{
    args->n = 0;
    args->cap = 0;
    args->argv = NULL;
    args->lens = NULL;
}


void
fsauthctl_args_add(fsauthctl_args_t *args, const char *s, size_t len)
{
    if (args->n == args->cap) {
        args->cap = args->cap ? args->cap * 2 : 8;
        args->argv = fsauthctl_realloc(args->argv,
                                       args->cap * sizeof(char *));
        args->lens = fsauthctl_realloc(args->lens,
                                       args->cap * sizeof(size_t));
    }

    args->argv[args->n] = fsauthctl_strndup(s, len);
    args->lens[args->n] = len;
    args->n++;
}


void
fsauthctl_args_addf(fsauthctl_args_t *args, const char *fmt, ...)
{
    char     *s;
    va_list   ap;

    va_start(ap, fmt);
    s = fsauthctl_vsprintf(fmt, ap);
    va_end(ap);

    fsauthctl_args_add(args, s, strlen(s));
    free(s);
}


/* adds a name from fsauthctl_name*() and frees it */

void
fsauthctl_args_add_name(fsauthctl_args_t *args, char *name)
{
    fsauthctl_args_add(args, name, strlen(name));
    free(name);
}


void
fsauthctl_args_free(fsauthctl_args_t *args)
{
    int  i;

    for (i = 0; i < args->n; i++) {
        free(args->argv[i]);
    }

    free(args->argv);
    free(args->lens);
    fsauthctl_args_init(args);
}


/*
 * Key ids are positive decimal integers, without sign or spaces; leading
 * zeros are accepted ("007" is 7).  18 digits keep clear of overflow.
 */

int
fsauthctl_parse_id(const char *s, size_t len, long long *id)
{
    size_t     i;
    long long  n;

    if (len == 0 || len > 18) {
        return FSAUTHCTL_ERROR;
    }

    n = 0;

    for (i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return FSAUTHCTL_ERROR;
        }

        n = n * 10 + (s[i] - '0');
    }

    if (n <= 0) {
        return FSAUTHCTL_ERROR;
    }

    *id = n;

    return FSAUTHCTL_OK;
}


int
fsauthctl_parse_long(const char *s, long min, long max, long *n)
{
    char  *end;
    long   v;

    if (*s < '0' || *s > '9') {
        return FSAUTHCTL_ERROR;
    }

    errno = 0;
    v = strtol(s, &end, 10);

    if (errno || *end != '\0' || v < min || v > max) {
        return FSAUTHCTL_ERROR;
    }

    *n = v;

    return FSAUTHCTL_OK;
}


/*
 * One UTF-8 character at p: its length, or 0 when the bytes are not a
 * valid UTF-8 sequence (a stray continuation byte, a truncated sequence,
 * an overlong form, a UTF-16 surrogate, or above U+10FFFF).
 */

size_t
fsauthctl_utf8_decode(const char *p, size_t len, unsigned *cp)
{
    size_t          i, n;
    unsigned        c, min;
    const uint8_t  *s;

    s = (const uint8_t *) p;
    c = s[0];

    if (c < 0x80) {
        *cp = c;
        return 1;
    }

    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        min = 0x80;
        c &= 0x1f;

    } else if ((c & 0xf0) == 0xe0) {
        n = 3;
        min = 0x800;
        c &= 0x0f;

    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        min = 0x10000;
        c &= 0x07;

    } else {
        return 0;
    }

    if (len < n) {
        return 0;
    }

    for (i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            return 0;
        }

        c = c << 6 | (s[i] & 0x3f);
    }

    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) {
        return 0;
    }

    *cp = c;

    return n;
}


/*
 * The rule for every nick and description fsauthctl writes: valid UTF-8
 * without C0 controls, DEL or C1 controls (U+0080..U+009F).  Both are
 * shown on terminals, and the nick also reaches logs and upstream headers
 * as $fsauth_nick: a control character there could forge or hide output.
 */

int
fsauthctl_text_valid(const char *s, size_t len)
{
    size_t    i, n;
    unsigned  cp;

    for (i = 0; i < len; i += n) {
        n = fsauthctl_utf8_decode(s + i, len - i, &cp);

        if (n == 0 || cp < 0x20 || (cp >= 0x7f && cp <= 0x9f)) {
            return 0;
        }
    }

    return 1;
}


/* creationdate of new keys: today in UTC, whatever the local zone */

void
fsauthctl_today(char date[11])
{
    time_t     now;
    struct tm  tm;

    now = time(NULL);
    gmtime_r(&now, &tm);
    strftime(date, 11, "%Y-%m-%d", &tm);
}


/*
 * Reads a whole file ("-" is stdin) with read(2), so that no stdio buffer
 * keeps a copy of the tokens it may hold; the caller wipes *data.
 */

int
fsauthctl_read_file(const char *path, const char *what, char **data,
    size_t *len)
{
    int      fd;
    char    *buf;
    size_t   size, n;
    ssize_t  r;

    if (strcmp(path, "-") == 0) {
        fd = STDIN_FILENO;

    } else {
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd == -1) {
            return fsauthctl_error("cannot open %s %s: %s", what, path,
                                   strerror(errno));
        }
    }

    size = 65536;
    n = 0;
    buf = fsauthctl_alloc(size);

    for ( ;; ) {
        if (n == size) {
            /* grow by copying, so that no freed block keeps token bytes */
            char  *p;

            p = fsauthctl_alloc(size * 2);
            memcpy(p, buf, n);
            explicit_bzero(buf, size);
            free(buf);
            buf = p;
            size *= 2;
        }

        r = read(fd, buf + n, size - n);

        if (r == -1 && errno == EINTR) {
            continue;
        }

        if (r == -1) {
            fsauthctl_error("cannot read %s %s: %s", what,
                            fd == STDIN_FILENO ? "stdin" : path,
                            strerror(errno));
            explicit_bzero(buf, n);
            free(buf);

            if (fd != STDIN_FILENO) {
                close(fd);
            }

            return FSAUTHCTL_ERROR;
        }

        if (r == 0) {
            break;
        }

        n += r;
    }

    if (fd != STDIN_FILENO) {
        close(fd);
    }

    *data = buf;
    *len = n;

    return FSAUTHCTL_OK;
}


/*
 * A secret kept in a file (the Redis password): the first line, spaces
 * and tabs around it (and a CR) trimmed; empty or holding a NUL is an
 * error.  Every copy of the file but the returned secret is wiped; the
 * caller wipes and frees *secret.
 */

int
fsauthctl_read_secret(const char *path, const char *what, char **secret)
{
    int      rc;
    char    *data, *p, *end;
    size_t   len;

    rc = fsauthctl_read_file(path, what, &data, &len);
    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    p = data;
    end = memchr(data, '\n', len);
    if (end == NULL) {
        end = data + len;
    }

    while (p < end && (*p == ' ' || *p == '\t')) {
        p++;
    }

    while (end > p && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
    {
        end--;
    }

    if (p == end || memchr(p, '\0', end - p)) {
        explicit_bzero(data, len);
        free(data);
        return fsauthctl_error("%s %s: the first line is empty or not text",
                               what, path);
    }

    *secret = fsauthctl_strndup(p, end - p);

    explicit_bzero(data, len);
    free(data);

    return FSAUTHCTL_OK;
}
