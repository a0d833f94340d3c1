//! The Moshi language model (Helium temporal transformer + depformer).
