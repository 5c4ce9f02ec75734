//! CPU time spent by this process's threads, grouped by thread name (Linux `/proc`): shows
//! where a multi-threaded figure's CPU goes, measured in the same run.

use std::collections::HashMap;
use std::time::Duration;

/// Name under which [`between`] reports threads seen only in the process total.
pub const ENDED: &str = "ended threads";

/// Name under which the process's main thread is reported: threads that a library starts
/// without a name carry the process name too, so the name alone does not tell them apart.
pub const MAIN: &str = "main thread";

/// Name under which threads started without a name are reported (Linux gives them the
/// process's name, which depends on what the binary is called).
pub const UNNAMED: &str = "unnamed threads";

/// CPU time per live thread and for the whole process at one instant.
pub struct Snapshot {
    /// Thread id -> (name, CPU time).
    threads: HashMap<String, (String, Duration)>,
    /// CPU time of the process, ended threads included.
    process: Duration,
}

/// Reads `/proc/self`; `None` where it is not available.
pub fn snapshot() -> Option<Snapshot> {
    let mut threads = HashMap::new();
    let main = std::process::id().to_string();
    let process_name = std::fs::read_to_string("/proc/self/comm").ok()?;
    for entry in std::fs::read_dir("/proc/self/task").ok()? {
        let dir = entry.ok()?.path();
        let tid = dir.file_name()?.to_string_lossy().into_owned();
        // A thread may end between listing and reading: skip it.
        let Ok(name) = std::fs::read_to_string(dir.join("comm")) else {
            continue;
        };
        let Some(cpu) = std::fs::read_to_string(dir.join("schedstat"))
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        else {
            continue;
        };
        let name = if tid == main {
            MAIN.to_string()
        } else if name == process_name {
            UNNAMED.to_string()
        } else {
            name.trim().to_string()
        };
        threads.insert(tid, (name, Duration::from_nanos(cpu)));
    }
    Some(Snapshot {
        threads,
        process: process_time()?,
    })
}

/// User + system time of the whole process (clock ticks of 1/100 s, Linux's USER_HZ).
fn process_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// CPU time per thread name between two snapshots, largest first. Threads that started and
/// ended in between are only visible in the process total: they are reported as [`ENDED`].
pub fn between(before: &Snapshot, after: &Snapshot) -> Vec<(String, Duration)> {
    let mut by_name: HashMap<String, Duration> = HashMap::new();
    let mut live = Duration::ZERO;
    for (tid, (name, cpu)) in &after.threads {
        let start = before
            .threads
            .get(tid)
            .map_or(Duration::ZERO, |(_, cpu)| *cpu);
        let used = cpu.saturating_sub(start);
        live += used;
        *by_name.entry(name.clone()).or_default() += used;
    }
    // Threads alive before but ended by now are in neither list's difference: the process
    // totals cover them, at 10 ms resolution.
    let ended = after
        .process
        .saturating_sub(before.process)
        .saturating_sub(live);
    if ended >= Duration::from_millis(10) {
        by_name.insert(ENDED.into(), ended);
    }
    let mut out: Vec<_> = by_name.into_iter().filter(|(_, d)| !d.is_zero()).collect();
    out.sort_by_key(|(_, d)| std::cmp::Reverse(*d));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_busy_named_thread_is_attributed_to_its_name() {
        let before = snapshot().expect("/proc/self");
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("bench-busy".into())
            .spawn(move || {
                // Spins until it has had 200 ms of CPU (its own scheduler figure), however
                // loaded the machine is.
                let on_cpu = || {
                    std::fs::read_to_string("/proc/thread-self/schedstat")
                        .ok()
                        .and_then(|s| s.split_whitespace().next()?.parse::<u64>().ok())
                        .map_or(Duration::ZERO, Duration::from_nanos)
                };
                let mut x = 0u64;
                while on_cpu() < Duration::from_millis(200) {
                    for _ in 0..10_000 {
                        x = x.wrapping_add(std::hint::black_box(1));
                    }
                }
                let _ = done_tx.send(());
                // Still alive at the second snapshot: parked until the test ends.
                std::thread::park_timeout(Duration::from_secs(5));
                x
            })
            .expect("spawn");
        done_rx
            .recv_timeout(Duration::from_secs(60))
            .expect("the busy thread spins for 200 ms of CPU");
        let after = snapshot().expect("/proc/self");
        let used = between(&before, &after);
        let busy = used
            .iter()
            .find(|(name, _)| name == "bench-busy")
            .map(|(_, d)| *d)
            .expect("the busy thread is listed");
        assert!(busy >= Duration::from_millis(100), "{busy:?}");
    }
}
