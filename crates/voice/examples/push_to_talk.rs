//! A push-to-talk session as the app drives it, with the echo test model: hold "the key" for
//! two seconds, release it, print what the session reports.
//!
//!     bash scripts/start-pulse.sh && eval "$(bash scripts/start-pulse.sh --env)"
//!     cargo run -p voice --example push_to_talk

use std::time::{Duration, Instant};

use voice::{EchoModel, Session, SessionConfig, SessionEvent};

fn main() -> Result<(), voice::VoiceError> {
    println!("{:?}", voice::list_devices()?);
    let (session, events) = Session::start(EchoModel::new(1), SessionConfig::default())?;
    let t0 = Instant::now();
    session.set_talking(true); // hotkey down
    while t0.elapsed() < Duration::from_secs(4) {
        if t0.elapsed() > Duration::from_secs(2) && session.is_talking() {
            session.set_talking(false); // hotkey up: Moshi hears silence, keeps talking
        }
        if let Ok(e) = events.recv_timeout(Duration::from_millis(100)) {
            match e {
                SessionEvent::Metrics(m) => println!(
                    "talking {} in {:.2} out {:.2} rtf {:.3} latency {:?} ms underruns {}",
                    m.talking, m.input_level, m.output_level, m.rtf, m.latency_ms, m.underruns
                ),
                SessionEvent::Transcript(p) => println!("text {:?} (frame {})", p.piece, p.frame),
                other => println!("{other:?}"),
            }
        }
    }
    let _model = session.stop()?; // keep it for the next session
    Ok(())
}
