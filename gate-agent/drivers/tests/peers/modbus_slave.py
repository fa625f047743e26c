#!/usr/bin/python3
"""Independent Modbus slave for the gate-agent driver tests (pymodbus 3.0).

It serves a vendor-style weighbridge map that is none of the simulator's, so
the agent's generic Modbus driver is tested against a third-party stack and
configured through a profile file alone (tests/peers/wb-dcba.toml):

  HR 300-301  gross weight, float32 kg, byte order DCBA (little-endian)
  HR 302      status word: bit 4 = stable, bit 8 = overload, bit 12 = zero
  HR 303      tare, uint16 x 10 kg
  HR 310      scratch register (writable; the tests write it)
  DI 5        "printer busy" (discrete input, true)
Any other address answers exception 02 (illegal data address).

Each unit id serves different values (see UNITS) so a test can tell which
unit answered. Usage:
  modbus_slave.py --tcp PORT [--units 1,2]
  modbus_slave.py --rtu /dev/pts/N [--baud 9600] [--units 1,2]
Unit ids not listed get no answer (pymodbus drops their frames), on RTU as
on TCP.
"""

import argparse
import asyncio
import logging
import struct
import sys

from pymodbus.datastore import ModbusServerContext, ModbusSlaveContext, ModbusSparseDataBlock
from pymodbus.framer.rtu_framer import ModbusRtuFramer
from pymodbus.server.async_io import StartAsyncSerialServer, StartAsyncTcpServer

# unit id -> (gross kg, status word, tare units of 10 kg)
UNITS = {
    1: (25340.0, 0x0010, 150),  # stable, tare 1500 kg
    2: (18220.5, 0x0100, 0),  # overload, not stable
    3: (-40.0, 0x1010, 0),  # stable, zero flag
}


def dcba_registers(value):
    """float32 as two registers in DCBA order: the little-endian bytes, in wire order."""
    le = struct.pack("<f", value)  # D C B A
    return [(le[0] << 8) | le[1], (le[2] << 8) | le[3]]


def slave(unit):
    gross, status, tare = UNITS[unit]
    hr = {}
    r0, r1 = dcba_registers(gross)
    hr[300], hr[301], hr[302], hr[303], hr[310] = r0, r1, status, tare, 0
    return ModbusSlaveContext(
        di=ModbusSparseDataBlock({5: 1}),
        co=ModbusSparseDataBlock({0: 0}),
        hr=ModbusSparseDataBlock(hr),
        ir=ModbusSparseDataBlock({0: 0}),
        zero_mode=True,
    )


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tcp", type=int)
    ap.add_argument("--rtu")
    ap.add_argument("--baud", type=int, default=9600)
    ap.add_argument("--units", default="1")
    args = ap.parse_args()
    units = [int(u) for u in args.units.split(",")]
    context = ModbusServerContext(slaves={u: slave(u) for u in units}, single=False)
    logging.basicConfig(level=logging.CRITICAL)
    if args.tcp is not None:
        print(f"serving tcp {args.tcp} units {units}", flush=True)
        await StartAsyncTcpServer(context=context, address=("127.0.0.1", args.tcp), allow_reuse_address=True)
    elif args.rtu:
        print(f"serving rtu {args.rtu} units {units}", flush=True)
        await StartAsyncSerialServer(
            context=context,
            framer=ModbusRtuFramer,
            port=args.rtu,
            baudrate=args.baud,
            ignore_missing_slaves=True,
        )
    else:
        ap.error("give --tcp PORT or --rtu DEVICE")


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
