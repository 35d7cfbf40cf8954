
/*
 * Copyright (C) fsauth authors
 * BSD-2-Clause, see LICENSE.
 */


/*
 * fsauthctl: a key's address list, the field "allow_ips" (a comma list
 * of IPv4/IPv6 networks): "key allow-ips", and the list as "key show"
 * and "key list" print it.  The list is checked with the module's own
 * parser (fsauth_cidr_parse() in rules/) and stored as given.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsauthctl.h"


/*
 * NULL when every entry is a network the module reads; else the message
 * naming the first entry it refuses (to be freed).
 */

char *
fsauthctl_allowips_check(const char *list)
{
    char           *e, *msg;
    size_t          len, i, start, n;
    fsauth_cidr_t   cidr;

    len = strlen(list);

    if (len == 0) {
        return fsauthctl_strdup("an empty list (\"any\" removes it)");
    }

    n = 0;
    start = 0;

    for (i = 0; i <= len; i++) {
        if (i < len && list[i] != ',') {
            continue;
        }

        if (fsauth_cidr_parse(list + start, i - start, &cidr) != 0) {
            e = fsauthctl_strndup(list + start, i - start);
            msg = fsauthctl_output_escape(e);
            free(e);
            e = fsauthctl_sprintf("invalid entry \"%s\" (an IPv4 or IPv6 "
                                  "address or network, host bits zero, no "
                                  "spaces)", msg);
            free(msg);
            return e;
        }

        if (++n > FSAUTH_CIDRS_MAX) {
            return fsauthctl_sprintf("more than %d entries",
                                     FSAUTH_CIDRS_MAX);
        }

        start = i + 1;
    }

    return NULL;
}


/* "key allow-ips ID CIDR[,CIDR...]|any": checked before connecting */

int
fsauthctl_key_allow_ips_args(fsauthctl_call_t *call)
{
    int    rc;
    char  *msg;

    if (strcmp(call->pos[1], "any") == 0) {
        return FSAUTHCTL_OK;
    }

    msg = fsauthctl_allowips_check(call->pos[1]);
    if (msg == NULL) {
        return FSAUTHCTL_OK;
    }

    rc = fsauthctl_opt_usage(call->cmd, "%s", msg);
    free(msg);

    return rc;
}


int
fsauthctl_key_allow_ips(fsauthctl_t *ctl, fsauthctl_call_t *call)
{
    int          rc, existed;
    const char  *list;

    list = strcmp(call->pos[1], "any") == 0 ? NULL : call->pos[1];

    fsauthctl_audit_set(ctl, "key.allow-ips", call->id, "%s",
                        list ? list : "any");

    rc = fsauthctl_store_set_field(ctl, call->id, "allow_ips", list,
                                   &existed);
    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    if (list == NULL) {
        return fsauthctl_output_result(call,
                                       json_pack("{s:I, s:n}",
                                                 "id", (json_int_t) call->id,
                                                 "allow_ips"),
                                       "key %lld: any address\n", call->id);
    }

    return fsauthctl_output_result(call,
                                   json_pack("{s:I, s:o}",
                                             "id", (json_int_t) call->id,
                                             "allow_ips",
                                             fsauthctl_allowips_json(list)),
                                   "key %lld: allow_ips %s\n", call->id,
                                   list);
}


/* the list as a JSON array of its entries, null when there is none */

json_t *
fsauthctl_allowips_json(const char *list)
{
    char        *e;
    json_t      *arr;
    const char  *p, *comma;

    if (list == NULL) {
        return json_null();
    }

    arr = json_array();
    p = list;

    for ( ;; ) {
        comma = strchr(p, ',');
        e = comma ? fsauthctl_strndup(p, comma - p) : fsauthctl_strdup(p);
        json_array_append_new(arr, fsauthctl_json_string(e));
        free(e);

        if (comma == NULL) {
            return arr;
        }

        p = comma + 1;
    }
}


/*
 * The list for "key show" and "key list" (to be freed): as stored, or
 * "" when there is none; a list the module refuses says so, as that
 * key is refused whatever the client's address.
 */

char *
fsauthctl_allowips_text(const char *list)
{
    char  *msg, *s, *t;

    if (list == NULL) {
        return fsauthctl_strdup("");
    }

    s = fsauthctl_output_escape(list);

    msg = fsauthctl_allowips_check(list);
    if (msg == NULL) {
        return s;
    }

    free(msg);

    t = fsauthctl_sprintf("%s (malformed: the key is refused)", s);
    free(s);

    return t;
}
