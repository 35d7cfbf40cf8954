
/*
 * Copyright (C) fsauth authors
 * BSD-2-Clause, see LICENSE.
 */


/*
 * fsauthctl sync: reading the FacturaScripts tables api_keys and
 * api_access from MySQL/MariaDB (MariaDB Connector/C) or PostgreSQL
 * (libpq), in one read-only REPEATABLE READ transaction, so that a pass
 * never sees a key without the grants committed with it.
 *
 * Rows come back as JSON objects whose values are the column texts (or
 * null): the shape "import" reads, so that one mapping (import.c) turns
 * both a dump and a live table into key records.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mysql.h>
#include <libpq-fe.h>

#include "fsauthctl.h"


#define FSAUTHCTL_DB_CONNECT_TIMEOUT  5
#define FSAUTHCTL_DB_READ_TIMEOUT     30

typedef struct fsauthctl_db_engine_s  fsauthctl_db_engine_t;

struct fsauthctl_db_s {
    const fsauthctl_db_engine_t  *engine;
    char               *url;           /* as given: it holds no password */
    char               *user;
    char               *host;          /* NULL with a unix socket */
    char               *socket;        /* mysql: the socket file;
                                          postgresql: its directory */
    char               *port;          /* NULL: the default */
    char               *db;
    char               *password;      /* NULL: none */
    int                 warned;        /* "no fullaccess column" said */
    MYSQL              *my;
    PGconn             *pg;
};


static const char  *fsauthctl_db_keys_columns[] = {
    "id", "apikey", "description", "nick", "enabled", "fullaccess",
    "creationdate", NULL
};

static const char  *fsauthctl_db_access_columns[] = {
    "idapikey", "resource", "allowget", "allowpost", "allowput",
    "allowdelete", NULL
};


static int fsauthctl_db_parse(fsauthctl_db_t *db, const char *url);
static int fsauthctl_db_fail(fsauthctl_db_t *db, const char *what,
    const char *msg);
static int fsauthctl_db_my_connect(fsauthctl_db_t *db);
static int fsauthctl_db_my_exec(fsauthctl_db_t *db, const char *sql);
static int fsauthctl_db_my_rows(fsauthctl_db_t *db, const char *sql,
    const char **names, json_t **rows, long long *count);
static int fsauthctl_db_pg_connect(fsauthctl_db_t *db);
static int fsauthctl_db_pg_exec(fsauthctl_db_t *db, const char *sql);
static int fsauthctl_db_pg_rows(fsauthctl_db_t *db, const char *sql,
    const char **names, json_t **rows, long long *count);
static int fsauthctl_db_has_fullaccess(fsauthctl_db_t *db,
    long long *columns);
static json_t *fsauthctl_db_row(const char **names, char **values,
    size_t *lens);


/* what differs between the two engines */

struct fsauthctl_db_engine_s {
    int                (*connect)(fsauthctl_db_t *db);
    int                (*exec)(fsauthctl_db_t *db, const char *sql);
    int                (*rows)(fsauthctl_db_t *db, const char *sql,
                           const char **names, json_t **rows,
                           long long *count);

    /* the statements that open the read-only snapshot */
    const char          *begin[2];

    /* the columns of api_keys the user sees, and whether fullaccess is
     * one of them */
    const char          *columns;

    /* api_keys: with fullaccess, and without (an older FacturaScripts) */
    const char          *keys[2];
};


static const fsauthctl_db_engine_t  fsauthctl_db_mysql = {
    fsauthctl_db_my_connect,
    fsauthctl_db_my_exec,
    fsauthctl_db_my_rows,
    { "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ",
      "START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY" },
    "SELECT COUNT(*), COALESCE(SUM(column_name = 'fullaccess'), 0) "
    "FROM information_schema.columns "
    "WHERE table_schema = DATABASE() AND table_name = 'api_keys'",
    { "SELECT id, apikey, description, nick, enabled, fullaccess, "
      "DATE_FORMAT(creationdate, '%Y-%m-%d') FROM api_keys ORDER BY id",
      "SELECT id, apikey, description, nick, enabled, NULL, "
      "DATE_FORMAT(creationdate, '%Y-%m-%d') FROM api_keys ORDER BY id" }
};

static const fsauthctl_db_engine_t  fsauthctl_db_pgsql = {
    fsauthctl_db_pg_connect,
    fsauthctl_db_pg_exec,
    fsauthctl_db_pg_rows,
    { "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", NULL },
    "SELECT count(*), count(*) FILTER (WHERE column_name = 'fullaccess') "
    "FROM information_schema.columns "
    "WHERE table_schema = current_schema() AND table_name = 'api_keys'",
    { "SELECT id, apikey, description, nick, enabled, fullaccess, "
      "to_char(creationdate, 'YYYY-MM-DD') FROM api_keys ORDER BY id",
      "SELECT id, apikey, description, nick, enabled, NULL, "
      "to_char(creationdate, 'YYYY-MM-DD') FROM api_keys ORDER BY id" }
};

static const char  fsauthctl_db_access_sql[] =
    "SELECT idapikey, resource, allowget, allowpost, allowput, allowdelete "
    "FROM api_access ORDER BY idapikey";



/*
 * The URL and the password; nothing is connected yet.  The password comes
 * from password_file, else from FSAUTHCTL_DB_PASSWORD, never from the URL
 * (a command line is visible to every user of the machine).
 */

int
fsauthctl_db_open(const char *url, const char *password_file,
    fsauthctl_db_t **dbp)
{
    int              rc;
    const char      *env;
    fsauthctl_db_t  *db;

    db = fsauthctl_alloc(sizeof(fsauthctl_db_t));

    rc = fsauthctl_db_parse(db, url);

    if (rc == FSAUTHCTL_OK && password_file) {
        rc = fsauthctl_read_secret(password_file, "sync: password file",
                                   &db->password);

    } else if (rc == FSAUTHCTL_OK) {
        env = getenv("FSAUTHCTL_DB_PASSWORD");

        if (env && env[0]) {
            db->password = fsauthctl_strdup(env);
        }
    }

    if (rc != FSAUTHCTL_OK) {
        fsauthctl_db_close(db);
        return rc;
    }

    *dbp = db;

    return FSAUTHCTL_OK;
}


void
fsauthctl_db_close(fsauthctl_db_t *db)
{
    fsauthctl_db_disconnect(db);

    if (db->password) {
        explicit_bzero(db->password, strlen(db->password));
        free(db->password);
    }

    free(db->url);
    free(db->user);
    free(db->host);
    free(db->socket);
    free(db->port);
    free(db->db);
    free(db);
}


void
fsauthctl_db_disconnect(fsauthctl_db_t *db)
{
    if (db->my) {
        mysql_close(db->my);
        db->my = NULL;
    }

    if (db->pg) {
        PQfinish(db->pg);
        db->pg = NULL;
    }
}


const char *
fsauthctl_db_url(fsauthctl_db_t *db)
{
    return db->url;
}


/*
 * mysql://USER@HOST[:PORT]/DB, mysql://USER@unix:/PATH/DB,
 * postgresql://USER@HOST[:PORT]/DB, postgresql://USER@unix:/DIR/DB
 * ("mariadb://" and "postgres://" too).  HOST may be an [IPv6] address.
 * For PostgreSQL, /DIR may also name the socket file itself,
 * /DIR/.s.PGSQL.PORT.
 */

static int
fsauthctl_db_parse(fsauthctl_db_t *db, const char *url)
{
    size_t       n;
    const char  *p, *at, *slash, *colon, *end;

    db->url = fsauthctl_strdup(url);

    if (strncmp(url, "mysql://", 8) == 0) {
        db->engine = &fsauthctl_db_mysql;
        p = url + 8;

    } else if (strncmp(url, "mariadb://", 10) == 0) {
        db->engine = &fsauthctl_db_mysql;
        p = url + 10;

    } else if (strncmp(url, "postgresql://", 13) == 0) {
        db->engine = &fsauthctl_db_pgsql;
        p = url + 13;

    } else if (strncmp(url, "postgres://", 11) == 0) {
        db->engine = &fsauthctl_db_pgsql;
        p = url + 11;

    } else {
        return fsauthctl_error("sync: --from: expected mysql://... or "
                               "postgresql://..., not \"%s\"", url);
    }

    at = strchr(p, '@');
    slash = strchr(p, '/');

    if (at == NULL || at == p || (slash && slash < at)) {
        return fsauthctl_error("sync: --from: no USER@ in \"%s\"", url);
    }

    if (memchr(p, ':', at - p)) {
        /* the URL is on a command line: no password in it */
        fsauthctl_error("sync: --from: a password in the URL is refused; "
                        "use --password-file or FSAUTHCTL_DB_PASSWORD");
        explicit_bzero(db->url, strlen(db->url));
        return FSAUTHCTL_ERROR;
    }

    if (strpbrk(url, "?#")) {
        return fsauthctl_error("sync: --from: parameters (\"?\", \"#\") "
                               "are not supported in \"%s\"", url);
    }

    db->user = fsauthctl_strndup(p, at - p);
    p = at + 1;

    /* the database is the last path segment */

    end = strrchr(p, '/');

    if (end == NULL || end[1] == '\0') {
        return fsauthctl_error("sync: --from: no /DB at the end of \"%s\"",
                               url);
    }

    db->db = fsauthctl_strdup(end + 1);

    if (strncmp(p, "unix:", 5) == 0) {
        p += 5;

        if (p[0] != '/' || end == p) {
            return fsauthctl_error("sync: --from: expected unix:/PATH/DB "
                                   "in \"%s\"", url);
        }

        db->socket = fsauthctl_strndup(p, end - p);

        if (db->engine == &fsauthctl_db_pgsql) {
            char  *file;

            file = strrchr(db->socket, '/');

            if (strncmp(file + 1, ".s.PGSQL.", 9) == 0 && file[10] != '\0'
                && file != db->socket)
            {
                db->port = fsauthctl_strdup(file + 10);
                *file = '\0';
            }
        }

    } else {
        if (end != strchr(p, '/')) {
            return fsauthctl_error("sync: --from: expected HOST[:PORT]/DB "
                                   "in \"%s\"", url);
        }

        if (p[0] == '[') {
            colon = memchr(p, ']', end - p);

            if (colon == NULL) {
                return fsauthctl_error("sync: --from: no \"]\" after the "
                                       "IPv6 address in \"%s\"", url);
            }

            db->host = fsauthctl_strndup(p + 1, colon - p - 1);
            colon++;

            if (colon == end) {
                colon = NULL;

            } else if (*colon != ':') {
                return fsauthctl_error("sync: --from: invalid host in "
                                       "\"%s\"", url);
            }

        } else {
            colon = memchr(p, ':', end - p);
            db->host = fsauthctl_strndup(p, (colon ? colon : end) - p);
        }

        if (db->host[0] == '\0') {
            return fsauthctl_error("sync: --from: no host in \"%s\"", url);
        }

        if (colon) {
            long  port;

            db->port = fsauthctl_strndup(colon + 1, end - colon - 1);

            if (fsauthctl_parse_long(db->port, 1, 65535, &port)
                != FSAUTHCTL_OK)
            {
                return fsauthctl_error("sync: --from: invalid port in "
                                       "\"%s\"", url);
            }
        }
    }

    if (db->port) {
        n = strspn(db->port, "0123456789");

        if (n == 0 || db->port[n] != '\0') {
            return fsauthctl_error("sync: --from: invalid port in \"%s\"",
                                   url);
        }
    }

    return FSAUTHCTL_OK;
}


/*
 * One consistent snapshot of both tables: *keys and *access are JSON
 * arrays of row objects.  Any failure closes the connection (the next
 * call connects again) and is FSAUTHCTL_UNAVAILABLE, reported in one line.
 */

int
fsauthctl_db_read(fsauthctl_db_t *db, json_t **keys, json_t **access)
{
    int                           rc, i;
    long long                     columns[2];
    const fsauthctl_db_engine_t  *e;

    e = db->engine;
    *keys = NULL;
    *access = NULL;

    rc = e->connect(db);

    for (i = 0; i < 2 && e->begin[i] && rc == FSAUTHCTL_OK; i++) {
        rc = e->exec(db, e->begin[i]);
    }

    if (rc == FSAUTHCTL_OK) {
        rc = e->rows(db, e->columns, NULL, NULL, columns);
    }

    if (rc == FSAUTHCTL_OK) {
        rc = e->rows(db, e->keys[!fsauthctl_db_has_fullaccess(db, columns)],
                     fsauthctl_db_keys_columns, keys, NULL);
    }

    if (rc == FSAUTHCTL_OK) {
        rc = e->rows(db, fsauthctl_db_access_sql,
                     fsauthctl_db_access_columns, access, NULL);
    }

    if (rc == FSAUTHCTL_OK) {
        rc = e->exec(db, "COMMIT");
    }

    if (rc != FSAUTHCTL_OK) {
        json_decref(*keys);
        json_decref(*access);
        *keys = NULL;
        *access = NULL;
        fsauthctl_db_disconnect(db);
    }

    return rc;
}


/* one line, whatever the client library's message holds */

static int
fsauthctl_db_fail(fsauthctl_db_t *db, const char *what, const char *msg)
{
    char    *m, *p;
    size_t   len;

    m = fsauthctl_strdup(msg ? msg : "unknown error");

    for (p = m; *p; p++) {
        if (*p == '\n' || *p == '\r' || *p == '\t') {
            *p = ' ';
        }
    }

    len = strlen(m);

    while (len && m[len - 1] == ' ') {
        m[--len] = '\0';
    }

    fsauthctl_error("sync: %s: %s: %s", db->url, what, m);
    free(m);

    return FSAUTHCTL_UNAVAILABLE;
}


/*
 * columns[0]: the columns of api_keys the user can see, columns[1]: 1 if
 * fullaccess is one of them.  A table it cannot see at all is left to the
 * SELECT, whose error says what is wrong.
 */

static int
fsauthctl_db_has_fullaccess(fsauthctl_db_t *db, long long *columns)
{
    if (columns[0] == 0 || columns[1] != 0) {
        return 1;
    }

    if (!db->warned) {
        db->warned = 1;
        fsauthctl_error("sync: api_keys has no column fullaccess (an older "
                        "FacturaScripts): every key is read as without "
                        "full access");
    }

    return 0;
}


/* MySQL and MariaDB */

static int
fsauthctl_db_my_connect(fsauthctl_db_t *db)
{
    long          port;
    unsigned int  timeout;

    if (db->my) {
        return FSAUTHCTL_OK;
    }

    db->my = mysql_init(NULL);
    if (db->my == NULL) {
        return fsauthctl_error("sync: out of memory");
    }

    timeout = FSAUTHCTL_DB_CONNECT_TIMEOUT;
    mysql_options(db->my, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
    timeout = FSAUTHCTL_DB_READ_TIMEOUT;
    mysql_options(db->my, MYSQL_OPT_READ_TIMEOUT, &timeout);
    mysql_options(db->my, MYSQL_OPT_WRITE_TIMEOUT, &timeout);
    mysql_options(db->my, MYSQL_SET_CHARSET_NAME, "utf8mb4");

    port = 0;

    if (db->port) {
        (void) fsauthctl_parse_long(db->port, 1, 65535, &port);
    }

    if (mysql_real_connect(db->my, db->socket ? "localhost" : db->host,
                           db->user, db->password, db->db,
                           (unsigned int) port, db->socket, 0)
        == NULL)
    {
        return fsauthctl_db_fail(db, "cannot connect", mysql_error(db->my));
    }

    return FSAUTHCTL_OK;
}


static int
fsauthctl_db_my_exec(fsauthctl_db_t *db, const char *sql)
{
    if (mysql_query(db->my, sql) != 0) {
        return fsauthctl_db_fail(db, "query failed", mysql_error(db->my));
    }

    return FSAUTHCTL_OK;
}


/* rows as JSON objects, or (rows NULL) the first two numbers of a row */

static int
fsauthctl_db_my_rows(fsauthctl_db_t *db, const char *sql, const char **names,
    json_t **rows, long long *count)
{
    size_t          i, ncols;
    MYSQL_ROW       row;
    MYSQL_RES      *res;
    unsigned long  *lens;

    if (fsauthctl_db_my_exec(db, sql) != FSAUTHCTL_OK) {
        return FSAUTHCTL_UNAVAILABLE;
    }

    res = mysql_store_result(db->my);
    if (res == NULL) {
        return fsauthctl_db_fail(db, "query failed", mysql_error(db->my));
    }

    ncols = mysql_num_fields(res);

    if (rows) {
        *rows = json_array();
    }

    while ((row = mysql_fetch_row(res)) != NULL) {
        lens = mysql_fetch_lengths(res);

        if (rows == NULL) {
            count[0] = row[0] ? atoll(row[0]) : 0;
            count[1] = ncols > 1 && row[1] ? atoll(row[1]) : 0;
            continue;
        }

        {
            size_t  l[8];

            for (i = 0; i < ncols && i < 8; i++) {
                l[i] = lens[i];
            }

            json_array_append_new(*rows, fsauthctl_db_row(names, row, l));
        }
    }

    if (mysql_errno(db->my)) {
        mysql_free_result(res);
        return fsauthctl_db_fail(db, "query failed", mysql_error(db->my));
    }

    mysql_free_result(res);

    return FSAUTHCTL_OK;
}


/* PostgreSQL */

static int
fsauthctl_db_pg_connect(fsauthctl_db_t *db)
{
    int           n;
    const char   *keys[12], *values[12];
    char          timeout[16];

    if (db->pg) {
        if (PQstatus(db->pg) == CONNECTION_OK) {
            return FSAUTHCTL_OK;
        }

        PQfinish(db->pg);
        db->pg = NULL;
    }

    snprintf(timeout, sizeof(timeout), "%d", FSAUTHCTL_DB_CONNECT_TIMEOUT);

    n = 0;
    keys[n] = "host";
    values[n++] = db->socket ? db->socket : db->host;

    if (db->port) {
        keys[n] = "port";
        values[n++] = db->port;
    }

    keys[n] = "user";
    values[n++] = db->user;
    keys[n] = "dbname";
    values[n++] = db->db;

    if (db->password) {
        keys[n] = "password";
        values[n++] = db->password;
    }

    keys[n] = "connect_timeout";
    values[n++] = timeout;
    keys[n] = "client_encoding";
    values[n++] = "UTF8";
    keys[n] = "application_name";
    values[n++] = "fsauthctl sync";
    keys[n] = "options";
    values[n++] = "-c statement_timeout=30000";
    keys[n] = NULL;
    values[n] = NULL;

    db->pg = PQconnectdbParams(keys, values, 0);

    if (db->pg == NULL) {
        return fsauthctl_error("sync: out of memory");
    }

    if (PQstatus(db->pg) != CONNECTION_OK) {
        return fsauthctl_db_fail(db, "cannot connect",
                                 PQerrorMessage(db->pg));
    }

    return FSAUTHCTL_OK;
}


static int
fsauthctl_db_pg_exec(fsauthctl_db_t *db, const char *sql)
{
    PGresult  *res;

    res = PQexec(db->pg, sql);

    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        PQclear(res);
        return fsauthctl_db_fail(db, "query failed",
                                 PQerrorMessage(db->pg));
    }

    PQclear(res);

    return FSAUTHCTL_OK;
}


static int
fsauthctl_db_pg_rows(fsauthctl_db_t *db, const char *sql, const char **names,
    json_t **rows, long long *count)
{
    int        r, c, nrows, ncols;
    char      *values[8];
    size_t     lens[8];
    PGresult  *res;

    res = PQexec(db->pg, sql);

    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        PQclear(res);
        return fsauthctl_db_fail(db, "query failed",
                                 PQerrorMessage(db->pg));
    }

    nrows = PQntuples(res);
    ncols = PQnfields(res);

    if (rows == NULL) {
        count[0] = nrows ? atoll(PQgetvalue(res, 0, 0)) : 0;
        count[1] = nrows && ncols > 1 ? atoll(PQgetvalue(res, 0, 1)) : 0;
        PQclear(res);
        return FSAUTHCTL_OK;
    }

    *rows = json_array();

    for (r = 0; r < nrows; r++) {
        for (c = 0; c < ncols && c < 8; c++) {
            values[c] = PQgetisnull(res, r, c) ? NULL
                                               : PQgetvalue(res, r, c);
            lens[c] = PQgetlength(res, r, c);
        }

        json_array_append_new(*rows, fsauthctl_db_row(names, values, lens));
    }

    PQclear(res);

    return FSAUTHCTL_OK;
}


/*
 * A row as {"name": "text" or null}.  Text that is not UTF-8 becomes
 * null, which import's checks then refuse for that row.  The apikey is
 * wiped from the client library's buffer once copied.
 */

static json_t *
fsauthctl_db_row(const char **names, char **values, size_t *lens)
{
    size_t   i;
    json_t  *obj, *v;

    obj = json_object();

    for (i = 0; names[i]; i++) {
        v = values[i] ? json_stringn(values[i], lens[i]) : NULL;
        json_object_set_new(obj, names[i], v ? v : json_null());

        if (values[i] && strcmp(names[i], "apikey") == 0) {
            explicit_bzero(values[i], lens[i]);
        }
    }

    return obj;
}
