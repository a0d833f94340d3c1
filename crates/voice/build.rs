//! With the `engine` feature on Linux, adds an rpath to the MLX shared library (the
//! directory `scripts/setup-mlx.sh` writes to `.cargo/config.toml` as
//! `MOSHIBAR_MLX_LIB_DIR`) so `moshibar-voice` and this crate's tests run without
//! `LD_LIBRARY_PATH`, as the engine's own targets do.

fn main() {
    println!("cargo:rerun-if-env-changed=MOSHIBAR_MLX_LIB_DIR");
    if std::env::var_os("CARGO_FEATURE_ENGINE").is_none() {
        return;
    }
    if let Ok(dir) = std::env::var("MOSHIBAR_MLX_LIB_DIR") {
        if !dir.is_empty() {
            println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
        }
    }
}
