//! The process figures of the frontend's metrics footer, from the same /proc readings as the
//! `process_*` metrics: CPU as a share of the machine since the previous poll, memory as a share of
//! the machine's memory.
use super::Frontend;
use crate::observability::process;
use std::sync::PoisonError;
use std::time::Instant;

/// CPU time used by the process at a moment.
#[derive(Debug, Clone, Copy)]
pub struct CpuReading {
    at: Instant,
    cpu_seconds: f64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Usage {
    /// Percent of all CPUs, 0–100.
    pub cpu_percent: f64,
    /// Resident memory as a percent of the machine's memory.
    pub memory_percent: f64,
    pub memory_bytes: u64,
}

impl Frontend {
    /// Usage since the previous call (since start-up on the first), 0 where /proc is unreadable.
    pub fn usage(&self, started: Instant) -> Usage {
        let Some(sample) = process::sample() else {
            return Usage { cpu_percent: 0.0, memory_percent: 0.0, memory_bytes: 0 };
        };
        let now = CpuReading { at: Instant::now(), cpu_seconds: sample.cpu_seconds };
        let previous = self.cpu.lock().unwrap_or_else(PoisonError::into_inner).replace(now);
        let since = previous.unwrap_or(CpuReading { at: started, cpu_seconds: 0.0 });
        let cpus = std::thread::available_parallelism().map_or(1, usize::from);
        let memory_percent = process::memory_total_bytes()
            .filter(|total| *total > 0)
            .map_or(0.0, |total| sample.resident_bytes as f64 / total as f64 * 100.0);
        Usage {
            cpu_percent: cpu_percent(since, now, cpus),
            memory_percent: round2(memory_percent),
            memory_bytes: sample.resident_bytes,
        }
    }
}

fn cpu_percent(since: CpuReading, now: CpuReading, cpus: usize) -> f64 {
    let wall = now.at.saturating_duration_since(since.at).as_secs_f64();
    if wall <= 0.0 {
        return 0.0;
    }
    let used = (now.cpu_seconds - since.cpu_seconds).max(0.0);
    round2((used / (wall * cpus as f64) * 100.0).min(100.0))
}

fn round2(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn cpu_is_a_share_of_every_cpu_over_the_interval() {
        let start = Instant::now();
        let at = |secs: u64, cpu_seconds: f64| CpuReading { at: start + Duration::from_secs(secs), cpu_seconds };
        assert_eq!(cpu_percent(at(0, 1.0), at(10, 6.0), 1), 50.0);
        assert_eq!(cpu_percent(at(0, 1.0), at(10, 6.0), 2), 25.0);
        assert_eq!(cpu_percent(at(0, 0.0), at(1, 5.0), 2), 100.0, "never above 100");
        assert_eq!(cpu_percent(at(5, 0.0), at(5, 1.0), 2), 0.0, "no time passed");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn usage_reads_this_process() {
        let frontend = Frontend::new(&[0; 32], 1);
        let usage = frontend.usage(Instant::now() - Duration::from_secs(1));
        assert!(usage.memory_bytes > 0);
        assert!(usage.memory_percent > 0.0 && usage.memory_percent < 100.0, "{usage:?}");
        assert!((0.0..=100.0).contains(&usage.cpu_percent), "{usage:?}");
    }
}
