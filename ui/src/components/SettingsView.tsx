import { useEffect, useRef, useState } from 'preact/hooks';
import { useApp } from '../ctx';
import { formatBytes, qualityLabel } from '../format';
import { api } from '../ipc';
import type { FolderCheck, QualityOverride, Settings, Voice } from '../types';
import { useGuardedSave } from './ConfirmRestart';
import { acceleratorFromEvent, normalizeSettings, validateSettings, validateToken, type SettingsErrors } from '../validate';
import { Hotkey, Spinner } from './common';
import { optionWarning } from './Plan';

function HotkeyField({ value, error, onChange }: { value: string; error?: string; onChange: (v: string) => void }) {
  const [capturing, setCapturing] = useState(false);
  return (
    <div class="field">
      <span class="label" id="hotkey-label">
        Hold-to-talk shortcut
      </span>
      <button
        type="button"
        id="hotkey-capture"
        class={`hotkey-capture${capturing ? ' capturing' : ''}`}
        aria-labelledby="hotkey-label hotkey-capture"
        aria-describedby={error ? 'hotkey-error' : 'hotkey-help'}
        aria-invalid={!!error}
        data-testid="hotkey-capture"
        onClick={() => setCapturing(true)}
        onBlur={() => setCapturing(false)}
        onKeyDown={(e) => {
          if (!capturing) return;
          if (e.key === 'Tab') {
            setCapturing(false);
            return;
          }
          e.preventDefault();
          e.stopPropagation();
          if (e.key === 'Escape' && !e.altKey && !e.ctrlKey && !e.metaKey && !e.shiftKey) {
            setCapturing(false);
            return;
          }
          const accel = acceleratorFromEvent(e);
          if (accel) {
            onChange(accel);
            setCapturing(false);
          }
        }}
      >
        {capturing ? <span>Press the new shortcut… (Esc to cancel)</span> : <Hotkey accel={value} />}
      </button>
      {error ? (
        <span class="field-error" id="hotkey-error" role="alert">
          {error}
        </span>
      ) : (
        <span class="help" id="hotkey-help">
          Click, then press the keys. Works system-wide.
        </span>
      )}
    </div>
  );
}

function DeviceSelect(props: {
  id: string;
  label: string;
  value: string | null;
  options: string[] | null;
  defaultName: string | null;
  error?: string;
  onChange: (v: string | null) => void;
}) {
  const { id, label, value, options, defaultName, error, onChange } = props;
  const opts = options ?? [];
  const missing = value != null && !opts.includes(value);
  return (
    <div class="field">
      <label class="label" for={id}>
        {label}
      </label>
      <select
        id={id}
        value={value ?? ''}
        disabled={options == null}
        aria-invalid={!!error}
        aria-describedby={error ? `${id}-error` : undefined}
        onChange={(e) => {
          const v = (e.currentTarget as HTMLSelectElement).value;
          onChange(v === '' ? null : v);
        }}
      >
        <option value="">System default{defaultName ? ` (${defaultName})` : ''}</option>
        {opts.map((d) => (
          <option key={d} value={d}>
            {d}
          </option>
        ))}
        {missing && <option value={value!}>{value} (not connected)</option>}
      </select>
      {error && (
        <span class="field-error" id={`${id}-error`} role="alert">
          {error}
        </span>
      )}
    </div>
  );
}

function TokenSection({ hasToken, onChanged }: { hasToken: boolean; onChanged: (has: boolean) => void }) {
  const { run } = useApp();
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [saved, setSaved] = useState<string | null>(null);
  const save = async () => {
    const err = validateToken(token);
    setError(err);
    setSaved(null);
    if (err) return;
    const ok = await run('save the token', () => api.setHfToken(token.trim()).then(() => true));
    if (ok) {
      setToken(''); // never keep or echo the token
      setSaved('Token saved in your Keychain.');
      onChanged(true);
    }
  };
  const remove = async () => {
    const ok = await run('remove the token', () => api.setHfToken(null).then(() => true));
    if (ok) {
      setSaved('Token removed.');
      onChanged(false);
    }
  };
  return (
    <fieldset class="group">
      <legend>Hugging Face access</legend>
      <div class="field">
        <label class="label" for="hf-token">
          Access token
        </label>
        <div class="row">
          <input
            id="hf-token"
            type="password"
            autoComplete="off"
            spellcheck={false}
            placeholder={hasToken ? '•••••••• saved in Keychain' : 'hf_…'}
            value={token}
            aria-invalid={!!error}
            aria-describedby="hf-token-help"
            onInput={(e) => setToken((e.currentTarget as HTMLInputElement).value)}
            onKeyDown={(e) => {
              if (e.key === 'Enter') {
                e.preventDefault();
                save();
              }
            }}
          />
          <button type="button" class="btn" onClick={save} disabled={!token}>
            Save token
          </button>
        </div>
        {error ? (
          <span class="field-error" id="hf-token-help" role="alert">
            {error}
          </span>
        ) : (
          <span class="help" id="hf-token-help" data-testid="token-status">
            {saved ?? (hasToken ? 'A token is saved in your Keychain.' : 'Only needed for gated models. Stored in your Keychain.')}
          </span>
        )}
        {hasToken && (
          <button type="button" class="btn link" onClick={remove}>
            Remove saved token
          </button>
        )}
      </div>
    </fieldset>
  );
}

/** The cache folder: chosen with the system folder picker, checked for writability and space. */
function CacheFolder({ value, neededBytes, error, onChange }: { value: string | null; neededBytes: number; error?: string; onChange: (v: string | null) => void }) {
  const { run } = useApp();
  const [check, setCheck] = useState<FolderCheck | null>(null);
  const choose = async () => {
    const picked = await run('choose a folder', () => api.pickCacheDir(neededBytes));
    if (!picked) return; // cancelled (or failed: the notice says why)
    setCheck(picked);
    if (!picked.error) onChange(picked.path);
  };
  const problem = check?.error ?? error;
  return (
    <div class="field">
      <span class="label" id="cache-dir-label">
        Model cache location
      </span>
      <span class="folder-path" id="cache-dir" data-testid="cache-dir">
        {value ?? 'Default (the Hugging Face cache, shared with Python)'}
      </span>
      <div class="row">
        <button type="button" class="btn" aria-describedby="cache-dir-label cache-dir" onClick={choose}>
          Choose…
        </button>
        {value && (
          <button
            type="button"
            class="btn link"
            onClick={() => {
              setCheck(null);
              onChange(null);
            }}
          >
            Use the default
          </button>
        )}
      </div>
      {problem ? (
        <span class="field-error" id="cache-dir-error" role="alert">
          {check?.error ? `${check.path}: ${check.error}` : problem}
        </span>
      ) : (
        check &&
        check.freeBytes != null && (
          <span class="help" role="status">
            {formatBytes(check.freeBytes)} free there; the model needs {formatBytes(check.neededBytes)}.
          </span>
        )
      )}
    </div>
  );
}

/** Reveal in Finder and Delete model (with a confirmation) for the planned repo. */
function ModelFiles({ repo }: { repo: string }) {
  const { dispatch, run } = useApp();
  const [confirming, setConfirming] = useState(false);
  const del = async () => {
    setConfirming(false);
    const freed = await run('delete the model', () => api.deleteModel(repo));
    if (freed !== undefined) {
      dispatch({ type: 'notice', notice: { kind: 'info', text: `Deleted ${repo} (${formatBytes(freed)} freed).` } });
    }
  };
  return (
    <div class="field" data-testid="model-files">
      <span class="label">Model files</span>
      <span class="folder-path">{repo}</span>
      <div class="row">
        <button type="button" class="btn" onClick={() => run('show the model in Finder', () => api.revealModel(repo))}>
          Reveal in Finder
        </button>
        <button type="button" class="btn danger" onClick={() => setConfirming(true)}>
          Delete model…
        </button>
      </div>
      {confirming && (
        <section class="card confirm" role="alertdialog" aria-labelledby="del-title" aria-describedby="del-text">
          <strong id="del-title">Delete {repo}?</strong>
          <p class="small" id="del-text">
            Its files (and any partial download) are removed from the cache. Moshibar downloads them again when it needs them.
          </p>
          <div class="actions">
            <button type="button" class="btn danger" onClick={del}>
              Delete
            </button>
            <button type="button" class="btn" onClick={() => setConfirming(false)} autoFocus>
              Cancel
            </button>
          </div>
        </section>
      )}
    </div>
  );
}

export function SettingsView() {
  const { state, dispatch, run } = useApp();
  const [draft, setDraft] = useState<Settings | null>(state.settings);
  const [errors, setErrors] = useState<SettingsErrors>({});
  const [saving, setSaving] = useState(false);
  const { save: guardedSave, dialog } = useGuardedSave();
  const headingRef = useRef<HTMLHeadingElement>(null);

  useEffect(() => {
    headingRef.current?.focus();
    run('list audio devices', api.listAudioDevices).then((d) => d && dispatch({ type: 'devices', devices: d }));
    if (!state.settings) run('load settings', api.getSettings).then((s) => s && (dispatch({ type: 'settings', settings: s }), setDraft(s)));
  }, []);

  const close = () => dispatch({ type: 'view', view: 'main' });
  if (!draft) {
    return (
      <section class="settings" aria-label="Settings">
        <Spinner label="Loading settings" />
      </section>
    );
  }
  const set = <K extends keyof Settings>(k: K, v: Settings[K]) => {
    setDraft({ ...draft, [k]: v });
    if (k in errors) setErrors({ ...errors, [k]: undefined });
  };
  const devices = state.devices;
  const plan = state.app?.plan ?? null;
  const save = async (e: Event) => {
    e.preventDefault();
    const s = normalizeSettings(draft);
    const errs = validateSettings(s, devices);
    setErrors(errs);
    if (Object.values(errs).some(Boolean)) {
      // Take the person to the first field that needs fixing.
      const form = e.currentTarget as HTMLFormElement;
      requestAnimationFrame(() => form.querySelector<HTMLElement>('[aria-invalid="true"]')?.focus());
      return;
    }
    setSaving(true);
    const saved = await guardedSave(s);
    setSaving(false);
    if (saved) close();
  };
  return (
    <form class="settings" aria-labelledby="settings-title" onSubmit={save} noValidate onKeyDown={(e) => e.key === 'Escape' && close()}>
      <div class="settings-head">
        <button type="button" class="btn icon" aria-label="Back" onClick={close}>
          ‹
        </button>
        <h2 class="h1" id="settings-title" tabIndex={-1} ref={headingRef}>
          Settings
        </h2>
      </div>
      <div class="settings-body">
        <fieldset class="group">
          <legend>Model</legend>
          <div class="field">
            <label class="label" for="quality">
              Quality
            </label>
            <select id="quality" value={draft.qualityOverride} onChange={(e) => set('qualityOverride', (e.currentTarget as HTMLSelectElement).value as QualityOverride)}>
              {(['auto', 'bf16', 'q8', 'q4'] as QualityOverride[]).map((q) => {
                const w = plan ? optionWarning(plan, q) : null;
                return (
                  <option key={q} value={q}>
                    {qualityLabel(q)}
                    {q === 'auto' && plan ? ` — ${plan.quality} for this Mac` : ''}
                    {w ? ` — ${w}` : ''}
                  </option>
                );
              })}
            </select>
            {plan && optionWarning(plan, draft.qualityOverride) && (
              <span class="help warn-text" role="status">
                ⚠ {draft.qualityOverride} {optionWarning(plan, draft.qualityOverride)} on this Mac.
              </span>
            )}
          </div>
          <div class="field">
            <label class="label" for="voice">
              Voice
            </label>
            <select id="voice" value={draft.voice} onChange={(e) => set('voice', (e.currentTarget as HTMLSelectElement).value as Voice)}>
              <option value="moshiko">Moshiko (male voice)</option>
              <option value="moshika">Moshika (female voice)</option>
            </select>
          </div>
          <CacheFolder value={draft.cacheDir} neededBytes={plan?.downloadBytes ?? 0} error={errors.cacheDir} onChange={(v) => set('cacheDir', v)} />
          {plan && <ModelFiles repo={plan.repo} />}
        </fieldset>
        <fieldset class="group">
          <legend>Talking</legend>
          <HotkeyField value={draft.hotkey} error={errors.hotkey} onChange={(v) => set('hotkey', v)} />
          <label class="check">
            <input type="checkbox" checked={draft.handsFree} onChange={(e) => set('handsFree', (e.currentTarget as HTMLInputElement).checked)} />
            <span>
              Hands-free
              <span class="help">Moshi listens all the time; no need to hold the shortcut.</span>
            </span>
          </label>
          <DeviceSelect
            id="input-device"
            label="Microphone"
            value={draft.inputDevice}
            options={devices?.inputs ?? null}
            defaultName={devices?.defaultInput ?? null}
            error={errors.inputDevice}
            onChange={(v) => set('inputDevice', v)}
          />
          <DeviceSelect
            id="output-device"
            label="Speaker"
            value={draft.outputDevice}
            options={devices?.outputs ?? null}
            defaultName={devices?.defaultOutput ?? null}
            error={errors.outputDevice}
            onChange={(v) => set('outputDevice', v)}
          />
        </fieldset>
        <fieldset class="group">
          <legend>General</legend>
          <label class="check">
            <input type="checkbox" checked={draft.launchAtLogin} onChange={(e) => set('launchAtLogin', (e.currentTarget as HTMLInputElement).checked)} />
            <span>Launch at login</span>
          </label>
        </fieldset>
        <TokenSection
          hasToken={state.settings?.hasToken ?? draft.hasToken}
          onChanged={(has) => {
            setDraft({ ...draft, hasToken: has });
            if (state.settings) dispatch({ type: 'settings', settings: { ...state.settings, hasToken: has } });
          }}
        />
      </div>
      {dialog}
      <div class="settings-foot">
        <button type="button" class="btn" onClick={close}>
          Cancel
        </button>
        <button type="submit" class="btn primary" disabled={saving}>
          {saving ? 'Saving…' : 'Save'}
        </button>
      </div>
    </form>
  );
}
