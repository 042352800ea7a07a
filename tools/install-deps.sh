#!/bin/sh
# Installs the Debian 12 packages actrm needs to build and test, or prints the
# exact command when not root. Usage: tools/install-deps.sh [host|arm]
#   host: compiler libraries for the native build and tests (default)
#   arm:  aarch64 cross compiler, arm64 multiarch libraries and qemu-user
set -eu
what=${1:-host}
host_pkgs="gcc make pkg-config libcriterion-dev libopenblas-dev libutf8proc-dev libpcre2-dev libcjson-dev zlib1g-dev"
# Criterion for arm64 is not among them: libcriterion-dev:arm64 cannot be
# installed next to the amd64 one (their libnanomsg dependencies differ in
# version between the two architectures, and apt would remove the host's
# Criterion). Its runtime library is unpacked into ARM_CRITERION_DIR instead,
# and the ARM tests use the host's Criterion headers (same version).
arm_pkgs="gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user libcriterion-dev libutf8proc-dev:arm64 libpcre2-dev:arm64 libcjson-dev:arm64 zlib1g-dev:arm64 libopenblas-dev:arm64 libgomp1:arm64 libffi8:arm64 libgit2-1.5:arm64"
arm_unpacked="libcriterion3:arm64 libnanomsg5:arm64"
ARM_CRITERION_DIR=${ARM_CRITERION_DIR:-/opt/actrm-arm64}
arm_unpacked_lib="$ARM_CRITERION_DIR/usr/lib/aarch64-linux-gnu/libcriterion.so.3"

missing=""
case "$what" in
  host) pkgs=$host_pkgs ;;
  arm)  pkgs=$arm_pkgs ;;
  *) echo "usage: $0 [host|arm]" >&2; exit 2 ;;
esac
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
need_unpack=0
[ "$what" = arm ] && [ ! -e "$arm_unpacked_lib" ] && need_unpack=1
# Criterion runs every test in a fresh process by exec'ing its own binary;
# under qemu-user that works only when the kernel hands aarch64 ELF files to
# qemu (binfmt_misc, registered from qemu-user-binfmt's own rule).
binfmt=/proc/sys/fs/binfmt_misc
need_binfmt=0
[ "$what" = arm ] && [ ! -e "$binfmt/qemu-aarch64" ] && need_binfmt=1
[ -z "$missing" ] && [ "$need_unpack" = 0 ] && [ "$need_binfmt" = 0 ] && exit 0

if [ "$(id -u)" != 0 ]; then
  [ -n "$missing" ] && echo "actrm: missing packages:$missing" >&2
  [ "$need_unpack" = 1 ] && echo "actrm: missing $arm_unpacked_lib (run this script as root)" >&2
  [ "$need_binfmt" = 1 ] && echo "actrm: qemu-aarch64 is not registered with binfmt_misc (run this script as root)" >&2
  [ "$what" = arm ] && echo "run as root: dpkg --add-architecture arm64 && apt-get update" >&2
  [ -n "$missing" ] && echo "run as root: apt-get install -y$missing" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
if [ "$what" = arm ] && ! dpkg --print-foreign-architectures | grep -qx arm64; then
  dpkg --add-architecture arm64
fi
if [ -n "$missing" ] || [ "$need_unpack" = 1 ]; then
  apt-get update -qq >/dev/null
fi
if [ -n "$missing" ]; then
  echo "actrm: installing$missing" >&2
  apt-get install -y -qq $missing >/dev/null
fi
if [ "$need_unpack" = 1 ]; then
  echo "actrm: unpacking $arm_unpacked into $ARM_CRITERION_DIR" >&2
  tmp=$(mktemp -d)
  chmod a+rwx "$tmp" # apt-get download fetches as the _apt user
  (cd "$tmp" && apt-get download -qq $arm_unpacked >/dev/null)
  mkdir -p "$ARM_CRITERION_DIR"
  for deb in "$tmp"/*.deb; do dpkg-deb -x "$deb" "$ARM_CRITERION_DIR"; done
  rm -rf "$tmp"
  [ -e "$arm_unpacked_lib" ]
fi
if [ "$need_binfmt" = 1 ]; then
  [ -e "$binfmt/register" ] || mount -t binfmt_misc binfmt_misc "$binfmt"
  cat /usr/lib/binfmt.d/qemu-aarch64.conf > "$binfmt/register"
fi
