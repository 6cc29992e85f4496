//! Group commit for independent writes. On PostgreSQL a write transaction's fixed cost (its round
//! trip, its commit record and the WAL flush the commit waits for) is most of what a small insert
//! costs: about 250 µs of PostgreSQL's CPU for a create alone, against about 100 µs per create when
//! eight go in one statement (docs/PERFORMANCE.md). So concurrent writes of one kind are queued and
//! written together, as many as are waiting when a writer comes free.
//!
//! Nothing waits for a batch to fill: a write that finds a writer free goes at once, alone. Batches
//! form only while every writer is busy, so under light load nothing changes and under heavy load
//! each commit carries the writes that queued behind it.
//!
//! A batch is one statement, so it commits or fails whole. When it fails for a reason one row can
//! cause (a constraint, a refused value), each write in it is retried alone, so one bad write
//! fails only its own request. When the database is unreachable or the pool exhausted, every write
//! in the batch gets that error at once.
use crate::StoreError;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use tokio::sync::{Mutex, mpsc, oneshot};

/// Writes one batch; answers one result per item, in the items' order.
pub(crate) type WriteMany<T, R> =
    Arc<dyn Fn(Vec<Arc<T>>) -> Pin<Box<dyn Future<Output = Result<Vec<R>, StoreError>> + Send>> + Send + Sync>;

/// How the writers of one kind of write are sized.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BatchSettings {
    /// The `operation` label of the batch-size histogram (as in the query timings).
    pub operation: &'static str,
    /// Batches written at once: each holds a pooled connection while it runs.
    pub writers: usize,
    /// Items per batch at most: bounds one statement's size and one commit's latency.
    pub max_items: usize,
    /// Items waiting at most; beyond it a caller waits to queue (backpressure, not memory).
    pub queue: usize,
}

struct Job<T, R> {
    item: Arc<T>,
    reply: oneshot::Sender<Result<R, StoreError>>,
}

/// The queue's receiving end and the writing function, until the first write starts the writers.
type Unstarted<T, R> = std::sync::Mutex<Option<(mpsc::Receiver<Job<T, R>>, WriteMany<T, R>)>>;

/// A queue of writes of one kind and the tasks that write them. Cloning shares both; the tasks
/// end once every clone is dropped (they hold the writing function, never the queue's sender).
/// The tasks start with the first write, on its runtime, so the store can be built outside one.
pub(crate) struct WriteBatcher<T, R> {
    queue: mpsc::Sender<Job<T, R>>,
    settings: BatchSettings,
    unstarted: Arc<Unstarted<T, R>>,
}

impl<T, R> Clone for WriteBatcher<T, R> {
    fn clone(&self) -> Self {
        Self { queue: self.queue.clone(), settings: self.settings, unstarted: Arc::clone(&self.unstarted) }
    }
}

impl<T, R> std::fmt::Debug for WriteBatcher<T, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriteBatcher").field("queued", &(self.queue.max_capacity() - self.queue.capacity())).finish()
    }
}

impl<T, R> WriteBatcher<T, R>
where
    T: Send + Sync + 'static,
    R: Send + 'static,
{
    pub(crate) fn new(settings: BatchSettings, write: WriteMany<T, R>) -> Self {
        let (queue, jobs) = mpsc::channel(settings.queue.max(1));
        Self { queue, settings, unstarted: Arc::new(std::sync::Mutex::new(Some((jobs, write)))) }
    }

    /// Queues `item` and waits for the batch it went in to commit or fail.
    pub(crate) async fn write(&self, item: T) -> Result<R, StoreError> {
        self.start_writers();
        let (reply, answer) = oneshot::channel();
        let stopped = || StoreError::Unavailable("the store's writers have stopped".to_owned());
        self.queue.send(Job { item: Arc::new(item), reply }).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    /// Spawns the writers on the current runtime, the first time only.
    fn start_writers(&self) {
        let unstarted = self.unstarted.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
        if let Some((jobs, write)) = unstarted {
            let jobs = Arc::new(Mutex::new(jobs));
            for _ in 0..self.settings.writers.max(1) {
                tokio::spawn(run_writer(Arc::clone(&jobs), Arc::clone(&write), self.settings));
            }
        }
    }
}

async fn run_writer<T, R>(jobs: Arc<Mutex<mpsc::Receiver<Job<T, R>>>>, write: WriteMany<T, R>, settings: BatchSettings)
where
    T: Send + Sync + 'static,
    R: Send + 'static,
{
    let max_items = settings.max_items.max(1);
    let mut batch = Vec::with_capacity(max_items);
    loop {
        {
            let mut jobs = jobs.lock().await;
            if jobs.recv_many(&mut batch, max_items).await == 0 {
                return;
            }
        }
        metrics::histogram!("freeagentics_db_write_batch_size", "operation" => settings.operation)
            .record(batch.len() as f64);
        write_batch(&write, std::mem::take(&mut batch)).await;
    }
}

async fn write_batch<T, R>(write: &WriteMany<T, R>, batch: Vec<Job<T, R>>) {
    let items = batch.iter().map(|job| Arc::clone(&job.item)).collect();
    match write(items).await {
        Ok(results) if results.len() == batch.len() => {
            for (job, result) in batch.into_iter().zip(results) {
                let _ = job.reply.send(Ok(result));
            }
        }
        Ok(results) => {
            let error = format!("a batch of {} writes answered {} results", batch.len(), results.len());
            for job in batch {
                let _ = job.reply.send(Err(StoreError::other(error.clone())));
            }
        }
        Err(error) if batch.len() == 1 => {
            if let Some(job) = batch.into_iter().next() {
                let _ = job.reply.send(Err(error));
            }
        }
        Err(error) => {
            for job in batch {
                let result = match everyones(&error) {
                    Some(copy) => Err(copy),
                    None => write(vec![Arc::clone(&job.item)]).await.and_then(|mut results| {
                        results.pop().ok_or_else(|| StoreError::other("a write answered no result"))
                    }),
                };
                let _ = job.reply.send(result);
            }
        }
    }
}

/// An error that says nothing about the batch's rows is every row's answer; `None` for any other.
fn everyones(error: &StoreError) -> Option<StoreError> {
    match error {
        StoreError::Unavailable(message) => Some(StoreError::Unavailable(message.clone())),
        StoreError::PoolExhausted => Some(StoreError::PoolExhausted),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex as SyncMutex;
    use tokio::sync::Semaphore;

    /// A writer that records each batch it is given and, while `gate` has no permits, holds the
    /// batch it is writing: writes queued meanwhile must go together. Item `n` answers `n * 10`;
    /// a batch holding a negative item fails with `fail`.
    struct Recorder {
        batches: SyncMutex<Vec<Vec<i64>>>,
        gate: Semaphore,
        fail: fn() -> StoreError,
    }

    fn recorder(fail: fn() -> StoreError) -> Arc<Recorder> {
        Arc::new(Recorder { batches: SyncMutex::new(Vec::new()), gate: Semaphore::new(0), fail })
    }

    fn batcher(recorder: &Arc<Recorder>, writers: usize, max_items: usize) -> WriteBatcher<i64, i64> {
        let recorder = Arc::clone(recorder);
        let write: WriteMany<i64, i64> = Arc::new(move |items: Vec<Arc<i64>>| {
            let recorder = Arc::clone(&recorder);
            Box::pin(async move {
                let items: Vec<i64> = items.iter().map(|i| **i).collect();
                recorder.batches.lock().unwrap().push(items.clone());
                recorder.gate.acquire().await.unwrap().forget();
                if items.iter().any(|i| *i < 0) {
                    return Err((recorder.fail)());
                }
                Ok(items.iter().map(|i| i * 10).collect())
            })
        });
        WriteBatcher::new(BatchSettings { operation: "test", writers, max_items, queue: 64 }, write)
    }

    /// Queues `items` behind a first write (0) that holds the only writer, then lets every write go.
    async fn behind_a_busy_writer(
        recorder: &Arc<Recorder>,
        batcher: &WriteBatcher<i64, i64>,
        items: &[i64],
    ) -> Vec<Result<i64, StoreError>> {
        let first = tokio::spawn({
            let batcher = batcher.clone();
            async move { batcher.write(0).await }
        });
        while recorder.batches.lock().unwrap().is_empty() {
            tokio::task::yield_now().await;
        }
        let queued: Vec<_> = items
            .iter()
            .map(|&item| {
                let batcher = batcher.clone();
                tokio::spawn(async move { batcher.write(item).await })
            })
            .collect();
        while batcher.queue.max_capacity() - batcher.queue.capacity() < items.len() {
            tokio::task::yield_now().await;
        }
        recorder.gate.add_permits(1000);
        assert_eq!(first.await.unwrap().unwrap(), 0);
        let mut results = Vec::new();
        for write in queued {
            results.push(write.await.unwrap());
        }
        results
    }

    #[tokio::test]
    async fn writes_that_queue_behind_a_busy_writer_go_together() {
        let recorder = recorder(|| StoreError::other("refused"));
        let batcher = batcher(&recorder, 1, 32);
        let results = behind_a_busy_writer(&recorder, &batcher, &[1, 2, 3, 4, 5]).await;
        let answers: Vec<i64> = results.into_iter().map(Result::unwrap).collect();
        assert_eq!(answers, [10, 20, 30, 40, 50], "each write gets its own answer");
        assert_eq!(*recorder.batches.lock().unwrap(), [vec![0], vec![1, 2, 3, 4, 5]]);
    }

    #[tokio::test]
    async fn a_batch_holds_at_most_max_items() {
        let recorder = recorder(|| StoreError::other("refused"));
        let batcher = batcher(&recorder, 1, 2);
        behind_a_busy_writer(&recorder, &batcher, &[1, 2, 3, 4, 5]).await;
        assert_eq!(*recorder.batches.lock().unwrap(), [vec![0], vec![1, 2], vec![3, 4], vec![5]]);
    }

    #[tokio::test]
    async fn a_write_that_fails_its_batch_fails_alone() {
        let recorder = recorder(|| StoreError::other("refused"));
        let batcher = batcher(&recorder, 1, 32);
        let results = behind_a_busy_writer(&recorder, &batcher, &[1, -2, 3]).await;
        assert_eq!(results[0].as_ref().unwrap(), &10);
        assert!(matches!(results[1], Err(StoreError::Other(_))), "{:?}", results[1]);
        assert_eq!(results[2].as_ref().unwrap(), &30);
        assert_eq!(
            *recorder.batches.lock().unwrap(),
            [vec![0], vec![1, -2, 3], vec![1], vec![-2], vec![3]],
            "the failed batch is retried one write at a time"
        );
    }

    #[tokio::test]
    async fn an_unreachable_database_fails_the_whole_batch_without_retries() {
        let recorder = recorder(|| StoreError::Unavailable("connection refused".to_owned()));
        let batcher = batcher(&recorder, 1, 32);
        let results = behind_a_busy_writer(&recorder, &batcher, &[1, -2, 3]).await;
        assert!(
            results.iter().all(|r| matches!(r, Err(StoreError::Unavailable(m)) if m == "connection refused")),
            "{results:?}"
        );
        assert_eq!(*recorder.batches.lock().unwrap(), [vec![0], vec![1, -2, 3]], "no retries");
    }

    /// `connect_postgres` is not async: a store built outside a runtime starts its writers with its
    /// first write, on that write's runtime.
    #[test]
    fn a_batcher_built_outside_a_runtime_writes_on_the_first_writers_runtime() {
        let recorder = recorder(|| StoreError::other("refused"));
        let batcher = batcher(&recorder, 2, 32);
        recorder.gate.add_permits(10);
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        assert_eq!(runtime.block_on(batcher.write(4)).unwrap(), 40);
        assert_eq!(*recorder.batches.lock().unwrap(), [vec![4]]);
    }

    #[tokio::test]
    async fn writers_stop_when_the_last_handle_is_dropped() {
        let recorder = recorder(|| StoreError::other("refused"));
        let batcher = batcher(&recorder, 2, 32);
        recorder.gate.add_permits(10);
        assert_eq!(batcher.write(7).await.unwrap(), 70);
        let weak = Arc::downgrade(&recorder);
        drop(recorder);
        drop(batcher);
        for _ in 0..100 {
            if weak.upgrade().is_none() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("the writers still hold the writing function");
    }
}
