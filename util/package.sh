#!/bin/bash
# Builds the Debian packages libnginx-mod-http-fsauth (the module) and
# fsauthctl (the command and its man page) for one Debian suite:
#
#   util/package.sh SUITE OUTDIR        SUITE: bookworm, trixie or sid
#
# In a fresh chroot of SUITE (util/chroot.sh), from `git archive HEAD`
# (never from build/ or uncommitted files: a module is built for the
# exact nginx of the suite it runs on), with debian/changelog written from
# VERSION: apt-get build-dep, dpkg-buildpackage -b, a check that both
# binaries carry FORTIFY, RELRO and BIND_NOW, then lintian, which must
# report no error.  The .deb files go to OUTDIR (the -dbgsym ones to
# OUTDIR/dbgsym), lintian's output to OUTDIR/lintian.txt.  The version is
# VERSION, then ~deb12 or ~deb13 on bookworm or trixie (sid: none), so
# that each suite's build sorts below the next suite's.
#
# Needs root.  FSAUTH_APT_CACHE (util/chroot.sh) shares apt's downloads
# with util/package-test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
. util/chroot.sh

usage() { echo "usage: util/package.sh bookworm|trixie|sid OUTDIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
suite=$1
case $suite in
bookworm) suffix="~deb12" dist=bookworm ;;
trixie)   suffix="~deb13" dist=trixie ;;
sid)      suffix=""       dist=unstable ;;
*) usage ;;
esac
mkdir -p "$2"
out=$(cd "$2" && pwd)
fsauth_need_root util/package.sh

if [ -n "$(git status --porcelain --untracked-files=no)" ]; then
    echo "package: note: uncommitted changes are not packaged" \
         "(the build is from git archive HEAD)"
fi

version=$(cat VERSION)$suffix
t0=$(date +%s)
fsauth_chroot_start package "$suite"
t1=$(date +%s)

src=$chroot_dir/src/fsauth
mkdir -p "$src"
git archive HEAD | tar -x -C "$src"
maintainer=$(sed -n 's/^Maintainer: //p' debian/control)
cat > "$src/debian/changelog" <<EOF
fsauth ($version) $dist; urgency=medium

  * fsauth $(cat VERSION), commit $(git rev-parse --short=12 HEAD), for
    Debian $suite.

 -- $maintainer  $(git log -1 --format=%aD HEAD)
EOF

cat > "$chroot_dir/src/build.sh" <<'EOF'
set -euo pipefail
cd /src/fsauth
apt-get update -qq
apt-get build-dep -y -qq --no-install-recommends ./ >/dev/null
apt-get install -y -qq --no-install-recommends lintian binutils >/dev/null
echo "package: nginx-dev $(dpkg-query -W -f='${Version}' nginx-dev)," \
     "$(sed -n 's/^nginx:abi=//p' \
        /usr/share/nginx/src/debian/libnginx-mod.abisubstvars)"
DEB_BUILD_OPTIONS=parallel=2 dpkg-buildpackage -b -uc -us \
    > /src/dpkg-buildpackage.log 2>&1 || {
    tail -n 60 /src/dpkg-buildpackage.log; exit 1; }

# the hardening of both binaries, read off the packages
bad=0
for deb in /src/libnginx-mod-http-fsauth_*.deb /src/fsauthctl_*.deb; do
    d=$(mktemp -d)
    dpkg-deb -x "$deb" "$d"
    for f in "$d"/usr/lib/nginx/modules/*.so "$d"/usr/bin/fsauthctl; do
        [ -e "$f" ] || continue
        relro=no now=no
        readelf -lW "$f" | grep -q GNU_RELRO && relro=yes
        readelf -dW "$f" | grep -Eq 'BIND_NOW|FLAGS.*NOW' && now=yes
        chk=$(readelf --dyn-syms -W "$f" | grep -c '__[a-z_]*_chk@' || true)
        echo "package: ${f#"$d"}: relro $relro, bind_now $now," \
             "$chk fortified functions"
        [ $relro = yes ] && [ $now = yes ] && [ "$chk" -gt 0 ] || bad=1
    done
    rm -rf "$d"
done
[ $bad = 0 ] || { echo "package: a binary lacks RELRO, BIND_NOW or FORTIFY"; exit 1; }

echo "package: lintian $(dpkg-query -W -f='${Version}' lintian)"
rc=0
# as nobody: lintian warns when it runs as root
chmod -R a+rX /src
setpriv --reuid=nobody --regid=nogroup --clear-groups env HOME=/tmp \
    lintian --display-info --fail-on error /src/fsauth_*.changes \
    > /src/lintian.txt 2>&1 || rc=$?
cat /src/lintian.txt
exit $rc
EOF

echo "package: $suite: build-dep, dpkg-buildpackage -b, lintian"
rc=0
fsauth_chroot_run "$chroot_dir" /bin/bash /src/build.sh || rc=$?
[ -f "$chroot_dir/src/lintian.txt" ] && cp "$chroot_dir/src/lintian.txt" "$out/"
if [ $rc -ne 0 ]; then
    echo "package: $suite: FAILED (exit $rc)" >&2
    exit 1
fi
rm -rf "$out/dbgsym"
mkdir -p "$out/dbgsym"
for f in "$chroot_dir"/src/*.deb; do
    case $f in
    *-dbgsym_*) cp "$f" "$out/dbgsym/" ;;
    *) cp "$f" "$out/" ;;
    esac
done
t2=$(date +%s)
echo "package: $suite: $(cd "$out" && ls *.deb | tr '\n' ' ')in $out"
echo "package: $suite: $((t2 - t0)) s in all (chroot $((t1 - t0)) s," \
     "build and lintian $((t2 - t1)) s)"
