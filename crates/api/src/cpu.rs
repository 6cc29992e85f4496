//! A bounded pool of dedicated threads for CPU-heavy work: password hashing and inference steps
//! each get one. On the async workers such work would stall every other request; on tokio's
//! blocking pool each of its many threads would keep its own allocator arena (RSS was measured
//! growing past 500 MiB under a login burst). A fixed set of threads bounds CPU and memory alike,
//! however much work arrives; past the queue, callers wait to enqueue (backpressure).
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot};

/// Jobs waiting for a thread; beyond this, callers wait to enqueue.
const QUEUE: usize = 256;

type Job = Box<dyn FnOnce() + Send>;

#[derive(Debug, thiserror::Error)]
pub enum CpuPoolError {
    #[error("the {0} threads stopped")]
    Stopped(&'static str),
    #[error("a {0} thread failed")]
    Failed(&'static str),
}

#[derive(Debug, Clone)]
pub struct CpuPool {
    name: &'static str,
    jobs: mpsc::Sender<Job>,
}

impl CpuPool {
    /// Starts `threads` threads named `{name}-{i}`; they end when the last clone is dropped.
    pub fn new(name: &'static str, threads: usize) -> Self {
        let (jobs, queue) = mpsc::channel::<Job>(QUEUE);
        let queue = Arc::new(Mutex::new(queue));
        for index in 0..threads.max(1) {
            let queue = queue.clone();
            let spawned = std::thread::Builder::new().name(format!("{name}-{index}")).spawn(move || {
                loop {
                    let job = queue.lock().unwrap_or_else(std::sync::PoisonError::into_inner).blocking_recv();
                    match job {
                        Some(job) => job(),
                        None => return,
                    }
                }
            });
            if let Err(e) = spawned {
                tracing::error!(error = %e, pool = name, "could not start a worker thread");
            }
        }
        CpuPool { name, jobs }
    }

    /// Runs `work` on one of the threads, in the caller's span. Work whose caller went away while
    /// it was queued (a cancelled request) is skipped.
    pub async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T, CpuPoolError> {
        let (done, result) = oneshot::channel();
        let span = tracing::Span::current();
        let job: Job = Box::new(move || {
            if done.is_closed() {
                return;
            }
            let _ = done.send(span.in_scope(work));
        });
        self.jobs.send(job).await.map_err(|_| CpuPoolError::Stopped(self.name))?;
        result.await.map_err(|_| CpuPoolError::Failed(self.name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn work_runs_on_the_named_threads() {
        let pool = CpuPool::new("test-pool", 2);
        let name = pool.run(|| std::thread::current().name().map(str::to_owned)).await.unwrap();
        assert!(name.is_some_and(|n| n.starts_with("test-pool-")));
        let results = futures_util::future::join_all((0..10).map(|i| pool.run(move || i * 2))).await;
        assert_eq!(results.into_iter().map(Result::unwrap).sum::<i32>(), 90);
    }
}
