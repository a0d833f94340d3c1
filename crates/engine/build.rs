//! Adds an rpath to the MLX shared library on Linux so the engine's tests,
//! binaries and benchmarks run without `LD_LIBRARY_PATH`. The directory comes
//! from `.cargo/config.toml` (`[env] MOSHIBAR_MLX_LIB_DIR`), written by
//! `scripts/setup-mlx.sh`. On macOS MLX is linked statically by mlx-sys.

fn main() {
    println!("cargo:rerun-if-env-changed=MOSHIBAR_MLX_LIB_DIR");
    if let Ok(dir) = std::env::var("MOSHIBAR_MLX_LIB_DIR") {
        if !dir.is_empty() {
            println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
        }
    }
}
