import { describe, expect, it } from 'vitest';
import { checkedAction } from '../src/components/ErrorView';
import * as fx from '../src/mock/fixtures';
import { errorKey, restartImpact } from '../src/restart';
import { bannerError, initialState, reduce, type UiState } from '../src/store';
import type { AppError } from '../src/types';

const downloading = fx.appState({ stage: 'downloading', hardware: fx.hardware, plan: fx.plan });
const q = (qualityOverride: any) => ({ ...fx.settings, qualityOverride });

describe('restartImpact: when a settings change restarts the download', () => {
  it('another quality while downloading stops this repo, with the bytes on disk', () => {
    const p = fx.progress(0.375);
    const impact = restartImpact(downloading, p, q('auto'), q('q8'));
    expect(impact).toEqual({ repo: fx.plan.repo, bytesDone: p.bytesDone, bytesTotal: p.bytesTotal, what: 'quality', to: 'q8' });
  });
  it('a paused download counts too', () => {
    const paused = fx.progress(0.2, { phase: 'paused' });
    expect(restartImpact({ ...downloading, stage: 'loading' }, paused, q('auto'), q('q8'))).not.toBeNull();
  });
  it('no question when nothing is downloading (Ready, Planning)', () => {
    expect(restartImpact({ ...downloading, stage: 'ready' }, null, q('auto'), q('q8'))).toBeNull();
    expect(restartImpact({ ...downloading, stage: 'planning' }, null, q('auto'), q('q8'))).toBeNull();
    expect(restartImpact(null, null, q('auto'), q('q8'))).toBeNull();
  });
  it('no question when the choice keeps the planned repo', () => {
    // The plan is q4 (automatic): choosing q4 explicitly, or other fields, changes nothing.
    expect(restartImpact(downloading, null, q('auto'), q(fx.plan.quality))).toBeNull();
    expect(restartImpact(downloading, null, q('auto'), { ...q('auto'), handsFree: true })).toBeNull();
    // Back to Auto from an override that is the plan: the automatic plan may differ.
    const overridden = { ...downloading, plan: { ...fx.plan, overridden: true } };
    expect(restartImpact(overridden, null, q('q4'), q('auto'))).not.toBeNull();
    expect(restartImpact(downloading, null, q('q4'), q('auto'))).toBeNull();
  });
  it('progress of another repo is not counted as this one', () => {
    const other = fx.progress(0.5, { repo: 'kyutai/moshiko-mlx-q8' });
    expect(restartImpact(downloading, other, q('auto'), q('q8'))?.bytesDone).toBe(0);
  });
  it('a voice change restarts too', () => {
    const a = { ...fx.settings, voice: 'moshiko' as const };
    expect(restartImpact(downloading, null, a, { ...a, voice: 'moshika' })).toMatchObject({ what: 'voice', to: 'moshika' });
  });
});

describe('error banner in any stage', () => {
  const err: AppError = { title: 'Hold-to-talk shortcut unavailable', message: 'Alt+Space is taken.', action: { kind: 'openSettings' } };
  const withApp = (over = {}): UiState => reduce(initialState, { type: 'app-state', state: fx.appState({ stage: 'ready', ...over }) });
  it('shows the app error while Ready, downloading, in a session', () => {
    expect(bannerError(withApp({ error: err }))).toEqual(err);
    expect(bannerError(withApp({ stage: 'downloading', error: err }))).toEqual(err);
    expect(bannerError(withApp({ error: err, session: { active: true, inputOpen: true, talking: false, handsFree: false, framesHeard: 0, keyToModelMs: null } }))).toEqual(err);
  });
  it('not in the Error stage (the full-page view shows it) nor without an error', () => {
    expect(bannerError(withApp({ stage: 'error', error: err }))).toBeNull();
    expect(bannerError(withApp())).toBeNull();
  });
  it('closing hides this error only; a different one shows again', () => {
    let s = reduce(withApp({ error: err }), { type: 'dismiss-error', key: errorKey(err) });
    expect(bannerError(s)).toBeNull();
    s = reduce(s, { type: 'app-state', state: fx.appState({ stage: 'ready', error: { ...err, message: 'Ctrl+Space is taken.' } }) });
    expect(bannerError(s)?.message).toBe('Ctrl+Space is taken.');
  });
});

describe('error actions', () => {
  it('knows the microphone privacy action', () => {
    expect(checkedAction({ kind: 'openMicrophoneSettings' })).toEqual({ kind: 'openMicrophoneSettings' });
    expect(checkedAction({ kind: 'openUrl', url: 'http://x' })).toBeNull();
  });
});
