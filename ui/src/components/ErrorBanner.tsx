import { useApp } from '../ctx';
import { api } from '../ipc';
import { errorKey } from '../restart';
import type { AppError } from '../types';
import { parseAction } from './ErrorView';

/** An app error shown above whatever the popover shows (Ready, a session, a download…),
 * with the action that fixes it. Closing it hides this error until a different one comes. */
export function ErrorBanner({ error }: { error: AppError }) {
  const { dispatch, run } = useApp();
  const action = parseAction(error.action);
  return (
    <div class="banner" role="alert" aria-labelledby="banner-title" data-testid="error-banner">
      <div class="banner-text">
        <strong id="banner-title">{error.title}</strong>
        <span>{error.message}</span>
        <div class="banner-actions">
          {action?.kind === 'retry' && (
            <button class="btn small-btn" onClick={() => run('retry', api.retryDownload)}>
              Try again
            </button>
          )}
          {action?.kind === 'openSettings' && (
            <button class="btn small-btn" onClick={() => dispatch({ type: 'view', view: 'settings' })}>
              Open Settings
            </button>
          )}
          {action?.kind === 'startSession' && (
            <button class="btn small-btn" onClick={() => run('start the conversation', api.startSession)}>
              Start again
            </button>
          )}
          {action?.kind === 'openMicrophoneSettings' && (
            <button class="btn small-btn" onClick={() => run('open System Settings', api.openMicrophoneSettings)}>
              Open Privacy Settings
            </button>
          )}
          {action?.kind === 'openUrl' && (
            <button class="btn small-btn" onClick={() => run('open the page', () => api.openUrl(action.url))}>
              Open {new URL(action.url).host}
            </button>
          )}
        </div>
      </div>
      <button
        class="btn icon small"
        aria-label="Dismiss"
        onClick={() => {
          dispatch({ type: 'dismiss-error', key: errorKey(error) });
          // The core forgets it too (the tray icon leaves its error state).
          void run('dismiss the message', api.dismissError);
        }}
      >
        ×
      </button>
    </div>
  );
}
