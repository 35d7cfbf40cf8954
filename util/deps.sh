#!/bin/sh
# Install the Debian packages listed in util/packages.txt (and, with
# arguments, extra list files) when any of them is missing.  The markers
# of the list ([trixie sid], [!bookworm], [or sid]) are explained at the
# top of util/packages.txt.
set -e
here=$(cd "$(dirname "$0")" && pwd)
lists="$here/packages.txt $*"

# this machine's Debian suite: bookworm, trixie, ... or sid
suite=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")
case $(cat /etc/debian_version 2>/dev/null) in
*/sid) suite=sid ;;
esac

# "NAME" or "NAME [MARKER ...]" lines -> "NAME" or "NAME:sid" (or sid)
wanted=$(cat $lists | sed 's/#.*//' | awk -v suite="$suite" '
    NF == 0 { next }
    {
        name = $1; line = $0
        sub(/^[^[]*\[?/, "", line); sub(/\].*/, "", line)
        n = split(line, m, " ")
        if (n == 0) { print name; next }
        if (m[1] == "or") { print name ":" m[2]; next }
        keep = (substr(m[1], 1, 1) == "!")
        for (i = 1; i <= n; i++) {
            if (m[i] == suite) keep = 1
            if (m[i] == "!" suite) keep = 0
        }
        if (keep) print name
    }')

missing=""
for entry in $wanted; do
    pkg=${entry%%:*}
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null \
         | grep -q 'install ok installed'
    then
        missing="$missing $entry"
    fi
done
[ -z "$missing" ] && exit 0
echo "fsauth: installing:$missing"
if [ "$(id -u)" -ne 0 ]; then
    SUDO=sudo
else
    SUDO=
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq

# NAME:SUITE entries: the suite's own package when it has one, otherwise
# the .deb downloaded from SUITE with a private apt state (a temporary
# sources list, lists and cache: the machine's sources stay as they are)
# and installed as a file, so that apt takes its dependencies from the
# machine's own suite and upgrades nothing
pkgs=""
tmp=""
for entry in $missing; do
    pkg=${entry%%:*}
    from=${entry#"$pkg"}; from=${from#:}
    if [ -z "$from" ] || apt-cache policy "$pkg" 2>/dev/null \
           | grep -q '^ *Candidate: [^(]'
    then
        pkgs="$pkgs $pkg"
        continue
    fi
    if [ -z "$tmp" ]; then
        tmp=$(mktemp -d /tmp/fsauth-deps.XXXXXX)
        chmod 755 "$tmp"
        trap 'rm -rf "$tmp"' EXIT
    fi
    mkdir -p "$tmp/$from/lists/partial" "$tmp/$from/archives/partial"
    echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg]" \
         "http://deb.debian.org/debian $from main" > "$tmp/$from/sources"
    set -- -o Dir::Etc::SourceList="$tmp/$from/sources" \
        -o Dir::Etc::SourceParts=/nonexistent \
        -o Dir::State::Lists="$tmp/$from/lists" \
        -o Dir::Cache="$tmp/$from" -o Dir::Cache::archives="$tmp/$from/archives" \
        -o Acquire::Languages=none -o Acquire::Check-Valid-Until=false \
        -o APT::Sandbox::User=root
    [ -f "$tmp/$from/lists/done" ] || {
        $SUDO apt-get "$@" update -qq
        touch "$tmp/$from/lists/done"
    }
    (cd "$tmp" && $SUDO apt-get "$@" download -qq "$pkg")
    echo "fsauth: $pkg from $from: $(ls "$tmp"/"$pkg"_*.deb | sed 's|.*/||')"
    pkgs="$pkgs $(ls "$tmp"/"$pkg"_*.deb)"
done
$SUDO apt-get install -y -qq --no-install-recommends $pkgs >/dev/null
