/// Records how long one store operation took, in `freeagentics_db_query_duration_seconds{operation}`,
/// when dropped — so early returns and errors are measured too.
pub(crate) struct QueryTimer {
    operation: &'static str,
    started: std::time::Instant,
}

impl QueryTimer {
    pub(crate) fn start(operation: &'static str) -> Self {
        Self { operation, started: std::time::Instant::now() }
    }
}

impl Drop for QueryTimer {
    fn drop(&mut self) {
        metrics::histogram!("freeagentics_db_query_duration_seconds", "operation" => self.operation)
            .record(self.started.elapsed().as_secs_f64());
    }
}
