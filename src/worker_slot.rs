//! Where an element that runs a model keeps its per-stream worker between frames, so that
//! its state lock is held only to take the worker out and to put it back: never across
//! inference, chip cutting or a bus post (`facedetector`, `faceembedder`).
//!
//! A start or a stop while a worker is lent bumps the generation; the lent worker of the old
//! run is then not put back but handed to the caller to drop after the lock is released.

use crate::video_frame::VideoLayout;

/// An element's worker and negotiated layout, between frames.
pub struct WorkerSlot<W> {
    worker: Option<W>,
    video: Option<VideoLayout>,
    /// Caps were set since the worker was last lent.
    new_caps: bool,
    /// Counts starts and stops, so a worker lent before one is not put back after it.
    generation: u64,
}

impl<W> Default for WorkerSlot<W> {
    fn default() -> Self {
        WorkerSlot {
            worker: None,
            video: None,
            new_caps: false,
            generation: 0,
        }
    }
}

/// What one frame needs, out of the slot for that frame.
pub struct Lent<W> {
    pub worker: W,
    pub video: VideoLayout,
    /// The caps changed since the previous frame (a worker with per-scene state resets it).
    pub new_caps: bool,
    generation: u64,
}

/// Why a worker could not be lent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LendError {
    NotStarted,
    NoCaps,
}

impl std::fmt::Display for LendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LendError::NotStarted => "element not started",
            LendError::NoCaps => "no caps negotiated before the first buffer",
        })
    }
}

impl<W> WorkerSlot<W> {
    /// A new run (READY→PAUSED): `worker` replaces any previous one, caps come later.
    /// Returns the previous worker, to be dropped after the lock is released.
    pub fn start(&mut self, worker: W) -> Option<W> {
        let old = self.stop();
        self.worker = Some(worker);
        old
    }

    /// The run ends (PAUSED→READY). Returns the worker, to be dropped after the lock.
    pub fn stop(&mut self) -> Option<W> {
        self.video = None;
        self.new_caps = false;
        self.generation += 1;
        self.worker.take()
    }

    pub fn set_caps(&mut self, video: VideoLayout) {
        self.video = Some(video);
        self.new_caps = true;
    }

    /// Takes the worker and the layout out for one frame.
    pub fn lend(&mut self) -> Result<Lent<W>, LendError> {
        if self.worker.is_none() {
            return Err(LendError::NotStarted);
        }
        let video = self.video.take().ok_or(LendError::NoCaps)?;
        let worker = self.worker.take().expect("checked above");
        Ok(Lent {
            worker,
            video,
            new_caps: std::mem::take(&mut self.new_caps),
            generation: self.generation,
        })
    }

    /// Puts a lent worker back. Caps set while it was out win over the lent layout. A worker
    /// of a run that has ended since is returned instead, to be dropped after the lock.
    pub fn give_back(&mut self, lent: Lent<W>) -> Option<W> {
        if self.generation != lent.generation || self.worker.is_some() {
            return Some(lent.worker);
        }
        self.worker = Some(lent.worker);
        self.video.get_or_insert(lent.video);
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(width: u32) -> VideoLayout {
        gst::init().unwrap();
        let caps = gst_video::VideoInfo::builder(gst_video::VideoFormat::I420, width, 48)
            .build()
            .unwrap()
            .to_caps()
            .unwrap();
        VideoLayout::from_caps(&caps).unwrap()
    }

    #[test]
    fn lends_only_when_started_and_negotiated() {
        let mut slot = WorkerSlot::<u32>::default();
        assert_eq!(slot.lend().err(), Some(LendError::NotStarted));
        assert!(slot.start(7).is_none());
        assert_eq!(slot.lend().err(), Some(LendError::NoCaps));
        slot.set_caps(layout(64));
        let lent = slot.lend().unwrap();
        assert_eq!((lent.worker, lent.new_caps), (7, true));
        assert!(slot.give_back(lent).is_none());
        let again = slot.lend().unwrap();
        assert!(!again.new_caps, "new caps are reported once");
    }

    #[test]
    fn caps_set_while_lent_win() {
        let mut slot = WorkerSlot::default();
        slot.start(1u8);
        slot.set_caps(layout(64));
        let lent = slot.lend().unwrap();
        slot.set_caps(layout(96));
        assert!(slot.give_back(lent).is_none());
        let lent = slot.lend().unwrap();
        assert_eq!(lent.video.info.width(), 96);
        assert!(lent.new_caps);
    }

    #[test]
    fn a_worker_of_an_ended_run_is_not_put_back() {
        let mut slot = WorkerSlot::default();
        slot.start(1u8);
        slot.set_caps(layout(64));
        let lent = slot.lend().unwrap();
        assert!(slot.stop().is_none(), "the worker is out");
        assert_eq!(slot.give_back(lent), Some(1));
        assert_eq!(slot.lend().err(), Some(LendError::NotStarted));

        slot.start(2);
        slot.set_caps(layout(64));
        let lent = slot.lend().unwrap();
        slot.start(3);
        assert_eq!(slot.give_back(lent), Some(2), "restarted meanwhile");
        slot.set_caps(layout(64));
        assert_eq!(slot.lend().unwrap().worker, 3);
    }
}
