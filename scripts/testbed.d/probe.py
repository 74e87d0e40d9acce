"""Helpers of scripts/testbed, run with the test bed's virtualenv python.

    probe.py ports N [PORT...]   print N free TCP ports on 127.0.0.1; each
                                 PORT given is checked to be free first
    probe.py kafka BOOTSTRAP     wait until Kafka answers a metadata request
    probe.py hdfs URL            wait until HDFS lists / and a small file can
                                 be written and deleted (DataNode registered)

The waiting commands take --timeout SECONDS and --pid PID (repeatable): they
give up early, exit status 3, when one of those processes has died; on
timeout the exit status is 2 and the last error is printed to stderr.
"""

import argparse
import logging
import os
import socket
import sys
import time


def free_ports(count, wanted):
    socks = []
    try:
        for port in wanted:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            socks.append(s)
            try:
                s.bind(("127.0.0.1", port))
            except OSError as e:
                print(f"port 127.0.0.1:{port} is not free: {e}", file=sys.stderr)
                return 1
        # Hold all sockets open at once so that the ports are distinct (and
        # differ from the wanted ones).
        fresh = []
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            socks.append(s)
            s.bind(("127.0.0.1", 0))
            fresh.append(s.getsockname()[1])
    finally:
        for s in socks:
            s.close()
    print(" ".join(str(p) for p in fresh))
    return 0


def kafka_ready(bootstrap):
    from confluent_kafka.admin import AdminClient

    quiet = logging.getLogger("testbed.probe.kafka")
    quiet.addHandler(logging.NullHandler())
    quiet.propagate = False
    admin = AdminClient(
        {
            "bootstrap.servers": bootstrap,
            "socket.timeout.ms": 3000,
            "socket.connection.setup.timeout.ms": 3000,
            "logger": quiet,
        }
    )
    md = admin.list_topics(timeout=3)
    if not md.brokers:
        raise RuntimeError("metadata lists no broker yet")


def hdfs_ready(url):
    from hdfs_native import Client

    client = Client(url)
    list(client.list_status("/"))
    path = f"/.testbed-probe-{os.getpid()}-{time.monotonic_ns()}"
    try:
        with client.create(path) as f:
            f.write(b"lakesink testbed probe\n" * 64)
        info = client.get_file_info(path)
        if info.length != 23 * 64:
            raise RuntimeError(f"probe file has length {info.length}")
    finally:
        try:
            client.delete(path)
        except Exception:  # noqa: BLE001 - best effort clean-up
            pass


def wait(check, target, timeout, pids):
    deadline = time.monotonic() + timeout
    last = None
    while True:
        for pid in pids:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                print(f"process {pid} has exited", file=sys.stderr)
                return 3
            except PermissionError:
                pass
        try:
            check(target)
            return 0
        except Exception as e:  # noqa: BLE001 - any failure means not ready yet
            last = e
        if time.monotonic() >= deadline:
            print(f"not ready after {timeout:.0f} s: {type(last).__name__}: {last}", file=sys.stderr)
            return 2
        time.sleep(0.5)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("ports")
    p.add_argument("count", type=int)
    p.add_argument("wanted", type=int, nargs="*")
    for name in ("kafka", "hdfs"):
        p = sub.add_parser(name)
        p.add_argument("target")
        p.add_argument("--timeout", type=float, default=90.0)
        p.add_argument("--pid", type=int, action="append", default=[])
    args = parser.parse_args()
    if args.cmd == "ports":
        return free_ports(args.count, args.wanted)
    check = kafka_ready if args.cmd == "kafka" else hdfs_ready
    return wait(check, args.target, args.timeout, args.pid)


if __name__ == "__main__":
    sys.exit(main())
