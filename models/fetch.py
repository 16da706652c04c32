#!/usr/bin/env python3
"""Puts the model files named in models/manifest.json into models/ and checks their sha256.

Sources, first hit wins for each file:
  1. --from DIR (a folder holding the files)
  2. ../shared/models beside the project checkout
  3. FOOTFALL_MODELS_URL: a folder path, file:// URL or http(s):// base URL
A file already in place with the right sha256 is left alone. Exit code 1 when a required
model cannot be found or does not match its checksum.
"""
import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

UPSTREAM = """Upstream sources (see ../shared/models/PROVENANCE.md for the exact conversion):
  face_detector.onnx  YuNet-n: github.com/ShiqiYu/libfacedetection.train, onnx/yunet_n_dynamic.onnx (Apache-2.0)
  face_embedder.onnx  dlib_face_recognition_resnet_model_v1 (CC0) converted to ONNX as PROVENANCE.md section 2 describes
Put them in a folder and run:  FOOTFALL_MODELS_URL=/that/folder python3 models/fetch.py"""


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def candidates(name, from_dir):
    if from_dir:
        yield os.path.join(from_dir, name)
    yield os.path.join(ROOT, "..", "shared", "models", name)
    base = os.environ.get("FOOTFALL_MODELS_URL", "")
    if base:
        if base.startswith(("http://", "https://", "file://")):
            yield base.rstrip("/") + "/" + name
        else:
            yield os.path.join(base, name)


def fetch_one(src, dest):
    """Copies or downloads src to dest atomically; returns False when src is not there."""
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(dest), prefix=".fetch-")
    try:
        with os.fdopen(fd, "wb") as out:
            if "://" in src:
                try:
                    with urllib.request.urlopen(src, timeout=60) as r:
                        shutil.copyfileobj(r, out)
                except Exception as e:  # noqa: BLE001 - any failure means "not here"
                    print(f"  {src}: {e}", file=sys.stderr)
                    return False
            else:
                if not os.path.isfile(src):
                    return False
                with open(src, "rb") as f:
                    shutil.copyfileobj(f, out)
        os.replace(tmp, dest)
        tmp = None
        return True
    finally:
        if tmp and os.path.exists(tmp):
            os.unlink(tmp)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--from", dest="from_dir", help="folder holding the model files")
    ap.add_argument("--dest", default=HERE, help="where to put them (default: models/)")
    ap.add_argument("--with-optional", action="store_true", help="also fetch optional models")
    args = ap.parse_args()

    with open(os.path.join(HERE, "manifest.json")) as f:
        manifest = json.load(f)
    failed = []
    for m in manifest["models"]:
        if m.get("optional") and not args.with_optional:
            continue
        dest = os.path.join(args.dest, m["file"])
        if os.path.isfile(dest) and sha256(dest) == m["sha256"]:
            print(f"ok       {m['file']} (already in place)")
            continue
        placed = False
        for src in candidates(m["file"], args.from_dir):
            if not fetch_one(src, dest):
                continue
            got = sha256(dest)
            if got == m["sha256"]:
                print(f"fetched  {m['file']} from {src}")
                placed = True
                break
            print(f"MISMATCH {m['file']} from {src}: sha256 {got}, expected {m['sha256']}", file=sys.stderr)
            os.unlink(dest)
        if not placed:
            failed.append(m["file"])
    if failed:
        print(f"error: could not place {', '.join(failed)}.\n{UPSTREAM}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
