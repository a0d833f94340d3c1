import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import { useApp } from '../ctx';
import { formatBytes } from '../format';
import { api } from '../ipc';
import { restartImpact, type RestartImpact } from '../restart';
import type { Settings } from '../types';

interface Pending {
  next: Settings;
  /** A download stops and leaves a partial (offer to delete it). */
  impact: RestartImpact | null;
  /** The core's own question (app-core `Core::restart_question`), e.g. unloading the model in Ready. */
  question: string | null;
  resolve: (s: Settings | undefined) => void;
}

/**
 * Saves settings, but first asks when the change restarts the model download (another quality
 * or voice while downloading or paused), offering to delete the partial files it leaves, or
 * when the core says it would stop something (`restart_question`: e.g. unload the model in Ready).
 * Returns `save` and the dialog to render (null when nothing is asked).
 */
export function useGuardedSave() {
  const { state, dispatch, run } = useApp();
  const [pending, setPending] = useState<Pending | null>(null);

  const doSave = async (next: Settings, deleteRepo: string | null) => {
    const saved = await run('save settings', () => api.saveSettings(next));
    if (saved) {
      dispatch({ type: 'settings', settings: saved });
      if (deleteRepo) {
        const freed = await run('delete the partial download', () => api.deleteModel(deleteRepo));
        if (freed !== undefined) dispatch({ type: 'notice', notice: { kind: 'info', text: `Deleted the partial download of ${deleteRepo} (${formatBytes(freed)} freed).` } });
      }
    }
    return saved;
  };

  const save = async (next: Settings): Promise<Settings | undefined> => {
    const before = state.settings;
    const impact = before ? restartImpact(state.app, state.progress, before, next) : null;
    // The core knows what a change stops; if it cannot be asked, the UI's own check still holds.
    const question = await api.restartQuestion(next).catch(() => null);
    if (!impact && !question) return doSave(next, null);
    return new Promise((resolve) => setPending({ next, impact, question, resolve }));
  };

  const finish = async (choice: 'keep' | 'delete' | 'cancel') => {
    const p = pending;
    if (!p) return;
    setPending(null);
    if (choice === 'cancel') return p.resolve(undefined);
    p.resolve(await doSave(p.next, choice === 'delete' && p.impact ? p.impact.repo : null));
  };

  const dialog = pending ? (
    pending.impact ? (
      <ConfirmRestart impact={pending.impact} onChoose={finish} />
    ) : (
      <ConfirmReplan question={pending.question ?? ''} onChoose={finish} />
    )
  ) : null;
  return { save, dialog };
}

/** The frame both questions share: a title, the text, and the choices (the last one focused). */
function ConfirmCard({ testid, title, children, choices }: { testid: string; title: string; children: ComponentChildren; choices: ComponentChildren }) {
  return (
    <section class="card confirm" role="alertdialog" aria-labelledby="confirm-title" aria-describedby="confirm-text" data-testid={testid}>
      <h2 class="h2" id="confirm-title">
        {title}
      </h2>
      <p class="small" id="confirm-text">
        {children}
      </p>
      <div class="actions col">{choices}</div>
    </section>
  );
}

/** The core's question when no download stops (e.g. the model is unloaded to plan again). */
function ConfirmReplan({ question, onChoose }: { question: string; onChoose: (c: 'keep' | 'cancel') => void }) {
  return (
    <ConfirmCard
      testid="confirm-replan"
      title="Change the model?"
      choices={
        <>
          <button class="btn primary wide" onClick={() => onChoose('keep')}>
            Change and plan again
          </button>
          <button class="btn wide" onClick={() => onChoose('cancel')} autoFocus>
            Cancel
          </button>
        </>
      }
    >
      {question}
    </ConfirmCard>
  );
}

function ConfirmRestart({ impact, onChoose }: { impact: RestartImpact; onChoose: (c: 'keep' | 'delete' | 'cancel') => void }) {
  const done = impact.bytesDone > 0 ? `${formatBytes(impact.bytesDone)} of ${formatBytes(impact.bytesTotal)}` : 'the download';
  return (
    <ConfirmCard
      testid="confirm-restart"
      title={`Switch to ${impact.to === 'auto' ? 'Automatic' : impact.to} and restart the download?`}
      choices={
        <>
          <button class="btn primary wide" onClick={() => onChoose('keep')}>
            Switch, keep the partial download
          </button>
          <button class="btn wide danger" onClick={() => onChoose('delete')}>
            Switch and delete it
          </button>
          <button class="btn wide" onClick={() => onChoose('cancel')} autoFocus>
            Cancel
          </button>
        </>
      }
    >
      Changing the {impact.what} stops the download of <strong>{impact.repo}</strong> ({done}) and starts another model from the beginning.
      The partial files stay on disk unless you delete them; switching back later resumes from them.
    </ConfirmCard>
  );
}
