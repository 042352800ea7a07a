#!/bin/sh
# Installs the Debian 12 packages actrm needs to build and test, or prints the
# exact command when not root. Usage: tools/install-deps.sh [host|arm]
#   host: compiler libraries for the native build and tests (default)
#   arm:  aarch64 cross compiler, arm64 multiarch libraries and qemu-user
set -eu
what=${1:-host}
host_pkgs="gcc make pkg-config libcriterion-dev libopenblas-dev libutf8proc-dev libpcre2-dev libcjson-dev zlib1g-dev"
arm_pkgs="gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user libcriterion-dev:arm64 libutf8proc-dev:arm64 libpcre2-dev:arm64 libcjson-dev:arm64 zlib1g-dev:arm64 libopenblas-dev:arm64 libgomp1:arm64"

missing=""
case "$what" in
  host) pkgs=$host_pkgs ;;
  arm)  pkgs=$arm_pkgs ;;
  *) echo "usage: $0 [host|arm]" >&2; exit 2 ;;
esac
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
  echo "actrm: missing packages:$missing" >&2
  [ "$what" = arm ] && echo "run as root: dpkg --add-architecture arm64 && apt-get update" >&2
  echo "run as root: apt-get install -y$missing" >&2
  exit 1
fi
echo "actrm: installing$missing" >&2
if [ "$what" = arm ] && ! dpkg --print-foreign-architectures | grep -qx arm64; then
  dpkg --add-architecture arm64
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq $missing >/dev/null
