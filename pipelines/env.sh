# Sourced by the pipeline scripts: finds the plugin when it was built here but not installed
# (meson install puts it where GStreamer looks by itself).
here=$(cd "$(dirname "$0")" && pwd)
if [ -z "${GST_PLUGIN_PATH:-}" ] && [ -f "$here/../target/release/libgstfootfall.so" ]; then
  export GST_PLUGIN_PATH="$here/../target/release"
fi
# Models: FOOTFALL_MODELS_DIR if set, else the folder compiled into the plugin.
# The footfall program (for `footfall serve`): FOOTFALL if set, else the one built here, else PATH.
if [ -z "${FOOTFALL:-}" ]; then
  if [ -x "$here/../target/release/footfall" ]; then FOOTFALL="$here/../target/release/footfall"; else FOOTFALL=footfall; fi
fi
