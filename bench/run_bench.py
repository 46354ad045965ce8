#!/usr/bin/env python3
"""`make bench`: every benchmark of issue 7, medians of several runs, one table, one JSON, one plot.

  gateway    bench/gateway_bench.cpp: the real daemon, the fake Bot API, instant `url:` nodes;
             --runs runs each with the state on the normal disk, on tmpfs (/dev/shm), and on disk
             with Telegram over TLS; one with `streaming: auto`; p50/p99 latency and CPU per
             message over 1 chat and over 200 concurrent chats, RSS idle / after 1,000
             messages, start -> first getUpdates
  prompt     bench/prompt_cache_bench.cpp: 30 turns against the real llama-server
  recovery   bench/supervisor_times.py: SIGKILL of a node -> detected -> ready again

Writes bench/results/latest.json (and gateway-*.json, prompt_cache.json, supervisor_times.json
beside it) and bench/results/latest.png when gnuplot is installed (OPENCLAWD_SETUP_BENCH=1
scripts/setup.sh installs it). Binds 127.0.0.1 only.

Usage: bench/run_bench.py [--build DIR] [--runs N] [--messages N] [--chats N] [--rounds N] [--quick]
"""
import argparse, datetime, json, os, pathlib, platform, shutil, statistics, subprocess, sys

root = pathlib.Path(__file__).resolve().parent.parent
results = root / "bench" / "results"
server = root / ".deps" / "bin" / "llama-server"

# The families of the prompt-cache figures: (label, model under <build>/tests/models). Mistral
# Nemo's packaged template cannot be parsed by this llama-server; its figures come from
# tests/integration/families_test.cpp, which makes a working one at test time.
FAMILY_MODELS = [
    ("Gemma 3", "gemma3/hello.gguf"),
    ("Gemma 3, gemma3 architecture, sliding window 32", "gemma3/hello-gemma3.gguf"),
    ("Qwen3", "qwen3/hello.gguf"),
    ("Llama 3.1", "llama3_1/hello.gguf"),
]


OPENCLAW = {"overhead_p50_ms": 1405, "cpu_ms_per_message": 690, "idle_rss_mib": 936, "first_poll_ms": 23000}


def load_avg():
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def machine():
    cpu = ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        cpu = subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True, text=True).stdout.strip()
    ram = 0.0
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal:"):
                ram = int(line.split()[1]) / 1024 / 1024
    except OSError:
        ram = int(subprocess.run(["sysctl", "-n", "hw.memsize"], capture_output=True, text=True).stdout or 0) / 2**30
    os_name = platform.platform()
    try:
        for line in open("/etc/os-release"):
            if line.startswith("PRETTY_NAME="):
                os_name = line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "ram_gib": round(ram, 1), "os": os_name,
            "kernel": f"{platform.system()} {platform.release()} {platform.machine()}"}


def build_info(build):
    cache = {}
    try:
        for line in open(build / "CMakeCache.txt"):
            if ":" in line and "=" in line and not line.startswith(("//", "#")):
                k, v = line.rstrip("\n").split("=", 1)
                cache[k.split(":", 1)[0]] = v
    except OSError:
        pass
    compiler = cache.get("CMAKE_CXX_COMPILER", "c++")
    version = subprocess.run([compiler, "--version"], capture_output=True, text=True).stdout.splitlines()
    commit = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    return {"build_type": cache.get("CMAKE_BUILD_TYPE", "unknown"),
            "compiler": version[0] if version else compiler,
            "sanitizers": cache.get("OPENCLAWD_SANITIZE", ""),
            "commit": (commit.stdout.strip() or "unknown") + ("+local changes" if dirty else "")}


def med(values):
    values = [v for v in values if v is not None]
    return round(statistics.median(values), 3) if values else None


def gateway(build, a, storage, streaming, runs, label, first_poll_runs=0, tls=False):
    out = []
    for i in range(runs):
        path = results / f"gateway-{label}-{i + 1}.json"
        cmd = [str(build / "bench" / "openclawd-bench-gateway"), "--openclawd", str(build / "app" / "openclawd"),
               "--llama-server", str(server), "--state-base", storage, "--streaming", streaming,
               "--messages", str(a.messages), "--warmup", str(a.warmup), "--chats", str(a.chats),
               "--rounds", str(a.rounds), "--json", str(path)]
        if tls:
            cmd += ["--telegram-tls", "on"]
        if i == 0 and first_poll_runs:
            cmd += ["--first-poll-runs", str(first_poll_runs)]
        print(f"-- gateway, {label}, run {i + 1}/{runs}", flush=True)
        subprocess.run(cmd, check=True)
        out.append(json.loads(path.read_text()))
    return out


def summarize(runs):
    def pick(*keys):
        vals = []
        for r in runs:
            v = r
            for k in keys:
                v = v.get(k) if isinstance(v, dict) else None
            vals.append(v)
        return med(vals)

    s = {"runs": len(runs), "storage": runs[0]["storage"], "streaming": runs[0]["streaming"]}
    for phase in ("one_chat", "many_chats"):
        s[phase] = {k: pick(phase, k) for k in ("p50_ms", "p90_ms", "p99_ms", "max_ms", "cpu_ms_per_message")}
        s[phase]["messages"] = runs[0][phase]["messages"]
    s["idle_rss_mib"] = pick("idle", "rss_mib")
    s["after_warmup_rss_mib"] = pick("after_warmup", "rss_mib")
    s["after_one_chat_rss_mib"] = pick("after_one_chat", "rss_mib")
    s["after_many_chats_rss_mib"] = pick("after_many_chats", "rss_mib")
    s["end_idle_rss_mib"] = pick("end_idle", "rss_mib")
    s["peak_rss_mib"] = pick("end_idle", "hwm_mib")
    s["fds_idle"] = pick("idle", "fds")
    s["fds_end_idle"] = pick("end_idle", "fds")
    s["first_poll_fresh_ms"] = pick("first_poll_fresh_ms")
    s["first_getme_fresh_ms"] = pick("first_getme_ms")
    s["daemon_log_warnings"] = max(r.get("daemon_log_warnings", 0) for r in runs)
    s["load_avg_1m"] = [r.get("load_avg_1m_start") for r in runs]
    return s


def representative(runs):
    """The run whose one-chat p50 is the median: its series go into the plot."""
    ordered = sorted(runs, key=lambda r: r["one_chat"]["p50_ms"])
    return ordered[len(ordered) // 2]


def percentile(values, q):
    v = sorted(values)
    if not v:
        return 0
    pos = q * (len(v) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (pos - lo)


def write_plot_data(label, run, datadir):
    lat = run["one_chat"]["latencies_ms"]
    window = 50
    with open(datadir / f"window-{label}.dat", "w") as f:
        f.write("# messages p50_ms p99_ms (windows of 50 messages, one chat)\n")
        for i in range(0, len(lat) - window + 1, window):
            w = lat[i:i + window]
            f.write(f"{i + window} {percentile(w, 0.5):.4f} {percentile(w, 0.99):.4f}\n")
    many = run["many_chats"]["latencies_ms"]
    with open(datadir / f"cdf-{label}.dat", "w") as f:
        f.write("# percentile one_chat_ms many_chats_ms\n")
        for q in [x / 100 for x in range(1, 100)] + [0.995, 0.999]:
            f.write(f"{q * 100:.1f} {percentile(lat, q):.4f} {percentile(many, q):.4f}\n")
    with open(datadir / f"memory-{label}.dat", "w") as f:
        f.write("# messages rss_mib fds\n")
        for p in run["memory_series"]:
            f.write(f"{p['messages']} {p['rss_mib']:.3f} {p['fds']}\n")


def plot(datadir, labels, png):
    gp = shutil.which("gnuplot")
    if not gp:
        print("plot: skipped, gnuplot is not installed (OPENCLAWD_SETUP_BENCH=1 scripts/setup.sh, or apt-get install "
              "gnuplot-nox / brew install gnuplot); the numbers above are complete without it")
        return False
    r = subprocess.run([gp, "-e", f"datadir='{datadir}'; out='{png}'; labels='{' '.join(labels)}'",
                        str(root / "bench" / "plot.gnuplot")], capture_output=True, text=True)
    if r.returncode != 0:
        print("plot: gnuplot failed:\n" + r.stderr)
        return False
    print(f"plot: {png}")
    return True


def fmt(v, unit="", digits=2):
    if v is None:
        return "-"
    return f"{v:,.{digits}f}{unit}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=str(root / "build"))
    ap.add_argument("--runs", type=int, default=3, help="gateway runs per storage (medians are reported)")
    ap.add_argument("--messages", type=int, default=1000)
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--chats", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--supervisor-runs", type=int, default=5)
    ap.add_argument("--first-poll-runs", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="a short smoke run (1 run, 200 messages, 2 rounds)")
    ap.add_argument("--disk", default=os.environ.get("BENCH_DISK_DIR", "/var/tmp"),
                    help="a folder on the normal disk for the state (default /var/tmp)")
    ap.add_argument("--tmpfs", default=os.environ.get("BENCH_TMPFS_DIR", "/dev/shm"),
                    help="a folder on tmpfs for the state (default /dev/shm; skipped if absent)")
    a = ap.parse_args()
    if a.quick:
        a.runs, a.messages, a.rounds, a.supervisor_runs, a.first_poll_runs = 1, 200, 2, 2, 2
    build = pathlib.Path(a.build).resolve()
    results.mkdir(parents=True, exist_ok=True)
    info = {"machine": machine(), "build": build_info(build), "load_avg_1m_start": load_avg(),
            "started_at": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
    m, b = info["machine"], info["build"]
    print(f"machine: {m['cpu']}, {m['cores']} cores, {m['ram_gib']} GiB RAM, {m['os']} ({m['kernel']})")
    print(f"build:   {b['build_type']}, {b['compiler']}, commit {b['commit']}; load average {info['load_avg_1m_start']}")

    disk_runs = gateway(build, a, a.disk, "off", a.runs, "disk", first_poll_runs=a.first_poll_runs)
    tmpfs_runs = gateway(build, a, a.tmpfs, "off", a.runs, "tmpfs") if os.path.isdir(a.tmpfs) else []
    tls_runs = gateway(build, a, a.disk, "off", a.runs, "disk-tls", tls=True)
    auto_runs = gateway(build, a, a.disk, "auto", 1, "disk-streaming-auto")

    print("-- prompt cache (30 turns, real llama-server)", flush=True)
    subprocess.run([str(build / "bench" / "openclawd-bench-prompt-cache"), "--llama-server", str(server),
                    "--json", str(results / "prompt_cache.json")], check=True)
    cache = json.loads((results / "prompt_cache.json").read_text())
    # The same per model family (issue 15): tiny models with the family's real tokenizer and
    # chat template, built with the tests (<build>/tests/models); a family whose models are
    # missing is skipped with a note.
    families = {}
    for label, model in FAMILY_MODELS:
        path = build / "tests" / "models" / model
        if not path.is_file():
            print(f"   {label}: {path} missing (build the tests), skipped")
            continue
        args = [str(build / "bench" / "openclawd-bench-prompt-cache"), "--llama-server", str(server),
                "--model", str(path), "--label", label, "--json", str(results / f"prompt_cache-{model.replace('/', '-')}.json")]
        subprocess.run(args, check=True)
        families[label] = json.loads((results / f"prompt_cache-{model.replace('/', '-')}.json").read_text())

    print("-- the orchestrator's critical path (issue 16, real-vocabulary models)", flush=True)
    critical = None
    if (build / "tests" / "models" / "gemma3" / "hello.gguf").is_file():
        subprocess.run([str(build / "bench" / "openclawd-bench-critical-path"), "--llama-server", str(server),
                        "--models", str(build / "tests" / "models"), "--json", str(results / "critical_path.json")],
                       check=True)
        critical = json.loads((results / "critical_path.json").read_text())
    else:
        print("   the test models are missing (build the tests): skipped")

    print("-- supervisor times (real llama-server)", flush=True)
    subprocess.run([sys.executable, str(root / "bench" / "supervisor_times.py"), "--build", str(build),
                    "--runs", str(a.supervisor_runs)], check=True)
    sup = json.loads((results / "supervisor_times.json").read_text())["results"]

    disk = summarize(disk_runs)
    tmpfs = summarize(tmpfs_runs) if tmpfs_runs else None
    auto = summarize(auto_runs)
    tls = summarize(tls_runs)
    first_poll = disk_runs[0].get("first_poll", {})
    url_poll = first_poll.get("url_nodes_loading", {})
    spawned = first_poll.get("spawned_llama_server", {})
    info["load_avg_1m_end"] = load_avg()
    latest = {
        # The keys of issue 7 (1 chat, state on the normal disk, streaming off).
        "overhead_p50_ms": disk["one_chat"]["p50_ms"],
        "overhead_p99_ms": disk["one_chat"]["p99_ms"],
        "cpu_ms_per_message": disk["one_chat"]["cpu_ms_per_message"],
        "idle_rss_mib": disk["idle_rss_mib"],
        "rss_after_1000_mib": disk["after_one_chat_rss_mib"],
        "first_poll_ms": url_poll.get("restart_ms"),
        "cache_eval_ratio": round(cache["cache_eval_ratio"], 3),
        "crash_detect_ms": sup["crash_detect_ms"]["median"],
        # More of the same.
        "overhead_p50_ms_200_chats": disk["many_chats"]["p50_ms"],
        "overhead_p99_ms_200_chats": disk["many_chats"]["p99_ms"],
        "cpu_ms_per_message_200_chats": disk["many_chats"]["cpu_ms_per_message"],
        "overhead_p50_ms_tmpfs": tmpfs["one_chat"]["p50_ms"] if tmpfs else None,
        "overhead_p99_ms_tmpfs": tmpfs["one_chat"]["p99_ms"] if tmpfs else None,
        "cpu_ms_per_message_tmpfs": tmpfs["one_chat"]["cpu_ms_per_message"] if tmpfs else None,
        "overhead_p50_ms_tls": tls["one_chat"]["p50_ms"],
        "overhead_p99_ms_tls": tls["one_chat"]["p99_ms"],
        "cpu_ms_per_message_tls": tls["one_chat"]["cpu_ms_per_message"],
        "rss_end_idle_mib": disk["end_idle_rss_mib"],
        "peak_rss_mib": disk["peak_rss_mib"],
        "first_poll_fresh_state_ms": url_poll.get("fresh_state_ms"),
        "first_poll_spawned_ms": spawned.get("restart_ms"),
        "crash_to_ready_ms": sup["crash_to_ready_ms"]["median"],
        "first_turn_prompt_tokens": cache["turns"][0]["prompt"] if cache.get("turns") else None,
        "gateway": {"disk": disk, "tmpfs": tmpfs, "disk_telegram_tls": tls, "disk_streaming_auto": auto,
                    "first_poll": first_poll},
        "prompt_cache": {k: v for k, v in cache.items() if k != "turns"},
        "prompt_cache_by_family": {k: {kk: vv for kk, vv in v.items() if kk != "turns"} | {"first_turn": v["turns"][0]["prompt"]}
                                   for k, v in families.items()},
        "supervisor": sup,
        "critical_path": critical,
        "openclaw_for_scale": OPENCLAW,
        **info,
    }
    (results / "latest.json").write_text(json.dumps(latest, indent=2) + "\n")

    rows = [
        ("gateway overhead p50, 1 chat, disk", fmt(disk["one_chat"]["p50_ms"], " ms"), "< 2 ms", "1,405 ms"),
        ("gateway overhead p99, 1 chat, disk", fmt(disk["one_chat"]["p99_ms"], " ms"), "", ""),
        ("CPU per message, 1 chat, disk", fmt(disk["one_chat"]["cpu_ms_per_message"], " ms"), "< 2 ms", "690 ms"),
        ("p50 / p99, 200 chats, disk", f"{fmt(disk['many_chats']['p50_ms'])} / {fmt(disk['many_chats']['p99_ms'], ' ms')}", "", ""),
        ("CPU per message, 200 chats, disk", fmt(disk["many_chats"]["cpu_ms_per_message"], " ms"), "< 2 ms", ""),
    ]
    if tmpfs:
        rows += [
            ("gateway overhead p50, 1 chat, tmpfs", fmt(tmpfs["one_chat"]["p50_ms"], " ms"), "< 2 ms", ""),
            ("gateway overhead p99, 1 chat, tmpfs", fmt(tmpfs["one_chat"]["p99_ms"], " ms"), "", ""),
            ("CPU per message, 1 chat, tmpfs", fmt(tmpfs["one_chat"]["cpu_ms_per_message"], " ms"), "< 2 ms", ""),
            ("p50 / p99, 200 chats, tmpfs", f"{fmt(tmpfs['many_chats']['p50_ms'])} / {fmt(tmpfs['many_chats']['p99_ms'], ' ms')}", "", ""),
            ("CPU per message, 200 chats, tmpfs", fmt(tmpfs["many_chats"]["cpu_ms_per_message"], " ms"), "", ""),
        ]
    rows += [
        ("gateway overhead p50, 1 chat, disk, TLS", fmt(tls["one_chat"]["p50_ms"], " ms"), "", ""),
        ("gateway overhead p99, 1 chat, disk, TLS", fmt(tls["one_chat"]["p99_ms"], " ms"), "", ""),
        ("CPU per message, 1 chat, disk, TLS", fmt(tls["one_chat"]["cpu_ms_per_message"], " ms"), "", ""),
        ("CPU per message, 200 chats, disk, TLS", fmt(tls["many_chats"]["cpu_ms_per_message"], " ms"), "", ""),
        ("p50 / p99, 1 chat, disk, streaming: auto", f"{fmt(auto['one_chat']['p50_ms'])} / {fmt(auto['one_chat']['p99_ms'], ' ms')}", "", ""),
        ("daemon RSS idle", fmt(disk["idle_rss_mib"], " MiB", 1), "< 16 MiB", "936 MiB"),
        ("daemon RSS after 1,000 messages", fmt(disk["after_one_chat_rss_mib"], " MiB", 1), "no growth", "1,447 MiB (20 msgs)"),
        ("daemon RSS idle after 200-chat rounds (peak)",
         f"{fmt(disk['end_idle_rss_mib'], ' MiB', 1)} ({fmt(disk['peak_rss_mib'], ' MiB', 1)})", "", ""),
        ("start -> first getUpdates, nodes loading", fmt(url_poll.get("restart_ms"), " ms", 1), "< 100 ms", "~23 s"),
        ("  the same, first start (database created)", fmt(url_poll.get("fresh_state_ms"), " ms", 1), "", ""),
        ("  the same, spawning 2 llama-server", fmt(spawned.get("restart_ms"), " ms", 1), "< 100 ms", ""),
        ("prompt cache: evaluated / new tokens", fmt(cache["cache_eval_ratio"], "", 3), "~1.0", ""),
        ("  first turn prompt", fmt(latest["first_turn_prompt_tokens"], " tokens", 0), "few hundred", "~11,000"),
    ]
    for label, fam in families.items():
        rows.append((f"  {label}: evaluated / new", fmt(fam["cache_eval_ratio"], "", 3), "~1.0", ""))
    rows += [
        ("node SIGKILL -> detected", fmt(sup["crash_detect_ms"]["median"], " ms", 1), "< 100 ms", ""),
    ]
    if critical:
        for fam in critical["families"]:
            for c in fam["cases"]:
                rows.append((f"  {c['case'][:38]}: ratio", fmt(c["after"]["ratio"]), "<= 1.2",
                             f"before {c['before']['prompt_n']} tokens"))
    rows += [
        ("node SIGKILL -> ready again", fmt(sup["crash_to_ready_ms"]["median"], " ms", 1), "", ""),
    ]
    print()
    print(f"{'metric':44} {'median':>22} {'target':>10} {'OpenClaw':>20}")
    for name, value, target, openclaw in rows:
        print(f"{name:44} {value:>22} {target:>10} {openclaw:>20}")
    print(f"\n{m['cpu']}, {m['cores']} cores, {m['ram_gib']} GiB, {m['os']}; {b['build_type']} build; "
          f"{a.runs} runs per storage; load average {info['load_avg_1m_start']} -> {info['load_avg_1m_end']}")
    print(f"written: {results / 'latest.json'}")

    datadir = results / "plot-data"
    datadir.mkdir(exist_ok=True)
    labels = ["disk"]
    write_plot_data("disk", representative(disk_runs), datadir)
    if tmpfs_runs:
        write_plot_data("tmpfs", representative(tmpfs_runs), datadir)
        labels.append("tmpfs")
    plot(datadir, labels, results / "latest.png")
    if critical and critical.get("families"):
        # The first family's cases: estimated seconds to the first answer token, before and after.
        lines = []
        for c in critical["families"][0]["cases"]:
            lines.append(f'"{c["case"]}" {c["before"]["estimated_first_token_s"]:.2f} {c["after"]["estimated_first_token_s"]:.2f}')
        (datadir / "critical_path.dat").write_text("\n".join(lines) + "\n")
        gp = shutil.which("gnuplot")
        if gp:
            r = subprocess.run([gp, "-e", f"data='{datadir / 'critical_path.dat'}'; out='{results / 'critical_path.png'}'",
                                str(root / "bench" / "critical_path.gnuplot")], capture_output=True, text=True)
            print(f"plot: {results / 'critical_path.png'}" if r.returncode == 0 else "plot: gnuplot failed:\n" + r.stderr)


if __name__ == "__main__":
    main()
