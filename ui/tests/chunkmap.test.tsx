// @vitest-environment happy-dom
import { render } from 'preact';
import { afterEach, describe, expect, it } from 'vitest';
import { chunkCells, chunkSummaryText, summarize } from '../src/chunkmap';
import { ChunkMap } from '../src/components/ChunkMap';

describe('chunk map model', () => {
  it('maps each character to a cell state', () => {
    const r = chunkCells('##>>..!.');
    expect(r.perCell).toBe(1);
    expect(r.cells).toEqual(['verified', 'verified', 'inflight', 'inflight', 'pending', 'pending', 'failed', 'pending']);
    expect(r.summary).toEqual({ total: 8, verified: 2, inflight: 2, failed: 1, pending: 3 });
  });
  it('treats unknown characters as pending', () => {
    expect(summarize('#?x')).toEqual({ total: 3, verified: 1, inflight: 0, failed: 0, pending: 2 });
  });
  it('folds long maps into at most maxCells, keeping failures and in-flight chunks visible', () => {
    const map = '#'.repeat(300) + '!' + '#'.repeat(99) + '>' + '.'.repeat(199);
    const r = chunkCells(map, 100);
    expect(r.cells.length).toBeLessThanOrEqual(100);
    expect(r.perCell).toBe(6);
    expect(r.cells[50]).toBe('failed'); // chunk 300 lies in cell 50
    expect(r.cells.filter((c) => c === 'failed')).toHaveLength(1);
    expect(r.cells).toContain('inflight');
    expect(r.cells[0]).toBe('verified');
    expect(r.cells.at(-1)).toBe('pending');
    expect(r.summary.total).toBe(600);
  });
  it('a cell is verified only when all its chunks are', () => {
    const r = chunkCells('###.' + '####', 2);
    expect(r.cells).toEqual(['pending', 'verified']);
  });
  it('handles an empty map', () => {
    expect(chunkCells('')).toEqual({ cells: [], perCell: 1, summary: { total: 0, verified: 0, inflight: 0, failed: 0, pending: 0 } });
  });
  it('describes the map in words', () => {
    expect(chunkSummaryText(summarize('##>.'))).toBe('2 of 4 chunks verified, 1 downloading');
    expect(chunkSummaryText(summarize('#!!'))).toBe('1 of 3 chunks verified, 2 failed, will retry');
  });
});

describe('<ChunkMap>', () => {
  const root = document.createElement('div');
  document.body.append(root);
  afterEach(() => render(null, root));

  it('renders one cell per chunk with its state and an accessible summary', () => {
    render(
      <ChunkMap file={{ path: 'model.q4.safetensors', size: 4e9, bytesDone: 1e9, phase: 'downloading', chunkMap: '##>!..', sha256: null }} current />,
      root,
    );
    const cells = [...root.querySelectorAll('.chunkmap .c')].map((c) => c.className.replace('c ', ''));
    expect(cells).toEqual(['verified', 'verified', 'inflight', 'failed', 'pending', 'pending']);
    const img = root.querySelector('[role=img]')!;
    expect(img.getAttribute('aria-label')).toBe('model.q4.safetensors: 2 of 6 chunks verified, 1 downloading, 1 failed, will retry');
    expect(root.querySelector('.chunkfile')!.classList.contains('current')).toBe(true);
    expect(root.querySelector('.chunkfile-size')!.textContent).toBe('1.00 GB / 4.00 GB');
  });

  it('folds a 1000-chunk map and shows the finished size when done', () => {
    render(<ChunkMap file={{ path: 'big', size: 3.2e10, bytesDone: 3.2e10, phase: 'done', chunkMap: '#'.repeat(1000), sha256: 'ab' }} current={false} />, root);
    expect(root.querySelectorAll('.chunkmap .c').length).toBeLessThanOrEqual(160);
    expect(root.querySelectorAll('.chunkmap .c.verified').length).toBe(root.querySelectorAll('.chunkmap .c').length);
    expect(root.querySelector('.chunkfile-size')!.textContent).toBe('32.0 GB');
    expect(root.querySelector('.chunkfile-sum')!.textContent).toBe('1000 of 1000 chunks verified');
  });
});
