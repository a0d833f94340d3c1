import { useApp } from '../ctx';
import { formatBytes, formatMemory, qualityLabel } from '../format';
import { useGuardedSave } from './ConfirmRestart';
import type { Hardware, Plan, QualityOverride } from '../types';

export function HardwareCard({ hw }: { hw: Hardware }) {
  const name = hw.chip?.name ?? hw.cpuBrand;
  return (
    <section class="card hw" aria-label="This Mac">
      <div class="hw-title">
        <span class="chip-glyph" aria-hidden="true">
          ▣
        </span>
        <span class="hw-name">{name}</span>
        <span class="muted">{formatMemory(hw.memoryBytes)}</span>
      </div>
      <dl class="facts">
        <div>
          <dt>GPU may use</dt>
          <dd>
            {formatMemory(hw.gpuBudgetBytes)}
            {hw.gpuBudgetSource === 'estimate' ? ' (estimate)' : ''}
          </dd>
        </div>
        <div>
          <dt>Memory bandwidth</dt>
          <dd>{hw.bandwidthGbps != null ? `${Math.round(hw.bandwidthGbps)} GB/s` : 'unknown'}</dd>
        </div>
        <div>
          <dt>System</dt>
          <dd>
            {hw.os} · {hw.arch}
          </dd>
        </div>
      </dl>
      {!hw.appleSilicon && <p class="small warn-text">Moshi runs best on Apple Silicon; this Mac may not keep up in real time.</p>}
    </section>
  );
}

const OPTIONS: QualityOverride[] = ['auto', 'bf16', 'q8', 'q4'];

/** Why an option would be a problem on this Mac, from the plan's alternatives. */
export function optionWarning(plan: Plan, q: QualityOverride): string | null {
  if (q === 'auto') return null;
  if (q === plan.quality) return plan.realTime ? null : 'will not run in real time';
  const alt = plan.alternatives.find((a) => a.quality === q);
  if (!alt) return null;
  if (!alt.fitsMemory) return 'does not fit in memory';
  if (!alt.fitsBandwidth) return 'will not run in real time';
  return null;
}

export function QualityPicker({ plan }: { plan: Plan | null }) {
  const { state } = useApp();
  const settings = state.settings;
  const current: QualityOverride = settings?.qualityOverride ?? 'auto';
  const { save, dialog } = useGuardedSave();
  const choose = async (q: QualityOverride) => {
    if (!settings || q === current) return;
    await save({ ...settings, qualityOverride: q });
  };
  const warn = plan ? optionWarning(plan, current) : null;
  return (
    <fieldset class="quality" disabled={!settings}>
      <legend>Quality</legend>
      <div class="segmented" role="radiogroup" aria-label="Model quality">
        {OPTIONS.map((q) => {
          const w = plan ? optionWarning(plan, q) : null;
          return (
            <label key={q} class={`seg${current === q ? ' on' : ''}${w ? ' risky' : ''}`} title={w ? `${q}: ${w}` : qualityLabel(q)}>
              <input type="radio" name="quality" value={q} checked={current === q} onChange={() => choose(q)} />
              <span>{q === 'auto' ? 'Auto' : q}</span>
              {w && <span class="sr-only"> ({w})</span>}
            </label>
          );
        })}
      </div>
      {warn && (
        <p class="small warn-text" role="status" data-testid="override-warning">
          ⚠ {current} {warn} on this Mac. Expect gaps or choose Auto.
        </p>
      )}
      {dialog}
    </fieldset>
  );
}

export function PlanCard({ plan, compact, installed }: { plan: Plan; compact?: boolean; installed?: boolean }) {
  const body = (
    <>
      <p class="reason" data-testid="plan-reason">
        {plan.reason}
      </p>
      {plan.warning && <p class="small warn-text">⚠ {plan.warning}</p>}
      {plan.alternatives.length > 0 && (
        <ul class="alts" aria-label="Other qualities">
          {plan.alternatives.map((a) => (
            <li key={a.quality}>
              <span class={`q-badge ${a.fitsMemory && a.fitsBandwidth ? 'ok' : 'bad'}`}>{a.quality}</span>
              <span class="small">
                {a.fitsMemory ? (a.fitsBandwidth ? 'fits · real time' : 'fits · too slow') : 'too big'} — {a.reason}
              </span>
            </li>
          ))}
        </ul>
      )}
      <QualityPicker plan={plan} />
    </>
  );
  const summary = (
    <div class="plan-head">
      <span class={`q-badge big ${plan.realTime ? 'ok' : 'bad'}`}>{plan.quality}</span>
      <span class="plan-title">
        <strong>{qualityLabel(plan.quality)}</strong>
        {plan.overridden && <span class="tag">your choice</span>}
        <span class="small muted">
          {installed || plan.source === 'cache'
            ? 'on this Mac'
            : plan.source === 'quantizeFromBf16'
              ? `made from bf16 · ${formatBytes(plan.downloadBytes)}`
              : `${formatBytes(plan.downloadBytes)} download`}{' '}
          · needs {formatMemory(plan.memoryBytes)}
        </span>
      </span>
    </div>
  );
  if (compact) {
    return (
      <details class="card plan compact">
        <summary>
          {summary}
          <span class="why small">Why?</span>
        </summary>
        {body}
      </details>
    );
  }
  return (
    <section class="card plan" aria-label="Model plan">
      {summary}
      {body}
    </section>
  );
}
