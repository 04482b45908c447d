#!/usr/bin/python3
"""UDP echo server that counts what arrives, for the tests that must show a datagram never
reached a port (not just that no echo came back).

udp_counter.py --ports 7100,7101

Listens on [::] dual-stack on every port, echoes every datagram, prints "ready" once bound and
then, at most every 50 ms while something arrived, one line "counts <port>=<n> ..." with the
number of datagrams each port received since the start. Runs until killed."""
import argparse
import select
import socket
import sys
import time


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--ports", required=True)
    args = parser.parse_args()
    socks = {}
    for port in (int(p) for p in args.ports.split(",")):
        sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        sock.bind(("::", port))
        sock.setblocking(False)
        socks[sock] = port
    counts = {port: 0 for port in socks.values()}
    print("ready", flush=True)
    changed, last = False, 0.0
    while True:
        ready, _, _ = select.select(list(socks), [], [], 0.05)
        for sock in ready:
            for _ in range(256):
                try:
                    data, peer = sock.recvfrom(65535)
                except BlockingIOError:
                    break
                counts[socks[sock]] += 1
                changed = True
                try:
                    sock.sendto(data, peer)
                except OSError:
                    pass
        now = time.monotonic()
        if changed and now - last >= 0.05:
            print("counts " + " ".join(f"{p}={n}" for p, n in sorted(counts.items())), flush=True)
            changed, last = False, now


if __name__ == "__main__":
    sys.exit(main())
