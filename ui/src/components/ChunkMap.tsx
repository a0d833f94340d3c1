import { chunkCells, chunkSummaryText } from '../chunkmap';
import { formatBytes } from '../format';
import type { FileProgress } from '../types';

export function ChunkMap({ file, current }: { file: FileProgress; current: boolean }) {
  const { cells, perCell, summary } = chunkCells(file.chunkMap, 160);
  const text = chunkSummaryText(summary);
  return (
    <div class={`chunkfile${current ? ' current' : ''}`} data-file={file.path}>
      <div class="chunkfile-head">
        <span class="chunkfile-name" title={file.path}>
          {file.path}
        </span>
        <span class="chunkfile-size">
          {file.bytesDone >= file.size ? formatBytes(file.size) : `${formatBytes(file.bytesDone)} / ${formatBytes(file.size)}`}
        </span>
      </div>
      {cells.length > 0 && (
        <div class="chunkmap" role="img" aria-label={`${file.path}: ${text}`} data-per-cell={perCell}>
          {cells.map((c, i) => (
            <i key={i} class={`c ${c}`} />
          ))}
        </div>
      )}
      <div class="chunkfile-sum">{text}</div>
    </div>
  );
}
