//! Parity checks against `moshi_mlx` reference fixtures (see `moshi-parity`).

pub mod lm;
pub mod mimi;

/// The outcome of one parity check, printed as one line by `moshi-parity`.
#[derive(Debug, Clone)]
pub struct Check {
    /// Short stable name, e.g. `lm/fp32_argmax/tokens`.
    pub name: String,
    /// `Ok(detail)` when the check passed, `Err(detail)` when it failed.
    pub result: Result<String, String>,
}
