// Automated accessibility audit (axe-core: roles, names, labels, contrast) of the main screens in
// light and dark. axe is evaluated through the DevTools protocol, so the page's CSP stays strict.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import * as fx from '../src/mock/fixtures';
import { emit, expect, openApp, setApp, test } from './helpers';
import type { Page } from '@playwright/test';

const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

async function audit(page: Page, what: string) {
  for (const scheme of ['light', 'dark'] as const) {
    await page.emulateMedia({ colorScheme: scheme, reducedMotion: 'reduce' });
    await page.evaluate(AXE);
    const violations = await page.evaluate(async () => {
      const r = await (window as any).axe.run(document, { resultTypes: ['violations'] });
      return r.violations.map(
        (v: any) => `${v.id}: ${v.help} — ${v.nodes.map((n: any) => `${n.target.join(' ')} (${n.any?.[0]?.message ?? ''})`).join('; ')}`,
      );
    });
    expect(violations, `${what} (${scheme})`).toEqual([]);
  }
}

test('measuring, planning, downloading and verifying have no accessibility violations', async ({ page }) => {
  await openApp(page, { app: fx.appState({ stage: 'measuring', hardware: fx.hardware, speedTest: fx.speedTestRunning(0.4) }) });
  await expect(page.getByRole('region', { name: 'Speed test' })).toBeVisible();
  await audit(page, 'measuring');
  await setApp(page, { stage: 'planning', plan: fx.plan, speedTest: fx.speedTestDone });
  await audit(page, 'planning');
  await setApp(page, { stage: 'downloading' });
  const p = fx.progress(0.45, { stalled: true, retries: 3 });
  await emit(page, 'download-progress', p);
  await expect(page.getByTestId('stalled')).toBeVisible();
  await audit(page, 'downloading');
  await setApp(page, { stage: 'verifying' });
  await emit(page, 'download-progress', fx.verifying(40));
  await expect(page.getByRole('region', { name: 'Verifying' })).toBeVisible();
  await audit(page, 'verifying');
});

test('ready, session, error and settings have no accessibility violations', async ({ page }) => {
  await openApp(page, { app: fx.appState({ stage: 'ready', hardware: fx.hardware, plan: fx.plan }) });
  await audit(page, 'ready');
  await setApp(page, { session: { active: true, inputOpen: true, talking: false, handsFree: false, framesHeard: 0, keyToModelMs: null } });
  await emit(page, 'session-metrics', fx.metrics({ speaking: true, outputLevel: 0.2 }));
  await emit(page, 'transcript', { piece: ' Hello there.', frame: 1 });
  await expect(page.getByTestId('session-status')).toHaveText('Moshi is speaking');
  await audit(page, 'session');
  await setApp(page, {
    stage: 'error',
    session: { active: false, inputOpen: false, talking: false, handsFree: false, framesHeard: 0, keyToModelMs: null },
    error: { title: 'Accept the model’s terms', message: 'Gated.', action: { kind: 'openUrl', url: 'https://huggingface.co/kyutai/moshiko-mlx-bf16' } },
  });
  await expect(page.getByRole('heading', { name: 'Accept the model’s terms' })).toBeVisible();
  await audit(page, 'error');
  await page.getByRole('button', { name: 'Open Settings' }).click();
  await expect(page.getByLabel('Microphone').locator('option')).toHaveCount(4);
  await audit(page, 'settings');
});

test('the error banner over Ready, the restart confirmation and model files have no violations', async ({ page }) => {
  const error = { title: 'Microphone access is off', message: 'Moshi cannot hear you.', action: { kind: 'openMicrophoneSettings' as const } };
  await openApp(page, { app: fx.appState({ stage: 'ready', hardware: fx.hardware, plan: fx.plan, error }) });
  await expect(page.getByTestId('error-banner')).toBeVisible();
  await audit(page, 'ready with error banner');
  await setApp(page, { stage: 'downloading', error: null });
  await emit(page, 'download-progress', fx.progress(0.3));
  await page.getByText('Why?').click();
  await page.getByRole('radio', { name: /q8/ }).click();
  await expect(page.getByRole('alertdialog')).toBeVisible();
  await audit(page, 'restart confirmation');
  await page.getByRole('alertdialog').getByRole('button', { name: 'Cancel' }).click();
  await page.getByRole('button', { name: 'Settings' }).click();
  await page.getByTestId('model-files').getByRole('button', { name: 'Delete model…' }).click();
  await expect(page.getByRole('alertdialog')).toBeVisible();
  await audit(page, 'settings with delete confirmation');
});
