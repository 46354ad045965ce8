#!/usr/bin/env python3
"""RPC workers on loopback: what spreading a node's layers over llama.cpp RPC workers costs, and
how fast openclawd recovers a lost worker. Real programs: Debian's ggml-rpc-server and
llama-server (scripts/setup.sh), the tiny Gemma 3 "story" model of the tests.

  tokens/s       llama-server -ngl 99 with 0, 1 and 2 local workers (--rpc): generation and
                 prompt tokens per second from its own timings, median of --runs completions
                 of 128 tokens; and its load time (spawn -> /health 200)
  recovery       openclawd with the orchestrator on two workers: SIGKILL of a worker -> the
                 node ready again on a new process (state.json), median of --runs, 3 s apart
                 (past restart.stable_after 2 s); likewise SIGSTOP of a worker (caught by its
                 liveness: health.interval 1 s x failures 2)

On loopback the network costs only its round trips, so the numbers are an upper bound of what a
LAN gives; a tiny model makes the per-token round trips, not the compute, dominate.

Usage: bench/rpc_workers.py [--runs N] [--build DIR]   (run `make build` first)
Binds 127.0.0.1 only. Prints a table and writes bench/results/rpc_workers.json.
"""
import argparse, json, os, pathlib, platform, signal, socket, statistics, subprocess, tempfile, time, urllib.request

root = pathlib.Path(__file__).resolve().parent.parent
server = root / ".deps" / "bin" / "llama-server"
worker_bin = root / ".deps" / "bin" / "ggml-rpc-server"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def healthy(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


def wait(pred, deadline_s):
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.02)
    return False


def accepting(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


def completion(port, n):
    body = json.dumps({"prompt": "Once upon a time", "n_predict": n, "cache_prompt": False,
                       "temperature": 0, "ignore_eos": True}).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}/completion", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.loads(r.read())["timings"]


def tokens_per_second(model, workers, runs, tmp):
    procs = []
    try:
        ports = [free_port() for _ in range(workers)]
        for p in ports:
            procs.append(subprocess.Popen([worker_bin, "-H", "127.0.0.1", "-p", str(p), "-t", "1"],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        for p in ports:
            assert wait(lambda: accepting(p), 30), "a worker did not listen"
        port = free_port()
        args = [server, "-m", model, "-c", "512", "-ngl", "99", "-t", "1", "--host", "127.0.0.1", "--port", str(port)]
        if ports:
            args += ["--rpc", ",".join(f"127.0.0.1:{p}" for p in ports)]
        t0 = time.monotonic()
        procs.append(subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp))
        assert wait(lambda: healthy(port), 120), "llama-server did not come up"
        load_ms = (time.monotonic() - t0) * 1000
        completion(port, 8)  # warm
        gen, prompt = [], []
        for _ in range(runs):
            t = completion(port, 128)
            gen.append(t["predicted_per_second"])
            prompt.append(t["prompt_per_second"])
        return {"workers": workers, "load_ms": round(load_ms, 1),
                "gen_tokens_per_s": round(statistics.median(gen), 1),
                "prompt_tokens_per_s": round(statistics.median(prompt), 1)}
    finally:
        for p in reversed(procs):  # the server first: it aborts when a worker vanishes under it
            p.kill()
            p.wait()


def read_state(state):
    try:
        return json.loads((state / "state.json").read_text())
    except (OSError, ValueError):
        return None


def recovery(build, model, runs, tmp):
    bin_ = pathlib.Path(build) / "app" / "openclawd"
    out = {"sigkill_ms": [], "sigstop_ms": []}
    state = tmp / "state"
    cfg = tmp / "openclawd.yaml"
    cfg.write_text(f"""llama_server: {server}
state_dir: {state}
workers:
  w1: {{port: {free_port()}, threads: 1}}
  w2: {{port: {free_port()}, threads: 1}}
nodes:
  orchestrator: {{model: {model}, ctx: 512, gpu_layers: 99, port: {free_port()}, rpc: [w1, w2]}}
  subagent: {{model: {model}, ctx: 512, port: {free_port()}}}
health: {{interval: 1s, timeout: 1s, failures: 2}}
restart: {{stable_after: 2s}}
""")
    c = ["--config", str(cfg)]
    subprocess.run([bin_, "start", *c], check=True, capture_output=True)
    try:
        for kind, sig in (("sigkill_ms", signal.SIGKILL), ("sigstop_ms", signal.SIGSTOP)):
            for _ in range(runs):
                st = read_state(state)
                w = next(x for x in st["workers"] if x["name"] == "w1")
                node_pid = st["nodes"]["orchestrator"]["pid"]
                t0 = time.monotonic()
                os.kill(w["pid"], sig)

                def back():
                    s = read_state(state)
                    if not s:
                        return False
                    o = s["nodes"]["orchestrator"]
                    nw = next(x for x in s["workers"] if x["name"] == "w1")
                    return o["state"] == "ready" and o["pid"] not in (None, node_pid) and nw["state"] == "ready" \
                        and nw["pid"] != w["pid"]
                if not wait(back, 120):
                    raise SystemExit(f"no recovery after {kind}: {json.dumps(read_state(state), indent=1)}\n"
                                     + (state / "logs" / "daemon.log").read_text()[-4000:])
                out[kind].append((time.monotonic() - t0) * 1000)
                # Past restart.stable_after: each kill is a first failure, not a crash loop
                # (five quick ones in a row would mark the worker failed, as they should).
                time.sleep(3)
    finally:
        subprocess.run([bin_, "stop", *c], capture_output=True)
    return {k: {"median": round(statistics.median(v), 0), "min": round(min(v), 0), "max": round(max(v), 0),
                "runs": len(v)} for k, v in out.items()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--build", default=str(root / "build"))
    a = ap.parse_args()
    model = str(pathlib.Path(a.build) / "tests" / "models" / "gemma3" / "story.gguf")
    with tempfile.TemporaryDirectory(prefix="openclawd-bench-rpc-") as tmp:
        tmp = pathlib.Path(tmp)
        rows = [tokens_per_second(model, n, a.runs, tmp) for n in (0, 1, 2)]
        rec = recovery(a.build, model, a.runs, tmp)
    print("workers  load (s)  generation tok/s  prompt tok/s")
    for r in rows:
        print(f"{r['workers']:>7}  {r['load_ms'] / 1000:>8.2f}  {r['gen_tokens_per_s']:>16.1f}  {r['prompt_tokens_per_s']:>12.1f}")
    print(f"worker SIGKILL -> node ready again: median {rec['sigkill_ms']['median'] / 1000:.2f} s "
          f"({rec['sigkill_ms']['min'] / 1000:.2f}-{rec['sigkill_ms']['max'] / 1000:.2f})")
    print(f"worker SIGSTOP -> node ready again: median {rec['sigstop_ms']['median'] / 1000:.2f} s "
          f"({rec['sigstop_ms']['min'] / 1000:.2f}-{rec['sigstop_ms']['max'] / 1000:.2f}; health 1 s x 2)")
    results = root / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / "rpc_workers.json").write_text(json.dumps(
        {"machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                     "load": os.getloadavg()[0]},
         "model": "tiny Gemma 3 (tests/models/gemma3/story.gguf)", "tokens_per_second": rows, "recovery": rec},
        indent=2) + "\n")


if __name__ == "__main__":
    main()
