package FsauthWorkers;

# Requests to an FsauthNginx with several workers, telling which worker
# answered: its location adds X-Pid ($pid) and X-Cache
# ($fsauth_cache_status).  For the files that check every worker.

use strict;
use warnings;

use FsauthTest qw(http_raw);

use Exporter 'import';
our @EXPORT = qw(workers_location worker_get warm);

# the location, for FsauthNginx->start(server => ...)
sub workers_location {
    return <<'_EOC_';
        location /api/ {
            fsauth on;
            add_header X-Pid $pid always;
            add_header X-Cache $fsauth_cache_status always;
            proxy_pass http://127.0.0.1:$PORT/backend/;
        }
_EOC_
}

# one GET with the token: (status, cache status, worker pid)
sub worker_get {
    my ($n, $token, $path) = @_;
    $path //= '/api/3/clientes';
    my ($st, $head) = http_raw($n->port,
        "GET $path HTTP/1.0\r\nHost: x\r\nX-Auth-Token: $token\r\n\r\n", 3);
    my ($cache) = $head =~ /^X-Cache: (\S+)/mi;
    my ($pid) = $head =~ /^X-Pid: (\d+)/mi;
    return ($st, $cache // '', $pid // 0);
}

# requests until both workers have answered 200 from the cache, twice
# each: how many workers did (FsauthNginx's warm)
sub warm {
    my ($n, $token) = @_;
    return $n->warm(sub { worker_get($n, $token) });
}

1;
