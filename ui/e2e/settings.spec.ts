import * as fx from '../src/mock/fixtures';
import { commands, expect, test, openApp, shots } from './helpers';

test('settings: every field is saved through save_settings; the token never comes back', async ({ page }) => {
  await openApp(page, { app: fx.appState({ stage: 'ready', hardware: fx.hardware, plan: fx.plan }) });
  await page.getByRole('button', { name: 'Settings' }).click();
  await expect(page.getByRole('heading', { name: 'Settings' })).toBeFocused();
  await expect.poll(() => commands(page, 'list_audio_devices')).toHaveLength(1);

  // Devices come from list_audio_devices; default first.
  const mic = page.getByLabel('Microphone');
  await expect(mic.locator('option')).toHaveText(['System default (MacBook Pro Microphone)', 'MacBook Pro Microphone', 'AirPods Pro', 'Shure MV7']);
  await expect(page.getByLabel('Speaker').locator('option')).toHaveCount(3);
  await expect(page.getByLabel('Quality')).toHaveValue('auto');
  await expect(page.getByLabel('Quality').locator('option[value=bf16]')).toHaveText('Full (bf16) — does not fit in memory');
  await shots(page, '17-settings');

  await page.getByLabel('Quality').selectOption('q8');
  await expect(page.getByText('⚠ q8 does not fit in memory on this Mac.')).toBeVisible();
  await mic.selectOption('Shure MV7');
  await page.getByLabel('Speaker').selectOption('AirPods Pro');
  await page.getByLabel(/Hands-free/).check();
  await page.getByLabel('Launch at login').check();

  // Hotkey capture: click, then press the combination.
  const capture = page.getByTestId('hotkey-capture');
  await capture.click();
  await expect(capture).toContainText('Press the new shortcut');
  await page.keyboard.press('Control+Shift+KeyK');
  await expect(capture.locator('kbd')).toHaveText(['⌃ Control', '⇧ Shift', 'K']);

  // Cache location: the system folder picker (pick_cache_dir), whose answer is checked in Rust.
  await page.evaluate(() => ((window as any).__mock.folder = { path: '/Volumes/External/Moshi', writable: true, freeBytes: 400e9, neededBytes: 5e9, error: null }));
  await page.getByRole('button', { name: 'Choose…' }).click();
  await expect(page.getByTestId('cache-dir')).toHaveText('/Volumes/External/Moshi');
  await shots(page, '18-settings-folder-chosen');

  // Token: validated, sent once with set_hf_token, then cleared and only `hasToken` shown.
  const token = page.getByLabel('Access token');
  await token.fill('not a token');
  await page.getByRole('button', { name: 'Save token' }).click();
  await expect(page.getByRole('alert')).toContainText('must not contain spaces');
  await token.fill('hf_abcdefghijklmnopqrstuvwxyz012345');
  await token.press('Enter');
  await expect(page.getByTestId('token-status')).toHaveText('Token saved in your Keychain.');
  await expect(token).toHaveValue('');
  await expect(token).toHaveAttribute('placeholder', '•••••••• saved in Keychain');
  expect(await commands(page, 'set_hf_token')).toEqual([{ cmd: 'set_hf_token', args: { token: 'hf_abcdefghijklmnopqrstuvwxyz012345' } }]);
  expect(await page.content()).not.toContain('hf_abcdefghijklmnopqrstuvwxyz012345');

  await page.getByRole('button', { name: 'Save', exact: true }).click();
  await expect(page.getByRole('heading', { name: 'Ready' })).toBeVisible();
  expect(await commands(page, 'save_settings')).toEqual([
    {
      cmd: 'save_settings',
      args: {
        settings: {
          qualityOverride: 'q8',
          voice: 'moshiko',
          hotkey: 'Control+Shift+K',
          inputDevice: 'Shure MV7',
          outputDevice: 'AirPods Pro',
          handsFree: true,
          launchAtLogin: true,
          cacheDir: '/Volumes/External/Moshi',
          hasToken: true,
        },
      },
    },
  ]);

  // Removing the token sends null.
  await page.getByRole('button', { name: 'Settings' }).click();
  await expect(page.getByTestId('token-status')).toHaveText('A token is saved in your Keychain.');
  await page.getByRole('button', { name: 'Remove saved token' }).click();
  await expect(page.getByTestId('token-status')).toHaveText('Token removed.');
  expect((await commands(page, 'set_hf_token')).at(-1)).toEqual({ cmd: 'set_hf_token', args: { token: null } });
});

test('settings: a hotkey without a modifier is refused; Cancel and Escape keep the old settings', async ({ page }) => {
  await openApp(page, { app: fx.appState({ stage: 'ready', plan: fx.plan }) });
  await page.getByRole('button', { name: 'Settings' }).click();
  const capture = page.getByTestId('hotkey-capture');
  await capture.click();
  await page.keyboard.press('KeyA');
  await page.getByRole('button', { name: 'Save', exact: true }).click();
  await expect(page.getByRole('alert')).toContainText('Add a modifier');
  await expect(page.getByTestId('hotkey-capture')).toBeFocused();
  expect(await commands(page, 'save_settings')).toHaveLength(0);
  await page.getByRole('button', { name: 'Cancel' }).click();
  await expect(page.getByRole('heading', { name: 'Ready' })).toBeVisible();
  await expect(page.getByTestId('hotkey-hint').locator('kbd')).toHaveText(['⌥ Option', 'Space']);

  await page.getByRole('button', { name: 'Settings' }).click();
  await expect(page.getByTestId('hotkey-capture').locator('kbd')).toHaveText(['⌥ Option', 'Space']);
  await page.keyboard.press('Escape');
  await expect(page.getByRole('heading', { name: 'Ready' })).toBeVisible();
  expect(await commands(page, 'save_settings')).toHaveLength(0);
});

test('keyboard: the popover can be used with Tab and shows focus', async ({ page }) => {
  await openApp(page, { app: fx.appState({ stage: 'downloading', hardware: fx.hardware, plan: fx.plan }), progress: fx.progress(0.3) });
  await page.keyboard.press('Tab');
  await expect(page.getByRole('button', { name: 'Settings' })).toBeFocused();
  await page.keyboard.press('Tab');
  await expect(page.locator('summary')).toBeFocused();
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('plan-reason')).toBeVisible();
  await page.keyboard.press('Tab');
  await expect(page.getByRole('radio', { name: 'Auto' })).toBeFocused();
  // Visible focus ring.
  const outline = await page.locator('.seg.on').evaluate((el) => getComputedStyle(el).outlineStyle);
  expect(outline).toBe('solid');
  await page.keyboard.press('Tab');
  await expect(page.getByRole('button', { name: 'Pause' })).toBeFocused();
  await page.keyboard.press('Enter');
  await expect.poll(() => commands(page)).toEqual([{ cmd: 'pause_download', args: {} }]);
  await page.keyboard.press('Tab');
  await expect(page.getByRole('button', { name: 'Quit' })).toBeFocused();
  await page.keyboard.press('Enter');
  await expect.poll(async () => (await commands(page)).at(-1)).toEqual({ cmd: 'quit_app', args: {} });
});
