#!/usr/bin/env python3
"""gen2's labels (issue 17 item 1): random plates valid under GA 36 and
container codes valid under ISO 6346, with the check digit computed here,
independently of the project's Rust code (gate_proto). Pure Python, no
third-party module: sim/tests/it/eval_split.rs runs it with the system
python3 and checks what it draws against gate_proto.

Usage: gen2_labels.py --sample N [--seed S]   # N plates and N codes, one a line
       gen2_labels.py --check                 # self-test
"""

import argparse
import random
import re
import sys

PROVINCES = "京津冀晋蒙辽吉黑沪苏浙皖闽赣鲁豫鄂湘粤桂琼渝川贵云藏陕甘青宁新"
# GA 36: no I and no O on plates.
PLATE_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"
DIGITS = "0123456789"
SUFFIXES = "挂学警港澳领"
CODE_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

_L = "[A-HJ-NP-Z]"
_P = "[" + PROVINCES + "]"
PLATE_RULES = {
    # kind: regex of the normalised text (GA 36-2018).
    "ordinary": re.compile(f"^{_P}{_L}[A-HJ-NP-Z0-9]{{5}}$"),
    "nev_small": re.compile(f"^{_P}{_L}[DF][A-HJ-NP-Z0-9][0-9]{{4}}$"),
    "nev_large": re.compile(f"^{_P}{_L}[0-9]{{5}}[DF]$"),
    "suffix": re.compile(f"^{_P}{_L}[A-HJ-NP-Z0-9]{{4}}[{SUFFIXES}]$"),
}


def plate_valid(text):
    """Whether `text` is a plate GA 36 allows (the kinds drawn here)."""
    return any(r.match(text) for r in PLATE_RULES.values())


def iso6346_value(c):
    """ISO 6346 value of a character: digits as is, letters from A=10
    skipping the multiples of 11."""
    if c.isdigit():
        return int(c)
    v = 10
    for k in CODE_LETTERS:
        if v % 11 == 0:
            v += 1
        if k == c:
            return v
        v += 1
    raise ValueError(c)


def iso6346_check(head):
    """The check digit of a 10-character owner code + category + serial."""
    assert len(head) == 10, head
    total = sum(iso6346_value(c) << i for i, c in enumerate(head))
    return total % 11 % 10


def random_serial(rng, n, max_letters=2):
    """n plate characters, digits mostly, at most `max_letters` letters."""
    out = []
    letters = 0
    for _ in range(n):
        if letters < max_letters and rng.random() < 0.25:
            out.append(rng.choice(PLATE_LETTERS))
            letters += 1
        else:
            out.append(rng.choice(DIGITS))
    return "".join(out)


def random_province(rng):
    # Hainan's ports: 琼 for 40 %, the other 30 evenly.
    if rng.random() < 0.4:
        return "琼"
    return rng.choice(PROVINCES.replace("琼", ""))


def random_plate(rng, view):
    """(text, colour, two_row) of a random valid plate for a truck's view."""
    p = random_province(rng)
    l = rng.choice(PLATE_LETTERS)
    r = rng.random()
    if view == "front":
        if r < 0.25:
            return p + l + random_serial(rng, 5), "blue", False
        if r < 0.55:
            return p + l + random_serial(rng, 5), "yellow", False
        if r < 0.67:
            s = rng.choice("DF") + rng.choice(PLATE_LETTERS + DIGITS) + "".join(rng.choice(DIGITS) for _ in range(4))
            return p + l + s, "green", False
        if r < 0.77:
            return p + l + "".join(rng.choice(DIGITS) for _ in range(5)) + rng.choice("DF"), "yellow_green", False
        if r < 0.85:
            return "粤Z" + random_serial(rng, 4) + rng.choice("港澳"), "black", False
        if r < 0.93:
            return p + l + random_serial(rng, 4) + "警", "white", False
        return p + l + random_serial(rng, 4) + "学", "yellow", False
    if r < 0.55:
        return p + l + random_serial(rng, 5), "yellow", True
    if r < 0.9:
        return p + l + random_serial(rng, 4) + "挂", "yellow", True
    return p + l + "".join(rng.choice(DIGITS) for _ in range(5)) + rng.choice("DF"), "yellow_green", False


def random_code(rng):
    owner = "".join(rng.choice(CODE_LETTERS) for _ in range(3))
    r = rng.random()
    cat = "U" if r < 0.94 else ("J" if r < 0.97 else "Z")
    head = owner + cat + "".join(rng.choice(DIGITS) for _ in range(6))
    return head + str(iso6346_check(head))


def check():
    bad = []
    # ISO 6346 check digits of published codes.
    for c in ["CSQU3054383", "MSKU8015620", "OOLU6180231"]:
        if iso6346_check(c[:10]) != int(c[10]):
            bad.append(f"check digit of {c}")
    if [iso6346_value(c) for c in "ALVZ"] != [10, 23, 34, 38]:
        bad.append("ISO 6346 letter values")
    for t in ["琼A12345", "琼AD12345", "琼A12345D", "琼A1234挂", "粤Z1234港"]:
        if not plate_valid(t):
            bad.append(f"plate {t} rejected")
    for t in ["琼I12345", "琼A1234", "XA12345", "琼AO2345"]:
        if plate_valid(t):
            bad.append(f"plate {t} accepted")
    rng = random.Random(1)
    for _ in range(2000):
        t, _, _ = random_plate(rng, rng.choice(["front", "rear"]))
        if not plate_valid(t):
            bad.append(f"generated plate {t}")
            break
    return bad


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sample", type=int, default=0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    if args.check:
        bad = check()
        if bad:
            print("gen2_labels check FAILED:\n  " + "\n  ".join(bad))
            sys.exit(1)
        print("gen2_labels check ok")
    rng = random.Random(args.seed)
    for _ in range(args.sample):
        text, colour, two_row = random_plate(rng, rng.choice(["front", "rear"]))
        print(f"plate\t{text}\t{colour}\t{int(two_row)}")
        print(f"code\t{random_code(rng)}")


if __name__ == "__main__":
    main()
