//! Firmware entry point: hardware set-up, then the tasks. luagen regenerates this file.
#![no_std]
#![no_main]

extern crate alloc;

// Uploads to the Lua CDN (`cdn` feature), for the handlers (which use what they need).
#[cfg(feature = "cdn")]
#[allow(dead_code)]
mod cdn;
// The chip's own code: its random numbers and the unit's id (luagen writes the board's).
mod chip;
mod clock;
// Generated from the manifest and rewritten on every run, so `cargo fmt` leaves them as written.
#[rustfmt::skip]
mod config;
mod connection;
#[rustfmt::skip]
mod device;
mod handlers;
// `{uid}` in LUA_DEVICE_NAME (build.rs sets the cfg): the name is completed at boot.
#[cfg(device_uid)]
mod identity;
// Generated from the manifest; not every type's every helper is used by every device.
#[allow(dead_code)]
#[rustfmt::skip]
mod payloads;
// Set by build.rs from the URLs: mqtts:// and wss://, or an https:// CDN (which the `tls`
// feature must allow).
#[cfg(any(mqtt_tls, cdn_tls))]
mod pki;
mod sntp;
#[cfg(any(mqtt_tls, cdn_tls))]
mod tls;
#[cfg(any(mqtt_tls, cdn_tls))]
mod tls12;
mod trigger_queue;
mod watchdog;
mod worker;
// The link's traits, and WebSocket for ws:// and wss://.
#[cfg_attr(not(mqtt_ws), allow(dead_code))]
mod ws;

use cyw43_pio::PioSpi;
use defmt::{info, unwrap, warn};
use defmt_rtt as _;
use embassy_executor::Spawner;
use embassy_net::{Config, StackResources};
use embassy_rp::bind_interrupts;
use embassy_rp::gpio::{Level, Output};
use embassy_rp::peripherals::{DMA_CH0, PIO0};
use embassy_rp::pio::{InterruptHandler, Pio};
use embassy_rp::watchdog::Watchdog;
use embassy_time::{Duration, Instant, Timer};
use embedded_alloc::LlffHeap as Heap;
use static_cell::StaticCell;

bind_interrupts!(struct Irqs {
    PIO0_IRQ_0 => InterruptHandler<PIO0>;
});

/// Logs that a panic happened and resets the board, which comes back up and reconnects
/// (`watchdog.rs`; the next boot logs the cause). The handler reads nothing from `PanicInfo`:
/// even reading the location keeps every panic's message formatting (`core::fmt` for its
/// arguments) alive, 30 KiB of the greenhouse's flash. Built with `-Cpanic=immediate-abort`
/// (the README's Debian route) a panic skips it and stops at `udf`, a hard fault: the
/// handler below resets for those.
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    cortex_m::interrupt::disable();
    defmt::error!("panic: resetting");
    reset(watchdog::MARK_PANIC)
}

#[cortex_m_rt::exception]
unsafe fn HardFault(_: &cortex_m_rt::ExceptionFrame) -> ! {
    defmt::error!("hard fault: resetting");
    reset(watchdog::MARK_PANIC)
}

/// Reset the board now through the watchdog, leaving `mark` for the next boot to read.
fn reset(mark: u32) -> ! {
    // SAFETY: the board goes down here; the watchdog task never runs again.
    let mut dog = Watchdog::new(unsafe { embassy_rp::peripherals::WATCHDOG::steal() });
    dog.set_scratch(0, mark);
    dog.trigger_reset();
    loop {
        cortex_m::asm::nop();
    }
}

/// `memmove` as the compiler calls it (`copy_within`, `Vec::insert` and `remove`, the WiFi
/// driver's and the network stack's buffers), in place of compiler_builtins' word-at-a-time
/// one (700 bytes of flash). Copies that do not overlap, nearly all, go to `memcpy` (on the
/// RP2040 the boot ROM's); overlapping ones move a byte at a time, which is slower only for
/// those few. Volatile accesses, so that the loops are not turned back into `memmove` calls.
mod memmove {
    #[no_mangle]
    unsafe extern "aapcs" fn __aeabi_memmove(dst: *mut u8, src: *const u8, n: usize) {
        if (dst as usize).abs_diff(src as usize) >= n {
            // SAFETY: the caller's regions, which do not overlap.
            unsafe { core::ptr::copy_nonoverlapping(src, dst, n) };
        } else if (dst as usize) < (src as usize) {
            for i in 0..n {
                // SAFETY: within the caller's regions; each byte is read before it is written
                // over (the destination starts before the source).
                unsafe { dst.add(i).write_volatile(src.add(i).read_volatile()) };
            }
        } else {
            for i in (0..n).rev() {
                // SAFETY: as above, from the end (the destination starts after the source).
                unsafe { dst.add(i).write_volatile(src.add(i).read_volatile()) };
            }
        }
    }

    #[no_mangle]
    unsafe extern "aapcs" fn __aeabi_memmove4(dst: *mut u8, src: *const u8, n: usize) {
        // SAFETY: the caller's `memmove`.
        unsafe { __aeabi_memmove(dst, src, n) }
    }

    #[no_mangle]
    unsafe extern "aapcs" fn __aeabi_memmove8(dst: *mut u8, src: *const u8, n: usize) {
        // SAFETY: the caller's `memmove`.
        unsafe { __aeabi_memmove(dst, src, n) }
    }

    #[no_mangle]
    unsafe extern "C" fn memmove(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
        // SAFETY: the caller's `memmove`.
        unsafe { __aeabi_memmove(dst, src, n) };
        dst
    }
}

/// Seconds since boot, for the watchdog's progress marks.
pub fn now_s() -> u32 {
    Instant::now().as_secs() as u32
}

#[global_allocator]
static HEAP: Heap = Heap::empty();

#[embassy_executor::task]
async fn wifi_task(
    runner: cyw43::Runner<'static, Output<'static>, PioSpi<'static, PIO0, 0, DMA_CH0>>,
) -> ! {
    runner.run().await
}

#[embassy_executor::task]
async fn net_task(mut runner: embassy_net::Runner<'static, cyw43::NetDriver<'static>>) -> ! {
    runner.run().await
}

/// This unit's name: the template with the chip's unique id in place of `{uid}`.
#[cfg(device_uid)]
fn unit_name(flash: embassy_rp::Peri<'static, embassy_rp::peripherals::FLASH>) -> &'static str {
    let uid = chip::unique_id(flash);
    alloc::string::String::leak(identity::unit_name(config::DEVICE_NAME_TEMPLATE, &uid))
}

#[embassy_executor::task]
async fn clock_task(stack: embassy_net::Stack<'static>, answered: bool) -> ! {
    clock::keep_set(stack, answered).await
}

#[embassy_executor::task]
async fn watchdog_task(mut dog: Watchdog) -> ! {
    dog.start(Duration::from_millis(watchdog::PERIOD_MS));
    loop {
        match watchdog::decide(now_s()) {
            watchdog::Decision::Feed => dog.feed(),
            watchdog::Decision::Starve(quiet) => {
                defmt::error!(
                    "the main loop made no progress for {} s: letting the watchdog reset the board",
                    quiet
                );
                dog.set_scratch(0, watchdog::MARK_STALL);
                loop {
                    Timer::after_secs(3600).await;
                }
            }
        }
        Timer::after_millis(watchdog::FEED_MS).await;
    }
}

#[embassy_executor::task]
async fn worker_task(device: &'static device::Device) -> ! {
    worker::run(&worker::WORKER, device).await
}

#[embassy_executor::task]
async fn background_task(device: &'static device::Device) -> ! {
    handlers::background(&device.state, device.triggers()).await
}

/// Set-up, then the connection to the gateway, which this task goes on to keep forever: the
/// task the set-up ran in would otherwise end there, and one task fewer (never ending, so
/// nothing of its set-up's futures is ever dropped) is 1.2 KiB less flash.
#[embassy_executor::main]
async fn main(spawner: Spawner) -> ! {
    {
        use core::mem::MaybeUninit;
        static mut HEAP_MEM: [MaybeUninit<u8>; config::HEAP_BYTES] =
            [MaybeUninit::uninit(); config::HEAP_BYTES];
        // SAFETY: runs once, before anything allocates.
        unsafe {
            HEAP.init(
                core::ptr::addr_of_mut!(HEAP_MEM) as usize,
                config::HEAP_BYTES,
            )
        }
    }
    let p = embassy_rp::init(Default::default());
    let mut dog = Watchdog::new(p.WATCHDOG);
    let cause = match dog.reset_reason() {
        None => watchdog::cause(false, false, 0),
        Some(reason) => watchdog::cause(
            matches!(reason, embassy_rp::watchdog::ResetReason::TimedOut),
            matches!(reason, embassy_rp::watchdog::ResetReason::Forced),
            dog.get_scratch(0),
        ),
    };
    dog.set_scratch(0, 0);
    // Paused while a debugger halts the core, so that stepping through code resets nothing.
    dog.pause_on_debug(true);
    watchdog::progress(now_s());
    unwrap!(spawner.spawn(watchdog_task(dog)));
    #[cfg(device_uid)]
    let name = unit_name(p.FLASH);
    #[cfg(not(device_uid))]
    let name = config::DEVICE_NAME_TEMPLATE;
    info!("{} starting ({})", name, cause.describe());

    let pwr = Output::new(p.PIN_23, Level::Low);
    let cs = Output::new(p.PIN_25, Level::High);
    let mut pio = Pio::new(p.PIO0, Irqs);
    let spi = PioSpi::new(
        &mut pio.common,
        pio.sm0,
        config::RADIO_CLOCK_DIVIDER,
        pio.irq0,
        cs,
        p.PIN_24,
        p.PIN_29,
        p.DMA_CH0,
    );
    static WIFI: StaticCell<cyw43::State> = StaticCell::new();
    let (net_device, mut control, runner) = cyw43::new(
        WIFI.init(cyw43::State::new()),
        pwr,
        spi,
        cyw43_firmware::CYW43_43439A0,
    )
    .await;
    unwrap!(spawner.spawn(wifi_task(runner)));
    control.init(cyw43_firmware::CYW43_43439A0_CLM).await;
    control
        .set_power_management(cyw43::PowerManagementMode::PowerSave)
        .await;

    // Four sockets: DHCP and DNS, always; the broker's TCP, and SNTP's UDP beside it; and the
    // CDN's TCP with the `cdn` feature.
    const SOCKETS: usize = 4 + cfg!(feature = "cdn") as usize;
    static NET: StaticCell<StackResources<SOCKETS>> = StaticCell::new();
    let (stack, runner) = embassy_net::new(
        net_device,
        Config::dhcpv4(Default::default()),
        NET.init(StackResources::new()),
        chip::Rng.next_u64(),
    );
    unwrap!(spawner.spawn(net_task(runner)));
    #[cfg(feature = "cdn")]
    cdn::init(stack);

    // Join with retry: a router that is still booting, or out of range, is not fatal.
    let mut delay_ms = 1_000;
    loop {
        watchdog::progress(now_s());
        let options = if config::WIFI_PASSWORD.is_empty() {
            cyw43::JoinOptions::new_open()
        } else {
            cyw43::JoinOptions::new(config::WIFI_PASSWORD.as_bytes())
        };
        match control.join(config::WIFI_SSID, options).await {
            Ok(()) => break,
            Err(e) => {
                warn!(
                    "joining WiFi failed (status {}), retrying in {} ms",
                    e.status, delay_ms
                );
                Timer::after_millis(delay_ms).await;
                delay_ms = (delay_ms * 2).min(30_000);
            }
        }
    }
    info!("WiFi joined, waiting for DHCP");
    stack.wait_config_up().await;
    watchdog::progress(now_s());
    // One attempt before connecting, so that the first TLS handshake can usually check the
    // certificate's dates; the clock task retries in the background when it fails.
    let answered = clock::sync(stack).await;
    unwrap!(spawner.spawn(clock_task(stack, answered)));

    static DEVICE: StaticCell<device::Device> = StaticCell::new();
    let device: &'static device::Device = DEVICE.init(device::Device::new());
    unwrap!(spawner.spawn(worker_task(device)));
    unwrap!(spawner.spawn(background_task(device)));
    connection::run(stack, device, name).await
}
