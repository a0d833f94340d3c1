//! `testhub serve`: serve a folder as a Hugging Face model repo on 127.0.0.1, with faults.
//! Prints `HF_ENDPOINT=http://127.0.0.1:PORT` on stdout, then serves until killed, Ctrl-C,
//! or stdin closes (when stdin is a pipe or terminal, not /dev/null).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use testhub::{parse_size, Faults, FileContent, Ports, Repo, RepoFile, TestHub};

#[derive(Parser)]
#[command(
    name = "testhub",
    about = "Local Hugging Face Hub emulator with fault injection"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Serve a folder (and/or generated files) as one model repo.
    Serve(Serve),
}

#[derive(clap::Args)]
struct Serve {
    /// Folder whose files (recursively, `.git` excluded) are the repo's files.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Repo id, `org/name`.
    #[arg(long)]
    repo: String,
    /// Branch name.
    #[arg(long, default_value = "main")]
    revision: String,
    /// Hub port (0 = any free port).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// CDN port (0 = any free port).
    #[arg(long, default_value_t = 0)]
    cdn_port: u16,
    /// Faults, e.g. `drops=3,flip=1,stall=1,bw-conn=20MB,bw-total=160MB,503=2` (see README).
    #[arg(long, default_value = "")]
    faults: String,
    /// The repo is gated: a token (`--token`) is needed.
    #[arg(long)]
    gated: bool,
    /// The repo is private: a token is needed.
    #[arg(long)]
    private: bool,
    /// A valid token whose user accepted the gated terms (repeatable).
    #[arg(long)]
    token: Vec<String>,
    /// A valid token whose user did NOT accept the gated terms (repeatable): gets 403 on gated repos.
    #[arg(long)]
    token_without_terms: Vec<String>,
    /// Extra generated file `name=size,seed` (e.g. `model.safetensors=2GB,7`), repeatable.
    #[arg(long)]
    generated_file: Vec<String>,
    /// Do not stop when stdin closes.
    #[arg(long)]
    ignore_stdin: bool,
    /// Xet: every LFS file is also served by an emulated Xet CAS (X-Xet-Hash, token, reconstruction, xorbs).
    #[arg(long)]
    xet: bool,
    /// On exit (SIGTERM, Ctrl-C or stdin closed) write a JSON summary here: `bytes_served`
    /// (all response body bytes, every path), `stats` (every counter) and `xet`.
    #[arg(long, value_name = "FILE")]
    stats: Option<PathBuf>,
    /// Xet options: `max-xorb=SIZE,token=DURATION,urls=DURATION,v2=0|1,compression=none|lz4|bg4`.
    #[arg(long, default_value = "")]
    xet_options: String,
}

fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("testhub=info")),
        )
        .init();
    let cli = Cli::parse();
    let rt = tokio::runtime::Runtime::new().context("starting the tokio runtime")?;
    match cli.cmd {
        Cmd::Serve(s) => rt.block_on(serve(s)),
    }
}

async fn serve(s: Serve) -> Result<()> {
    let faults: Faults = s.faults.parse().context("--faults")?;
    let mut files = Vec::new();
    if let Some(dir) = &s.dir {
        collect(dir, dir, &mut files)
            .with_context(|| format!("reading --dir {}", dir.display()))?;
    }
    for g in &s.generated_file {
        files.push(parse_generated(g).with_context(|| format!("--generated-file {g}"))?);
    }
    if files.is_empty() {
        bail!("nothing to serve: give --dir and/or --generated-file");
    }
    let repo = Repo {
        id: s.repo.clone(),
        revision: s.revision.clone(),
        files,
        gated: s.gated,
        private: s.private,
    };
    let ports = Ports {
        hub: s.port,
        cdn: s.cdn_port,
    };
    let hub = TestHub::start_on(vec![repo], faults, ports)
        .await
        .context("starting the hub")?;
    for t in &s.token {
        hub.add_token(t, true);
    }
    for t in &s.token_without_terms {
        hub.add_token(t, false);
    }
    if s.xet {
        let opts = s.xet_options.parse().context("--xet-options")?;
        hub.enable_xet(opts).await.context("enabling Xet")?;
    }
    println!("HF_ENDPOINT={}", hub.endpoint());
    tracing::info!(
        cdn = %hub.cdn_endpoint(),
        repo = %s.repo,
        commit = hub.commit(&s.repo).unwrap_or_default(),
        "serving; stats at {}/_testhub/stats",
        hub.endpoint()
    );
    wait_for_stop(s.ignore_stdin).await;
    let stats = hub.shutdown_with_summary().await;
    eprintln!("testhub stats: {stats}");
    if let Some(path) = &s.stats {
        write_stats(path, &stats).with_context(|| format!("--stats {}", path.display()))?;
    }
    Ok(())
}

/// Writes the summary atomically (a reader never sees half of it).
fn write_stats(path: &Path, json: &str) -> Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, json.as_bytes())?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// Ctrl-C, SIGTERM, or stdin reaching EOF (unless ignored or /dev/null).
async fn wait_for_stop(ignore_stdin: bool) {
    let watch_stdin = !ignore_stdin && !stdin_is_dev_null();
    let stdin_eof = async move {
        if !watch_stdin {
            return std::future::pending::<()>().await;
        }
        use tokio::io::AsyncReadExt;
        let mut stdin = tokio::io::stdin();
        let mut buf = [0u8; 1024];
        loop {
            match stdin.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    let term = async {
        #[cfg(unix)]
        {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        }
        #[cfg(not(unix))]
        std::future::pending::<()>().await
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => tracing::info!("interrupted"),
        _ = term => tracing::info!("terminated"),
        _ = stdin_eof => tracing::info!("stdin closed"),
    }
}

fn stdin_is_dev_null() -> bool {
    std::fs::read_link("/proc/self/fd/0")
        .map(|p| p == Path::new("/dev/null"))
        .unwrap_or(false)
        || std::fs::read_link("/dev/fd/0")
            .map(|p| p == Path::new("/dev/null"))
            .unwrap_or(false)
}

fn parse_generated(spec: &str) -> Result<RepoFile> {
    let (name, rest) = spec.split_once('=').context("expected name=size,seed")?;
    let (size, seed) = rest.split_once(',').unwrap_or((rest, "0"));
    let size = parse_size(size).context("bad size")?;
    let seed: u64 = seed.trim().parse().context("bad seed")?;
    Ok(RepoFile::new(
        name.trim(),
        FileContent::Generated { size, seed },
    ))
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<RepoFile>) -> Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name();
        if name == ".git" || name == ".cache" {
            continue;
        }
        let path = e.path();
        let ty = e.file_type()?;
        if ty.is_dir() {
            collect(root, &path, out)?;
        } else if ty.is_file() || (ty.is_symlink() && path.is_file()) {
            let rel = path.strip_prefix(root)?;
            let rel: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            out.push(RepoFile::new(rel.join("/"), FileContent::Disk(path)));
        }
    }
    Ok(())
}
