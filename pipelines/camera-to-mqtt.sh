#!/bin/sh
# Camera → counts and visit events published to an MQTT broker (Home Assistant discovers
# "Unique visitors today", "Visits today" and "People in view" by itself).
CAMERA_URL=${CAMERA_URL:-rtsp://192.168.1.10:554/stream1}   # the camera's RTSP URL
MQTT_URL=${MQTT_URL:-mqtt://127.0.0.1:1883}                 # mqtt://[user:pass@]host[:port] or mqtts://…
MQTT_TOPIC=${MQTT_TOPIC:-}                                  # topic base; empty: footfall/<gallery>/counter
GALLERY=${GALLERY:-shop}                                    # site name (shared by counters in one process)
TRANSPORT=${TRANSPORT:-tcp}                                 # tcp or udp
set -eu
. "$(dirname "$0")/env.sh"
# -e: Ctrl-C / SIGINT ends the stream cleanly: the final counts are published, then "offline".
exec gst-launch-1.0 -e \
  rtspsrc location="$CAMERA_URL" protocols="$TRANSPORT" latency=300 ! rtph264depay ! h264parse ! avdec_h264 \
  ! footfallbin gallery="$GALLERY" counter::mqtt-url="$MQTT_URL" ${MQTT_TOPIC:+counter::mqtt-topic="$MQTT_TOPIC"} \
  ! fakesink sync=false
