//! Loading Moshi from a verified model directory (feature `engine`).
//!
//! (Waiting for `crates/engine`'s loader, `engine::Moshi::load(&MoshiPaths::from_dir(dir,
//! quality)?, &LoadOptions)`, and voice's `engine` adapter.)

use std::path::Path;

use crate::state::UiError;

/// Loads the model as the session's [`voice::FrameModel`].
pub fn load(dir: &Path, quality: hardware::Quality) -> Result<Box<dyn voice::FrameModel>, UiError> {
    let _ = (dir, quality);
    Err(UiError::new(
        "No engine in this build",
        if cfg!(feature = "engine") {
            "The Moshi engine is not available yet in this build.".to_owned()
        } else {
            "This build was made without the `engine` feature.".to_owned()
        },
        None,
    ))
}
