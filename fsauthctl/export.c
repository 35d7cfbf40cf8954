
/*
 * Copyright (C) fsauth authors
 * BSD-2-Clause, see LICENSE.
 */


/*
 * fsauthctl: "export", every key and grant in the shape of the
 * FacturaScripts api_keys and api_access tables.
 *
 * Redis holds only digests, so "apikey" is omitted; "import" of such a
 * file updates the keys that already exist.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsauthctl.h"


int
fsauthctl_export(fsauthctl_t *ctl, fsauthctl_call_t *call)
{
    int               rc;
    size_t            i, j, n;
    json_t           *root, *keys, *access;
    fsauthctl_key_t  *k;

    (void) call;    /* its output is JSON, with or without --json */

    rc = fsauthctl_store_load_all(ctl, &k, &n);
    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    keys = json_array();
    access = json_array();

    for (i = 0; i < n; i++) {
        json_array_append_new(keys, fsauthctl_json_key(&k[i], 0));

        for (j = 0; j < k[i].ngrants; j++) {
            json_array_append_new(access,
                                  fsauthctl_json_grant(&k[i].grants[j],
                                                       "idapikey", k[i].id));
        }
    }

    root = json_object();
    json_object_set_new(root, "api_keys", keys);
    json_object_set_new(root, "api_access", access);

    rc = fsauthctl_json_print(root);

    json_decref(root);

    if (n) {
        fsauthctl_store_free(k, n);
    }

    return rc;
}
