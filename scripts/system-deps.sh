#!/bin/sh
# Debian/Ubuntu packages the tests need: the ffmpeg/ffprobe command-line tools (they build the
# decode corpus of tests/test_formats.py and are the reference it is checked against), and for
# the CCTV tests GStreamer's RTSP server (run under the system python3 with gi) with the plugins
# that encode and packetise the synthetic H.264 test camera.
#
#   scripts/system-deps.sh          install what is missing (root, or passwordless sudo)
#
# Idempotent and quiet: installs nothing when everything is there. Without apt, or without
# root/sudo, it prints what to install and exits 0; the tests that need them then skip with
# that reason.
# Set SYSTEM_DEPS_STRICT=1 to exit non-zero instead when the packages cannot be installed.
set -u

PACKAGES="ffmpeg python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly gstreamer1.0-plugins-bad gstreamer1.0-libav"

give_up() {
    echo "system-deps: $1" >&2
    echo "system-deps: the decode-corpus tests (tests/test_formats.py) and the RTSP tests (tests/integrations/cctv) will be skipped; to run them: apt-get install -y $MISSING" >&2
    if [ "${SYSTEM_DEPS_STRICT:-0}" = "1" ]; then exit 1; fi
    exit 0
}

if ! command -v dpkg-query >/dev/null 2>&1; then
    MISSING="$PACKAGES"
    give_up "no dpkg/apt on this system (not Debian or Ubuntu); skipping"
fi

MISSING=""
for package in $PACKAGES; do
    status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
    case "$status" in
        *"install ok installed"*) ;;
        *) MISSING="$MISSING $package" ;;
    esac
done
MISSING=${MISSING# }
[ -z "$MISSING" ] && exit 0

if [ "$(id -u)" = "0" ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
else
    give_up "not root and no passwordless sudo; cannot install: $MISSING"
fi
command -v apt-get >/dev/null 2>&1 || give_up "apt-get not found; cannot install: $MISSING"

echo "system-deps: installing $MISSING" >&2
if ! $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null; then
    give_up "apt-get update failed"
fi
LOG=$(mktemp)
# shellcheck disable=SC2086 # the package list is meant to split
if ! $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $MISSING >"$LOG" 2>&1; then
    tail -n 20 "$LOG" >&2
    rm -f "$LOG"
    give_up "apt-get install failed"
fi
rm -f "$LOG"
echo "system-deps: done" >&2
