#!/usr/bin/env python3
"""Report for tools/bench/flash-sale.

  flash_sale_report.py baselines HELLO.wrk PGBENCH_SELECT.txt PGBENCH_TPCB.txt   -> JSON on stdout
  flash_sale_report.py report --result R.json --baselines JSON --name N --out-dir D [...]

Writes D/N.json (everything), D/N.md (summary) and D/N-latency.svg,
D/N-queue.svg (plain SVG polylines, written here without libraries).
"""
import argparse
import json
import os
import platform
import re
import subprocess
import sys
from datetime import datetime, timezone


def wrk_ms(text):
    m = re.match(r"([\d.]+)(us|ms|s)", text)
    if not m:
        return None
    v = float(m.group(1))
    return {"us": v / 1000, "ms": v, "s": v * 1000}[m.group(2)]


def parse_wrk(path):
    text = open(path).read()
    out = {}
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    out["requests_per_second"] = float(m.group(1)) if m else None
    for p in ("50", "90", "99"):
        m = re.search(r"^\s+%s%%\s+(\S+)" % p, text, re.M)
        out["p%s_ms" % p] = wrk_ms(m.group(1)) if m else None
    return out


def parse_pgbench(path):
    text = open(path).read()
    m = re.search(r"^tps = ([\d.]+)", text, re.M)
    lat = re.search(r"^latency average = ([\d.]+) ms", text, re.M)
    return {"tps": float(m.group(1)) if m else None, "latency_avg_ms": float(lat.group(1)) if lat else None,
            "clients": 16, "threads": 2, "seconds": 10, "scale": 10}


def machine():
    cpu = ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = 0
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                mem = int(line.split()[1]) // 1024
    except OSError:
        pass
    load = open("/proc/loadavg").read().split()[:3] if os.path.exists("/proc/loadavg") else []
    pg = ""
    try:
        pg = subprocess.run(["psql", "--version"], capture_output=True, text=True).stdout.strip()
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "cpu_model": cpu, "mem_mib": mem, "kernel": platform.release(),
            "loadavg_at_end": load, "postgres": pg,
            "note": "2 cores shared with other engineers' builds; generator, ticketd, Postgres and embedded Kafka on the same box"}


# ------------------------------------------------------------------ SVG
def svg_chart(title, series, xlabel, ylabel, width=900, height=320, log=False):
    """series: [(name, colour, [(x, y), ...])] -> SVG text (polylines)."""
    pad_l, pad_r, pad_t, pad_b = 70, 160, 30, 40
    pts = [p for _, _, s in series for p in s if p[1] is not None]
    if not pts:
        return '<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="40"><text x="10" y="25">%s: no data</text></svg>' % (width, title)
    xmax = max(p[0] for p in pts) or 1
    ymax = max(p[1] for p in pts) or 1
    ymax *= 1.05
    w, h = width - pad_l - pad_r, height - pad_t - pad_b

    def sx(x):
        return pad_l + w * x / xmax

    def sy(y):
        return pad_t + h - h * min(y, ymax) / ymax

    out = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">' % (width, height),
           '<rect width="100%" height="100%" fill="white"/>',
           '<text x="%d" y="18" font-size="14" font-weight="bold">%s</text>' % (pad_l, title),
           '<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>' % (pad_l, pad_t + h, pad_l + w, pad_t + h),
           '<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>' % (pad_l, pad_t, pad_l, pad_t + h)]
    for i in range(5):
        y = ymax * i / 4
        out.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>' % (pad_l, sy(y), pad_l + w, sy(y)))
        out.append('<text x="%d" y="%.1f" text-anchor="end">%s</text>' % (pad_l - 5, sy(y) + 4, fmt_num(y)))
    for i in range(6):
        x = xmax * i / 5
        out.append('<text x="%.1f" y="%d" text-anchor="middle">%s</text>' % (sx(x), pad_t + h + 15, fmt_num(x)))
    out.append('<text x="%d" y="%d" text-anchor="middle">%s</text>' % (pad_l + w / 2, height - 5, xlabel))
    out.append('<text x="15" y="%d" transform="rotate(-90 15 %d)" text-anchor="middle">%s</text>' % (pad_t + h / 2, pad_t + h / 2, ylabel))
    for k, (name, colour, s) in enumerate(series):
        p = " ".join("%.1f,%.1f" % (sx(x), sy(y)) for x, y in s if y is not None)
        if p:
            out.append('<polyline fill="none" stroke="%s" stroke-width="1.5" points="%s"/>' % (colour, p))
        out.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="3"/>' % (pad_l + w + 10, pad_t + 10 + 18 * k, pad_l + w + 30, pad_t + 10 + 18 * k, colour))
        out.append('<text x="%d" y="%d">%s</text>' % (pad_l + w + 35, pad_t + 14 + 18 * k, name))
    out.append("</svg>")
    return "\n".join(out) + "\n"


def fmt_num(v):
    if v >= 10000:
        return "%.0fk" % (v / 1000)
    if v >= 100:
        return "%.0f" % v
    if v >= 10:
        return "%.1f" % v
    return "%.2f" % v


# ------------------------------------------------------------------ report
def ratio(a, b):
    return round(a / b, 3) if a and b else None


def fmt(v):
    return "—" if v is None else "%.1f" % v


def report(args):
    res = json.load(open(args.result))
    base = json.loads(args.baselines) if args.baselines and args.baselines != "null" else None
    eps = res["endpoints"]
    customer_eps = {k: v for k, v in eps.items() if "(monitor)" not in k and "(admin)" not in k}
    total_customer = sum(v["count"] for v in customer_eps.values())
    rps = total_customer / res["wall_seconds"] if res["wall_seconds"] else 0
    status = eps.get("GET /queue/{id}/status", {})
    ratios = {}
    if base:
        hello = base["hello_world_wrk"]["requests_per_second"]
        ratios = {
            "customer_requests_per_second_vs_hello_world": ratio(rps, hello),
            "queue_status_per_second_vs_hello_world": ratio(status.get("per_second"), hello),
            "holds_per_second_vs_pgbench_tpcb": ratio(eps.get("POST /reservations/hold", {}).get("per_second"), base["pgbench_tpcb_like"]["tps"]),
            "confirms_per_second_vs_pgbench_tpcb": ratio(eps.get("POST /payments/{id}/confirm", {}).get("per_second"), base["pgbench_tpcb_like"]["tps"]),
            "customer_requests_per_second_vs_pgbench_select_only": ratio(rps, base["pgbench_select_only"]["tps"]),
            "note": "the sale is a closed loop (the generator's worker connections) sharing the 2 cores with ticketd, Postgres and the "
                    "embedded Kafka, and its mix is set by the customers (polls at nextPollSeconds, admission rate, sell-out): "
                    "these ratios say what the whole flow got of the box, not per-endpoint ceilings",
        }
    chaos = open(args.chaos_log).read().strip().splitlines() if args.chaos_log and os.path.exists(args.chaos_log) else []
    cluster = json.loads(args.cluster) if args.cluster and args.cluster != "null" else None
    full = {
        "name": args.name,
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "commit": args.commit,
        "machine": machine(),
        "server_settings": {
            "build": "release preset (-O2)", "edge.rate_limit_enabled": False,
            "queue.admission_interval_ms": 100, "reservation.hold_seconds": 60, "kafka.brokers": "embedded",
            "payment.gateway": "sandbox (over loopback HTTP, webhooks off: confirm verifies)",
        },
        "seed_users_seconds": float(args.seed_seconds or 0),
        "cpu_busy_share_during_sale": float(args.cpu_busy or 0),
        "ticketd_peak_rss_kib": int(args.ticketd_peak_rss_kib or 0),
        "generator_exit_code": int(args.exit_code),
        "customer_requests_per_second": rps,
        "baselines": base,
        "ratios": ratios,
        "chaos_actions": chaos,
        "cluster": cluster,
        **res,
    }
    os.makedirs(args.out_dir, exist_ok=True)
    with open(os.path.join(args.out_dir, args.name + ".json"), "w") as f:
        json.dump(full, f, indent=1)
        f.write("\n")

    tl = res.get("timeline", [])
    # The monitor samples about once a second; carry a sample over seconds it missed.
    last = {}
    for p in tl:
        for k in ("waiting_server", "active_server", "available_seats"):
            if p[k] >= 0:
                last[k] = p[k]
            elif k in last:
                p[k] = last[k]
    lat_svg = svg_chart("%s: latency over time (all customer and monitor requests)" % args.name,
                        [("P50", "#1f77b4", [(p["t"], p["p50_ms"]) for p in tl]),
                         ("P99", "#d62728", [(p["t"], p["p99_ms"]) for p in tl]),
                         ("requests/s ÷ 10", "#999999", [(p["t"], p["requests"] / 10) for p in tl])],
                        "seconds since start", "ms")
    q_svg = svg_chart("%s: waiting room and seats over time (hot event)" % args.name,
                      [("waiting (server)", "#1f77b4", [(p["t"], p["waiting_server"] if p["waiting_server"] >= 0 else None) for p in tl]),
                       ("admitted, active (server)", "#2ca02c", [(p["t"], p["active_server"] if p["active_server"] >= 0 else None) for p in tl]),
                       ("seats available", "#ff7f0e", [(p["t"], p["available_seats"] if p["available_seats"] >= 0 else None) for p in tl])],
                      "seconds since start", "count")
    with open(os.path.join(args.out_dir, args.name + "-latency.svg"), "w") as f:
        f.write(lat_svg)
    with open(os.path.join(args.out_dir, args.name + "-queue.svg"), "w") as f:
        f.write(q_svg)

    md = []
    p = res["params"]
    inv = res.get("invariants", {})
    md.append("# Flash-sale benchmark: %s\n" % args.name)
    md.append("Generated by `tools/bench/flash-sale --scenario %s` on %s (commit %s). Raw data: `%s.json`.\n"
              % (res["scenario"], full["date"], args.commit, args.name))
    failed = [k for k, v in inv.items() if isinstance(v, dict) and not v.get("ok")]
    md.append("**Invariants: %s** (generator exit %s; %s customers ended in an error)\n" % (
        "all hold" if res.get("invariants_ok") else "VIOLATED: " + ", ".join(failed), args.exit_code, res["outcomes"].get("error", 0)))
    m = full["machine"]
    md.append("## Machine and settings\n")
    md.append("- %s × %s, %s MiB RAM, kernel %s, %s; load average at the end %s. %s." % (
        m["nproc"], m["cpu_model"], m["mem_mib"], m["kernel"], m["postgres"], " ".join(m["loadavg_at_end"]), m["note"]))
    md.append("- ticketd release build, embedded Kafka, sandbox gateway, **edge rate limits disabled** "
              "(`TICKETD_EDGE_RATE_LIMIT_ENABLED=false`: every customer comes from 127.0.0.1), admission tick 100 ms, hold 60 s.")
    md.append("- CPU busy during the sale: %.0f%% of both cores; ticketd peak RSS %.0f MiB." % (
        full["cpu_busy_share_during_sale"] * 100, full["ticketd_peak_rss_kib"] / 1024))
    md.append("- %d customers (%d bench users seeded in %.1f s by `ticketd seed-users`), %d events open, the hot one gets %.0f%% of "
              "customers; %d seats per event, %d seats per customer, contention `%s`, arrival `%s` over %.0f s; "
              "admission %d/s, maxActive %d; declined %.0f%%, abandoned %.0f%%, cancel after booking %.0f%%; "
              "%.0f%% log in with the password (argon2id), the rest use sessions issued at seeding; %d worker connections.\n" % (
                  p["customers"], p["customers"], full["seed_users_seconds"], p["events_open"], p["hot_share"] * 100, p["hall_seats"],
                  p["seats_per_customer"], p["contention"], p["arrival"], p["arrival_seconds"], p["admission_rate_per_second"],
                  p["max_active"], p["fail_share"] * 100, p["abandon_share"] * 100, p["cancel_share"] * 100, p["login_share"] * 100,
                  p["workers"]))
    md.append("## Result\n")
    so = res.get("sold_out_seconds", [None])[0]
    md.append("- Sale wall time %.1f s; hot event sold out after **%s**; customer requests %.0f/s overall." % (
        res["wall_seconds"], ("%.1f s" % so) if so is not None else "— (not sold out)", rps))
    md.append("- Outcomes: " + ", ".join("%s %d" % (k, v) for k, v in res["outcomes"].items()))
    qw = res["queue_wait"]
    md.append("- Queue wait (enter → admitted, as the customer saw it): P50 %.2f s, P95 %.2f s, P99 %.2f s, max %.2f s over %d admissions.\n" % (
        qw["p50_ms"] / 1000, qw["p95_ms"] / 1000, qw["p99_ms"] / 1000, qw["max_ms"] / 1000, qw["count"]))
    md.append("| endpoint | requests | per s | P50 ms | P95 ms | P99 ms | max ms | answers |")
    md.append("|---|---:|---:|---:|---:|---:|---:|---|")
    for k in sorted(eps, key=lambda k: -eps[k]["count"]):
        v = eps[k]
        codes = ", ".join("%s×%d" % (c, n) for c, n in sorted(v["codes"].items(), key=lambda x: -x[1]))
        md.append("| %s | %d | %.1f | %.1f | %.1f | %.1f | %.1f | %s |" % (
            k, v["count"], v["per_second"], v["p50_ms"], v["p95_ms"], v["p99_ms"], v["max_ms"], codes))
    md.append("\nPercentiles are upper bounds of log-linear histogram buckets (≤ 3.2% wide); full histograms in the JSON.\n")
    if base:
        md.append("## Baselines and ratios (same run, same box)\n")
        hw = base["hello_world_wrk"]
        md.append("- Bare Beast hello-world (1 I/O thread), wrk 2×64 10 s: %.0f req/s, P50 %.2f ms, P99 %.2f ms." % (
            hw["requests_per_second"], hw["p50_ms"] or 0, hw["p99_ms"] or 0))
        md.append("- pgbench scale 10, 16 clients, 10 s: select-only %.0f tps, tpcb-like %.0f tps.\n" % (
            base["pgbench_select_only"]["tps"], base["pgbench_tpcb_like"]["tps"]))
        md.append("| ratio | value |")
        md.append("|---|---:|")
        for k, v in ratios.items():
            if k != "note":
                md.append("| %s | %s |" % (k, v))
        md.append("\n%s.\n" % ratios.get("note", ""))
    md.append("## Invariants (read from Postgres after the sale settled: %.1f s)\n" % inv.get("settled_after_seconds", 0))
    for k, v in inv.items():
        if isinstance(v, dict):
            detail = ", ".join("%s=%s" % (a, json.dumps(b)) for a, b in v.items() if a != "ok")
            md.append("- %s **%s** — %s" % ("✅" if v.get("ok") else "❌", k, detail))
    if cluster:
        md.append("\n## Instances\n")
        md.append("- %d ticketd instances on this machine behind HAProxy (%s), one Postgres, one Kafka (instance 1's embedded "
                  "cluster, so instance 2 is the one killed)." % (cluster["instances"], cluster["balancer"]))
        md.append("- Requests per instance (HAProxy's count, all of the run): " + ", ".join(
            "%s %d (%.0f%%)" % (k, v, cluster["share_per_instance"][k] * 100) for k, v in sorted(cluster["requests_per_instance"].items())))
        md.append("- kill -9 of instance 2 mid-sale: HAProxy took it out after **%.2f s**; restarted 10 s later, it was ready "
                  "%.1f s after its start and back in the balancer %.2f s after that." % (
                      cluster["failover_seconds"], cluster["restart_ready_seconds"], cluster["back_in_balancer_seconds"]))
        lag = res.get("seat_map_lag")
        if lag:
            md.append("- Seat-map lag across instances (a hold acknowledged through the balancer, then each instance's seat map "
                      "polled every 5 ms until it showed the seat taken): **P50 %s ms, P99 %s ms**, max %s ms over %d samples "
                      "(%d timeouts of 10 s); per port: %s." % (
                          fmt(lag["p50_ms"]), fmt(lag["p99_ms"]), fmt(lag["max_ms"]), lag["samples"], lag["timeouts"],
                          ", ".join("%s P50 %s / P99 %s ms" % (k, fmt(v["p50_ms"]), fmt(v["p99_ms"])) for k, v in sorted(lag["per_port"].items()))))
    if chaos:
        md.append("\n## Chaos actions\n")
        for line in chaos:
            md.append("- " + line)
        if not cluster:
          md.append("\nKafka: the brokers are librdkafka's mock cluster inside the ticketd process (`kafka.brokers = \"embedded\"`). "
                  "The broker outage is made with a development-only hook: SIGUSR1 to ticketd sets every mock broker down "
                  "(`rd_kafka_mock_broker_set_down`), SIGUSR2 sets them up again; requests keep being served while events wait "
                  "in the outboxes. The `kill -9` additionally loses the embedded cluster and everything in it; the outboxes "
                  "republish from Postgres after the restart.")
    if args.notes and os.path.exists(args.notes):
        md.append("\n## Notes\n")
        md.append(open(args.notes).read().strip())
    md.append("\n## Plots\n")
    md.append("![latency](%s-latency.svg)\n" % args.name)
    md.append("![queue](%s-queue.svg)\n" % args.name)
    with open(os.path.join(args.out_dir, args.name + ".md"), "w") as f:
        f.write("\n".join(md) + "\n")


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "baselines":
        hello, sel, tpcb = sys.argv[2:5]
        print(json.dumps({"hello_world_wrk": parse_wrk(hello), "pgbench_select_only": parse_pgbench(sel),
                          "pgbench_tpcb_like": parse_pgbench(tpcb)}))
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd")
    ap.add_argument("--result", required=True)
    ap.add_argument("--baselines", default="null")
    ap.add_argument("--name", required=True)
    ap.add_argument("--out-dir", default="docs/benchmarks")
    ap.add_argument("--chaos-log")
    ap.add_argument("--seed-seconds", default="0")
    ap.add_argument("--cpu-busy", default="0")
    ap.add_argument("--ticketd-peak-rss-kib", default="0")
    ap.add_argument("--commit", default="unknown")
    ap.add_argument("--exit-code", default="0")
    ap.add_argument("--cluster", default="null", help="JSON from tools/bench/flash-sale --instances: per-instance requests, failover")
    ap.add_argument("--notes", help="hand-written analysis appended to the Markdown (e.g. docs/benchmarks/<name>-notes.md)")
    report(ap.parse_args())


if __name__ == "__main__":
    main()
