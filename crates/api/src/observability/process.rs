//! `process_*` metrics in the Prometheus client conventions, read from /proc at scrape time.
//! Rendered as text because `process_cpu_seconds_total` is fractional and `metrics` counters are
//! integers. On non-Linux systems the section is empty.
use std::fmt::Write as _;

const PAGE_SIZE: u64 = 4096;
const CLOCK_TICKS: f64 = 100.0;

pub fn render() -> String {
    let mut out = String::new();
    let Some(stat) = std::fs::read_to_string("/proc/self/stat").ok() else { return out };
    // fields after the parenthesised command name, which may itself contain spaces
    let Some(fields) = stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect::<Vec<_>>()) else {
        return out;
    };
    let field = |n: usize| fields.get(n).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    // indexes are `man 5 proc` field numbers minus 3 (pid and comm precede `fields`)
    let cpu_seconds = (field(11) + field(12)) as f64 / CLOCK_TICKS;
    let threads = field(17);
    let start_ticks = field(19);
    let virtual_bytes = field(20);
    let resident_bytes = field(21) * PAGE_SIZE;
    let boot_time = std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("btime ").and_then(|v| v.trim().parse::<u64>().ok())))
        .unwrap_or(0);
    let start_time = boot_time as f64 + start_ticks as f64 / CLOCK_TICKS;
    let open_fds = std::fs::read_dir("/proc/self/fd").map(|d| d.count()).unwrap_or(0);
    let max_fds = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3).and_then(|v| v.parse::<u64>().ok()))
        })
        .unwrap_or(0);

    let mut metric = |name: &str, kind: &str, help: &str, value: f64| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}");
    };
    metric("process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.", cpu_seconds);
    metric("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.", resident_bytes as f64);
    metric("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.", virtual_bytes as f64);
    metric("process_open_fds", "gauge", "Number of open file descriptors.", open_fds as f64);
    metric("process_max_fds", "gauge", "Maximum number of open file descriptors.", max_fds as f64);
    metric("process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.", start_time);
    metric("process_threads", "gauge", "Number of OS threads in the process.", threads as f64);
    out
}
