
/*
 * Copyright (C) fsauth authors
 * BSD-2-Clause, see LICENSE.
 */


/*
 * fsauthctl: global options, help texts, the command table, and the
 * lookup of a command in it.
 */

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fsauthctl.h"


#define FSAUTHCTL_EXIT_STATUS                                                 \
    "Exit status: 0 success, 1 usage or data error, or output that could\n"   \
    "not be written (closed pipe, full disk), with one line on stderr, 2\n"   \
    "Redis unreachable or authentication failed.  Errors stay one line on\n"  \
    "stderr with --json too.\n"

#ifndef FSAUTHCTL_VERSION
#define FSAUTHCTL_VERSION  "unknown"
#endif


static const char  fsauthctl_help[] =
"Usage: fsauthctl [OPTIONS] COMMAND [ARGS]\n"
"\n"
"Manages the fsauth API keys, their grants and the API kill switch in\n"
"Redis (schema 1, shared with the nginx module ngx_http_fsauth_module).\n"
"\n"
"Options, before COMMAND:\n"
"  -h, --host HOST           Redis host (default 127.0.0.1)\n"
"  -p, --port PORT           Redis port (default 6379)\n"
"  -s, --socket PATH         Redis unix socket, instead of host and port\n"
"  -n, --db N                Redis database number (default 0)\n"
"  -a, --password-file FILE  AUTH with the first line of FILE (trimmed);\n"
"                            without -a, the environment variable\n"
"                            FSAUTHCTL_PASSWORD, if set\n"
"      --user NAME           AUTH as this ACL user (needs a password)\n"
"      --tls                 speak TLS to Redis, verifying its certificate\n"
"      --cacert FILE         CA certificates (PEM) to verify it with\n"
"                            (default: the system's)\n"
"      --cert FILE           client certificate (PEM), with --key\n"
"      --key FILE            private key of --cert (PEM)\n"
"      --sni NAME            server name to send and verify (default: the\n"
"                            host)\n"
"      --prefix P            prefix of the Redis keys (default \"fsauth:\")\n"
"      --actor NAME          who writes, in the audit trail (default\n"
"                            user@host)\n"
"      --sentinel HOST:PORT[,HOST:PORT...]\n"
"                            ask these Redis Sentinels for the primary of\n"
"                            --master and write there (checked with ROLE),\n"
"                            instead of --host, --port and --socket\n"
"      --master NAME         the master name the sentinels monitor\n"
"      --sentinel-password-file FILE\n"
"                            AUTH to the sentinels with the first line of\n"
"                            FILE\n"
"      --sentinel-user NAME  AUTH to the sentinels as this ACL user (needs\n"
"                            --sentinel-password-file)\n"
"      --version             prints \"fsauthctl VERSION\"\n"
"      --help                this help; \"fsauthctl COMMAND --help\" for one\n"
"                            command\n"
"\n"
"Commands (each also takes --json: its output as JSON):\n"
"  key create --description TEXT [--nick N] [--full-access]\n"
"             [--expires DATE|DURATION]\n"
"  key list\n"
"  key show ID\n"
"  key enable ID | key disable ID\n"
"  key full-access ID on|off\n"
"  key expire ID DATE|DURATION|never\n"
"  key allow-ips ID CIDR[,CIDR...]|any\n"
"  key rotate ID [--grace DURATION]\n"
"  key delete ID\n"
"  access grant ID RESOURCE [--get] [--post] [--put] [--delete]\n"
"  access revoke ID RESOURCE\n"
"  access list ID\n"
"  access check ID RESOURCE METHOD\n"
"  api enable | api disable | api status\n"
"  import FILE\n"
"  export\n"
"  audit [--since T]\n"
"  sync --from URL [--password-file PATH] [--interval T] [--dry-run]\n"
"       [--allow-empty]\n"
"  help [COMMAND]\n"
"\n"
"Tokens are printed once, by \"key create\" and \"key rotate\"; Redis keeps\n"
"only their SHA-256 digest.  Every write is one MULTI/EXEC transaction,\n"
"which also adds its entry to the audit trail (\"fsauthctl audit\").\n"
"\n"
FSAUTHCTL_EXIT_STATUS;


static const char  fsauthctl_key_help[] =
"Usage: fsauthctl [OPTIONS] key SUBCOMMAND [ARGS]\n"
"\n"
"  create --description TEXT [--nick N] [--full-access]\n"
"         [--expires DATE|DURATION]\n"
"                           new enabled key; prints its id and its token\n"
"  list                     all keys, with their last activity\n"
"  show ID                  one key with its grants\n"
"  enable ID, disable ID    a disabled key is refused like an unknown one\n"
"  full-access ID on|off    full access skips the per-resource grants\n"
"  expire ID DATE|DURATION|never\n"
"                           from then on the key is refused like a\n"
"                           disabled one\n"
"  allow-ips ID CIDR[,CIDR...]|any\n"
"                           only requests from these addresses may use\n"
"                           the key\n"
"  rotate ID [--grace DURATION]\n"
"                           new token; the old one stops working at once,\n"
"                           or when the grace ends\n"
"  delete ID                deletes the key, its grants and its activity\n"
"\n"
"Every sub-command takes --json.\n"
"Run \"fsauthctl key SUBCOMMAND --help\" for details.\n";

static const char  fsauthctl_key_create_help[] =
"Usage: fsauthctl [OPTIONS] key create --description TEXT [--nick N]\n"
"                                      [--full-access]\n"
"                                      [--expires DATE|DURATION]\n"
"\n"
"Creates an enabled key with a new id (from <prefix>nextid) and a random\n"
"token of 20 characters from 0-9a-zA-Z.  creationdate is today (UTC).\n"
"Without --full-access the key may use nothing but the API listing until\n"
"\"fsauthctl access grant\" gives it resources.\n"
"\n"
"  --description TEXT   what the key is for (required, not empty)\n"
"  --nick N             the user the key belongs to (informational)\n"
"  --full-access        allow every resource and method\n"
"  --expires WHEN       the key is refused from then on (see \"key expire\n"
"                       --help\" for DATE and DURATION); not in the past\n"
"  --json               {\"id\": 7, \"token\": \"Xq3...\"} instead\n"
"\n"
"TEXT and N must be printable UTF-8: control characters (0x00-0x1F, DEL,\n"
"U+0080-U+009F) and invalid UTF-8 are refused.\n"
"\n"
"Output, two lines; the token is shown this once and never again:\n"
"  id: 7\n"
"  token: Xq3...\n"
"e.g. token=$(fsauthctl key create --description ERP | sed -n "
"'s/^token: //p')\n"
"If the token cannot be written (closed pipe, full disk), the key is\n"
"deleted again and the exit status is 1.\n"
"\n"
FSAUTHCTL_EXIT_STATUS;

static const char  fsauthctl_key_list_help[] =
"Usage: fsauthctl [OPTIONS] key list [--json]\n"
"\n"
"Lists every key, by id, as a table with the columns ID, NICK, ENABLED,\n"
"FULLACCESS, CREATED, EXPIRES, ALLOW_IPS, LASTACTIVITY (UTC, ISO 8601),\n"
"LASTIP and DESCRIPTION; LASTACTIVITY and LASTIP are blank for a key\n"
"never used, EXPIRES for a key that never expires, ALLOW_IPS for a key\n"
"usable from any address.\n"
"Tokens are never shown.\n"
"\n"
"  --json   a JSON array of objects: id, description, nick (null when\n"
"           unset), enabled, fullaccess (booleans), creationdate,\n"
"           lastactivity (unix seconds or null), lastip (or null),\n"
"           expires (unix seconds or null), allow_ips (an array of\n"
"           networks, or null)\n"
"\n"
FSAUTHCTL_EXIT_STATUS;

static const char  fsauthctl_key_show_help[] =
"Usage: fsauthctl [OPTIONS] key show ID [--json]\n"
"\n"
"Shows one key as \"field: value\" lines (id, nick, description, enabled,\n"
"fullaccess, creationdate, expires, allow_ips, lastactivity, lastip),\n"
"then\n"
"\"grants:\" and\n"
"one \"  RESOURCE: get,post,...\" line per grant (\"-\": nothing allowed).\n"
"Old tokens still in their grace (see \"key rotate\") follow as\n"
"\"old tokens:\" and one \"  1a2b3c4d...: until TIME\" line each: the\n"
"first 8 hex digits of their SHA-256 digest.  The token is never shown.\n"
"\n"
"  --json   one JSON object, as in \"key list --json\", plus \"grants\": an\n"
"           array of {resource, allowget, allowpost, allowput,\n"
"           allowdelete}, and \"old_tokens\": an array of {digest (8 hex\n"
"           digits), until (unix seconds)}\n"
"\n"
FSAUTHCTL_EXIT_STATUS;

static const char  fsauthctl_key_enable_help[] =
"Usage: fsauthctl [OPTIONS] key enable ID [--json]\n"
"       fsauthctl [OPTIONS] key disable ID [--json]\n"
"\n"
"Sets the field \"enabled\" of key ID to 1 or 0.  A disabled key is refused\n"
"with 401, like an unknown token.  Prints \"key ID: enabled\" or\n"
"\"key ID: disabled\".\n"
"\n"
"  --json   {\"id\": 7, \"enabled\": true} instead\n"
"\n"
FSAUTHCTL_EXIT_STATUS;

static const char  fsauthctl_key_full_access_help[] =
"Usage: fsauthctl [OPTIONS] key full-access ID on|off [--json]\n"
"\n"
"With full access, key ID may use every resource with every method and its\n"
"grants are not consulted.  Prints \"key ID: full access on\" (or off).\n"
"\n"
"  --json   {\"id\": 7, \"fullaccess\": true} instead\n"
"\n"
FSAUTHCTL_EXIT_STATUS;

static const char  fsauthctl_key_expire_help[] =
"Usage: fsauthctl [OPTIONS] key expire ID DATE|DURATION|never [--json]\n"
"\n"
"Sets the field \"expires\" of key ID (unix seconds).  From that second\n"
"on the key is refused with 401, like a disabled one, and no nginx cache\n"
"keeps it longer.  \"never\" removes the field.\n"
"\n"
"  DATE       2027-01-31 (00:00:00 UTC that day) or 2027-01-31T18:00:00Z\n"
"  DURATION   from now: NUMBER UNIT, repeated; units s, m, h, d, w,\n"
"             e.g. 90d, 12h, 1w2d (at most 100 years)\n"
"\n"
"A time already past is accepted: the key is refused at once.  Prints\n"
"\"key ID: expires 2027-01-31T00:00:00Z\" or \"key ID: never expires\".\n"
"\n"
"  --json   {\"id\": 7, \"expires\": 1801353600} (or null: never) instead\n"
"\n"
FSAUTHCTL_EXIT_STATUS;

static const char  fsauthctl_key_allow_ips_help[] =
"Usage: fsauthctl [OPTIONS] key allow-ips ID CIDR[,CIDR...]|any [--json]\n"
"\n"
"Sets the field \"allow_ips\" of key ID: a request with its token from\n"
"another client address (as nginx sees it, after real_ip_header) is\n"
"refused with 403.  \"any\" removes the field.\n"
"\n"
"  CIDR     an IPv4 or IPv6 address (192.0.2.7, 2001:db8::7) or network\n"
"           (10.0.0.0/8, 2001:db8::/32), host bits zero; at most 8,\n"
"           comma separated, no spaces\n"
"\n"
"The list is checked before anything is written, with the module's own\n"
"rule, and stored as given; a bad entry is named and nothing is written.\n"
"Prints \"key ID: allow_ips 10.0.0.0/8,192.0.2.7\" or\n"
"\"key ID: any address\".\n"
"\n"
"  --json   {\"id\": 7, \"allow_ips\": [\"10.0.0.0/8\", \"192.0.2.7\"]} (or\n"
"           null: any) instead\n"
"\n"
FSAUTHCTL_EXIT_STATUS;

static const char  fsauthctl_key_rotate_help[] =
"Usage: fsauthctl [OPTIONS] key rotate ID [--grace DURATION] [--json]\n"
"\n"
"Gives key ID a new random token, keeping its id, fields, grants and\n"
"activity.  Without --grace the old token stops working at once: the\n"
"record moves to the new digest in the same transaction, and old tokens\n"
"of earlier rotations still in their grace end too.  Output, as for\n"
"\"key create\":\n"
"  id: 7\n"
"  token: Xq3...\n"
"If the new token cannot be written (closed pipe, full disk), the\n"
"rotation is undone, the old token works again and the exit status is 1.\n"
"\n"
"  --grace DURATION   the old token keeps working, with the key's grants,\n"
"                     for DURATION (NUMBER UNIT, repeated; units s, m, h,\n"
"                     d, w, e.g. 90s, 10m, 1d), but not past the key's\n"
"                     expiry; then Redis deletes it.  A third line tells\n"
"                     when: \"old token until: 2027-01-31T18:00:00Z\".\n"
"                     \"key show\" lists it; \"key disable\" and \"key\n"
"                     delete\" end it at once.\n"
"  --json             {\"id\": 7, \"token\": \"Xq3...\", \"old_token_until\":\n"
"                     1801353600} (null without a grace) instead\n"
"\n"
FSAUTHCTL_EXIT_STATUS;

static const char  fsauthctl_key_delete_help[] =
"Usage: fsauthctl [OPTIONS] key delete ID [--json]\n"
"\n"
"Deletes key ID with its grants and activity.  Its id is never reused.\n"
"Prints \"key ID: deleted\".\n"
"\n"
"  --json   {\"id\": 7, \"deleted\": true} instead\n"
"\n"
FSAUTHCTL_EXIT_STATUS;

static const char  fsauthctl_access_help[] =
"Usage: fsauthctl [OPTIONS] access SUBCOMMAND [ARGS]\n"
"\n"
"  grant ID RESOURCE [--get] [--post] [--put] [--delete]\n"
"  revoke ID RESOURCE\n"
"  list ID\n"
"  check ID RESOURCE METHOD\n"
"\n"
"Every sub-command takes --json.\n"
"Run \"fsauthctl access SUBCOMMAND --help\" for details.\n";

static const char  fsauthctl_access_grant_help[] =
"Usage: fsauthctl [OPTIONS] access grant ID RESOURCE [--get] [--post]\n"
"                                        [--put] [--delete] [--json]\n"
"\n"
"Sets what key ID may do on RESOURCE (the path segment after /api/3/, as\n"
"sent, case-sensitive), replacing an earlier grant for it.  --put also\n"
"allows PATCH.  With no flag the grant exists but allows nothing, like an\n"
"api_access row with every flag false.  Prints\n"
"\"key ID: RESOURCE: get,post\" (\"none\" when nothing is allowed).\n"
"\n"
"  --get, --post, --put, --delete   the methods allowed\n"
"  --json   the grant as an api_access row instead: {\"idapikey\": 7,\n"
"           \"resource\": ..., \"allowget\": true, \"allowpost\": false,\n"
"           \"allowput\": false, \"allowdelete\": false}\n"
"\n"
FSAUTHCTL_EXIT_STATUS;

static const char  fsauthctl_access_revoke_help[] =
"Usage: fsauthctl [OPTIONS] access revoke ID RESOURCE [--json]\n"
"\n"
"Removes the grant of key ID for RESOURCE.  Prints\n"
"\"key ID: RESOURCE: revoked\"; a key without that grant is an error.\n"
"\n"
"  --json   {\"idapikey\": 7, \"resource\": ..., \"revoked\": true} instead\n"
"\n"
FSAUTHCTL_EXIT_STATUS;

static const char  fsauthctl_access_list_help[] =
"Usage: fsauthctl [OPTIONS] access list ID [--json]\n"
"\n"
"Lists the grants of key ID as a table RESOURCE, ALLOW (\"get,post\", or\n"
"\"-\" for nothing).\n"
"\n"
"  --json   a JSON array in the shape of api_access rows: idapikey,\n"
"           resource, allowget, allowpost, allowput, allowdelete\n"
"\n"
FSAUTHCTL_EXIT_STATUS;

static const char  fsauthctl_access_check_help[] =
"Usage: fsauthctl [OPTIONS] access check ID RESOURCE METHOD [--json]\n"
"\n"
"Prints \"allowed\" (exit 0) or \"denied\" (exit 1): the decision the nginx\n"
"module makes for a request with the token of key ID, from what it reads\n"
"in Redis.  Denied whatever the grants:\n"
"  - everything while the kill switch is off (\"api disable\": field\n"
"    enabled of <prefix>api is 0);\n"
"  - a RESOURCE the module refuses as an ambiguous path: bytes outside\n"
"    0x21-0x7E, \"/\", \"#\", \"\\\", \"%2F\", \"%5C\", \"%00\", a \"%\"\n"
"    without two hex digits, \".\" or \"..\" (dots also written \"%2e\");\n"
"  - an unknown key, a record whose id is not a positive integer, a\n"
"    record the module cannot read, or one whose enabled is not exactly 1\n"
"    (a malformed expires or allow_ips, an expiry reached).\n"
"Then an empty RESOURCE (\"\", the API listing) and full access are\n"
"allowed; otherwise METHOD must be granted on RESOURCE: GET needs get,\n"
"POST post, PUT and PATCH put, DELETE delete.  Any other METHOD (HEAD,\n"
"OPTIONS...) is denied.  METHOD is case-sensitive, as in HTTP.\n"
"\n"
"  --json   {\"allowed\": true} or {\"allowed\": false} instead\n"
"\n"
"Only nginx's configuration knows the rest: \"fsauth_api off\", OPTIONS\n"
"passed without a token (\"fsauth_preflight pass\", the default), the\n"
"global key, bans, a custom fsauth_resource, and fsauth_failure_mode.\n"
"The client address is not known here either: a key's allow_ips, when\n"
"well-formed, is taken as holding it.\n"
"\n"
"Exit status: 0 allowed, 1 denied, usage error or output that could not\n"
"be written, 2 Redis unreachable or authentication failed.\n";

static const char  fsauthctl_api_help[] =
"Usage: fsauthctl [OPTIONS] api enable|disable|status [--json]\n"
"\n"
"The fleet-wide kill switch, field \"enabled\" of <prefix>api: while it is\n"
"0, every request gets 403 \"API disabled\".\n"
"\n"
"  enable    set it to 1; prints \"api enabled\"\n"
"  disable   set it to 0; prints \"api disabled\"\n"
"  status    prints \"api enabled\" or \"api disabled\" (unset is enabled)\n"
"  --json    {\"enabled\": true} or {\"enabled\": false} instead\n"
"\n"
FSAUTHCTL_EXIT_STATUS;

static const char  fsauthctl_import_help[] =
"Usage: fsauthctl [OPTIONS] import FILE [--json]\n"
"\n"
"Imports keys and grants from FILE (\"-\": stdin), JSON in the shape of\n"
"the FacturaScripts tables, so that a database dump converts directly:\n"
"\n"
"  {\"api_keys\": [{\"id\": 1, \"apikey\": \"...\", \"description\": \"...\",\n"
"                 \"nick\": null, \"enabled\": true, \"fullaccess\": false,\n"
"                 \"creationdate\": \"2024-01-31\"}],\n"
"   \"api_access\": [{\"idapikey\": 1, \"resource\": \"clientes\",\n"
"                   \"allowget\": true, \"allowpost\": false,\n"
"                   \"allowput\": false, \"allowdelete\": false}]}\n"
"\n"
"ids are numbers or numeric strings; booleans are true/false, 1/0, \"1\"/\n"
"\"0\", \"t\"/\"f\" or \"true\"/\"false\"; a null fullaccess or allow flag is\n"
"false; a missing enabled is true; nick and creationdate may be null\n"
"(creationdate then keeps the stored date, or today); creationdate is\n"
"YYYY-MM-DD (a time after it is ignored) or DD-MM-YYYY, and a day that\n"
"exists (2023-02-29 is refused, 2024-02-29 is not).  apikey: 1..99\n"
"printable ASCII characters, no space, not \"0\".  nick and description:\n"
"printable UTF-8, no control character (0x00-0x1F, DEL, U+0080-U+009F).\n"
"A missing or null table has no rows.  Other members are ignored.\n"
"\n"
"The whole file is checked before anything is written.  Each key of\n"
"api_keys is then written in one transaction and replaced as a whole: its\n"
"fields and grants become those of the file.  A key without \"apikey\" (a\n"
"file from \"export\") must already exist and keeps its token.  api_access\n"
"rows of a key that is not in api_keys but in Redis are added to its\n"
"grants.  Importing the same file twice gives the same state, and\n"
"<prefix>nextid is raised to the largest id, so ids are never reused.\n"
"Prints e.g. \"imported 3 keys, 5 grants (1 replaced)\", replaced counting\n"
"the keys that existed before; with --json\n"
"{\"keys\": 3, \"grants\": 5, \"replaced\": 1} instead.  Each transaction\n"
"adds an \"import\" entry to the audit trail (per key, and one for\n"
"<prefix>nextid).\n"
"\n"
"  --json   the counts as a JSON object\n"
"\n"
FSAUTHCTL_EXIT_STATUS;

static const char  fsauthctl_export_help[] =
"Usage: fsauthctl [OPTIONS] export [--json]\n"
"\n"
"Prints every key and grant as JSON in the shape \"import\" reads\n"
"({\"api_keys\": [...], \"api_access\": [...]}), sorted by id.  Redis holds\n"
"no tokens, so \"apikey\" is omitted: importing an export updates the\n"
"fields and grants of keys that exist and keeps their tokens.\n"
"\n"
"  --json   accepted; the output is JSON either way\n"
"\n"
FSAUTHCTL_EXIT_STATUS;

static const char  fsauthctl_audit_help[] =
"Usage: fsauthctl [OPTIONS] audit [--since T] [--json]\n"
"\n"
"Prints the audit trail, the Redis stream <prefix>audit, oldest first, as\n"
"a table TIME (UTC, ISO 8601), ACTOR, ACTION, ID, DETAIL.  Every write of\n"
"fsauthctl adds one entry in the transaction of the change, so an entry\n"
"exists exactly when its change does: time (unix seconds), actor\n"
"(--actor, or user@host), action (key.create, key.enable, key.disable,\n"
"key.full-access, key.expire, key.allow-ips, key.rotate, key.delete,\n"
"access.grant, access.revoke, api.enable, api.disable, import), id (the\n"
"key id, empty for api.*) and detail.  No entry holds a token or a digest.\n"
"The stream keeps about the last 10000 entries (XADD MAXLEN ~ 10000).\n"
"Changes made with redis-cli or any other client are not in it.\n"
"\n"
"  --since T   entries from T on: a unix time, a UTC date YYYY-MM-DD\n"
"              (optionally THH:MM or THH:MM:SS, Z allowed), or a\n"
"              duration back from now: 90s, 15m, 1h, 7d, 2w\n"
"  --json      a JSON array of {\"time\": 1767225600, \"actor\": ...,\n"
"              \"action\": ..., \"id\": 7 (null when empty), \"detail\": ...}\n"
"\n"
FSAUTHCTL_EXIT_STATUS;


static const char  fsauthctl_sync_help[] =
"Usage: fsauthctl [OPTIONS] sync --from URL [--password-file PATH]\n"
"                                [--interval T] [--dry-run] [--allow-empty]\n"
"                                [--json]\n"
"\n"
"Makes Redis match the FacturaScripts tables api_keys and api_access, read\n"
"from the FacturaScripts database in one read-only transaction: keys\n"
"created, changed ones rewritten (each in one transaction), and keys\n"
"deleted in FacturaScripts, or whose token changed, removed.  One line per\n"
"change on stdout (\"key 7: created\", \"key 7: updated (enabled)\",\n"
"\"key 7: token changed\", \"key 7: deleted\"); tokens are never shown.\n"
"\n"
"Sync owns only the keys it wrote (field source = facturascripts); keys\n"
"from \"key create\" or \"import\" are never touched.  api_keys.id N is key\n"
"id N in Redis; a row whose id or token is already used by another key\n"
"is reported on stderr and skipped, and so is a row whose token can never\n"
"pass the gateway.  Rows sharing one token: the first enabled one wins.\n"
"\n"
"  --from URL            mysql://USER@HOST[:PORT]/DB\n"
"                        mysql://USER@unix:/PATH/TO/SOCKET/DB\n"
"                        postgresql://USER@HOST[:PORT]/DB\n"
"                        postgresql://USER@unix:/SOCKET/DIR/DB\n"
"                        (mysql: MySQL and MariaDB; no password in URL)\n"
"  --password-file PATH  the database password: the first line of PATH;\n"
"                        else the environment variable\n"
"                        FSAUTHCTL_DB_PASSWORD; else none\n"
"  --interval T          run until SIGTERM, a pass every T (5s, 500ms,\n"
"                        1m); a failing database or Redis is retried,\n"
"                        waiting longer each time (up to 30 s)\n"
"  --dry-run             print what would change, write nothing\n"
"  --allow-empty         delete every synced key when api_keys is empty\n"
"                        (refused otherwise: a wrong database, an empty\n"
"                        restore)\n"
"\n"
"Without --interval, one pass, then a summary line: \"3 created,\n"
"1 updated, 0 deleted, 96 unchanged, 0 skipped\".  Each change adds an\n"
"entry \"sync\" to the audit trail.\n"
"\n"
"  --json                one JSON object a line instead: {\"id\": 7,\n"
"                        \"change\": \"created\", \"dry_run\": false} per\n"
"                        change, then {\"created\": 3, \"updated\": 1,\n"
"                        \"deleted\": 0, \"unchanged\": 96, \"skipped\": 0,\n"
"                        \"dry_run\": false}\n"
"\n"
"Exit status: 0 success (skipped rows are only reported), 1 usage error\n"
"or an empty api_keys refused, 2 the database or Redis unreachable or\n"
"answering an error (then nothing was changed).  With --interval: 0 after\n"
"SIGTERM or SIGINT.\n";


/*
 * The commands: what the dispatcher (cmd.c) does for each before its run
 * step, as flags (FSAUTHCTL_CMD_ID: the first argument is a key id;
 * FSAUTHCTL_CMD_REDIS: connect once the arguments are checked), the option
 * sets it takes, its number of positional arguments, then its check, run
 * and done steps.
 */

static const fsauthctl_cmd_t  fsauthctl_key_cmds[] = {
    { "create", "key create", fsauthctl_key_create_help,
      FSAUTHCTL_CMD_REDIS, FSAUTHCTL_OPT_CREATE, 0,
      fsauthctl_key_create_args, fsauthctl_key_create, NULL },
    { "list", "key list", fsauthctl_key_list_help,
      FSAUTHCTL_CMD_REDIS, 0, 0,
      NULL, fsauthctl_key_list, NULL },
    { "show", "key show", fsauthctl_key_show_help,
      FSAUTHCTL_CMD_ID | FSAUTHCTL_CMD_REDIS, 0, 1,
      NULL, fsauthctl_key_show, NULL },
    { "enable", "key enable", fsauthctl_key_enable_help,
      FSAUTHCTL_CMD_ID | FSAUTHCTL_CMD_REDIS, 0, 1,
      NULL, fsauthctl_key_enable, NULL },
    { "disable", "key disable", fsauthctl_key_enable_help,
      FSAUTHCTL_CMD_ID | FSAUTHCTL_CMD_REDIS, 0, 1,
      NULL, fsauthctl_key_enable, NULL },
    { "full-access", "key full-access", fsauthctl_key_full_access_help,
      FSAUTHCTL_CMD_ID | FSAUTHCTL_CMD_REDIS, 0, 2,
      fsauthctl_key_full_access_args, fsauthctl_key_full_access, NULL },
    { "expire", "key expire", fsauthctl_key_expire_help,
      FSAUTHCTL_CMD_ID | FSAUTHCTL_CMD_REDIS, 0, 2,
      fsauthctl_key_expire_args, fsauthctl_key_expire, NULL },
    { "allow-ips", "key allow-ips", fsauthctl_key_allow_ips_help,
      FSAUTHCTL_CMD_ID | FSAUTHCTL_CMD_REDIS, 0, 2,
      fsauthctl_key_allow_ips_args, fsauthctl_key_allow_ips, NULL },
    { "rotate", "key rotate", fsauthctl_key_rotate_help,
      FSAUTHCTL_CMD_ID | FSAUTHCTL_CMD_REDIS, FSAUTHCTL_OPT_ROTATE, 1,
      fsauthctl_key_rotate_args, fsauthctl_key_rotate, NULL },
    { "delete", "key delete", fsauthctl_key_delete_help,
      FSAUTHCTL_CMD_ID | FSAUTHCTL_CMD_REDIS, 0, 1,
      NULL, fsauthctl_key_delete, NULL },
    { NULL, NULL, NULL, 0, 0, 0, NULL, NULL, NULL }
};

static const fsauthctl_cmd_t  fsauthctl_access_cmds[] = {
    { "grant", "access grant", fsauthctl_access_grant_help,
      FSAUTHCTL_CMD_ID | FSAUTHCTL_CMD_REDIS, FSAUTHCTL_OPT_GRANT, 2,
      fsauthctl_access_grant_args, fsauthctl_access_grant, NULL },
    { "revoke", "access revoke", fsauthctl_access_revoke_help,
      FSAUTHCTL_CMD_ID | FSAUTHCTL_CMD_REDIS, 0, 2,
      fsauthctl_access_revoke_args, fsauthctl_access_revoke, NULL },
    { "list", "access list", fsauthctl_access_list_help,
      FSAUTHCTL_CMD_ID | FSAUTHCTL_CMD_REDIS, 0, 1,
      NULL, fsauthctl_access_list, NULL },
    { "check", "access check", fsauthctl_access_check_help,
      FSAUTHCTL_CMD_ID | FSAUTHCTL_CMD_REDIS, 0, 3,
      fsauthctl_access_check_args, fsauthctl_access_check, NULL },
    { NULL, NULL, NULL, 0, 0, 0, NULL, NULL, NULL }
};

static const fsauthctl_cmd_t  fsauthctl_api_cmds[] = {
    { "enable", "api enable", fsauthctl_api_help,
      FSAUTHCTL_CMD_REDIS, 0, 0,
      NULL, fsauthctl_api, NULL },
    { "disable", "api disable", fsauthctl_api_help,
      FSAUTHCTL_CMD_REDIS, 0, 0,
      NULL, fsauthctl_api, NULL },
    { "status", "api status", fsauthctl_api_help,
      FSAUTHCTL_CMD_REDIS, 0, 0,
      NULL, fsauthctl_api, NULL },
    { NULL, NULL, NULL, 0, 0, 0, NULL, NULL, NULL }
};

static const fsauthctl_cmd_t  fsauthctl_top_cmds[] = {
    { "audit", "audit", fsauthctl_audit_help,
      FSAUTHCTL_CMD_REDIS, FSAUTHCTL_OPT_SINCE, 0,
      fsauthctl_audit_args, fsauthctl_audit, NULL },
    /* hidden: the commands and options, for the bash completion */
    { "__complete", "__complete", fsauthctl_help, 0, 0, 0,
      NULL, fsauthctl_complete, NULL },
    /* FILE is read and checked before connecting */
    { "import", "import", fsauthctl_import_help,
      FSAUTHCTL_CMD_REDIS, 0, 1,
      fsauthctl_import_args, fsauthctl_import, fsauthctl_import_done },
    { "export", "export", fsauthctl_export_help,
      FSAUTHCTL_CMD_REDIS, 0, 0,
      NULL, fsauthctl_export, NULL },
    /* connects by itself: watch mode reconnects after a failure */
    { "sync", "sync", fsauthctl_sync_help,
      0, FSAUTHCTL_OPT_SYNC, 0,
      fsauthctl_sync_args, fsauthctl_sync, NULL },
    { NULL, NULL, NULL, 0, 0, 0, NULL, NULL, NULL }
};

static const struct {
    fsauthctl_cmd_t          group;
    const fsauthctl_cmd_t   *cmds;
} fsauthctl_groups[] = {
    { { "key", "key", fsauthctl_key_help, 0, 0, 0, NULL, NULL, NULL },
      fsauthctl_key_cmds },
    { { "access", "access", fsauthctl_access_help, 0, 0, 0, NULL, NULL,
        NULL },
      fsauthctl_access_cmds },
    { { "api", "api", fsauthctl_api_help, 0, 0, 0, NULL, NULL, NULL },
      fsauthctl_api_cmds },
    { { NULL, NULL, NULL, 0, 0, 0, NULL, NULL, NULL }, NULL }
};

static const fsauthctl_cmd_t  fsauthctl_main_cmd = {
    "fsauthctl", "", fsauthctl_help, 0, 0, 0, NULL, NULL, NULL
};


static const char  fsauthctl_default_host[] = "127.0.0.1";


/* the global options, and where fsauthctl_run() finds their values */
typedef struct {
    const char         *port;
    const char         *db;
    int                 version;
} fsauthctl_global_t;

#define FSAUTHCTL_GLOBAL_OPTS  19


static void fsauthctl_global_options(fsauthctl_t *ctl,
    fsauthctl_global_t *g, fsauthctl_opt_t *opts);
static int fsauthctl_run(fsauthctl_t *ctl, int argc, char **argv);
static int fsauthctl_close_stdout(void);
static const fsauthctl_cmd_t *fsauthctl_find(const fsauthctl_cmd_t *cmds,
    const char *name);


int
main(int argc, char **argv)
{
    int          rc, err;
    fsauthctl_t  ctl;

    /*
     * A closed pipe ("fsauthctl key create | true") must not kill the
     * process silently, maybe after a key was created: writes then fail
     * with EPIPE, and each one is checked.
     */
    signal(SIGPIPE, SIG_IGN);

    /* jitter of the retry backoff: different in concurrent processes */
    srandom((unsigned) getpid() ^ (unsigned) time(NULL));

    memset(&ctl, 0, sizeof(fsauthctl_t));
    ctl.host = fsauthctl_default_host;
    ctl.port = 6379;
    ctl.prefix = "fsauth:";

    rc = fsauthctl_run(&ctl, argc - 1, argv + 1);

    fsauthctl_redis_close(&ctl);
    fsauthctl_audit_clear(&ctl);

    if (ctl.sentinel_password) {
        explicit_bzero(ctl.sentinel_password, strlen(ctl.sentinel_password));
        free(ctl.sentinel_password);
    }

    if (rc == FSAUTHCTL_HELP) {
        rc = FSAUTHCTL_OK;
    }

    /*
     * A full disk or a closed pipe must not look like success.  A command
     * that failed has said so already, in its one line.
     */

    err = fsauthctl_close_stdout();

    if (err != 0 && rc == FSAUTHCTL_OK) {
        /* not fsauthctl_error(): it would flush the closed stdout */

        if (err > 0) {
            fprintf(stderr, "fsauthctl: cannot write the output: %s\n",
                    strerror(err));

        } else {
            fputs("fsauthctl: cannot write the output\n", stderr);
        }

        rc = FSAUTHCTL_ERROR;
    }

    return rc;
}


/*
 * Flushes and closes stdout: 0, the errno of the failure, or -1 when an
 * earlier write failed (its errno is gone).
 */

static int
fsauthctl_close_stdout(void)
{
    int  err;

    err = 0;

    if (fflush(stdout) != 0) {
        err = errno ? errno : -1;

    } else if (ferror(stdout)) {
        err = -1;
    }

    if (fclose(stdout) != 0 && err == 0) {
        err = errno ? errno : -1;
    }

    return err;
}


static void
fsauthctl_global_options(fsauthctl_t *ctl, fsauthctl_global_t *g,
    fsauthctl_opt_t *opts)
{
    fsauthctl_opt_t  all[FSAUTHCTL_GLOBAL_OPTS] = {
        { "host", 'h', 1, &ctl->host, NULL },
        { "port", 'p', 1, &g->port, NULL },
        { "socket", 's', 1, &ctl->socket, NULL },
        { "db", 'n', 1, &g->db, NULL },
        { "password-file", 'a', 1, &ctl->password_file, NULL },
        { "prefix", 0, 1, &ctl->prefix, NULL },
        { "user", 0, 1, &ctl->user, NULL },
        { "tls", 0, 0, NULL, &ctl->tls },
        { "cacert", 0, 1, &ctl->cacert, NULL },
        { "cert", 0, 1, &ctl->cert, NULL },
        { "key", 0, 1, &ctl->key, NULL },
        { "sni", 0, 1, &ctl->sni, NULL },
        { "actor", 0, 1, &ctl->actor, NULL },
        { "sentinel", 0, 1, &ctl->sentinel, NULL },
        { "master", 0, 1, &ctl->master, NULL },
        { "sentinel-password-file", 0, 1, &ctl->sentinel_password_file,
          NULL },
        { "sentinel-user", 0, 1, &ctl->sentinel_user, NULL },
        { "version", 0, 0, NULL, &g->version },
        { NULL, 0, 0, NULL, NULL }
    };

    memcpy(opts, all, sizeof(all));
}


static int
fsauthctl_run(fsauthctl_t *ctl, int argc, char **argv)
{
    int                     rc, n, i;
    long                    port, db;
    const char             *sport, *sdb;
    fsauthctl_opt_t         opts[FSAUTHCTL_GLOBAL_OPTS];
    fsauthctl_global_t      g;
    const fsauthctl_cmd_t  *cmd, *group;

    memset(&g, 0, sizeof(fsauthctl_global_t));
    fsauthctl_global_options(ctl, &g, opts);

    rc = fsauthctl_opt_parse(&fsauthctl_main_cmd, argc, argv, opts, NULL, 0,
                             -1, &n);
    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    if (g.version) {
        printf("fsauthctl %s\n", FSAUTHCTL_VERSION);
        return FSAUTHCTL_HELP;
    }

    sport = g.port;
    sdb = g.db;

    if (sport) {
        if (fsauthctl_parse_long(sport, 1, 65535, &port) != FSAUTHCTL_OK) {
            return fsauthctl_opt_usage(&fsauthctl_main_cmd,
                                       "invalid port \"%s\"", sport);
        }

        ctl->port = (int) port;
    }

    if (sdb) {
        if (fsauthctl_parse_long(sdb, 0, 1000000, &db) != FSAUTHCTL_OK) {
            return fsauthctl_opt_usage(&fsauthctl_main_cmd,
                                       "invalid database number \"%s\"",
                                       sdb);
        }

        ctl->db = db;
    }

    if (ctl->host[0] == '\0') {
        return fsauthctl_opt_usage(&fsauthctl_main_cmd, "empty host");
    }

    if (ctl->sentinel) {
        if (ctl->sentinel[0] == '\0' || ctl->master == NULL
            || ctl->master[0] == '\0')
        {
            return fsauthctl_opt_usage(&fsauthctl_main_cmd,
                                       "--sentinel needs --master NAME");
        }

        if (ctl->socket || sport || ctl->host != fsauthctl_default_host) {
            return fsauthctl_opt_usage(&fsauthctl_main_cmd,
                                       "--sentinel replaces --host, --port "
                                       "and --socket");
        }

        if (ctl->sentinel_user
            && (ctl->sentinel_user[0] == '\0'
                || ctl->sentinel_password_file == NULL))
        {
            return fsauthctl_opt_usage(&fsauthctl_main_cmd,
                                       "--sentinel-user needs a name and "
                                       "--sentinel-password-file");
        }

    } else if (ctl->master || ctl->sentinel_password_file
               || ctl->sentinel_user)
    {
        return fsauthctl_opt_usage(&fsauthctl_main_cmd,
                                   "--master, --sentinel-password-file and "
                                   "--sentinel-user go with --sentinel");
    }

    if (ctl->socket && ctl->socket[0] == '\0') {
        return fsauthctl_opt_usage(&fsauthctl_main_cmd, "empty socket path");
    }

    rc = fsauthctl_secure_check(&fsauthctl_main_cmd, ctl);
    if (rc != FSAUTHCTL_OK) {
        return rc;
    }

    if (strlen(ctl->prefix) > FSAUTH_PREFIX_MAX) {
        return fsauthctl_opt_usage(&fsauthctl_main_cmd,
                                   "prefix longer than %d bytes",
                                   FSAUTH_PREFIX_MAX);
    }

    if (ctl->actor
        && (ctl->actor[0] == '\0'
            || !fsauthctl_text_valid(ctl->actor, strlen(ctl->actor))))
    {
        return fsauthctl_opt_usage(&fsauthctl_main_cmd, "--actor: empty, or "
                                   FSAUTHCTL_TEXT_RULE);
    }

    argc -= n;
    argv += n;

    if (argc == 0) {
        return fsauthctl_opt_usage(&fsauthctl_main_cmd, "missing command");
    }

    /* "fsauthctl help [COMMAND...]" is "fsauthctl [COMMAND...] --help" */

    if (strcmp(argv[0], "help") == 0) {
        if (argc == 1) {
            fputs(fsauthctl_help, stdout);
            return FSAUTHCTL_HELP;
        }

        argv[0] = "--help";

        for (i = 0; i + 1 < argc; i++) {
            char  *t = argv[i];

            argv[i] = argv[i + 1];
            argv[i + 1] = t;
        }
    }

    cmd = fsauthctl_find(fsauthctl_top_cmds, argv[0]);
    if (cmd) {
        return fsauthctl_cmd_run(ctl, cmd, argc - 1, argv + 1);
    }

    for (i = 0; fsauthctl_groups[i].cmds; i++) {
        group = &fsauthctl_groups[i].group;

        if (strcmp(argv[0], group->name) != 0) {
            continue;
        }

        if (argc == 1) {
            return fsauthctl_opt_usage(group, "missing sub-command");
        }

        if (strcmp(argv[1], "--help") == 0) {
            fputs(group->help, stdout);
            return FSAUTHCTL_HELP;
        }

        cmd = fsauthctl_find(fsauthctl_groups[i].cmds, argv[1]);
        if (cmd == NULL) {
            return fsauthctl_opt_usage(group, "unknown sub-command \"%s\"",
                                       argv[1]);
        }

        return fsauthctl_cmd_run(ctl, cmd, argc - 2, argv + 2);
    }

    return fsauthctl_opt_usage(&fsauthctl_main_cmd,
                               "unknown command \"%s\"", argv[0]);
}


static const fsauthctl_cmd_t *
fsauthctl_find(const fsauthctl_cmd_t *cmds, const char *name)
{
    for ( /* void */ ; cmds->name; cmds++) {
        if (strcmp(cmds->name, name) == 0) {
            return cmds;
        }
    }

    return NULL;
}


/*
 * "fsauthctl __complete" (hidden): one line of the global options, then
 * one line per command, its words then its options, an option with a
 * value ending in "=".  The bash completion reads it, and the tests check
 * it against --help and the man page, so none of them can drift.
 */

static void
fsauthctl_complete_line(const char *path, const fsauthctl_opt_t *opts)
{
    const char  *sep;

    fputs(path, stdout);
    sep = path[0] ? " " : "";

    for ( /* void */ ; opts->name; opts++) {
        printf("%s--%s%s", sep, opts->name, opts->has_arg ? "=" : "");
        sep = " ";
    }

    putchar('\n');
}


int
fsauthctl_complete(fsauthctl_t *ctl, fsauthctl_call_t *call)
{
    int                     i;
    fsauthctl_opt_t         opts[FSAUTHCTL_CMD_OPTS_MAX + 1];
    fsauthctl_opt_t         gopts[FSAUTHCTL_GLOBAL_OPTS];
    fsauthctl_call_t        dummy;
    fsauthctl_global_t      g;
    const fsauthctl_cmd_t  *cmd;

    (void) call;

    fsauthctl_global_options(ctl, &g, gopts);
    fsauthctl_complete_line("", gopts);

    memset(&dummy, 0, sizeof(fsauthctl_call_t));

    for (cmd = fsauthctl_top_cmds; cmd->name; cmd++) {
        if (cmd->name[0] != '_') {
            fsauthctl_cmd_options(cmd, &dummy, opts);
            fsauthctl_complete_line(cmd->path, opts);
        }
    }

    for (i = 0; fsauthctl_groups[i].cmds; i++) {
        for (cmd = fsauthctl_groups[i].cmds; cmd->name; cmd++) {
            fsauthctl_cmd_options(cmd, &dummy, opts);
            fsauthctl_complete_line(cmd->path, opts);
        }
    }

    memset(opts, 0, sizeof(fsauthctl_opt_t));
    fsauthctl_complete_line("help", opts);

    return FSAUTHCTL_OK;
}
