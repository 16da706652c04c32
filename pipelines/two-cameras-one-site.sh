#!/bin/sh
# Two cameras of one site (e.g. two entrances) → one shared gallery: a visitor seen by both counts once.
CAMERA_A=${CAMERA_A:-rtsp://192.168.1.10:554/stream1}   # first entrance
CAMERA_B=${CAMERA_B:-rtsp://192.168.1.11:554/stream1}   # second entrance
COUNTS_A=${COUNTS_A:-counts-a.jsonl}                    # each file carries the site totals
COUNTS_B=${COUNTS_B:-counts-b.jsonl}
SITE=${SITE:-shop}                                      # the shared gallery's name
TRANSPORT=${TRANSPORT:-tcp}
set -eu
. "$(dirname "$0")/env.sh"
exec gst-launch-1.0 -e \
  rtspsrc location="$CAMERA_A" protocols="$TRANSPORT" latency=300 ! rtph264depay ! h264parse ! avdec_h264 \
  ! footfallbin gallery="$SITE" location="$COUNTS_A" ! fakesink sync=false \
  rtspsrc location="$CAMERA_B" protocols="$TRANSPORT" latency=300 ! rtph264depay ! h264parse ! avdec_h264 \
  ! footfallbin gallery="$SITE" location="$COUNTS_B" ! fakesink sync=false
