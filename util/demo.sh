#!/bin/bash
# Install what is missing, build, and start a throwaway demo on localhost:
# redis-server + nginx with fsauth in front of a stand-in FacturaScripts
# backend, configured as README.md recommends (cache, ban), with the
# metrics on a loopback listener and the JSON access log of
# conf-examples/json-access-log.conf.  "util/demo.sh stop" stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
demo=${FSAUTH_DEMO_DIR:-/tmp/fsauth-demo}
nginx_port=${FSAUTH_DEMO_PORT:-8080}
redis_port=${FSAUTH_DEMO_REDIS_PORT:-16390}
backend_port=$((nginx_port + 1))
metrics_port=$((nginx_port + 2))

stop() {
    if [ -f "$demo/logs/nginx.pid" ]; then
        /usr/sbin/nginx -p "$demo/" -c "$demo/conf/nginx.conf" -s quit \
            2>/dev/null || true
    fi
    redis-cli -p "$redis_port" shutdown nosave >/dev/null 2>&1 || true
}

if [ "${1:-}" = stop ]; then
    stop
    echo "fsauth demo stopped"
    exit 0
fi

./util/deps.sh
make -s all

stop
rm -rf "$demo"
mkdir -p "$demo/conf" "$demo/logs"

redis-server --port "$redis_port" --bind 127.0.0.1 --save '' \
    --appendonly no --dir "$demo" --daemonize yes \
    --logfile "$demo/logs/redis.log"
for _ in $(seq 50); do
    redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break
    sleep 0.1
done

global_key=$(head -c 15 /dev/urandom | base64 | tr -d '/+=' | head -c 20)
printf '%s\n' "$global_key" > "$demo/conf/global.key"
chmod 600 "$demo/conf/global.key"

ctl="$root/build/fsauthctl -p $redis_port"
out=$($ctl key create --description "demo key" --nick demo)
id=$(printf '%s\n' "$out" | sed -n 's/^id: //p')
token=$(printf '%s\n' "$out" | sed -n 's/^token: //p')
$ctl access grant "$id" clientes --get --post >/dev/null

# the JSON log format of the example, not a copy of it
json_format=$(sed -n '/^ *log_format fsauth_json /,/;$/p' \
    conf-examples/json-access-log.conf)
[ -n "$json_format" ] || {
    echo "fsauth: no fsauth_json log_format in conf-examples" >&2
    exit 1
}

cat > "$demo/conf/nginx.conf" <<EOC
load_module $root/build/ngx_http_fsauth_module.so;
worker_processes 2;
error_log $demo/logs/error.log info;
pid $demo/logs/nginx.pid;
events { worker_connections 1024; }
http {
$json_format

    access_log $demo/logs/access.json fsauth_json;
    client_body_temp_path $demo/body;
    proxy_temp_path $demo/proxy;
    fastcgi_temp_path $demo/fastcgi;
    uwsgi_temp_path $demo/uwsgi;
    scgi_temp_path $demo/scgi;

    fsauth_redis 127.0.0.1:$redis_port timeout=300ms;
    fsauth_cache zone=fsauth:10m;

    # the gateway
    server {
        listen 127.0.0.1:$nginx_port;

        location /api/ {
            fsauth on;
            fsauth_global_key_file $demo/conf/global.key;
            # 429 after 5 refusals (401/403) within the window: the
            # default window is 600s, one minute here so that a demo
            # address banned by its own tries is let in again soon
            fsauth_ban 5 60s;
            proxy_set_header X-Fsauth-Key-Id \$fsauth_key_id;
            proxy_pass http://127.0.0.1:$backend_port;
        }
    }

    # the metrics, on loopback only
    server {
        listen 127.0.0.1:$metrics_port;
        access_log off;

        location = /metrics {
            fsauth_metrics;
            allow 127.0.0.1;
            deny all;
        }
    }

    # a stand-in for FacturaScripts, answering like /api/3/<resource>
    server {
        listen 127.0.0.1:$backend_port;
        default_type application/json;
        access_log off;

        location ~ ^/api/3/?$ {
            return 200 '{"resources":["clientes","facturas"]}\n';
        }

        location ~ ^/api/3/([^/]+) {
            return 200 '{"backend":"stand-in","resource":"\$1","method":"\$request_method","key_id":"\$http_x_fsauth_key_id"}\n';
        }
    }
}
EOC

/usr/sbin/nginx -p "$demo/" -c "$demo/conf/nginx.conf"

u=http://127.0.0.1:$nginx_port
cat <<EOT

fsauth demo running: nginx on 127.0.0.1:$nginx_port, redis on 127.0.0.1:$redis_port
files and logs in $demo; stop it with: util/demo.sh stop
metrics: http://127.0.0.1:$metrics_port/metrics
JSON access log: $demo/logs/access.json

user key $id (token shown once): $token, granted GET and POST on "clientes"

try:
  # 200, granted by the key's grant on "clientes"
  curl -i -H 'X-Auth-Token: $token' $u/api/3/clientes
  # 401, no token / unknown token
  curl -i $u/api/3/clientes
  curl -i -H 'X-Auth-Token: wrong-token' $u/api/3/clientes
  # 403, no grant on "facturas" / no "delete" on "clientes"
  curl -i -H 'X-Auth-Token: $token' $u/api/3/facturas
  curl -i -X DELETE -H 'X-Auth-Token: $token' $u/api/3/clientes/1
  # 200, the global key has full access; the listing needs no grant
  curl -i -H 'X-Auth-Token: $global_key' $u/api/3/facturas
  curl -i -H 'X-Auth-Token: $token' $u/api/3
  # 429 from the 5th refusal (401/403) within a minute on: this address
  # is banned until its oldest refusal is a minute old (fsauth_ban 5 60s)
  for i in 1 2 3 4 5 6; do curl -s -o /dev/null -w '%{http_code} ' $u/api/3/clientes; done; echo

watch it:
  # decisions, cache, Redis connections, kill switch, bans
  curl -s http://127.0.0.1:$metrics_port/metrics | grep -v '^#'
  # one JSON object per request, with \$fsauth_status, key id, resource
  tail -f $demo/logs/access.json

manage keys:
  build/fsauthctl -p $redis_port key list
  build/fsauthctl -p $redis_port access grant $id facturas --get
  build/fsauthctl -p $redis_port key disable $id
  # who changed what: every fsauthctl write, with its actor
  build/fsauthctl -p $redis_port audit --since 1h
EOT
