"""The admin socket from a script, without starting a dmera process per request (its start costs ~0.2 s).
   admin.py SOCKET group-latency N VOLUMES [PAUSE_S]  : N group checkpoints, one latency (ms) per line
   admin.py SOCKET group-loop SECONDS VOLUMES PAUSE_S : group checkpoints every PAUSE_S for SECONDS; prints the count
   admin.py SOCKET LINE...                            : one request, its reply lines
The framing (src/DmEra/Admin/AdminWire.cs): one request line; data lines start with ". ", then "ok" or "error: ..."."""
import socket, sys, time

def ask(path, line):
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    s.sendall((line + "\n").encode())
    f = s.makefile("r")
    out = []
    for l in f:
        l = l.rstrip("\n")
        if l.startswith(". "):
            out.append(l[2:])
        elif l == "ok":
            s.close()
            return out
        else:
            s.close()
            raise SystemExit(f"{line}: {l}")
    raise SystemExit(f"{line}: connection closed")

path, what = sys.argv[1], sys.argv[2]
if what == "group-latency":
    n, volumes = int(sys.argv[3]), sys.argv[4]
    pause = float(sys.argv[5]) if len(sys.argv) > 5 else 0.1
    ask(path, f"group-checkpoint {volumes}")   # warms the volume locations and the coordinator's path
    for _ in range(n):
        t0 = time.monotonic()
        ask(path, f"group-checkpoint {volumes}")
        print(round((time.monotonic() - t0) * 1000, 2), flush=True)
        time.sleep(pause)
elif what == "group-loop":
    seconds, volumes, pause = float(sys.argv[3]), sys.argv[4], float(sys.argv[5])
    end, n = time.monotonic() + seconds, 0
    while time.monotonic() < end:
        ask(path, f"group-checkpoint {volumes}")
        n += 1
        time.sleep(pause)
    print(n)
else:
    for l in ask(path, " ".join(sys.argv[2:])):
        print(l)
