
/*
 * Copyright (C) fsauth authors
 * BSD-2-Clause, see LICENSE.
 */


/*
 * fsauthctl: text tables and JSON output.
 *
 * Text output is for people: values written by hand into Redis may hold
 * control characters, so they are escaped rather than allowed to break the
 * layout.  JSON output is for scripts.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fsauthctl.h"


static size_t fsauthctl_output_width(const char *s);


void
fsauthctl_table_init(fsauthctl_table_t *t, int ncols, ...)
{
    int      i;
    va_list  ap;

    t->ncols = ncols;
    t->nrows = 1;
    t->cap = 8;
    t->cells = fsauthctl_alloc(t->cap * ncols * sizeof(char *));

    va_start(ap, ncols);

    for (i = 0; i < ncols; i++) {
        t->cells[i] = fsauthctl_strdup(va_arg(ap, const char *));
    }

    va_end(ap);
}


/* ncols cells, copied */

void
fsauthctl_table_row(fsauthctl_table_t *t, ...)
{
    int       i;
    char    **row;
    va_list   ap;

    if (t->nrows == t->cap) {
        t->cap *= 2;
        t->cells = fsauthctl_realloc(t->cells,
                                     t->cap * t->ncols * sizeof(char *));
    }

    row = &t->cells[t->nrows * t->ncols];

    va_start(ap, t);

    for (i = 0; i < t->ncols; i++) {
        row[i] = fsauthctl_strdup(va_arg(ap, const char *));
    }

    va_end(ap);

    t->nrows++;
}


/* columns two spaces apart; the last one, free text, is not padded */

void
fsauthctl_table_print(fsauthctl_table_t *t)
{
    int      i;
    char    *cell;
    size_t   r, w, *widths, end;

    widths = fsauthctl_alloc(t->ncols * sizeof(size_t));

    for (r = 0; r < t->nrows; r++) {
        for (i = 0; i < t->ncols; i++) {
            w = fsauthctl_output_width(t->cells[r * t->ncols + i]);

            if (w > widths[i]) {
                widths[i] = w;
            }
        }
    }

    for (r = 0; r < t->nrows; r++) {

        /* trailing empty cells print nothing, not spaces */

        for (end = t->ncols; end > 1; end--) {
            if (t->cells[r * t->ncols + end - 1][0] != '\0') {
                break;
            }
        }

        for (i = 0; (size_t) i < end; i++) {
            cell = t->cells[r * t->ncols + i];
            fputs(cell, stdout);

            if ((size_t) i + 1 < end) {
                w = fsauthctl_output_width(cell);
                printf("%*s", (int) (widths[i] - w + 2), "");
            }
        }

        putchar('\n');
    }

    for (r = 0; r < t->nrows * t->ncols; r++) {
        free(t->cells[r]);
    }

    free(t->cells);
    free(widths);
}


/* display width: UTF-8 continuation bytes take no column */

static size_t
fsauthctl_output_width(const char *s)
{
    size_t  w;

    for (w = 0; *s; s++) {
        if (((unsigned char) *s & 0xc0) != 0x80) {
            w++;
        }
    }

    return w;
}


/*
 * Control characters and "\" as C escapes; the result is allocated.
 * C1 controls (U+0080..U+009F) are escaped byte by byte ("\xc2\x9b"), and
 * so is every byte that is not part of valid UTF-8: a raw 0x9b is CSI for
 * terminals that read 8-bit controls.  At most 4 bytes out per byte in.
 */

/* "\xNN", lower-case */

static char *
fsauthctl_output_hex(char *p, unsigned char byte)
{
    *p++ = '\\';
    *p++ = 'x';
    fsauth_hex_encode(p, &byte, 1);

    return p + 2;
}


char *
fsauthctl_output_escape(const char *s)
{
    char      *out, *p;
    size_t     len, n, i;
    unsigned   c;

    len = strlen(s);
    out = fsauthctl_alloc(4 * len + 1);
    p = out;

    while (len) {
        n = fsauthctl_utf8_decode(s, len, &c);

        if (n == 0 || (c >= 0x80 && c <= 0x9f)) {

            /* the two bytes of a C1 control, or one byte that is not UTF-8 */

            n = n ? n : 1;

            for (i = 0; i < n; i++) {
                p = fsauthctl_output_hex(p, (unsigned char) s[i]);
            }

        } else if (c == '\\') {
            *p++ = '\\';
            *p++ = '\\';

        } else if (c == '\n') {
            *p++ = '\\';
            *p++ = 'n';

        } else if (c == '\t') {
            *p++ = '\\';
            *p++ = 't';

        } else if (c < 0x20 || c == 0x7f) {
            p = fsauthctl_output_hex(p, (unsigned char) c);

        } else {
            memcpy(p, s, n);
            p += n;
        }

        s += n;
        len -= n;
    }

    *p = '\0';

    return out;
}


/* lastactivity (unix seconds) as ISO 8601 UTC; "" when absent */

char *
fsauthctl_output_time(const char *unix_seconds)
{
    char       buf[32];
    time_t     t;
    long long  n;
    struct tm  tm;

    if (unix_seconds == NULL) {
        return fsauthctl_strdup("");
    }

    if (fsauthctl_parse_id(unix_seconds, strlen(unix_seconds), &n)
        != FSAUTHCTL_OK)
    {
        return fsauthctl_output_escape(unix_seconds);
    }

    t = (time_t) n;

    if (gmtime_r(&t, &tm) == NULL
        || strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
    {
        return fsauthctl_output_escape(unix_seconds);
    }

    return fsauthctl_strdup(buf);
}


/* a JSON string even from bytes that are not UTF-8 (hand-written data) */

json_t *
fsauthctl_json_string(const char *s)
{
    char    *copy, *p;
    json_t  *j;

    j = json_string(s);
    if (j) {
        return j;
    }

    copy = fsauthctl_strdup(s);

    for (p = copy; *p; p++) {
        if ((unsigned char) *p >= 0x80) {
            *p = '?';
        }
    }

    j = json_string(copy);
    free(copy);

    return j;
}


/*
 * A key in the shape of the FacturaScripts api_keys row (without apikey),
 * plus lastactivity (unix seconds) and lastip when "activity" is set.
 */

/* unix seconds as a number, null when absent, else the text as it is */

static json_t *
fsauthctl_json_seconds(const char *s)
{
    long long  n;

    if (s == NULL) {
        return json_null();
    }

    if (fsauthctl_parse_id(s, strlen(s), &n) == FSAUTHCTL_OK) {
        return json_integer(n);
    }

    return fsauthctl_json_string(s);
}


json_t *
fsauthctl_json_key(const fsauthctl_key_t *key, int activity)
{
    json_t  *obj;

    obj = json_object();

    json_object_set_new(obj, "id", json_integer(key->id));
    json_object_set_new(obj, "description",
                        fsauthctl_json_string(key->description));
    json_object_set_new(obj, "nick", key->nick[0]
                                     ? fsauthctl_json_string(key->nick)
                                     : json_null());
    json_object_set_new(obj, "enabled", json_boolean(key->enabled));
    json_object_set_new(obj, "fullaccess", json_boolean(key->fullaccess));
    json_object_set_new(obj, "creationdate", key->creationdate
                                ? fsauthctl_json_string(key->creationdate)
                                : json_null());

    if (!activity) {
        return obj;
    }

    json_object_set_new(obj, "lastactivity",
                        fsauthctl_json_seconds(key->lastactivity));
    json_object_set_new(obj, "lastip", key->lastip
                                       ? fsauthctl_json_string(key->lastip)
                                       : json_null());
    json_object_set_new(obj, "expires", fsauthctl_json_seconds(key->expires));
    json_object_set_new(obj, "allow_ips",
                        fsauthctl_allowips_json(key->allow_ips));

    return obj;
}


/* a grant in the shape of the api_access row; idname NULL: no key id */

json_t *
fsauthctl_json_grant(const fsauthctl_grant_t *g, const char *idname,
    long long id)
{
    json_t  *obj;

    obj = json_object();

    if (idname) {
        json_object_set_new(obj, idname, json_integer(id));
    }

    json_object_set_new(obj, "resource", fsauthctl_json_string(g->resource));
    json_object_set_new(obj, "allowget",
                        json_boolean(g->mask & FSAUTH_GRANT_GET));
    json_object_set_new(obj, "allowpost",
                        json_boolean(g->mask & FSAUTH_GRANT_POST));
    json_object_set_new(obj, "allowput",
                        json_boolean(g->mask & FSAUTH_GRANT_PUT));
    json_object_set_new(obj, "allowdelete",
                        json_boolean(g->mask & FSAUTH_GRANT_DELETE));

    return obj;
}


/*
 * The result of a command: with --json the object "json", else the text
 * line(s) of "fmt"; "json" is freed either way.
 */

int
fsauthctl_output_result(fsauthctl_call_t *call, json_t *json,
    const char *fmt, ...)
{
    int      rc;
    va_list  ap;

    rc = FSAUTHCTL_OK;

    if (call->json) {
        rc = fsauthctl_json_print(json);

    } else {
        va_start(ap, fmt);
        vprintf(fmt, ap);
        va_end(ap);
    }

    json_decref(json);

    return rc;
}


int
fsauthctl_json_print(json_t *json)
{
    if (json_dumpf(json, stdout, JSON_INDENT(2)) != 0
        || putchar('\n') == EOF)
    {
        return fsauthctl_error("cannot write the output");
    }

    return FSAUTHCTL_OK;
}
