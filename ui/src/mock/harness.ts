// Tauri IPC mocks for the browser: `mockIPC` + `mockWindows` from @tauri-apps/api/mocks, event
// emulation through `shouldMockEvents`, a record of every command invoked, and canned answers.
// Used by the ?mock dev mode and bundled into the Playwright init script (e2e/harness-entry.ts).
import { emit } from '@tauri-apps/api/event';
import { mockIPC, mockWindows } from '@tauri-apps/api/mocks';
import type { AppState, AudioDevices, CommandError, FolderCheck, Progress, Settings } from '../types';
import * as fx from './fixtures';

export interface MockBackend {
  app: AppState;
  progress: Progress | null;
  settings: Settings;
  devices: AudioDevices;
  /** What the folder picker "chooses" (null: the person cancels). */
  folder: FolderCheck | null;
  /** `restart_question`'s answer (the core's question before a model change; null: none). */
  restartQuestion: string | null;
  /** command name → error: the command rejects with it as the app does (a CommandError; a bare
   * message is one with no action). */
  fail: Record<string, string | CommandError>;
  /** command name → milliseconds before it answers (answers with the state as it was when called). */
  delays: Record<string, number>;
  /** every command invoked (events plumbing excluded), in order. */
  calls: { cmd: string; args: any }[];
  /** the app's side effects of commands (e.g. the dev scenario pausing its timer). */
  onCommand?: (cmd: string, args: any) => void;
  emit: (event: string, payload: unknown) => Promise<void>;
  /** Sets app state and emits `app-state`. */
  setApp: (over: Partial<AppState>) => Promise<void>;
  setProgress: (p: Progress) => Promise<void>;
}

export function installMockBackend(init: Partial<Pick<MockBackend, 'app' | 'progress' | 'settings' | 'devices' | 'delays' | 'folder'>> = {}): MockBackend {
  mockWindows('main');
  const b: MockBackend = {
    app: init.app ?? fx.appState(),
    progress: init.progress ?? null,
    settings: init.settings ?? { ...fx.settings },
    devices: init.devices ?? fx.devices,
    folder: init.folder ?? null,
    restartQuestion: null,
    fail: {},
    delays: init.delays ?? {},
    calls: [],
    emit: (event, payload) => emit(event, payload),
    setApp: async (over) => {
      b.app = { ...b.app, ...over };
      await emit('app-state', b.app);
    },
    setProgress: async (p) => {
      b.progress = p;
      await emit('download-progress', p);
    },
  };
  mockIPC(
    (cmd, args: any) => {
      b.calls.push({ cmd, args: args ?? {} });
      const failure = b.fail[cmd];
      if (failure) throw typeof failure === 'string' ? ({ message: failure, action: null } satisfies CommandError) : failure;
      b.onCommand?.(cmd, args);
      const answer = answerFor(cmd, args);
      const ms = b.delays[cmd];
      return ms ? new Promise((r) => setTimeout(() => r(answer), ms)) : answer;
    },
    { shouldMockEvents: true },
  );
  function answerFor(cmd: string, args: any): unknown {
    switch (cmd) {
      case 'get_state':
        return b.app;
      case 'get_progress':
        return b.progress;
      case 'get_settings':
        return b.settings;
      case 'save_settings':
        b.settings = { ...args.settings, hasToken: b.settings.hasToken };
        return b.settings;
      case 'set_hf_token':
        b.settings = { ...b.settings, hasToken: args.token != null };
        return null;
      case 'list_audio_devices':
        return b.devices;
      case 'pick_cache_dir':
        return b.folder;
      case 'delete_model':
        return 1_950_000_000;
      case 'restart_question':
        return b.restartQuestion;
      default:
        return null;
    }
  }
  return b;
}
