#!/usr/bin/python3
"""Independent reader of the simulated weighbridge continuous outputs,
written from docs/devices/weighbridge-toledo.md and weighbridge-xk3190.md
(not from the simulator's code).

Usage:
    wb_ascii_peer.py toledo|xk3190 PATH SECONDS

Opens PATH (a pty slave, as a serial port), reads for SECONDS and prints one
JSON object:
    {"frames": [{"raw": "hex", "weight_kg": W, "motion": bool|null, ...}],
     "bad_frames": N, "skipped_bytes": N}
Frames are located by their start byte (STX) and checked byte by byte
(fixed bits, digits, delimiters, checksum); a frame that fails any check is
counted in bad_frames and not listed. The first bytes read may belong to a
frame already under way: those are skipped.
"""
import json
import os
import select
import sys
import termios
import time
import tty


def read_for(path, seconds):
    fd = os.open(path, os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)
    try:
        try:
            tty.setraw(fd)
        except termios.error:
            pass
        buf = bytearray()
        end = time.monotonic() + seconds
        while True:
            left = end - time.monotonic()
            if left <= 0:
                break
            r, _, _ = select.select([fd], [], [], left)
            if r:
                try:
                    chunk = os.read(fd, 4096)
                except BlockingIOError:
                    continue
                if not chunk:
                    break
                buf.extend(chunk)
        return bytes(buf)
    finally:
        os.close(fd)


def toledo(frame):
    """18-byte (with checksum) frame -> dict, or None if any byte is wrong."""
    if len(frame) != 18 or frame[0] != 0x02 or frame[16] != 0x0D:
        return None
    swa, swb, swc = frame[1], frame[2], frame[3]
    if swa & 0x20 == 0 or swa & 0xC0:  # A: bit 5 = 1, bit 6 = 0, bit 7 = 0
        return None
    if swb & 0x20 == 0 or swb & 0x80:  # B: bit 5 = 1
        return None
    if swc & 0x20 == 0 or swc & 0xC6:  # C: bit 5 = 1, bits 1, 2, 6 = 0
        return None
    digits = frame[4:10]
    tare = frame[10:16]
    if not all(0x30 <= c <= 0x39 for c in digits + tare):
        return None
    if (sum(frame[:17]) + frame[17]) % 128 != 0:
        return None
    value = int(digits.decode())
    dp = swa & 0x07
    incr = {1: 1, 2: 2, 3: 5}.get((swa >> 3) & 0x03)
    # Codes 0..2 are dummy-zero/whole displays: the digits are the value;
    # 3..7 place a decimal point 1..5 digits from the right.
    weight = value if dp <= 2 else value / (10 ** (dp - 2))
    if swb & 0x02:
        weight = -weight
    return {
        "raw": frame.hex(),
        "weight_kg": weight,
        "tare": int(tare.decode()),
        "motion": bool(swb & 0x08),
        "out_of_range": bool(swb & 0x04),
        "net": bool(swb & 0x01),
        "kg": bool(swb & 0x10),
        "dp_code": dp,
        "increment": incr,
    }


def xk3190(frame):
    """12-byte frame -> dict, or None if any byte is wrong."""
    if len(frame) != 12 or frame[0] != 0x02 or frame[11] != 0x03:
        return None
    sign = frame[1]
    if sign not in (0x2B, 0x2D):
        return None
    digits = frame[2:8]
    if not all(0x30 <= c <= 0x39 for c in digits):
        return None
    if not 0x30 <= frame[8] <= 0x34:
        return None
    x = 0
    for c in frame[1:9]:
        x ^= c

    def hexch(n):
        return n + 0x30 if n <= 9 else n + 0x37

    if frame[9] != hexch(x >> 4) or frame[10] != hexch(x & 0x0F):
        return None
    decimals = frame[8] - 0x30
    value = int(digits.decode()) / (10 ** decimals)
    if sign == 0x2D:
        value = -value
    return {"raw": frame.hex(), "weight_kg": value, "decimals": decimals, "motion": None}


def split(data, proto):
    size, parse = (18, toledo) if proto == "toledo" else (12, xk3190)
    frames, bad, skipped = [], 0, 0
    i = data.find(b"\x02")
    skipped += len(data) if i < 0 else i
    while 0 <= i and i + size <= len(data):
        frame = data[i:i + size]
        parsed = parse(frame)
        if parsed is None:
            bad += 1
            nxt = data.find(b"\x02", i + 1)
        else:
            frames.append(parsed)
            nxt = i + size
            if nxt < len(data) and data[nxt] != 0x02:
                j = data.find(b"\x02", nxt)
                skipped += (len(data) if j < 0 else j) - nxt
                nxt = j
        i = nxt
    return frames, bad, skipped


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in ("toledo", "xk3190"):
        print(__doc__, file=sys.stderr)
        return 2
    data = read_for(sys.argv[2], float(sys.argv[3]))
    frames, bad, skipped = split(data, sys.argv[1])
    print(json.dumps({"frames": frames, "bad_frames": bad, "skipped_bytes": skipped, "bytes": len(data)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
