#!/usr/bin/python3
"""TCP and UDP echo server for the integration tests.

echo_server.py --ports 7000,7001 [--tcp-only|--udp-only]

Listens on [::] dual-stack (so IPv4 and IPv6 alike) on every port, TCP and UDP, echoes every byte
and every datagram back, and prints "ready" once all sockets are bound. Runs until killed.
"""
import argparse
import socket
import sys
import threading


def serve_udp(sock):
    while True:
        data, peer = sock.recvfrom(65535)
        try:
            sock.sendto(data, peer)
        except OSError:
            pass


def serve_tcp_conn(conn):
    with conn:
        while True:
            try:
                data = conn.recv(65536)
            except OSError:
                return
            if not data:
                return
            try:
                conn.sendall(data)
            except OSError:
                return


def serve_tcp(sock):
    while True:
        conn, _ = sock.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=serve_tcp_conn, args=(conn,), daemon=True).start()


def dual_stack(kind, port):
    sock = socket.socket(socket.AF_INET6, kind)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    sock.bind(("::", port))
    return sock


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--ports", required=True)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--tcp-only", action="store_true")
    group.add_argument("--udp-only", action="store_true")
    args = parser.parse_args()
    threads = []
    for port in (int(p) for p in args.ports.split(",")):
        if not args.udp_only:
            tcp = dual_stack(socket.SOCK_STREAM, port)
            tcp.listen(128)
            threads.append(threading.Thread(target=serve_tcp, args=(tcp,), daemon=True))
        if not args.tcp_only:
            udp = dual_stack(socket.SOCK_DGRAM, port)
            threads.append(threading.Thread(target=serve_udp, args=(udp,), daemon=True))
    for t in threads:
        t.start()
    print("ready", flush=True)
    for t in threads:
        t.join()


if __name__ == "__main__":
    sys.exit(main())
