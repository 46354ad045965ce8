#!/usr/bin/env python3
"""Measures the supervisor's times with the real llama-server and tiny models.

  start_to_ready   `openclawd start` wall time: fork, spawn both nodes, both /health 200
  node_ready       spawn -> first /health 200, per node (from status --json ready_ms)
  crash_detect     SIGKILL of the orchestrator -> the daemon logs the exit (daemon.log, ms)
  crash_to_ready   SIGKILL -> state.json shows a new pid in state ready
  stop             `openclawd stop` wall time: both nodes and the daemon gone

Usage: bench/supervisor_times.py [--runs N] [--build DIR]   (run `make build` first)
Binds 127.0.0.1 only. Prints medians and writes bench/results/supervisor_times.json.
"""
import argparse, datetime, json, os, pathlib, platform, signal, socket, statistics, subprocess, tempfile, time

root = pathlib.Path(__file__).resolve().parent.parent


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def read_state(state_dir):
    try:
        return json.loads((state_dir / "state.json").read_text())
    except (OSError, ValueError):
        return None


def log_time(line):
    ts = line.split(" ", 1)[0]
    return datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc).timestamp()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--build", default=str(root / "build"))
    a = ap.parse_args()
    bin_ = pathlib.Path(a.build) / "app" / "openclawd"
    mkmodel = pathlib.Path(a.build) / "app" / "openclawd-make-model"
    server = root / ".deps" / "bin" / "llama-server"
    results = {k: [] for k in ("start_to_ready_ms", "orchestrator_ready_ms", "subagent_ready_ms",
                               "crash_detect_ms", "crash_to_ready_ms", "stop_ms")}
    with tempfile.TemporaryDirectory(prefix="openclawd-bench-") as tmp:
        tmp = pathlib.Path(tmp)
        for name, seed in (("o", 1), ("s", 2)):
            subprocess.run([mkmodel, "--seed", str(seed), tmp / f"{name}.gguf"], check=True, capture_output=True)
        for run in range(a.runs):
            state = tmp / f"state{run}"
            cfg = tmp / f"cfg{run}.yaml"
            cfg.write_text(f"""llama_server: {server}
state_dir: {state}
nodes:
  orchestrator: {{model: {tmp/'o.gguf'}, ctx: 4096, gpu_layers: 0, port: {free_port()}, parallel: 1}}
  subagent: {{model: {tmp/'s.gguf'}, ctx: 2048, gpu_layers: 99, port: {free_port()}, parallel: 1}}
""")
            c = ["--config", str(cfg)]
            t0 = time.monotonic()
            subprocess.run([bin_, "start", *c], check=True, capture_output=True)
            results["start_to_ready_ms"].append((time.monotonic() - t0) * 1000)
            st = json.loads(subprocess.run([bin_, "status", "--json", *c], capture_output=True, text=True).stdout)
            results["orchestrator_ready_ms"].append(st["nodes"]["orchestrator"]["ready_ms"])
            results["subagent_ready_ms"].append(st["nodes"]["subagent"]["ready_ms"])

            old = st["nodes"]["orchestrator"]["pid"]
            t_kill_wall, t_kill = time.time(), time.monotonic()
            os.kill(old, signal.SIGKILL)
            while True:  # poll the daemon's own announcement, 1 ms apart
                s = read_state(state)
                n = s and s["nodes"]["orchestrator"]
                if n and n["state"] == "ready" and n["pid"] not in (None, old):
                    break
                if time.monotonic() - t_kill > 30:
                    raise SystemExit("orchestrator did not come back within 30 s")
                time.sleep(0.001)
            results["crash_to_ready_ms"].append((time.monotonic() - t_kill) * 1000)
            log = (state / "logs" / "daemon.log").read_text().splitlines()
            exit_line = next(l for l in log if f"pid {old} killed by signal 9" in l)
            results["crash_detect_ms"].append(max(0.0, (log_time(exit_line) - t_kill_wall) * 1000))

            t0 = time.monotonic()
            subprocess.run([bin_, "stop", *c], check=True, capture_output=True)
            results["stop_ms"].append((time.monotonic() - t0) * 1000)

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
    (out / "supervisor_times.json").write_text(json.dumps({"machine": machine, "results": summary}, indent=2) + "\n")


if __name__ == "__main__":
    main()
