//! `moshibar-voice aec` on signals this test makes: espeak-ng speech as Moshi (played by a
//! slightly non-linear speaker into a room with a 45 ms delay and a 150 ms tail) and another
//! voice as the person. Checks what a person on laptop speakers needs: the echo removed (ERLE
//! after convergence), their own voice untouched when Moshi is silent, and still there when
//! both talk at once.

mod common;

use std::process::Command;

use voice::echo_room::{erle_db, level_change_db, presence, Room};

const RATE: f32 = 24_000.0;

fn s(t: f32) -> usize {
    (t * RATE) as usize
}

#[test]
fn aec_command_removes_the_echo_and_keeps_the_person() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let moshi = common::speech_24k(
        dir.path(),
        "moshi",
        "en-us",
        "Hello, I am Moshi. I can listen and talk at the same time, which is why I must not \
         hear my own voice coming back from the speakers of your laptop. Tell me about your day.",
    );
    let person = common::speech_24k(
        dir.path(),
        "person",
        "en+f4",
        "Well, this morning I went to the market and bought some apples, then I walked home \
         along the river. It was a lovely day.",
    );
    // Timeline (s): Moshi alone 0-9, the person alone 9.5-13, both 14-18.
    let total = s(19.0);
    let mut far = vec![0.0f32; total];
    common::place(&mut far, &moshi, 0.0, 9.0, 0.7);
    common::place(&mut far, &moshi[s(2.0)..], 14.0, 4.0, 0.7);
    let mut talker = vec![0.0f32; total];
    common::place(&mut talker, &person, 9.5, 3.5, 0.3);
    common::place(&mut talker, &person[s(3.5)..], 14.0, 4.0, 0.3);

    let room = Room::new(24_000, 45.0, 150.0, 0.3, 11);
    let echo = room.echo(&far);
    let mut noise = 1u32;
    let near: Vec<f32> = echo
        .iter()
        .zip(&talker)
        .map(|(e, p)| {
            noise = noise.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            e + p + (noise >> 8) as f32 / (1u32 << 24) as f32 * 2e-4 - 1e-4
        })
        .collect();

    let (far_p, near_p, out_p) = (
        dir.path().join("far.wav"),
        dir.path().join("near.wav"),
        dir.path().join("out.wav"),
    );
    voice::wav::write_mono_i16(&far_p, &far, 24_000)?;
    voice::wav::write_mono_i16(&near_p, &near, 24_000)?;
    let run = Command::new(env!("CARGO_BIN_EXE_moshibar-voice"))
        .args(["aec", "--far"])
        .arg(&far_p)
        .arg("--near")
        .arg(&near_p)
        .arg("--out")
        .arg(&out_p)
        .output()?;
    assert!(
        run.status.success(),
        "moshibar-voice aec failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&run.stdout)?;
    let (out, rate) = voice::wav::read_mono(&out_p)?;
    assert_eq!((out.len(), rate), (near.len(), 24_000));

    let erle = erle_db(&echo, &out, s(3.0)..s(9.0)).ok_or("no echo to measure")?;
    let alone = level_change_db(&talker, &out, s(9.5)..s(13.0));
    let (_, alone_corr, lag) = presence(&talker, &out, s(9.5)..s(13.0), 480);
    let (dt_gain, dt_corr, _) = presence(&talker, &out, s(14.5)..s(18.0), 480);
    let dt_echo_before = erle_db(&echo, &near, s(14.5)..s(18.0)).unwrap_or(0.0);
    eprintln!(
        "ERLE {erle:.1} dB; person alone {alone:+.2} dB (correlation {alone_corr:.2} at {lag} samples); double talk: person {dt_gain:+.1} dB, \
         correlation {dt_corr:.2} (near: {dt_echo_before:.1}); canceller says {report}"
    );
    assert!(erle >= 25.0, "ERLE {erle:.1} dB on echo-only speech");
    assert!(
        alone.abs() <= 3.0,
        "person's level changed by {alone:.2} dB"
    );
    assert!(
        dt_gain > -10.0 && dt_corr > 0.5,
        "person in double talk: {dt_gain:.1} dB, correlation {dt_corr:.2}"
    );
    let delay = report["delayMs"].as_f64().ok_or("no delay estimate")?;
    assert!(
        (delay - 45.0).abs() <= 12.0,
        "delay estimate {delay} ms for a 45 ms room"
    );
    Ok(())
}
