// Shapes from docs/ipc.md — keep names and fields exactly as the contract says.

export type Quality = 'bf16' | 'q8' | 'q4';
export type QualityOverride = 'auto' | Quality;
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

export type Stage = 'detecting' | 'planning' | 'downloading' | 'verifying' | 'loading' | 'ready' | 'error';

export interface AppError {
  title: string;
  message: string;
  /** "retry" | "openSettings" | "openUrl:https://…" | null */
  action: string | null;
}

export interface AppState {
  stage: Stage;
  hardware: Hardware | null;
  plan: Plan | null;
  session: {
    active: boolean;
    talking: boolean;
    handsFree: boolean;
    /** Microphone frames that reached the model in this session. */
    framesHeard: number;
    /** Key-down to first frame into the model, ms (null before the first press). */
    keyToModelMs: number | null;
  };
  hotkey: string;
  error: AppError | null;
  diskFreeBytes: number | null;
  modelDir: string | null;
  /** The download is paused (remembered across relaunch). */
  downloadPaused: boolean;
  voice: Voice;
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
}

export interface Settings {
  qualityOverride: QualityOverride;
  voice: Voice;
  hotkey: string;
  inputDevice: string | null;
  outputDevice: string | null;
  handsFree: boolean;
  launchAtLogin: boolean;
  cacheDir: string | null;
  hasToken: boolean;
}

/** `pick_cache_dir`'s answer: the chosen folder, checked for writability and space. */
export interface FolderCheck {
  path: string;
  writable: boolean;
  freeBytes: number | null;
  neededBytes: number;
  /** Why it cannot be used; null when it can. */
  error: string | null;
}

export interface AudioDevices {
  inputs: string[];
  outputs: string[];
  defaultInput: string | null;
  defaultOutput: string | null;
}

/** Event names (app → UI). */
export const EVENTS = {
  appState: 'app-state',
  progress: 'download-progress',
  transcript: 'transcript',
  metrics: 'session-metrics',
} as const;
