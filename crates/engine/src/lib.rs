//! Moshi on MLX: the Helium language model with its depformer, and the Mimi codec.
//!
//! (Skeleton: the LM and Mimi are filled in by their modules.)

pub mod lm;
pub mod mimi;
pub mod parity;
