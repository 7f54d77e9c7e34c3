#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Prints the ninja targets of the files `meson install` installs (run in the build folder):
debian/rules builds only those, not the benchmarks, fuzz targets and test helpers that the
project builds by default too."""
import json
import os
import subprocess

known = {line.split(':')[0] for line in subprocess.run(
    ['ninja', '-t', 'targets', 'all'], stdout=subprocess.PIPE, check=True,
    text=True).stdout.splitlines()}
with open('meson-info/intro-installed.json', encoding='utf-8') as f:
    installed = json.load(f)
print(' '.join(sorted(t for t in (os.path.relpath(p) for p in installed) if t in known)))
