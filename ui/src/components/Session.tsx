import { useEffect, useRef, useState } from 'preact/hooks';
import { useApp } from '../ctx';
import { formatMs } from '../format';
import { api } from '../ipc';
import { Hotkey, Meter, MicIcon } from './common';

export function ReadyPanel() {
  const { state, run } = useApp();
  const app = state.app!;
  const handsFree = state.settings?.handsFree ?? app.session.handsFree;
  return (
    <section class="card ready" aria-label="Ready">
      <div class="ready-icon" aria-hidden="true">
        ✓
      </div>
      <h2 class="h1">Ready</h2>
      <p class="hint" data-testid="hotkey-hint">
        Hold <Hotkey accel={app.hotkey} /> to talk
      </p>
      {app.session.inputOpen && !handsFree && (
        <p class="small" data-testid="mic-ready">
          <MicIcon /> Microphone ready: your first word is heard.
        </p>
      )}
      <p class="small muted" data-testid="ready-help">
        {handsFree
          ? 'Hands-free is on: start a conversation and Moshi listens until you end it.'
          : 'Anywhere, even with this window closed: hold the keys, speak, let go, and Moshi answers out loud.'}
      </p>
      <button class="btn primary wide" onClick={() => run('start the session', api.startSession)}>
        {handsFree ? 'Start hands-free conversation' : 'Start conversation'}
      </button>
    </section>
  );
}

/** Press-and-hold button: pointer and keyboard (Space/Enter) both drive set_talking. */
function HoldToTalk({ talking, hotkey }: { talking: boolean; hotkey: string }) {
  const { run } = useApp();
  const [held, setHeld] = useState(false);
  const heldRef = useRef(false);
  const set = (on: boolean) => {
    if (heldRef.current === on) return;
    heldRef.current = on;
    setHeld(on);
    run(on ? 'start talking' : 'stop talking', () => api.setTalking(on));
  };
  useEffect(() => () => void (heldRef.current && api.setTalking(false).catch(() => {})), []);
  const active = held || talking;
  return (
    <button
      type="button"
      class={`talk${active ? ' active' : ''}`}
      aria-pressed={active}
      onPointerDown={(e) => {
        if (e.button !== 0) return;
        (e.currentTarget as HTMLElement).setPointerCapture?.(e.pointerId);
        set(true);
      }}
      onPointerUp={() => set(false)}
      onPointerCancel={() => set(false)}
      onKeyDown={(e) => {
        if ((e.key === ' ' || e.key === 'Enter') && !e.repeat) {
          e.preventDefault();
          set(true);
        } else if (e.key === ' ' || e.key === 'Enter') e.preventDefault();
      }}
      onKeyUp={(e) => {
        if (e.key === ' ' || e.key === 'Enter') {
          e.preventDefault();
          set(false);
        }
      }}
      onBlur={() => set(false)}
      onContextMenu={(e) => e.preventDefault()}
    >
      <MicIcon />
      <span class="talk-text">Hold to talk</span>
      <span class="talk-sub small" aria-hidden="true">
        {active ? (
          'Listening — release to stop'
        ) : (
          <>
            or hold <Hotkey accel={hotkey} />
          </>
        )}
      </span>
    </button>
  );
}

export function SessionPanel() {
  const { state, run } = useApp();
  const app = state.app!;
  const m = state.metrics;
  const speaking = m?.speaking ?? false;
  const talking = m?.talking ?? app.session.talking;
  const logRef = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = logRef.current;
    if (el) el.scrollTop = el.scrollHeight;
  }, [state.transcript]);
  const status = speaking ? 'Moshi is speaking' : talking || app.session.handsFree ? 'Listening' : 'Moshi is waiting';
  return (
    <section class="session" aria-label="Conversation">
      <div class={`status-line${speaking ? ' speaking' : talking ? ' listening' : ''}`} role="status" data-testid="session-status">
        <span class="pulse" aria-hidden="true" />
        {status}
      </div>
      <div class="meters">
        <Meter value={m?.inputLevel ?? 0} label="Microphone" kind="in" />
        <Meter value={m?.outputLevel ?? 0} label="Moshi" kind="out" />
      </div>
      <div class="transcript" ref={logRef} role="log" aria-live="polite" aria-label="Transcript" tabIndex={0} data-testid="transcript">
        {state.transcript ? state.transcript.trimStart() : <span class="muted">Moshi's words will appear here.</span>}
      </div>
      {app.session.handsFree ? (
        <p class="hands-free small" data-testid="hands-free">
          Hands-free is on — just speak.
        </p>
      ) : (
        <HoldToTalk talking={app.session.talking} hotkey={app.hotkey} />
      )}
      <dl class="stats" aria-label="Performance">
        <div>
          <dt>Latency</dt>
          <dd data-testid="latency">{formatMs(m?.latencyMs)}</dd>
        </div>
        <div>
          <dt>Real-time factor</dt>
          <dd data-testid="rtf" class={m && m.rtf >= 1 ? 'bad-text' : ''}>
            {m ? m.rtf.toFixed(2) : '—'}
          </dd>
        </div>
        <div>
          <dt>Model step</dt>
          <dd>{m ? formatMs(m.encodeMs + m.lmMs + m.decodeMs) : '—'}</dd>
        </div>
        <div>
          <dt>Dropouts</dt>
          <dd data-testid="dropouts">{m ? m.framesDropped + m.underruns : '—'}</dd>
        </div>
      </dl>
      {m && m.rtf >= 1 && <p class="small warn-text">This Mac is not keeping up: try a smaller quality in Settings.</p>}
      <button class="btn wide" onClick={() => run('end the session', api.stopSession)}>
        End conversation
      </button>
    </section>
  );
}
