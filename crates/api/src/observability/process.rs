//! `process_*` metrics in the Prometheus client conventions, read from /proc at scrape time
//! (`procfs`: the page size and clock tick are the kernel's, not assumed — 16/64 KiB pages on some
//! arm64 nodes). Rendered as text because `process_cpu_seconds_total` is fractional and `metrics`
//! counters are integers. On other systems the section is empty.
use std::fmt::Write as _;

#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub cpu_seconds: f64,
    pub resident_bytes: u64,
    pub virtual_bytes: u64,
    pub open_fds: usize,
    pub max_fds: Option<u64>,
    pub start_time_seconds: f64,
    pub threads: i64,
}

/// This process now; `None` where /proc cannot be read.
#[cfg(target_os = "linux")]
pub fn sample() -> Option<Sample> {
    use procfs::process::{LimitValue, Process};
    let me = Process::myself().ok()?;
    let stat = me.stat().ok()?;
    let ticks = procfs::ticks_per_second() as f64;
    let boot = procfs::boot_time_secs().ok()? as f64;
    Some(Sample {
        cpu_seconds: (stat.utime + stat.stime) as f64 / ticks,
        resident_bytes: stat.rss * procfs::page_size(),
        virtual_bytes: stat.vsize,
        open_fds: me.fd_count().unwrap_or(0),
        max_fds: me.limits().ok().and_then(|limits| match limits.max_open_files.soft_limit {
            LimitValue::Value(n) => Some(n),
            LimitValue::Unlimited => None,
        }),
        start_time_seconds: boot + stat.starttime as f64 / ticks,
        threads: stat.num_threads,
    })
}

#[cfg(not(target_os = "linux"))]
pub fn sample() -> Option<Sample> {
    None
}

/// The machine's memory (`MemTotal`), in bytes.
#[cfg(target_os = "linux")]
pub fn memory_total_bytes() -> Option<u64> {
    use procfs::Current as _;
    procfs::Meminfo::current().ok().map(|m| m.mem_total)
}

#[cfg(not(target_os = "linux"))]
pub fn memory_total_bytes() -> Option<u64> {
    None
}

pub fn render() -> String {
    let mut out = String::new();
    let Some(s) = sample() else { return out };
    let mut metric = |name: &str, kind: &str, help: &str, value: f64| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}");
    };
    metric("process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.", s.cpu_seconds);
    metric("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", s.resident_bytes as f64);
    metric("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.", s.virtual_bytes as f64);
    metric("process_open_fds", "gauge", "Number of open file descriptors.", s.open_fds as f64);
    if let Some(max) = s.max_fds {
        metric("process_max_fds", "gauge", "Maximum number of open file descriptors.", max as f64);
    }
    metric(
        "process_start_time_seconds",
        "gauge",
        "Start time of the process since unix epoch in seconds.",
        s.start_time_seconds,
    );
    metric("process_threads", "gauge", "Number of OS threads in the process.", s.threads as f64);
    out
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn the_process_reads_itself() {
        let s = sample().expect("/proc is readable");
        // a test binary has at least the page it runs on and the test harness's threads
        assert!(s.resident_bytes >= procfs::page_size());
        assert!(s.virtual_bytes >= s.resident_bytes);
        assert!(s.threads >= 1);
        assert!(s.open_fds >= 3, "stdin, stdout and stderr");
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
        assert!(s.start_time_seconds <= now + 1.0 && s.start_time_seconds > now - 86_400.0 * 365.0);
        let text = render();
        assert!(text.contains("# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total "));
    }
}
