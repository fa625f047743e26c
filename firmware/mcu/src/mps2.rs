//! Drivers for the Arm MPS2 board (AN386 image, as modelled by QEMU
//! `mps2-an386`): CMSDK APB UART0 for the RS-485 line, CMSDK AHB GPIO0/1
//! for the field pins, SysTick as the millisecond clock. The only module
//! with register access; everything above it sees [`crate::hal`].
//!
//! Pin assignment (GPIO0 inputs, GPIO1 outputs, active high): GPIO0 bit n is
//! discrete input n of the register map (arrival loop, safety loop, exit
//! loop, photocell, up limit, down limit, manual key, motor fault); GPIO1
//! bit 0 motor up, 1 motor down, 2 green light, 3 buzzer.
#![allow(unsafe_code)]

use core::ptr::{read_volatile, write_volatile};
use core::sync::atomic::{AtomicU32, Ordering};

use cortex_m::peripheral::{syst::SystClkSource, SYST};
use cortex_m_rt::exception;
use lane_io::barrier::RawInputs;
use lane_io::board::Outputs;

use crate::hal::{Clock, Pins, Serial};

/// System clock of the MPS2 FPGA images.
pub const SYSCLK_HZ: u32 = 25_000_000;

/// A 32-bit memory-mapped register.
#[derive(Clone, Copy)]
struct Reg(usize);

impl Reg {
    fn read(self) -> u32 {
        // SAFETY: only constructed for the documented, always-mapped MPS2
        // peripheral registers below; volatile 32-bit access is what they take.
        unsafe { read_volatile(self.0 as *const u32) }
    }
    fn write(self, v: u32) {
        // SAFETY: as for `read`.
        unsafe { write_volatile(self.0 as *mut u32, v) }
    }
}

/// CMSDK APB UART.
pub struct Uart {
    base: usize,
}

const UART_DATA: usize = 0x00;
const UART_STATE: usize = 0x04;
const UART_CTRL: usize = 0x08;
const UART_BAUDDIV: usize = 0x10;
const STATE_TX_FULL: u32 = 1 << 0;
const STATE_RX_FULL: u32 = 1 << 1;
const CTRL_TX_EN: u32 = 1 << 0;
const CTRL_RX_EN: u32 = 1 << 1;

impl Uart {
    /// UART0 at 0x4000_4000, enabled at `baud`.
    pub fn uart0(baud: u32) -> Self {
        let u = Self { base: 0x4000_4000 };
        Reg(u.base + UART_BAUDDIV).write(SYSCLK_HZ / baud.max(1));
        Reg(u.base + UART_CTRL).write(CTRL_TX_EN | CTRL_RX_EN);
        u
    }
}

impl Serial for Uart {
    fn read(&mut self, buf: &mut [u8]) -> usize {
        let mut n = 0;
        for slot in buf.iter_mut() {
            if Reg(self.base + UART_STATE).read() & STATE_RX_FULL == 0 {
                break;
            }
            *slot = Reg(self.base + UART_DATA).read() as u8;
            n += 1;
        }
        n
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            while Reg(self.base + UART_STATE).read() & STATE_TX_FULL != 0 {}
            Reg(self.base + UART_DATA).write(u32::from(*b));
        }
    }
}

/// CMSDK AHB GPIO ports: GPIO0 (0x4001_0000) inputs, GPIO1 (0x4001_1000) outputs.
pub struct Gpio;

const GPIO0: usize = 0x4001_0000;
const GPIO1: usize = 0x4001_1000;
const GPIO_DATA: usize = 0x000;
const GPIO_DATAOUT: usize = 0x004;
const GPIO_OUTENSET: usize = 0x010;

impl Gpio {
    pub fn new() -> Self {
        Reg(GPIO1 + GPIO_DATAOUT).write(0);
        Reg(GPIO1 + GPIO_OUTENSET).write(0xF);
        Self
    }
}

impl Pins for Gpio {
    fn read(&mut self) -> RawInputs {
        let v = Reg(GPIO0 + GPIO_DATA).read();
        let mut a = [false; lane_io::barrier::INPUTS];
        for (i, slot) in a.iter_mut().enumerate() {
            *slot = v & (1 << i) != 0;
        }
        RawInputs::from_array(a)
    }

    fn write(&mut self, out: Outputs) {
        // Same bit order as the OUTPUTS input register.
        Reg(GPIO1 + GPIO_DATAOUT).write(u32::from(out.bits()));
    }
}

/// Milliseconds counted by the SysTick exception.
static MILLIS: AtomicU32 = AtomicU32::new(0);

#[exception]
fn SysTick() {
    MILLIS.fetch_add(1, Ordering::Relaxed);
}

/// SysTick at 1 kHz; sub-millisecond time from the counter.
pub struct SysTickClock {
    /// Owned so that nothing else reconfigures the timer.
    _syst: SYST,
    /// Upper bits of the millisecond count (extends the 32-bit counter).
    high: u64,
    last_ms: u32,
    last_us: u64,
}

const TICKS_PER_MS: u32 = SYSCLK_HZ / 1000;

impl SysTickClock {
    pub fn new(mut syst: SYST) -> Self {
        syst.set_clock_source(SystClkSource::Core);
        syst.set_reload(TICKS_PER_MS - 1);
        syst.clear_current();
        syst.enable_counter();
        syst.enable_interrupt();
        Self {
            _syst: syst,
            high: 0,
            last_ms: 0,
            last_us: 0,
        }
    }
}

impl Clock for SysTickClock {
    fn now_us(&mut self) -> u64 {
        let ms = MILLIS.load(Ordering::Relaxed);
        let current = SYST::get_current();
        if ms < self.last_ms {
            self.high += 1 << 32;
        }
        self.last_ms = ms;
        let sub = (TICKS_PER_MS - 1).saturating_sub(current) / (TICKS_PER_MS / 1000);
        let us = (self.high + u64::from(ms)) * 1000 + u64::from(sub.min(999));
        // The exception may be pending while the counter has wrapped: never go back.
        self.last_us = self.last_us.max(us);
        self.last_us
    }
}
