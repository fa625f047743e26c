#!/usr/bin/env python3
"""gen2: the recognition evaluation's second, independent renderer (issue 17
item 1). Pillow/FreeType, nothing shared with the crate's own renderer
(sim::eval, sim/src/devices/camera/render.rs) and nothing computed by the
project's Rust code: the plates follow GA 36 and the container codes ISO 6346
with their check digit computed here.

Draws 1280x720 JPEG camera frames:
- plate frames: a truck's front (single-row plate on the bumper: blue, yellow,
  green and yellow-green new-energy, black 粤Z..港/澳, white 警, yellow 学) or
  its rear (yellow two-row plate, trailer 挂, yellow-green), the plate in a
  holder with the dealer's text, screws, the plate's own border, grille
  lettering, headlights;
- container-code frames: a corrugated container door with its code painted
  on it (horizontal line or vertical column, check digit boxed or not), worn
  paint, the size/type code, the weights block, the owner's name, locking
  bars, a port-yard background;
under one condition each (day, dirt, glare, night infrared grey, motion
blur, rain) and, for every frame, a viewing angle (yaw up to 30 deg with
pitch and roll: a true perspective of the plate's or wall's plane), a
character height (12-40 px), brightness, sensor noise and JPEG quality.

The typefaces and the setting ranges of each split come from the fixed split
file (sim/eval/split.toml): the tune split and the report split share no
typeface and no setting value.

Deterministic: sample i of a category in a split is drawn from its own
random stream (sha256 of seed, split, category, index), so the same seed,
fonts and Pillow give the same bytes, and sample i does not depend on how
many others are drawn.

Usage:
  gen2.py --split tune|report --out DIR [--seed S] [--plates N] [--codes N]
          [--config sim/eval/split.toml]
  gen2.py --check [--config ...]   # self-test: check digits, plate grammar,
                                   # every font present and covering its glyphs

Writes DIR/labels.json ({"generator": "gen2", "split", "seed", "samples":
[{"id", "category": "plate_frame"|"code_frame", "file", "width", "height",
"split", "renderer", "condition", "fonts", "params", "plate", "colour",
"two_row", "view" | "code", "layout", "boxed", "size_type"}]}) and the JPEG
files under DIR/plate_frames/ and DIR/code_frames/.

Needs Pillow (13.0.0 pinned by the bench) and numpy, and the Debian font
packages named in the split file (`cargo xtask bench recognition` installs
them).
"""

import argparse
import hashlib
import io
import json
import math
import os
import random
import sys

try:
    import tomllib
except ImportError:  # Python < 3.11
    tomllib = None

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

FRAME_W, FRAME_H = 1280, 720
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # no __pycache__ in the source tree
DEFAULT_CONFIG = os.path.join(HERE, "split.toml")

from gen2_labels import (  # noqa: E402  (the labels: pure Python, tested alone)
    DIGITS,
    PLATE_LETTERS,
    PROVINCES,
    SUFFIXES,
    CODE_LETTERS,
    iso6346_check,
    iso6346_value,
    plate_valid,
    random_code,
    random_plate,
)

SIZE_TYPES = ["22G1", "42G1", "45G1", "45R1", "22T1", "L5G1", "22U1", "45U1"]
OWNER_WORDS = ["OCEAN", "PACIFIC", "TRITON", "CAI", "TEXTAINER", "SEACO", "ORIENT", "HAINAN", "STAR", "GLOBAL", "MARINE", "LINES", "EXPRESS", "CONTAINER"]
DEALER_TEXT = ["汽车销售服务有限公司", "重汽4S店", "物流运输", "海口港务", "欢迎光临", "服务热线", "货运有限公司", "平安出行"]

# ---------------------------------------------------------------- config


def load_config(path):
    with open(path, "rb") as f:
        data = f.read()
    if tomllib is None:
        sys.exit("gen2: Python 3.11+ (tomllib) is needed to read " + path)
    return tomllib.loads(data.decode("utf-8"))


def draw_range(rng, intervals):
    """Uniform over the union of [lo, hi] intervals."""
    total = sum(hi - lo for lo, hi in intervals)
    u = rng.random() * total
    for lo, hi in intervals:
        if u <= hi - lo:
            return lo + u
        u -= hi - lo
    return intervals[-1][1]


class Fonts:
    """The split's fonts, loaded on demand by (family, pixel size)."""

    def __init__(self, entries):
        self.entries = entries
        self.cache = {}
        self.index = {}

    def _index(self, e):
        key = e["family"]
        if key not in self.index:
            i = 0
            found = None
            while True:
                try:
                    f = ImageFont.truetype(e["file"], 20, index=i)
                except OSError:
                    break
                if f.getname()[0] == e.get("face", e["family"]):
                    found = i
                    break
                i += 1
            if found is None:
                raise SystemExit(f"gen2: no face `{e['family']}` in {e['file']} (Debian package {e['package']})")
            self.index[key] = found
        return self.index[key]

    def get(self, e, size):
        size = max(4, int(round(size)))
        k = (e["family"], size)
        if k not in self.cache:
            self.cache[k] = ImageFont.truetype(e["file"], size, index=self._index(e))
        return self.cache[k]


def split_fonts(cfg, split, script):
    out = [f for f in cfg["fonts"] if f["split"] == split and f["script"] == script]
    if not out:
        raise SystemExit(f"gen2: no {script} font in split {split}")
    return out


# ---------------------------------------------------------------- drawing helpers


def glyph_mask(font, ch):
    """The glyph's ink as an L image cropped to its ink box (None if blank)."""
    size = font.size
    img = Image.new("L", (int(size * 2.2) + 8, int(size * 1.8) + 8), 0)
    ImageDraw.Draw(img).text((4, 4), ch, font=font, fill=255)
    box = img.getbbox()
    if box is None:
        return None
    return img.crop(box)


def paste_glyph(layer, fonts, fe, ch, box, colour, squeeze=True, render_scale=2.5):
    """Draws `ch` into the cell box (x0, y0, x1, y1) of an RGBA layer: scaled
    to the cell's height, narrowed to its width when wider (as plate makers
    fit a typeface to the GA 36 cell), centred."""
    x0, y0, x1, y1 = box
    cw, ch_px = x1 - x0, y1 - y0
    if cw < 1 or ch_px < 1:
        return
    font = fonts.get(fe, max(8, ch_px * render_scale))
    m = glyph_mask(font, ch)
    if m is None:
        return
    gw, gh = m.size
    sy = ch_px / gh
    sx = sy
    if squeeze and gw * sx > cw:
        sx = cw / gw
    tw, th = max(1, int(round(gw * sx))), max(1, int(round(gh * sy)))
    m = m.resize((tw, th), Image.LANCZOS)
    px = int(round(x0 + (cw - tw) / 2))
    py = int(round(y0 + (ch_px - th) / 2))
    solid = Image.new("RGBA", (tw, th), tuple(colour) + (255,))
    layer.paste(solid, (px, py), m)


def text_line(layer, font, xy, text, colour):
    ImageDraw.Draw(layer).text(xy, text, font=font, fill=tuple(colour) + (255,))


def jitter(rng, c, d=20):
    return tuple(max(0, min(255, int(v + rng.uniform(-d, d)))) for v in c)


def homography(src, dst):
    """Coefficients (a..h) mapping dst points to src points (PIL's
    PERSPECTIVE transform maps output to input)."""
    A, b = [], []
    for (xs, ys), (xd, yd) in zip(src, dst):
        A.append([xd, yd, 1, 0, 0, 0, -xs * xd, -xs * yd])
        A.append([0, 0, 0, xd, yd, 1, -ys * xd, -ys * yd])
        b += [xs, ys]
    return np.linalg.solve(np.array(A, float), np.array(b, float)).tolist()


def project(points, pivot, dest, yaw, pitch, roll, dist):
    """Points of a plane (layer pixels), rotated about `pivot` by yaw (about
    the vertical axis), pitch and roll, seen by a pinhole camera at `dist`
    pixels; `pivot` lands on `dest`."""
    cy, sy = math.cos(yaw), math.sin(yaw)
    cp, sp = math.cos(pitch), math.sin(pitch)
    cr, sr = math.cos(roll), math.sin(roll)
    out = []
    for (u, v) in points:
        x, y, z = u - pivot[0], v - pivot[1], 0.0
        # yaw (about y)
        x, z = cy * x + sy * z, -sy * x + cy * z
        # pitch (about x)
        y, z = cp * y - sp * z, sp * y + cp * z
        # roll (about the optical axis)
        x, y = cr * x - sr * y, sr * x + cr * y
        k = dist / (dist + z)
        out.append((dest[0] + x * k, dest[1] + y * k))
    return out


def warp_onto(frame, layer, pivot, dest, yaw, pitch, roll, dist, marks=()):
    """Warps an RGBA layer by the plane's pose and composites it on the RGB
    frame; returns the marks (layer points) as frame points."""
    w, h = layer.size
    corners = [(0, 0), (w, 0), (w, h), (0, h)]
    dst = project(corners, pivot, dest, yaw, pitch, roll, dist)
    coeffs = homography(corners, dst)
    warped = layer.transform(frame.size, Image.PERSPECTIVE, coeffs, Image.BICUBIC)
    frame.paste(warped, (0, 0), warped)
    return project(marks, pivot, dest, yaw, pitch, roll, dist)


# ---------------------------------------------------------------- plates

PLATE_COLOURS = {
    # background, text
    "blue": ((18, 62, 168), (245, 245, 245)),
    "yellow": ((246, 190, 22), (18, 18, 18)),
    "green": ((120, 200, 120), (18, 18, 18)),
    "yellow_green": ((170, 205, 60), (18, 18, 18)),
    "black": ((16, 16, 16), (240, 240, 240)),
    "white": ((238, 238, 232), (18, 18, 18)),
}


def plate_cells(text, two_row, s):
    """(plate size px, [(char, cell box px, is_upper_row)]) by GA 36's
    dimensions in mm at s px/mm."""
    n = len(text)
    cells = []
    if two_row:
        W, H = 440, 220
        ux = [110, 250]
        for i in range(2):
            cells.append((text[i], (ux[i], 15, ux[i] + 80, 75)))
        x = 27.5
        for c in text[2:]:
            cells.append((c, (x, 90, x + 65, 200)))
            x += 80
    elif n == 8:
        W, H = 480, 140
        cw, gap, big = 43, 9, 51
        x = 15.5
        for i, c in enumerate(text):
            cells.append((c, (x, 25, x + cw, 115)))
            x += cw + (big if i == 1 else gap)
    else:
        W, H = 440, 140
        cw, gap, big = 45, 12, 34
        x = 15.5
        for i, c in enumerate(text):
            cells.append((c, (x, 25, x + cw, 115)))
            x += cw + (big if i == 1 else gap)
    out = [(c, tuple(v * s for v in b)) for c, b in cells]
    return (W * s, H * s), out


def draw_plate(rng, fonts, cjk, latin, text, colour, two_row, s):
    """The plate with its holder, as an RGBA image; (image, text box in it)."""
    (pw, ph), cells = plate_cells(text, two_row, s)
    rim = rng.uniform(10, 22) * s
    bottom = rim + rng.uniform(12, 30) * s
    W, H = int(pw + 2 * rim), int(ph + rim + bottom)
    img = Image.new("RGBA", (W, H), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    holder = rng.choice([(20, 20, 22), (150, 150, 155), (190, 190, 195), (60, 20, 20)])
    d.rounded_rectangle((0, 0, W - 1, H - 1), radius=max(1, int(12 * s)), fill=holder + (255,))
    ox, oy = rim, rim
    bg, fg = PLATE_COLOURS[colour]
    bg = jitter(rng, bg, 12)
    if colour == "green":
        # New-energy small plates: white to green gradient, top to bottom.
        grad = Image.new("RGBA", (int(pw), int(ph)))
        gd = ImageDraw.Draw(grad)
        for y in range(int(ph)):
            t = y / max(1, ph - 1)
            c = tuple(int(a + (b - a) * t) for a, b in zip((235, 245, 235), (70, 180, 90)))
            gd.line((0, y, pw, y), fill=c + (255,))
        img.paste(grad, (int(ox), int(oy)))
    else:
        d.rectangle((ox, oy, ox + pw, oy + ph), fill=bg + (255,))
    # The plate's own border line.
    inset, lw = 3 * s, max(1, int(round(rng.uniform(1.2, 2.0) * s)))
    d.rounded_rectangle((ox + inset, oy + inset, ox + pw - inset, oy + ph - inset), radius=max(1, int(6 * s)), outline=tuple(fg) + (255,), width=lw)
    # Characters: CJK family for Chinese, Latin family (or the CJK font's own
    # Latin glyphs, 30 %) for letters and digits.
    own_latin = rng.random() < 0.3 and cjk.get("own_latin", True)
    for c, (x0, y0, x1, y1) in cells:
        chinese = c in PROVINCES or c in SUFFIXES
        fe = cjk if (chinese or own_latin) else latin
        col = fg
        if c == "警":
            col = (200, 20, 20)
        paste_glyph(img, fonts, fe, c, (ox + x0, oy + y0, ox + x1, oy + y1), col)
    if not two_row and len(text) == 7:
        # The separating dot.
        cx = ox + cells[1][1][2] + (cells[2][1][0] - cells[1][1][2]) / 2
        cy = oy + 70 * s
        r = max(1, 4 * s)
        d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=tuple(fg) + (255,))
    # Screws: 2 or 4, in the plate's holes.
    n_screws = rng.choice([2, 2, 4])
    ys = [oy + 11 * s] if n_screws == 2 else [oy + 11 * s, oy + ph - 11 * s]
    for y in ys:
        for fx in (0.24, 0.76):
            x = ox + pw * fx + rng.uniform(-6, 6) * s
            r = max(1.5, rng.uniform(5, 8) * s)
            metal = rng.choice([(170, 170, 175), (200, 190, 150), (90, 90, 95), tuple(bg)])
            d.ellipse((x - r, y - r, x + r, y + r), fill=metal + (255,), outline=(60, 60, 60, 255))
            d.line((x - r * 0.6, y, x + r * 0.6, y), fill=(50, 50, 50, 255), width=max(1, int(r / 4)))
    # The holder's text (a dealer's name and phone), other text near the plate.
    if bottom > 6:
        words = rng.choice(DEALER_TEXT)
        if cjk.get("own_latin", True):
            words += " 0898-" + "".join(rng.choice(DIGITS) for _ in range(7))
        fsize = max(5, (bottom - rim) * rng.uniform(0.45, 0.7))
        font = fonts.get(cjk, fsize)
        tw = ImageDraw.Draw(img).textlength(words, font=font)
        tcol = (230, 230, 230) if sum(holder) < 300 else (30, 30, 30)
        text_line(img, font, ((W - tw) / 2, oy + ph + (bottom - fsize) / 2.5), words, tcol)
    box = (ox, oy, ox + pw, oy + ph)
    return img, box


def truck_face(rng, fonts, latin, view, plate_img, s_plate):
    """The truck's front or rear as an RGBA layer with the plate on it; (layer,
    plate centre in it). Dimensions in mm scaled by s_plate px/mm."""
    s = s_plate
    W, H = int(2400 * s), int(1350 * s)
    img = Image.new("RGBA", (W, H), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    paint = rng.choice([(200, 30, 30), (30, 70, 160), (230, 230, 225), (240, 170, 20), (40, 120, 60), (70, 70, 75), (120, 20, 20)])
    paint = jitter(rng, paint, 15)
    pw, ph = plate_img.size
    if view == "front":
        d.rectangle((0, 0, W, int(1250 * s)), fill=paint + (255,))
        # Windshield.
        d.rectangle((int(100 * s), 0, int(2300 * s), int(330 * s)), fill=jitter(rng, (50, 70, 90), 15) + (255,))
        # Grille with bars and a maker's name.
        gx0, gx1 = int(520 * s), int(1880 * s)
        d.rectangle((gx0, int(400 * s), gx1, int(880 * s)), fill=(30, 30, 32, 255))
        for y in range(int(430 * s), int(870 * s), max(2, int(55 * s))):
            d.rectangle((gx0 + 5, y, gx1 - 5, y + max(1, int(18 * s))), fill=(150, 150, 155, 255))
        brand = "".join(rng.choice("ABCDEFGHKLMNRSTUVX") for _ in range(rng.randint(3, 7)))
        bf = fonts.get(latin, 70 * s)
        tw = d.textlength(brand, font=bf)
        d.text(((W - tw) / 2, int(300 * s)), brand, font=bf, fill=(225, 225, 225, 255))
        # Headlights.
        for x0 in (80, 1900):
            d.rectangle((int(x0 * s), int(560 * s), int((x0 + 420) * s), int(760 * s)), fill=(235, 235, 220, 255), outline=(80, 80, 80, 255))
        # Bumper.
        d.rectangle((0, int(930 * s), W, int(1250 * s)), fill=jitter(rng, (45, 45, 48), 10) + (255,))
        cx = W / 2 + rng.uniform(-150, 150) * s
        cy = 1090 * s
    else:
        # A trailer's rear: doors, bars, lights, underride guard.
        d.rectangle((0, 0, W, int(1000 * s)), fill=paint + (255,))
        for fx in (0.5,):
            d.line((W * fx, 0, W * fx, int(1000 * s)), fill=(40, 40, 40, 255), width=max(1, int(10 * s)))
        for fx in (0.18, 0.38, 0.62, 0.82):
            d.rectangle((W * fx - 20 * s, 0, W * fx + 20 * s, int(1000 * s)), fill=(110, 110, 115, 255))
        d.rectangle((0, int(1000 * s), W, int(1350 * s)), fill=(35, 35, 38, 255))
        for x0 in (60, 2040):
            d.rectangle((int(x0 * s), int(1060 * s), int((x0 + 300) * s), int(1180 * s)), fill=(200, 20, 20, 255))
        d.rectangle((int(100 * s), int(1260 * s), W - int(100 * s), int(1330 * s)), fill=(220, 120, 20, 255))
        cx = W / 2 + rng.uniform(-500, 500) * s
        cy = 1000 * s + ph / 2 + 20 * s
    img.paste(plate_img, (int(cx - pw / 2), int(cy - ph / 2)), plate_img)
    return img, (cx, cy)


def background(rng, kind):
    """A lane's or a yard's background as RGB."""
    img = Image.new("RGB", (FRAME_W, FRAME_H))
    d = ImageDraw.Draw(img)
    horizon = int(FRAME_H * rng.uniform(0.25, 0.45))
    sky = jitter(rng, (150, 175, 200), 25)
    for y in range(horizon):
        t = y / max(1, horizon)
        d.line((0, y, FRAME_W, y), fill=tuple(int(c * (0.8 + 0.2 * t)) for c in sky))
    ground = jitter(rng, (105, 105, 100), 20)
    d.rectangle((0, horizon, FRAME_W, FRAME_H), fill=ground)
    if kind == "lane":
        for x in (FRAME_W * 0.1, FRAME_W * 0.9):
            d.polygon([(x - 10, FRAME_H), (x + 10, FRAME_H), (FRAME_W / 2 + 3, horizon), (FRAME_W / 2 - 3, horizon)], fill=(220, 220, 210))
        # A booth and a barrier post.
        bx = rng.choice([40, FRAME_W - 240])
        d.rectangle((bx, horizon - 200, bx + 200, horizon + 120), fill=jitter(rng, (210, 210, 200)))
    else:
        # Other boxes in the yard.
        x = -rng.randint(0, 200)
        while x < FRAME_W:
            w = rng.randint(200, 500)
            top = horizon - rng.randint(60, 260)
            d.rectangle((x, top, x + w, horizon + 150), fill=jitter(rng, rng.choice([(160, 50, 40), (40, 80, 140), (60, 120, 70), (180, 180, 175)]), 20))
            x += w + rng.randint(5, 40)
    return img


# ---------------------------------------------------------------- containers


def code_layer(rng, fonts, latin, code, layout, boxed, size_type, s, wear, np_rng):
    """The container door as an RGBA layer with its code; (layer, code box
    in it)."""
    W, H = int(2438 * s), int(2591 * s)
    paint = jitter(rng, rng.choice([(170, 40, 35), (35, 75, 140), (50, 115, 70), (185, 185, 180), (200, 110, 30), (120, 70, 40), (225, 225, 220), (230, 180, 40)]), 18)
    light = sum(paint) > 450
    ink = (25, 25, 25) if light else (240, 240, 235)
    img = Image.new("RGBA", (W, H), paint + (255,))
    ch = 100 * s  # character height px (the set's char height)
    font = fonts.get(latin, ch * 1.35)
    text = Image.new("L", (W, H), 0)  # the paint's mask
    td = ImageDraw.Draw(text)
    owner, serial, cd = code[:4], code[4:10], code[10]

    def draw_str(x, y, string, fnt):
        td.text((x, y), string, font=fnt, fill=255)
        return td.textbbox((x, y), string, font=fnt)

    def box_digit(x, y, fnt):
        b = td.textbbox((x, y), cd, font=fnt)
        pad = ch * rng.uniform(0.12, 0.25)
        td.rectangle((b[0] - pad, b[1] - pad, b[2] + pad, b[3] + pad), outline=255, width=max(1, int(ch * rng.uniform(0.06, 0.1))))
        td.text((x, y), cd, font=fnt, fill=255)
        return (b[0] - pad, b[1] - pad, b[2] + pad, b[3] + pad)

    margin = 150 * s
    if layout == "horizontal":
        space = font.getlength(" ") * rng.uniform(0.8, 2.0)
        w_total = font.getlength(owner) + font.getlength(serial) + font.getlength(cd) + 3 * space
        x = W - margin - w_total - rng.uniform(0, 500) * s
        y = margin + rng.uniform(0, 300) * s
        b1 = draw_str(x, y, owner, font)
        x = b1[2] + space
        b2 = draw_str(x, y, serial, font)
        x = b2[2] + space
        b3 = box_digit(x, y, font) if boxed else draw_str(x, y, cd, font)
        box = (b1[0], min(b1[1], b3[1]), b3[2], max(b2[3], b3[3]))
        # Size/type under it, the weights block under that.
        st = draw_str(b1[0], box[3] + ch * 0.5, size_type, font)
        below = st[3] + ch * 0.6
        left = b1[0]
    else:
        x = W - margin - ch * 1.2 - rng.uniform(0, 200) * s
        y = margin
        step = ch * rng.uniform(1.2, 1.45)
        boxes = []
        for c in owner + serial:
            cw = font.getlength(c)
            boxes.append(draw_str(x + (ch * 0.8 - cw) / 2, y, c, font))
            y += step
        cw = font.getlength(cd)
        bx = (x + (ch * 0.8 - cw) / 2, y + ch * 0.15)
        boxes.append(box_digit(*bx, font) if boxed else draw_str(*bx, cd, font))
        box = (min(b[0] for b in boxes), boxes[0][1], max(b[2] for b in boxes), boxes[-1][3])
        # Size/type to the left of the column, top.
        st = draw_str(box[0] - ch * 3.6, margin, size_type, font)
        below = st[3] + ch * 0.8
        left = st[0] - ch * 2
    # Other text: the weights block and the owner's name.
    small = fonts.get(latin, ch * rng.uniform(0.45, 0.6))
    gross = rng.randint(24000, 34000)
    tare = rng.randint(2100, 4200)
    lines = [f"MAX.GROSS {gross:,} KG".replace(",", rng.choice([",", "."])), f"{int(gross * 2.2046):,} LB", f"TARE {tare:,} KG", f"NET {gross - tare:,} KG"]
    yy = below
    for ln in lines:
        td.text((max(0, left), yy), ln, font=small, fill=255)
        yy += small.size * 1.25
    name = rng.choice(OWNER_WORDS)
    big = fonts.get(latin, ch * rng.uniform(1.6, 2.6))
    td.text((120 * s, H * rng.uniform(0.45, 0.6)), name, font=big, fill=255)
    # Worn paint: low-frequency patches and fine speckle removed.
    if wear > 0:
        # Patches about 40 mm across (0.4 of a character), whatever the scale.
        small_w, small_h = 61, 65
        field = np_rng.random((small_h, small_w)).astype(np.float32)
        field = np.asarray(Image.fromarray((field * 255).astype(np.uint8)).resize((W, H), Image.BICUBIC), np.float32) / 255
        speck = np_rng.random((H, W)).astype(np.float32)
        keep = (field > wear * 0.7) & (speck > wear * 0.5)
        m = np.asarray(text, np.float32) * keep
        text = Image.fromarray(m.astype(np.uint8))
    ink_img = Image.new("RGBA", (W, H), ink + (255,))
    img.paste(ink_img, (0, 0), text)
    # Locking bars, clear of the code.
    d = ImageDraw.Draw(img)
    for fx in (0.12, 0.3, 0.56, 0.74, 0.92):
        x = W * fx
        if box[0] - 40 * s < x < box[2] + 40 * s:
            continue
        d.rectangle((x - 22 * s, 0, x + 22 * s, H), fill=(95, 95, 100, 255))
        for yb in (0.3, 0.7):
            d.rectangle((x - 45 * s, H * yb, x + 45 * s, H * yb + 60 * s), fill=(80, 80, 85, 255))
    # Corrugation: vertical trapezoidal shading over everything painted.
    period = rng.uniform(180, 300) * s
    xs = np.arange(W, dtype=np.float32)
    phase = (xs / max(period, 1.0) + rng.random()) % 1.0
    shade = np.where(phase < 0.35, 1.0, np.where(phase < 0.5, 0.78, np.where(phase < 0.85, 0.9, 1.08))).astype(np.float32)
    shade = np.asarray(Image.fromarray((shade[None, :] * 100).astype(np.uint8)).resize((W, 1), Image.BILINEAR), np.float32)[0] / 100
    a = np.asarray(img, np.float32)
    a[..., :3] *= shade[None, :, None]
    # Rust streaks.
    for _ in range(rng.randint(2, 8)):
        x0 = rng.randint(0, max(1, W - 1))
        w = max(1, int(rng.uniform(5, 30) * s))
        y0 = rng.randint(0, max(1, H // 2))
        a[y0:, x0:x0 + w, :3] = a[y0:, x0:x0 + w, :3] * 0.85 + np.array([110, 60, 30], np.float32) * 0.15
    img = Image.fromarray(np.clip(a, 0, 255).astype(np.uint8), "RGBA")
    return img, box


# ---------------------------------------------------------------- conditions


def apply_condition(rng, np_rng, frame, cond, p, text_quad, char_h, cfg_split):
    """Applies the frame's condition, brightness and noise; returns the RGB
    frame and the condition's parameter."""
    a = np.asarray(frame, np.float32)
    xs = [q[0] for q in text_quad]
    ys = [q[1] for q in text_quad]
    bx0, bx1, by0, by1 = min(xs), max(xs), min(ys), max(ys)
    extra = {}
    if cond == "dirt":
        cover = draw_range(rng, cfg_split["dirt_cover"])
        extra["dirt_cover"] = round(cover, 3)
        area = max(1.0, (bx1 - bx0) * (by1 - by0))
        target = cover * area
        done = 0.0
        mask = Image.new("L", frame.size, 0)
        md = ImageDraw.Draw(mask)
        while done < target:
            r = char_h * rng.uniform(0.12, 0.35)
            x = rng.uniform(bx0, bx1)
            y = rng.uniform(by0, by1)
            md.ellipse((x - r, y - r * 0.7, x + r, y + r * 0.7), fill=int(255 * rng.uniform(0.35, 0.7)))
            done += math.pi * r * r * 0.7
        # Splashes over the lower half of the frame too.
        for _ in range(rng.randint(20, 60)):
            r = rng.uniform(2, 10)
            x, y = rng.uniform(0, FRAME_W), rng.uniform(FRAME_H * 0.5, FRAME_H)
            md.ellipse((x - r, y - r, x + r, y + r), fill=int(255 * rng.uniform(0.2, 0.5)))
        mask = mask.filter(ImageFilter.GaussianBlur(max(0.5, char_h * 0.05)))
        m = np.asarray(mask, np.float32)[..., None] / 255
        mud = np.array(jitter(rng, (95, 80, 60), 15), np.float32)
        a = a * (1 - m) + mud * m
    elif cond == "glare":
        peak = draw_range(rng, cfg_split["glare"])
        extra["glare"] = round(peak, 3)
        cx = rng.uniform(bx0, bx1)
        cy = rng.uniform(by0, by1)
        rx = max(char_h, (bx1 - bx0) * rng.uniform(0.3, 0.7))
        ry = rx * rng.uniform(0.3, 0.8)
        yy, xx = np.mgrid[0:FRAME_H, 0:FRAME_W].astype(np.float32)
        g = np.exp(-(((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2))
        a = a + 255 * peak * g[..., None]
    elif cond == "night_ir":
        gain = draw_range(rng, cfg_split["night_gain"])
        extra["night_gain"] = round(gain, 3)
        # Near infrared: red-heavy grey, the illuminator's falloff, the
        # plate's / paint's reflection brighter than the surroundings.
        grey = a[..., 0] * 0.6 + a[..., 1] * 0.3 + a[..., 2] * 0.1
        yy, xx = np.mgrid[0:FRAME_H, 0:FRAME_W].astype(np.float32)
        cx, cy = (bx0 + bx1) / 2, (by0 + by1) / 2
        fall = np.exp(-(((xx - cx) / (FRAME_W * 0.45)) ** 2 + ((yy - cy) / (FRAME_H * 0.5)) ** 2))
        lift = np.zeros_like(grey)
        lift[int(max(0, by0 - char_h)):int(by1 + char_h), int(max(0, bx0 - char_h)):int(bx1 + char_h)] = 1
        lift = np.asarray(Image.fromarray((lift * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(char_h * 0.5)), np.float32) / 255
        grey = grey * gain * (0.4 + 0.6 * fall) * (1 + 0.8 * lift)
        a = np.repeat(grey[..., None], 3, axis=2)
        a = a + np_rng.normal(0, 4, a.shape[:2])[..., None]
    elif cond == "motion_blur":
        frac = draw_range(rng, cfg_split["motion_blur"])
        n = max(2, int(round(frac * char_h)))
        extra["motion_blur_px"] = n
        ang = rng.choice([0.0, 0.0, 90.0, rng.uniform(-30, 30)])
        dx, dy = math.cos(math.radians(ang)), math.sin(math.radians(ang))
        acc = np.zeros_like(a)
        for k in range(n):
            t = k - (n - 1) / 2
            acc += np.roll(a, (int(round(t * dy)), int(round(t * dx))), axis=(0, 1))
        a = acc / n
    elif cond == "rain":
        dens = draw_range(rng, cfg_split["rain"])
        extra["rain"] = round(dens, 2)
        a = a * 0.8
        layer = Image.new("L", frame.size, 0)
        ld = ImageDraw.Draw(layer)
        slant = rng.uniform(-0.3, 0.3)
        for _ in range(int(dens * FRAME_W * FRAME_H / 10000)):
            x, y = rng.uniform(0, FRAME_W), rng.uniform(0, FRAME_H)
            length = rng.uniform(10, 40)
            ld.line((x, y, x + slant * length, y + length), fill=int(rng.uniform(40, 110)), width=1)
        # Drops on the lens over the text area.
        for _ in range(rng.randint(3, 10)):
            r = char_h * rng.uniform(0.15, 0.5)
            x, y = rng.uniform(bx0, bx1), rng.uniform(by0, by1)
            ld.ellipse((x - r, y - r, x + r, y + r), fill=int(rng.uniform(30, 80)))
        layer = layer.filter(ImageFilter.GaussianBlur(0.8))
        a = a + np.asarray(layer, np.float32)[..., None]
        a = np.asarray(Image.fromarray(np.clip(a, 0, 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(0.6)), np.float32)
    a = a * p["brightness"]
    if p["noise"] > 0:
        a = a + np_rng.normal(0, p["noise"], a.shape)
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8), "RGB"), extra


# ---------------------------------------------------------------- samples


def sample_rngs(seed, split, cat, i):
    h = hashlib.sha256(f"gen2/{seed}/{split}/{cat}/{i}".encode()).digest()
    k = int.from_bytes(h[:8], "little")
    return random.Random(k), np.random.default_rng(k)


def common_params(rng, st):
    return {
        "char_h": draw_range(rng, st["char_height_px"]),
        "jpeg_quality": int(round(draw_range(rng, st["jpeg_quality"]))),
        "yaw_deg": draw_range(rng, st["yaw_deg"]) * rng.choice([-1, 1]),
        "brightness": draw_range(rng, st["brightness"]),
        "noise": draw_range(rng, st["noise"]),
    }


def place(rng, lo, hi, extent, size):
    """A centre coordinate drawn in [lo, hi] x size that keeps an extent
    (with a margin for the perspective's enlargement) inside the frame."""
    m = extent * 0.6 + 10
    a, b = max(lo * size, m), min(hi * size, size - m)
    if a > b:
        return size / 2
    return rng.uniform(a, b)


def pose(rng, p):
    yaw = p["yaw_deg"]
    pitch = rng.uniform(-1, 1) * abs(yaw) / 3
    roll = rng.uniform(-3, 3)
    p["pitch_deg"], p["roll_deg"] = pitch, roll
    return math.radians(yaw), math.radians(pitch), math.radians(roll)


def encode(frame, q):
    buf = io.BytesIO()
    frame.save(buf, "JPEG", quality=q, subsampling=2 if q < 80 else 0, optimize=False)
    return buf.getvalue()


def plate_sample(cfg, fonts, split, seed, i):
    rng, np_rng = sample_rngs(seed, split, "plate_frame", i)
    st = {k: v[split] for k, v in cfg["settings"].items()}
    conds = st["conditions"]
    cond = conds[i % len(conds)]
    p = common_params(rng, st)
    view = "front" if rng.random() < 0.55 else "rear"
    text, colour, two_row = random_plate(rng, view)
    assert plate_valid(text), text
    cjk = rng.choice(split_fonts(cfg, split, "cjk"))
    latin = rng.choice(split_fonts(cfg, split, "latin"))
    # char_h is the smallest characters' height: a two-row plate's upper
    # row (60 mm), else the row (90 mm).
    s = p["char_h"] / (60.0 if two_row else 90.0)
    plate_img, tbox = draw_plate(rng, fonts, cjk, latin, text, colour, two_row, s)
    face, pc = truck_face(rng, fonts, latin, view, plate_img, s)
    frame = background(rng, "lane")
    dest = (rng.uniform(0.25, 0.75) * FRAME_W, rng.uniform(0.45, 0.8) * FRAME_H)
    yaw, pitch, roll = pose(rng, p)
    dist = FRAME_W * rng.uniform(1.2, 2.0)
    ox = pc[0] - plate_img.size[0] / 2
    oy = pc[1] - plate_img.size[1] / 2
    marks = [(ox + tbox[0], oy + tbox[1]), (ox + tbox[2], oy + tbox[1]), (ox + tbox[2], oy + tbox[3]), (ox + tbox[0], oy + tbox[3])]
    quad = warp_onto(frame, face, pc, dest, yaw, pitch, roll, dist, marks)
    # Camera's caption.
    cap = fonts.get(latin, 18)
    text_line(frame, cap, (12, 10), f"LANE {rng.randint(1, 12):02d}  2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d} {rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}", (255, 255, 255))
    frame, extra = apply_condition(rng, np_rng, frame, cond, p, quad, p["char_h"], st)
    p.update(extra)
    label = {
        "id": f"g2{split[0]}pf-{i:05d}",
        "category": "plate_frame",
        "file": f"plate_frames/g2{split[0]}pf-{i:05d}.jpg",
        "width": FRAME_W,
        "height": FRAME_H,
        "split": split,
        "renderer": "gen2",
        "condition": cond,
        "fonts": {"cjk": cjk["family"], "latin": latin["family"]},
        "params": {k: (round(v, 3) if isinstance(v, float) else v) for k, v in p.items()},
        "text_quad": [[round(x, 1), round(y, 1)] for x, y in quad],
        "plate": text,
        "colour": colour,
        "two_row": two_row,
        "view": view,
    }
    return label, encode(frame, p["jpeg_quality"])


def code_sample(cfg, fonts, split, seed, i):
    rng, np_rng = sample_rngs(seed, split, "code_frame", i)
    st = {k: v[split] for k, v in cfg["settings"].items()}
    conds = st["conditions"]
    cond = conds[i % len(conds)]
    p = common_params(rng, st)
    wear = draw_range(rng, st["wear"])
    p["wear"] = wear
    code = random_code(rng)
    assert iso6346_check(code[:10]) == int(code[10])
    layout = "vertical" if rng.random() < 0.3 else "horizontal"
    boxed = rng.random() < 0.7
    size_type = rng.choice(SIZE_TYPES)
    latin = rng.choice(split_fonts(cfg, split, "latin"))
    s = p["char_h"] / 100.0
    wall, box = code_layer(rng, fonts, latin, code, layout, boxed, size_type, s, wear, np_rng)
    frame = background(rng, "yard")
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    dest = (
        place(rng, 0.3, 0.7, box[2] - box[0], FRAME_W),
        place(rng, 0.25, 0.6, box[3] - box[1], FRAME_H),
    )
    yaw, pitch, roll = pose(rng, p)
    dist = FRAME_W * rng.uniform(1.2, 2.0)
    marks = [(box[0], box[1]), (box[2], box[1]), (box[2], box[3]), (box[0], box[3])]
    quad = warp_onto(frame, wall, (cx, cy), dest, yaw, pitch, roll, dist, marks)
    cap = fonts.get(latin, 18)
    text_line(frame, cap, (12, 10), f"GATE {rng.randint(1, 12):02d} CONTAINER  2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}", (255, 255, 255))
    frame, extra = apply_condition(rng, np_rng, frame, cond, p, quad, p["char_h"], st)
    p.update(extra)
    label = {
        "id": f"g2{split[0]}cf-{i:05d}",
        "category": "code_frame",
        "file": f"code_frames/g2{split[0]}cf-{i:05d}.jpg",
        "width": FRAME_W,
        "height": FRAME_H,
        "split": split,
        "renderer": "gen2",
        "condition": cond,
        "fonts": {"latin": latin["family"]},
        "params": {k: (round(v, 3) if isinstance(v, float) else v) for k, v in p.items()},
        "text_quad": [[round(x, 1), round(y, 1)] for x, y in quad],
        "code": code,
        "layout": layout,
        "boxed": boxed,
        "size_type": size_type,
    }
    return label, encode(frame, p["jpeg_quality"])


# ---------------------------------------------------------------- check


def check(cfg):
    """Self-test; exits 1 on a failure."""
    import gen2_labels

    bad = gen2_labels.check()
    # Fonts: present, named as the split file says, covering their glyphs.
    fonts = Fonts(cfg["fonts"])
    for e in cfg["fonts"]:
        if not os.path.exists(e["file"]):
            bad.append(f"{e['file']} missing (apt-get install {e['package']})")
            continue
        f = fonts.get(e, 40)
        notdef = glyph_mask(f, "\ue0ff")
        nd = notdef.tobytes() if notdef else b""
        if e["script"] == "cjk":
            chars = PROVINCES + SUFFIXES + (PLATE_LETTERS + DIGITS if e.get("own_latin", True) else "")
        else:
            chars = CODE_LETTERS + DIGITS
        for c in chars:
            m = glyph_mask(f, c)
            if m is None or (nd and m.tobytes() == nd):
                bad.append(f"{e['family']}: no glyph for {c}")
    for split in ("tune", "report"):
        fams = {e["family"] for e in cfg["fonts"] if e["split"] == split}
        other = {e["family"] for e in cfg["fonts"] if e["split"] != split}
        if fams & other:
            bad.append(f"fonts in both splits: {fams & other}")
    for name, v in cfg["settings"].items():
        if name == "conditions":
            continue
        for a in v["tune"]:
            for b in v["report"]:
                if a[0] < b[1] and b[0] < a[1]:
                    bad.append(f"{name}: tune {a} overlaps report {b}")
    if bad:
        print("gen2 check FAILED:\n  " + "\n  ".join(bad))
        sys.exit(1)
    print(f"gen2 check ok: {len(cfg['fonts'])} fonts, {len(cfg['settings'])} settings")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default=DEFAULT_CONFIG)
    ap.add_argument("--split", choices=["tune", "report"])
    ap.add_argument("--out")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--plates", type=int, default=150)
    ap.add_argument("--codes", type=int, default=150)
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    cfg = load_config(args.config)
    if args.check:
        check(cfg)
        return
    if not args.split or not args.out:
        ap.error("--split and --out are needed")
    fonts = Fonts(cfg["fonts"])
    os.makedirs(os.path.join(args.out, "plate_frames"), exist_ok=True)
    os.makedirs(os.path.join(args.out, "code_frames"), exist_ok=True)
    samples = []
    for kind, n, fn in (("plate", args.plates, plate_sample), ("code", args.codes, code_sample)):
        for i in range(n):
            label, data = fn(cfg, fonts, args.split, args.seed, i)
            with open(os.path.join(args.out, label["file"]), "wb") as f:
                f.write(data)
            samples.append(label)
    out = {
        "version": 1,
        "generator": "gen2",
        "split_version": cfg.get("version"),
        "split": args.split,
        "seed": args.seed,
        "pillow": Image.__version__,
        "counts": {"plate_frames": args.plates, "code_frames": args.codes},
        "samples": samples,
    }
    with open(os.path.join(args.out, "labels.json"), "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, indent=1)
    print(f"gen2: {len(samples)} frames of split {args.split} (seed {args.seed}) in {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
