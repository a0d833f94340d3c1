import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import type { Action, UiState } from './store';

export interface Ctx {
  state: UiState;
  dispatch: (a: Action) => void;
  /** Runs a command; a failure becomes a visible notice instead of an unhandled rejection. */
  run: <T>(what: string, p: () => Promise<T>) => Promise<T | undefined>;
}

export const AppCtx = createContext<Ctx>(null as unknown as Ctx);
export const useApp = () => useContext(AppCtx);
