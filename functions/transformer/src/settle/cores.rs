//! Work split over the machine's cores, for the passes polars does not run for us.

use polars::prelude::{PolarsResult, polars_err};

/// Runs `work(worker, workers)` once per core, each on its own thread, and returns the results
/// in worker order.
pub(crate) fn on_each_core<T: Send>(
    work: impl Fn(usize, usize) -> T + Sync,
) -> PolarsResult<Vec<T>> {
    let workers = std::thread::available_parallelism().map_or(1, usize::from);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|worker| {
                let work = &work;
                scope.spawn(move || work(worker, workers))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join())
            .collect::<Result<Vec<T>, _>>()
    })
    .map_err(|_| polars_err!(ComputeError: "a worker thread panicked"))
}
