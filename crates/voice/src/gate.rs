//! Push-to-talk: decides per frame whether the microphone or silence reaches the model.
//!
//! Moshi is full duplex, so the model keeps running while the key is up; it just hears silence
//! and can go on talking. The gate is read by the model thread when it hands a frame to the
//! model, so a key-down reaches the model with the very next frame (within one frame, 80 ms),
//! and that frame carries the mic audio of the 80 ms before it too.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Shared between the app (which presses the key) and the model thread (which reads it).
#[derive(Debug, Default)]
pub struct Gate {
    talking: AtomicBool,
    hands_free: AtomicBool,
    submitted: AtomicU64,
}

impl Gate {
    /// A gate, open all the time when `hands_free`.
    pub fn new(hands_free: bool) -> Self {
        Self {
            talking: AtomicBool::new(false),
            hands_free: AtomicBool::new(hands_free),
            submitted: AtomicU64::new(0),
        }
    }

    /// Push-to-talk key down (`true`) or up (`false`).
    pub fn set_talking(&self, talking: bool) {
        self.talking.store(talking, Ordering::SeqCst);
    }

    /// Switches hands-free mode (mic always reaches the model).
    pub fn set_hands_free(&self, on: bool) {
        self.hands_free.store(on, Ordering::SeqCst);
    }

    /// Whether mic frames reach the model now.
    pub fn is_open(&self) -> bool {
        self.hands_free.load(Ordering::SeqCst) || self.talking.load(Ordering::SeqCst)
    }

    /// Frames handed to the model so far. A key-down made while this reads `n` applies to
    /// frame `n` (0-based) and every later frame: the model thread counts a frame before it
    /// reads the gate for it.
    pub fn frames_submitted(&self) -> u64 {
        self.submitted.load(Ordering::SeqCst)
    }

    /// Called by the model thread for each frame: counts it, then silences it if the gate is
    /// closed. Returns whether the mic got through and the frame's index.
    pub fn apply(&self, frame: &mut [f32]) -> (bool, u64) {
        let index = self.submitted.fetch_add(1, Ordering::SeqCst);
        let open = self.is_open();
        if !open {
            frame.fill(0.0);
        }
        (open, index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closed_gate_silences_open_gate_passes() {
        let g = Gate::new(false);
        let mut f = [0.3f32; 8];
        assert_eq!(g.apply(&mut f), (false, 0));
        assert!(f.iter().all(|s| *s == 0.0));
        g.set_talking(true);
        let mut f = [0.3f32; 8];
        assert_eq!(g.apply(&mut f), (true, 1));
        assert!(f.iter().all(|s| *s == 0.3));
        g.set_talking(false);
        g.set_hands_free(true);
        assert!(g.is_open());
        assert_eq!(g.frames_submitted(), 2);
    }
}
