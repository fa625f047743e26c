//! Resident memory and CPU of a process from /proc (VmRSS, VmHWM, threads,
//! utime+stime), sampled idle and while trucks run.

use super::*;

#[derive(Clone, Copy, Default, Debug)]
pub(super) struct Mem {
    pub(super) rss_kib: u64,
    pub(super) hwm_kib: u64,
    pub(super) threads: u64,
}

pub(super) fn mem_of(pid: u32) -> Option<Mem> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<u64> {
        s.lines()
            .find(|l| l.starts_with(name))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    };
    Some(Mem {
        rss_kib: field("VmRSS:")?,
        hwm_kib: field("VmHWM:")?,
        threads: field("Threads:")?,
    })
}

/// utime + stime of a process, ms.
pub(super) fn cpu_ms(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = s.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ticks * 10) // USER_HZ = 100 on Linux
}

/// Samples a process's memory every 100 ms until stopped.
pub(super) struct Sampler {
    pub(super) stop: Arc<AtomicBool>,
    pub(super) handle: std::thread::JoinHandle<Vec<Mem>>,
}

impl Sampler {
    pub(super) fn start(pid: u32) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let handle = std::thread::spawn(move || {
            let mut v = Vec::new();
            while !s.load(Ordering::Relaxed) {
                if let Some(m) = mem_of(pid) {
                    v.push(m);
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            v
        });
        Self { stop, handle }
    }
    pub(super) fn finish(self) -> Vec<Mem> {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().unwrap_or_default()
    }
}

#[derive(Clone, Copy, Default, Debug)]
pub(super) struct MemFigures {
    pub(super) idle_rss: u64,
    pub(super) idle_hwm: u64,
    pub(super) idle_threads: u64,
    pub(super) busy_rss: u64,
    pub(super) busy_max: u64,
    pub(super) busy_hwm: u64,
    pub(super) cpu_per_truck_ms: f64,
}

pub(super) fn median_u64(mut v: Vec<u64>) -> u64 {
    if v.is_empty() {
        return 0;
    }
    v.sort_unstable();
    v[v.len() / 2]
}

/// Idle for `idle` then the truck stream, sampling `pid` throughout.
pub(super) fn measure(
    name: &str,
    pid: u32,
    d: &LaneDevices,
    trucks: &[Truck],
    idle: Duration,
) -> Result<(CycleMarks, MemFigures)> {
    let s = Sampler::start(pid);
    std::thread::sleep(idle);
    let idle_s = s.finish();
    let idle_tail: Vec<Mem> = idle_s[idle_s.len() / 2..].to_vec();
    let cpu0 = cpu_ms(pid).unwrap_or(0);
    let s = Sampler::start(pid);
    let marks = drive(name, d, trucks)?;
    let busy = s.finish();
    let cpu1 = cpu_ms(pid).unwrap_or(0);
    let last = mem_of(pid).context("process gone after the stream")?;
    Ok((
        marks,
        MemFigures {
            idle_rss: median_u64(idle_tail.iter().map(|m| m.rss_kib).collect()),
            idle_hwm: idle_tail.last().map(|m| m.hwm_kib).unwrap_or(0),
            idle_threads: idle_tail.last().map(|m| m.threads).unwrap_or(0),
            busy_rss: median_u64(busy.iter().map(|m| m.rss_kib).collect()),
            busy_max: busy.iter().map(|m| m.rss_kib).max().unwrap_or(0),
            busy_hwm: last.hwm_kib,
            cpu_per_truck_ms: (cpu1.saturating_sub(cpu0)) as f64 / trucks.len() as f64,
        },
    ))
}
