// The other half of src-tauri/src/ipc_contract_tests.rs: the TypeScript fixtures (which tsc
// checks against src/types.ts) have the shapes that the Rust types serialize to, as recorded
// in ipc-shapes.json. A field added/renamed/removed in Rust or in types.ts fails here or there.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as fx from '../src/mock/fixtures';
import type { AppState, FolderCheck, Progress, Settings, TranscriptPiece } from '../src/types';

const shapes = JSON.parse(readFileSync(new URL('./ipc-shapes.json', import.meta.url), 'utf8'));

function shape(v: unknown): unknown {
  if (v === null) return 'null';
  if (Array.isArray(v)) return v.length ? [shape(v[0])] : [];
  if (typeof v === 'object') return Object.fromEntries(Object.entries(v as object).map(([k, x]): [string, unknown] => [k, shape(x)]).sort(([a], [b]) => (a < b ? -1 : 1)));
  return typeof v;
}

// Every optional field filled, as on the Rust side.
const app: AppState = fx.appState({
  diskFreeBytes: 1,
  stage: 'ready',
  hardware: fx.hardware,
  plan: { ...fx.plan, warning: 'will not run in real time' },
  error: { title: 't', message: 'm', action: { kind: 'openUrl', url: 'https://huggingface.co/kyutai/moshiko-mlx-bf16' } },
  session: { active: true, inputOpen: true, talking: false, handsFree: false, framesHeard: 3, keyToModelMs: 12 },
  speedTest: { ...fx.speedTestDone, line: 'q4: 1 layers: 2.0 ms per step', error: 'e' },
});
const settings: Settings = { ...fx.settings, inputDevice: 'a', outputDevice: 'b', cacheDir: '/x' };
const p = fx.progress(0.3);
const progress: Progress = { ...p, file: p.file ?? 'f', etaSecs: 1, files: [{ ...p.files[0], sha256: 'ab' }], error: { kind: 'network', message: 'm' }, lastError: 'no network' };
const piece: TranscriptPiece = { piece: ' hi', frame: 1 };
const folder: FolderCheck = { path: '/x', writable: true, freeBytes: 1, neededBytes: 1, error: 'e' };

describe('IPC shapes: TypeScript = Rust (ipc-shapes.json)', () => {
  it.each([
    ['AppState', app],
    ['Settings', settings],
    ['Progress', progress],
    ['Metrics', fx.metrics()],
    ['TranscriptPiece', piece],
    ['AudioDevices', fx.devices],
    ['FolderCheck', folder],
  ] as const)('%s', (name, value) => {
    expect(shape(value)).toEqual(shapes[name]);
  });
  it('covers every type the Rust side records', () => {
    expect(Object.keys(shapes).sort()).toEqual(['AppState', 'AudioDevices', 'FolderCheck', 'Metrics', 'Progress', 'Settings', 'TranscriptPiece']);
  });
});
