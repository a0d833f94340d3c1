// The banner's and the error view's actions: every action the core sends has a button.
import { describe, expect, it } from 'vitest';
import { actionButton, checkedAction } from '../src/components/ErrorView';
import { commandError } from '../src/ipc';
import type { ErrorAction } from '../src/types';

describe('checkedAction', () => {
  it('knows every action of docs/ipc.md', () => {
    expect(checkedAction({ kind: 'retry' })).toEqual({ kind: 'retry' });
    expect(checkedAction({ kind: 'openSettings' })).toEqual({ kind: 'openSettings' });
    expect(checkedAction({ kind: 'openMicrophoneSettings' })).toEqual({ kind: 'openMicrophoneSettings' });
    // A dead session's banner offers to start again.
    expect(checkedAction({ kind: 'startSession' })).toEqual({ kind: 'startSession' });
    expect(checkedAction({ kind: 'openUrl', url: 'https://huggingface.co/kyutai' })).toEqual({ kind: 'openUrl', url: 'https://huggingface.co/kyutai' });
  });
  it('refuses what it does not know and non-https links', () => {
    expect(checkedAction(null)).toBeNull();
    expect(checkedAction({ kind: 'rm -rf' } as never)).toBeNull();
    expect(checkedAction({ kind: 'openUrl', url: 'http://example.com' })).toBeNull();
  });
});

describe('actionButton (shared by ErrorView and ErrorBanner)', () => {
  const calls: string[] = [];
  const app = {
    dispatch: (a: { type: string }) => void calls.push(`dispatch:${a.type}`),
    run: async (what: string) => {
      calls.push(`run:${what}`);
      return undefined;
    },
  };
  it('gives each action its label and its command', () => {
    const press = (a: ErrorAction) => {
      calls.length = 0;
      const b = actionButton(a, app as never);
      b.onClick();
      return [b.label, ...calls];
    };
    expect(press({ kind: 'retry' })).toEqual(['Try again', 'run:retry']);
    expect(press({ kind: 'openSettings' })).toEqual(['Open Settings', 'dispatch:view']);
    expect(press({ kind: 'startSession' })).toEqual(['Start again', 'run:start the conversation']);
    expect(press({ kind: 'openMicrophoneSettings' })).toEqual(['Open Privacy Settings', 'run:open System Settings']);
    expect(press({ kind: 'openUrl', url: 'https://huggingface.co/kyutai/x' })).toEqual(['Open huggingface.co', 'run:open the page']);
  });
});

describe('commandError (a rejected command)', () => {
  it('keeps the app’s message and action', () => {
    expect(commandError({ message: 'Moshi is not ready yet.', action: { kind: 'retry' } })).toEqual({ message: 'Moshi is not ready yet.', action: { kind: 'retry' } });
    expect(commandError({ message: 'No download is running.', action: null })).toEqual({ message: 'No download is running.', action: null });
  });
  it('turns any other rejection into a message without an action', () => {
    expect(commandError('plugin said no')).toEqual({ message: 'plugin said no', action: null });
    expect(commandError(new Error('boom'))).toEqual({ message: 'boom', action: null });
    expect(commandError({ message: 'x', action: 'retry' })).toEqual({ message: 'x', action: null });
  });
});
