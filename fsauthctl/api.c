
/*
 * Copyright (C) fsauth authors
 * BSD-2-Clause, see LICENSE.
 */


/*
 * fsauthctl: the fleet-wide kill switch, <prefix>api field "enabled".
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsauthctl.h"


static int fsauthctl_api_queue(fsauthctl_t *ctl, void *data);


/* "api enable" and "api disable" */

int
fsauthctl_api_enable(fsauthctl_t *ctl, const fsauthctl_cmd_t *cmd,
    int argc, char **argv)
{
    int               rc, npos, enable, done;
    fsauthctl_opt_t   opts[] = {
        { NULL, 0, 0, NULL, NULL }
    };

    rc = fsauthctl_opt_parse(cmd, argc, argv, opts, NULL, 0, 0, &npos);
    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    enable = (strcmp(cmd->name, "enable") == 0);

    rc = fsauthctl_redis_connect(ctl);
    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    /* nothing is WATCHed, so the transaction cannot abort */
    rc = fsauthctl_redis_tx(ctl, 1, NULL, fsauthctl_api_queue,
                            enable ? "1" : "0", &done);
    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    printf("api %s\n", enable ? "enabled" : "disabled");

    return FSAUTHCTL_OK;
}


static int
fsauthctl_api_queue(fsauthctl_t *ctl, void *data)
{
    int    rc;
    char  *name;

    name = fsauthctl_name(ctl, FSAUTH_NAME_API);
    rc = fsauthctl_redis_call(ctl, NULL, "HSET", name, "enabled",
                              (const char *) data, NULL);
    free(name);

    return rc;
}


/* only "0" disables, as in the module; a missing field means enabled */

int
fsauthctl_api_status(fsauthctl_t *ctl, const fsauthctl_cmd_t *cmd,
    int argc, char **argv)
{
    int               rc, npos, disabled;
    char             *name;
    redisReply       *reply;
    fsauthctl_opt_t   opts[] = {
        { NULL, 0, 0, NULL, NULL }
    };

    rc = fsauthctl_opt_parse(cmd, argc, argv, opts, NULL, 0, 0, &npos);
    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    rc = fsauthctl_redis_connect(ctl);
    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    name = fsauthctl_name(ctl, FSAUTH_NAME_API);
    rc = fsauthctl_redis_call(ctl, &reply, "HGET", name, "enabled", NULL);
    free(name);

    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    disabled = (reply->type == REDIS_REPLY_STRING
                && strcmp(reply->str, "0") == 0);
    freeReplyObject(reply);

    printf("api %s\n", disabled ? "disabled" : "enabled");

    return FSAUTHCTL_OK;
}
