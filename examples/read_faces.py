#!/usr/bin/python3
"""Reads Footfall face metadata from Python, without any Footfall code: only GStreamer's
own GstVideoRegionOfInterestMeta and GstCustomMeta APIs.

    GST_PLUGIN_PATH=target/release /usr/bin/python3 examples/read_faces.py CLIP.mp4

Prints one line per buffer: frame counter, whether the detector ran, and every face with
its score and landmarks. Needs PyGObject with the GStreamer overrides (Debian:
python3-gi and python3-gst-1.0, for /usr/bin/python3; a venv python has neither).
"""
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstVideo", "1.0")
from gi.repository import GLib, Gst, GstVideo  # noqa: E402


def faces_of(buf):
    """Yields (x, y, w, h, score, landmarks) for every ROI meta of type 'face'."""
    i = 0
    while True:
        roi = GstVideo.buffer_get_video_region_of_interest_meta_id(buf, i)
        # facedetector numbers the faces of a buffer 0, 1, ... in the ROI id
        if roi is None:
            break
        i += 1
        if GLib.quark_to_string(roi.roi_type) != "face":
            continue
        param = roi.get_param("face")
        score = param.get_double("score")[1]
        # GstValueArray of 10 doubles; PyGObject hands it over as a sequence
        landmarks = [float(v) for v in param.get_value("landmarks")]
        yield roi.x, roi.y, roi.w, roi.h, score, landmarks


def detection_of(buf):
    meta = buf.get_custom_meta("FootfallDetectionMeta")
    if meta is None:
        return None
    s = meta.get_structure()
    return s.get_value("frame"), s.get_value("detected")


def main():
    Gst.init(None)
    pipeline = Gst.parse_launch(
        f'filesrc location="{sys.argv[1]}" ! decodebin ! videoconvert ! facedetector ! fakesink name=sink'
    )

    def probe(_pad, info):
        buf = info.get_buffer()
        det = detection_of(buf)
        faces = " ".join(
            f"[{x},{y} {w}x{h} score={s:.2f} right_eye=({lm[0]:.1f},{lm[1]:.1f})]"
            for x, y, w, h, s, lm in faces_of(buf)
        )
        print(f"frame={det[0] if det else '?'} detected={det[1] if det else '?'} {faces}", flush=True)
        return Gst.PadProbeReturn.OK

    pipeline.get_by_name("sink").get_static_pad("sink").add_probe(Gst.PadProbeType.BUFFER, probe)
    pipeline.set_state(Gst.State.PLAYING)
    msg = pipeline.get_bus().timed_pop_filtered(Gst.CLOCK_TIME_NONE, Gst.MessageType.EOS | Gst.MessageType.ERROR)
    pipeline.set_state(Gst.State.NULL)
    if msg.type == Gst.MessageType.ERROR:
        print(msg.parse_error()[0].message, file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
