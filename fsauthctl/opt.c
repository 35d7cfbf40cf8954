
/*
 * Copyright (C) fsauth authors
 * BSD-2-Clause, see LICENSE.
 */


/*
 * fsauthctl: command line option parser shared by every command.
 *
 * getopt_long() keeps global state and stops or permutes differently
 * between libcs; this small parser accepts the same syntax everywhere:
 * "--name value", "--name=value", "-x value", "-xvalue", "--" ends the
 * options, and options may follow positional arguments.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsauthctl.h"


static const fsauthctl_opt_t *fsauthctl_opt_find_long(
    const fsauthctl_opt_t *opts, const char *name, size_t len);
static const fsauthctl_opt_t *fsauthctl_opt_find_short(
    const fsauthctl_opt_t *opts, int c);


int
fsauthctl_opt_usage(const fsauthctl_cmd_t *cmd, const char *fmt, ...)
{
    char     *msg;
    va_list   ap;

    va_start(ap, fmt);
    msg = fsauthctl_vsprintf(fmt, ap);
    va_end(ap);

    if (cmd->path[0] == '\0') {
        fsauthctl_error("%s (see \"fsauthctl --help\")", msg);

    } else {
        fsauthctl_error("%s: %s (see \"fsauthctl %s --help\")",
                        cmd->path, msg, cmd->path);
    }

    free(msg);

    return FSAUTHCTL_ERROR;
}


/*
 * max_pos < 0: the global options, parsing stops at the first positional
 * argument (the command) and *npos is its index in argv.
 */

int
fsauthctl_opt_parse(const fsauthctl_cmd_t *cmd, int argc, char **argv,
    const fsauthctl_opt_t *opts, char **pos, int min_pos, int max_pos,
    int *npos)
{
    int                     i, n;
    char                   *arg, *value, *eq;
    size_t                  len;
    const fsauthctl_opt_t  *opt;

    /* --help wins over any other mistake on the command line */

    for (i = 0; max_pos >= 0 && i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) {
            break;
        }

        if (strcmp(argv[i], "--help") == 0) {
            fputs(cmd->help, stdout);
            return FSAUTHCTL_HELP;
        }
    }

    n = 0;

    for (i = 0; i < argc; i++) {
        arg = argv[i];

        if (arg[0] != '-' || arg[1] == '\0') {
            /* a positional argument; "-" alone means stdin */

            if (max_pos < 0) {
                *npos = i;
                return FSAUTHCTL_OK;
            }

            if (n == max_pos) {
                return fsauthctl_opt_usage(cmd, "unexpected argument \"%s\"",
                                           arg);
            }

            pos[n++] = arg;
            continue;
        }

        if (strcmp(arg, "--") == 0) {
            for (i++; i < argc; i++) {
                if (max_pos < 0) {
                    *npos = i;
                    return FSAUTHCTL_OK;
                }

                if (n == max_pos) {
                    return fsauthctl_opt_usage(cmd,
                                               "unexpected argument \"%s\"",
                                               argv[i]);
                }

                pos[n++] = argv[i];
            }

            break;
        }

        if (strcmp(arg, "--help") == 0) {
            fputs(cmd->help, stdout);
            return FSAUTHCTL_HELP;
        }

        value = NULL;

        if (arg[1] == '-') {
            eq = strchr(arg + 2, '=');
            len = eq ? (size_t) (eq - arg - 2) : strlen(arg + 2);

            opt = fsauthctl_opt_find_long(opts, arg + 2, len);
            if (opt == NULL) {
                return fsauthctl_opt_usage(cmd, "unknown option \"%.*s\"",
                                           (int) len + 2, arg);
            }

            if (eq) {
                if (!opt->has_arg) {
                    return fsauthctl_opt_usage(cmd,
                                               "option --%s takes no value",
                                               opt->name);
                }

                value = eq + 1;
            }

        } else {
            opt = fsauthctl_opt_find_short(opts, (unsigned char) arg[1]);
            if (opt == NULL) {
                return fsauthctl_opt_usage(cmd, "unknown option \"-%c\"",
                                           arg[1]);
            }

            if (arg[2] != '\0') {
                if (!opt->has_arg) {
                    return fsauthctl_opt_usage(cmd,
                                               "unknown option \"%s\"", arg);
                }

                value = arg + 2;
            }
        }

        if (!opt->has_arg) {
            *opt->flag = 1;
            continue;
        }

        if (value == NULL) {
            if (i + 1 == argc) {
                if (opt->name) {
                    return fsauthctl_opt_usage(cmd,
                                               "option --%s needs a value",
                                               opt->name);
                }

                return fsauthctl_opt_usage(cmd, "option -%c needs a value",
                                           opt->short_name);
            }

            value = argv[++i];
        }

        *opt->value = value;
    }

    if (max_pos < 0) {
        *npos = argc;
        return FSAUTHCTL_OK;
    }

    if (n < min_pos) {
        return fsauthctl_opt_usage(cmd, "missing argument");
    }

    *npos = n;

    return FSAUTHCTL_OK;
}


static const fsauthctl_opt_t *
fsauthctl_opt_find_long(const fsauthctl_opt_t *opts, const char *name,
    size_t len)
{
    for ( /* void */ ; opts->name || opts->short_name; opts++) {
        if (opts->name
            && strlen(opts->name) == len
            && memcmp(opts->name, name, len) == 0)
        {
            return opts;
        }
    }

    return NULL;
}


static const fsauthctl_opt_t *
fsauthctl_opt_find_short(const fsauthctl_opt_t *opts, int c)
{
    for ( /* void */ ; opts->name || opts->short_name; opts++) {
        if (opts->short_name == c) {
            return opts;
        }
    }

    return NULL;
}

