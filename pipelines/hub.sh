#!/bin/sh
# The head office: every shop's visits and cameras' state from the head-office broker
# (head-office/mosquitto.conf) into PostgreSQL, and the chain's dashboard on :8090.
FOOTFALL_HUB_DB=${FOOTFALL_HUB_DB:-postgres://footfall@127.0.0.1/footfall}
HUB_PASSWORD=${HUB_PASSWORD:?the footfall-hub user password on the head-office broker}
FOOTFALL_HUB_TOKEN=${FOOTFALL_HUB_TOKEN:?a long random token for the API and dashboard}
HTTP=${HTTP:-0.0.0.0:8090}
set -eu
export FOOTFALL_HUB_DB FOOTFALL_HUB_TOKEN
exec footfall hub --mqtt "mqtt://footfall-hub:$HUB_PASSWORD@127.0.0.1:1883" --http "$HTTP"
