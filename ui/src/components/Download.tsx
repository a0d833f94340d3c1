import { useApp } from '../ctx';
import { formatBytes, formatEta, formatPercent, formatRate } from '../format';
import { api } from '../ipc';
import type { Progress } from '../types';
import { ChunkMap } from './ChunkMap';
import { Callout, ProgressBar, Spinner } from './common';

const TITLES: Record<string, string> = {
  resolving: 'Finding the files…',
  downloading: 'Downloading Moshi',
  verifying: 'Verifying',
  repairing: 'Repairing damaged chunks',
  paused: 'Download paused',
  done: 'Download complete',
  failed: 'Download stopped',
  cancelled: 'Download cancelled',
};

export function DownloadPanel({ progress, diskFreeBytes }: { progress: Progress | null; diskFreeBytes: number | null }) {
  const { state, dispatch, run } = useApp();
  if (!progress) {
    return (
      <section class="card dl" aria-label="Download">
        <div class="row">
          <Spinner label="Starting download" />
          <span>Starting the download…</span>
        </div>
      </section>
    );
  }
  const p = progress;
  const paused = p.phase === 'paused';
  const failed = p.phase === 'failed';
  const remaining = Math.max(0, p.bytesTotal - p.bytesDone);
  const lowDisk = diskFreeBytes != null && diskFreeBytes < remaining;
  const indeterminate = p.phase === 'resolving' || p.bytesTotal <= 0;
  return (
    <section class="card dl" aria-label="Download" data-phase={p.phase}>
      <div class="dl-head">
        <h2 class="h2">{TITLES[p.phase] ?? p.phase}</h2>
        <span class="pct" aria-hidden="true">
          {formatPercent(p.bytesDone, p.bytesTotal)}
        </span>
        {failed ? (
          <button class="btn primary" onClick={() => run('retry the download', api.retryDownload)}>
            Retry download
          </button>
        ) : paused ? (
          <button class="btn primary" onClick={() => run('resume the download', api.resumeDownload)}>
            Resume
          </button>
        ) : (
          <button class="btn" onClick={() => run('pause the download', api.pauseDownload)} disabled={p.phase === 'done'}>
            Pause
          </button>
        )}
      </div>
      <ProgressBar value={p.bytesDone} max={p.bytesTotal} label="Download progress" indeterminate={indeterminate} />
      <p class="dl-line" data-testid="dl-line">
        <span>
          {formatBytes(p.bytesDone)} of {formatBytes(p.bytesTotal)}
        </span>
        {!paused && !failed && (
          <>
            <span aria-hidden="true"> · </span>
            <span data-testid="rate">{formatRate(p.rateBps)}</span>
            <span aria-hidden="true"> · </span>
            <span data-testid="eta">{p.etaSecs == null ? 'calculating…' : `${formatEta(p.etaSecs)} left`}</span>
          </>
        )}
      </p>
      <div class="chips" aria-label="Connection details">
        {!paused && !failed && <span class="chip">{p.connections} connections</span>}
        <span class={`chip${p.retries > 0 ? ' warn' : ''}`} data-testid="retries">
          {p.retries} {p.retries === 1 ? 'retry' : 'retries'}
        </span>
        {p.stalled && (
          <span class="chip bad" role="status" data-testid="stalled">
            Stalled — waiting for the server
          </span>
        )}
        {diskFreeBytes != null && (
          <span class={`chip${lowDisk ? ' bad' : ''}`} data-testid="disk">
            {formatBytes(diskFreeBytes)} free on disk
          </span>
        )}
      </div>
      {lowDisk && (
        <Callout kind="error" title="Not enough disk space">
          {formatBytes(remaining - (diskFreeBytes ?? 0))} more is needed. Free up space or choose another cache location in Settings.
        </Callout>
      )}
      {p.error && <DownloadError progress={p} />}
      <div class="files">
        {p.files.map((f) => (
          <ChunkMap key={f.path} file={f} current={f.path === p.file} />
        ))}
      </div>
      {lowDisk && (
        <div class="actions">
          <button class="btn" onClick={() => dispatch({ type: 'view', view: 'settings' })}>
            Open Settings
          </button>
        </div>
      )}
      {state.app?.modelDir && (
        <p class="small muted path" title={state.app.modelDir}>
          <bdi>{state.app.modelDir}</bdi>
        </p>
      )}
    </section>
  );
}

function DownloadError({ progress }: { progress: Progress }) {
  const { dispatch, run } = useApp();
  const e = progress.error!;
  const modelUrl = `https://huggingface.co/${progress.repo}`;
  return (
    <Callout kind="error" title={errorTitle(e.kind)}>
      <p>{e.message}</p>
      <div class="actions">
        {e.kind === 'gated' && (
          <button class="btn" onClick={() => run('open the model page', () => api.openUrl(modelUrl))}>
            Accept terms on Hugging Face
          </button>
        )}
        {(e.kind === 'gated' || e.kind === 'unauthorized') && (
          <button class="btn" onClick={() => dispatch({ type: 'view', view: 'settings' })}>
            Add access token
          </button>
        )}
        {e.kind === 'diskFull' && (
          <button class="btn" onClick={() => dispatch({ type: 'view', view: 'settings' })}>
            Change cache location
          </button>
        )}
      </div>
    </Callout>
  );
}

function errorTitle(kind: string): string {
  switch (kind) {
    case 'gated':
      return 'This model needs your approval';
    case 'unauthorized':
      return 'Hugging Face refused the token';
    case 'notFound':
      return 'Model not found';
    case 'diskFull':
      return 'The disk is full';
    case 'network':
      return 'Network problem';
    case 'corrupt':
      return 'A file was damaged';
    case 'offline':
      return 'You are offline';
    default:
      return 'Download problem';
  }
}

export function VerifyPanel({ progress }: { progress: Progress | null }) {
  const total = progress?.totalChunks ?? 0;
  const done = progress?.verifiedChunks ?? 0;
  return (
    <section class="card dl" aria-label="Verifying">
      <div class="dl-head">
        <h2 class="h2">{progress?.phase === 'repairing' ? 'Repairing damaged chunks' : 'Verifying the download'}</h2>
        <span class="pct" aria-hidden="true">
          {formatPercent(done, total)}
        </span>
      </div>
      <ProgressBar value={done} max={total} label="Verification progress" indeterminate={total === 0} />
      <p class="dl-line" data-testid="verify-line">
        {total > 0 ? `${done} of ${total} chunks checked (SHA-256)` : 'Checking every chunk against its SHA-256…'}
      </p>
      {progress && (
        <div class="files">
          {progress.files.map((f) => (
            <ChunkMap key={f.path} file={f} current={f.path === progress.file} />
          ))}
        </div>
      )}
    </section>
  );
}
