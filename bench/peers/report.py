"""Turns run.sh's samples into the results page: OUT.md (machine, command, tables of medians and ratios)
and OUT.csv (the medians, which bench/charts draws as OUT-*.png).
Usage: report.py SAMPLES.csv COMMITS.csv META.tsv FAILURES.txt OUT"""
import csv
import os
import statistics
import sys

samples_path, commits_path, meta_path, failures_path, out = sys.argv[1:6]
meta_lines = [line.rstrip("\n").split("\t", 1) for line in open(meta_path) if "\t" in line]
meta = dict(kv for kv in meta_lines if kv[0] != "log")
server_messages = [v for k, v in meta_lines if k == "log"]
failures = [line.strip() for line in open(failures_path) if line.strip()]
samples = list(csv.DictReader(open(samples_path)))
commits = list(csv.DictReader(open(commits_path)))
base = os.path.basename(out)

SERVERS = ["dmera", "nbdkit", "qemu", "qcow"]
NAMES = {"dmera": "dmera", "nbdkit": "nbdkit file", "qemu": "qemu-nbd raw", "qcow": "qemu-nbd qcow2+bitmap"}
FIELDS = ["iops", "mibs", "p50_us", "p99_us"]


def number(s):
    try:
        return float(s)
    except (TypeError, ValueError):
        return None


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


# Medians per (section, job, transport, server, conns), in the order the run first measured them.
groups = {}
for s in samples:
    key = (s["section"], s["job"], s["transport"], s["server"], int(s["conns"]))
    groups.setdefault(key, []).append(s)
medians = {key: {f: median(number(r[f]) for r in rows) for f in FIELDS} | {"rounds": len(rows)}
           for key, rows in groups.items()}
# One connection of the connection-scaling jobs is the steady-state job itself.
conn_jobs = sorted({k[1] for k in medians if k[0] == "conns"})
for key, m in list(medians.items()):
    if key[0] == "steady" and key[1] in conn_jobs:
        medians[("conns",) + key[1:]] = m
commit_medians = {}
for job in dict.fromkeys(c["job"] for c in commits):
    rows = [c for c in commits if c["job"] == job]
    commit_medians[job] = {f: median(number(r[f]) for r in rows)
                           for f in ("commits", "first_writes", "commit_us_p50", "commit_us_p99")} | {"rounds": len(rows)}


def fmt(v, digits=0):
    if v is None:
        return "n/a"
    return f"{v:,.{digits}f}".replace(",", " ")


def ratio(a, b):
    return f"{a / b:.2f}" if a is not None and b else "-"


def peer(k, server):
    """The medians of another server on the same job, transport and connection count."""
    return medians.get(k[:3] + (server, k[4]), {})


def table(columns, rows):
    w("| " + " | ".join(columns) + " |")
    w("|" + "---|" * len(columns))
    for row in rows:
        w("| " + " | ".join(row) + " |")
    w("")


def keys(section, job=None):
    """The measured keys of a section, ordered job (as measured), transport, connections, server."""
    found = [k for k in medians if k[0] == section and (job is None or k[1] == job)]
    jobs = list(dict.fromkeys(k[1] for k in found))
    return sorted(found, key=lambda k: (jobs.index(k[1]), ["unix", "tcp"].index(k[2]), k[4], SERVERS.index(k[3])))


lines = []
w = lines.append
rounds, seconds = int(meta["rounds"]), int(meta["seconds"])
quick = rounds < 3 or seconds < 5
w("# NBD peers: dmera vs nbdkit (file), qemu-nbd (raw) and qemu-nbd (qcow2 + persistent bitmap)")
w("")
if quick:
    w(f"> **Quick run ({rounds} round{'s' if rounds > 1 else ''} of {seconds} s per job): an example of this page's "
      "output, not a measurement.** Use at least 3 rounds of 8 s on an otherwise idle machine for numbers to quote.")
    w("")
w(f"Date: {meta['date']}. Command: `{meta['command']}` ({rounds} round{'s' if rounds > 1 else ''}, {seconds} s per fio job, "
  f"dmera tracking blocks of {int(meta['block_sectors']) * 512 // 1024} KiB), tree `{meta['commit']}`; "
  f"the run took {int(meta['duration_s']) // 60} min {int(meta['duration_s']) % 60} s.")
w("")
w("| machine | |")
w("|---|---|")
for label, key in [("cores (nproc)", "nproc"), ("memory", "memory"), ("CPU", "cpu"), ("kernel", "kernel"), ("OS", "os"),
                   ("images on", "fs"), ("fio", "fio"), ("nbdkit", "nbdkit"), ("qemu-nbd", "qemu-nbd"),
                   ("nbdcopy", "nbdcopy"), ("dotnet SDK", "dotnet"), ("load average at start", "load_start"),
                   ("load average at end", "load_end")]:
    w(f"| {label} | {meta.get(key, 'unknown')} |")
w("")
w("Method: each server serves its own 1 GiB image (nbdkit's Unix-socket and TCP instances share one file; "
  "a qemu-nbd listens on a socket or on TCP, not both, so each transport has its own image), filled once "
  "through the server with 1 MiB writes. fio's nbd engine, `--size=1g --time_based`; each round runs every job "
  "against every server in turn, the order of servers rotated from round to round so drift hits all alike; "
  "tables give the medians over rounds. Before each sample the images' file system is synced (untimed), so no "
  "sample pays for the writeback of the one before. Latencies are fio completion latencies (clat). Ratios are to nbdkit "
  "on the same job, transport and connection count. Every job but the fresh-era ones runs on blocks already "
  "marked in dmera's current era (tracking on, no metadata commit needed); after a round's fresh-era jobs dmera's "
  "whole device is written again (untimed) so the next round starts from the same state.")
w("")

w("## One connection")
w("")
table(["job", "transport", "server", "IOPS", "MiB/s", "p50 µs", "p99 µs", "IOPS ratio to nbdkit"],
      [[k[1], k[2], NAMES[k[3]], fmt(m["iops"]), fmt(m["mibs"]), fmt(m["p50_us"]), fmt(m["p99_us"]),
        ratio(m["iops"], peer(k, "nbdkit").get("iops"))] for k in keys("steady") for m in [medians[k]]])
w(f"![4 KiB IOPS, one connection]({base}-iops.png)")
w("")

if any(k[0] == "conns" for k in medians):
    w("## Connections")
    w("")
    w("fio `numjobs=N` with `group_reporting`: each fio job opens its own NBD connection, QD16 on each; "
      "IOPS are the sum over the connections, latency percentiles over all their I/Os.")
    w("")
    table(["job", "transport", "connections", "server", "IOPS", "p99 µs", "IOPS ratio to nbdkit", "IOPS / 1 connection"],
          [[k[1], k[2], str(k[4]), NAMES[k[3]], fmt(m["iops"]), fmt(m["p99_us"]),
            ratio(m["iops"], peer(k, "nbdkit").get("iops")), ratio(m["iops"], medians.get(k[:4] + (1,), {}).get("iops"))]
           for k in keys("conns") for m in [medians[k]]])
    w(f"![IOPS over 1, 2 and 4 connections]({base}-connections.png)")
    w("")

if any(k[0] == "copy" for k in medians):
    w("## nbdcopy of 1 GiB")
    w("")
    w("`nbdcopy FILE URI` (in, from a random 1 GiB file in the page cache), `nbdcopy URI null:` and "
      "`nbdcopy URI FILE` (out, to a new file in /dev/shm, so that the client's disk is not measured). nbdcopy's "
      "defaults: 4 connections to a server that advertises multi-conn, else one. Advertised: "
      + ", ".join(f"{NAMES[s]} {meta.get('multi_conn_' + s, 'unknown')}" for s in SERVERS) + ".")
    w("")
    table(["copy", "transport", "server", "MiB/s", "ratio to nbdkit"],
          [[k[1], k[2], NAMES[k[3]], fmt(medians[k]["mibs"]), ratio(medians[k]["mibs"], peer(k, "nbdkit").get("mibs"))]
           for k in keys("copy")])
w(f"![1 MiB sequential I/O and nbdcopy, MiB/s]({base}-throughput.png)")
w("")

w("## Fresh era")
w("")
w("Right after `dmera message bench checkpoint` (one before each fresh-era job): every 4 KiB write is a first "
  "write in the new era, reaching the origin only after its mark is durable (one intent-log append, durable as "
  "it returns, shared by the writes of one group); a write without FUA is answered before that (write-back). qemu-nbd's qcow2 bitmap is not made durable before the write is acknowledged and is "
  "declared inconsistent after a crash; it runs the same job for comparison. Unix socket. fio's random map "
  "writes each 4 KiB block once before any block twice, so every write is a first write while IOPS × seconds "
  "stays under the device's 262 144 blocks.")
w("")
table(["job", "server", "IOPS", "p50 µs", "p99 µs", "IOPS ratio to qcow2+bitmap", "p99 ratio to qcow2+bitmap"],
      [[k[1], NAMES[k[3]], fmt(m["iops"]), fmt(m["p50_us"]), fmt(m["p99_us"]),
        ratio(m["iops"], peer(k, "qcow").get("iops")), ratio(m["p99_us"], peer(k, "qcow").get("p99_us"))]
       for k in keys("fresh") for m in [medians[k]]])
w("The metadata commit time dmera reports (`dmera status --json`, read right after the job: `commit_us_p50` and "
  "`commit_us_p99` are over the daemon's last 4,096 commits, from setting the bits to their being durable; "
  "`commits` and `first_writes`, first-write requests, are the job's increase), and the job's p99 first-write "
  "latency over the commit p50 (target ≤ 3). n/a: the daemon under test does not report the field.")
w("")
table(["job", "commits", "first writes", "commit p50 µs", "commit p99 µs", "p99 first-write latency / commit p50"],
      [[job, fmt(c["commits"]), fmt(c["first_writes"]), fmt(c["commit_us_p50"]), fmt(c["commit_us_p99"]),
        ratio(medians.get(("fresh", job, "unix", "dmera", 1), {}).get("p99_us"), c["commit_us_p50"])]
       for job, c in commit_medians.items()])
w(f"![Fresh-era latency and commit time]({base}-latency.png)")
w("")
w(f"dmera status after the run: `{meta.get('dmera_status', '')}`.")
for title, items in [("What the servers logged about trouble (up to 5 lines each)", [f"`{m}`" for m in server_messages]),
                     ("Failures (no sample recorded)", failures)]:
    if items:
        w("")
        w(f"## {title}")
        w("")
        lines.extend(f"- {item}" for item in items)
w("")
with open(out + ".md", "w") as f:
    f.write("\n".join(lines))

with open(out + ".csv", "w", newline="") as f:
    writer = csv.writer(f)
    writer.writerow(["section", "job", "transport", "server", "conns"] + FIELDS + ["rounds"])
    order = ["steady", "conns", "copy", "fresh"]
    for section in order:
        for k in keys(section):
            m = medians[k]
            writer.writerow(list(k) + ["" if m[x] is None else f"{m[x]:.0f}" for x in FIELDS] + [m["rounds"]])
    for job, c in commit_medians.items():
        writer.writerow(["commit", job, "unix", "dmera", 1, "", "",
                         "" if c["commit_us_p50"] is None else f"{c['commit_us_p50']:.0f}",
                         "" if c["commit_us_p99"] is None else f"{c['commit_us_p99']:.0f}", c["rounds"]])
