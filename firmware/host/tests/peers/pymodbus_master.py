#!/usr/bin/python3
"""An independent Modbus RTU master (pymodbus) exercising a lane-io slave.

Usage: pymodbus_master.py PORT SCENARIO [UNIT]

Scenarios:
  memory  the seeded MemoryModel of the lane-io-host tests (input register
          i = 100 + i, even discrete inputs on); writes registers and coils
          that the Rust side checks afterwards.
  board   the lane I/O board (lane_io::board::Board): reads the firmware
          version and barrier state, writes the LED text and heartbeat.

Prints one line per check; exits 1 on the first failed check.
Needs Debian's python3-pymodbus (3.0.x): run with /usr/bin/python3.
"""
import sys

from pymodbus.client import ModbusSerialClient


def check(name, cond, detail=""):
    print(("ok   " if cond else "FAIL ") + name + ("" if cond else f": {detail}"))
    if not cond:
        sys.exit(1)


def exc_code(rsp):
    return getattr(rsp, "exception_code", None)


def memory(c, unit):
    r = c.read_input_registers(0, 4, slave=unit)
    check("FC04 read input registers", not r.isError() and r.registers == [100, 101, 102, 103], r)
    r = c.read_discrete_inputs(0, 6, slave=unit)
    check("FC02 read discrete inputs", not r.isError() and r.bits[:6] == [True, False] * 3, r)
    r = c.write_register(3, 0xBEEF, slave=unit)
    check("FC06 write register", not r.isError(), r)
    r = c.write_registers(10, [1, 2, 3, 4, 5], slave=unit)
    check("FC16 write registers", not r.isError(), r)
    r = c.read_holding_registers(0, 16, slave=unit)
    want = [0, 0, 0, 0xBEEF, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 0]
    check("FC03 read holding registers", not r.isError() and r.registers == want, r)
    r = c.write_coil(5, True, slave=unit)
    check("FC05 write coil", not r.isError(), r)
    bits = [True, False, True, True, False, False, True, True, True, False]
    r = c.write_coils(8, bits, slave=unit)
    check("FC15 write coils", not r.isError(), r)
    r = c.read_coils(0, 20, slave=unit)
    want = [False] * 20
    want[5] = True
    want[8:18] = bits
    check("FC01 read coils", not r.isError() and r.bits[:20] == want, r)
    r = c.read_holding_registers(60, 10, slave=unit)
    check("exception 02 on a range past the map", r.isError() and exc_code(r) == 2, r)
    r = c.read_exception_status(slave=unit)
    check("exception 01 on FC07", r.isError() and exc_code(r) == 1, r)
    # pymodbus 3.0.0rc1: this request takes `unit=`, not `slave=`
    r = c.mask_write_register(0, 0xFF00, 0x0012, unit=unit)
    check("exception 01 on FC22", r.isError() and exc_code(r) == 1, r)
    r = c.read_input_registers(15, 1, slave=unit)
    check("still in sync", not r.isError() and r.registers == [115], r)


def board(c, unit):
    # Addresses from lane_io::regmap.
    r = c.read_input_registers(7, 1, slave=unit)
    check("FW_VERSION", not r.isError() and r.registers == [0x0100], r)
    r = c.read_input_registers(0, 13, slave=unit)
    check("input registers 0..13", not r.isError() and len(r.registers) == 13, r)
    check("barrier state is a known state", 1 <= r.registers[0] <= 6, r.registers)
    r = c.read_discrete_inputs(0, 8, slave=unit)
    check("discrete inputs 0..8", not r.isError(), r)
    text = "琼A12345 请通行".encode("utf-8")
    padded = text + b"\0" * (len(text) % 2)
    regs = [(padded[i] << 8) | padded[i + 1] for i in range(0, len(padded), 2)]
    r = c.write_registers(16, regs, slave=unit)
    check("write LED text", not r.isError(), r)
    r = c.write_register(6, len(text), slave=unit)
    check("write LED length", not r.isError(), r)
    r = c.read_holding_registers(16, len(regs), slave=unit)
    check("read LED text back", not r.isError() and r.registers == regs, r)
    r = c.write_register(0, 1, slave=unit)
    check("heartbeat", not r.isError(), r)
    r = c.read_holding_registers(0, 6, slave=unit)
    check("holding registers 0..6", not r.isError() and r.registers[0] == 1, r)
    r = c.read_input_registers(13, 1, slave=unit)
    check("exception 02 past the input registers", r.isError() and exc_code(r) == 2, r)


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        sys.exit(2)
    port, scenario = sys.argv[1], sys.argv[2]
    unit = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    c = ModbusSerialClient(port, baudrate=19200, timeout=2, retries=0)
    check("connect", c.connect(), port)
    try:
        {"memory": memory, "board": board}[scenario](c, unit)
    finally:
        c.close()
    print("all checks passed")


if __name__ == "__main__":
    main()
