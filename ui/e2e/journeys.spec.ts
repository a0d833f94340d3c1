// Journeys at the popover's real size (380×560, as tauri.conf.json): errors outside the Error
// stage, the Ready text, confirming a download restart, model files and the cache folder picker.
import { readFileSync } from 'node:fs';
import * as fx from '../src/mock/fixtures';
import { commands, emit, expect, openApp, setApp, shots, test } from './helpers';

const shortcutError = {
  title: 'Hold-to-talk shortcut unavailable',
  message: 'Another app uses Alt+Space. Choose another shortcut in Settings.',
  action: { kind: 'openSettings' as const },
};

test('the tests run at the popover size from tauri.conf.json', async ({ page }) => {
  await openApp(page, { app: fx.appState({ stage: 'ready', hardware: fx.hardware, plan: fx.plan }) });
  const conf = JSON.parse(readFileSync(new URL('../../src-tauri/tauri.conf.json', import.meta.url), 'utf8'));
  const win = conf.app.windows[0];
  expect(page.viewportSize()).toEqual({ width: win.width, height: win.height });
  // Nothing wider than the popover (no sideways scrolling).
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  expect(overflow).toBeLessThanOrEqual(0);
});

test('Ready with an error: the banner shows it with its action, and can be closed', async ({ page }) => {
  await openApp(page, { app: fx.appState({ stage: 'ready', hardware: fx.hardware, plan: fx.plan, error: shortcutError }) });
  await expect(page.getByTestId('stage')).toHaveText('Ready');
  const banner = page.getByTestId('error-banner');
  await expect(banner).toBeVisible();
  await expect(banner).toContainText('Hold-to-talk shortcut unavailable');
  await expect(banner).toContainText('Another app uses Alt+Space');
  // The Ready panel is still there under it, and says what is true.
  await expect(page.getByTestId('hotkey-hint')).toContainText('to talk');
  await expect(page.getByTestId('ready-help')).toContainText('even with this window closed');
  await expect(banner).toBeInViewport({ ratio: 1 });
  await shots(page, '20-ready-with-error');

  await banner.getByRole('button', { name: 'Open Settings' }).click();
  await expect(page.getByRole('heading', { name: 'Settings' })).toBeVisible();
  await page.getByRole('button', { name: 'Back' }).click();
  await page.getByTestId('error-banner').getByRole('button', { name: 'Dismiss' }).click();
  await expect(page.getByTestId('error-banner')).toHaveCount(0);
  // A new error shows again.
  await setApp(page, { error: { title: 'Session ended', message: 'The microphone was unplugged.', action: null } });
  await expect(page.getByTestId('error-banner')).toContainText('The microphone was unplugged.');
});

test('microphone denied during a session: the banner opens the Privacy pane', async ({ page }) => {
  await openApp(page, {
    app: fx.appState({
      stage: 'ready',
      hardware: fx.hardware,
      plan: fx.plan,
      error: {
        title: 'Microphone access is off',
        message: 'Moshibar is not allowed to use the microphone, so Moshi cannot hear you. Open System Settings → Privacy & Security → Microphone, turn Moshibar on, then talk again.',
        action: { kind: 'openMicrophoneSettings' as const },
      },
    }),
  });
  const banner = page.getByTestId('error-banner');
  await expect(banner).toContainText('Microphone access is off');
  await shots(page, '21-ready-microphone-denied');
  await banner.getByRole('button', { name: 'Open Privacy Settings' }).click();
  await expect.poll(() => commands(page, 'open_microphone_settings')).toHaveLength(1);
});

test('a dead session: the banner starts again, and its × tells the core', async ({ page }) => {
  await openApp(page, {
    app: fx.appState({
      stage: 'ready',
      hardware: fx.hardware,
      plan: fx.plan,
      error: { title: 'The conversation stopped', message: 'The microphone was unplugged.', action: { kind: 'startSession' as const } },
    }),
  });
  const banner = page.getByTestId('error-banner');
  await banner.getByRole('button', { name: 'Start again' }).click();
  await expect.poll(() => commands(page, 'start_session')).toHaveLength(1);
  await banner.getByRole('button', { name: 'Dismiss' }).click();
  await expect(page.getByTestId('error-banner')).toHaveCount(0);
  await expect.poll(() => commands(page, 'dismiss_error')).toHaveLength(1);
});

test('Ready with the microphone opened ahead of the first press says so, and stays Ready', async ({ page }) => {
  await openApp(page, { app: fx.appState({ stage: 'ready', hardware: fx.hardware, plan: fx.plan }) });
  await expect(page.getByTestId('mic-ready')).toHaveCount(0);
  await setApp(page, { session: { ...fx.appState().session, inputOpen: true } });
  await expect(page.getByTestId('mic-ready')).toBeVisible();
  await expect(page.getByTestId('stage')).toHaveText('Ready');
});

test("a quality change in Ready asks the core's question first", async ({ page }) => {
  await openApp(page, { app: fx.appState({ stage: 'ready', hardware: fx.hardware, plan: fx.plan }) });
  await page.evaluate(() => ((window as any).__mock.restartQuestion = 'This unloads the model and plans again; another model may need a download.'));
  await page.getByRole('button', { name: 'Settings' }).click();
  await page.getByLabel('Quality').selectOption('q8');
  await page.getByRole('button', { name: 'Save', exact: true }).click();
  const dialog = page.getByTestId('confirm-replan');
  await expect(dialog).toContainText('This unloads the model and plans again');
  await expect.poll(() => commands(page, 'save_settings')).toHaveLength(0);
  await dialog.getByRole('button', { name: 'Change and plan again' }).click();
  await expect.poll(() => commands(page, 'save_settings')).toHaveLength(1);
});

test('an error while downloading shows above the download', async ({ page }) => {
  await openApp(page, { app: fx.appState({ stage: 'downloading', hardware: fx.hardware, plan: fx.plan, error: shortcutError }) });
  await emit(page, 'download-progress', fx.progress(0.4));
  await expect(page.getByTestId('error-banner')).toBeVisible();
  await expect(page.getByRole('region', { name: 'Download' })).toBeVisible();
  await shots(page, '22-downloading-with-error');
});

test('a quality change while downloading asks first; delete the partial or keep it', async ({ page }) => {
  await openApp(page, { app: fx.appState({ stage: 'downloading', hardware: fx.hardware, plan: fx.plan }) });
  await emit(page, 'download-progress', fx.progress(0.375));
  await page.getByText('Why?').click();
  await page.getByRole('radio', { name: /q8/ }).click();
  const dialog = page.getByRole('alertdialog', { name: 'Switch to q8 and restart the download?' });
  await expect(dialog).toBeVisible();
  await expect(dialog).toContainText(fx.plan.repo);
  await expect(dialog).toContainText('1.95 GB of 5.19 GB');
  expect(await commands(page, 'save_settings')).toHaveLength(0);
  await shots(page, '23-confirm-restart');

  // Cancel: nothing saved, nothing deleted.
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  await expect(dialog).toHaveCount(0);
  expect(await commands(page, 'save_settings')).toHaveLength(0);

  // Switch and delete: saved, then the old repo deleted.
  await page.getByRole('radio', { name: /q8/ }).click();
  await page.getByRole('alertdialog').getByRole('button', { name: 'Switch and delete it' }).click();
  await expect.poll(() => commands(page, 'delete_model')).toHaveLength(1);
  const cmds = (await commands(page)).map((c) => c.cmd);
  expect(cmds.indexOf('save_settings')).toBeLessThan(cmds.indexOf('delete_model'));
  const [del] = await commands(page, 'delete_model');
  expect(del.args).toEqual({ repo: fx.plan.repo });
  const [save] = await commands(page, 'save_settings');
  expect(save.args.settings.qualityOverride).toBe('q8');
  await expect(page.getByRole('alert').filter({ hasText: 'Deleted the partial download' })).toBeVisible();
});

test('a quality change when Ready saves at once (nothing to lose)', async ({ page }) => {
  await openApp(page, { app: fx.appState({ stage: 'planning', hardware: fx.hardware, plan: fx.plan }) });
  await page.getByRole('radio', { name: /q8/ }).click();
  await expect.poll(() => commands(page, 'save_settings')).toHaveLength(1);
  await expect(page.getByRole('alertdialog')).toHaveCount(0);
});

test('settings: cache folder from the folder picker, checked; reveal and delete the model', async ({ page }) => {
  await openApp(page, {
    app: fx.appState({ stage: 'ready', hardware: fx.hardware, plan: fx.plan }),
    folder: { path: '/Volumes/Slow', writable: false, freeBytes: 2e9, neededBytes: fx.plan.downloadBytes, error: 'Moshibar cannot write to this folder. Choose one you own.' },
  });
  await page.getByRole('button', { name: 'Settings' }).click();
  await expect(page.getByTestId('cache-dir')).toContainText('Default');
  await page.getByRole('button', { name: 'Choose…' }).click();
  await expect.poll(() => commands(page, 'pick_cache_dir')).toHaveLength(1);
  const [pick] = await commands(page, 'pick_cache_dir');
  expect(pick.args).toEqual({ neededBytes: fx.plan.downloadBytes });
  await expect(page.locator('#cache-dir-error')).toContainText('cannot write');
  await expect(page.getByTestId('cache-dir')).toContainText('Default'); // refused: not taken
  await shots(page, '24-settings-folder-refused');

  await page.evaluate(() => ((window as any).__mock.folder = { path: '/Volumes/Big/hf', writable: true, freeBytes: 500e9, neededBytes: 5e9, error: null }));
  await page.getByRole('button', { name: 'Choose…' }).click();
  await expect(page.getByTestId('cache-dir')).toHaveText('/Volumes/Big/hf');
  await expect(page.getByText('500 GB free there')).toBeVisible();

  const files = page.getByTestId('model-files');
  await files.getByRole('button', { name: 'Reveal in Finder' }).click();
  await expect.poll(() => commands(page, 'reveal_model')).toEqual([{ cmd: 'reveal_model', args: { repo: fx.plan.repo } }]);
  await files.getByRole('button', { name: 'Delete model…' }).click();
  await expect(page.getByRole('alertdialog', { name: `Delete ${fx.plan.repo}?` })).toBeVisible();
  await shots(page, '25-settings-delete-model');
  await page.getByRole('alertdialog').getByRole('button', { name: 'Delete', exact: true }).click();
  await expect.poll(() => commands(page, 'delete_model')).toHaveLength(1);

  await page.getByRole('button', { name: 'Save', exact: true }).click();
  await expect.poll(() => commands(page, 'save_settings')).toHaveLength(1);
  const [save] = await commands(page, 'save_settings');
  expect(save.args.settings.cacheDir).toBe('/Volumes/Big/hf');
});

test('settings: the voice is a setting; changing it mid-download asks first', async ({ page }) => {
  await openApp(page, { app: fx.appState({ stage: 'downloading', hardware: fx.hardware, plan: fx.plan }) });
  await emit(page, 'download-progress', fx.progress(0.2));
  await page.getByRole('button', { name: 'Settings' }).click();
  await expect(page.getByLabel('Voice')).toHaveValue('moshiko');
  await page.getByLabel('Voice').selectOption('moshika');
  await page.getByRole('button', { name: 'Save', exact: true }).click();
  const dialog = page.getByRole('alertdialog', { name: 'Switch to moshika and restart the download?' });
  await expect(dialog).toContainText('Changing the voice');
  await dialog.getByRole('button', { name: 'Switch, keep the partial download' }).click();
  await expect.poll(() => commands(page, 'save_settings')).toHaveLength(1);
  const [save] = await commands(page, 'save_settings');
  expect(save.args.settings.voice).toBe('moshika');
  expect(await commands(page, 'delete_model')).toHaveLength(0);
});
