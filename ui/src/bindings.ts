// Generated from the Rust IPC types (app-core, src-tauri) by ts-rs: do not edit.
// Regenerate: MOSHIBAR_UPDATE_IPC_SHAPES=1 cargo test -p moshibar --lib ipc_contract
import type { Hardware, Plan, Voice } from './types';

export type Stage = "detecting" | "planning" | "downloading" | "verifying" | "loading" | "ready" | "error";

export type QualityOverride = "auto" | "bf16" | "q8" | "q4";

export type AppError = { 
/**
 * Short title ("Download failed").
 */
title: string, 
/**
 * What happened and what to do next.
 */
message: string, 
/**
 * `retry`, `openSettings`, `openUrl:https://…`, `startSession`, or none.
 */
action: string | null, };

export type SessionState = { 
/**
 * A conversation is running or opening: the person talked (hotkey, Talk button) or
 * pressed Start. The audio opened ahead of the first press while the popover is up in
 * Ready is `inputOpen` but not `active`.
 */
active: boolean, 
/**
 * The session's audio devices (the microphone) are open or opening: a conversation, or
 * the popover up in Ready (so the first press loses nothing). False while idle with the
 * popover hidden (no microphone indicator then).
 */
inputOpen: boolean, 
/**
 * The person holds the talk key (or the UI button): the microphone reaches the model.
 */
talking: boolean, 
/**
 * The microphone is always open.
 */
handsFree: boolean, 
/**
 * Frames of microphone audio the model has received while the gate was open, this session
 * (so tools can check that talking really reaches the model).
 */
framesHeard: number, 
/**
 * Key-down to the first frame into the model, for the last press (ms).
 */
keyToModelMs: number | null, };

export type AppState = { 
/**
 * The flow's stage.
 */
stage: Stage, 
/**
 * The chip and memory, once detected.
 */
hardware: Hardware | null, 
/**
 * The plan in force (quality, repo, files, why), once planned.
 */
plan: Plan | null, 
/**
 * The voice session.
 */
session: SessionState, 
/**
 * The hold-to-talk shortcut in force (registered).
 */
hotkey: string, 
/**
 * What needs the person, if anything (shown in every stage).
 */
error: AppError | null, 
/**
 * Free space where the model goes.
 */
diskFreeBytes: number | null, 
/**
 * The snapshot directory holding the verified model.
 */
modelDir: string | null, 
/**
 * The download is paused (remembered across relaunches).
 */
downloadPaused: boolean, 
/**
 * The voice in force (`moshiko` or `moshika`).
 */
voice: Voice, };

export type Settings = { 
/**
 * Quality override.
 */
qualityOverride: QualityOverride, 
/**
 * The voice.
 */
voice: Voice, 
/**
 * Hold-to-talk shortcut, in Tauri's accelerator syntax ("Alt+Space").
 */
hotkey: string, 
/**
 * Input device name (none: the system default).
 */
inputDevice: string | null, 
/**
 * Output device name (none: the system default).
 */
outputDevice: string | null, 
/**
 * Microphone always open instead of hold-to-talk.
 */
handsFree: boolean, 
/**
 * Start Moshibar at login.
 */
launchAtLogin: boolean, 
/**
 * Where the Hugging Face cache lives (none: `HF_HUB_CACHE` or `~/.cache/huggingface/hub`).
 */
cacheDir: string | null, 
/**
 * A token is stored in the keychain (computed, never persisted as true from the UI).
 */
hasToken: boolean, };

export type FolderCheck = { 
/**
 * The folder (absolute).
 */
path: string, 
/**
 * A file could be created and removed in it.
 */
writable: boolean, 
/**
 * Free space there.
 */
freeBytes: number | null, 
/**
 * What the planned model still needs.
 */
neededBytes: number, 
/**
 * Why it cannot be used, for the person; none when it can.
 */
error: string | null, };

export type AudioDevices = { 
/**
 * Input device names.
 */
inputs: Array<string>, 
/**
 * Output device names.
 */
outputs: Array<string>, 
/**
 * The system's default input.
 */
defaultInput: string | null, 
/**
 * The system's default output.
 */
defaultOutput: string | null, };
