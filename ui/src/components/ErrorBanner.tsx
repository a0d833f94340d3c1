import { useApp } from '../ctx';
import { api } from '../ipc';
import { errorKey } from '../restart';
import type { AppError } from '../types';
import { actionButton, checkedAction } from './ErrorView';

/** An app error shown above whatever the popover shows (Ready, a session, a download…),
 * with the action that fixes it. Closing it hides this error until a different one comes. */
export function ErrorBanner({ error }: { error: AppError }) {
  const app = useApp();
  const { dispatch, run } = app;
  const action = checkedAction(error.action);
  const button = action ? actionButton(action, app) : null;
  return (
    <div class="banner" role="alert" aria-labelledby="banner-title" data-testid="error-banner">
      <div class="banner-text">
        <strong id="banner-title">{error.title}</strong>
        <span>{error.message}</span>
        <div class="banner-actions">
          {button && (
            <button class="btn small-btn" onClick={button.onClick}>
              {button.label}
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
