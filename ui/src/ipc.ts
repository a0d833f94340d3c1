// Thin typed wrappers over the commands and events of docs/ipc.md.
import { invoke } from '@tauri-apps/api/core';
import { listen, type UnlistenFn } from '@tauri-apps/api/event';
import { EVENTS, type AppState, type AudioDevices, type CommandError, type ErrorAction, type FolderCheck, type Metrics, type Progress, type Settings, type TranscriptPiece } from './types';

export const api = {
  getState: () => invoke<AppState>('get_state'),
  getProgress: () => invoke<Progress | null>('get_progress'),
  getSettings: () => invoke<Settings>('get_settings'),
  saveSettings: (settings: Settings) => invoke<Settings>('save_settings', { settings }),
  /** The core's question before `settings` stops the download or unloads the model; null: nothing to confirm. */
  restartQuestion: (settings: Settings) => invoke<string | null>('restart_question', { settings }),
  setHfToken: (token: string | null) => invoke<void>('set_hf_token', { token }),
  pauseDownload: () => invoke<void>('pause_download'),
  resumeDownload: () => invoke<void>('resume_download'),
  retryDownload: () => invoke<void>('retry_download'),
  /** The banner's ×: the core forgets a session, shortcut or model error (the Error stage's stays). */
  dismissError: () => invoke<void>('dismiss_error'),
  listAudioDevices: () => invoke<AudioDevices>('list_audio_devices'),
  startSession: () => invoke<void>('start_session'),
  stopSession: () => invoke<void>('stop_session'),
  setTalking: (talking: boolean) => invoke<void>('set_talking', { talking }),
  quitApp: () => invoke<void>('quit_app'),
  /** System Settings → Privacy & Security → Microphone. */
  openMicrophoneSettings: () => invoke<void>('open_microphone_settings'),
  /** Deletes one of the app's repos from the cache; resolves to the bytes freed. */
  deleteModel: (repo: string) => invoke<number>('delete_model', { repo }),
  /** Shows the repo's folder (or the cache folder) in Finder. */
  revealModel: (repo: string) => invoke<void>('reveal_model', { repo }),
  /** The system folder picker, then the folder checked; null when cancelled. */
  pickCacheDir: (neededBytes: number) => invoke<FolderCheck | null>('pick_cache_dir', { neededBytes }),
  /** Opens a web page in the default browser (tauri-plugin-opener). */
  openUrl: (url: string) => invoke<void>('plugin:opener|open_url', { url }),
};

export interface Handlers {
  appState: (s: AppState) => void;
  progress: (p: Progress) => void;
  transcript: (t: TranscriptPiece) => void;
  metrics: (m: Metrics) => void;
}

export async function subscribe(h: Handlers): Promise<UnlistenFn> {
  const offs = await Promise.all([
    listen<AppState>(EVENTS.appState, (e) => h.appState(e.payload)),
    listen<Progress>(EVENTS.progress, (e) => h.progress(e.payload)),
    listen<TranscriptPiece>(EVENTS.transcript, (e) => h.transcript(e.payload)),
    listen<Metrics>(EVENTS.metrics, (e) => h.metrics(e.payload)),
  ]);
  return () => offs.forEach((off) => off());
}

export function inTauri(): boolean {
  return typeof window !== 'undefined' && '__TAURI_INTERNALS__' in window && !!(window as any).__TAURI_INTERNALS__?.invoke;
}

/** "Error: …" / {message} / string → a sentence for the notice bar. */
export function errorText(e: unknown): string {
  if (typeof e === 'string') return e;
  if (e && typeof e === 'object' && 'message' in e && typeof (e as any).message === 'string') return (e as any).message;
  return String(e);
}

/** A rejected command as a CommandError (bindings.ts): the app's own `{message, action}`, or any
 * other rejection (a plugin's string, a thrown Error) as a message with no action. */
export function commandError(e: unknown): CommandError {
  const action = e && typeof e === 'object' && 'action' in e ? ((e as any).action as ErrorAction | null) : null;
  return { message: errorText(e), action: action && typeof action === 'object' && typeof action.kind === 'string' ? action : null };
}
