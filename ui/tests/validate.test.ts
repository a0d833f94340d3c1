import { describe, expect, it } from 'vitest';
import { checkedAction } from '../src/components/ErrorView';
import { optionWarning } from '../src/components/Plan';
import * as fx from '../src/mock/fixtures';
import { acceleratorFromEvent, normalizeSettings, validateCacheDir, validateHotkey, validateSettings, validateToken, type KeyLike } from '../src/validate';

const key = (code: string, mods: Partial<KeyLike> = {}, k = ''): KeyLike => ({
  key: k || code,
  code,
  altKey: false,
  ctrlKey: false,
  shiftKey: false,
  metaKey: false,
  ...mods,
});

describe('hotkey', () => {
  it('accepts modifier + key and bare function keys', () => {
    expect(validateHotkey('Alt+Space')).toBeNull();
    expect(validateHotkey('Control+Shift+K')).toBeNull();
    expect(validateHotkey('CommandOrControl+1')).toBeNull();
    expect(validateHotkey('F13')).toBeNull();
  });
  it('refuses empty, modifier-only, bare letters, two keys and repeated modifiers', () => {
    expect(validateHotkey('')).toMatch(/Press a key combination/);
    expect(validateHotkey('Alt+')).toMatch(/Press a key combination/);
    expect(validateHotkey('Alt+Shift')).toMatch(/Add a key/);
    expect(validateHotkey('K')).toMatch(/Add a modifier/);
    expect(validateHotkey('Space')).toMatch(/Add a modifier/);
    expect(validateHotkey('Alt+K+L')).toMatch(/one key/);
    expect(validateHotkey('Alt+alt+K')).toMatch(/twice/);
  });
  it('turns key events into Tauri accelerators', () => {
    expect(acceleratorFromEvent(key('Space', { altKey: true }, ' '))).toBe('Alt+Space');
    expect(acceleratorFromEvent(key('KeyK', { ctrlKey: true, shiftKey: true }, 'K'))).toBe('Control+Shift+K');
    expect(acceleratorFromEvent(key('Digit1', { metaKey: true }, '1'))).toBe('Cmd+1');
    expect(acceleratorFromEvent(key('F5', {}, 'F5'))).toBe('F5');
    expect(acceleratorFromEvent(key('ArrowUp', { altKey: true }))).toBe('Alt+Up');
  });
  it('waits while only modifiers are held', () => {
    expect(acceleratorFromEvent(key('AltLeft', { altKey: true }, 'Alt'))).toBeNull();
    expect(acceleratorFromEvent(key('ShiftRight', { shiftKey: true }, 'Shift'))).toBeNull();
    expect(acceleratorFromEvent(key('MetaLeft', { metaKey: true }, 'Meta'))).toBeNull();
  });
});

describe('settings form', () => {
  it('cache dir: empty means default, otherwise a full path', () => {
    expect(validateCacheDir(null)).toBeNull();
    expect(validateCacheDir('  ')).toBeNull();
    expect(validateCacheDir('/Volumes/X/Moshi')).toBeNull();
    expect(validateCacheDir('~/Models')).toMatch(/starts with \//);
    expect(validateCacheDir('Models/Moshi')).toMatch(/full path/);
    expect(validateCacheDir('/a\nb')).toMatch(/characters/);
  });
  it('collects errors per field, including devices that are not connected', () => {
    const bad = { ...fx.settings, hotkey: 'K', cacheDir: 'rel', inputDevice: 'USB Mic', outputDevice: 'AirPods Pro' };
    const e = validateSettings(bad, fx.devices);
    expect(Object.keys(e).sort()).toEqual(['cacheDir', 'hotkey', 'inputDevice']);
    expect(e.inputDevice).toMatch(/USB Mic.*not connected/);
    expect(validateSettings(fx.settings, fx.devices)).toEqual({});
    // Without a device list, device names are not judged.
    expect(validateSettings({ ...fx.settings, inputDevice: 'USB Mic' }, null)).toEqual({});
  });
  it('normalizes before saving', () => {
    expect(normalizeSettings({ ...fx.settings, hotkey: ' Alt+Space ', cacheDir: '  /x ' })).toMatchObject({ hotkey: 'Alt+Space', cacheDir: '/x' });
    expect(normalizeSettings({ ...fx.settings, cacheDir: '   ' }).cacheDir).toBeNull();
  });
  it('HF token looks like hf_…', () => {
    expect(validateToken('hf_abcdefghijklmnopqrstuvwxyz0123456789')).toBeNull();
    expect(validateToken('  hf_abcdefgh12  ')).toBeNull();
    expect(validateToken('')).toMatch(/Paste a token/);
    expect(validateToken('hf_abc def')).toMatch(/spaces/);
    expect(validateToken('abcdefghijkl')).toMatch(/start with “hf_”/);
  });
});

describe('plan and errors', () => {
  it('warns about qualities that will not fit or keep up', () => {
    expect(optionWarning(fx.plan, 'auto')).toBeNull();
    expect(optionWarning(fx.plan, 'q4')).toBeNull();
    expect(optionWarning(fx.plan, 'q8')).toBe('does not fit in memory');
    expect(optionWarning({ ...fx.plan, alternatives: [{ quality: 'q8', fitsMemory: true, fitsBandwidth: false, reason: '' }] }, 'q8')).toBe(
      'will not run in real time',
    );
    expect(optionWarning({ ...fx.plan, realTime: false }, 'q4')).toBe('will not run in real time');
  });
  it('parses error actions; only https URLs are opened', () => {
    expect(checkedAction({ kind: 'retry' })).toEqual({ kind: 'retry' });
    expect(checkedAction({ kind: 'openSettings' })).toEqual({ kind: 'openSettings' });
    expect(checkedAction({ kind: 'openUrl', url: 'https://huggingface.co/kyutai/x' })).toEqual({ kind: 'openUrl', url: 'https://huggingface.co/kyutai/x' });
    expect(checkedAction({ kind: 'openUrl', url: 'javascript:alert(1)' })).toBeNull();
    expect(checkedAction(null)).toBeNull();
    expect(checkedAction({ kind: 'something' } as never)).toBeNull();
  });
});
