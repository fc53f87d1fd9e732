#!/usr/bin/env bash
# Builds, without any container registry, the two images the compose test (and an offline host)
# needs as a start: a Debian base image made with debootstrap, and a PostgreSQL image on top of it
# made from Debian's postgresql package. Images that already exist are kept (pass --force to
# rebuild). Needs root, debootstrap and a running Docker daemon.
#
#   docker/build_base_images.sh [--force]
#
# Environment: BASE_IMAGE (default recon-lambda-base:bookworm), POSTGRES_IMAGE (default
# recon-lambda-postgres:15), DEBIAN_MIRROR (default: the mirror this machine's apt uses),
# DEBIAN_SUITE (default bookworm). Prints one `stage seconds` line per stage on stdout.
set -euo pipefail

BASE_IMAGE=${BASE_IMAGE:-recon-lambda-base:bookworm}
POSTGRES_IMAGE=${POSTGRES_IMAGE:-recon-lambda-postgres:15}
DEBIAN_SUITE=${DEBIAN_SUITE:-bookworm}
FORCE=0
[[ ${1:-} == --force ]] && FORCE=1
HERE=$(cd "$(dirname "$0")" && pwd)

apt_mirror() {
    # The first Debian archive URI this machine's apt is configured with (deb822 or one-line).
    local uri
    uri=$(grep -hsE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null \
        | awk '{print $2}' | grep -E '/debian/?$' | head -n1 || true)
    if [[ -z $uri ]]; then
        uri=$(grep -hsE '^deb\s' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
            | awk '{print $2}' | grep -E '/debian/?$' | head -n1 || true)
    fi
    echo "${uri:-http://deb.debian.org/debian}"
}

have_image() { docker image inspect "$1" >/dev/null 2>&1; }

stage() {  # stage NAME COMMAND...: run it (output to stderr), print how long it took
    local name=$1 start
    shift
    start=$(date +%s%N)
    "$@" >&2
    local ms=$(( ($(date +%s%N) - start) / 1000000 ))
    printf '%s %d.%d\n' "$name" $((ms / 1000)) $((ms % 1000 / 100))
}

ROOT=""
cleanup() {
    # A failed debootstrap may leave proc/sys mounted inside the root: unmount before deleting.
    [[ -n $ROOT && -d $ROOT ]] || return 0
    awk -v r="$ROOT/" 'index($2, r) == 1 {print $2}' /proc/mounts | sort -r \
        | xargs -r -n1 umount -l
    rm -rf --one-file-system "$ROOT"
}
trap cleanup EXIT

build_base() {
    local mirror root
    mirror=${DEBIAN_MIRROR:-$(apt_mirror)}
    ROOT=$(mktemp -d /var/tmp/recon-lambda-rootfs.XXXXXX)
    root=$ROOT
    echo "debootstrap $DEBIAN_SUITE from $mirror" >&2
    # python3-venv: the project image makes its virtual environment from Debian's Python 3.11.
    stage debootstrap debootstrap --variant=minbase \
        --include=ca-certificates,python3,python3-venv \
        "$DEBIAN_SUITE" "$root" "$mirror"
    rm -rf "$root"/var/cache/apt/archives/*.deb
    stage base_import sh -c "tar -C '$root' -c . | docker import \
        -c 'ENV LANG=C.UTF-8' -c 'CMD [\"bash\"]' - '$BASE_IMAGE' >/dev/null"
    cleanup
}

if [[ $FORCE == 1 ]] || ! have_image "$BASE_IMAGE"; then
    build_base
fi
if [[ $FORCE == 1 ]] || ! have_image "$POSTGRES_IMAGE"; then
    stage postgres_image docker build --network host --force-rm --quiet \
        --build-arg BASE_IMAGE="$BASE_IMAGE" -t "$POSTGRES_IMAGE" "$HERE/postgres"
fi
