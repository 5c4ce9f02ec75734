//! The thread pool of CPU-bound work: ordered maps over a slice on every core, with
//! scoped threads (no long-lived pool to start or stop).

/// Fewest items worth splitting across threads (below, one thread is faster).
const PARALLEL_MIN: usize = 64;

/// Items a thread of [`parallel_map`] claims at a time.
const PARALLEL_CHUNK: usize = 16;

/// Threads [`parallel_chunks`] uses: `available_parallelism`, read once (it reads the
/// cgroup's CPU quota from /sys on every call: 1 % of the ingest thread in `perf`).
pub fn threads() -> usize {
    static THREADS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *THREADS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// Maps `f` over `items` on up to `available_parallelism` threads (the caller's and scoped
/// ones), keeping the order. Decoding a batch of received operations is dominated by Ed25519
/// verification, which is independent per operation: this spreads it over the cores.
pub fn parallel_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    if items.len() < PARALLEL_MIN {
        return items.iter().map(f).collect();
    }
    parallel_chunks(items, PARALLEL_CHUNK, |chunk| {
        chunk.iter().map(&f).collect()
    })
}

/// Maps `f` over consecutive chunks of at most `chunk` items on up to `available_parallelism`
/// threads (the caller's and scoped ones) and concatenates the results in order; `f` returns
/// one result per item of its chunk.
///
/// Threads claim chunks as they go rather than a fixed share each: the ingest thread runs
/// beside them, so fixed halves finished at different times and left a core idle until the
/// slower half was done.
pub fn parallel_chunks<T: Sync, R: Send>(
    items: &[T],
    chunk: usize,
    f: impl Fn(&[T]) -> Vec<R> + Sync,
) -> Vec<R> {
    let chunk = chunk.max(1);
    let threads = threads();
    if threads < 2 || items.len() <= chunk {
        return f(items);
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    // Each thread returns the chunks it mapped, with their start index.
    let work = || {
        let mut done: Vec<(usize, Vec<R>)> = Vec::new();
        loop {
            let start = next.fetch_add(chunk, std::sync::atomic::Ordering::Relaxed);
            if start >= items.len() {
                return done;
            }
            let end = (start + chunk).min(items.len());
            done.push((start, f(&items[start..end])));
        }
    };
    let mut chunks = std::thread::scope(|scope| {
        let helpers: Vec<_> = (1..threads).map(|_| scope.spawn(work)).collect();
        let mut chunks = work();
        for helper in helpers {
            match helper.join() {
                Ok(part) => chunks.extend(part),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        chunks
    });
    chunks.sort_unstable_by_key(|(start, _)| *start);
    chunks.into_iter().flat_map(|(_, part)| part).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parallel_map_keeps_order_and_results() {
        for n in [0, 1, 63, 64, 65, 1000] {
            let items: Vec<u32> = (0..n).collect();
            let out = parallel_map(&items, |x| u64::from(*x) * 3);
            assert_eq!(
                out,
                items.iter().map(|x| u64::from(*x) * 3).collect::<Vec<_>>()
            );
        }
    }

    #[test]
    fn parallel_map_passes_a_panic_on_to_the_caller() {
        let items: Vec<u32> = (0..1000).collect();
        for bad in [0, 500, 999] {
            let result = std::panic::catch_unwind(|| {
                parallel_map(&items, |x| {
                    assert_ne!(*x, bad, "item {bad} fails");
                    *x
                })
            });
            assert!(result.is_err(), "a panic on item {bad} reaches the caller");
        }
    }
}
