import { useEffect, useRef, useState } from 'preact/hooks';
import { useApp } from '../ctx';
import { qualityLabel } from '../format';
import { api } from '../ipc';
import type { QualityOverride, Settings } from '../types';
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

export function SettingsView() {
  const { state, dispatch, run } = useApp();
  const [draft, setDraft] = useState<Settings | null>(state.settings);
  const [errors, setErrors] = useState<SettingsErrors>({});
  const [saving, setSaving] = useState(false);
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
    const saved = await run('save settings', () => api.saveSettings(s));
    setSaving(false);
    if (saved) {
      dispatch({ type: 'settings', settings: saved });
      close();
    }
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
            <label class="label" for="cache-dir">
              Model cache location
            </label>
            <input
              id="cache-dir"
              type="text"
              spellcheck={false}
              placeholder="Default location"
              value={draft.cacheDir ?? ''}
              aria-invalid={!!errors.cacheDir}
              aria-describedby={errors.cacheDir ? 'cache-dir-error' : undefined}
              onInput={(e) => set('cacheDir', (e.currentTarget as HTMLInputElement).value)}
            />
            {errors.cacheDir && (
              <span class="field-error" id="cache-dir-error" role="alert">
                {errors.cacheDir}
              </span>
            )}
          </div>
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
