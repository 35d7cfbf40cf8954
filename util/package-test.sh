#!/bin/bash
# Installs the packages that util/package.sh wrote to OUTDIR in a fresh
# chroot of the same suite and tries them as an administrator would:
#
#   util/package-test.sh SUITE OUTDIR       SUITE: bookworm, trixie or sid
#
#   1. apt-get install ./*.deb nginx redis-server man-db curl: the module
#      is enabled through /etc/nginx/modules-enabled (nginx -t clean with
#      no load_module line of ours), /usr/bin/fsauthctl, man fsauthctl,
#      its --version and bash completion;
#   2. redis-server and nginx started by hand on free loopback ports (no
#      systemd here), a key made with the installed fsauthctl, then a 200,
#      a 401 and two 403s through the installed module;
#   3. the module reinstalled, as in an upgrade: the restart message is
#      printed once, a reload leaves nginx running the replaced (deleted)
#      file and a restart runs the new one;
#   4. apt-get remove: nginx -t passes and nginx starts and answers;
#      apt-get purge: no file named *fsauth* and no "fsauth" under /etc.
#
# Ends with "N passed, N failed".  Needs root.  FSAUTH_APT_CACHE: see
# util/chroot.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
. util/chroot.sh

usage() { echo "usage: util/package-test.sh bookworm|trixie|sid OUTDIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
suite=$1
case $suite in bookworm|trixie|sid) ;; *) usage ;; esac
debs=$(cd "$2" 2>/dev/null && pwd) || usage
ls "$debs"/libnginx-mod-http-fsauth_*.deb "$debs"/fsauthctl_*.deb \
    >/dev/null || { echo "package-test: no packages in $2" >&2; exit 2; }
fsauth_need_root util/package-test.sh

t0=$(date +%s)
fsauth_chroot_start package-test "$suite"
mkdir -p "$chroot_dir/root/debs"
cp "$debs"/*.deb "$chroot_dir/root/debs/"

cat > "$chroot_dir/root/test.sh" <<'EOF'
set -uo pipefail
pass=0 fail=0
ok()  { pass=$((pass + 1)); echo "ok $((pass + fail)) - $1"; }
nok() { fail=$((fail + 1)); echo "not ok $((pass + fail)) - $1"; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else nok "$what"; fi; }
quiet() { "$@" >/dev/null; }
finish() {
    echo "$pass passed, $fail failed"
    [ $fail -eq 0 ]
    exit
}
apt_q() { apt-get -y -q -o Dpkg::Use-Pty=0 "$@"; }

# a free loopback port from a random start
free_port() {
    local p=$(( 20000 + RANDOM % 20000 ))
    while (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null ||
          (exec 3<>/dev/tcp/127.0.0.1/$((p + 1))) 2>/dev/null; do
        p=$((p + 2))
    done
    echo $p
}
wait_port() {
    local i
    for i in $(seq 50); do
        (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}
status() {     # status METHOD URL [TOKEN]
    curl -s -o /dev/null -w '%{http_code}' -X "$1" \
        ${3:+-H "X-Auth-Token: $3"} "$2"
}

# 1. install
apt-get update -qq
cd /root/debs
if apt_q install ./*.deb nginx redis-server man-db curl > /root/install.log 2>&1
then
    ok "apt-get install ./*.deb nginx redis-server"
else
    tail -n 30 /root/install.log; nok "apt-get install"; finish
fi
cd /root
echo "# $(dpkg-query -W -f='${Package} ${Version}\n' nginx \
      libnginx-mod-http-fsauth fsauthctl redis-server | paste -sd, -)"
link=/etc/nginx/modules-enabled/50-mod-http-fsauth.conf
check "$link -> modules-available/mod-http-fsauth.conf" \
    test "$(readlink $link)" = /usr/share/nginx/modules-available/mod-http-fsauth.conf
check "no load_module line of ours in nginx.conf" \
    bash -c '! grep -q fsauth /etc/nginx/nginx.conf'
check "nginx -t (the installed configuration)" nginx -q -t
check "nginx -T loads the module from modules-enabled" \
    bash -c 'nginx -T 2>/dev/null | grep -q "^load_module modules/ngx_http_fsauth_module.so;"'
check "/usr/bin/fsauthctl" test -x /usr/bin/fsauthctl
check "man fsauthctl" \
    bash -c 'man -P cat fsauthctl 2>/dev/null | grep -q "access check"'
check "fsauthctl --version" \
    bash -c 'fsauthctl --version | grep -Eq "^fsauthctl [0-9]"'
check "bash completion of fsauthctl" \
    bash -c '. /usr/share/bash-completion/completions/fsauthctl &&
             COMP_WORDS=(fsauthctl key cr) && COMP_CWORD=2 && _fsauthctl &&
             test "${COMPREPLY[*]}" = create'

# 2. redis-server, nginx with fsauth, a key, 200/401/403
rport=$(free_port)
mkdir -p /srv/smoke
redis-server --bind 127.0.0.1 --port "$rport" --save '' --appendonly no \
    --daemonize yes --dir /srv/smoke --logfile /srv/smoke/redis.log
check "redis-server on 127.0.0.1:$rport" wait_port "$rport"
nport=$(free_port)
ctl="fsauthctl -p $rport"
out=$($ctl key create --description "package test" --nick smoke)
id=$(printf '%s\n' "$out" | sed -n 's/^id: //p')
token=$(printf '%s\n' "$out" | sed -n 's/^token: //p')
check "fsauthctl key create" test -n "$id" -a ${#token} -eq 20
check "fsauthctl access grant $id clientes --get" \
    quiet $ctl access grant "$id" clientes --get
check "fsauthctl access check: GET allowed" \
    quiet $ctl access check "$id" clientes GET
check "fsauthctl access check: DELETE denied" \
    bash -c "! $ctl access check $id clientes DELETE >/dev/null"

cat > /srv/smoke/nginx.conf <<EOC
include /etc/nginx/modules-enabled/*.conf;
worker_processes 1;
error_log /srv/smoke/error.log info;
pid /srv/smoke/nginx.pid;
events { worker_connections 64; }
http {
    access_log off;
    fsauth_redis 127.0.0.1:$rport timeout=300ms;
    server {
        listen 127.0.0.1:$nport;
        location /api/ {
            fsauth on;
            proxy_pass http://127.0.0.1:$((nport + 1));
        }
    }
    server {
        listen 127.0.0.1:$((nport + 1));
        location / { return 200 "backend\n"; }
    }
}
EOC
check "nginx -t with an fsauth configuration" \
    nginx -q -t -c /srv/smoke/nginx.conf
nginx -c /srv/smoke/nginx.conf
check "nginx on 127.0.0.1:$nport" wait_port "$nport"
u=http://127.0.0.1:$nport/api/3
check "200: the key's grant" test "$(status GET $u/clientes "$token")" = 200
check "401: no token" test "$(status GET $u/clientes)" = 401
check "401: unknown token" test "$(status GET $u/clientes wrongtokenwrongtoken)" = 401
check "403: no grant on facturas" test "$(status GET $u/facturas "$token")" = 403
check "403: no delete on clientes" test "$(status DELETE $u/clientes/1 "$token")" = 403

# 3. an upgrade (the module reinstalled): the message, reload vs restart
so=/usr/lib/nginx/modules/ngx_http_fsauth_module.so
apt_q install --reinstall ./debs/libnginx-mod-http-fsauth_*.deb \
    > /root/upgrade.log 2>&1
check "upgrade: the restart message, once" \
    test "$(grep -c 'restart nginx to run the new module' /root/upgrade.log)" = 1
master=$(cat /srv/smoke/nginx.pid)
kill -HUP "$master"
sleep 1
check "reload: nginx still runs the replaced file ($so (deleted))" \
    grep -q "$so (deleted)" /proc/"$master"/maps
check "reload: still 200" test "$(status GET $u/clientes "$token")" = 200
kill -QUIT "$master"
for i in $(seq 50); do kill -0 "$master" 2>/dev/null || break; sleep 0.1; done
nginx -c /srv/smoke/nginx.conf
wait_port "$nport"
master=$(cat /srv/smoke/nginx.pid)
check "restart: nginx runs the new file" \
    bash -c "grep -q '$so\$' /proc/$master/maps && ! grep -q '$so (deleted)' /proc/$master/maps"
check "restart: 200 and 403" \
    test "$(status GET $u/clientes "$token")$(status GET $u/facturas "$token")" = 200403
kill -QUIT "$master"
redis-cli -p "$rport" shutdown nosave >/dev/null 2>&1 ||
    kill "$(cat /srv/smoke/redis-server.pid 2>/dev/null)" 2>/dev/null || true
sleep 0.5

# 4. remove, purge
apt_q remove libnginx-mod-http-fsauth fsauthctl > /root/remove.log 2>&1
check "apt-get remove" test $? -eq 0
check "removed: nginx -t" nginx -q -t
cat > /srv/smoke/plain.conf <<EOC
include /etc/nginx/modules-enabled/*.conf;
error_log /srv/smoke/error.log;
pid /srv/smoke/nginx.pid;
events { worker_connections 64; }
http {
    access_log off;
    server { listen 127.0.0.1:$nport; location / { return 200 "up\n"; } }
}
EOC
nginx -c /srv/smoke/plain.conf
check "removed: nginx starts and answers" \
    bash -c "sleep 0.3; test \"\$(curl -s http://127.0.0.1:$nport/)\" = up"
kill -QUIT "$(cat /srv/smoke/nginx.pid)" 2>/dev/null || true
apt_q purge libnginx-mod-http-fsauth fsauthctl > /root/purge.log 2>&1
check "apt-get purge" test $? -eq 0
rm -rf /root/debs /srv/smoke
# /var/cache/man: the page man-db formatted for "man fsauthctl" above, its
# cache, not the package's (man-db's daily job ages it out)
left=$(find / -xdev \( -path /proc -o -path /sys -o -path /dev \
       -o -path /var/cache/man \) -prune -o -name '*fsauth*' -print)
check "purged: no file named *fsauth* left${left:+ ($left)}" test -z "$left"
left=$(grep -rls fsauth /etc | paste -sd' ' -)
check "purged: no fsauth under /etc${left:+ ($left)}" test -z "$left"
check "purged: nginx -t" nginx -q -t
finish
EOF

echo "package-test: $suite: $(cd "$debs" && ls *.deb | tr '\n' ' ')"
rc=0
fsauth_chroot_run "$chroot_dir" /bin/bash /root/test.sh || rc=$?
echo "package-test: $suite: $(( $(date +%s) - t0 )) s in all"
exit $rc
