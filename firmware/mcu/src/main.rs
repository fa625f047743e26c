//! Lane I/O board firmware (Cortex-M4, thumbv7em-none-eabihf).
//!
//! The binary is glue: [`mps2`] drives the peripherals behind the
//! [`hal`] traits, [`app`] runs the control loop (Modbus RTU slave, board
//! tick, pins) and all logic lives in the `lane-io` crate. With the
//! `selftest` feature the same loop runs against a scripted lane
//! ([`selftest`]) and the result leaves QEMU as the semihosting exit code.
#![no_std]
#![no_main]

mod app;
mod hal;
#[cfg(not(feature = "selftest"))]
mod mps2;
#[cfg(feature = "selftest")]
mod selftest;

use cortex_m_rt::entry;

#[entry]
fn main() -> ! {
    #[cfg(feature = "selftest")]
    selftest::run_and_exit();
    #[cfg(not(feature = "selftest"))]
    run();
}

/// The field firmware: MPS2 pins, UART0 and SysTick.
#[cfg(not(feature = "selftest"))]
fn run() -> ! {
    use app::App;
    use mps2::{Gpio, SysTickClock, Uart};

    let Some(cp) = cortex_m::Peripherals::take() else {
        // Only reachable if taken twice: start over.
        cortex_m::peripheral::SCB::sys_reset();
    };
    let clock = SysTickClock::new(cp.SYST);
    // In a static, so the budget check sees the whole state as static RAM.
    let Some(app) = cortex_m::singleton!(
        : App<Gpio, Uart, SysTickClock> = App::new(Gpio::new(), Uart::uart0(app::BAUD), clock)
    ) else {
        cortex_m::peripheral::SCB::sys_reset();
    };
    loop {
        app.step();
    }
}

/// A panic in the field resets the MCU: the pins return to their reset
/// state (motor off) and the board restarts from the limit switches.
#[cfg(not(feature = "selftest"))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    cortex_m::peripheral::SCB::sys_reset()
}

/// A panic in the self-test is a failure: report it and exit with 1.
#[cfg(feature = "selftest")]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    cortex_m_semihosting::hprintln!("selftest: PANIC {}", info);
    cortex_m_semihosting::debug::exit(cortex_m_semihosting::debug::EXIT_FAILURE);
    loop {
        cortex_m::asm::bkpt();
    }
}
