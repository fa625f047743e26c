#!/usr/bin/python3
"""Independent Modbus master for the simulator's device tests (pymodbus 3.0).

Usage:
    modbus_peer.py tcp HOST PORT UNIT   < ops.json
    modbus_peer.py rtu PATH BAUD UNIT   < ops.json

ops.json is a JSON list of operations, run in order on one connection:
    {"op": "read", "table": "hr"|"ir"|"co"|"di", "addr": A, "count": N}
    {"op": "write_coil", "addr": A, "value": true|false}
    {"op": "write_register", "addr": A, "value": V}
    {"op": "write_registers", "addr": A, "values": [V, ...]}
    {"op": "sleep", "seconds": S}

Prints one JSON object: {"results": [...]} with, per operation,
    {"ok": true, "values": [...]}              (reads; bits as 0/1)
    {"ok": true}                               (writes, sleeps)
    {"ok": false, "exception": CODE}           (Modbus exception response)
    {"ok": false, "error": "text"}             (no answer, transport error)
Exit status 0 if the script ran (whatever the device answered), 2 on bad usage,
3 if it could not connect.
"""
import json
import sys
import time

try:
    from pymodbus.client import ModbusSerialClient, ModbusTcpClient
except ImportError as e:  # pragma: no cover
    print(json.dumps({"fatal": "pymodbus missing: %s" % e}))
    sys.exit(4)


def main():
    if len(sys.argv) != 5 or sys.argv[1] not in ("tcp", "rtu"):
        print(__doc__, file=sys.stderr)
        return 2
    mode, a, b, unit = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    ops = json.load(sys.stdin)
    if mode == "tcp":
        client = ModbusTcpClient(a, port=int(b), timeout=1.0, retries=0)
    else:
        client = ModbusSerialClient(port=a, baudrate=int(b), timeout=1.0, retries=0)
    if not client.connect():
        print(json.dumps({"fatal": "cannot connect"}))
        return 3
    results = []
    for op in ops:
        try:
            results.append(run(client, unit, op))
        except Exception as e:  # transport errors, timeouts
            results.append({"ok": False, "error": "%s: %s" % (type(e).__name__, e)})
    client.close()
    print(json.dumps({"results": results}))
    return 0


def answer(rr, values=None):
    if rr is None:
        return {"ok": False, "error": "no response"}
    if rr.isError():
        code = getattr(rr, "exception_code", None)
        if code is not None:
            return {"ok": False, "exception": int(code)}
        return {"ok": False, "error": str(rr)}
    out = {"ok": True}
    if values is not None:
        out["values"] = values(rr)
    return out


def run(client, unit, op):
    kind = op["op"]
    if kind == "sleep":
        time.sleep(float(op["seconds"]))
        return {"ok": True}
    if kind == "read":
        table, addr, count = op["table"], int(op["addr"]), int(op["count"])
        if table == "hr":
            rr = client.read_holding_registers(addr, count, slave=unit)
            return answer(rr, lambda r: list(r.registers))
        if table == "ir":
            rr = client.read_input_registers(addr, count, slave=unit)
            return answer(rr, lambda r: list(r.registers))
        if table == "co":
            rr = client.read_coils(addr, count, slave=unit)
            return answer(rr, lambda r: [1 if x else 0 for x in r.bits[:count]])
        if table == "di":
            rr = client.read_discrete_inputs(addr, count, slave=unit)
            return answer(rr, lambda r: [1 if x else 0 for x in r.bits[:count]])
        raise ValueError("unknown table %r" % table)
    if kind == "write_coil":
        return answer(client.write_coil(int(op["addr"]), bool(op["value"]), slave=unit))
    if kind == "write_register":
        return answer(client.write_register(int(op["addr"]), int(op["value"]), slave=unit))
    if kind == "write_registers":
        return answer(client.write_registers(int(op["addr"]), [int(v) for v in op["values"]], slave=unit))
    raise ValueError("unknown op %r" % kind)


if __name__ == "__main__":
    sys.exit(main())
