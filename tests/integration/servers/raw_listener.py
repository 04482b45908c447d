"""Reports every TCP segment that reaches this namespace carrying the forge_probe payload, as
"got <dport> <flags>" (flags as forge_probe spells them), after printing "ready". What a
firewall in another namespace let through, seen from the receiving side: a raw socket gets a
copy of each TCP segment before the TCP stack looks at it, so even segments TCP would ignore
(no flags, SYN+FIN) are reported."""
import socket
import sys

PAYLOAD = b"warden-forged"
LETTERS = "FSRPAUEC"


def flags_text(byte):
    text = "".join(c for i, c in enumerate(LETTERS) if byte & (1 << i))
    return text or "none"


def main():
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)
    print("ready", flush=True)
    while True:
        packet = s.recv(65535)
        header = (packet[0] & 0x0F) * 4
        tcp = packet[header:]
        if len(tcp) < 20 or PAYLOAD not in tcp[(tcp[12] >> 4) * 4:]:
            continue
        dport = int.from_bytes(tcp[2:4], "big")
        print(f"got {dport} {flags_text(tcp[13])}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
