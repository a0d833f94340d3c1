//! Proves that the code running inside the audio callbacks allocates nothing: a counting
//! global allocator counts this thread's allocations while the real `Capture`/`Playback`
//! callback states process buffers of every supported format, with the model thread's side
//! of the rings busy on another thread.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use voice::{ring, AudioCounters, Capture, Playback};

struct Counting;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocs() -> u64 {
    ALLOCS.with(|c| c.get())
}

#[test]
fn callbacks_do_not_allocate() {
    let counters = Arc::new(AudioCounters::default());
    let (in_p, mut in_c) = ring(9600);
    let (mut out_p, out_c) = ring(9600);
    let mut capture = Capture::new(in_p, 2, counters.clone());
    let mut playback = Playback::new(out_c, 2, 960, counters.clone());

    // The model thread's side: drain the input ring and keep the output ring fed.
    let stop = Arc::new(AtomicBool::new(false));
    let s2 = stop.clone();
    let other = std::thread::spawn(move || {
        let mut x = 0.0f32;
        while !s2.load(Ordering::Relaxed) {
            while in_c.pop().is_ok() {}
            while out_p.slots() > 0 {
                x = (x + 0.01) % 1.0;
                let _ = out_p.push(x - 0.5);
            }
            std::thread::yield_now();
        }
    });

    // Buffers exist before counting, as the audio system's buffers do.
    let in_f32 = vec![0.25f32; 960];
    let in_i16 = vec![1000i16; 960];
    let in_u8 = vec![200u8; 960];
    let in_i32 = vec![1 << 20; 480];
    let mut out_f32 = vec![0.0f32; 960];
    let mut out_i16 = vec![0i16; 960];
    let mut out_u16 = vec![0u16; 480];
    let mut out_f64 = vec![0.0f64; 960];

    let before = allocs();
    for i in 0..2000 {
        capture.process(&in_f32);
        capture.process(&in_i16);
        capture.process(&in_u8);
        capture.process(&in_i32);
        capture.note_device_latency(std::time::Duration::from_micros(i));
        playback.process(&mut out_f32);
        playback.process(&mut out_i16);
        playback.process(&mut out_u16);
        playback.process(&mut out_f64);
        playback.note_device_latency(std::time::Duration::from_micros(i));
    }
    let during = allocs() - before;
    stop.store(true, Ordering::Relaxed);
    other.join().expect("ring thread");

    assert_eq!(during, 0, "the callback path allocated {during} times");
    // And the callbacks really moved audio (not a vacuous pass).
    assert!(counters.captured.load(Ordering::Relaxed) > 0);
    assert!(counters.played.load(Ordering::Relaxed) > 0);
}

#[test]
fn the_counter_counts() {
    let before = allocs();
    let v: Vec<u8> = Vec::with_capacity(10);
    assert!(allocs() > before);
    drop(v);
}
