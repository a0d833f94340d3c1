// Human-friendly numbers for the popover. Decimal units, like Finder.

const UNITS = ['B', 'kB', 'MB', 'GB', 'TB'];

/** 4805385728 → "4.81 GB"; 0 → "0 B"; 999 → "999 B". */
export function formatBytes(n: number | null | undefined): string {
  if (n == null || !Number.isFinite(n) || n < 0) return '—';
  if (n < 1000) return `${Math.round(n)} B`;
  let i = 0;
  let v = n;
  while (v >= 1000 && i < UNITS.length - 1) {
    v /= 1000;
    i++;
  }
  const digits = v >= 100 ? 0 : v >= 10 ? 1 : 2;
  return `${v.toFixed(digits)} ${UNITS[i]}`;
}

/** Bytes per second → "12.3 MB/s". */
export function formatRate(bps: number | null | undefined): string {
  if (bps == null || !Number.isFinite(bps) || bps <= 0) return '0 B/s';
  return `${formatBytes(bps)}/s`;
}

/** Seconds left → "about 3 min", "42 s", "1 h 05 min"; null → "calculating…". */
export function formatEta(secs: number | null | undefined): string {
  if (secs == null || !Number.isFinite(secs) || secs < 0) return 'calculating…';
  const s = Math.round(secs);
  if (s < 60) return `${s} s`;
  if (s < 3600) {
    const m = Math.floor(s / 60);
    const r = s % 60;
    return r === 0 || m >= 10 ? `${Math.round(s / 60)} min` : `${m} min ${r} s`;
  }
  if (s < 86400 * 2) {
    const h = Math.floor(s / 3600);
    const m = Math.round((s % 3600) / 60);
    if (m === 60) return `${h + 1} h 00 min`;
    return `${h} h ${String(m).padStart(2, '0')} min`;
  }
  return `${Math.round(s / 86400)} days`;
}

/** 0.4567 → "46%" (never shows 100% before it is done). */
export function formatPercent(done: number, total: number): string {
  if (!(total > 0)) return '0%';
  const p = (done / total) * 100;
  if (done >= total) return '100%';
  return `${Math.min(99, Math.floor(p))}%`;
}

export function formatMs(ms: number | null | undefined): string {
  if (ms == null || !Number.isFinite(ms)) return '—';
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${Math.round(ms)} ms`;
}

/** Memory sizes use binary units the way macOS "About This Mac" shows them: 17179869184 → "16 GB". */
export function formatMemory(n: number | null | undefined): string {
  if (n == null || !Number.isFinite(n) || n <= 0) return '—';
  const gib = n / 2 ** 30;
  return gib >= 10 ? `${Math.round(gib)} GB` : `${gib.toFixed(1).replace(/\.0$/, '')} GB`;
}

const MOD_GLYPHS: Record<string, string> = {
  alt: '⌥',
  option: '⌥',
  shift: '⇧',
  control: '⌃',
  ctrl: '⌃',
  cmd: '⌘',
  command: '⌘',
  super: '⌘',
  meta: '⌘',
  commandorcontrol: '⌘',
  cmdorctrl: '⌘',
};

const MOD_NAMES: Record<string, string> = {
  alt: 'Option',
  option: 'Option',
  shift: 'Shift',
  control: 'Control',
  ctrl: 'Control',
  cmd: 'Command',
  command: 'Command',
  super: 'Command',
  meta: 'Command',
  commandorcontrol: 'Command',
  cmdorctrl: 'Command',
};

export interface HotkeyPart {
  glyph: string;
  name: string;
}

/** "Alt+Space" → [{glyph:"⌥", name:"Option"}, {glyph:"Space", name:"Space"}]. */
export function hotkeyParts(accel: string): HotkeyPart[] {
  return accel
    .split('+')
    .map((p) => p.trim())
    .filter(Boolean)
    .map((p) => {
      const k = p.toLowerCase();
      if (k in MOD_GLYPHS) return { glyph: MOD_GLYPHS[k], name: MOD_NAMES[k] };
      return { glyph: p, name: p };
    });
}

/** Spoken / plain form: "Alt+Space" → "Option+Space". */
export function hotkeyLabel(accel: string): string {
  return hotkeyParts(accel)
    .map((p) => p.name)
    .join('+');
}

export function qualityLabel(q: string): string {
  switch (q) {
    case 'bf16':
      return 'Full (bf16)';
    case 'q8':
      return 'High (8-bit)';
    case 'q4':
      return 'Compact (4-bit)';
    case 'auto':
      return 'Automatic';
    default:
      return q;
  }
}

/** A frame time as the planner words it: 61.2 → "61 ms", 2300 → "2.3 s". */
export function formatFrameTime(ms: number | null | undefined): string {
  if (ms == null || !Number.isFinite(ms)) return '—';
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}
