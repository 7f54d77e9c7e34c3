# SPDX-License-Identifier: Apache-2.0
"""The C client (libevident, through evident-load) and the Python client writing to one
evidentd at once, with the daemon killed (SIGKILL) and restarted in the middle: both clients
reconnect and resend what was not acknowledged, every acknowledgement names the seq the vault
holds for that record (a resent record gets its original seq back), nothing is lost or stored
twice, and the vault verifies.

    BUILD_DIR=build /usr/bin/python3 tests/integration/test_clients.py [-v]
"""
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BUILD = os.path.abspath(os.environ.get("BUILD_DIR") or os.path.join(ROOT, "build"))
sys.path.insert(0, os.path.join(ROOT, "tools", "python"))
sys.path.insert(0, HERE)
import evident  # noqa: E402
from test_daemon import Daemon, wait_for  # noqa: E402

EVIDENT_LOAD = os.path.join(BUILD, "tools", "evident-load")
N_C = 40000
N_PY = 6000


class BothClients(unittest.TestCase):
    def test_c_and_python_through_a_crash(self):
        with tempfile.TemporaryDirectory(prefix="evident-clients-") as tmp:
            d = Daemon(tmp).start()
            try:
                self.run_clients(d, tmp)
            finally:
                if d.proc.poll() is None:
                    d.proc.kill()
                    d.proc.wait()

    def run_clients(self, d, tmp):
        artifact = os.path.join(tmp, "model.json")
        with open(artifact, "w") as f:
            json.dump({"intercept": -1.0, "coef": [0.5, 0.25, 2.0], "link": "logit",
                       "feature_names": ["a", "b", "c"]}, f)
        manifest = {"model_id": "py-model", "version": "1", "framework": "linear-json",
                    "output_space": "probability",
                    "features": [{"name": n} for n in "abc"]}
        acks = {}
        lock = threading.Lock()

        def on_ack(a):
            with lock:
                acks[a.request_id] = a.seq

        # C: evident-load (libevident) in its own process, rate-limited so the crash lands
        # in the middle of its run
        c_proc = subprocess.Popen(
            [EVIDENT_LOAD, "--socket", d.sock, "--clients", "2", "--records", str(N_C),
             "--rate", "8000", "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True)
        with evident.Client(d.sock, client_name="py-svc", on_ack=on_ack,
                            max_queue=N_PY + 10) as c:
            c.register(manifest, artifact)

            def produce():
                for i in range(N_PY // 2):
                    c.record(model_id="py-model", model_version="1",
                             features=[float(i), 1.0, float("nan")], scores=[0.3],
                             decision="approve")
                    if i % 500 == 0:
                        time.sleep(0.05)  # spread over the crash
            threads = [threading.Thread(target=produce) for _ in range(2)]
            for t in threads:
                t.start()
            wait_for(lambda: len(acks) > N_PY // 4, what="some Python acks")
            d.kill()
            time.sleep(0.2)  # both clients see the daemon gone and back off
            d.start()
            for t in threads:
                t.join()
            self.assertTrue(c.flush(timeout=60), c.stats())
            st = c.stats()
        out, err = c_proc.communicate(timeout=120)
        self.assertEqual(c_proc.returncode, 0, err)
        load = json.loads(out)
        d.stop()
        d.verify()

        self.assertEqual(load["acked"], N_C, load)
        self.assertEqual(st["acked"], N_PY, st)
        self.assertGreater(st["reconnects"] + load["reconnects"], 0)
        stored = d.records()
        # every record stored once, and each Python ack names the stored seq
        self.assertTrue(all(len(v) == 1 for v in stored.values()), "a record stored twice")
        py = {rid: seqs[0] for (client, rid), seqs in stored.items() if client == "py-svc"}
        self.assertEqual(len(py), N_PY)
        self.assertEqual(acks, py)
        n_c = sum(1 for (client, _) in stored if client.startswith("evident-load"))
        self.assertEqual(n_c, N_C)


if __name__ == "__main__":
    unittest.main()
