#!/bin/sh
# Camera → counts (JSON lines) + video with faces blurred and the counts drawn on it, re-served as an RTSP camera for an NVR.
CAMERA_URL=${CAMERA_URL:-rtsp://192.168.1.10:554/stream1}   # the camera's RTSP URL
COUNTS_FILE=${COUNTS_FILE:-counts.jsonl}                    # JSON lines, flushed per line
RTSP_PORT=${RTSP_PORT:-8554}                                # the NVR adds rtsp://THIS-HOST:$RTSP_PORT/$RTSP_PATH
RTSP_PATH=${RTSP_PATH:-footfall}
GALLERY=${GALLERY:-shop}                                    # site name
TRANSPORT=${TRANSPORT:-tcp}                                 # to the camera: tcp or udp
REDACT=${REDACT:-blur}                                      # faces in the served video: blur, pixelate, fill, none
set -eu
. "$(dirname "$0")/env.sh"
# `footfall serve` keeps counting when no NVR is connected and reconnects to a camera that drops;
# Ctrl-C / SIGINT ends cleanly with the final counts line.
exec "$FOOTFALL" serve "$CAMERA_URL" --port "$RTSP_PORT" --path "$RTSP_PATH" \
  --location "$COUNTS_FILE" --gallery "$GALLERY" --transport "$TRANSPORT" --redact "$REDACT"
