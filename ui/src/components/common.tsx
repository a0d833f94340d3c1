import type { ComponentChildren } from 'preact';
import { hotkeyParts } from '../format';

export function Hotkey({ accel }: { accel: string }) {
  const parts = hotkeyParts(accel);
  return (
    <span class="hotkey" aria-label={parts.map((p) => p.name).join(' + ')} title={accel}>
      {parts.map((p, i) => (
        <kbd key={i} aria-hidden="true">
          {p.glyph !== p.name ? `${p.glyph} ${p.name}` : p.glyph}
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
