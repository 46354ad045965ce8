#!/usr/bin/env python3
"""Measures `openclawd reload` with the real llama-server and tiny models.

  reload_ms            `openclawd reload` wall time: subagent model swapped, new model ready
  daemon_reload_ms     the daemon's own view: SIGHUP received -> outcome recorded (state.json)
  subagent_gap_ms      how long the subagent's port did not answer GET /health 200 during the swap
  orchestrator_probes  GET /health to the untouched orchestrator during the swap (every ~5 ms) ...
  orchestrator_failed  ... and how many of them did not answer 200 (expected: 0)
  unchanged_reload_ms  `openclawd reload` of an unchanged file (nothing restarts)
  rollback_ms          `openclawd reload` to a file that is not GGUF: rolled back, ready again

Usage: bench/reload_times.py [--runs N] [--build DIR]   (run `make build` first)
Binds 127.0.0.1 only. Prints medians and writes bench/results/reload_times.json.
"""
import argparse, datetime, http.client, json, os, pathlib, platform, socket, statistics, subprocess, tempfile, threading, time

root = pathlib.Path(__file__).resolve().parent.parent


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def healthy(port):
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        c.request("GET", "/health")
        ok = c.getresponse().status == 200
        c.close()
        return ok
    except OSError:
        return False


class watch(threading.Thread):
    """Probes a port every ~5 ms: counts probes and failures, and the longest run of failures."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port, self.done = port, False
        self.probes = self.failures = 0
        self.gap_ms, self._down_since = 0.0, None

    def run(self):
        while not self.done:
            ok = healthy(self.port)
            now = time.monotonic()
            self.probes += 1
            if ok:
                if self._down_since is not None:
                    self.gap_ms = max(self.gap_ms, (now - self._down_since) * 1000)
                self._down_since = None
            else:
                self.failures += 1
                if self._down_since is None:
                    self._down_since = now
            time.sleep(0.005)

    def stop(self):
        self.done = True
        self.join()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--build", default=str(root / "build"))
    a = ap.parse_args()
    bin_ = pathlib.Path(a.build) / "app" / "openclawd"
    mkmodel = pathlib.Path(a.build) / "app" / "openclawd-make-model"
    server = root / ".deps" / "bin" / "llama-server"
    results = {k: [] for k in ("reload_ms", "daemon_reload_ms", "subagent_gap_ms", "orchestrator_probes",
                               "orchestrator_failed", "unchanged_reload_ms", "rollback_ms")}
    with tempfile.TemporaryDirectory(prefix="openclawd-bench-") as tmp:
        tmp = pathlib.Path(tmp)
        for name, seed in (("o", 1), ("s", 2), ("s2", 3)):
            subprocess.run([mkmodel, "--seed", str(seed), tmp / f"{name}.gguf"], check=True, capture_output=True)
        (tmp / "broken.gguf").write_text("not a GGUF file\n")
        for run in range(a.runs):
            state, cfg = tmp / f"state{run}", tmp / f"cfg{run}.yaml"
            ports = free_port(), free_port()

            def write(sub_model):
                cfg.write_text(f"""llama_server: {server}
state_dir: {state}
nodes:
  orchestrator: {{model: {tmp/'o.gguf'}, ctx: 4096, gpu_layers: 0, port: {ports[0]}, parallel: 1}}
  subagent: {{model: {tmp/sub_model}, ctx: 2048, gpu_layers: 99, port: {ports[1]}, parallel: 1}}
search: {{enabled: false}}
""")

            c = ["--config", str(cfg)]
            write("s.gguf")
            subprocess.run([bin_, "start", *c], check=True, capture_output=True)
            try:
                write("s2.gguf")
                orch, sub = watch(ports[0]), watch(ports[1])
                orch.start(), sub.start()
                t0 = time.monotonic()
                r = subprocess.run([bin_, "reload", *c], capture_output=True, text=True)
                results["reload_ms"].append((time.monotonic() - t0) * 1000)
                orch.stop(), sub.stop()
                if r.returncode != 0:
                    raise SystemExit("reload failed: " + r.stdout + r.stderr)
                st = json.loads((state / "state.json").read_text())
                rec = st["last_reload"]
                finished = datetime.datetime.strptime(rec["finished_at"], "%Y-%m-%dT%H:%M:%S.%fZ")
                finished = finished.replace(tzinfo=datetime.timezone.utc).timestamp()
                results["daemon_reload_ms"].append(finished * 1000 - rec["requested_at_unix_ms"])
                results["subagent_gap_ms"].append(sub.gap_ms)
                results["orchestrator_probes"].append(orch.probes)
                results["orchestrator_failed"].append(orch.failures)

                t0 = time.monotonic()
                subprocess.run([bin_, "reload", *c], check=True, capture_output=True)
                results["unchanged_reload_ms"].append((time.monotonic() - t0) * 1000)

                write("broken.gguf")
                t0 = time.monotonic()
                r = subprocess.run([bin_, "reload", *c], capture_output=True, text=True)
                results["rollback_ms"].append((time.monotonic() - t0) * 1000)
                if r.returncode != 1:
                    raise SystemExit("expected a rollback: " + r.stdout + r.stderr)
            finally:
                subprocess.run([bin_, "stop", *c], capture_output=True)

    summary = {k: {"median": round(statistics.median(v), 1), "min": round(min(v), 1), "max": round(max(v), 1)}
               for k, v in results.items()}
    machine = {"machine": platform.machine(), "cpus": os.cpu_count(), "system": platform.platform(),
               "llama_server": subprocess.run([server, "--version"], capture_output=True, text=True).stderr.splitlines()[0],
               "runs": a.runs}
    print(f"{'metric':24} {'median':>9} {'min':>9} {'max':>9}   ({machine['cpus']} CPUs, {a.runs} runs, tiny models)")
    for k, v in summary.items():
        print(f"{k:24} {v['median']:>9} {v['min']:>9} {v['max']:>9}")
    out = root / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "reload_times.json").write_text(json.dumps({"machine": machine, "results": summary}, indent=2) + "\n")


if __name__ == "__main__":
    main()
