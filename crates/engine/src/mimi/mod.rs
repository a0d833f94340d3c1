//! The Mimi neural audio codec (24 kHz mono <-> 12.5 Hz codes).
