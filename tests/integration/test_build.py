#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
# The build as a newcomer meets it: a machine without liblapacke-dev configures and compiles
# nothing that includes lapacke.h (the one test that needs it is skipped with a message), and
# tools/demo.sh builds only the daemon and evidentctl and shows the build's error when it fails.
#
# LAPACKE is hidden from a fresh `meson setup` by a pkg-config folder holding every .pc file of
# this machine except lapacke.pc (PKG_CONFIG_LIBDIR), so the packages installed here are not
# touched. The demo's build is checked with stand-ins for meson and ninja on PATH.
#   /usr/bin/python3 tests/integration/test_build.py [-v]
import glob
import json
import os
import re
import shutil
import stat
import subprocess
import tempfile
import unittest

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
TIMEOUT = 600
INCLUDES_LAPACKE = re.compile(rb'^\s*#\s*include\s*[<"]lapacke\.h[>"]', re.M)


def pc_dirs():
    out = subprocess.run(["pkg-config", "--variable", "pc_path", "pkg-config"],
                         capture_output=True, text=True, check=True).stdout.strip()
    return [d for d in out.split(":") if os.path.isdir(d)]


def sources_including_lapacke():
    found = []
    for top in ("daemon", "proto", "tests", "tools", "vault", "include"):
        for path in glob.glob(os.path.join(ROOT, top, "**", "*.[ch]"), recursive=True):
            with open(path, "rb") as f:
                if INCLUDES_LAPACKE.search(f.read()):
                    found.append(os.path.relpath(path, ROOT))
    return sorted(found)


class WithoutLapacke(unittest.TestCase):
    """meson setup on a machine where pkg-config knows no lapacke."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="evident-nolapacke-")
        pc = os.path.join(cls.tmp, "pkgconfig")
        os.mkdir(pc)
        for d in pc_dirs():
            for f in os.listdir(d):
                if f.endswith(".pc") and not f.startswith("lapack") and \
                        not os.path.exists(os.path.join(pc, f)):
                    os.symlink(os.path.join(d, f), os.path.join(pc, f))
        cls.build = os.path.join(cls.tmp, "build")
        env = dict(os.environ, PKG_CONFIG_LIBDIR=pc)
        env.pop("PKG_CONFIG_PATH", None)
        cls.setup = subprocess.run(["meson", "setup", cls.build, ROOT],
                                   capture_output=True, text=True, env=env, timeout=TIMEOUT)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_meson_setup_succeeds_and_says_the_lapacke_checks_are_skipped(self):
        self.assertEqual(self.setup.returncode, 0, self.setup.stdout + self.setup.stderr)
        self.assertRegex(self.setup.stdout, r"Run-time dependency lapacke found: NO")
        self.assertRegex(self.setup.stdout,
                         r"LAPACKE reference checks\s*:\s*SKIPPED: liblapacke-dev not found")

    def test_no_compiled_file_includes_lapacke_h(self):
        self.assertEqual(self.setup.returncode, 0, self.setup.stderr)
        with open(os.path.join(self.build, "compile_commands.json")) as f:
            compiled = {os.path.relpath(os.path.join(c["directory"], c["file"]), ROOT)
                        for c in json.load(f)}
        users = sources_including_lapacke()
        self.assertEqual(sorted(compiled.intersection(users)), [],
                         "compiled without LAPACKE, yet they include lapacke.h")
        self.assertIn("tests/unit/test_explain_lime.c", compiled)
        self.assertIn("tests/unit/test_explain_numeric.c", compiled)
        self.assertEqual(users, ["tests/unit/test_explain_lapack.c"],
                         "only test_explain_lapack.c may need LAPACKE (a header that includes "
                         "lapacke.h would put it in every file that includes the header)")

    def test_the_lapacke_test_is_skipped_with_a_message(self):
        self.assertEqual(self.setup.returncode, 0, self.setup.stderr)
        r = subprocess.run(["meson", "test", "-C", self.build, "--no-rebuild", "--suite", "unit",
                            "explain_lapack"], capture_output=True, text=True, timeout=TIMEOUT)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertRegex(r.stdout, r"explain_lapack\s+SKIP")
        with open(os.path.join(self.build, "meson-logs", "testlog.txt")) as f:
            self.assertIn("explain_lapack: skipped: LAPACKE (liblapacke-dev) was not found",
                          f.read())


STUB = """#!/bin/sh
echo "$(basename "$0") $*" >> "{log}"
{body}
"""


class DemoBuild(unittest.TestCase):
    """tools/demo.sh's build step, with meson and ninja replaced by stand-ins."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="evident-demo-build-")
        self.bin = os.path.join(self.tmp, "bin")
        os.mkdir(self.bin)
        self.calls = os.path.join(self.tmp, "calls")
        # every package of tools/install-deps.sh reads as installed: nothing is installed here
        self.stub("dpkg-query", 'echo "install ok installed"')

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def stub(self, name, body):
        path = os.path.join(self.bin, name)
        with open(path, "w") as f:
            f.write(STUB.format(log=self.calls, body=body))
        os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR)

    def demo(self):
        env = dict(os.environ, PATH=self.bin + ":" + os.environ["PATH"],
                   BUILD_DIR=os.path.join(self.tmp, "b"))
        r = subprocess.run(["sh", os.path.join(ROOT, "tools", "demo.sh"),
                            os.path.join(self.tmp, "out")],
                           capture_output=True, text=True, env=env, timeout=TIMEOUT)
        with open(self.calls) as f:
            calls = [c for c in f.read().splitlines() if not c.startswith("dpkg-query")]
        return r, calls

    def test_a_build_error_is_shown_and_only_the_demo_programs_are_built(self):
        self.stub("meson", 'touch "$2/build.ninja"')
        self.stub("ninja", "echo 'FAILED: daemon/evidentd.p/main.c.o'\n"
                           "echo 'main.c:1:10: fatal error: uv.h: No such file or directory'\n"
                           "exit 1")
        r, calls = self.demo()
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("fatal error: uv.h: No such file or directory", r.stderr)
        self.assertIn("demo: the build failed", r.stderr)
        b = os.path.join(self.tmp, "b")
        self.assertEqual(calls, ["meson setup " + b,
                                 "ninja -C %s daemon/evidentd tools/evidentctl" % b])

    def test_a_failed_meson_setup_is_shown(self):
        self.stub("meson", "echo 'ERROR: Dependency \"lmdb\" not found'; exit 1")
        self.stub("ninja", "exit 0")
        r, calls = self.demo()
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn('ERROR: Dependency "lmdb" not found', r.stderr)
        self.assertEqual([c.split()[0] for c in calls], ["meson"])


if __name__ == "__main__":
    unittest.main()
