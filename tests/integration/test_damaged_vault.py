#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""evidentctl on damaged vaults, on a vault evidentd is writing, and what it does to the files.

Damaged: a sample vault (evident-sample: small records, a pruned payload, a blob and records
large enough to be LMDB overflow values) is copied and damaged in hundreds of deterministic
trials (random bit flips anywhere, flips in page headers and node tables, zeroed, random or
duplicated pages, extreme values written over header fields, truncation, a damaged meta
page), and status, verify, log, show, export, prove and one other verb run on each copy. Every
run must exit 0, 1 or 3 within the timeout: never a signal (SIGSEGV, SIGBUS, an LMDB assertion's
SIGABRT, a sanitizer report), never a hang, and a run that fails says why, naming the vault.

Live: evidentctl status and verify while evidentd writes exit 0, and `evidentctl tail -f`
started on a stopped vault keeps following once evidentd starts on it (and evidentd starts).

Untouched: with no daemon running, no verb changes, creates or rewrites any file of the vault
(lock.mdb included).

Standard library only.
    BUILD_DIR=build /usr/bin/python3 tests/integration/test_damaged_vault.py [-v]
Environment: DAMAGE_TRIALS (default 300, 120 with sanitizers), DAMAGE_SEED (default 20261206);
a failing trial's damaged vault is kept in BUILD_DIR/test-artifacts/damaged-vault-TRIAL.
"""
import concurrent.futures
import hashlib
import os
import random
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import unittest

BUILD = os.path.abspath(os.environ.get("BUILD_DIR", "build"))
EVIDENTCTL = os.path.join(BUILD, "tools", "evidentctl")
SAMPLE = os.path.join(BUILD, "tools", "evident-sample")
EVIDENTD = os.path.join(BUILD, "daemon", "evidentd")
EVIDENT_LOAD = os.path.join(BUILD, "tools", "evident-load")
TAMPER = os.path.join(BUILD, "tests", "common", "vault-tamper")
SANITIZED = os.environ.get("EVIDENT_SANITIZE", "none") not in ("", "none")
# 300 trials take ~30 s in a plain build; a sanitized evidentctl starts ~10x slower
TRIALS = int(os.environ.get("DAMAGE_TRIALS", "120" if SANITIZED else "300"))
SEED = int(os.environ.get("DAMAGE_SEED", "20261206"))
# A verb on a vault of a few hundred KiB takes milliseconds; the limit only tells a hang
# from a slow machine (the sanitized build is ~10x slower).
RUN_TIMEOUT = 60 if SANITIZED else 20
PSIZE = 4096

# A signal must show as one: sanitizers abort instead of exiting 1.
ENV = dict(os.environ)
ENV["ASAN_OPTIONS"] = ENV.get("ASAN_OPTIONS", "") + ":abort_on_error=1:detect_leaks=1"
ENV["UBSAN_OPTIONS"] = ENV.get("UBSAN_OPTIONS", "") + ":halt_on_error=1:abort_on_error=1"


def sha256_file(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def vault_files(vault):
    """Every file of the folder with its bytes' hash, mode and mtime."""
    out = {}
    for name in sorted(os.listdir(vault)):
        path = os.path.join(vault, name)
        st = os.stat(path)
        out[name] = (sha256_file(path), st.st_mode, st.st_mtime_ns)
    return out


def ctl(vault, *args, timeout=RUN_TIMEOUT):
    return subprocess.run([EVIDENTCTL, "--vault", vault, *args], capture_output=True,
                          text=True, errors="replace", timeout=timeout, env=ENV)


# ------------------------------------------------------------------ damage


def pages_of(data):
    return max(1, len(data) // PSIZE)


def damage(rng, data):
    """Returns (what, damaged bytes) for one trial."""
    d = bytearray(data)
    npages = pages_of(d)
    kind = rng.choice(["flip", "flip", "header", "header", "nodes", "nodes", "zero-page",
                       "random-page", "copy-page", "extreme", "extreme", "truncate", "meta"])
    page = rng.randrange(npages)
    base = page * PSIZE
    if kind == "flip":
        n = rng.randint(1, 16)
        for _ in range(n):
            d[rng.randrange(len(d))] ^= rng.randint(1, 255)
        return f"flip {n} bytes", bytes(d)
    if kind == "header":
        # pgno (8), pad (2), flags (2), lower/upper or overflow page count (4)
        off = base + rng.randrange(16)
        d[off] ^= 1 << rng.randrange(8)
        return f"flip a bit of page {page}'s header at +{off - base}", bytes(d)
    if kind == "nodes":
        # the node offsets after the header, or a node header (sizes, flags, key size)
        lower = struct.unpack_from("<H", d, base + 12)[0]
        if 16 < lower <= PSIZE and rng.random() < 0.5:
            off = base + rng.randrange(16, lower)
        else:
            ptr = struct.unpack_from("<H", d, base + 16)[0] if lower > 16 else 0
            off = base + (ptr if 0 < ptr < PSIZE - 8 else 16) + rng.randrange(8)
        d[off] ^= rng.randint(1, 255)
        return f"damage page {page}'s node table at +{off - base}", bytes(d)
    if kind == "zero-page":
        d[base:base + PSIZE] = bytes(PSIZE)
        return f"zero page {page}", bytes(d)
    if kind == "random-page":
        d[base:base + PSIZE] = rng.randbytes(PSIZE)
        return f"random bytes over page {page}", bytes(d)
    if kind == "copy-page":
        src = rng.randrange(npages)
        d[base:base + PSIZE] = data[src * PSIZE:(src + 1) * PSIZE]
        return f"page {src} copied over page {page}", bytes(d)
    if kind == "extreme":
        width = rng.choice([2, 4, 8])
        off = base + rng.randrange(0, 64 - width, width)
        value = rng.choice([0, 1, 0xff, 0x7f]) if width == 2 else rng.choice([0, 0xff])
        d[off:off + width] = bytes([value]) * width
        return f"{width} bytes of {value:#x} at page {page} +{off - base}", bytes(d)
    if kind == "truncate":
        if rng.random() < 0.5:
            n = rng.randrange(0, npages) * PSIZE
        else:
            n = rng.randrange(0, len(d))
        return f"truncated to {n} bytes", bytes(d[:n])
    # meta: pages 0 and 1 hold the two LMDB meta pages (header + 136 bytes)
    page = rng.randrange(2)
    off = page * PSIZE + rng.randrange(16 + 136)
    d[off] ^= 1 << rng.randrange(8)
    return f"flip a bit of meta page {page} at +{off - page * PSIZE}", bytes(d)


class DamagedVaultTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="evidentctl-damage-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, ignore_errors=True)
        cls.vault = os.path.join(cls.tmp, "sample")
        for args in (["--records", "300", "--seed", "3", "--prune", "10"],
                     ["--records", "12", "--seed", "4", "--memo-bytes", "5000"]):
            subprocess.run([SAMPLE, "--vault", cls.vault, *args], check=True,
                           capture_output=True, timeout=120)
        with open(os.path.join(cls.vault, "data.mdb"), "rb") as f:
            cls.data = f.read()
        cls.entries = 317

    def check_run(self, trial, what, vault, args, p):
        where = f"trial {trial} ({what}): evidentctl {' '.join(args)}"
        self.assertGreaterEqual(p.returncode, 0,
                                f"{where}: killed by signal {-p.returncode}\n{p.stderr[-3000:]}")
        if p.returncode == 2 and args[0] in ("show", "prove"):
            # damage can shorten the log: "no entry N (the vault has M entries)" is an answer
            self.assertIn("no entry", p.stderr, where)
            return
        self.assertIn(p.returncode, (0, 1, 3), f"{where}: exit {p.returncode}\n{p.stderr}")
        self.assertNotIn("Sanitizer", p.stderr, f"{where}\n{p.stderr[-3000:]}")
        self.assertNotIn("runtime error:", p.stderr, f"{where}\n{p.stderr[-3000:]}")
        if p.returncode == 3:
            lines = p.stderr.strip().splitlines()
            self.assertTrue(lines and lines[-1].startswith("evidentctl: " + vault),
                            f"{where}: exit 3 without naming the vault: {p.stderr!r}")
        elif p.returncode == 1:
            self.assertTrue(p.stdout.strip() or p.stderr.strip(), f"{where}: exit 1, silent")

    def test_damaged_copies_exit_0_1_or_3(self):
        rng = random.Random(SEED)
        verbs_extra = [["tail", "-n", "5"], ["checkpoint"], ["models"], ["incidents"],
                       ["lineage", "credit-risk"], ["log", "--type", "prune"]]
        counts = {0: 0, 1: 0, 2: 0, 3: 0}
        started = time.monotonic()
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=2)
        self.addCleanup(pool.shutdown)
        for trial in range(TRIALS):
            what, data = damage(rng, self.data)
            copy = os.path.join(self.tmp, f"t{trial % 2}")
            shutil.rmtree(copy, ignore_errors=True)
            os.mkdir(copy)
            # a copy with its lock files, or only data.mdb and the checkpoint
            names = ["checkpoint"] + (["writer.lock", "lock.mdb"] if rng.random() < 0.7 else [])
            for name in names:
                shutil.copy(os.path.join(self.vault, name), copy)
            with open(os.path.join(copy, "data.mdb"), "wb") as f:
                f.write(data)
            seq = str(rng.randrange(self.entries))
            runs = [["status"], ["verify"], ["log", "--limit", "40"], ["show", seq],
                    ["export", "--format", "jsonl"], ["prove", seq],
                    verbs_extra[trial % len(verbs_extra)]]
            futures = [(args, pool.submit(ctl, copy, *args)) for args in runs]
            try:
                for args, fut in futures:
                    try:
                        p = fut.result()
                    except subprocess.TimeoutExpired:
                        self.fail(f"trial {trial} ({what}): evidentctl {' '.join(args)} "
                                  f"did not finish in {RUN_TIMEOUT} s")
                    self.check_run(trial, what, copy, args, p)
                    counts[p.returncode] += 1
            except AssertionError:
                keep = os.path.join(BUILD, "test-artifacts", f"damaged-vault-{trial}")
                shutil.rmtree(keep, ignore_errors=True)
                for f in futures:
                    f[1].exception()
                shutil.copytree(copy, keep)
                print(f"\nthe damaged vault is kept in {keep}", file=sys.stderr)
                raise
        print(f"\n{TRIALS} damaged copies, {sum(counts.values())} runs in "
              f"{time.monotonic() - started:.1f} s: exit 0: {counts[0]}, exit 1: {counts[1]}, "
              f"exit 2 (no such entry): {counts[2]}, exit 3: {counts[3]}", file=sys.stderr)
        # most damage must actually be noticed, or the trials test nothing
        self.assertGreater(counts[3] + counts[1], sum(counts.values()) // 4, counts)

    def test_named_problem(self):
        """A structural problem names data.mdb, the page and what is wrong with it."""
        copy = os.path.join(self.tmp, "named")
        shutil.copytree(self.vault, copy)
        path = os.path.join(copy, "data.mdb")
        with open(path, "r+b") as f:
            # the root of the main database, from the newer meta page
            metas = []
            for i in range(2):
                f.seek(i * PSIZE + 16)
                m = f.read(136)
                metas.append((struct.unpack_from("<Q", m, 128)[0], m))
            meta = max(metas)[1]
            root = struct.unpack_from("<Q", meta, 24 + 48 + 40)[0]
            f.seek(root * PSIZE + 12)
            f.write(struct.pack("<H", 2))  # mp_lower below the page header
        for verb in ("status", "verify", "log"):
            p = ctl(copy, verb)
            self.assertEqual(p.returncode, 3, p)
            self.assertRegex(p.stderr.strip(),
                             rf"^evidentctl: {copy}/data\.mdb: page {root}: .+$")

    def test_data_file_not_a_file(self):
        """A FIFO or a folder where data.mdb should be: exit 3 at once (a FIFO used to block
        the reader's open for ever)."""
        for kind in ("fifo", "folder"):
            vault = os.path.join(self.tmp, "notafile-" + kind)
            os.mkdir(vault)
            path = os.path.join(vault, "data.mdb")
            os.mkfifo(path) if kind == "fifo" else os.mkdir(path)
            p = ctl(vault, "status", timeout=20)
            self.assertEqual(p.returncode, 3, (kind, p))
            self.assertTrue(p.stderr.startswith("evidentctl: " + vault), p.stderr)

    def test_huge_last_key(self):
        """The last entry stored under seq 2^63 + 5: the vault claims more entries than any
        loop can count. Every verb ends at once; verify names the first missing entry."""
        copy = os.path.join(self.tmp, "huge")
        shutil.copytree(self.vault, copy)
        subprocess.run([TAMPER, copy, "move", str(self.entries - 1), str(2**63 + 5)],
                       check=True, capture_output=True, timeout=60)
        for args in (["status"], ["log", "--limit", "3"], ["tail", "-n", "3"], ["show", "5"],
                     ["prove", "5"], ["export", "--format", "jsonl"], ["incidents"],
                     ["models"]):
            p = ctl(copy, *args)
            self.check_run(-1, "huge last key", copy, args, p)
        p = ctl(copy, "verify")
        self.assertEqual(p.returncode, 1, p)
        self.assertIn(f"entry {self.entries - 1} is missing", p.stdout)

    def test_page_shared_by_two_databases(self):
        """A branch node of the leaves database pointed at a leaf page of the payloads
        database: both walks reach that page. verify checks the databases one after another
        (--threads 1) and two at a time (--threads 2); either way it refuses the file and
        names the page, and never lets LMDB read it."""
        copy = os.path.join(self.tmp, "shared")
        subprocess.run([SAMPLE, "--vault", copy, "--records", "3000", "--seed", "5"],
                       check=True, capture_output=True, timeout=120)
        path = os.path.join(copy, "data.mdb")
        with open(path, "r+b") as f:
            data = bytearray(f.read())

            def page(n):
                return data[n * PSIZE:(n + 1) * PSIZE]

            def nodes(pg):
                lower = struct.unpack_from("<H", pg, 12)[0]
                return [struct.unpack_from("<H", pg, 16 + 2 * i)[0]
                        for i in range((lower - 16) // 2)]

            def child(pg, off):  # a branch node's page number: lo, hi and flags, 48 bits
                lo, hi, fl = struct.unpack_from("<HHH", pg, off)
                return lo | hi << 16 | fl << 32

            metas = [bytes(page(i)[16:16 + 136]) for i in range(2)]
            meta = max(metas, key=lambda m: struct.unpack_from("<Q", m, 128)[0])
            main_root = struct.unpack_from("<Q", meta, 24 + 48 + 40)[0]
            dbs = {}  # name -> (depth, root, offset of its record) from the main database
            mp = page(main_root)
            self.assertEqual(struct.unpack_from("<H", mp, 10)[0], 2, "main db: one leaf")
            for off in nodes(mp):
                ksize = struct.unpack_from("<H", mp, off + 6)[0]
                name = bytes(mp[off + 8:off + 8 + ksize]).decode()
                rec = off + 8 + ksize
                dbs[name] = (struct.unpack_from("<H", mp, rec + 6)[0],
                             struct.unpack_from("<Q", mp, rec + 40)[0],
                             main_root * PSIZE + rec)
            self.assertEqual(dbs["leaves"][0], 2, dbs)
            self.assertEqual(dbs["payloads"][0], 2, dbs)
            lroot, proot = dbs["leaves"][1], dbs["payloads"][1]
            target = child(page(proot), nodes(page(proot))[1])
            off = lroot * PSIZE + nodes(page(lroot))[1]
            replaced = child(data, off)
            struct.pack_into("<HHH", data, off, target & 0xffff, target >> 16 & 0xffff,
                             target >> 32)
            # the leaves' entry count fixed to match, so that only the sharing is wrong
            entries = dbs["leaves"][2] + 32
            count = struct.unpack_from("<Q", data, entries)[0]
            count += len(nodes(page(target))) - len(nodes(page(replaced)))
            struct.pack_into("<Q", data, entries, count)
            f.seek(0)
            f.write(data)
        for threads in ("1", "2"):
            p = ctl(copy, "verify", "--threads", threads)
            self.assertEqual(p.returncode, 3, (threads, p))
            self.assertRegex(p.stderr.strip(),
                             rf"^evidentctl: {copy}/data\.mdb: page \d+: .*names page "
                             rf"{target}, which .*shared page\)$", threads)

    def test_readers_change_nothing(self):
        """No daemon: every verb leaves every file alone, lock.mdb included, and creates
        nothing (not even lock.mdb in a copy that lacks it)."""
        copy = os.path.join(self.tmp, "untouched")
        shutil.copytree(self.vault, copy)
        bare = os.path.join(self.tmp, "bare")
        os.mkdir(bare)
        for name in ("data.mdb", "checkpoint"):
            shutil.copy(os.path.join(self.vault, name), bare)
        for vault in (copy, bare):
            before = vault_files(vault)
            for args in (["status"], ["verify"], ["log", "--limit", "5"], ["show", "3"],
                         ["export", "--format", "csv"], ["prove", "5"], ["tail", "-n", "2"],
                         ["checkpoint"], ["models"], ["incidents"]):
                p = ctl(vault, *args)
                self.assertEqual(p.returncode, 0, (vault, args, p.stderr))
                self.assertEqual(vault_files(vault), before, (vault, args))


def wait_for(cond, timeout=30, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def connectable(path):
    with socket.socket(socket.AF_UNIX) as s:
        try:
            s.connect(path)
            return True
        except OSError:
            return False


@unittest.skipUnless(os.access(EVIDENTD, os.X_OK) and os.access(EVIDENT_LOAD, os.X_OK),
                     "evidentd is not built")
class LiveVaultTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="evidentctl-live-")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        self.vault = os.path.join(self.tmp, "vault")
        self.sock = os.path.join(self.tmp, "ingest.sock")
        # a signed checkpoint first: verify fails a vault no checkpoint covers
        subprocess.run([SAMPLE, "--vault", self.vault, "--records", "200"], check=True,
                       capture_output=True, timeout=120)
        self.daemon = None

    def start_daemon(self):
        log = open(os.path.join(self.tmp, "daemon.log"), "a")
        self.addCleanup(log.close)
        self.daemon = subprocess.Popen([EVIDENTD, "--vault", self.vault, "--socket", self.sock],
                                       stdout=log, stderr=log)
        self.addCleanup(self.stop_daemon)
        wait_for(lambda: connectable(self.sock) or self.daemon.poll() is not None,
                 what="the daemon's socket")
        self.assertIsNone(self.daemon.poll(), self.daemon_log())

    def stop_daemon(self):
        if self.daemon and self.daemon.poll() is None:
            self.daemon.send_signal(signal.SIGTERM)
            self.daemon.wait(timeout=60)

    def daemon_log(self):
        with open(os.path.join(self.tmp, "daemon.log")) as f:
            return f.read()

    def test_status_and_verify_while_the_daemon_writes(self):
        self.start_daemon()
        load = subprocess.Popen([EVIDENT_LOAD, "--socket", self.sock, "--clients", "2",
                                 "--duration", "6", "--rate", "3000", "--features", "8"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.addCleanup(load.kill)
        runs = 0
        sizes = []
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and load.poll() is None:
            for verb in ("status", "verify", "log"):
                p = ctl(self.vault, "--json", verb, *(["--limit", "3"] if verb == "log" else []))
                self.assertEqual(p.returncode, 0, (verb, p.stdout[-2000:], p.stderr))
                runs += 1
            st = ctl(self.vault, "status")
            sizes.append(st.stdout)
        self.assertEqual(load.wait(timeout=60), 0, load.stderr.read())
        self.assertGreater(runs, 3)
        self.assertEqual(ctl(self.vault, "verify").returncode, 0)

    def test_tail_follow_keeps_going_when_the_daemon_starts(self):
        tail = subprocess.Popen([EVIDENTCTL, "--vault", self.vault, "tail", "-n", "1", "-f"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)
        self.addCleanup(tail.kill)
        lines = []
        buf = b""

        def read_lines(timeout):
            nonlocal buf
            ready, _, _ = select.select([tail.stdout], [], [], timeout)
            if ready:
                chunk = os.read(tail.stdout.fileno(), 65536)
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    lines.append(line.decode())
            return lines

        wait_for(lambda: read_lines(0.1), what="tail's first line")
        # evidentd starts although a reader follows the stopped vault, and writes: the
        # lifecycle START and config entries appear in tail's output
        self.start_daemon()
        wait_for(lambda: any("lifecycle" in line for line in read_lines(0.1)[1:]),
                 what="the daemon's START entry in tail -f")
        self.stop_daemon()
        self.assertIsNone(tail.poll(), tail.stderr.read() if tail.poll() is not None else "")
        tail.send_signal(signal.SIGTERM)
        self.assertEqual(tail.wait(timeout=30), 0)


if __name__ == "__main__":
    for exe in (EVIDENTCTL, SAMPLE):
        if not os.access(exe, os.X_OK):
            sys.exit(f"test_damaged_vault.py: {exe}: not found (set BUILD_DIR)")
    unittest.main()
