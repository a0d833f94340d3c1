// The popover's whole state, changed only by `reduce` from IPC events and UI actions.
import { errorKey } from './restart';
import type { AppState, AudioDevices, ErrorAction, Metrics, Progress, Settings, TranscriptPiece } from './types';

export type View = 'main' | 'settings';

export interface Notice {
  kind: 'error' | 'info';
  text: string;
  /** A refused command's action (CommandError.action): the button shown next to the text. */
  action?: ErrorAction | null;
}

export interface UiState {
  app: AppState | null;
  progress: Progress | null;
  settings: Settings | null;
  devices: AudioDevices | null;
  metrics: Metrics | null;
  /** Live transcript of the current session (Moshi's words), trimmed to the last TRANSCRIPT_MAX chars. */
  transcript: string;
  lastFrame: number;
  view: View;
  notice: Notice | null;
  /** Set when the UI cannot talk to the app at all (e.g. opened outside Tauri). */
  bootError: string | null;
  /** errorKey() of the app error the person closed; a different error shows again. */
  dismissedError: string | null;
}

export type Action =
  | { type: 'app-state'; state: AppState }
  | { type: 'download-progress'; progress: Progress | null }
  | { type: 'transcript'; piece: TranscriptPiece }
  | { type: 'session-metrics'; metrics: Metrics }
  | { type: 'settings'; settings: Settings }
  | { type: 'devices'; devices: AudioDevices }
  | { type: 'view'; view: View }
  | { type: 'notice'; notice: Notice | null }
  | { type: 'boot-error'; message: string }
  | { type: 'dismiss-error'; key: string };

export const TRANSCRIPT_MAX = 4000;

export const initialState: UiState = {
  app: null,
  progress: null,
  settings: null,
  devices: null,
  metrics: null,
  transcript: '',
  lastFrame: -1,
  view: 'main',
  notice: null,
  bootError: null,
  dismissedError: null,
};

export function reduce(s: UiState, a: Action): UiState {
  switch (a.type) {
    case 'app-state': {
      const wasActive = s.app?.session.active ?? false;
      const active = a.state.session.active;
      const next: UiState = { ...s, app: a.state };
      if (active && !wasActive) {
        // A new session starts with an empty transcript and no stale metrics.
        next.transcript = '';
        next.lastFrame = -1;
        next.metrics = null;
      }
      if (!active) next.metrics = null;
      return next;
    }
    case 'download-progress':
      return { ...s, progress: a.progress };
    case 'transcript': {
      let t = s.transcript + a.piece.piece;
      if (t.length > TRANSCRIPT_MAX) {
        t = t.slice(t.length - TRANSCRIPT_MAX);
        const sp = t.indexOf(' ');
        if (sp >= 0 && sp < 40) t = '…' + t.slice(sp);
      }
      return { ...s, transcript: t, lastFrame: Math.max(s.lastFrame, a.piece.frame) };
    }
    case 'session-metrics':
      return { ...s, metrics: a.metrics };
    case 'settings':
      return { ...s, settings: a.settings };
    case 'devices':
      return { ...s, devices: a.devices };
    case 'view':
      return { ...s, view: a.view };
    case 'notice':
      return { ...s, notice: a.notice };
    case 'boot-error':
      return { ...s, bootError: a.message };
    case 'dismiss-error':
      return { ...s, dismissedError: a.key };
  }
}

export type Screen =
  | 'boot-error'
  | 'connecting'
  | 'detecting'
  | 'measuring'
  | 'planning'
  | 'downloading'
  | 'verifying'
  | 'loading'
  | 'ready'
  | 'session'
  | 'error'
  | 'settings';

/** Which screen the popover shows for a state. */
export function screenOf(s: UiState): Screen {
  if (s.bootError) return 'boot-error';
  if (s.view === 'settings') return 'settings';
  if (!s.app) return 'connecting';
  const st = s.app.stage;
  if (st === 'error') return 'error';
  if (st === 'ready') return s.app.session.active ? 'session' : 'ready';
  return st;
}

/** The app error to show as a banner above the current screen: any stage but Error (which is
 * the full-page error view), unless the person closed this very error. */
export function bannerError(s: UiState) {
  const e = s.app?.error;
  if (!e || s.bootError) return null;
  if (s.app?.stage === 'error') return null;
  if (s.dismissedError === errorKey(e)) return null;
  return e;
}
