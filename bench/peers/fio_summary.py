"""Reads fio's JSON on stdin; prints 'IOPS MiB/s p99-completion-latency-µs' of the job's active direction."""
import json
import sys

text = sys.stdin.read()
# fio's nbd engine prints "fio: connected to NBD server" on stdout before the JSON.
job = json.loads(text[text.index("{"):])["jobs"][0]
d = job["write"] if job["write"]["io_bytes"] else job["read"]
p99 = d.get("clat_ns", {}).get("percentile", {}).get("99.000000", 0) / 1000
print("%.0f %.0f %.0f" % (d["iops"], d["bw_bytes"] / 1048576, p99))
