//! The process's memory policy, applied before the runtime starts.
//!
//! mimalloc marks its arenas for transparent huge pages (`MADV_HUGEPAGE`). On a kernel whose THP
//! mode is `madvise` or `always` (most distributions and Kubernetes nodes), khugepaged then turns
//! any 2 MiB range with a few live pages into a whole huge page, in the background: after a burst
//! of 50k agent creates the service grew from 66 to 93 MiB while idle, 61 MiB of it in huge pages,
//! against 39 MiB with THP off and the same throughput (docs/PERFORMANCE.md). A pod's memory limit
//! counts those pages, so the service turns THP off for itself (`PR_SET_THP_DISABLE`: this process
//! and any it would start, not the node).

/// Turns transparent huge pages off for this process. Call it first, before the runtime and its
/// threads allocate: pages already huge stay huge.
#[cfg(target_os = "linux")]
pub fn disable_transparent_huge_pages() -> std::io::Result<()> {
    Ok(rustix::thread::disable_transparent_huge_pages(true)?)
}

#[cfg(not(target_os = "linux"))]
pub fn disable_transparent_huge_pages() -> std::io::Result<()> {
    Ok(())
}

/// Whether this process may still get transparent huge pages (`None` where the kernel cannot say).
#[cfg(target_os = "linux")]
pub fn transparent_huge_pages_enabled() -> Option<bool> {
    rustix::thread::transparent_huge_pages_are_disabled().ok().map(|disabled| !disabled)
}

#[cfg(not(target_os = "linux"))]
pub fn transparent_huge_pages_enabled() -> Option<bool> {
    None
}
