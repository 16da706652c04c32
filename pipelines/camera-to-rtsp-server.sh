#!/bin/sh
# Camera → counts (JSON lines) + video with faces blurred and the counts drawn on it, pushed to an existing RTSP server (RECORD, e.g. MediaMTX) that the NVR reads.
CAMERA_URL=${CAMERA_URL:-rtsp://192.168.1.10:554/stream1}   # the camera's RTSP URL
PUSH_URL=${PUSH_URL:-rtsp://127.0.0.1:8554/footfall}        # where the RTSP server accepts the stream
COUNTS_FILE=${COUNTS_FILE:-counts.jsonl}
GALLERY=${GALLERY:-shop}
TRANSPORT=${TRANSPORT:-tcp}
BITRATE=${BITRATE:-2048}                                    # kbit/s of the pushed H.264
REDACT=${REDACT:-blur}                                      # faces in the pushed video: blur, pixelate or fill
set -eu
. "$(dirname "$0")/env.sh"
exec gst-launch-1.0 -e \
  rtspsrc location="$CAMERA_URL" protocols="$TRANSPORT" latency=300 ! rtph264depay ! h264parse ! avdec_h264 \
  ! footfallbin gallery="$GALLERY" location="$COUNTS_FILE" ! faceredact mode="$REDACT" \
  ! videoconvert ! countsoverlay ! videoconvert \
  ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=30 bitrate="$BITRATE" ! h264parse \
  ! rtspclientsink location="$PUSH_URL" protocols=tcp
