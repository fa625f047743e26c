#!/usr/bin/env python3
"""Peer of the recognition benchmark (issue #7): RapidOCR (rapidocr_onnxruntime
1.4.4 on onnxruntime, PP-OCRv4 det + rec) on the same evaluation set that
gate-ocr reads, one sample at a time on one thread.

Driven by sim/benches/recognition.rs (`cargo xtask bench recognition`), which
creates the venv target/ocr-peer-venv with `pip install
rapidocr_onnxruntime==1.4.4` when it is missing and runs this script with it.

Usage: ocr_peer.py --set DIR [--warmup N] [--limit N]

Reads DIR/labels.json (written by `gate-sim eval`, or by sim/eval/gen2.py:
frames only), then for each sample:
- single-row plate crops and horizontal code crops: recognition only
  (use_det=False, use_cls=False), as gate-ocr's read_*_crop is;
- vertical code crops and two-row plate crops: detection + recognition
  (use_cls=False): the recognition model reads one horizontal line, so these
  can only go through the detector. The label tells which (a hint gate-ocr
  does not get for plates). For these crops the detector's resize limit is
  the longer side at 960 px (det_limit_type="max"): the default (shorter side
  up to 736 px) makes a 50x450 column 736x6600 and takes seconds;
- frames: detection + recognition with the default config (use_cls=False:
  the text is upright).

Only the RapidOCR call is timed (time.perf_counter); the image is read from
disk (cv2.imread) before the clock starts, as the Rust side decodes before it
times. onnxruntime runs with intra_op_num_threads=1 and inter_op_num_threads=1
(RapidOCR's config keys, passed to every session), OpenCV with one thread.

Output: one JSON object per line on stdout. First a header
{"peer": ..., "rapidocr": ..., "onnxruntime": ..., "threads": {...}}, then
per sample {"id", "text", "ms", "lines": [{"text", "score", "box"}]}, last
{"cpu_per_wall", "peak_rss_kib"} (the process's peak RSS over the timed
loop, its high-water mark reset after the warm-up): `text`
is the single line of a crop read, or the lines joined by a space for det+rec
(the benchmark normalises and picks candidates itself: the peer reports raw
text only). Errors go to stderr; exit status 2 on a setup error.
"""

import argparse
import json
import os
import sys
import time

# One thread everywhere, before numpy/onnxruntime/cv2 load their pools.
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"


def die(msg):
    print(f"ocr_peer: {msg}", file=sys.stderr)
    sys.exit(2)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--set", required=True, help="folder with labels.json")
    ap.add_argument("--warmup", type=int, default=3, help="untimed reads first, per mode")
    ap.add_argument("--limit", type=int, default=0, help="only the first N samples per category")
    args = ap.parse_args()

    try:
        import cv2
        import onnxruntime as ort
        from rapidocr_onnxruntime import RapidOCR
        from importlib.metadata import version
    except ImportError as e:
        die(f"cannot import the peer ({e}): pip install rapidocr_onnxruntime==1.4.4")

    cv2.setNumThreads(1)
    labels_path = os.path.join(args.set, "labels.json")
    try:
        with open(labels_path, encoding="utf-8") as f:
            labels = json.load(f)
    except (OSError, ValueError) as e:
        die(f"{labels_path}: {e}")

    engine = RapidOCR(intra_op_num_threads=1, inter_op_num_threads=1)
    # Crops that need the detector (vertical codes, two-row plates): its
    # default resizes the *shorter* side up to 736 px, which makes a 50x450
    # column 736x6600 (seconds per crop); limit the longer side instead.
    crop_engine = RapidOCR(
        intra_op_num_threads=1,
        inter_op_num_threads=1,
        det_limit_type="max",
        det_limit_side_len=960,
    )
    opts = engine.text_rec.session.session.get_session_options()
    print(
        json.dumps(
            {
                "peer": "rapidocr_onnxruntime",
                "rapidocr": version("rapidocr_onnxruntime"),
                "onnxruntime": ort.__version__,
                "threads": {
                    "intra_op": opts.intra_op_num_threads,
                    "inter_op": opts.inter_op_num_threads,
                    "opencv": cv2.getNumThreads(),
                },
            }
        ),
        flush=True,
    )

    def mode(s):
        cat = s["category"]
        if cat == "plate_crop":
            return "crop_det_rec" if s.get("two_row") else "rec"
        if cat == "code_crop":
            return "rec" if s.get("layout") == "horizontal" else "crop_det_rec"
        return "det_rec"

    def run(img, m):
        if m == "rec":
            res, _ = engine(img, use_det=False, use_cls=False, use_rec=True)
            lines = [{"text": str(t), "score": float(sc), "box": None} for t, sc in (res or [])]
        else:
            e = crop_engine if m == "crop_det_rec" else engine
            res, _ = e(img, use_det=True, use_cls=False, use_rec=True)
            lines = [
                {"text": str(t), "score": float(sc), "box": [[float(v) for v in pt] for pt in box]}
                for box, t, sc in (res or [])
            ]
        return lines

    samples = labels.get("samples", [])
    if args.limit > 0:
        seen = {}
        kept = []
        for s in samples:
            n = seen.get(s["category"], 0)
            if n < args.limit:
                kept.append(s)
            seen[s["category"]] = n + 1
        samples = kept

    # Warm-up: the first reads of each mode allocate; not timed, not reported.
    warmed = {}
    for s in samples:
        m = mode(s)
        if warmed.get(m, 0) >= args.warmup:
            continue
        img = cv2.imread(os.path.join(args.set, s["file"]), cv2.IMREAD_COLOR)
        if img is not None:
            run(img, m)
            warmed[m] = warmed.get(m, 0) + 1

    # Peak RSS over the timed loop: reset the high-water mark (Linux).
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for s in samples:
        path = os.path.join(args.set, s["file"])
        img = cv2.imread(path, cv2.IMREAD_COLOR)
        if img is None:
            print(json.dumps({"id": s["id"], "error": f"cannot read {path}"}), flush=True)
            continue
        t0 = time.perf_counter()
        lines = run(img, mode(s))
        ms = (time.perf_counter() - t0) * 1000.0
        text = lines[0]["text"] if mode(s) == "rec" and lines else " ".join(l["text"] for l in lines)
        print(
            json.dumps({"id": s["id"], "text": text, "ms": ms, "mode": mode(s), "lines": lines}, ensure_ascii=False),
            flush=True,
        )
    # CPU seconds over wall seconds of the loop: about 1.0 means one core.
    wall = time.perf_counter() - wall0
    print(
        json.dumps({"cpu_per_wall": (time.process_time() - cpu0) / max(wall, 1e-9), "peak_rss_kib": peak_rss_kib()}),
        flush=True,
    )


def peak_rss_kib():
    """VmHWM of this process (since the reset before the timed loop), KiB."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return float(line.split()[1])
    except OSError:
        pass
    return None


if __name__ == "__main__":
    main()
