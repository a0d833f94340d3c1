//! Which Moshi quality runs in real time on this Mac, and why.
//!
//! Moshi must produce one 80 ms frame every 80 ms. Whether a Mac can do that
//! depends on two things: whether the weights and the KV cache fit in the
//! memory the GPU may use, and whether the chip's memory bandwidth can stream
//! every weight 12.5 times a second. This crate detects the chip and memory
//! ([`detect`]), knows each chip's bandwidth ([`bandwidth`]) and each
//! quality's needs ([`needs`]), and turns them into a [`Plan`] with a reason a
//! person can read. A frame time measured on this machine by the engine's speed test
//! ([`speed`], [`plan_with_speed`]) takes precedence over the bandwidth estimate.
//!
//! ```
//! use hardware::{plan, profile, PlanOptions, Quality};
//!
//! let hw = profile::parse("m2-pro-16").expect("valid profile");
//! let p = plan(&hw, &PlanOptions::default());
//! assert_eq!(p.quality, Quality::Q4);
//! println!("{}", p.reason);
//! ```

pub mod bandwidth;
pub mod chip;
mod detect;
mod host;
mod macos;
pub mod needs;
mod plan;
pub mod profile;
pub mod speed;

pub use chip::{parse_brand, Chip, Tier};
pub use detect::{detect, detect_real, DetectError, PROFILE_ENV};
pub use host::{BudgetSource, Hardware, DEFAULT_GPU_FRACTION};
pub use moshi_repo;
pub use needs::{Needs, Quality, QualityNeeds};
pub use plan::{
    plan, plan_with_speed, Alternative, CacheState, Plan, PlanFile, PlanOptions, Source,
    BANDWIDTH_FRACTION, MEMORY_FRACTION, MIMI_FILE, TOKENIZER_FILE,
};
pub use speed::{
    machine_id, QualitySpeed, SpeedCache, SpeedCacheError, SpeedReport, FRAME_MS, SPEED_CACHE_ENV,
    SPEED_MARGIN,
};
