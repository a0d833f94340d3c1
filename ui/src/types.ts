// The IPC types of docs/ipc.md. All of them are generated from the Rust types by ts-rs into
// ./bindings.ts (src-tauri/src/ipc_contract_tests.rs; a test fails when it is stale): the app's
// own (AppState, Settings, AppError, …) and the crates' (Hardware and Plan from `hardware`,
// Progress from `hubfetch`, Metrics and TranscriptPiece from `voice`, Quality and Voice from
// `moshi-repo`). This file only re-exports them and names the events.
export type {
  Alternative,
  AppError,
  AppState,
  AudioDevices,
  AudioHealth,
  BudgetSource,
  CancellerKind,
  Chip,
  CommandError,
  DownloadErrorKind,
  DownloadPhase,
  ErrorAction,
  FileProgress,
  FolderCheck,
  Hardware,
  Metrics,
  Plan,
  PlanFile,
  PlanSource,
  Progress,
  ProgressError,
  Quality,
  QualityOverride,
  SessionState,
  Settings,
  SpeedTestQuality,
  SpeedTestState,
  SpeedTestStatus,
  Stage,
  Tier,
  TranscriptPiece,
  Voice,
} from './bindings';

/** Event names (app → UI). */
export const EVENTS = {
  appState: 'app-state',
  progress: 'download-progress',
  transcript: 'transcript',
  metrics: 'session-metrics',
} as const;
