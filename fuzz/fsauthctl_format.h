
/*
 * Copyright (C) fsauth authors
 * BSD-2-Clause, see LICENSE.
 */


/*
 * Forced into every fsauthctl source the import fuzzer compiles
 * (-include): fsauthctl.h declares its printf-like helpers without a
 * format attribute, so a wrong conversion would go unnoticed by the
 * compiler.  These redeclarations let -Wformat check every call.
 */


#ifndef _FSAUTH_FUZZ_FSAUTHCTL_FORMAT_H_INCLUDED_
#define _FSAUTH_FUZZ_FSAUTHCTL_FORMAT_H_INCLUDED_


#include "fsauthctl.h"


#define FUZZ_PRINTF(f, a)  __attribute__((format(printf, f, a)))

int fsauthctl_error(const char *fmt, ...) FUZZ_PRINTF(1, 2);
char *fsauthctl_sprintf(const char *fmt, ...) FUZZ_PRINTF(1, 2);
void fsauthctl_args_addf(fsauthctl_args_t *args, const char *fmt, ...)
    FUZZ_PRINTF(2, 3);
int fsauthctl_opt_usage(const fsauthctl_cmd_t *cmd, const char *fmt, ...)
    FUZZ_PRINTF(2, 3);


#endif /* _FSAUTH_FUZZ_FSAUTHCTL_FORMAT_H_INCLUDED_ */
