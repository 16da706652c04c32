#!/bin/sh
# A shop's camera → its own broker (shop/mosquitto.conf, bridged to the head office) →
# `footfall hub` at the head office (hub.sh). Only counts and visit events leave the shop;
# they carry the site id, the camera and the site's local time.
CAMERA_URL=${CAMERA_URL:-rtsp://192.168.1.10:554/stream1}   # the camera's RTSP URL
SITE=${SITE:-shop-0042}         # the site id: the bridge's user name at the head office
CAMERA=${CAMERA:-door}          # this camera's name in the shop
STORE=${STORE:-/var/lib/footfall/$SITE.sqlite}              # the shop's own count store
set -eu
exec footfall count --gallery "$SITE" --camera "$CAMERA" --store "$STORE" \
  --mqtt mqtt://127.0.0.1:1883 --mqtt-topic "footfall/$SITE/$CAMERA" "$CAMERA_URL"
