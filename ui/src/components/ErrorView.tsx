import type { Ctx } from '../ctx';
import { useApp } from '../ctx';
import { api } from '../ipc';
import type { AppError, ErrorAction } from '../types';

const KINDS: ReadonlySet<string> = new Set(['retry', 'openSettings', 'openMicrophoneSettings', 'startSession', 'openUrl']);

/** AppError.action (generated `ErrorAction`) when the UI can offer it: a known kind, and
 * `openUrl` only to an `https://` page. Anything else offers no button. */
export function checkedAction(action: ErrorAction | null | undefined): ErrorAction | null {
  if (!action || !KINDS.has(action.kind)) return null;
  if (action.kind === 'openUrl' && !/^https:\/\//.test(action.url)) return null;
  return action;
}

/** The button an error's action offers (its label and what it runs); ErrorView and ErrorBanner
 * both show it, each in its own style. */
export function actionButton(action: ErrorAction, { dispatch, run }: Pick<Ctx, 'dispatch' | 'run'>): { label: string; onClick: () => void } {
  switch (action.kind) {
    case 'retry':
      return { label: 'Try again', onClick: () => void run('retry', api.retryDownload) };
    case 'openSettings':
      return { label: 'Open Settings', onClick: () => dispatch({ type: 'view', view: 'settings' }) };
    case 'startSession':
      return { label: 'Start again', onClick: () => void run('start the conversation', api.startSession) };
    case 'openMicrophoneSettings':
      return { label: 'Open Privacy Settings', onClick: () => void run('open System Settings', api.openMicrophoneSettings) };
    case 'openUrl':
      return { label: `Open ${new URL(action.url).host}`, onClick: () => void run('open the page', () => api.openUrl(action.url)) };
  }
}

export function ErrorView({ error }: { error: AppError }) {
  const app = useApp();
  const action = checkedAction(error.action);
  // Open Settings is always offered below (primary when it is the action); Start again is the banner's.
  const main = action && action.kind !== 'openSettings' && action.kind !== 'startSession' ? actionButton(action, app) : null;
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
        {main && (
          <button class="btn primary wide" onClick={main.onClick}>
            {main.label}
          </button>
        )}
        {action?.kind === 'openUrl' && (
          <>
            <p class="small muted url">{action.url}</p>
            <button class="btn wide" onClick={actionButton({ kind: 'retry' }, app).onClick}>
              Try again
            </button>
          </>
        )}
        <button class={`btn wide${action?.kind === 'openSettings' ? ' primary' : ''}`} onClick={() => app.dispatch({ type: 'view', view: 'settings' })}>
          Open Settings
        </button>
      </div>
    </section>
  );
}
