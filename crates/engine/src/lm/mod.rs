//! The Moshi language model (Helium temporal transformer + depformer) and its streaming step.

pub mod gen;
pub mod kv;
pub mod model;
pub mod transformer;

pub use gen::{LmGen, StepOutput};
pub use model::{DepOut, Lm, MainOut};
