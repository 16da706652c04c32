#!/usr/bin/env bash
# Runs a command in a pristine Debian 12 machine: ../shared/tools/fresh-machine.sh (a
# debootstrap minbase chroot, this checkout's committed HEAD cloned into it, a copy of
# ../shared beside it, the host's Rust toolchain mounted in). Its exit status is the
# command's; the last line on stderr is the verdict.
# Usage: scripts/fresh-machine.sh [--keep] [--rootfs DIR] -- COMMAND...
#   e.g. scripts/fresh-machine.sh -- './scripts/setup.sh && cargo test'
# FOOTFALL_SHARED names another shared folder (default ../shared beside the checkout).
set -euo pipefail
cd "$(dirname "$0")/.."
shared=${FOOTFALL_SHARED:-../shared}
tool=$shared/tools/fresh-machine.sh
if [ ! -f "$tool" ]; then
  echo "[fresh-machine] error: $tool not found (set FOOTFALL_SHARED to the shared folder)" >&2
  exit 1
fi
opts=()
while [ $# -gt 0 ] && [ "$1" != -- ]; do opts+=("$1"); shift; done
[ "${1:-}" = -- ] || { sed -n '6,7p' "$0" >&2; exit 2; }
shift
exec bash "$tool" "${opts[@]}" "$PWD" "$shared" -- "$@"
