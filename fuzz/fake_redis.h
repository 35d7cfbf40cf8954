
/*
 * Copyright (C) fsauth authors
 * BSD-2-Clause, see LICENSE.
 */


#ifndef _FSAUTH_FUZZ_FAKE_REDIS_H_INCLUDED_
#define _FSAUTH_FUZZ_FAKE_REDIS_H_INCLUDED_


#include <stddef.h>

#include <hiredis/hiredis.h>


extern int            fake_redis_abort_exec;
extern unsigned long  fake_redis_commands;

void fake_redis_reset(void);
void fake_redis_set(const char *key, const char *value);
void fake_redis_hset(const char *key, const char *field, const char *value);
redisContext *fake_connect_static(void);
char *fake_redis_dump(size_t *len);
void fake_redis_each(void (*fn)(const char *s, size_t len, void *data),
    void *data);
const char *fake_redis_get(const char *key, const char *field, size_t *len);
size_t fake_redis_keys(const char ***names, size_t **lens);


#endif /* _FSAUTH_FUZZ_FAKE_REDIS_H_INCLUDED_ */
