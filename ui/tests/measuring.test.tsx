// @vitest-environment happy-dom
import { render, type ComponentChild } from 'preact';
import { afterEach, describe, expect, it } from 'vitest';
import { MeasuringPanel } from '../src/components/Measuring';
import { formatFrameTime } from '../src/format';
import * as fx from '../src/mock/fixtures';
import { initialState, reduce, screenOf } from '../src/store';

let root: HTMLElement | null = null;
function mount(node: ComponentChild) {
  root = document.createElement('div');
  document.body.appendChild(root);
  render(node, root);
  return root;
}
afterEach(() => {
  if (root) {
    render(null, root);
    root.remove();
    root = null;
  }
});

describe('the speed test before the first plan', () => {
  it('the measuring stage is its own screen', () => {
    const s = reduce(initialState, { type: 'app-state', state: fx.appState({ stage: 'measuring', speedTest: fx.speedTestRunning() }) });
    expect(screenOf(s)).toBe('measuring');
  });
  it('shows progress and each quality: done, measuring, waiting', () => {
    const el = mount(<MeasuringPanel test={fx.speedTestRunning(0.55)} hw={fx.hardware} />);
    expect(el.querySelector('h2')?.textContent).toBe('Measuring this Mac…');
    expect(el.querySelector('[role=progressbar]')?.getAttribute('aria-valuenow')).toBe('55');
    const status = (q: string) => el.querySelector(`[data-quality="${q}"]`)?.getAttribute('data-status');
    expect([status('bf16'), status('q8'), status('q4')]).toEqual(['done', 'measuring', 'pending']);
    expect(el.querySelector('[data-quality="q4"]')?.textContent).toContain('waiting');
    expect(el.querySelector('[data-testid="speed-line"]')?.textContent).toBe('q8: 2 layers: 21.4 ms per step');
  });
  it('a finished quality shows its frame time, and a lower bound says "at least"', () => {
    const el = mount(<MeasuringPanel test={fx.speedTestDone} hw={null} />);
    expect(el.querySelector('[data-quality="q4"]')?.textContent).toContain('61 ms per frame — real time');
    expect(el.querySelector('[data-quality="q8"]')?.textContent).toContain('88 ms per frame — too slow');
    expect(el.querySelector('[data-quality="bf16"]')?.textContent).toContain('at least 142 ms per frame — too slow');
  });
  it('frame times read like the planner’s', () => {
    expect(formatFrameTime(61.2)).toBe('61 ms');
    expect(formatFrameTime(2300)).toBe('2.3 s');
    expect(formatFrameTime(117_000)).toBe('117.0 s');
    expect(formatFrameTime(null)).toBe('—');
  });
});
