"""Reads fio's JSON on stdin; prints 'IOPS MiB/s p50-µs p99-µs' (completion latency) of the job's active
direction. With numjobs=N and group_reporting the first job is the group: IOPS and MiB/s are the sum over
its N jobs (connections), the percentiles are over all their I/Os."""
import json
import sys

text = sys.stdin.read()
# fio's nbd engine prints "fio: connected to NBD server" on stdout (once per job) before the JSON.
job = json.loads(text[text.index("{"):])["jobs"][0]
d = job["write"] if job["write"]["io_bytes"] else job["read"]
percentiles = d.get("clat_ns", {}).get("percentile", {})
p50 = percentiles.get("50.000000", 0) / 1000
p99 = percentiles.get("99.000000", 0) / 1000
print("%.0f %.0f %.0f %.0f" % (d["iops"], d["bw_bytes"] / 1048576, p50, p99))
