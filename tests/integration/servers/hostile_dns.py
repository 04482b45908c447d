#!/usr/bin/python3
"""A DNS server that answers every question with a broken or hostile reply, for the tests of
SPEC section 9 ("hostile DNS answers are counted ... nothing crashes, nothing leaks").

hostile_dns.py --address ADDR [--port 53]

The first label of the question picks the kind of reply:
  loop     the answer's owner name is a compression pointer to itself
  pingpong two names pointing at each other (owner -> CNAME data -> owner)
  forward  the owner name points past the end of the message
  label    a label with the reserved 0x40 lead byte and 70 bytes
  long     a CNAME target of 300 characters
  cut      one answer announced, half of it sent
  mixed    a good A answer for the question, then a pointer loop: nothing of it may be used
  forge    a good answer (192.0.2.2), then unsolicited replies from the same address and port
           to the client's port, each saying forged.test.example is 198.51.100.2: one with
           another id, one with the query's id but that other question, and one repeating the
           query's id and question (an answer given twice)
Every reply carries the query's id, so the client takes it as its answer (the forge kind's
extra replies come after it). Prints "ready" once bound; runs until killed.
"""
import argparse
import socket
import struct
import sys


def question_end(query):
    pos = 12
    while pos < len(query) and query[pos] != 0:
        pos += 1 + query[pos]
    return pos + 1 + 4


def first_label(query):
    if len(query) < 13:
        return ""
    n = query[12]
    return query[13:13 + n].decode(errors="replace").lower()


def a_record(owner, address):
    return owner + struct.pack("!HHIH", 1, 1, 300, 4) + socket.inet_aton(address)


FORGE_REAL = "192.0.2.2"
FORGE_FORGED = "198.51.100.2"
FORGED_NAME = b"\x06forged\x04test\x07example\x00"


def forged_replies(query, question):
    """The forge kind: the real answer first, then what nobody asked for."""
    def message(qid, q, address):
        return (qid + struct.pack("!HHHHH", 0x8180, 1, 1, 0, 0) + q
                + a_record(b"\xc0\x0c", address))
    qid = query[:2]
    other_id = struct.pack("!H", struct.unpack("!H", qid)[0] ^ 0x5a5a)
    forged_question = FORGED_NAME + question[-4:]
    return [message(qid, question, FORGE_REAL),
            message(other_id, forged_question, FORGE_FORGED),
            message(qid, forged_question, FORGE_FORGED),
            message(qid, question, FORGE_FORGED)]


def reply(query):
    kind = first_label(query)
    end = question_end(query)
    question = query[12:end]
    header = lambda answers: query[:2] + struct.pack("!HHHHH", 0x8180, 1, answers, 0, 0)
    answer_at = 12 + len(question)
    if kind == "loop":
        owner = struct.pack("!H", 0xC000 | answer_at)
        return header(1) + question + a_record(owner, "198.51.100.2")
    if kind == "pingpong":
        owner = b"\x01x" + struct.pack("!H", 0xC000 | (answer_at + 4 + 10))
        data = b"\x01y" + struct.pack("!H", 0xC000 | answer_at)
        return (header(1) + question + owner + struct.pack("!HHIH", 5, 1, 300, len(data)) + data)
    if kind == "forward":
        owner = struct.pack("!H", 0xC000 | 0x3FF0)
        return header(1) + question + a_record(owner, "198.51.100.2")
    if kind == "label":
        owner = b"\x40" + b"a" * 70 + b"\x00"
        return header(1) + question + a_record(owner, "198.51.100.2")
    if kind == "long":
        target = b"".join(b"\x3f" + b"b" * 63 for _ in range(5)) + b"\x00"
        return (header(1) + question + b"\xc0\x0c" + struct.pack("!HHIH", 5, 1, 300, len(target))
                + target)
    if kind == "cut":
        return header(1) + question + a_record(b"\xc0\x0c", "198.51.100.2")[:9]
    if kind == "forge":
        return forged_replies(query, question)
    if kind == "mixed":
        good = a_record(b"\xc0\x0c", "198.51.100.2")
        loop_at = answer_at + len(good)
        bad = a_record(struct.pack("!H", 0xC000 | loop_at), "198.51.100.3")
        return header(2) + question + good + bad
    return header(0) + question


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--address", required=True)
    parser.add_argument("--port", type=int, default=53)
    args = parser.parse_args()
    family = socket.AF_INET6 if ":" in args.address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    sock.bind((args.address, args.port))
    print("ready", flush=True)
    while True:
        query, peer = sock.recvfrom(4096)
        if len(query) < 12:
            continue
        try:
            answers = reply(query)
            for answer in answers if isinstance(answers, list) else [answers]:
                sock.sendto(answer, peer)
        except OSError as e:
            print(f"send failed: {e}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
