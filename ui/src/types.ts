// Shapes from docs/ipc.md. The app's own types (AppState, Settings, AppError, FolderCheck,
// AudioDevices, Stage, QualityOverride) are generated from Rust into ./bindings.ts; the crates'
// types below (Progress, Hardware, Plan, Metrics, …) are written here and checked against the
// Rust serialization by tests/ipc-contract.test.ts (ipc-shapes.json).
export type { AppError, AppState, AudioDevices, FolderCheck, QualityOverride, SessionState, Settings, Stage } from './bindings';

export type Quality = 'bf16' | 'q8' | 'q4';
/** Moshi's voice: Moshiko (male) or Moshika (female); the same layout, other repos. */
export type Voice = 'moshiko' | 'moshika';

export type DownloadPhase =
  | 'resolving'
  | 'downloading'
  | 'verifying'
  | 'repairing'
  | 'paused'
  | 'done'
  | 'failed'
  | 'cancelled';

export type DownloadErrorKind =
  | 'gated'
  | 'unauthorized'
  | 'notFound'
  | 'diskFull'
  | 'network'
  | 'corrupt'
  | 'offline'
  | 'other';

export interface FileProgress {
  path: string;
  size: number;
  bytesDone: number;
  phase: DownloadPhase | string;
  chunkMap: string;
  sha256: string | null;
  transport?: 'xet' | 'http';
  xetFallback?: string;
}

export interface Progress {
  phase: DownloadPhase;
  repo: string;
  revision: string;
  file: string | null;
  bytesDone: number;
  bytesTotal: number;
  verifiedChunks: number;
  totalChunks: number;
  rateBps: number;
  etaSecs: number | null;
  stalled: boolean;
  retries: number;
  connections: number;
  files: FileProgress[];
  error: { kind: DownloadErrorKind; message: string } | null;
  /** The last transient (retried) error in plain words; null once bytes flow again. */
  lastError: string | null;
}

export interface Chip {
  generation: number;
  tier: 'base' | 'pro' | 'max' | 'ultra';
  name: string;
}

export interface Hardware {
  cpuBrand: string;
  chip: Chip | null;
  memoryBytes: number;
  gpuBudgetBytes: number;
  gpuBudgetSource: 'metal' | 'estimate';
  bandwidthGbps: number | null;
  /** True when the bandwidth is inferred for a chip missing from the table. */
  bandwidthEstimated: boolean;
  os: string;
  arch: string;
  appleSilicon: boolean;
  performanceCores: number | null;
}

export interface Alternative {
  quality: Quality;
  fitsMemory: boolean;
  fitsBandwidth: boolean;
  reason: string;
}

export interface Plan {
  quality: Quality;
  realTime: boolean;
  overridden: boolean;
  repo: string;
  revision: string;
  files: { path: string; size: number }[];
  downloadBytes: number;
  memoryBytes: number;
  bandwidthNeededGbps: number;
  source: 'download' | 'cache' | 'quantizeFromBf16';
  reason: string;
  warning: string | null;
  alternatives: Alternative[];
}



export interface TranscriptPiece {
  piece: string;
  frame: number;
}

export interface Metrics {
  talking: boolean;
  speaking: boolean;
  inputLevel: number;
  outputLevel: number;
  encodeMs: number;
  lmMs: number;
  decodeMs: number;
  rtf: number;
  framesDropped: number;
  underruns: number;
  latencyMs: number | null;
  /** Microphone RMS after the echo canceller, 0..1. */
  micLevel: number;
  echoCanceller: 'off' | 'webrtcAec3' | 'voiceProcessingIo';
  /** Echo return loss enhancement, dB. */
  erleDb: number | null;
  /** Speaker → microphone echo delay, ms. */
  echoDelayMs: number | null;
  audio: AudioHealth;
}

/** How the audio devices keep time (voice::AudioHealth). */
export interface AudioHealth {
  wallS: number;
  playedS: number;
  capturedS: number;
  xruns: number;
  streamErrors: number;
  outputDroppedMs: number;
  captureDroppedMs: number;
  /** The speaker's clock against the microphone's, ppm (the drift compensator's estimate). */
  driftPpm: number;
  /** The correction the output resampler applies now, ppm. */
  driftCorrectionPpm: number;
}




/** Event names (app → UI). */
export const EVENTS = {
  appState: 'app-state',
  progress: 'download-progress',
  transcript: 'transcript',
  metrics: 'session-metrics',
} as const;
