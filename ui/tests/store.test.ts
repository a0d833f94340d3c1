import { describe, expect, it } from 'vitest';
import * as fx from '../src/mock/fixtures';
import { initialState, reduce, screenOf, TRANSCRIPT_MAX, type Action, type UiState } from '../src/store';

const run = (actions: Action[], s: UiState = initialState) => actions.reduce(reduce, s);
const app = (over = {}) => ({ type: 'app-state', state: fx.appState(over) }) as Action;

describe('state reducer from events', () => {
  it('starts connecting, then follows app-state stages', () => {
    expect(screenOf(initialState)).toBe('connecting');
    for (const stage of ['detecting', 'measuring', 'planning', 'downloading', 'verifying', 'loading', 'ready', 'error'] as const) {
      expect(screenOf(run([app({ stage })]))).toBe(stage);
    }
  });
  it('ready with an active session is the session screen', () => {
    const s = run([app({ stage: 'ready', session: { active: true, inputOpen: true, talking: false, handsFree: false, framesHeard: 0, keyToModelMs: null } })]);
    expect(screenOf(s)).toBe('session');
  });
  it('settings view overrides the stage; back returns to it', () => {
    let s = run([app({ stage: 'downloading' }), { type: 'view', view: 'settings' }]);
    expect(screenOf(s)).toBe('settings');
    s = reduce(s, { type: 'view', view: 'main' });
    expect(screenOf(s)).toBe('downloading');
  });
  it('a boot error wins over everything', () => {
    expect(screenOf(run([app({ stage: 'ready' }), { type: 'boot-error', message: 'x' }]))).toBe('boot-error');
  });
  it('keeps the latest download-progress', () => {
    const p1 = fx.progress(0.1);
    const p2 = fx.progress(0.2);
    const s = run([{ type: 'download-progress', progress: p1 }, { type: 'download-progress', progress: p2 }]);
    expect(s.progress).toBe(p2);
  });
  it('appends transcript pieces and remembers the last frame', () => {
    const s = run([
      app({ stage: 'ready', session: { active: true, inputOpen: true, talking: false, handsFree: false, framesHeard: 0, keyToModelMs: null } }),
      { type: 'transcript', piece: { piece: ' Hello', frame: 3 } },
      { type: 'transcript', piece: { piece: ' there.', frame: 7 } },
    ]);
    expect(s.transcript).toBe(' Hello there.');
    expect(s.lastFrame).toBe(7);
  });
  it('a new session clears the transcript and metrics; ending it drops metrics', () => {
    const active = { active: true, talking: false, handsFree: false };
    let s = run([
      app({ stage: 'ready', session: active }),
      { type: 'transcript', piece: { piece: ' old', frame: 1 } },
      { type: 'session-metrics', metrics: fx.metrics({ speaking: true }) },
    ]);
    expect(s.metrics?.speaking).toBe(true);
    // Same session, new app-state (e.g. talking flips): transcript stays.
    s = reduce(s, app({ stage: 'ready', session: { ...active, talking: true } }));
    expect(s.transcript).toBe(' old');
    s = reduce(s, app({ stage: 'ready', session: { ...active, active: false } }));
    expect(s.metrics).toBeNull();
    s = reduce(s, app({ stage: 'ready', session: active }));
    expect(s.transcript).toBe('');
    expect(s.lastFrame).toBe(-1);
  });
  it('trims a very long transcript at a word boundary', () => {
    let s = run([app({ stage: 'ready', session: { active: true, inputOpen: true, talking: false, handsFree: false, framesHeard: 0, keyToModelMs: null } })]);
    for (let i = 0; i < 1500; i++) s = reduce(s, { type: 'transcript', piece: { piece: ` w${i}`, frame: i } });
    expect(s.transcript.length).toBeLessThanOrEqual(TRANSCRIPT_MAX + 1);
    expect(s.transcript.startsWith('… w')).toBe(true);
    expect(s.transcript.endsWith(' w1499')).toBe(true);
  });
  it('stores settings, devices and notices', () => {
    const s = run([
      { type: 'settings', settings: fx.settings },
      { type: 'devices', devices: fx.devices },
      { type: 'notice', notice: { kind: 'error', text: 'boom' } },
    ]);
    expect(s.settings).toEqual(fx.settings);
    expect(s.devices?.inputs).toContain('AirPods Pro');
    expect(s.notice?.text).toBe('boom');
    expect(reduce(s, { type: 'notice', notice: null }).notice).toBeNull();
  });
});
