//! This process's CPU time and memory, from /proc (Linux): what the benchmarks report per
//! pipeline, each run in a process of its own so that peak memory is its own.

/// Clock ticks per second of /proc/<pid>/stat times (USER_HZ; 100 on Linux x86-64 and arm64).
const TICKS_PER_SECOND: f64 = 100.0;

/// CPU seconds (user + system, every thread) this process has used so far.
pub fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the command name (which may hold spaces) in parentheses: state is field
    // 3, utime 14, stime 15.
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = after.split_whitespace().collect();
    let tick = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (tick(11) + tick(12)) / TICKS_PER_SECOND
}

/// A `Vm…:` line of /proc/self/status, in MiB.
fn status_mib(key: &str) -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with(key)).and_then(|l| {
                l.split_whitespace()
                    .nth(1)
                    .and_then(|kb| kb.parse::<f64>().ok())
            })
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(0.0)
}

/// Peak resident memory of this process so far, MiB.
pub fn peak_rss_mib() -> f64 {
    status_mib("VmHWM:")
}

/// Resident memory now, MiB.
pub fn rss_mib() -> f64 {
    status_mib("VmRSS:")
}

#[cfg(test)]
mod tests {
    #[test]
    fn own_process_has_cpu_time_and_memory() {
        // Busy-loop until the CPU clock moves (it ticks every 10 ms), for at most 5 s.
        let (start, t0) = (super::cpu_seconds(), std::time::Instant::now());
        let mut x = 0u64;
        while super::cpu_seconds() <= start && t0.elapsed().as_secs() < 5 {
            for i in 0..1_000_000u64 {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
            }
        }
        assert!(super::cpu_seconds() > start, "CPU time never advanced");
        // (The kernel updates the peak lazily: it may trail the current figure a little.)
        let (peak, now) = (super::peak_rss_mib(), super::rss_mib());
        assert!(now > 1.0 && peak > 1.0, "peak {peak} MiB, now {now} MiB");
    }
}
