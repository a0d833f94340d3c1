//! Moshibar's entry point: everything lives in the library (`moshibar_lib`).
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    moshibar_lib::run()
}
