#!/bin/sh
# Camera → counts as JSON lines to a file (one object per line; the last line is the final counts).
CAMERA_URL=${CAMERA_URL:-rtsp://192.168.1.10:554/stream1}   # the camera's RTSP URL
COUNTS_FILE=${COUNTS_FILE:-counts.jsonl}                    # appended to, flushed per line
GALLERY=${GALLERY:-shop}                                    # site name (shared by counters in one process)
TRANSPORT=${TRANSPORT:-tcp}                                 # tcp or udp
set -eu
. "$(dirname "$0")/env.sh"
# -e: Ctrl-C / SIGINT ends the stream cleanly, so the final counts line is written.
exec gst-launch-1.0 -e \
  rtspsrc location="$CAMERA_URL" protocols="$TRANSPORT" latency=300 ! rtph264depay ! h264parse ! avdec_h264 \
  ! footfallbin gallery="$GALLERY" location="$COUNTS_FILE" ! fakesink sync=false
