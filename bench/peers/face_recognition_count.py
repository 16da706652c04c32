#!/usr/bin/env python3
"""Peer: a straightforward unique-visitor counter with the `face_recognition` library.

Every frame: dlib's HOG face detector (the library's default, one upsampling), its 128-d
encoder, and a match against everyone seen so far at the library's default tolerance 0.6; a
face matching nobody is a new visitor. This is what the face_recognition README's examples
do, without their shortcuts (no frame skipping, no downscaling).

Frames come from GStreamer (`gst-launch-1.0 … ! video/x-raw,format=RGB ! fdsink`), so the
peer needs no OpenCV. Prints one JSON line: frames, seconds, fps, unique.

    python face_recognition_count.py CLIP.mp4
"""
import json
import re
import subprocess
import sys
import time

import face_recognition
import numpy as np

TOLERANCE = 0.6


def frame_size(clip):
    """Width and height of the decoded clip (from the caps gst-launch -v prints)."""
    out = subprocess.run(
        ["gst-launch-1.0", "-v", "filesrc", f"location={clip}", "!", "decodebin", "!",
         "fakesink", "num-buffers=1"], capture_output=True, text=True).stdout
    w = re.search(r"width=\(int\)(\d+)", out)
    h = re.search(r"height=\(int\)(\d+)", out)
    if not w or not h:
        sys.exit(f"cannot read the size of {clip}")
    return int(w.group(1)), int(h.group(1))


def main():
    clip = sys.argv[1]
    w, h = frame_size(clip)
    decoder = subprocess.Popen(
        ["gst-launch-1.0", "-q", "filesrc", f"location={clip}", "!", "decodebin", "!",
         "videoconvert", "!", "video/x-raw,format=RGB", "!", "fdsink", "fd=1"],
        stdout=subprocess.PIPE)
    size = w * h * 3
    known = []
    frames = 0
    start = time.perf_counter()
    while True:
        raw = decoder.stdout.read(size)
        if len(raw) < size:
            break
        frame = np.frombuffer(raw, np.uint8).reshape(h, w, 3)
        frames += 1
        boxes = face_recognition.face_locations(frame)
        for enc in face_recognition.face_encodings(frame, boxes):
            if not known or min(face_recognition.face_distance(known, enc)) > TOLERANCE:
                known.append(enc)
    seconds = time.perf_counter() - start
    decoder.wait()
    print(json.dumps({"frames": frames, "seconds": round(seconds, 2),
                      "fps": round(frames / seconds, 2), "unique": len(known)}))


if __name__ == "__main__":
    main()
