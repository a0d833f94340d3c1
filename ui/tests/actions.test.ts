// The banner's and the error view's actions: every action the core sends has a button.
import { describe, expect, it } from 'vitest';
import { parseAction } from '../src/components/ErrorView';

describe('parseAction', () => {
  it('knows every action of docs/ipc.md', () => {
    expect(parseAction('retry')).toEqual({ kind: 'retry' });
    expect(parseAction('openSettings')).toEqual({ kind: 'openSettings' });
    expect(parseAction('openMicrophoneSettings')).toEqual({ kind: 'openMicrophoneSettings' });
    // A dead session's banner offers to start again.
    expect(parseAction('startSession')).toEqual({ kind: 'startSession' });
    expect(parseAction('openUrl:https://huggingface.co/kyutai')).toEqual({ kind: 'openUrl', url: 'https://huggingface.co/kyutai' });
  });
  it('refuses what it does not know and non-https links', () => {
    expect(parseAction(null)).toBeNull();
    expect(parseAction('rm -rf')).toBeNull();
    expect(parseAction('openUrl:http://example.com')).toBeNull();
  });
});
