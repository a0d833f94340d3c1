// Every popover state, driven by emitted events, with light + dark screenshots.
import * as fx from '../src/mock/fixtures';
import { calls, commands, emit, expect, openApp, setApp, shots, test } from './helpers';

test('detecting: shows that the Mac is being checked', async ({ page }) => {
  await openApp(page, { app: fx.appState({ stage: 'detecting' }) });
  await expect(page.getByTestId('stage')).toHaveText('Checking this Mac');
  await expect(page.getByRole('status').first()).toContainText('Checking this Mac’s chip, memory and bandwidth');
  await expect(page.getByRole('region', { name: 'About Moshibar' })).toContainText('runs it entirely on this Mac');
  await shots(page, '01-detecting');
});

test('measuring: the speed test runs before the plan, with progress per quality, then plans with it', async ({ page }) => {
  await openApp(page, { app: fx.appState({ stage: 'measuring', hardware: fx.hardware, speedTest: fx.speedTestRunning(0.55) }) });
  await expect(page.getByTestId('stage')).toHaveText('Measuring');
  const card = page.getByRole('region', { name: 'Speed test' });
  await expect(card.getByRole('heading')).toHaveText('Measuring this Mac…');
  await expect(card.getByRole('progressbar', { name: 'Speed test progress' })).toHaveAttribute('aria-valuenow', '55');
  const list = card.getByRole('list', { name: 'Qualities timed' });
  await expect(list.locator('[data-quality="bf16"]')).toHaveAttribute('data-status', 'done');
  await expect(list.locator('[data-quality="q8"]')).toContainText('8-bit · measuring…');
  await expect(list.locator('[data-quality="q4"]')).toContainText('4-bit · waiting');
  await expect(card.getByTestId('speed-line')).toHaveText('q8: 2 layers: 21.4 ms per step');
  await expect(page.getByRole('region', { name: 'This Mac' })).toContainText('M2 Pro');
  await shots(page, '01b-measuring');

  // The last quality timed, then the plan: its reason names the measured frame time.
  await setApp(page, { speedTest: { ...fx.speedTestRunning(0.9), qualities: fx.speedTestRunning().qualities.map((q) => ({ ...q, status: q.quality === 'q4' ? ('measuring' as const) : ('done' as const) })) } });
  await expect(card.getByRole('progressbar', { name: 'Speed test progress' })).toHaveAttribute('aria-valuenow', '90');
  await expect(list.locator('[data-quality="q8"]')).toHaveAttribute('data-status', 'done');
  await expect(list.locator('[data-quality="q4"]')).toContainText('measuring…');
  await setApp(page, { stage: 'planning', speedTest: fx.speedTestDone, plan: fx.measuredPlan });
  await expect(page.getByTestId('stage')).toHaveText('Choosing a model');
  await expect(page.getByRole('region', { name: 'Speed test' })).toHaveCount(0);
  await expect(page.getByTestId('plan-reason')).toContainText('measured 61 ms per frame at q4 — real time');
  await shots(page, '01c-planned-with-the-measurement');
});

test('planning: hardware, plan with reason, alternatives and quality override', async ({ page }) => {
  await openApp(page, { app: fx.appState({ stage: 'detecting' }) });
  await setApp(page, { stage: 'planning', hardware: fx.hardware });
  await expect(page.getByRole('region', { name: 'This Mac' })).toContainText('M2 Pro');
  await expect(page.getByRole('region', { name: 'This Mac' })).toContainText('16 GB');
  await expect(page.getByRole('region', { name: 'This Mac' })).toContainText('200 GB/s');
  await setApp(page, { plan: fx.plan });
  const plan = page.getByRole('region', { name: 'Model plan' });
  await expect(plan).toContainText('Compact (4-bit)');
  await expect(plan.getByTestId('plan-reason')).toHaveText(fx.plan.reason);
  await expect(plan.getByRole('list', { name: 'Other qualities' })).toContainText('q8');
  await expect(plan.getByRole('list', { name: 'Other qualities' })).toContainText('too big');
  await expect(page.getByRole('radio', { name: 'Auto' })).toBeChecked();
  await shots(page, '02-planning');

  // Override to q8 (does not fit): save_settings with the new quality, and a warning.
  await page.getByRole('radio', { name: /q8/ }).check();
  await expect.poll(() => commands(page, 'save_settings')).toHaveLength(1);
  const [save] = await commands(page, 'save_settings');
  expect(save.args).toEqual({ settings: { ...fx.settings, qualityOverride: 'q8' } });
  await expect(page.getByTestId('override-warning')).toContainText('q8 does not fit in memory');
  await shots(page, '03-planning-override-warning');
});

test('downloading: bar, bytes, rate, ETA, chunk maps, retries, stalls, disk, pause/resume', async ({ page }) => {
  await openApp(page, { app: fx.appState({ stage: 'planning', hardware: fx.hardware, plan: fx.plan }) });
  await setApp(page, { stage: 'downloading' });
  await expect(page.getByText('Starting the download…')).toBeVisible();
  await emit(page, 'download-progress', fx.progress(0.375, { retries: 2, rateBps: 38.4e6, etaSecs: 85 }));
  const dl = page.getByRole('region', { name: 'Download' });
  await expect(dl.getByRole('heading')).toHaveText('Downloading Moshi');
  const bar = dl.getByRole('progressbar', { name: 'Download progress' });
  await expect(bar).toHaveAttribute('aria-valuenow', '37');
  await expect(dl.getByTestId('dl-line')).toContainText('1.95 GB of 5.19 GB');
  await expect(dl.getByTestId('rate')).toHaveText('38.4 MB/s');
  await expect(dl.getByTestId('eta')).toHaveText('1 min 25 s left');
  await expect(dl.getByTestId('retries')).toHaveText('2 retries');
  await expect(dl.getByTestId('disk')).toHaveText('120 GB free on disk');
  // One chunk map per file; cells rendered from chunkMap.
  const model = dl.locator(`[data-file="${fx.MODEL_FILE}"]`);
  await expect(model.getByRole('img')).toHaveAttribute('aria-label', /model\.q4\.safetensors: \d+ of 144 chunks verified, 6 downloading/);
  await expect(model.locator('.c')).toHaveCount(144);
  await expect(model.locator('.c.inflight')).toHaveCount(6);
  await expect(dl.locator(`[data-file="${fx.SPM_FILE}"] .c.verified`)).toHaveCount(1);
  // The compact plan summary is there, with the reason behind "Why?".
  await expect(page.getByText('Why?')).toBeVisible();
  await shots(page, '04-downloading');

  // A stall, a failed chunk and more retries are visible.
  const p = fx.progress(0.45, { stalled: true, retries: 3, rateBps: 0.2e6 });
  p.files[0].chunkMap = p.files[0].chunkMap.replace('#', '!');
  await emit(page, 'download-progress', p);
  await expect(dl.getByTestId('stalled')).toHaveText('Stalled — waiting for the server');
  await expect(dl.getByTestId('retries')).toHaveText('3 retries');
  await expect(model.locator('.c.failed')).toHaveCount(1);
  await expect(model.getByRole('img')).toHaveAttribute('aria-label', /1 failed, will retry/);
  await shots(page, '05-downloading-stalled');

  // Pause → pause_download; the paused phase shows Resume → resume_download.
  await dl.getByRole('button', { name: 'Pause' }).click();
  await expect.poll(() => commands(page)).toEqual([{ cmd: 'pause_download', args: {} }]);
  await emit(page, 'download-progress', { ...p, phase: 'paused', stalled: false, rateBps: 0, etaSecs: null });
  await expect(dl.getByRole('heading')).toHaveText('Download paused');
  await expect(dl.getByTestId('rate')).toHaveCount(0);
  await shots(page, '06-download-paused');
  await dl.getByRole('button', { name: 'Resume' }).click();
  await expect.poll(() => commands(page)).toEqual([
    { cmd: 'pause_download', args: {} },
    { cmd: 'resume_download', args: {} },
  ]);
});

test('downloading: not enough disk space and a gated repo say what to do', async ({ page }) => {
  await openApp(page, { app: fx.appState({ stage: 'downloading', hardware: fx.hardware, plan: fx.plan, diskFreeBytes: 1.5e9 }), progress: fx.progress(0.2) });
  const dl = page.getByRole('region', { name: 'Download' });
  await expect(dl.getByRole('alert').filter({ hasText: 'Not enough disk space' })).toContainText('more is needed');
  await expect(dl.getByTestId('disk')).toHaveClass(/bad/);
  await emit(page, 'download-progress', {
    ...fx.progress(0.2),
    phase: 'failed',
    error: { kind: 'gated', message: 'kyutai/moshiko-mlx-q4 is gated: accept its terms, then add a token.' },
  });
  await expect(dl.getByRole('heading')).toHaveText('Download stopped');
  await expect(dl).toContainText('This model needs your approval');
  await shots(page, '07-download-failed-gated');
  await dl.getByRole('button', { name: 'Accept terms on Hugging Face' }).click();
  await dl.getByRole('button', { name: 'Retry download' }).click();
  await expect.poll(() => commands(page)).toEqual([
    { cmd: 'plugin:opener|open_url', args: { url: 'https://huggingface.co/kyutai/moshiko-mlx-q4' } },
    { cmd: 'retry_download', args: {} },
  ]);
  await dl.getByRole('button', { name: 'Add access token' }).click();
  await expect(page.getByRole('heading', { name: 'Settings' })).toBeVisible();
});

test('verifying: chunks checked against SHA-256', async ({ page }) => {
  await openApp(page, { app: fx.appState({ stage: 'downloading', hardware: fx.hardware, plan: fx.plan }), progress: fx.progress(1) });
  await setApp(page, { stage: 'verifying' });
  await emit(page, 'download-progress', fx.verifying(90));
  const v = page.getByRole('region', { name: 'Verifying' });
  await expect(v.getByRole('heading')).toHaveText('Verifying the download');
  await expect(v.getByTestId('verify-line')).toHaveText('90 of 157 chunks checked (SHA-256)');
  await expect(v.getByRole('progressbar')).toHaveAttribute('aria-valuenow', '57');
  await expect(page.getByTestId('stage')).toHaveText('Verifying');
  await expect(v.locator(`[data-file="${fx.MODEL_FILE}"] .c.verified`)).toHaveCount(90);
  await shots(page, '08-verifying');
  await emit(page, 'download-progress', fx.verifying(120, 'repairing'));
  await expect(v.getByRole('heading')).toHaveText('Repairing damaged chunks');
});

test('loading: the model is loaded into memory', async ({ page }) => {
  await openApp(page, { app: fx.appState({ stage: 'verifying', hardware: fx.hardware, plan: fx.plan }) });
  await setApp(page, { stage: 'loading' });
  await expect(page.getByRole('region', { name: 'Loading' })).toContainText('Loading Moshi into memory…');
  await expect(page.getByRole('region', { name: 'Loading' })).toContainText('q4 · 7.3 GB');
  await shots(page, '09-loading');
});

test('ready: hotkey hint, start a conversation', async ({ page }) => {
  await openApp(page, { app: fx.appState({ stage: 'loading', hardware: fx.hardware, plan: fx.plan }) });
  await setApp(page, { stage: 'ready' });
  await expect(page.getByRole('heading', { name: 'Ready' })).toBeVisible();
  const hint = page.getByTestId('hotkey-hint');
  await expect(hint).toContainText('Hold');
  await expect(hint).toContainText('to talk');
  await expect(hint).toHaveText('Hold ⌥ OptionSpace to talk');
  await expect(hint.locator('kbd')).toHaveText(['⌥ Option', 'Space']);
  await shots(page, '10-ready');
  await page.getByRole('button', { name: 'Start conversation' }).click();
  await expect.poll(() => commands(page)).toEqual([{ cmd: 'start_session', args: {} }]);
});

test('session: hold-to-talk, mic level, speaking indicator, transcript, latency', async ({ page }) => {
  await openApp(page, { app: fx.appState({ stage: 'ready', hardware: fx.hardware, plan: fx.plan }) });
  await setApp(page, { session: { active: true, inputOpen: true, talking: false, handsFree: false, framesHeard: 0, keyToModelMs: null } });
  await expect(page.getByTestId('stage')).toHaveText('Live');
  const talk = page.getByRole('button', { name: 'Hold to talk' });
  await expect(talk).toHaveAttribute('aria-pressed', 'false');

  // Mouse: press → set_talking(true), release → set_talking(false).
  await talk.hover();
  await page.mouse.down();
  await expect(talk).toHaveAttribute('aria-pressed', 'true');
  await expect.poll(() => commands(page, 'set_talking')).toEqual([{ cmd: 'set_talking', args: { talking: true } }]);
  await emit(page, 'session-metrics', fx.metrics({ talking: true, inputLevel: 0.16 }));
  await expect(page.getByTestId('session-status')).toHaveText('Listening');
  await expect(page.getByRole('meter', { name: 'Microphone' })).toHaveAttribute('aria-valuenow', '40');
  await shots(page, '11-session-listening');
  await page.mouse.up();
  await expect.poll(() => commands(page, 'set_talking')).toEqual([
    { cmd: 'set_talking', args: { talking: true } },
    { cmd: 'set_talking', args: { talking: false } },
  ]);

  // Keyboard: Space held on the focused button does the same (auto-repeat ignored).
  await talk.focus();
  await page.keyboard.down('Space');
  await page.keyboard.down('Space');
  await page.keyboard.up('Space');
  await expect.poll(async () => (await commands(page, 'set_talking')).map((c) => c.args.talking)).toEqual([true, false, true, false]);

  // Moshi answers: speaking indicator, output meter, transcript, latency and RTF.
  await emit(page, 'session-metrics', fx.metrics({ speaking: true, outputLevel: 0.25, latencyMs: 182, rtf: 0.61, framesDropped: 1, underruns: 1 }));
  for (const [i, piece] of [' Hello,', ' I am', ' Moshi.', ' How can I help?'].entries()) await emit(page, 'transcript', { piece, frame: 10 + i });
  await expect(page.getByTestId('session-status')).toHaveText('Moshi is speaking');
  await expect(page.getByRole('meter', { name: 'Moshi' })).toHaveAttribute('aria-valuenow', '50');
  await expect(page.getByRole('log', { name: 'Transcript' })).toHaveText('Hello, I am Moshi. How can I help?');
  await expect(page.getByTestId('latency')).toHaveText('182 ms');
  await expect(page.getByTestId('rtf')).toHaveText('0.61');
  await expect(page.getByTestId('dropouts')).toHaveText('2');
  await shots(page, '12-session-speaking');

  // Falling behind is called out.
  await emit(page, 'session-metrics', fx.metrics({ rtf: 1.3 }));
  await expect(page.getByText('This Mac is not keeping up')).toBeVisible();

  await page.getByRole('button', { name: 'End conversation' }).click();
  await expect.poll(async () => (await commands(page)).at(-1)).toEqual({ cmd: 'stop_session', args: {} });
  await setApp(page, { session: { active: false, inputOpen: false, talking: false, handsFree: false, framesHeard: 0, keyToModelMs: null } });
  await expect(page.getByRole('heading', { name: 'Ready' })).toBeVisible();
});

test('session: hands-free mode has no hold button', async ({ page }) => {
  await openApp(page, { app: fx.appState({ stage: 'ready', plan: fx.plan, session: { active: true, inputOpen: true, talking: false, handsFree: true, framesHeard: 0, keyToModelMs: null } }) });
  await expect(page.getByTestId('hands-free')).toHaveText('Hands-free is on — just speak.');
  await expect(page.getByRole('button', { name: 'Hold to talk' })).toHaveCount(0);
  await expect(page.getByTestId('session-status')).toHaveText('Listening');
  await shots(page, '13-session-hands-free');
});

test('errors: retry, open settings and accept a gated model’s terms', async ({ page }) => {
  await openApp(page, {
    app: fx.appState({
      stage: 'error',
      plan: fx.plan,
      error: { title: 'Download failed', message: 'The connection was lost 5 times in a row. Check your network, then try again.', action: { kind: 'retry' } },
    }),
  });
  const alert = page.getByRole('alert').filter({ has: page.getByRole('heading', { name: 'Download failed' }) });
  await expect(alert).toContainText('Check your network, then try again.');
  await expect(page.getByTestId('stage')).toHaveText('Needs attention');
  await shots(page, '14-error-retry');
  await page.getByRole('button', { name: 'Try again' }).click();
  await expect.poll(() => commands(page)).toEqual([{ cmd: 'retry_download', args: {} }]);

  await setApp(page, {
    error: {
      title: 'Accept the model’s terms',
      message: 'kyutai/moshiko-mlx-bf16 is gated. Accept its terms on Hugging Face, add a token in Settings, then try again.',
      action: { kind: 'openUrl', url: 'https://huggingface.co/kyutai/moshiko-mlx-bf16' },
    },
  });
  await expect(page.getByRole('heading', { name: 'Accept the model’s terms' })).toBeVisible();
  await shots(page, '15-error-gated');
  await page.getByRole('button', { name: 'Open huggingface.co' }).click();
  await expect.poll(async () => (await commands(page)).at(-1)).toEqual({
    cmd: 'plugin:opener|open_url',
    args: { url: 'https://huggingface.co/kyutai/moshiko-mlx-bf16' },
  });

  await setApp(page, { error: { title: 'The disk is full', message: 'Free 3 GB or choose another cache location in Settings.', action: { kind: 'openSettings' } } });
  await expect(page.getByRole('button', { name: 'Try again' })).toHaveCount(0);
  await shots(page, '16-error-settings');
  await page.getByRole('button', { name: 'Open Settings' }).click();
  await expect(page.getByRole('heading', { name: 'Settings' })).toBeVisible();
});

test('a failing command shows a notice instead of failing silently', async ({ page }) => {
  await openApp(page, { app: fx.appState({ stage: 'ready', plan: fx.plan }) });
  await page.evaluate(() => ((window as any).__mock.fail.start_session = 'the microphone is not allowed; enable it in System Settings › Privacy'));
  await page.getByRole('button', { name: 'Start conversation' }).click();
  await expect(page.getByRole('alert')).toContainText('Couldn\'t start the session: the microphone is not allowed');
  await page.getByRole('button', { name: 'Dismiss' }).click();
  await expect(page.getByRole('alert')).toHaveCount(0);
});

test('a refused command offers its action next to the notice (CommandError.action)', async ({ page }) => {
  await openApp(page, { app: fx.appState({ stage: 'ready', plan: fx.plan }) });
  await page.evaluate(() => ((window as any).__mock.fail.start_session = { message: 'Moshibar may not use the microphone.', action: { kind: 'openMicrophoneSettings' } }));
  await page.getByRole('button', { name: 'Start conversation' }).click();
  await expect(page.getByRole('alert')).toContainText('Couldn\'t start the session: Moshibar may not use the microphone.');
  await page.getByRole('alert').getByRole('button', { name: 'Open Privacy Settings' }).click();
  await expect.poll(async () => (await commands(page, 'open_microphone_settings')).length).toBe(1);
});

test('outside the app (no Tauri IPC) the page says so instead of hanging', async ({ page }) => {
  await page.goto('/');
  await expect(page.getByRole('alert')).toContainText('only works inside the app');
  await expect(page.getByTestId('stage')).toHaveText('Unavailable');
});

test('startup reads state, progress and settings, so a reopened popover resumes mid-download', async ({ page }) => {
  await openApp(page, {
    app: fx.appState({ stage: 'downloading', hardware: fx.hardware, plan: fx.plan }),
    progress: fx.progress(0.625, { phase: 'paused', rateBps: 0, etaSecs: null }),
    settings: { ...fx.settings, qualityOverride: 'q4' },
  });
  expect((await calls(page)).map((c) => c.cmd).sort()).toEqual(['get_progress', 'get_settings', 'get_state']);
  await expect(page.getByRole('heading', { name: 'Download paused' })).toBeVisible();
  await expect(page.getByRole('progressbar', { name: 'Download progress' })).toHaveAttribute('aria-valuenow', '62');
  await page.getByText('Why?').click();
  await expect(page.getByRole('radio', { name: 'q4' })).toBeChecked();
});

test('an event that arrives during start-up is not overwritten by the older get_state answer', async ({ page }) => {
  await openApp(page, { app: fx.appState({ stage: 'downloading', plan: fx.plan }), delays: { get_state: 800 } }, { waitReady: false });
  await expect.poll(async () => (await calls(page)).map((c) => c.cmd)).toContain('get_state');
  await setApp(page, { stage: 'ready' }); // the mock's state moves on; its delayed get_state answer is the old one
  await expect(page.locator('html')).toHaveAttribute('data-ready', 'true');
  await expect(page.getByRole('heading', { name: 'Ready' })).toBeVisible();
});
