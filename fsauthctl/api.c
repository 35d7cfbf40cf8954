
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
static int fsauthctl_api_field(fsauthctl_t *ctl, const char *value,
    redisReply **reply);


/* "api enable", "api disable" and "api status" */

int
fsauthctl_api(fsauthctl_t *ctl, fsauthctl_call_t *call)
{
    int          rc, disabled, done;
    const char  *name;

    name = call->cmd->name;

    if (strcmp(name, "status") == 0) {
        rc = fsauthctl_api_disabled(ctl, &disabled);

    } else {
        disabled = (strcmp(name, "disable") == 0);

        fsauthctl_audit_set(ctl, disabled ? "api.disable" : "api.enable", 0,
                            "");

        /* nothing is WATCHed, so the transaction cannot abort */
        rc = fsauthctl_redis_tx(ctl, 1, NULL, fsauthctl_api_queue,
                                disabled ? "0" : "1", &done);
    }

    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    return fsauthctl_output_result(call,
                                   json_pack("{s:b}", "enabled", !disabled),
                                   "api %s\n",
                                   disabled ? "disabled" : "enabled");
}


static int
fsauthctl_api_queue(fsauthctl_t *ctl, void *data)
{
    return fsauthctl_api_field(ctl, data, NULL);
}


/*
 * "enabled" of <prefix>api, read as the module reads it: only exactly "0"
 * disables, a missing field means enabled
 */

int
fsauthctl_api_disabled(fsauthctl_t *ctl, int *disabled)
{
    int          rc;
    redisReply  *reply;

    rc = fsauthctl_api_field(ctl, NULL, &reply);
    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    *disabled = (reply->type == REDIS_REPLY_STRING
                 && reply->len == 1 && reply->str[0] == '0');
    freeReplyObject(reply);

    return FSAUTHCTL_OK;
}


/* HSET (value) or HGET (*reply) of the field "enabled" of <prefix>api */

static int
fsauthctl_api_field(fsauthctl_t *ctl, const char *value, redisReply **reply)
{
    int    rc;
    char  *name;

    name = fsauthctl_name(ctl, FSAUTH_NAME_API);

    if (value) {
        rc = fsauthctl_redis_call(ctl, NULL, "HSET", name, "enabled", value,
                                  NULL);

    } else {
        rc = fsauthctl_redis_call(ctl, reply, "HGET", name, "enabled", NULL);
    }

    free(name);

    return rc;
}
