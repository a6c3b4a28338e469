#!/bin/sh
# install-deps.sh: install the Debian packages pnad builds, tests, benches and runs
# with. Idempotent: installs only what is missing; run as root (or via sudo).
set -eu

PKGS="build-essential pkg-config clang libclang-rt-14-dev clang-format
liburing-dev libprotobuf-c-dev protobuf-c-compiler libhiredis-dev
libnghttp2-dev libssl-dev libjemalloc-dev libjson-c-dev libexpat1-dev
redis-server redis-tools sip-tester prosody python3 python3-pytest
python3-slixmpp python3-h2 python3-prometheus-client curl gnuplot-nox
libbenchmark-dev"

missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null 2>&1 || {
		echo "install-deps.sh: missing:$missing; run it as root (no sudo here)" >&2
		exit 1
	}
	SUDO="sudo"
fi
echo "installing:$missing"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $missing
