import { useEffect, useMemo, useReducer } from 'preact/hooks';
import { Callout, GearIcon, Spinner } from './components/common';
import { DownloadPanel, VerifyPanel } from './components/Download';
import { ErrorBanner } from './components/ErrorBanner';
import { actionButton, checkedAction, ErrorView } from './components/ErrorView';
import { MeasuringPanel } from './components/Measuring';
import { HardwareCard, PlanCard } from './components/Plan';
import { ReadyPanel, SessionPanel } from './components/Session';
import { SettingsView } from './components/SettingsView';
import { AppCtx, type Ctx } from './ctx';
import { formatMemory } from './format';
import { api, commandError, errorText, inTauri, subscribe } from './ipc';
import { bannerError, initialState, reduce, screenOf, type Screen } from './store';

const STAGE_LABEL: Record<Screen, string> = {
  'boot-error': 'Unavailable',
  connecting: 'Starting',
  detecting: 'Checking this Mac',
  measuring: 'Measuring',
  planning: 'Choosing a model',
  downloading: 'Downloading',
  verifying: 'Verifying',
  loading: 'Loading',
  ready: 'Ready',
  session: 'Live',
  error: 'Needs attention',
  settings: 'Settings',
};

export function App() {
  const [state, dispatch] = useReducer(reduce, initialState);
  const ctx = useMemo<Ctx>(
    () => ({
      state,
      dispatch,
      run: async (what, p) => {
        try {
          const r = await p();
          return r;
        } catch (e) {
          const err = commandError(e);
          dispatch({ type: 'notice', notice: { kind: 'error', text: `Couldn't ${what}: ${err.message}`, action: checkedAction(err.action) } });
          return undefined;
        }
      },
    }),
    [state],
  );

  useEffect(() => {
    if (!inTauri()) {
      dispatch({ type: 'boot-error', message: 'This page is Moshibar’s popover and only works inside the app. For design work run “npm run dev” and open /?mock.' });
      return;
    }
    let off: (() => void) | undefined;
    let cancelled = false;
    (async () => {
      try {
        // Events that arrive while the initial get_* calls are in flight are newer than their answers.
        let sawState = false;
        let sawProgress = false;
        off = await subscribe({
          appState: (s) => {
            sawState = true;
            dispatch({ type: 'app-state', state: s });
          },
          progress: (p) => {
            sawProgress = true;
            dispatch({ type: 'download-progress', progress: p });
          },
          transcript: (t) => dispatch({ type: 'transcript', piece: t }),
          metrics: (m) => dispatch({ type: 'session-metrics', metrics: m }),
        });
        const [app, progress, settings] = await Promise.all([api.getState(), api.getProgress(), api.getSettings()]);
        if (cancelled) return;
        dispatch({ type: 'settings', settings });
        if (progress && !sawProgress) dispatch({ type: 'download-progress', progress });
        if (!sawState) dispatch({ type: 'app-state', state: app });
      } catch (e) {
        dispatch({ type: 'boot-error', message: `Moshibar’s window could not reach the app: ${errorText(e)}. Quit and open Moshibar again.` });
      } finally {
        // Lets tests (and the app's own checks) know that listeners are attached.
        document.documentElement.dataset.ready = 'true';
      }
    })();
    return () => {
      cancelled = true;
      off?.();
    };
  }, []);

  const screen = screenOf(state);
  useEffect(() => {
    document.documentElement.dataset.screen = screen;
  }, [screen]);

  const app = state.app;
  const banner = bannerError(state);
  const noticeButton = state.notice?.action ? actionButton(state.notice.action, ctx) : null;
  // The pill always tells the app's stage, also while Settings are open.
  const stageScreen = screen === 'settings' ? screenOf({ ...state, view: 'main' }) : screen;
  return (
    <AppCtx.Provider value={ctx}>
      <div class="popover">
        <header class="top">
          <span class="logo" aria-hidden="true" />
          <h1 class="title">Moshibar</h1>
          <span class={`stage s-${stageScreen}`} data-testid="stage">
            {STAGE_LABEL[stageScreen]}
          </span>
          {screen !== 'settings' && screen !== 'boot-error' && (
            <button class="btn icon" aria-label="Settings" title="Settings" onClick={() => dispatch({ type: 'view', view: 'settings' })}>
              <GearIcon />
            </button>
          )}
        </header>
        <main class="content" id="main">
          {state.notice && (
            <div class={`notice ${state.notice.kind}`} role="alert">
              <span>{state.notice.text}</span>
              {noticeButton && (
                <button class="btn small-btn" onClick={noticeButton.onClick}>
                  {noticeButton.label}
                </button>
              )}
              <button class="btn icon small" aria-label="Dismiss" onClick={() => dispatch({ type: 'notice', notice: null })}>
                ×
              </button>
            </div>
          )}
          {banner && screen !== 'settings' && <ErrorBanner error={banner} />}
          {body(screen)}
        </main>
        {screen !== 'settings' && (
          <footer class="bottom">
            <span class="small muted">{app?.plan ? `${app.plan.repo}` : 'Kyutai Moshi, on this Mac'}</span>
            <button class="btn link" onClick={() => ctx.run('quit', api.quitApp)}>
              Quit
            </button>
          </footer>
        )}
      </div>
    </AppCtx.Provider>
  );

  function body(screen: Screen) {
    switch (screen) {
      case 'boot-error':
        return (
          <Callout kind="error" title="Not connected">
            {state.bootError}
          </Callout>
        );
      case 'connecting':
        return (
          <div class="center">
            <Spinner label="Starting" />
          </div>
        );
      case 'settings':
        return <SettingsView />;
      case 'measuring':
        return <MeasuringPanel test={app?.speedTest ?? null} hw={app?.hardware ?? null} />;
      case 'detecting':
      case 'planning':
        return (
          <div class="stack">
            <div class="row lead" role="status">
              <Spinner label={STAGE_LABEL[screen]} />
              <span>{screen === 'detecting' ? 'Checking this Mac’s chip, memory and bandwidth…' : 'Choosing the best model for this Mac…'}</span>
            </div>
            {app?.hardware && <HardwareCard hw={app.hardware} />}
            {app?.plan ? (
              <PlanCard plan={app.plan} />
            ) : (
              <section class="card intro" aria-label="About Moshibar">
                <p>
                  <strong>Moshi</strong> is Kyutai’s speech-to-speech model: you talk, it answers, both at once.
                </p>
                <p class="small muted">
                  Moshibar picks the model quality that fits this Mac’s memory and bandwidth, downloads it once (a few GB, verified chunk by chunk,
                  resumable), and then runs it entirely on this Mac.
                </p>
              </section>
            )}
          </div>
        );
      case 'downloading':
        return (
          <div class="stack">
            {app?.plan && <PlanCard plan={app.plan} compact />}
            <DownloadPanel progress={state.progress} diskFreeBytes={app?.diskFreeBytes ?? null} />
          </div>
        );
      case 'verifying':
        return (
          <div class="stack">
            <VerifyPanel progress={state.progress} />
          </div>
        );
      case 'loading':
        return (
          <div class="stack">
            <section class="card center-card" aria-label="Loading">
              <Spinner label="Loading the model" />
              <h2 class="h2">Loading Moshi into memory…</h2>
              <p class="small muted">
                {app?.plan ? `${app.plan.quality} · ${formatMemory(app.plan.memoryBytes)}. ` : ''}This takes a few seconds.
              </p>
            </section>
            {app?.hardware && <HardwareCard hw={app.hardware} />}
          </div>
        );
      case 'ready':
        return (
          <div class="stack">
            <ReadyPanel />
            {app?.plan && <PlanCard plan={app.plan} compact installed />}
          </div>
        );
      case 'session':
        return <SessionPanel />;
      case 'error':
        return app?.error ? (
          <ErrorView error={app.error} />
        ) : (
          <ErrorView error={{ title: 'Something went wrong', message: 'Moshibar stopped unexpectedly. Try again, or quit and reopen it.', action: { kind: 'retry' } }} />
        );
    }
  }
}
