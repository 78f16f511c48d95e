#!/usr/bin/env python3
"""Resident memory, CPU per 1000 frames and sustained frame rate of the release daemon.

Starts mosquitto on a free loopback port, runs `target/release/stromwart run` with one meter
read over TCP from this script, sends real DZG frames at a fixed rate, and reads the daemon's
peak RSS (VmHWM) and CPU time from /proc. Linux only; needs mosquitto and a release build:

    cargo build --release && python3 benches/daemon.py [frames_per_second] [seconds]

`serial [seconds]` instead reads the meter from a pseudo-terminal fed at a real line's pace: a
frame every second at 9600 baud 8N1, in the 16-byte pieces a USB adapter delivers, with the
default configuration. It reports CPU per 1000 frames and the delay from each frame's last byte
to its value at a subscriber (needs mosquitto_sub):

    cargo build --release && python3 benches/daemon.py serial 60
"""
import json, os, re, signal, socket, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SERIAL = len(sys.argv) > 1 and sys.argv[1] == "serial"
RATE = float(sys.argv[1]) if len(sys.argv) > 1 and not SERIAL else 500.0
SECONDS = float(sys.argv[2]) if len(sys.argv) > 2 else (60.0 if SERIAL else 10.0)


def frames():
    text = open(os.path.join(ROOT, "tests/fixtures/sml/dzg-dwsb20-1.hex")).read()
    data = bytes.fromhex("".join(l for l in text.splitlines() if not l.startswith("#")).replace(" ", ""))
    start = bytes.fromhex("1b1b1b1b01010101")
    cuts = [m.start() for m in re.finditer(re.escape(start), data)] + [len(data)]
    end = bytes.fromhex("1b1b1b1b1a")
    return [data[a:b] for a, b in zip(cuts, cuts[1:]) if end in data[a:b]]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def cpu_seconds(pid):
    """CPU time of all the daemon's threads, to the nanosecond (schedstat), where /proc/PID/stat
    would count in 10 ms ticks."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            total += int(open(f"/proc/{pid}/task/{tid}/schedstat").read().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass  # a thread that ended between listing and reading
    return total / 1e9


def wakeups(pid):
    """Times the daemon's threads went to sleep and were woken again (voluntary context
    switches): what a reader that wakes for every piece of a frame pays for."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            for line in open(f"/proc/{pid}/task/{tid}/status"):
                if line.startswith("voluntary_ctxt_switches:"):
                    total += int(line.split()[1])
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total


def read_calls(pid):
    """read(2) and friends the daemon has made so far: each is a wake-up of the reader or a poll."""
    for line in open(f"/proc/{pid}/io"):
        if line.startswith("syscr:"):
            return int(line.split()[1])
    return 0


def status_kb(pid, key):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(key):
            return int(line.split()[1])
    return 0


def main():
    tmp = tempfile.mkdtemp(prefix="stromwart-daemon-")
    broker_port, meter = free_port(), socket.socket()
    meter.bind(("127.0.0.1", 0))
    meter.listen(1)
    open(f"{tmp}/m.conf", "w").write(f"listener {broker_port} 127.0.0.1\nallow_anonymous true\n")
    broker = subprocess.Popen(["mosquitto", "-c", f"{tmp}/m.conf"], stderr=subprocess.DEVNULL)
    time.sleep(0.3)
    open(f"{tmp}/s.yaml", "w").write(
        f"data_dir: {tmp}\nmqtt:\n  port: {broker_port}\nmeters:\n  - id: grid\n    tcp: 127.0.0.1:{meter.getsockname()[1]}\n    min_interval: 0\n")
    log = open(f"{tmp}/log", "w+")
    env = dict(os.environ, NO_COLOR="1")
    daemon = subprocess.Popen([f"{ROOT}/target/release/stromwart", "run", "--config", f"{tmp}/s.yaml"], stderr=log, env=env)
    conn, _ = meter.accept()
    fr = frames()
    time.sleep(1.0)
    idle_rss = status_kb(daemon.pid, "VmRSS")
    cpu0, sent, t0 = cpu_seconds(daemon.pid), 0, time.monotonic()
    while time.monotonic() - t0 < SECONDS:
        due = int((time.monotonic() - t0) * RATE)
        while sent < due:
            conn.sendall(fr[sent % len(fr)])
            sent += 1
        time.sleep(0.001)
    time.sleep(0.5)
    cpu = cpu_seconds(daemon.pid) - cpu0
    hwm = status_kb(daemon.pid, "VmHWM")
    daemon.send_signal(signal.SIGTERM)
    daemon.wait(timeout=10)
    broker.kill()
    log.seek(0)
    text = log.read()
    got = re.search(r"frames=(\d+) errors=(\d+)", text)
    decoded = int(got.group(1)) if got else -1
    print(f"rate {RATE:.0f} frames/s for {SECONDS:.0f} s: sent {sent}, decoded {decoded}, errors {got.group(2) if got else '?'}")
    print(f"CPU {cpu:.3f} s = {cpu / sent * 1000:.3f} s per 1000 frames")
    print(f"RSS idle {idle_rss / 1024:.1f} MiB, peak (VmHWM) {hwm / 1024:.1f} MiB")


def serial(seconds):
    """A meter on a serial line at 9600 baud, once a second, through a pseudo-terminal."""
    tmp = tempfile.mkdtemp(prefix="stromwart-serial-")
    broker_port = free_port()
    open(f"{tmp}/m.conf", "w").write(f"listener {broker_port} 127.0.0.1\nallow_anonymous true\n")
    broker = subprocess.Popen(["mosquitto", "-c", f"{tmp}/m.conf"], stderr=subprocess.DEVNULL)
    time.sleep(0.3)
    master, slave = os.openpty()
    path = os.ttyname(slave)
    open(f"{tmp}/s.yaml", "w").write(
        f"data_dir: {tmp}\nmqtt:\n  port: {broker_port}\nmeters:\n  - id: grid\n    serial_port: {path}\n")
    sub = subprocess.Popen(["mosquitto_sub", "-p", str(broker_port), "-t", "stromwart/grid/power", "-F", "%U %p"],
                           stdout=subprocess.PIPE, text=True)
    env = dict(os.environ, NO_COLOR="1")
    log = open(f"{tmp}/daemon.log", "w")
    daemon = subprocess.Popen([f"{ROOT}/target/release/stromwart", "run", "--config", f"{tmp}/s.yaml"],
                              stderr=log, env=env)
    fr = frames()
    time.sleep(1.5)
    # What the daemon costs with nothing to read (ticks, keep-alives), to tell it apart.
    idle0, idle_reads0, idle_wakes0 = cpu_seconds(daemon.pid), read_calls(daemon.pid), wakeups(daemon.pid)
    time.sleep(10.0)
    idle = (cpu_seconds(daemon.pid) - idle0) / 10.0
    idle_reads = (read_calls(daemon.pid) - idle_reads0) / 10.0
    idle_wakes = (wakeups(daemon.pid) - idle_wakes0) / 10.0
    byte_s = 1 / 960.0  # 10 bits a byte at 9600 baud
    cpu0, reads0, wakes0 = cpu_seconds(daemon.pid), read_calls(daemon.pid), wakeups(daemon.pid)
    sent, t0 = [], time.monotonic()
    k = 0
    while time.monotonic() - t0 < seconds:
        frame, start = fr[k % len(fr)], t0 + k
        for i in range(0, len(frame), 16):
            piece = frame[i:i + 16]
            due = start + (i + len(piece)) * byte_s
            time.sleep(max(0.0, due - time.monotonic()))
            os.write(master, piece)
        sent.append((time.time(), k % len(fr)))
        k += 1
        time.sleep(max(0.0, t0 + k - time.monotonic()))
    time.sleep(1.0)
    cpu, reads = cpu_seconds(daemon.pid) - cpu0, read_calls(daemon.pid) - reads0
    wakes = wakeups(daemon.pid) - wakes0
    elapsed = time.monotonic() - t0
    daemon.send_signal(signal.SIGTERM)
    daemon.wait(timeout=10)
    sub.terminate()
    out = sub.communicate()[0].splitlines()
    broker.kill()
    got = [(float(line.split()[0]), line.split()[1]) for line in out if len(line.split()) == 2]
    values = {}
    for i, f in enumerate(fr):
        payload = subprocess.run([f"{ROOT}/target/release/stromwart", "sml", "decode", "-"], input=f,
                                 capture_output=True).stdout.decode()
        readings = [r for line in payload.splitlines() for r in json.loads(line).get("readings", [])]
        values[i] = next((r["value"] for r in readings if r["obis"] == "1-0:16.7.0"), None)
    delays, lost = [], 0
    for (t, i) in sent:
        match = [at for at, p in got if at >= t and values[i] is not None and float(p) == float(values[i])]
        if match:
            delays.append((match[0] - t) * 1000)
        else:
            lost += 1
    delays.sort()
    pct = lambda q: delays[min(len(delays) - 1, int(len(delays) * q))] if delays else float("nan")
    print(f"serial 9600 baud, 1 frame/s for {seconds:.0f} s: {len(sent)} frames, never published {lost}")
    print(f"CPU {cpu:.3f} s = {cpu / len(sent) * 1000:.3f} s per 1000 frames; idle {idle * 1000:.2f} ms per second, "
          f"so the frames themselves {(cpu - idle * elapsed) / len(sent) * 1000:.3f} s per 1000")
    # Not net of idle: with frames flowing, the once-a-second tick rides along with them.
    print(f"per frame, everything included: {wakes / len(sent):.1f} wake-ups, {reads / len(sent):.1f} read calls "
          f"(idle: {idle_wakes:.1f} wake-ups and {idle_reads:.1f} read calls per second)")
    warnings = [line for line in open(f"{tmp}/daemon.log") if " WARN " in line or " ERROR " in line]
    print(f"daemon log {tmp}/daemon.log: {len(warnings)} warnings" + "".join(f"\n  {w.strip()}" for w in warnings[:5]))
    late = [(i, round(d)) for i, d in enumerate(delays) if d > 100]
    if late:
        print(f"frames later than 100 ms (index in sorted order, ms): {late[:5]}")
    print(f"last byte to subscriber: p50 {pct(0.5):.2f} ms, p90 {pct(0.9):.2f} ms, max {delays[-1] if delays else float('nan'):.2f} ms")


if __name__ == "__main__":
    if SERIAL:
        serial(SECONDS)
    else:
        main()
