// `npm run dev` → http://127.0.0.1:5173/?mock fakes a whole first launch in the browser:
// detecting → measuring (the speed test) → planning → downloading (pause/resume work, a stall and a retry happen) → verifying →
// loading → ready → session (hold the button; Moshi answers). `?mock=ready|session|error|gated|settings`
// jumps straight to a state. Only imported in dev builds.
import type { AppError, AppState } from '../types';
import * as fx from './fixtures';
import { installMockBackend, type MockBackend } from './harness';

const WORDS = ' Hello! I am Moshi. I can hear you and talk back at the same time. What would you like to chat about today?'.split(/(?= )/);

/** The Error stage with `error`, on the fixture machine and plan. */
function errorState(error: AppError): AppState {
  return fx.appState({ stage: 'error', hardware: fx.hardware, plan: fx.plan, error });
}

export function installDevMock(params: URLSearchParams) {
  const b = installMockBackend();
  (window as any).__mock = b;
  const start = params.get('mock') || 'launch';
  let frac = 0;
  let paused = false;
  let timer: ReturnType<typeof setInterval> | undefined;
  let sessionTimer: ReturnType<typeof setInterval> | undefined;
  let tick = 0;

  const later = (ms: number, f: () => void) => setTimeout(f, ms);

  const download = () => {
    clearInterval(timer);
    b.app = { ...b.app, stage: 'downloading' };
    b.emit('app-state', b.app);
    timer = setInterval(() => {
      if (paused) return;
      tick++;
      const stalled = frac > 0.42 && frac < 0.47;
      frac = Math.min(1, frac + (stalled ? 0.002 : 0.012));
      const p = fx.progress(frac, { stalled, retries: frac > 0.45 ? 2 : 0, rateBps: stalled ? 0.4e6 : 36e6 + (tick % 7) * 1e6 });
      if (frac > 0.3 && frac < 0.6 && p.files[0].chunkMap.length > 20) {
        const m = p.files[0].chunkMap.split('');
        m[12] = '!';
        p.files[0].chunkMap = m.join('');
      }
      b.setProgress(p);
      if (frac >= 1) {
        clearInterval(timer);
        verify();
      }
    }, 250);
  };

  const verify = () => {
    b.setApp({ stage: 'verifying' });
    let v = 0;
    const total = fx.progress(1).totalChunks;
    timer = setInterval(() => {
      v = Math.min(total, v + 9);
      b.setProgress(fx.verifying(v));
      if (v >= total) {
        clearInterval(timer);
        b.setApp({ stage: 'loading' });
        later(2000, () => b.setApp({ stage: 'ready' }));
      }
    }, 200);
  };

  const session = (on: boolean) => {
    clearInterval(sessionTimer);
    b.setApp({ session: { active: on, inputOpen: on, talking: false, handsFree: b.settings.handsFree, framesHeard: 0, keyToModelMs: null } });
    if (!on) return;
    let w = 0;
    let t = 0;
    sessionTimer = setInterval(() => {
      t++;
      const talking = b.app.session.talking;
      const speaking = !talking && w < WORDS.length && t > 4;
      b.emit('session-metrics', fx.metrics({
        talking,
        speaking,
        inputLevel: talking ? 0.04 + Math.random() * 0.12 : 0.002,
        outputLevel: speaking ? 0.05 + Math.random() * 0.15 : 0,
        rtf: 0.55 + Math.random() * 0.08,
        latencyMs: 170 + Math.round(Math.random() * 30),
      }));
      if (speaking) b.emit('transcript', { piece: WORDS[w++], frame: t * 3 });
    }, 250);
  };

  b.onCommand = (cmd, args) => {
    switch (cmd) {
      case 'pause_download':
        paused = true;
        if (b.progress) b.setProgress({ ...b.progress, phase: 'paused', rateBps: 0, etaSecs: null, connections: 0 });
        break;
      case 'resume_download':
        paused = false;
        break;
      case 'retry_download':
        b.setApp({ error: null });
        frac = Math.min(frac, 0.5);
        download();
        break;
      case 'start_session':
        later(50, () => session(true));
        break;
      case 'stop_session':
        later(50, () => session(false));
        break;
      case 'set_talking':
        later(30, () => b.setApp({ session: { ...b.app.session, talking: !!args.talking } }));
        break;
      case 'save_settings':
        later(30, () => b.setApp({ hotkey: args.settings.hotkey }));
        break;
    }
  };

  switch (start) {
    case 'ready':
      b.app = fx.appState({ stage: 'ready', hardware: fx.hardware, plan: fx.plan });
      break;
    case 'session':
      b.app = fx.appState({ stage: 'ready', hardware: fx.hardware, plan: fx.plan });
      later(300, () => session(true));
      break;
    case 'error':
      b.app = errorState({ title: 'Download failed', message: 'The connection to huggingface.co was lost 5 times in a row. Check your network, then try again.', action: { kind: 'retry' } });
      break;
    case 'gated':
      b.app = errorState({
        title: 'Accept the model’s terms',
        message: 'kyutai/moshiko-mlx-bf16 is gated. Accept its terms on Hugging Face, add an access token in Settings, then try again.',
        action: { kind: 'openUrl', url: 'https://huggingface.co/kyutai/moshiko-mlx-bf16' },
      });
      break;
    default:
      firstLaunch(b);
  }

  function firstLaunch(b: MockBackend) {
    // First launch: the speed test runs before the plan (once per Mac and app version).
    later(1200, () => b.setApp({ stage: 'measuring', hardware: fx.hardware, speedTest: fx.speedTestRunning(0.1) }));
    later(2400, () => b.setApp({ speedTest: fx.speedTestRunning(0.55) }));
    later(3600, () => b.setApp({ stage: 'planning', speedTest: fx.speedTestDone }));
    later(4600, () => b.setApp({ plan: fx.measuredPlan }));
    later(7000, download);
  }
}
