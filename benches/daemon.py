#!/usr/bin/env python3
"""Resident memory, CPU per 1000 frames and sustained frame rate of the release daemon.

Starts mosquitto on a free loopback port, runs `target/release/stromwart run` with one meter
read over TCP from this script, sends real DZG frames at a fixed rate, and reads the daemon's
peak RSS (VmHWM) and CPU time from /proc. Linux only; needs mosquitto and a release build:

    cargo build --release && python3 benches/daemon.py [frames_per_second] [seconds]
"""
import os, re, signal, socket, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RATE = float(sys.argv[1]) if len(sys.argv) > 1 else 500.0
SECONDS = float(sys.argv[2]) if len(sys.argv) > 2 else 10.0


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
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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


if __name__ == "__main__":
    main()
