# Sourced by util/package.sh and util/package-test.sh: a fresh Debian
# chroot of one suite, built for one run and deleted after it, the same
# way util/matrix.sh builds its own (mmdebstrap, variant apt, from
# Debian's mirror; FSAUTH_MATRIX_MIRROR overrides the mirror).
#
#   fsauth_chroot_make SUITE DIR LOG [MMDEBSTRAP-OPTION...]
#                                      build it, mount /proc, /sys,
#                                      /dev/pts and /dev/shm in it
#   fsauth_chroot_run DIR COMMAND...   run a command inside, as root, with
#                                      a clean environment
#   fsauth_chroot_remove DIR           stop what still runs inside,
#                                      unmount, delete
#   fsauth_chroot_start NAME SUITE     for a script with one chroot for
#                                      its whole run: a work folder
#                                      /var/tmp/fsauth-NAME.*, removed
#                                      with the chroot on exit, and the
#                                      chroot in $work/chroot (sets work
#                                      and chroot_dir); exits 1 when it
#                                      cannot be built
#
# FSAUTH_APT_CACHE=DIR keeps the .deb files apt downloads inside in
# DIR/SUITE (bind-mounted on /var/cache/apt/archives), so that several
# chroots of one run download each package once.  Needs root.

fsauth_mirror=${FSAUTH_MATRIX_MIRROR:-http://deb.debian.org/debian}

fsauth_need_root() {
    if [ "$(id -u)" -ne 0 ]; then
        echo "$1: needs root (chroot and mounts)" >&2
        exit 2
    fi
    command -v mmdebstrap >/dev/null || {
        echo "$1: installing mmdebstrap"
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
            --no-install-recommends mmdebstrap >/dev/null
    }
}

fsauth_chroot_make() {
    local suite=$1 dir=$2 log=$3
    shift 3
    mmdebstrap --mode=root --variant=apt \
        --aptopt='Acquire::Check-Valid-Until "false"' \
        --aptopt='Acquire::Languages "none"' "$@" \
        "$suite" "$dir" "$fsauth_mirror" >>"$log" 2>&1 || return 1
    # what Debian's installer writes, ::1 included
    cat > "$dir/etc/hosts" <<'EOF'
127.0.0.1	localhost
127.0.1.1	chroot

# The following lines are desirable for IPv6 capable hosts
::1     localhost ip6-localhost ip6-loopback
ff02::1 ip6-allnodes
ff02::2 ip6-allrouters
EOF
    # packages never start their services here
    printf '#!/bin/sh\nexit 101\n' > "$dir/usr/sbin/policy-rc.d"
    chmod 755 "$dir/usr/sbin/policy-rc.d"
    mount -t proc proc "$dir/proc"
    mount -t sysfs sys "$dir/sys" 2>/dev/null || true
    mkdir -p "$dir/dev/pts" "$dir/dev/shm"
    mount -t devpts -o newinstance,ptmxmode=0666 devpts \
        "$dir/dev/pts" 2>/dev/null || true
    mount -t tmpfs -o mode=1777 shm "$dir/dev/shm"
    if [ -n "${FSAUTH_APT_CACHE:-}" ]; then
        mkdir -p "$FSAUTH_APT_CACHE/$suite/partial"
        mount --bind "$FSAUTH_APT_CACHE/$suite" \
            "$dir/var/cache/apt/archives"
    fi
}

fsauth_chroot_run() {
    local dir=$1
    shift
    chroot "$dir" /usr/bin/env -i \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        HOME=/root LANG=C.UTF-8 TERM=dumb DEBIAN_FRONTEND=noninteractive \
        "$@"
}

fsauth_chroot_remove() {
    local dir=$1 p m
    [ -n "$dir" ] && [ -d "$dir" ] || return 0
    # processes still running inside (daemons a test started)
    for p in /proc/[0-9]*; do
        [ "$(readlink "$p/root" 2>/dev/null)" = "$dir" ] &&
            kill -KILL "${p#/proc/}" 2>/dev/null || true
    done
    for m in var/cache/apt/archives dev/shm dev/pts sys proc; do
        mountpoint -q "$dir/$m" 2>/dev/null && umount -l "$dir/$m" || true
    done
    rm -rf --one-file-system "$dir"
}

fsauth_chroot_start() {
    local name=$1 suite=$2 start log
    start=$(date +%s)
    work=$(mktemp -d "/var/tmp/fsauth-$name.XXXXXX")
    chroot_dir=$work/chroot
    log=$work/chroot.log
    trap 'fsauth_chroot_remove "$chroot_dir"; rm -rf "$work"' EXIT
    trap 'exit 130' INT TERM
    echo "$name: $suite: building the chroot from $fsauth_mirror"
    if ! fsauth_chroot_make "$suite" "$chroot_dir" "$log"; then
        tail -n 30 "$log"
        echo "$name: $suite: chroot not built" >&2
        exit 1
    fi
    echo "$name: $suite: chroot built in $(( $(date +%s) - start )) s"
}
