//! The counter's file output off the video thread: JSON lines and gallery-file snapshots go
//! through a bounded channel to a thread of their own, which does the writing, flushing and
//! fsyncs. Queueing never blocks: when the channel is full the job is dropped and counted
//! (the caller reports it), so a slow or full disk costs lines, never video.

use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::events::EventWriter;
use super::persist;
use super::site::Snapshot;

/// Jobs the channel holds before new ones are dropped: minutes of events at any real rate.
pub const QUEUE_JOBS: usize = 256;

enum Job {
    /// One JSON object, without its newline.
    Line(String),
    /// A gallery-file snapshot and the wall-clock time (ns) it was taken at.
    Gallery { snapshot: Snapshot, wall_now: u64 },
    /// Answered once every job queued before it is done.
    Flush(SyncSender<()>),
}

/// What the writer thread did that the element should say.
#[derive(Debug, Clone, PartialEq)]
pub enum Report {
    /// `identities` written to the gallery file at `path`.
    GallerySaved { path: PathBuf, identities: usize },
    /// A write that failed (the message names the file and the reason).
    Failed(String),
}

/// The job could not be queued: the writer is behind (or gone).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dropped;

pub struct BackgroundWriter {
    jobs: Option<SyncSender<Job>>,
    reports: Receiver<Report>,
    thread: Option<JoinHandle<()>>,
}

impl BackgroundWriter {
    /// Starts the thread. `lines` is where JSON lines go (none: lines are not accepted).
    pub fn spawn(lines: Option<EventWriter>) -> Result<BackgroundWriter, String> {
        let (jobs, queue) = mpsc::sync_channel(QUEUE_JOBS);
        let (report, reports) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("footfall-writer".into())
            .spawn(move || work(queue, lines, report))
            .map_err(|e| format!("cannot start the writer thread: {e}"))?;
        Ok(BackgroundWriter {
            jobs: Some(jobs),
            reports,
            thread: Some(thread),
        })
    }

    fn queue(&self, job: Job) -> Result<(), Dropped> {
        let jobs = self.jobs.as_ref().ok_or(Dropped)?;
        jobs.try_send(job).map_err(|_| Dropped)
    }

    /// Queues one JSON line (never blocks).
    pub fn line(&self, text: String) -> Result<(), Dropped> {
        self.queue(Job::Line(text))
    }

    /// Queues a gallery-file snapshot (never blocks): it is unpacked and written there.
    pub fn save_gallery(&self, snapshot: Snapshot, wall_now: u64) -> Result<(), Dropped> {
        self.queue(Job::Gallery { snapshot, wall_now })
    }

    /// Waits up to `wait` until everything queued so far is written (end of stream: the last
    /// line is on disk before EOS goes on). False when the time ran out.
    pub fn flush(&self, wait: Duration) -> bool {
        flush_queue(self.jobs.as_ref(), wait, Job::Flush)
    }

    /// The next thing the thread reported, if any (never blocks, allocates nothing).
    pub fn next_report(&self) -> Option<Report> {
        self.reports.try_recv().ok()
    }

    /// Writes the last snapshot whatever the queue holds (waits for room: called when the
    /// element stops, never on the video thread), then ends the thread after every queued
    /// job and returns what it reported since the last look.
    pub fn finish(mut self, last: Option<(Snapshot, u64)>) -> Vec<Report> {
        if let (Some(jobs), Some((snapshot, wall_now))) = (self.jobs.as_ref(), last) {
            let _ = jobs.send(Job::Gallery { snapshot, wall_now });
        }
        self.stop();
        std::iter::from_fn(|| self.next_report()).collect()
    }

    fn stop(&mut self) {
        self.jobs = None; // the thread ends once the queue is empty
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for BackgroundWriter {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Queues the flush job `make(done)` on `jobs` (retrying while the queue is full) and waits
/// for the thread to answer on `done`, all within `wait`. False when the time ran out or
/// the thread is gone.
pub(crate) fn flush_queue<J>(
    jobs: Option<&SyncSender<J>>,
    wait: Duration,
    make: impl FnOnce(SyncSender<()>) -> J,
) -> bool {
    let Some(jobs) = jobs else {
        return false;
    };
    let deadline = Instant::now() + wait;
    let (done, answered) = mpsc::sync_channel(1);
    let mut job = make(done);
    loop {
        match jobs.try_send(job) {
            Ok(()) => break,
            Err(TrySendError::Full(j)) if Instant::now() < deadline => {
                job = j;
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(_) => return false,
        }
    }
    answered
        .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        .is_ok()
}

fn work(queue: Receiver<Job>, mut lines: Option<EventWriter>, report: mpsc::Sender<Report>) {
    for job in queue {
        let outcome = match job {
            Job::Line(text) => match lines.as_mut() {
                Some(w) => w.write_line(&text).err().map(Report::Failed),
                None => None,
            },
            Job::Gallery { snapshot, wall_now } => Some(save(snapshot, wall_now)),
            Job::Flush(done) => {
                let _ = done.try_send(());
                None
            }
        };
        if let Some(r) = outcome {
            let _ = report.send(r);
        }
    }
}

fn save(snapshot: Snapshot, wall_now: u64) -> Report {
    match persist::save(&snapshot.path, &snapshot.records(), wall_now) {
        Ok(identities) => Report::GallerySaved {
            path: snapshot.path,
            identities,
        },
        Err(e) => Report::Failed(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("footfall-writer-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(name)
    }

    #[test]
    fn lines_arrive_in_order_and_flush_waits_for_them() {
        let path = temp("order.jsonl");
        let _ = std::fs::remove_file(&path);
        let w = BackgroundWriter::spawn(Some(EventWriter::open(path.to_str().unwrap()).unwrap()))
            .unwrap();
        for i in 0..100 {
            // The test must not outrun a slow machine's writer: retry a dropped line.
            while w.line(format!("{{\"n\":{i}}}")).is_err() {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        assert!(w.flush(Duration::from_secs(10)));
        let text = std::fs::read_to_string(&path).unwrap();
        let got: Vec<String> = text.lines().map(str::to_string).collect();
        let want: Vec<String> = (0..100).map(|i| format!("{{\"n\":{i}}}")).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn a_full_queue_drops_instead_of_blocking() {
        // A writer whose thread is stuck behind a flush nobody answers cannot drain: fill
        // the queue and check that queueing returns at once with Dropped.
        let (jobs, _queue) = mpsc::sync_channel(QUEUE_JOBS);
        let (_report, reports) = mpsc::channel();
        let w = BackgroundWriter {
            jobs: Some(jobs),
            reports,
            thread: None,
        };
        let started = Instant::now();
        let accepted = (0..QUEUE_JOBS + 50)
            .filter(|i| w.line(i.to_string()).is_ok())
            .count();
        assert_eq!(accepted, QUEUE_JOBS);
        assert!(!w.flush(Duration::from_millis(50)));
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn write_failures_and_saves_are_reported() {
        let w = BackgroundWriter::spawn(None).unwrap();
        let bad = PathBuf::from("/nonexistent-footfall-dir/gallery.bin");
        w.save_gallery(Snapshot::empty(bad), 0).unwrap();
        let good = temp("gallery.bin");
        let reports = w.finish(Some((Snapshot::empty(good.clone()), 0)));
        assert_eq!(reports.len(), 2, "{reports:?}");
        assert!(matches!(&reports[0], Report::Failed(m) if m.contains("nonexistent")));
        assert_eq!(
            reports[1],
            Report::GallerySaved {
                path: good.clone(),
                identities: 0
            }
        );
        assert!(persist::load(&good, 0).is_ok());
    }
}
