#!/bin/sh
# Installs the benchmark peers (not needed by the plugin or its tests):
# - the OpenCV GStreamer plugin (element `facedetect`) from Debian;
# - the Python face_recognition library (dlib HOG detector + 128-d encoder) in its own venv,
#   target/peers-venv: dlib from the prebuilt `dlib-bin` wheel (building dlib from source
#   takes a long time on 2 cores), face_recognition and its models without their `dlib`
#   source dependency.
set -eu
cd "$(dirname "$0")/../.."
if ! gst-inspect-1.0 facedetect >/dev/null 2>&1; then
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get install -y --no-install-recommends gstreamer1.0-opencv
fi
VENV=target/peers-venv
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/pip" install -q dlib-bin==20.0.1.post1 numpy pillow setuptools
"$VENV/bin/pip" install -q --no-deps face_recognition==1.3.0 face_recognition_models==0.3.0
"$VENV/bin/python" -c "import face_recognition" && echo "peers ready: $VENV"
