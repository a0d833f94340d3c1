import { test as base, expect, type Page } from '@playwright/test';
import { mkdirSync } from 'node:fs';
import type { AppState, AudioDevices, FolderCheck, Progress, Settings } from '../src/types';
import { HARNESS_JS, SCREENSHOTS } from './paths';

export interface MockInit {
  app?: AppState;
  progress?: Progress | null;
  settings?: Settings;
  devices?: AudioDevices;
  delays?: Record<string, number>;
  folder?: FolderCheck | null;
}

/** Opens the built popover with Tauri's IPC mocked (mockIPC + mockWindows, events emulated). */
export async function openApp(page: Page, init: MockInit = {}, { waitReady = true } = {}) {
  page.on('pageerror', (e) => {
    throw e;
  });
  await page.addInitScript((i) => {
    (window as any).__MOCK_INIT__ = i;
    (window as any).__cspViolations = [];
    document.addEventListener('securitypolicyviolation', (e) =>
      (window as any).__cspViolations.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`),
    );
  }, init);
  await page.addInitScript({ path: HARNESS_JS });
  await page.goto('/');
  if (waitReady) await expect(page.locator('html')).toHaveAttribute('data-ready', 'true');
}

export async function emit(page: Page, event: string, payload: unknown) {
  await page.evaluate(([e, p]) => (window as any).__mock.emit(e, p), [event, payload] as const);
}

/** Updates the mocked app state and emits `app-state`. */
export async function setApp(page: Page, over: Partial<AppState>) {
  await page.evaluate((o) => (window as any).__mock.setApp(o), over);
}

export async function calls(page: Page): Promise<{ cmd: string; args: any }[]> {
  return page.evaluate(() => (window as any).__mock.calls);
}

/** Commands invoked (without the initial get_* loads). */
export async function commands(page: Page, name?: string) {
  const all = await calls(page);
  return all.filter((c) => (name ? c.cmd === name : !c.cmd.startsWith('get_')));
}

export async function failCommand(page: Page, cmd: string, message: string) {
  await page.evaluate(([c, m]) => ((window as any).__mock.fail[c] = m), [cmd, message] as const);
}

/** Screenshots the popover in light and dark mode into test-results/screenshots/. */
export async function shots(page: Page, name: string) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  // Animations and transitions are stopped so the pictures are stable.
  const opts = { animations: 'disabled', caret: 'hide' } as const;
  await page.emulateMedia({ colorScheme: 'light' });
  await page.screenshot({ ...opts, path: `${SCREENSHOTS}/${name}-light.png` });
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.screenshot({ ...opts, path: `${SCREENSHOTS}/${name}-dark.png` });
  await page.emulateMedia({ colorScheme: 'light' });
}

/** `test` that also fails when the page broke the Content-Security-Policy (set by `vite preview`). */
export const test = base.extend<{ cspGuard: void }>({
  cspGuard: [
    async ({ page }, use) => {
      await use();
      const v = await page.evaluate(() => (window as any).__cspViolations ?? []).catch(() => []);
      expect(v, 'Content-Security-Policy violations').toEqual([]);
    },
    { auto: true },
  ],
});
export { expect };
