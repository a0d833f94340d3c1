import { formatFrameTime } from '../format';
import type { Hardware } from '../types';
import type { SpeedTestQuality, SpeedTestState } from '../bindings';
import { ProgressBar, Spinner } from './common';
import { HardwareCard } from './Plan';

const QUALITY_NAME: Record<string, string> = { bf16: 'Full precision', q8: '8-bit', q4: '4-bit' };

function qualityLine(q: SpeedTestQuality): string {
  if (q.status === 'pending') return 'waiting';
  if (q.status === 'measuring') return 'measuring…';
  if (q.frameMs == null) return 'timed';
  const t = formatFrameTime(q.frameMs);
  if (q.lowerBound) return `at least ${t} per frame — too slow`;
  return `${t} per frame — ${q.realTime ? 'real time' : 'too slow'}`;
}

/** The speed test before the first plan: how long one Moshi frame takes here, per quality. */
export function MeasuringPanel({ test, hw }: { test: SpeedTestState | null; hw: Hardware | null }) {
  const pct = Math.round((test?.fraction ?? 0) * 100);
  return (
    <div class="stack">
      <section class="card measuring" aria-label="Speed test">
        <div class="row lead" role="status">
          <Spinner label="Measuring" />
          <h2 class="h2">Measuring this Mac…</h2>
        </div>
        <p class="small muted">
          Moshi must finish each 80 ms frame in under 64 ms. Moshibar times its real model architecture (random weights, nothing downloaded yet) at each quality,
          once, to choose the one that keeps up.
        </p>
        <ProgressBar value={pct} max={100} label="Speed test progress" />
        {test && test.qualities.length > 0 && (
          <ul class="speed-list" aria-label="Qualities timed">
            {test.qualities.map((q) => (
              <li key={q.quality} class={`speed-q ${q.status}`} data-quality={q.quality} data-status={q.status}>
                <span class={`q-badge ${q.realTime == null ? '' : q.realTime ? 'ok' : 'bad'}`}>{q.quality}</span>
                <span class="small">
                  {QUALITY_NAME[q.quality] ?? q.quality} · {qualityLine(q)}
                </span>
              </li>
            ))}
          </ul>
        )}
        {test?.line && (
          <p class="small muted mono" data-testid="speed-line">
            {test.line}
          </p>
        )}
      </section>
      {hw && <HardwareCard hw={hw} />}
    </div>
  );
}
