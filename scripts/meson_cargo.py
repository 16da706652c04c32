#!/usr/bin/env python3
"""Meson helper: runs `cargo build` for one crate of the workspace (the plugin, or the
`footfall` application) and copies what it built to meson's output."""
import argparse
import os
import shutil
import subprocess
import sys

ap = argparse.ArgumentParser()
ap.add_argument("--manifest", required=True)
ap.add_argument("--target-dir", required=True)
ap.add_argument("--profile", choices=["release", "debug"], default="release")
ap.add_argument("--output", required=True)
# The plugin by default; `--package footfall --artifact footfall` builds the application.
ap.add_argument("--package", default="gst-plugin-footfall")
ap.add_argument("--artifact", default="libgstfootfall.so")
a = ap.parse_args()

cmd = ["cargo", "build", "-p", a.package, "--manifest-path", a.manifest, "--target-dir", a.target_dir]
if a.package == "gst-plugin-footfall":
    cmd.append("--lib")
if a.profile == "release":
    cmd.append("--release")
rc = subprocess.call(cmd)
if rc != 0:
    sys.exit(rc)
built = os.path.join(a.target_dir, a.profile, a.artifact)
shutil.copy2(built, a.output)
