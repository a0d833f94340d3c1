//! `moshibar-voice`: run a Moshi voice session without the app — WAV file to WAV file, live
//! from the audio devices, list devices, or benchmark the real-time loop.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use voice::{EchoModel, FrameModel, Session, SessionConfig, SessionEvent};

mod bench;

#[derive(Parser)]
#[command(
    name = "moshibar-voice",
    about = "Moshi voice sessions without the app"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Args, Clone)]
struct ModelArgs {
    /// A Moshi repo snapshot (model*.safetensors, Mimi, tokenizer, optional config.json).
    #[arg(long, env = "MOSHIBAR_MODEL_DIR")]
    model_dir: Option<PathBuf>,
    /// bf16, q8 or q4.
    #[arg(long, default_value = "q8")]
    quality: String,
    /// Use the deterministic echo test model (input comes back N frames later) instead of Moshi.
    #[arg(long, value_name = "DELAY_FRAMES")]
    echo: Option<usize>,
    /// Gain of the echo test model.
    #[arg(long, default_value_t = 1.0)]
    echo_gain: f32,
}

/// The devices a live session or the benchmark opens.
#[derive(Args, Clone)]
struct DeviceArgs {
    /// Input device name (default: system default).
    #[arg(long)]
    input: Option<String>,
    /// Output device name (default: system default).
    #[arg(long)]
    output: Option<String>,
}

#[derive(Subcommand)]
enum Cmd {
    /// List input and output devices (JSON, as the app's list_audio_devices returns it).
    Devices,
    /// WAV in (any rate/channels) → model → 24 kHz mono WAV out of the same duration.
    File {
        #[command(flatten)]
        model: ModelArgs,
        /// Input WAV.
        #[arg(long = "in")]
        input: PathBuf,
        /// Output WAV.
        #[arg(long = "out")]
        output: PathBuf,
    },
    /// Live session on the audio devices (hands-free), printing transcript and metrics.
    Live {
        #[command(flatten)]
        model: ModelArgs,
        #[command(flatten)]
        devices: DeviceArgs,
        /// Stop after this many seconds (default: run until Ctrl-C).
        #[arg(long)]
        seconds: Option<f64>,
        /// Print every metrics event as JSON.
        #[arg(long)]
        json: bool,
        /// Record what the canceller got (far.wav, near.wav, out.wav) into DIR at the end, to
        /// replay it with `moshibar-voice aec --far DIR/far.wav --near DIR/near.wav`.
        #[arg(long, value_name = "DIR")]
        aec_dump: Option<PathBuf>,
    },
    /// Removes the echo of FAR (what the speaker played) from NEAR (what the microphone heard)
    /// with the session's canceller; writes OUT (24 kHz mono). FAR and NEAR start together.
    Aec {
        /// What the speaker played (24 kHz mono WAV; other rates are resampled).
        #[arg(long)]
        far: PathBuf,
        /// What the microphone heard.
        #[arg(long)]
        near: PathBuf,
        /// NEAR with the echo removed.
        #[arg(long)]
        out: PathBuf,
    },
    /// The canceller offline (ERLE, delay estimate, CPU per 80 ms frame), then a live session
    /// for N seconds (latency p50/p95, drift correction, RTF, drops). Build with --release.
    Bench {
        #[command(flatten)]
        model: ModelArgs,
        #[command(flatten)]
        devices: DeviceArgs,
        /// Duration of the run.
        #[arg(long, default_value_t = 60.0)]
        seconds: f64,
        /// Only the offline canceller figures (no audio devices needed).
        #[arg(long)]
        offline_only: bool,
    },
}

fn load_model(args: &ModelArgs) -> Result<Box<dyn FrameModel>> {
    if let Some(delay) = args.echo {
        return Ok(Box::new(EchoModel::new(delay).with_gain(args.echo_gain)));
    }
    let Some(dir) = args.model_dir.as_ref() else {
        bail!("give --model-dir DIR (a Moshi snapshot) or --echo N for the test model");
    };
    load_engine(dir, &args.quality)
}

#[cfg(feature = "engine")]
fn load_engine(dir: &std::path::Path, quality: &str) -> Result<Box<dyn FrameModel>> {
    let t = Instant::now();
    let m = voice::engine_model::load(dir, quality)
        .with_context(|| format!("loading Moshi from {}", dir.display()))?;
    tracing::info!(secs = t.elapsed().as_secs_f32(), "model loaded");
    Ok(Box::new(m))
}

#[cfg(not(feature = "engine"))]
fn load_engine(_dir: &std::path::Path, _quality: &str) -> Result<Box<dyn FrameModel>> {
    bail!("this build has no engine (built without the `engine` feature); use --echo N")
}

/// Starts a session with the model loaded on the model thread (MLX arrays are thread-bound).
fn start_session(
    model: &ModelArgs,
    config: SessionConfig,
) -> Result<(Session, crossbeam_channel::Receiver<SessionEvent>)> {
    let args = model.clone();
    Ok(Session::start_with(
        move || load_model(&args).map_err(voice::ModelError::load),
        config,
    )?)
}

fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Devices => {
            let list = voice::list_devices()?;
            println!("{}", serde_json::to_string_pretty(&list)?);
        }
        Cmd::File {
            model,
            input,
            output,
        } => {
            let m = load_model(&model)?;
            let t = Instant::now();
            let r = voice::run_file(m, &input, &output)
                .with_context(|| format!("{} → {}", input.display(), output.display()))?;
            let n = r.totals.frames.max(1) as f64;
            println!(
                "{} frames in {:.2} s → {} ({} samples at 24 kHz)",
                r.frames,
                t.elapsed().as_secs_f64(),
                output.display(),
                r.output_samples
            );
            println!(
                "per frame: encode {:.2} ms, lm {:.2} ms, decode {:.2} ms, step {:.2} ms (max {:.2}); RTF {:.3}",
                r.totals.encode_ms / n,
                r.totals.lm_ms / n,
                r.totals.decode_ms / n,
                r.totals.step_ms / n,
                r.totals.max_step_ms,
                r.totals.rtf()
            );
            println!("transcript: {:?}", r.transcript);
        }
        Cmd::Live {
            model,
            devices,
            seconds,
            json,
            aec_dump,
        } => {
            let config = SessionConfig {
                input_device: devices.input,
                output_device: devices.output,
                hands_free: true,
                aec_dump,
                ..Default::default()
            };
            let (session, events) = start_session(&model, config)?;
            let end = seconds.map(|s| Instant::now() + Duration::from_secs_f64(s));
            loop {
                if end.is_some_and(|e| Instant::now() >= e) {
                    break;
                }
                match events.recv_timeout(Duration::from_millis(100)) {
                    Ok(SessionEvent::Transcript(p)) => {
                        print!("{}", p.piece);
                        use std::io::Write;
                        std::io::stdout().flush().ok();
                    }
                    Ok(SessionEvent::Metrics(m)) if json => {
                        println!("{}", serde_json::to_string(&m)?)
                    }
                    Ok(SessionEvent::Stopped) => break,
                    Ok(e @ SessionEvent::Metrics(_)) => tracing::debug!(?e),
                    Ok(e) => {
                        eprintln!("{}", serde_json::to_string(&e)?);
                        if let SessionEvent::Ready {
                            notice: Some(n), ..
                        }
                        | SessionEvent::DeviceReopened {
                            notice: Some(n), ..
                        } = e
                        {
                            eprintln!("{}", n.message());
                        }
                    }
                    Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
                    Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
                }
            }
            session.stop()?;
            println!();
        }
        Cmd::Bench {
            model,
            devices,
            seconds,
            offline_only,
        } => bench::run(&model, devices.input, devices.output, seconds, offline_only)?,
        Cmd::Aec { far, near, out } => aec_files(&far, &near, &out)?,
    }
    Ok(())
}

fn read_24k(path: &std::path::Path) -> Result<Vec<f32>> {
    let (samples, rate) =
        voice::wav::read_mono(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(voice::resample_clip(&samples, rate, voice::SAMPLE_RATE)?)
}

fn aec_files(far: &std::path::Path, near: &std::path::Path, out: &std::path::Path) -> Result<()> {
    let far_s = read_24k(far)?;
    let near_s = read_24k(near)?;
    let t = Instant::now();
    let (cleaned, figures) = voice::cancel_clip(&far_s, &near_s)?;
    let secs = t.elapsed().as_secs_f64();
    voice::wav::write_mono_i16(out, &cleaned, voice::SAMPLE_RATE)
        .with_context(|| format!("writing {}", out.display()))?;
    let audio_s = near_s.len() as f64 / f64::from(voice::SAMPLE_RATE);
    println!(
        "{}",
        serde_json::json!({
            "canceller": voice::EchoCanceller::KIND,
            "seconds": audio_s,
            "erleDb": figures.erle_db,
            "erlDb": figures.erl_db,
            "delayMs": figures.delay_ms,
            "aec3DelayMs": figures.aec3_delay_ms,
            "cpuMsPerFrame": secs * 1000.0 / (audio_s / 0.08).max(1.0),
        })
    );
    Ok(())
}
