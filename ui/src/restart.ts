// Whether saving new settings restarts the model download, and what it leaves behind.
import type { AppState, Progress, Settings } from './types';

export interface RestartImpact {
  /** The repo whose download stops (its partial files stay unless deleted). */
  repo: string;
  /** Bytes of it already on disk (verified or not). */
  bytesDone: number;
  bytesTotal: number;
  /** What changes, for the sentence: "quality" | "voice". */
  what: 'quality' | 'voice';
  /** The new choice ("q8", "auto", "moshika"). */
  to: string;
}

const DOWNLOAD_STAGES = new Set(['downloading', 'verifying']);

/**
 * A change of quality (or voice) while a download is under way, or paused, restarts it for
 * another repo. `null` when nothing would be lost: no download, or a choice that keeps the
 * planned repo (e.g. picking the quality that is already planned).
 */
export function restartImpact(app: AppState | null, progress: Progress | null, before: Settings, next: Settings): RestartImpact | null {
  if (!app?.plan) return null;
  const downloading = DOWNLOAD_STAGES.has(app.stage) || progress?.phase === 'paused';
  if (!downloading) return null;
  const plan = app.plan;
  const voiceChanged = before.voice !== next.voice;
  let qualityChanged = false;
  if (next.qualityOverride !== before.qualityOverride) {
    // "auto" keeps the repo when the plan already is the automatic choice.
    qualityChanged = next.qualityOverride === 'auto' ? plan.overridden : next.qualityOverride !== plan.quality;
  }
  if (!qualityChanged && !voiceChanged) return null;
  const same = progress && progress.repo === plan.repo;
  return {
    repo: plan.repo,
    bytesDone: same ? progress.bytesDone : 0,
    bytesTotal: same ? progress.bytesTotal : plan.downloadBytes,
    what: voiceChanged && !qualityChanged ? 'voice' : 'quality',
    to: voiceChanged && !qualityChanged ? next.voice : next.qualityOverride,
  };
}

/** The key an error is dismissed by: a new or changed error shows again. */
export function errorKey(e: { title: string; message: string }): string {
  return `${e.title}\n${e.message}`;
}
