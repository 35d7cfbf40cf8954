
/*
 * Copyright (C) fsauth authors
 * BSD-2-Clause, see LICENSE.
 */


/*
 * fsauthctl: the steps every command shares, done once here as its table
 * entry asks: options, positional arguments, the key id, the command's
 * own checks, the Redis connection, then the command itself.
 *
 * Usage and input errors must come before any connection: with Redis
 * down, a mistyped command line still exits 1 with its one line.
 */

#include <stdlib.h>
#include <string.h>

#include "fsauthctl.h"


static int fsauthctl_cmd_id(const fsauthctl_cmd_t *cmd, const char *arg,
    long long *id);


/*
 * The options of cmd's sets, bound to "call", then the end of the list;
 * opts has room for FSAUTHCTL_CMD_OPTS_MAX + 1.  Every command takes
 * --json.  "__complete" lists them from here too.
 */

void
fsauthctl_cmd_options(const fsauthctl_cmd_t *cmd, fsauthctl_call_t *call,
    fsauthctl_opt_t *opts)
{
    size_t  i, n;
    struct {
        unsigned          set;
        fsauthctl_opt_t   opt;
    } all[] = {
        { FSAUTHCTL_OPT_CREATE,
          { "description", 0, 1, &call->description, NULL } },
        { FSAUTHCTL_OPT_CREATE, { "nick", 0, 1, &call->nick, NULL } },
        { FSAUTHCTL_OPT_CREATE,
          { "full-access", 0, 0, NULL, &call->full_access } },
        { FSAUTHCTL_OPT_CREATE, { "expires", 0, 1, &call->expires, NULL } },
        { FSAUTHCTL_OPT_GRANT, { "get", 0, 0, NULL, &call->get } },
        { FSAUTHCTL_OPT_GRANT, { "post", 0, 0, NULL, &call->post } },
        { FSAUTHCTL_OPT_GRANT, { "put", 0, 0, NULL, &call->put } },
        { FSAUTHCTL_OPT_GRANT, { "delete", 0, 0, NULL, &call->del } },
        { FSAUTHCTL_OPT_SYNC, { "from", 0, 1, &call->from, NULL } },
        { FSAUTHCTL_OPT_SYNC,
          { "password-file", 0, 1, &call->db_password_file, NULL } },
        { FSAUTHCTL_OPT_SYNC, { "interval", 0, 1, &call->interval, NULL } },
        { FSAUTHCTL_OPT_SYNC, { "dry-run", 0, 0, NULL, &call->dry_run } },
        { FSAUTHCTL_OPT_SYNC,
          { "allow-empty", 0, 0, NULL, &call->allow_empty } },
        { FSAUTHCTL_OPT_SINCE, { "since", 0, 1, &call->since, NULL } },
        { FSAUTHCTL_OPT_ROTATE, { "grace", 0, 1, &call->grace, NULL } },
        { FSAUTHCTL_OPT_ALL, { "json", 0, 0, NULL, &call->json } }
    };

    for (i = 0, n = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        if (all[i].set == FSAUTHCTL_OPT_ALL || (cmd->opts & all[i].set)) {
            opts[n++] = all[i].opt;
        }
    }

    memset(&opts[n], 0, sizeof(fsauthctl_opt_t));
}


int
fsauthctl_cmd_run(fsauthctl_t *ctl, const fsauthctl_cmd_t *cmd, int argc,
    char **argv)
{
    int               rc, npos;
    fsauthctl_call_t  call;
    fsauthctl_opt_t   opts[FSAUTHCTL_CMD_OPTS_MAX + 1];

    memset(&call, 0, sizeof(fsauthctl_call_t));
    call.cmd = cmd;

    fsauthctl_cmd_options(cmd, &call, opts);

    rc = fsauthctl_opt_parse(cmd, argc, argv, opts, call.pos, cmd->npos,
                             cmd->npos, &npos);
    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    if (cmd->flags & FSAUTHCTL_CMD_ID) {
        rc = fsauthctl_cmd_id(cmd, call.pos[0], &call.id);
        if (rc != FSAUTHCTL_OK) {
            return rc;
        }
    }

    rc = cmd->check ? cmd->check(&call) : FSAUTHCTL_OK;

    if (rc == FSAUTHCTL_OK && (cmd->flags & FSAUTHCTL_CMD_REDIS)) {
        rc = fsauthctl_redis_connect(ctl);
    }

    if (rc == FSAUTHCTL_OK) {
        rc = cmd->run(ctl, &call);
    }

    if (cmd->done) {
        cmd->done(&call);
    }

    return rc;
}


/* a key id argument: 1 to 18 digits, else a usage error */

static int
fsauthctl_cmd_id(const fsauthctl_cmd_t *cmd, const char *arg, long long *id)
{
    if (fsauthctl_parse_id(arg, strlen(arg), id) != FSAUTHCTL_OK) {
        return fsauthctl_opt_usage(cmd, "invalid key id \"%s\"", arg);
    }

    return FSAUTHCTL_OK;
}
