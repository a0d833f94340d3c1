// Realistic sample data in the exact shapes of docs/ipc.md, shared by the ?mock dev mode and the e2e tests.
import type { AppState, AudioDevices, FileProgress, Hardware, Metrics, Plan, Progress, Settings } from '../types';
import type { SpeedTestQuality, SpeedTestState } from '../bindings';

export const hardware: Hardware = {
  cpuBrand: 'Apple M2 Pro',
  chip: { generation: 2, tier: 'pro', name: 'M2 Pro' },
  memoryBytes: 17179869184,
  gpuBudgetBytes: 11453246122,
  gpuBudgetSource: 'metal',
  bandwidthGbps: 200,
  bandwidthEstimated: false,
  os: 'macOS 14.5',
  arch: 'aarch64',
  appleSilicon: true,
  performanceCores: 8,
};

export const MODEL_FILE = 'model.q4.safetensors';
export const MIMI_FILE = 'tokenizer-e351c8d8-checkpoint125.safetensors';
export const SPM_FILE = 'tokenizer_spm_32k_3.model';

export const plan: Plan = {
  quality: 'q4',
  realTime: true,
  overridden: false,
  repo: 'kyutai/moshiko-mlx-q4',
  revision: 'main',
  files: [
    { path: MODEL_FILE, size: 4805385728 },
    { path: MIMI_FILE, size: 384644900 },
    { path: SPM_FILE, size: 552778 },
  ],
  downloadBytes: 5190583406,
  memoryBytes: 7800000000,
  bandwidthNeededGbps: 77,
  source: 'download',
  reason:
    'M2 Pro, 16 GB: q8 needs 11.1 GB of the 11.2 GB the GPU may use — too tight; q4 fits and needs 77 GB/s of your 200 GB/s',
  warning: null,
  alternatives: [
    { quality: 'bf16', fitsMemory: false, fitsBandwidth: false, reason: 'needs 17.5 GB, the GPU may use 11.2 GB' },
    { quality: 'q8', fitsMemory: false, fitsBandwidth: true, reason: 'needs 11.1 GB of 11.2 GB — too tight' },
  ],
};

export const settings: Settings = {
  qualityOverride: 'auto',
  voice: 'moshiko',
  hotkey: 'Alt+Space',
  inputDevice: null,
  outputDevice: null,
  handsFree: false,
  launchAtLogin: false,
  cacheDir: null,
  hasToken: false,
};

export const devices: AudioDevices = {
  inputs: ['MacBook Pro Microphone', 'AirPods Pro', 'Shure MV7'],
  outputs: ['MacBook Pro Speakers', 'AirPods Pro'],
  defaultInput: 'MacBook Pro Microphone',
  defaultOutput: 'MacBook Pro Speakers',
};

export function appState(over: Partial<AppState> = {}): AppState {
  return {
    stage: 'detecting',
    hardware: null,
    plan: null,
    session: { active: false, inputOpen: false, talking: false, handsFree: false, framesHeard: 0, keyToModelMs: null },
    hotkey: 'Alt+Space',
    error: null,
    diskFreeBytes: 120e9,
    modelDir: '/Users/ana/Library/Caches/Moshibar/hub/models--kyutai--moshiko-mlx-q4/snapshots/9f2c1e0',
    downloadPaused: false,
    voice: 'moshiko',
    speedTest: null,
    ...over,
  };
}

/** The speed test part-way: bf16 timed, q8 being timed, q4 waiting (`fraction` done). */
export function speedTestRunning(fraction = 0.55): SpeedTestState {
  const q = (quality: SpeedTestQuality['quality'], status: SpeedTestQuality['status']): SpeedTestQuality => ({
    quality,
    status,
    frameMs: null,
    realTime: null,
    lowerBound: false,
    summary: null,
  });
  return {
    running: true,
    cached: false,
    fraction,
    line: 'q8: 2 layers: 21.4 ms per step',
    qualities: [q('bf16', 'done'), q('q8', 'measuring'), q('q4', 'pending')],
    seconds: null,
    error: null,
  };
}

/** The finished speed test of an M2 Pro: q4 keeps up, q8 and bf16 do not. */
export const speedTestDone: SpeedTestState = {
  running: false,
  cached: false,
  fraction: 1,
  line: null,
  qualities: [
    { quality: 'bf16', status: 'done', frameMs: 142.3, realTime: false, lowerBound: true, summary: 'measured at least 142 ms per frame at bf16 (1 of 32 layers timed) — at least 1.8× too slow for real time (needs ≤ 64 ms)' },
    { quality: 'q8', status: 'done', frameMs: 88.1, realTime: false, lowerBound: false, summary: 'measured 88 ms per frame at q8 — 1.1× too slow for real time (needs ≤ 64 ms)' },
    { quality: 'q4', status: 'done', frameMs: 61.2, realTime: true, lowerBound: false, summary: 'measured 61 ms per frame at q4 — real time' },
  ],
  seconds: 14.2,
  error: null,
};

/** The plan made with that measurement: the reason names it. */
export const measuredPlan: Plan = {
  ...plan,
  measuredFrameMs: 61.2,
  reason:
    'M2 Pro, 16 GB: bf16 needs 17.5 GB of the 11.2 GB the GPU may use — too tight (limit 70 %); measured 88 ms per frame at q8 — 1.1× too slow for real time (needs ≤ 64 ms); q4 fits (7.3 GB of the 11.2 GB the GPU may use) and measured 61 ms per frame at q4 — real time.',
};

export const CHUNK = 32 * 1024 * 1024;

/** A chunk map for a file with `frac` of it verified, some chunks in flight and optional failures. */
export function chunkMapFor(size: number, frac: number, inflight = 4, failed: number[] = []): string {
  const n = Math.max(1, Math.ceil(size / CHUNK));
  const done = Math.floor(n * frac);
  let m = '';
  for (let i = 0; i < n; i++) m += i < done ? '#' : i < done + inflight ? '>' : '.';
  const a = m.split('');
  for (const f of failed) if (f < n) a[f] = '!';
  return a.join('');
}

/** Download progress with `frac` of the bytes done (files are fetched in order). */
export function progress(frac: number, over: Partial<Progress> = {}): Progress {
  const total = plan.files.reduce((s, f) => s + f.size, 0);
  let left = Math.floor(total * frac);
  let current: string | null = null;
  const files: FileProgress[] = [...plan.files]
    .sort((a, b) => a.size - b.size)
    .map((f): FileProgress => {
      const done = Math.min(f.size, left);
      left -= done;
      const ff = done / f.size;
      if (ff < 1 && current === null) current = f.path;
      return {
        path: f.path,
        size: f.size,
        bytesDone: done,
        phase: ff >= 1 ? 'done' : ff > 0 ? 'downloading' : 'resolving',
        chunkMap: chunkMapFor(f.size, ff, ff > 0 && ff < 1 ? 6 : 0),
        sha256: ff >= 1 ? 'ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12cd34ef56ab12' : null,
      };
    })
    .reverse();
  const chunks = files.reduce((s, f) => s + f.chunkMap.length, 0);
  const verified = files.reduce((s, f) => s + [...f.chunkMap].filter((c) => c === '#').length, 0);
  const rate = 38.4e6;
  const bytesDone = Math.floor(total * frac);
  return {
    phase: frac >= 1 ? 'done' : 'downloading',
    repo: plan.repo,
    revision: 'main',
    file: current,
    bytesDone,
    bytesTotal: total,
    verifiedChunks: verified,
    totalChunks: chunks,
    rateBps: rate,
    etaSecs: frac >= 1 ? 0 : (total - bytesDone) / rate,
    stalled: false,
    retries: 0,
    connections: 8,
    files,
    error: null,
    lastError: null,
    ...over,
  };
}

export function metrics(over: Partial<Metrics> = {}): Metrics {
  return {
    talking: false,
    speaking: false,
    inputLevel: 0,
    outputLevel: 0,
    encodeMs: 3.1,
    lmMs: 40.2,
    decodeMs: 2.9,
    rtf: 0.58,
    framesDropped: 0,
    underruns: 0,
    latencyMs: 180,
    micLevel: 0,
    echoCanceller: 'webrtcAec3',
    erleDb: 18,
    echoDelayMs: 42,
    audio: { wallS: 10, playedS: 10, capturedS: 10, xruns: 0, streamErrors: 0, outputDroppedMs: 0, captureDroppedMs: 0, driftPpm: 0, driftCorrectionPpm: 0 },
    ...over,
  };
}

/** Verification in progress: the first `checked` chunks (over all files) are verified, the next ones in flight. */
export function verifying(checked: number, phase: 'verifying' | 'repairing' = 'verifying'): Progress {
  const p = progress(1, { phase, rateBps: 0, etaSecs: null });
  let left = checked;
  p.files = p.files.map((f) => {
    const n = f.chunkMap.length;
    const done = Math.max(0, Math.min(n, left));
    left -= done;
    const map = '#'.repeat(done) + (done < n ? '>' : '') + '.'.repeat(Math.max(0, n - done - 1));
    return { ...f, chunkMap: map.slice(0, n), sha256: done === n ? f.sha256 : null };
  });
  p.verifiedChunks = checked;
  return p;
}
