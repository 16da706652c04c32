#!/bin/sh
# A recorded file → counts as JSON lines (offline analysis; runs as fast as the CPU allows).
INPUT=${INPUT:-recording.mp4}          # any file decodebin reads
COUNTS_FILE=${COUNTS_FILE:-counts.jsonl}
STAFF_GALLERY=${STAFF_GALLERY:-}       # optional: file from `footfall enroll`
set -eu
. "$(dirname "$0")/env.sh"
exec gst-launch-1.0 -e \
  filesrc location="$INPUT" ! decodebin \
  ! footfallbin location="$COUNTS_FILE" ${STAFF_GALLERY:+staff-gallery="$STAFF_GALLERY"} ! fakesink sync=false
