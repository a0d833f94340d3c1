// Generated from the Rust IPC types (moshi-repo, hardware, hubfetch, voice, app-core,
// src-tauri) by ts-rs: do not edit.
// Regenerate: MOSHIBAR_UPDATE_IPC_SHAPES=1 cargo test -p moshibar --lib ipc_contract

export type Quality = "q4" | "q8" | "bf16";

export type Voice = "moshiko" | "moshika";

export type Tier = "base" | "pro" | "max" | "ultra";

export type Chip = { 
/**
 * 1 for M1, 2 for M2, and so on.
 */
generation: number, 
/**
 * Base, Pro, Max or Ultra.
 */
tier: Tier, 
/**
 * Marketing name, e.g. `M2 Pro`.
 */
name: string, };

export type BudgetSource = "metal" | "estimate";

export type Hardware = { 
/**
 * The CPU brand string, e.g. `Apple M2 Pro`.
 */
cpuBrand: string, 
/**
 * The parsed Apple Silicon chip, if it is one.
 */
chip: Chip | null, 
/**
 * Total physical memory.
 */
memoryBytes: number, 
/**
 * Memory the GPU may use for Moshi's weights and caches.
 */
gpuBudgetBytes: number, 
/**
 * Whether the budget was measured or estimated.
 */
gpuBudgetSource: BudgetSource, 
/**
 * Memory bandwidth in GB/s (Apple Silicon only).
 */
bandwidthGbps: number | null, 
/**
 * True when the bandwidth is inferred for a chip missing from the table.
 */
bandwidthEstimated: boolean, 
/**
 * OS name and version, e.g. `macOS 14.5`.
 */
os: string, 
/**
 * CPU architecture, e.g. `aarch64`.
 */
arch: string, 
/**
 * True on an Apple Silicon Mac, the only place Moshi runs in real time.
 */
appleSilicon: boolean, 
/**
 * Performance cores (macOS only), which tell binned chips apart.
 */
performanceCores: number | null, };

export type PlanSource = "download" | "cache" | "quantizeFromBf16";

export type PlanFile = { 
/**
 * Path inside the repo.
 */
path: string, 
/**
 * Expected size in bytes.
 */
size: number, };

export type Alternative = { 
/**
 * The quality.
 */
quality: Quality, 
/**
 * It fits the memory budget with headroom.
 */
fitsMemory: boolean, 
/**
 * The chip's bandwidth can run it in real time.
 */
fitsBandwidth: boolean, 
/**
 * One sentence a person can read.
 */
reason: string, };

export type Plan = { 
/**
 * The chosen quality.
 */
quality: Quality, 
/**
 * True when this Mac should keep up with real time at this quality.
 */
realTime: boolean, 
/**
 * True when the person's override decided the quality.
 */
overridden: boolean, 
/**
 * Hub repository to read the files from.
 */
repo: string, 
/**
 * Revision (branch) of that repository.
 */
revision: string, 
/**
 * The files the engine needs from it.
 */
files: Array<PlanFile>, 
/**
 * Bytes still to download (0 when cached or quantized from bf16).
 */
downloadBytes: number, 
/**
 * Expected memory use while running.
 */
memoryBytes: number, 
/**
 * Bandwidth needed for real time.
 */
bandwidthNeededGbps: number, 
/**
 * Where the weights come from.
 */
source: PlanSource, 
/**
 * Why this quality, in one or two sentences.
 */
reason: string, 
/**
 * Set when the plan will not run in real time (or may not fit).
 */
warning: string | null, 
/**
 * The other qualities and why they were not chosen.
 */
alternatives: Array<Alternative>, 
/**
 * The chosen quality's frame time measured on this machine by the speed test, when the
 * plan was made with one ([`plan_with_speed`]); it then decided `real_time`.
 */
measuredFrameMs?: number, };

export type DownloadPhase = "resolving" | "downloading" | "verifying" | "repairing" | "paused" | "done" | "failed" | "cancelled";

export type DownloadErrorKind = "gated" | "unauthorized" | "notFound" | "diskFull" | "network" | "corrupt" | "offline" | "other";

export type ProgressError = { 
/**
 * What kind of failure, to pick the action offered.
 */
kind: DownloadErrorKind, 
/**
 * What happened and what to do, for a person.
 */
message: string, };

export type FileProgress = { 
/**
 * The file's path in the repo.
 */
path: string, 
/**
 * The file's size in bytes.
 */
size: number, 
/**
 * Bytes verified or received so far.
 */
bytesDone: number, 
/**
 * Where this file is.
 */
phase: DownloadPhase, 
/**
 * One char per chunk: `.` pending, `>` in flight, `#` verified, `!` failed (refetched).
 */
chunkMap: string, 
/**
 * The Hub's SHA-256 for it (LFS files).
 */
sha256: string | null, 
/**
 * How the file's bytes are fetched: `"xet"` or `"http"` (absent before it is decided).
 */
transport?: string, 
/**
 * Why the Xet path was given up for HTTP, when it was.
 */
xetFallback?: string, };

export type Progress = { 
/**
 * Where the job is.
 */
phase: DownloadPhase, 
/**
 * The repo id (`org/name`).
 */
repo: string, 
/**
 * The revision asked for (branch, tag or commit).
 */
revision: string, 
/**
 * The file being worked on now, if one.
 */
file: string | null, 
/**
 * Bytes done across all files.
 */
bytesDone: number, 
/**
 * Bytes of all files.
 */
bytesTotal: number, 
/**
 * Chunks (HTTP) or terms (Xet) verified so far.
 */
verifiedChunks: number, 
/**
 * Chunks or terms in all.
 */
totalChunks: number, 
/**
 * Recent transfer rate, bytes per second.
 */
rateBps: number, 
/**
 * Time left at the recent rate, seconds (`None` before a rate is known).
 */
etaSecs: number | null, 
/**
 * No byte arrived for a while (shown to the person as stalled).
 */
stalled: boolean, 
/**
 * Transient failures retried so far.
 */
retries: number, 
/**
 * Connections transferring now (the adaptive level).
 */
connections: number, 
/**
 * Each file of the job.
 */
files: Array<FileProgress>, 
/**
 * The error the job ended with, if it failed.
 */
error: ProgressError | null, 
/**
 * The last transient error (retried), in words a person understands ("no network", "the
 * network answers with a login page", ...); `None` once bytes flow again.
 */
lastError: string | null, };

export type TranscriptPiece = { 
/**
 * The decoded text (SentencePiece pieces start with a space at word starts).
 */
piece: string, 
/**
 * Index of the 80 ms frame that produced it, counted from the session's start.
 */
frame: number, };

export type CancellerKind = "off" | "webrtcAec3" | "voiceProcessingIo";

export type AudioHealth = { 
/**
 * Wall time since the devices opened, s.
 */
wallS: number, 
/**
 * Audio the output callback handed to the device (its queue and the silence it inserted),
 * s at the device's rate. Falling behind `wall_s` = the device consumes slower than real
 * time (a starved audio server, clock drift).
 */
playedS: number, 
/**
 * Audio the input callback delivered, s. Behind `wall_s` = capture is losing time.
 */
capturedS: number, 
/**
 * Non-fatal xruns reported by the streams (input + output).
 */
xruns: number, 
/**
 * Other non-fatal stream errors (the streams kept running).
 */
streamErrors: number, 
/**
 * Model output dropped because the speaker's queue was full, ms.
 */
outputDroppedMs: number, 
/**
 * Microphone audio dropped because the model thread did not empty the ring in time, ms.
 */
captureDroppedMs: number, 
/**
 * The speaker's clock against the microphone's as the drift compensator learned it, ppm
 * (−1 000: the speaker plays 0.1 % slower; [`DriftController`](crate::DriftController)).
 */
driftPpm: number, 
/**
 * The correction the output resampler applies now, ppm (at ±10 000 it is saturated: the
 * speaker is further off real time than resampling can follow).
 */
driftCorrectionPpm: number, };

export type Metrics = { 
/**
 * Whether mic frames reach the model (push-to-talk held or hands-free).
 */
talking: boolean, 
/**
 * Whether Moshi is audibly speaking (output level above a small threshold).
 */
speaking: boolean, 
/**
 * RMS of the microphone signal (before the gate), 0..1.
 */
inputLevel: number, 
/**
 * RMS of the model's output, 0..1.
 */
outputLevel: number, 
/**
 * Mean Mimi encode time per frame over the period, ms.
 */
encodeMs: number, 
/**
 * Mean LM step time per frame, ms.
 */
lmMs: number, 
/**
 * Mean Mimi decode time per frame, ms.
 */
decodeMs: number, 
/**
 * Processing time / audio time over the period (< 1 keeps up).
 */
rtf: number, 
/**
 * Input frames dropped since the start because the model fell behind.
 */
framesDropped: number, 
/**
 * Times the speaker ran dry since the start (after the first output frame).
 */
underruns: number, 
/**
 * Estimated mic-sample-to-speaker-sample latency in ms, when known.
 */
latencyMs: number | null, 
/**
 * RMS of the microphone before echo cancellation, 0..1 (`input_level` is after it): their
 * ratio while only Moshi talks is the echo removed.
 */
micLevel: number, 
/**
 * Which echo canceller runs.
 */
echoCanceller: CancellerKind, 
/**
 * Echo return loss enhancement reported by the canceller, dB.
 */
erleDb: number | null, 
/**
 * Estimated delay from what the speaker played to its echo in the microphone, ms.
 */
echoDelayMs: number | null, 
/**
 * How the devices keep time (played/captured vs wall clock, xruns, drops).
 */
audio: AudioHealth, };

export type Stage = "detecting" | "measuring" | "planning" | "downloading" | "verifying" | "loading" | "ready" | "error";

export type QualityOverride = "auto" | "bf16" | "q8" | "q4";

export type ErrorAction = { "kind": "retry" } | { "kind": "openSettings" } | { "kind": "openMicrophoneSettings" } | { "kind": "startSession" } | { "kind": "openUrl", 
/**
 * The page's address.
 */
url: string, };

export type AppError = { 
/**
 * Short title ("Download failed").
 */
title: string, 
/**
 * What happened and what to do next.
 */
message: string, 
/**
 * The button the UI offers to fix it, if any.
 */
action: ErrorAction | null, };

export type CommandError = { 
/**
 * What went wrong and what to do next.
 */
message: string, 
/**
 * The button the UI offers next to the message, if any.
 */
action: ErrorAction | null, };

export type SessionState = { 
/**
 * A conversation is running or opening: the person talked (hotkey, Talk button) or
 * pressed Start. The audio opened ahead of the first press while the popover is up in
 * Ready is `inputOpen` but not `active`.
 */
active: boolean, 
/**
 * The session's audio devices (the microphone) are open or opening: a conversation, or
 * the popover up in Ready (so the first press loses nothing). False while idle with the
 * popover hidden (no microphone indicator then).
 */
inputOpen: boolean, 
/**
 * The person holds the talk key (or the UI button): the microphone reaches the model.
 */
talking: boolean, 
/**
 * The microphone is always open.
 */
handsFree: boolean, 
/**
 * Frames of microphone audio the model has received while the gate was open, this session
 * (so tools can check that talking really reaches the model).
 */
framesHeard: number, 
/**
 * Key-down to the first frame into the model, for the last press (ms).
 */
keyToModelMs: number | null, };

export type SpeedTestStatus = "pending" | "measuring" | "done";

export type SpeedTestQuality = { 
/**
 * The quality.
 */
quality: Quality, 
/**
 * Where its measurement is.
 */
status: SpeedTestStatus, 
/**
 * The predicted (or, when `lowerBound`, the least) wall time of one frame, ms.
 */
frameMs: number | null, 
/**
 * The frame fits the real-time budget (64 ms of the 80 ms frame).
 */
realTime: boolean | null, 
/**
 * The test stopped early: `frameMs` is a lower bound, the quality is certainly too slow.
 */
lowerBound: boolean, 
/**
 * The planner's phrase for it ("measured 61 ms per frame at q4 — real time").
 */
summary: string | null, };

export type SpeedTestState = { 
/**
 * The test is running now ([`crate::Stage::Measuring`] while the flow waits for it).
 */
running: boolean, 
/**
 * The result is the stored one of an earlier launch (nothing was measured this time).
 */
cached: boolean, 
/**
 * Fraction done, 0..=1.
 */
fraction: number, 
/**
 * The latest step's line.
 */
line: string | null, 
/**
 * Every quality timed, in the order they are timed.
 */
qualities: Array<SpeedTestQuality>, 
/**
 * How long the whole test took, s (once done).
 */
seconds: number | null, 
/**
 * Why the test failed; the plan then uses the bandwidth estimate.
 */
error: string | null, };

export type AppState = { 
/**
 * The flow's stage.
 */
stage: Stage, 
/**
 * The chip and memory, once detected.
 */
hardware: Hardware | null, 
/**
 * The plan in force (quality, repo, files, why), once planned.
 */
plan: Plan | null, 
/**
 * The voice session.
 */
session: SessionState, 
/**
 * The hold-to-talk shortcut in force (registered).
 */
hotkey: string, 
/**
 * What needs the person, if anything (shown in every stage).
 */
error: AppError | null, 
/**
 * Free space where the model goes.
 */
diskFreeBytes: number | null, 
/**
 * The snapshot directory holding the verified model.
 */
modelDir: string | null, 
/**
 * The download is paused (remembered across relaunches).
 */
downloadPaused: boolean, 
/**
 * The voice in force (`moshiko` or `moshika`).
 */
voice: Voice, 
/**
 * The on-device speed test of this launch: running (with progress per quality), done,
 * stored by an earlier launch, or failed; none before it is looked up (and in an app
 * without an engine).
 */
speedTest: SpeedTestState | null, };

export type Settings = { 
/**
 * Quality override.
 */
qualityOverride: QualityOverride, 
/**
 * The voice.
 */
voice: Voice, 
/**
 * Hold-to-talk shortcut, in Tauri's accelerator syntax ("Alt+Space").
 */
hotkey: string, 
/**
 * Input device name (none: the system default).
 */
inputDevice: string | null, 
/**
 * Output device name (none: the system default).
 */
outputDevice: string | null, 
/**
 * Microphone always open instead of hold-to-talk.
 */
handsFree: boolean, 
/**
 * Start Moshibar at login.
 */
launchAtLogin: boolean, 
/**
 * Where the Hugging Face cache lives (none: `HF_HUB_CACHE` or `~/.cache/huggingface/hub`).
 */
cacheDir: string | null, 
/**
 * A token is stored in the keychain (computed, never persisted as true from the UI).
 */
hasToken: boolean, };

export type FolderCheck = { 
/**
 * The folder (absolute).
 */
path: string, 
/**
 * A file could be created and removed in it.
 */
writable: boolean, 
/**
 * Free space there.
 */
freeBytes: number | null, 
/**
 * What the planned model still needs.
 */
neededBytes: number, 
/**
 * Why it cannot be used, for the person; none when it can.
 */
error: string | null, };

export type AudioDevices = { 
/**
 * Input device names.
 */
inputs: Array<string>, 
/**
 * Output device names.
 */
outputs: Array<string>, 
/**
 * The system's default input.
 */
defaultInput: string | null, 
/**
 * The system's default output.
 */
defaultOutput: string | null, };
