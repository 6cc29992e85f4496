//! The process's memory policy (crates/server/src/memory.rs), seen from outside the binary.
use crate::helpers::Process;

/// `THP_enabled` of a process: 0 once it turned transparent huge pages off for itself.
#[cfg(target_os = "linux")]
fn thp_enabled(pid: u32) -> String {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|line| line.starts_with("THP_enabled:")).expect("the kernel reports THP_enabled");
    line.trim_start_matches("THP_enabled:").trim().to_owned()
}

/// mimalloc asks for huge pages and khugepaged then grows the process in whole 2 MiB pages while
/// it idles; the binary turns them off for itself, whatever the process that started it allowed.
#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_runs_without_transparent_huge_pages() {
    // the flag is inherited: the test's own process still allows them, so the child's 0 is its own doing
    assert_eq!(thp_enabled(std::process::id()), "1", "this test needs a parent that allows huge pages");
    let process = Process::spawn(&[]).await;
    let pid = process.child.id().expect("the binary is running");
    assert_eq!(thp_enabled(pid), "0");
}
