#!/usr/bin/env python3
"""Meson helper: runs `cargo build` for the plugin and copies the .so to meson's output."""
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
a = ap.parse_args()

cmd = ["cargo", "build", "--lib", "--manifest-path", a.manifest, "--target-dir", a.target_dir]
if a.profile == "release":
    cmd.append("--release")
rc = subprocess.call(cmd)
if rc != 0:
    sys.exit(rc)
built = os.path.join(a.target_dir, a.profile, "libgstfootfall.so")
shutil.copy2(built, a.output)
