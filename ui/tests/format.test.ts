import { describe, expect, it } from 'vitest';
import { formatBytes, formatEta, formatMemory, formatMs, formatPercent, formatRate, hotkeyLabel, hotkeyParts, qualityLabel } from '../src/format';

describe('formatBytes', () => {
  it.each([
    [0, '0 B'],
    [999, '999 B'],
    [1000, '1.00 kB'],
    [1536, '1.54 kB'],
    [12_345_678, '12.3 MB'],
    [384_644_900, '385 MB'],
    [4_805_385_728, '4.81 GB'],
    [120e9, '120 GB'],
    [2.5e12, '2.50 TB'],
  ])('%d → %s', (n, s) => expect(formatBytes(n)).toBe(s));
  it('shows a dash for unknown or invalid sizes', () => {
    expect(formatBytes(null)).toBe('—');
    expect(formatBytes(undefined)).toBe('—');
    expect(formatBytes(NaN)).toBe('—');
    expect(formatBytes(-1)).toBe('—');
  });
});

describe('formatRate', () => {
  it('formats bytes per second', () => {
    expect(formatRate(1.2e7)).toBe('12.0 MB/s');
    expect(formatRate(38.4e6)).toBe('38.4 MB/s');
    expect(formatRate(512)).toBe('512 B/s');
  });
  it('shows 0 B/s when nothing flows', () => {
    expect(formatRate(0)).toBe('0 B/s');
    expect(formatRate(null)).toBe('0 B/s');
    expect(formatRate(Infinity)).toBe('0 B/s');
  });
});

describe('formatEta', () => {
  it.each([
    [0, '0 s'],
    [42, '42 s'],
    [42.4, '42 s'],
    [59.6, '1 min'],
    [60, '1 min'],
    [85, '1 min 25 s'],
    [599, '9 min 59 s'],
    [600, '10 min'],
    [754, '13 min'],
    [3600, '1 h 00 min'],
    [3725, '1 h 02 min'],
    [7199, '2 h 00 min'],
    [86400 * 3, '3 days'],
  ])('%d s → %s', (s, out) => expect(formatEta(s)).toBe(out));
  it('says calculating when unknown', () => {
    expect(formatEta(null)).toBe('calculating…');
    expect(formatEta(-5)).toBe('calculating…');
    expect(formatEta(NaN)).toBe('calculating…');
  });
});

describe('formatPercent', () => {
  it('floors and never shows 100% before done', () => {
    expect(formatPercent(0, 100)).toBe('0%');
    expect(formatPercent(375, 1000)).toBe('37%');
    expect(formatPercent(999_999, 1_000_000)).toBe('99%');
    expect(formatPercent(1000, 1000)).toBe('100%');
    expect(formatPercent(5, 0)).toBe('0%');
  });
});

describe('other formats', () => {
  it('milliseconds', () => {
    expect(formatMs(180)).toBe('180 ms');
    expect(formatMs(46.2)).toBe('46 ms');
    expect(formatMs(1520)).toBe('1.52 s');
    expect(formatMs(null)).toBe('—');
  });
  it('memory in binary units like About This Mac', () => {
    expect(formatMemory(17179869184)).toBe('16 GB');
    expect(formatMemory(11453246122)).toBe('11 GB');
    expect(formatMemory(7.8e9)).toBe('7.3 GB');
    expect(formatMemory(8 * 2 ** 30)).toBe('8 GB');
  });
  it('hotkeys with Mac glyphs and names', () => {
    expect(hotkeyParts('Alt+Space')).toEqual([
      { glyph: '⌥', name: 'Option' },
      { glyph: 'Space', name: 'Space' },
    ]);
    expect(hotkeyLabel('CommandOrControl+Shift+K')).toBe('Command+Shift+K');
    expect(hotkeyLabel('Control+Alt+F5')).toBe('Control+Option+F5');
  });
  it('quality names', () => {
    expect(qualityLabel('q4')).toBe('Compact (4-bit)');
    expect(qualityLabel('auto')).toBe('Automatic');
  });
});
