#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (fuzz/corpus/<target>/seed-*).

Deterministic; run from anywhere: `python3 fuzz/seeds.py`. Envelopes are
signed with the simulated platform's test key (config/keys), as the
platform_inbound target expects; that needs python3-cryptography. Regression
inputs (crashes found and fixed) are kept beside the seeds as `crash-*` and
are not touched by this script.
"""
import base64
import json
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
CORPUS = ROOT / "fuzz" / "corpus"


def put(target, name, data):
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    (d / f"seed-{name}").write_bytes(data if isinstance(data, bytes) else data.encode())


# ---------------------------------------------------------------- Modbus RTU
def crc16(b):
    crc = 0xFFFF
    for x in b:
        crc ^= x
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return bytes([crc & 0xFF, crc >> 8])


def rtu(pdu_hex, unit=1):
    f = bytes([unit]) + bytes.fromhex(pdu_hex)
    return f + crc16(f)


def rtu_input(frames, unit=1, baud=1, strict=0, dt=0x40):
    # header (unit, baud index, silence mode), then (time step, length, bytes)
    out = bytes([unit, baud, strict])
    for f in frames:
        out += bytes([dt, len(f)]) + f
    return out


read_hr = rtu("03 0000 000A")
write_one = rtu("06 0001 0003")
write_many = rtu("10 0010 0002 04 000A 0102")
read_coils = rtu("01 0000 0013")
write_coils = rtu("0F 0013 000A 02 CD01")
put("rtu_decoder", "read-holding", rtu_input([read_hr]))
put("rtu_decoder", "write-single", rtu_input([write_one], strict=1))
put("rtu_decoder", "write-multiple", rtu_input([write_many, read_hr], baud=3))
put("rtu_decoder", "coils-split", rtu_input([read_coils[:3], read_coils[3:], write_coils], dt=0))
put("rtu_decoder", "broadcast-and-noise", rtu_input([rtu("06 0002 0001", unit=0), b"\xff\x00\x13", read_hr]))
mbap = bytes.fromhex("0001 0000 0006 01") + bytes.fromhex("03 0000 000A")
put("rtu_decoder", "mbap", mbap)

# ------------------------------------------------------- ASCII weighbridges
TOLEDO_32460 = bytes([0x02]) + b"10 032460000000\r" + bytes([0x21])
TOLEDO_NEG_120 = bytes([0x02]) + b"1: 000120000000\r"
TOLEDO_NET_T = b"\x02\x34\x31\x22012345001000\r"


def xk(value, decimals=0):
    body = (b"-" if value < 0 else b"+") + b"%06d" % abs(value) + bytes([0x30 + decimals])
    x = 0
    for c in body:
        x ^= c
    return b"\x02" + body + b"%02X" % x + b"\x03"


put("weighbridge_ascii", "toledo-cks", TOLEDO_32460)
put("weighbridge_ascii", "toledo-motion", TOLEDO_NEG_120)
put("weighbridge_ascii", "xk3190", xk(32460))
put("weighbridge_ascii", "xk3190-decimals", xk(-123456, 3))
# first byte seeds the split into reads, the rest is the serial stream
put("weighbridge_ascii", "toledo-stream", b"\x07" + b"\xffnoise\r\n" + TOLEDO_32460[:9] + TOLEDO_32460 * 3)
put("weighbridge_ascii", "toledo-stream-nocks", b"\x11" + TOLEDO_NEG_120 * 2 + TOLEDO_NET_T)
put("weighbridge_ascii", "xk3190-stream", b"\x83" + xk(32460) + xk(32480)[:5] + xk(32500) + b"\x00\x02" + xk(-120, 1))

# ------------------------------------------------------ platform -> lane
SITE, LANE, KID = "HK-XINHAI", "L03", "platform-test-1"
ISSUED = "2026-11-18T08:26:40.000Z"  # NOW_MS of the target
EXPIRES = "2026-11-18T08:36:40.000Z"

snapshot = {
    "schema": "gate.whitelist/1", "site": SITE, "kind": "snapshot", "version": 7,
    "chunk": {"index": 0, "count": 2}, "issued_at": ISSUED,
    "upserts": {
        "gate_passes": [{
            "pass_no": "HP2026000123", "status": "approved", "kind": "goods",
            "plate": "琼A12345", "etag": "E2801160600002084B2D0E1F", "trailer_plate": "琼A6789挂",
            "containers": ["CSQU3054383"], "declared_total_kg": 32460.5, "enterprise": "ENT-0001",
            "goods_category": "zero_tariff", "va_code": None, "valid_from": ISSUED,
            "valid_until": "2026-12-31T23:59:59Z", "uses": "single", "eseal": "ES-000777",
        }],
        "vehicles": [{"plate": "琼A12345", "plate_colour": "blue", "etag": None,
                      "tare_kg": 14200.0, "enterprise": "ENT-0001", "credit": "aeo"}],
        "enterprises": [{"id": "ENT-0001", "name": "海南示例贸易有限公司", "credit": "whitelist"}],
        "controls": [{"id": "CTL-9", "target_kind": "plate", "target": "琼B00001",
                      "action": "inspect", "note": "risk", "valid_until": None}],
    },
}
delta = {
    "schema": "gate.whitelist/1", "site": SITE, "kind": "delta", "from_version": 7, "version": 8,
    "chunk": {"index": 0, "count": 1}, "issued_at": ISSUED,
    "upserts": {"controls": [{"id": "CTL-10", "target_kind": "container", "target": "CSQU3054383",
                              "action": "hold", "note": None, "valid_until": EXPIRES}]},
    "deletes": {"gate_passes": ["HP2026000001"], "vehicles": ["琼A00000"],
                "enterprises": [], "controls": ["CTL-9"]},
}
commands = [
    {"kind": "lower"},
    {"kind": "release", "officer": "O-17", "note": "manual check done", "event_id": "01JD0000000000000000000000"},
    {"kind": "restart_device", "device": "weighbridge"},
    {"kind": "resync"},
]
bodies = [("snapshot", snapshot), ("delta", delta)]
for i, c in enumerate(commands):
    body = {"schema": "gate.command/1", "id": f"CMD-{i}", "site": SITE, "lane": LANE,
            "issued_at": ISSUED, "expires_at": EXPIRES}
    body.update(c)
    bodies.append((f"command-{c['kind']}", body))
bodies.append(("sync-answer-empty-snapshot", {
    "schema": "gate.whitelist/1", "site": SITE, "kind": "snapshot", "version": 1,
    "chunk": {"index": 0, "count": 1}, "issued_at": ISSUED}))

try:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    seed = base64.b64decode((ROOT / "config/keys/platform-test.secret").read_text().strip())
    key = Ed25519PrivateKey.from_private_bytes(seed)
except ImportError:  # no python3-cryptography: body seeds only
    key = None
for name, body in bodies:
    text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    # mode 1: the target signs the body itself
    put("platform_inbound", f"body-{name}", b"\x01" + text.encode())
    if key is not None:
        sig = base64.b64encode(key.sign(text.encode())).decode()
        env = json.dumps({"body": text, "kid": KID, "sig": sig}, ensure_ascii=False)
        # mode 0: the raw MQTT payload, a real signed envelope
        put("platform_inbound", f"signed-{name}", b"\x00" + env.encode())

# ------------------------------------------------------------ control socket
requests = [
    {"v": 1, "id": 1, "cmd": "version"},
    {"v": 1, "id": 2, "cmd": "barrier", "args": {"action": "lower", "officer": "O-17", "reason": "test"}},
    {"v": 1, "id": 3, "cmd": "restart", "args": {"device": "bus/wb", "officer": "O-17", "reason": "frozen"}},
    {"v": 1, "id": 7, "cmd": "lookup", "args": {"by": "plate", "key": "琼A12345"}},
    {"v": 1, "cmd": "events", "args": {"limit": 20}},
    {"v": 1, "id": 9, "cmd": "sync", "args": {"resync": True}},
    {"v": 1, "id": 10, "cmd": "alarms", "args": None},
    {"v": 1, "id": 11, "cmd": "capture", "args": {"camera": "plate-front"}},
    {"v": 2, "id": 3, "cmd": "status"},
]
for r in requests:
    put("control_protocol", f"request-{r['cmd']}-{r.get('id', 0)}",
        json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n")
put("control_protocol", "response-version",
    '{"v":1,"id":1,"ok":true,"data":{"agent_version":"0.1.0","lane":"L03","protocol":1,"site":"HK-XINHAI"}}\n')
put("control_protocol", "response-refused",
    '{"v":1,"id":2,"ok":false,"error":"refused: safety loop or photocell occupied","code":"refused"}\n')
put("control_protocol", "response-weigh",
    '{"v":1,"id":5,"ok":true,"data":{"gross_kg":32460.5,"stable":true,"tare_kg":null,"age_ms":12}}\n')

# ------------------------------------------------------------ configuration
put("lane_config", "lane.example.toml", (ROOT / "config/lane.example.toml").read_bytes())
MINIMAL = """[lane]
site = "HK-XINHAI"
lane = "L03"

[store]
path = "lane.db"

[platform]
broker = "mqtt://127.0.0.1:1883"
keys = { p1 = "/Bk1XwRk/dZW0AZjIvUjz+h9+/hR5O4fs8ilHOzBXm0=" }

[devices]
buses = [{ name = "board", tcp = "127.0.0.1:1502" }]
board = { bus = "board" }
"""
put("lane_config", "minimal.toml", MINIMAL)
put("lane_config", "ascii-weighbridge.toml", MINIMAL + """
[devices.weighbridge]
ascii = { port = { path = "/dev/ttyS1", baud = 9600, parity = "even", data_bits = 7 }, protocol = "toledo", checksum = true }
stability = { mode = "both", division_kg = 20 }

[[devices.cameras]]
name = "plate-front"
snapshot_url = "http://10.0.0.21/snapshot.jpg"
recognition = "onboard"

[roles]
plate_front = "plate-front"

[recognition]
frames = 3
fetch = false
""")

# --------------------------------------------------------- register profiles
words = bytes.fromhex("0000 7E00 46FD 0001 8000 0400 0000 0000 0000 0000 4C51 0000")
for p in sorted((ROOT / "config/profiles").glob("*.toml")):
    text = p.read_bytes()
    put("register_profile", p.name, text)
    put("register_profile", p.stem + "+answer", text + b"\x00" + words * 4)
