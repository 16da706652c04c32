#!/usr/bin/env bash
# Installs what a fresh Debian 12 / Ubuntu machine is missing to build and run Footfall:
# GStreamer 1.22 development packages and plugins, a Python venv with the onnxruntime
# wheel (its libonnxruntime.so is what the plugin loads), and the model files.
# Safe to run again: each step is skipped when already done. Builds nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
ORT_VERSION=1.31.1

say() { printf '[setup] %s\n' "$*"; }
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo

# 1. Debian packages (only the missing ones). The same names serve Ubuntu 24.04 (GStreamer 1.24);
# Ubuntu 22.04 ships GStreamer 1.20, older than the 1.22 the plugin is built against (checked below).
PKGS=(pkg-config build-essential python3 python3-venv
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  gstreamer1.0-plugins-ugly gstreamer1.0-libav gstreamer1.0-tools
  gstreamer1.0-x  # pango's textoverlay: countsoverlay (`footfall serve`, the NVR drop-in)
  libgstrtspserver-1.0-dev gstreamer1.0-rtsp
  python3-gi python3-gst-1.0 gir1.2-gst-plugins-base-1.0
  gstreamer1.0-opencv opencv-data  # OpenCV `facedetect`: second opinion in the faceredact test
  time  # /usr/bin/time: peak memory in `footfall-bench --suite counter`
  mosquitto mosquitto-clients  # MQTT broker + mosquitto_sub for the MQTT tests and pipelines
  openssl  # a throw-away CA and broker certificate for the mqtts test
  chromium chromium-driver  # headless browser + WebDriver: the dashboard test
  postgresql)  # PostgreSQL server (initdb, pg_ctl): the database of the `footfall hub` test
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing: ${missing[*]}"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  say "Debian packages present"
fi

if ! pkg-config --atleast-version=1.22 gstreamer-1.0; then
  say "error: GStreamer $(pkg-config --modversion gstreamer-1.0 2>/dev/null || echo '?') found; Footfall needs >= 1.22 (Debian 12, Ubuntu 24.04)" >&2
  exit 1
fi

# 2. Rust toolchain: must already be there (rustup is not something this script downloads).
if ! command -v cargo >/dev/null 2>&1; then
  say "error: cargo not found. Install Rust >= 1.92 (https://rustup.rs), then run this again." >&2
  exit 1
fi

# 3. ONNX Runtime: the onnxruntime wheel in a project venv; record the library path for build.rs.
if [ ! -x .venv/bin/python ]; then
  say "creating .venv"
  python3 -m venv .venv
fi
if ! .venv/bin/python -c "import onnxruntime, sys; sys.exit(onnxruntime.__version__ != '$ORT_VERSION')" 2>/dev/null; then
  say "installing onnxruntime==$ORT_VERSION into .venv"
  .venv/bin/pip install -q --disable-pip-version-check "onnxruntime==$ORT_VERSION"
fi
lib=$(ls "$ROOT"/.venv/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so.* 2>/dev/null | head -n1)
if [ -z "$lib" ]; then
  say "error: libonnxruntime.so not found in the onnxruntime wheel under .venv" >&2
  exit 1
fi
if [ "$(cat .venv/ort-dylib-path 2>/dev/null)" != "$lib" ]; then
  echo "$lib" > .venv/ort-dylib-path
fi
say "ONNX Runtime library: $lib"

# 4. Models into models/ (from ../shared/models or FOOTFALL_MODELS_URL), sha256-checked.
python3 models/fetch.py
say "done"
