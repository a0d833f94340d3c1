// Settings form validation and hotkey capture, kept pure for unit tests.
import type { Settings } from './types';

export type SettingsErrors = Partial<Record<'hotkey' | 'cacheDir' | 'inputDevice' | 'outputDevice', string>>;

const MODIFIERS = new Set(['alt', 'option', 'shift', 'control', 'ctrl', 'cmd', 'command', 'super', 'meta', 'commandorcontrol', 'cmdorctrl']);
const FUNCTION_KEY = /^F([1-9]|1[0-9]|2[0-4])$/;

export function validateHotkey(accel: string): string | null {
  const parts = accel.split('+').map((p) => p.trim());
  if (!accel.trim() || parts.some((p) => p === '')) return 'Press a key combination, for example ⌥ Space.';
  const mods = parts.filter((p) => MODIFIERS.has(p.toLowerCase()));
  const keys = parts.filter((p) => !MODIFIERS.has(p.toLowerCase()));
  if (keys.length === 0) return 'Add a key to the modifier, for example ⌥ Space.';
  if (keys.length > 1) return 'Use one key with modifiers, for example ⌥ Space.';
  if (new Set(mods.map((m) => m.toLowerCase())).size !== mods.length) return 'A modifier appears twice.';
  if (mods.length === 0 && !FUNCTION_KEY.test(keys[0])) return 'Add a modifier (⌥, ⌃, ⇧ or ⌘) so typing does not trigger it.';
  return null;
}

export function validateCacheDir(dir: string | null): string | null {
  if (dir == null || dir.trim() === '') return null; // default location
  const d = dir.trim();
  // The app needs an absolute path (it does not expand "~").
  if (!d.startsWith('/')) return 'Use a full path that starts with /, for example /Volumes/External/Moshi.';
  if (/[\0\n\r]/.test(d)) return 'The path contains characters a folder name cannot have.';
  return null;
}

export function validateSettings(s: Settings, devices?: { inputs: string[]; outputs: string[] } | null): SettingsErrors {
  const e: SettingsErrors = {};
  const hk = validateHotkey(s.hotkey);
  if (hk) e.hotkey = hk;
  const cd = validateCacheDir(s.cacheDir);
  if (cd) e.cacheDir = cd;
  if (devices && s.inputDevice != null && !devices.inputs.includes(s.inputDevice))
    e.inputDevice = `“${s.inputDevice}” is not connected; choose another microphone or System default.`;
  if (devices && s.outputDevice != null && !devices.outputs.includes(s.outputDevice))
    e.outputDevice = `“${s.outputDevice}” is not connected; choose another output or System default.`;
  return e;
}

/** Normalises the form before saving: trims paths, empty cache dir → null (default). */
export function normalizeSettings(s: Settings): Settings {
  const cacheDir = s.cacheDir?.trim() ? s.cacheDir.trim() : null;
  return { ...s, hotkey: s.hotkey.trim(), cacheDir };
}

/** A Hugging Face access token: "hf_" and letters/digits, no spaces. */
export function validateToken(token: string): string | null {
  const t = token.trim();
  if (!t) return 'Paste a token from huggingface.co → Settings → Access Tokens.';
  if (/\s/.test(t)) return 'The token must not contain spaces.';
  if (!/^hf_[A-Za-z0-9]{8,}$/.test(t)) return 'Hugging Face tokens start with “hf_” followed by letters and digits.';
  return null;
}

export interface KeyLike {
  key: string;
  code: string;
  altKey: boolean;
  ctrlKey: boolean;
  shiftKey: boolean;
  metaKey: boolean;
}

/**
 * A keydown → a Tauri global-shortcut accelerator ("Alt+Space", "Cmd+Shift+K", "F5").
 * Returns null while only modifiers are held.
 */
export function acceleratorFromEvent(e: KeyLike): string | null {
  const code = e.code;
  if (/^(Alt|Shift|Control|Meta|OS)(Left|Right)?$/.test(code) || ['Alt', 'Shift', 'Control', 'Meta'].includes(e.key)) return null;
  let key: string;
  if (/^Key[A-Z]$/.test(code)) key = code.slice(3);
  else if (/^Digit[0-9]$/.test(code)) key = code.slice(5);
  else if (/^F\d{1,2}$/.test(code)) key = code;
  else if (/^Arrow(Up|Down|Left|Right)$/.test(code)) key = code.slice(5);
  else if (code) key = code;
  else key = e.key.length === 1 ? e.key.toUpperCase() : e.key;
  const mods: string[] = [];
  if (e.ctrlKey) mods.push('Control');
  if (e.altKey) mods.push('Alt');
  if (e.shiftKey) mods.push('Shift');
  if (e.metaKey) mods.push('Cmd');
  return [...mods, key].join('+');
}
