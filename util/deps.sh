#!/bin/sh
# Install the Debian packages listed in util/packages.txt (and, with
# arguments, extra list files) when any of them is missing.
set -e
here=$(cd "$(dirname "$0")" && pwd)
lists="$here/packages.txt $*"
missing=""
for pkg in $(cat $lists | sed 's/#.*//'); do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null \
         | grep -q 'install ok installed'
    then
        missing="$missing $pkg"
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
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
