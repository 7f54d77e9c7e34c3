#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
# `evidentctl export --tiles` read by code nobody here wrote: Go's golang.org/x/mod/sumdb/note
# and sumdb/tlog (Debian's golang-golang-x-mod-dev), through tests/interop/tlogcheck, built by
# this test. On vaults written by evident-sample: the checkpoint's signature verifies with the
# vault's verifier key, every tile is authenticated up to the signed root, every bundle entry
# hashes to its level-0 hash, inclusion proofs check and equal `evidentctl prove`'s; then the
# log grows, the export runs again and writes exactly the files tlog-tiles adds (new full
# tiles, the right edge's partials, the checkpoint), and Go checks the new tree and its
# consistency with the first checkpoint. evidentctl changes no file of the vault.
#
# Skipped (exit 77) only when `go` is not installed. Standard library only:
#   BUILD_DIR=build /usr/bin/python3 tests/integration/test_tiles_interop.py [-v]
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

BUILD_DIR = os.environ.get("BUILD_DIR", "build")
EVIDENTCTL = None
SAMPLE = None
GO = shutil.which("go")
TLOGCHECK_SRC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "interop",
                             "tlogcheck")
TIMEOUT = 300
SUMMARY = re.compile(r"^tiles: ([\d,]+) entr(?:y|ies) up to checkpoint (\d+), (\d+) files? "
                     r"written \([^)]*\), (\d+) unchanged(?:, (\d+) superseded partials? "
                     r"removed)?$")


def files_for(old, new):
    """Files an export to tree size `new` writes into a folder whose checkpoint has size `old`
    (0: an empty folder), from tlog-tiles alone: per level, the full tiles that are new and the
    partial tile when the level's hash count changed; entry bundles beside level 0; the
    checkpoint."""
    n, level = 1, 0
    while new >> (8 * level):
        c, oc = new >> (8 * level), old >> (8 * level)
        f = c // 256 - oc // 256 + (1 if c % 256 and c != oc else 0)
        n += 2 * f if level == 0 else f
        level += 1
    return n


def tree_files(path):
    """Relative paths of the files under path, sorted."""
    out = []
    for root, _, names in os.walk(path):
        for name in names:
            out.append(os.path.relpath(os.path.join(root, name), path))
    return sorted(out)


def contents(path):
    """Every file under path with its bytes."""
    out = {}
    for p in tree_files(path):
        with open(os.path.join(path, p), "rb") as f:
            out[p] = f.read()
    return out


def vault_state(vault):
    """Every file of the vault and its hash: what evidentctl must never change."""
    state = {}
    for name in sorted(os.listdir(vault)):
        p = os.path.join(vault, name)
        if os.path.isfile(p) and os.access(p, os.R_OK):
            with open(p, "rb") as f:
                state[name] = hashlib.sha256(f.read()).hexdigest()
        else:
            state[name] = "other"
    return state


def sample(vault, *args):
    p = subprocess.run([SAMPLE, "--vault", vault, *args], capture_output=True, text=True,
                       timeout=TIMEOUT)
    if p.returncode != 0:
        raise AssertionError(f"evident-sample failed: {p.stderr}")


class TilesInteropTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="evident-tiles-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, ignore_errors=True)
        cls.tlogcheck = os.path.join(cls.tmp, "tlogcheck")
        env = dict(os.environ, GO111MODULE="off", GOPATH="/usr/share/gocode",
                   GOCACHE=os.path.join(cls.tmp, "gocache"), GOFLAGS="", CGO_ENABLED="0")
        p = subprocess.run([GO, "build", "-o", cls.tlogcheck, "."], cwd=TLOGCHECK_SRC, env=env,
                           capture_output=True, text=True, timeout=TIMEOUT)
        if p.returncode != 0:
            raise AssertionError("go build tests/interop/tlogcheck failed (golang-golang-x-mod-"
                                 f"dev installed? tools/install-deps.sh test):\n{p.stderr}")

    def ctl(self, vault, *args, expect=0):
        before = vault_state(vault)
        p = subprocess.run([EVIDENTCTL, "--vault", vault, *args], capture_output=True,
                           text=True, timeout=TIMEOUT)
        self.assertEqual(vault_state(vault), before, f"evidentctl {args} changed the vault")
        self.assertEqual(p.returncode, expect,
                         f"evidentctl {' '.join(args)}: exit {p.returncode}\n{p.stdout}"
                         f"{p.stderr}")
        return p

    def export(self, vault, out):
        """Exports and returns (size, written, unchanged, removed) from the summary line."""
        line = self.ctl(vault, "export", "--tiles", out).stdout
        m = SUMMARY.match(line.rstrip("\n"))
        self.assertIsNotNone(m, line)
        self.assertEqual(int(m.group(1).replace(",", "")), int(m.group(2)))
        return (int(m.group(2)), int(m.group(3)), int(m.group(4)), int(m.group(5) or 0))

    def vkey(self, vault):
        path = os.path.join(self.tmp, os.path.basename(vault) + ".vkey")
        with open(path, "w") as f:
            f.write(self.ctl(vault, "checkpoint", "--key").stdout)
        return path

    def check(self, out, vkey, prove=(), old=None):
        args = [self.tlogcheck, "-dir", out, "-vkey", vkey]
        if prove:
            args += ["-prove", ",".join(str(i) for i in prove)]
        if old:
            args += ["-old", old]
        p = subprocess.run(args, capture_output=True, text=True, timeout=TIMEOUT)
        self.assertEqual(p.returncode, 0, f"tlogcheck: {p.stderr}")
        return json.loads(p.stdout)

    def our_proof(self, vault, seq):
        """The proof hashes of `evidentctl prove SEQ` (C2SP tlog-proof text)."""
        lines = self.ctl(vault, "prove", str(seq)).stdout.split("\n")
        start = next(i for i, l in enumerate(lines) if l.startswith("index ")) + 1
        end = lines.index("", start)
        return lines[start:end]

    def keep(self, out, name):
        path = os.path.join(self.tmp, name)
        shutil.copyfile(os.path.join(out, "checkpoint"), path)
        return path

    def test_export_follows_the_log_and_go_checks_it(self):
        vault, out = os.path.join(self.tmp, "a"), os.path.join(self.tmp, "a-tiles")
        sample(vault, "--records", "1200", "--seed", "5")  # 1,203 entries
        vkey = self.vkey(vault)
        size, written, unchanged, removed = self.export(vault, out)
        self.assertEqual((size, written, unchanged, removed), (1203, files_for(0, 1203), 0, 0))
        self.assertEqual(len(tree_files(out)), files_for(0, 1203))
        prove = [0, 1, 255, 256, 511, 1024, 1202]
        r = self.check(out, vkey, prove)
        self.assertEqual((r["size"], r["entries"]), (1203, 1203))
        self.assertEqual(r["files"], files_for(0, 1203) - 1)  # all but the checkpoint
        for seq in prove:
            self.assertEqual(r["proofs"][str(seq)], self.our_proof(vault, seq), seq)
        first = self.keep(out, "a-1203.checkpoint")

        # the same checkpoint again: nothing to write
        self.assertEqual(self.export(vault, out), (1203, 0, files_for(0, 1203), 0))

        # the log grows by 601 entries (a lifecycle entry and 600 records)
        sample(vault, "--records", "600", "--seed", "6")
        before = {p: os.stat(os.path.join(out, p)).st_ino for p in tree_files(out)}
        st = json.loads(self.ctl(vault, "--json", "export", "--tiles", out).stdout)
        self.assertEqual((st["size"], st["prev_size"]), (1804, 1203))
        self.assertEqual(st["files_written"], files_for(1203, 1804))
        self.assertEqual(st["files_unchanged"], 2 * (1203 // 256))
        self.assertEqual(st["entries_written"], 1804 - 1024)
        # tile 4 is full now: its partial tile and bundle (004.p/179) are gone; level 1's
        # right edge keeps the older partial (000.p/4) beside the new one (000.p/7)
        self.assertEqual(st["partials_removed"], 2)
        files = tree_files(out)
        self.assertNotIn("tile/0/004.p/179", files)
        self.assertNotIn("tile/entries/004.p/179", files)
        self.assertIn("tile/1/000.p/4", files)
        self.assertIn("tile/1/000.p/7", files)
        for p in ("tile/0/000", "tile/0/003", "tile/entries/002"):  # never rewritten
            self.assertEqual(os.stat(os.path.join(out, p)).st_ino, before[p], p)
        r = self.check(out, vkey, [3, 1203, 1803], old=first)
        self.assertEqual((r["size"], r["entries"], r["consistent_from"]), (1804, 1804, 1203))
        self.assertEqual(r["files"], files_for(0, 1804) - 1 + 1)  # + level 1's older partial
        self.assertEqual(r["proofs"]["1803"], self.our_proof(vault, 1803))

    def test_a_log_beyond_one_level_1_tile(self):
        vault, out = os.path.join(self.tmp, "big"), os.path.join(self.tmp, "big-tiles")
        sample(vault, "--records", "70000", "--seed", "7")  # 70,003 entries
        vkey = self.vkey(vault)
        # 273 full tiles and bundles and a partial pair of 115 at level 0, a full tile and a
        # partial of 17 at level 1, a partial of 1 at level 2, the checkpoint
        self.assertEqual(files_for(0, 70003), 2 * 274 + 2 + 1 + 1)
        self.assertEqual(self.export(vault, out), (70003, files_for(0, 70003), 0, 0))
        self.assertIn("tile/1/000", tree_files(out))
        self.assertIn("tile/2/000.p/1", tree_files(out))
        r = self.check(out, vkey, [0, 65535, 65536, 70002])
        self.assertEqual(r["entries"], 70003)
        for seq in (65535, 70002):
            self.assertEqual(r["proofs"][str(seq)], self.our_proof(vault, seq), seq)
        first = self.keep(out, "big-70003.checkpoint")
        # +101 entries stay in level 0's partial tile: its tile and bundle and the checkpoint
        # are written; levels 1 and 2 keep their partial tiles (the same hashes)
        sample(vault, "--records", "100", "--seed", "8")
        self.assertEqual(self.export(vault, out), (70104, 3, 2 * 273 + 3, 0))
        self.assertEqual(files_for(70003, 70104), 3)
        r = self.check(out, vkey, [70103], old=first)
        self.assertEqual((r["entries"], r["consistent_from"]), (70104, 70003))

    def test_refuses_the_folder_of_another_log(self):
        a, b = os.path.join(self.tmp, "r-a"), os.path.join(self.tmp, "r-b")
        out = os.path.join(self.tmp, "r-tiles")
        sample(a, "--records", "300", "--seed", "1")
        sample(b, "--records", "20", "--seed", "2")
        self.export(a, out)
        before = contents(out)
        p = self.ctl(b, "export", "--tiles", out, expect=1)
        self.assertIn("another log", p.stderr)
        self.assertEqual(contents(out), before)
        self.check(out, self.vkey(a))
        p = subprocess.run([self.tlogcheck, "-dir", out, "-vkey", self.vkey(b)],
                           capture_output=True, text=True, timeout=TIMEOUT)
        self.assertNotEqual(p.returncode, 0)  # Go refuses a signature by another key


def main():
    global BUILD_DIR, EVIDENTCTL, SAMPLE
    if len(sys.argv) > 1 and not sys.argv[1].startswith("-"):
        BUILD_DIR = sys.argv.pop(1)
    if not GO:
        print("test_tiles_interop.py: skipped: `go` not found (Debian: golang-go and "
              "golang-golang-x-mod-dev; tools/install-deps.sh test installs them)")
        sys.exit(77)
    EVIDENTCTL = os.path.join(BUILD_DIR, "tools", "evidentctl")
    SAMPLE = os.path.join(BUILD_DIR, "tools", "evident-sample")
    for exe in (EVIDENTCTL, SAMPLE):
        if not os.access(exe, os.X_OK):
            sys.exit(f"test_tiles_interop.py: {exe}: not found (set BUILD_DIR)")
    unittest.main()


if __name__ == "__main__":
    main()
