import { useApp } from '../ctx';
import { api } from '../ipc';
import type { AppError } from '../types';

export type ErrorAction =
  | { kind: 'retry' }
  | { kind: 'openSettings' }
  | { kind: 'openMicrophoneSettings' }
  | { kind: 'startSession' }
  | { kind: 'openUrl'; url: string };

/** Parses AppError.action: "retry" | "openSettings" | "openMicrophoneSettings" | "startSession" | "openUrl:https://…". */
export function parseAction(action: string | null): ErrorAction | null {
  if (!action) return null;
  if (action === 'retry') return { kind: 'retry' };
  if (action === 'openSettings') return { kind: 'openSettings' };
  if (action === 'openMicrophoneSettings') return { kind: 'openMicrophoneSettings' };
  if (action === 'startSession') return { kind: 'startSession' };
  if (action.startsWith('openUrl:')) {
    const url = action.slice('openUrl:'.length);
    if (/^https:\/\//.test(url)) return { kind: 'openUrl', url };
  }
  return null;
}

export function ErrorView({ error }: { error: AppError }) {
  const { dispatch, run } = useApp();
  const action = parseAction(error.action);
  return (
    <section class="card error-view" role="alert" aria-labelledby="err-title">
      <div class="err-icon" aria-hidden="true">
        !
      </div>
      <h2 class="h1" id="err-title">
        {error.title}
      </h2>
      <p class="err-msg">{error.message}</p>
      <div class="actions col">
        {action?.kind === 'retry' && (
          <button class="btn primary wide" onClick={() => run('retry', api.retryDownload)}>
            Try again
          </button>
        )}
        {action?.kind === 'openMicrophoneSettings' && (
          <button class="btn primary wide" onClick={() => run('open System Settings', api.openMicrophoneSettings)}>
            Open Privacy Settings
          </button>
        )}
        {action?.kind === 'openUrl' && (
          <>
            <button class="btn primary wide" onClick={() => run('open the page', () => api.openUrl(action.url))}>
              Open {new URL(action.url).host}
            </button>
            <p class="small muted url">{action.url}</p>
            <button class="btn wide" onClick={() => run('retry', api.retryDownload)}>
              Try again
            </button>
          </>
        )}
        <button class={`btn wide${action?.kind === 'openSettings' ? ' primary' : ''}`} onClick={() => dispatch({ type: 'view', view: 'settings' })}>
          Open Settings
        </button>
      </div>
    </section>
  );
}
