
/*
 * Copyright (C) fsauth authors
 * BSD-2-Clause, see LICENSE.
 */


/*
 * "fsauthctl import FILE": the JSON of the FacturaScripts api_keys and
 * api_access tables.
 *
 * Its steps, run by fsauthctl_cmd_run(), read the file, validate it
 * (fsauthctl_import_load, static: nothing there talks to Redis), then
 * check and write against Redis.  To reach the static parts without
 * changing fsauthctl, fsauthctl/import.c is compiled into this file, with
 * fsauthctl_read_file renamed so that the "file" is the fuzzer's input;
 * every other fsauthctl source is linked unchanged (main.c excepted), and
 * the hiredis calls are answered by the in-memory store of fake_redis.c.
 * So the whole command runs: validation, the checks against Redis, the id
 * counter and the MULTI/EXEC writes (with a lost WATCH race now and then).
 *
 * Checked after a successful import, besides memory errors:
 *  - no apikey of the file appears in Redis, in any key, field or value
 *    (plain tokens are never stored);
 *  - every keyid:<id> names a key:<digest> hash whose id is <id>, and
 *    every key hash is named by its keyid (no half-written key);
 *  - importing the same file again succeeds and leaves exactly the same
 *    data (import is idempotent).
 */


#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_redis.h"


/* the file comes from the fuzzer, not from the file system */

int fuzz_import_read_file(const char *path, const char *what, char **data,
    size_t *len);

#define fsauthctl_read_file  fuzz_import_read_file

#include "../fsauthctl/import.c"

#undef fsauthctl_read_file


#define FUZZ_SECRET_MIN  12


static const uint8_t  *fuzz_data;
static size_t          fuzz_size;


int
fuzz_import_read_file(const char *path, const char *what, char **data,
    size_t *len)
{
    /* exactly sized and not NUL-terminated: ASan sees any over-read */

    *data = malloc(fuzz_size ? fuzz_size : 1);
    if (*data == NULL) {
        abort();
    }

    memcpy(*data, fuzz_data, fuzz_size);
    *len = fuzz_size;

    return FSAUTHCTL_OK;
}


/* fsauthctl's error messages are formatted, then dropped */

int
fsauthctl_error(const char *fmt, ...)
{
    char     buf[1024];
    va_list  ap;

    va_start(ap, fmt);
    (void) vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);

    return FSAUTHCTL_ERROR;
}


int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    /* "imported N keys" on every run would only slow the fuzzer down */

    if (freopen("/dev/null", "w", stdout) == NULL) {
        abort();
    }

    return 0;
}


/* as in fsauthctl's command table */

static const fsauthctl_cmd_t  fuzz_cmd = {
    "import", "import", "usage: import FILE\n",
    FSAUTHCTL_CMD_REDIS, 0, 1,
    fsauthctl_import_args, fsauthctl_import, fsauthctl_import_done
};


static int
fuzz_run_import(void)
{
    int          rc;
    char        *argv[2];
    fsauthctl_t  ctl;

    memset(&ctl, 0, sizeof(fsauthctl_t));
    ctl.host = "127.0.0.1";
    ctl.port = 6379;
    ctl.prefix = "fsauth:";

    argv[0] = "fuzz-input";
    argv[1] = NULL;

    rc = fsauthctl_cmd_run(&ctl, &fuzz_cmd, 1, argv);

    fsauthctl_redis_close(&ctl);

    return rc;
}


/* what Redis holds before each run: two keys and one broken keyid */

static const struct {
    const char  *token;
    const char  *fields[16];       /* name, value, ...; "id" first */
} fuzz_seed[] = {
    { "existing-token-0001",
      { "id", "1", "nick", "admin", "description", "existing",
        "enabled", "1", "fullaccess", "0", "creationdate", "2024-01-31",
        "res:clientes", "get,post", NULL } },
    { "existing-token-0002",
      { "id", "2", "enabled", "0", NULL } }
};


static void
fuzz_seed_store(void)
{
    char                d[FSAUTH_HEX_LEN + 1], name[128];
    size_t              i, j;
    const char         *token;
    const char *const  *f;

    for (i = 0; i < sizeof(fuzz_seed) / sizeof(fuzz_seed[0]); i++) {
        token = fuzz_seed[i].token;
        f = fuzz_seed[i].fields;

        if (fsauthctl_token_digest(token, strlen(token), d) != FSAUTHCTL_OK) {
            abort();
        }

        snprintf(name, sizeof(name), "fsauth:key:%s", d);

        for (j = 0; f[j]; j += 2) {
            fake_redis_hset(name, f[j], f[j + 1]);
        }

        snprintf(name, sizeof(name), "fsauth:keyid:%s", f[1]);
        fake_redis_set(name, d);
    }

    fake_redis_set("fsauth:keyid:9", "not-a-digest");
    fake_redis_set("fsauth:nextid", "2");
}


/* the apikeys of the file that must never reach Redis */

typedef struct {
    const char  **secrets;
    size_t       *lens;
    size_t        n;
    json_t       *others;
} fuzz_secrets_t;


static void
fuzz_collect_strings(json_t *v, json_t *out, int skip_apikey)
{
    size_t       i;
    json_t      *e;
    const char  *k;

    if (json_is_string(v)) {
        json_array_append(out, v);

    } else if (json_is_array(v)) {
        json_array_foreach(v, i, e) {
            fuzz_collect_strings(e, out, skip_apikey);
        }

    } else if (json_is_object(v)) {
        json_object_foreach(v, k, e) {
            json_array_append_new(out, json_string(k));

            if (skip_apikey && strcmp(k, "apikey") == 0) {
                continue;
            }

            fuzz_collect_strings(e, out, 0);
        }
    }
}


static int
fuzz_in_others(json_t *others, const char *s, size_t len)
{
    size_t   i;
    json_t  *e;

    json_array_foreach(others, i, e) {
        if (memmem(json_string_value(e), json_string_length(e), s, len)) {
            return 1;
        }
    }

    return 0;
}


static void
fuzz_check_secret(const char *s, size_t len, void *data)
{
    size_t           i;
    fuzz_secrets_t  *fs = data;

    for (i = 0; i < fs->n; i++) {
        if (memmem(s, len, fs->secrets[i], fs->lens[i])) {
            fprintf(stderr, "fuzz_import: an apikey reached redis\n");
            abort();
        }
    }
}


static void
fuzz_check_no_token(json_t *root)
{
    size_t           i, j;
    json_t          *keys, *k, *v, *items;
    fuzz_secrets_t   fs;

    keys = json_object_get(root, "api_keys");
    if (!json_is_array(keys)) {
        return;
    }

    fs.n = 0;
    fs.secrets = calloc(json_array_size(keys) + 1, sizeof(char *));
    fs.lens = calloc(json_array_size(keys) + 1, sizeof(size_t));
    fs.others = json_array();

    if (fs.secrets == NULL || fs.lens == NULL || fs.others == NULL) {
        abort();
    }

    /* all strings of the document, apikey values excepted */

    json_array_foreach(keys, i, k) {
        if (json_is_object(k)) {
            fuzz_collect_strings(k, fs.others, 1);
        }
    }

    items = json_object_get(root, "api_access");
    fuzz_collect_strings(items, fs.others, 0);

    json_array_foreach(keys, i, k) {
        v = json_object_get(k, "apikey");

        if (!json_is_string(v) || json_string_length(v) < FUZZ_SECRET_MIN) {
            continue;
        }

        /* also a nick, a description...: it may be stored as such */

        if (fuzz_in_others(fs.others, json_string_value(v),
                           json_string_length(v)))
        {
            continue;
        }

        for (j = 0; j < fs.n; j++) {
            if (fs.lens[j] == json_string_length(v)
                && memcmp(fs.secrets[j], json_string_value(v), fs.lens[j])
                   == 0)
            {
                break;
            }
        }

        if (j == fs.n) {
            fs.secrets[fs.n] = json_string_value(v);
            fs.lens[fs.n] = json_string_length(v);
            fs.n++;
        }
    }

    fake_redis_each(fuzz_check_secret, &fs);

    free(fs.secrets);
    free(fs.lens);
    json_decref(fs.others);
}


/*
 * 64 lower-case hex digits, found by looking each byte up in the digit
 * list: fsauthctl uses the shared rule, this model must not.
 */

static int
fuzz_is_digest(const char *s, size_t len)
{
    size_t  i;

    for (i = 0; i < len; i++) {
        if (memchr("0123456789abcdef", s[i], 16) == NULL) {
            return 0;
        }
    }

    return len == FSAUTH_HEX_LEN;
}


/* keyid:<id> <-> key:<digest> agree (the seeded broken keyid:9 aside) */

static void
fuzz_check_pairs(void)
{
    char          name[256], idtext[32];
    size_t        i, n, *lens, len;
    const char  **names, *v;

    n = fake_redis_keys(&names, &lens);

    for (i = 0; i < n; i++) {

        if (lens[i] > 13 && memcmp(names[i], "fsauth:keyid:", 13) == 0
            && lens[i] < 64)
        {
            memcpy(name, names[i], lens[i]);
            name[lens[i]] = '\0';

            if (strcmp(name, "fsauth:keyid:9") == 0) {
                continue;
            }

            v = fake_redis_get(name, NULL, &len);

            if (v == NULL || !fuzz_is_digest(v, len)) {
                fprintf(stderr, "fuzz_import: %s is not a digest\n", name);
                abort();
            }

            snprintf(name, sizeof(name), "fsauth:key:%.*s", (int) len, v);
            v = fake_redis_get(name, "id", &len);

            if (v == NULL || len != lens[i] - 13
                || memcmp(v, names[i] + 13, len) != 0)
            {
                fprintf(stderr, "fuzz_import: keyid and key disagree\n");
                abort();
            }
        }

        if (lens[i] == 11 + FSAUTH_HEX_LEN
            && memcmp(names[i], "fsauth:key:", 11) == 0)
        {
            memcpy(name, names[i], lens[i]);
            name[lens[i]] = '\0';

            v = fake_redis_get(name, "id", &len);

            if (v == NULL || len >= sizeof(idtext) - 1) {
                fprintf(stderr, "fuzz_import: key hash without id\n");
                abort();
            }

            snprintf(name, sizeof(name), "fsauth:keyid:%.*s", (int) len, v);
            v = fake_redis_get(name, NULL, &len);

            if (v == NULL || len != FSAUTH_HEX_LEN
                || memcmp(v, names[i] + 11, len) != 0)
            {
                fprintf(stderr, "fuzz_import: key hash not named by its "
                        "keyid\n");
                abort();
            }
        }
    }

    free(names);
    free(lens);
}


/*
 * Known issue (reported, not fixed here): fsauthctl_import_id accepts a
 * JSON integer id up to 2^63-1, but ids read back from Redis or given as
 * strings go through fsauthctl_parse_id, which allows 18 digits.  A key
 * imported with a 19-digit id then cannot be imported again ("its apikey
 * already belongs to key ...") nor named on the command line.  Such inputs
 * skip the second import unless FSAUTH_FUZZ_STRICT is set.
 */

static int
fuzz_known_big_id(json_t *root)
{
    size_t       i, t;
    json_t      *rows, *row, *id;
    const char  *tables[] = { "api_keys", "api_access" };
    const char  *fields[] = { "id", "idapikey" };

    for (t = 0; t < 2; t++) {
        rows = json_object_get(root, tables[t]);

        json_array_foreach(rows, i, row) {
            id = json_object_get(row, fields[t]);

            if (json_is_integer(id)
                && json_integer_value(id) > 999999999999999999LL)
            {
                return 1;
            }
        }
    }

    return 0;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int            rc, known;
    char          *dump1, *dump2;
    size_t         i, len1, len2;
    uint32_t       h;
    json_t        *root;
    json_error_t   err;

    fuzz_data = data;
    fuzz_size = size;

    fake_redis_reset();
    fuzz_seed_store();

    /* one in four inputs loses a WATCH race once (deterministically) */

    h = 2166136261u;

    for (i = 0; i < size; i++) {
        h = (h ^ data[i]) * 16777619u;
    }

    fake_redis_abort_exec = (h % 4 == 0);

    rc = fuzz_run_import();

    if (rc != FSAUTHCTL_OK) {
        fake_redis_reset();
        return 0;
    }

    root = json_loadb((const char *) data, size, JSON_REJECT_DUPLICATES,
                      &err);
    if (root == NULL) {
        abort();
    }

    fuzz_check_no_token(root);
    known = fuzz_known_big_id(root);
    json_decref(root);

    fuzz_check_pairs();

    if (known && getenv("FSAUTH_FUZZ_STRICT") == NULL) {
        fake_redis_reset();
        return 0;
    }

    dump1 = fake_redis_dump(&len1);

    fake_redis_abort_exec = 0;

    if (fuzz_run_import() != FSAUTHCTL_OK) {
        fprintf(stderr, "fuzz_import: a second import of the same file "
                "failed\n");
        abort();
    }

    dump2 = fake_redis_dump(&len2);

    if (len1 != len2 || memcmp(dump1, dump2, len1) != 0) {
        fprintf(stderr, "fuzz_import: importing twice changed the data\n"
                "first:  %s\nsecond: %s\n", dump1, dump2);
        abort();
    }

    free(dump1);
    free(dump2);

    fake_redis_reset();

    return 0;
}
