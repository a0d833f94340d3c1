import type { ComponentChildren } from 'preact';
import { hotkeyParts } from '../format';

export function Hotkey({ accel }: { accel: string }) {
  const parts = hotkeyParts(accel);
  // Read as "Option Space"; the glyphs are decoration.
  return (
    <span class="hotkey" title={accel}>
      {parts.map((p, i) => (
        <kbd key={i}>
          {p.glyph !== p.name ? (
            <>
              <span aria-hidden="true">{p.glyph}</span> {p.name}
            </>
          ) : (
            p.name
          )}
        </kbd>
      ))}
    </span>
  );
}

export function Spinner({ label }: { label: string }) {
  return <span class="spinner" role="img" aria-label={label} />;
}

export function Callout({ kind, title, children }: { kind: 'warn' | 'error' | 'info'; title?: string; children?: ComponentChildren }) {
  return (
    <div class={`callout ${kind}`} role={kind === 'info' ? 'note' : 'alert'}>
      {title && <strong class="callout-title">{title}</strong>}
      <div>{children}</div>
    </div>
  );
}

export function ProgressBar({ value, max, label, indeterminate }: { value: number; max: number; label: string; indeterminate?: boolean }) {
  const pct = max > 0 ? Math.max(0, Math.min(100, (value / max) * 100)) : 0;
  return (
    <div
      class={`bar${indeterminate ? ' indeterminate' : ''}`}
      role="progressbar"
      aria-label={label}
      aria-valuemin={0}
      aria-valuemax={100}
      aria-valuenow={indeterminate ? undefined : Math.floor(pct)}
    >
      <div class="bar-fill" style={{ width: indeterminate ? undefined : `${pct}%` }} />
    </div>
  );
}

export function Meter({ value, label, kind }: { value: number; label: string; kind: 'in' | 'out' }) {
  // RMS 0..1 → a perceptual 0..100 (speech RMS is small; sqrt spreads it).
  const v = Math.max(0, Math.min(1, value));
  const shown = Math.round(Math.sqrt(v) * 100);
  return (
    <div class="meter-row">
      <span class="meter-label">{label}</span>
      <div class={`meter ${kind}`} role="meter" aria-label={label} aria-valuemin={0} aria-valuemax={100} aria-valuenow={shown}>
        <div class="meter-fill" style={{ width: `${shown}%` }} />
      </div>
    </div>
  );
}

export function MicIcon() {
  return (
    <svg class="talk-mic" viewBox="0 0 24 24" aria-hidden="true" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round">
      <rect x="9" y="2" width="6" height="12" rx="3" fill="currentColor" stroke="none" />
      <path d="M5 11a7 7 0 0 0 14 0M12 18v4M8 22h8" />
    </svg>
  );
}

export function GearIcon() {
  return (
    <svg class="icon-svg" viewBox="0 0 24 24" aria-hidden="true" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round">
      <circle cx="12" cy="12" r="3" />
      <path d="M19.4 15a1.7 1.7 0 0 0 .3 1.8l.1.1a2 2 0 1 1-2.8 2.8l-.1-.1a1.7 1.7 0 0 0-1.8-.3 1.7 1.7 0 0 0-1 1.5V21a2 2 0 1 1-4 0v-.1a1.7 1.7 0 0 0-1.1-1.5 1.7 1.7 0 0 0-1.8.3l-.1.1a2 2 0 1 1-2.8-2.8l.1-.1a1.7 1.7 0 0 0 .3-1.8 1.7 1.7 0 0 0-1.5-1H3a2 2 0 1 1 0-4h.1a1.7 1.7 0 0 0 1.5-1.1 1.7 1.7 0 0 0-.3-1.8l-.1-.1a2 2 0 1 1 2.8-2.8l.1.1a1.7 1.7 0 0 0 1.8.3H9a1.7 1.7 0 0 0 1-1.5V3a2 2 0 1 1 4 0v.1a1.7 1.7 0 0 0 1 1.5 1.7 1.7 0 0 0 1.8-.3l.1-.1a2 2 0 1 1 2.8 2.8l-.1.1a1.7 1.7 0 0 0-.3 1.8V9a1.7 1.7 0 0 0 1.5 1H21a2 2 0 1 1 0 4h-.1a1.7 1.7 0 0 0-1.5 1z" />
    </svg>
  );
}
