// The verified-chunk map: one character a chunk — `.` pending, `>` in flight, `#` verified,
// `!` failed (will be fetched again). Long maps are folded into at most `maxCells` cells; a cell
// shows the "most interesting" state of the chunks it covers (failed > in flight > pending > verified).

export type CellState = 'pending' | 'inflight' | 'verified' | 'failed';

export interface ChunkSummary {
  total: number;
  verified: number;
  inflight: number;
  failed: number;
  pending: number;
}

export interface ChunkCells {
  cells: CellState[];
  /** chunks each cell stands for (1 when not folded). */
  perCell: number;
  summary: ChunkSummary;
}

const CHAR_STATE: Record<string, CellState> = {
  '.': 'pending',
  '>': 'inflight',
  '#': 'verified',
  '!': 'failed',
};

const RANK: Record<CellState, number> = { verified: 0, pending: 1, inflight: 2, failed: 3 };

export function summarize(map: string): ChunkSummary {
  const s: ChunkSummary = { total: 0, verified: 0, inflight: 0, failed: 0, pending: 0 };
  for (const ch of map) {
    const st = CHAR_STATE[ch] ?? 'pending';
    s.total++;
    s[st]++;
  }
  return s;
}

export function chunkCells(map: string, maxCells = 192): ChunkCells {
  const states: CellState[] = Array.from(map, (ch) => CHAR_STATE[ch] ?? 'pending');
  const summary = summarize(map);
  if (states.length <= maxCells) return { cells: states, perCell: 1, summary };
  const perCell = Math.ceil(states.length / maxCells);
  const cells: CellState[] = [];
  for (let i = 0; i < states.length; i += perCell) {
    let best: CellState | null = null;
    let allVerified = true;
    for (let j = i; j < Math.min(i + perCell, states.length); j++) {
      const st = states[j];
      if (st !== 'verified') allVerified = false;
      if (best === null || RANK[st] > RANK[best]) best = st;
    }
    cells.push(allVerified ? 'verified' : (best ?? 'pending'));
  }
  return { cells, perCell, summary };
}

export function chunkSummaryText(s: ChunkSummary): string {
  const parts = [`${s.verified} of ${s.total} chunks verified`];
  if (s.inflight) parts.push(`${s.inflight} downloading`);
  if (s.failed) parts.push(`${s.failed} failed, will retry`);
  return parts.join(', ');
}
