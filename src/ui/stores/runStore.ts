// Run slice: the live run's progress and loss history, the list of past runs, and which run's
// curves are on the charts. The worker reports progress through the TrainEvents proxy below,
// whose methods call this module's actions.
import { create } from 'zustand';
import type { LossPoint } from '../../train/checkpointStore';
import type { RunSummary, TrainEvents } from '../../workers/api';
import { engine, proxy } from '../engineClient';
import { engineErrorMessage, errorText } from '../lib/errors';
import { forgetFolder, keptFolders } from '../lib/folderHandles';
import { lockedRunIds } from '../lib/runs';
import { useDeviceStore, reconnectGpu, refreshGpuStatus } from './deviceStore';
import { setHeldAdapter, useExportStore } from './exportStore';
import { useJobStore } from './jobStore';
import { useModelStore } from './modelStore';
import { loadRunModel, runModelLoaded } from './runModel';

export type TrainProgress = Parameters<TrainEvents['onProgress']>[0];
export type RunStatus = RunSummary['status'];

export interface RunState {
  phase: 'idle' | 'starting' | 'running' | 'pausing' | 'stopping' | 'paused' | 'finished' | 'stopped' | 'failed';
  liveRunId: string | null;
  progress: TrainProgress | null;
  /** points on the charts: the live run's, or the past run chosen with showRun */
  history: LossPoint[];
  /** the run whose curves are shown (null: none yet) */
  shownRunId: string | null;
  runs: RunSummary[];
  runsStatus: 'idle' | 'loading' | 'ready' | 'error';
  runsError: string | null;
  /** runs whose Web Lock an engine holds (this tab's live run, or runs training in other tabs), as of the last refreshRuns */
  lockedRuns: ReadonlySet<string>;
  /** fingerprints of the models whose dropped folders the page can open again (folderHandles), as of the last refreshRuns */
  keptFolders: ReadonlySet<string>;
  /** what went wrong, in words, with what to do about it */
  error: string | null;
  /** the last status message from the worker (e.g. "checkpoint saved") */
  message: string | null;
}

export const useRunStore = create<RunState>(() => ({
  phase: 'idle',
  liveRunId: null,
  progress: null,
  history: [],
  shownRunId: null,
  runs: [],
  runsStatus: 'idle',
  runsError: null,
  lockedRuns: new Set(),
  keptFolders: new Set(),
  error: null,
  message: null,
}));

const set = useRunStore.setState;
const get = useRunStore.getState;

// Whether the engine reported a status for the current call: an error after that is the run's
// own ending, not a failure to start.
let statusSeen = false;
// Whether a startTraining/resume call is in flight. The callbacks come through their own
// MessagePort, so one can arrive after the call has returned: late progress is dropped, and a late
// "running" must not reopen a run that ended.
let driving = false;

export function isActivePhase(phase: RunState['phase']): boolean {
  return phase === 'starting' || phase === 'running' || phase === 'pausing' || phase === 'stopping';
}

/** Called by the worker for every optimizer step (and validation pass). */
export function onTrainProgress(p: TrainProgress): void {
  if (!driving) return;
  const point: LossPoint = { step: p.step, loss: p.loss, lr: p.lr, gradNorm: p.gradNorm, tokensPerSecond: p.tokensPerSecond };
  if (p.valLoss !== undefined) point.valLoss = p.valLoss;
  const s = get();
  const sameRun = s.shownRunId === p.runId;
  // The engine holds this run's adapter now (also after a resume, or a device loss that freed the last one).
  const held = useExportStore.getState().held;
  if (held?.kind !== 'run' || held.runId !== p.runId) setHeldAdapter({ kind: 'run', runId: p.runId });
  // The engine recovers a lost device by itself during a run: progress means the GPU is back.
  if (useDeviceStore.getState().status === 'lost') void refreshGpuStatus();
  set({
    progress: p,
    liveRunId: p.runId,
    shownRunId: p.runId,
    history: [...(sameRun ? s.history : []), point],
    phase: s.phase === 'starting' ? 'running' : s.phase,
  });
}

/** Called by the worker when the run changes state. */
export function onTrainStatus(status: RunStatus, message?: string): void {
  if (!driving && status === 'running') return;
  statusSeen = true;
  const s = get();
  const phase: RunState['phase'] =
    status === 'running' ? (s.phase === 'pausing' || s.phase === 'stopping' ? s.phase : 'running') : status;
  // A status without words keeps the run's last message (e.g. the note that the GPU was lost and
  // training resumed from a checkpoint stays after the run goes on and finishes).
  set({ phase, message: message ?? s.message, error: status === 'failed' ? failureText(message) : s.error });
}

function failureText(message: string | undefined): string {
  return `${message ?? 'Training stopped with an error the engine did not describe.'} If the run saved a checkpoint, it is listed below with “Resume from step N”.`;
}

const events: TrainEvents = {
  onProgress: (p) => onTrainProgress(p),
  onStatus: (status, message) => onTrainStatus(status, message),
};

async function drive(call: () => Promise<RunSummary>, doing: string, method: string): Promise<void> {
  statusSeen = false;
  driving = true;
  try {
    const summary = await call();
    driving = false;
    set({
      phase: summary.status === 'running' ? 'stopped' : summary.status,
      liveRunId: summary.id,
      shownRunId: summary.id,
      // The summary's history is the stored one, complete even if some progress events were dropped.
      history: summary.history.length >= get().history.length ? summary.history : get().history,
      error: summary.status === 'failed' ? failureText(summary.message) : null,
      message: summary.message ?? get().message,
    });
  } catch (e) {
    driving = false;
    // Progress proves the run started even if its status message is still on its way.
    if (statusSeen || get().progress !== null) {
      // The run started and then ended with an error; the engine's message already says what
      // happened and what to do. onTrainStatus has set the phase (paused after a NaN rollback,
      // failed otherwise).
      const phase = get().phase;
      set({ phase: phase === 'paused' ? 'paused' : 'failed', error: errorText(e) });
      if (get().phase === 'failed' && get().liveRunId) {
        failedRun = { runId: get().liveRunId!, step: get().progress?.step ?? 0, at: performance.now() };
        void continueAfterGpuLoss();
      }
    } else {
      set({ phase: 'failed', error: engineErrorMessage(e, method, doing) });
    }
  } finally {
    driving = false;
  }
  void refreshRuns();
}

// The run that failed last in this tab, for continueAfterGpuLoss.
let failedRun: { runId: string; step: number; at: number } | null = null;
const GPU_LOSS_WINDOW_MS = 10_000;

/**
 * A run failed because the GPU device was lost (driver reset, device.destroy()): get a new device
 * and continue the run from its last checkpoint, saying so. Called when a run fails and when the
 * device is reported lost; in a browser the run's error (a failed buffer mapping) can arrive
 * before the device's 'lost' event, so it acts when both have happened within a few seconds.
 * (When the engine notices the loss itself it recovers without failing the run: nothing to do.)
 */
export async function continueAfterGpuLoss(): Promise<void> {
  const f = failedRun;
  if (!f || performance.now() - f.at > GPU_LOSS_WINDOW_MS || useDeviceStore.getState().status !== 'lost') return;
  if (get().phase !== 'failed' || get().liveRunId !== f.runId) return;
  failedRun = null;
  set({ message: `The GPU was lost at step ${f.step}; connecting to a new GPU device to continue from the last checkpoint…` });
  await reconnectGpu();
  if (useDeviceStore.getState().status !== 'ready') return; // the banner says what happened and offers to reconnect
  let checkpointStep = 0;
  try {
    checkpointStep = (await engine().listRuns()).find((r) => r.id === f.runId)?.checkpointStep ?? 0;
  } catch {
    // resume() reads the checkpoint itself; only the note lacks the step
  }
  if (get().phase !== 'failed' || get().liveRunId !== f.runId) return; // the user started something else
  const resumed = resumeRun(f.runId);
  set({ message: `The GPU was lost at step ${f.step}; a new GPU device was acquired and training resumed from ${checkpointStep > 0 ? `the checkpoint at step ${checkpointStep}` : 'the start'}.` });
  await resumed;
}

let persistenceAsked = false;

/**
 * Ask the browser to keep this site's storage (the runs' checkpoints) under storage pressure
 * instead of evicting it: once per page, before a run saves its first checkpoint. Chrome decides
 * without a prompt, Firefox asks the user. A refusal leaves best-effort storage, as without it.
 */
function askPersistentStorage(): void {
  if (persistenceAsked) return;
  persistenceAsked = true;
  const storage = globalThis.navigator?.storage;
  if (typeof storage?.persist === 'function') storage.persist().catch(() => {});
}

export function startRun(name?: string): Promise<void> {
  if (isActivePhase(get().phase)) return Promise.resolve();
  askPersistentStorage();
  const { config } = useJobStore.getState();
  set({ phase: 'starting', progress: null, history: [], shownRunId: null, liveRunId: null, error: null, message: null });
  return drive(() => engine().startTraining(config, proxy(events), name?.trim() || undefined), 'start training', 'startTraining');
}

export async function resumeRun(runId: string): Promise<void> {
  if (isActivePhase(get().phase)) return;
  askPersistentStorage();
  const run = get().runs.find((r) => r.id === runId);
  const before = get().phase;
  set({ phase: 'starting', liveRunId: runId, shownRunId: runId, history: run ? run.history.filter((p) => p.step <= run.checkpointStep) : [], progress: null, error: null, message: null });
  // one click: the run's model is loaded again when it is not the loaded one (its dataset is kept with the run)
  if (run && !runModelLoaded(run)) {
    set({ message: `Loading the run’s model (${run.modelName}) again…` });
    const problem = await loadRunModel(run);
    if (problem) {
      set({ phase: before, error: problem, message: null });
      return;
    }
    set({ message: null });
  }
  return drive(() => engine().resume(runId, proxy(events)), 'resume the run', 'resume');
}

export async function pauseRun(): Promise<void> {
  if (get().phase !== 'running' && get().phase !== 'starting') return;
  set({ phase: 'pausing' });
  try {
    await engine().pause();
  } catch (e) {
    set({ phase: 'running', error: engineErrorMessage(e, 'pause', 'pause the run') });
  }
}

export async function stopRun(): Promise<void> {
  if (!isActivePhase(get().phase) && get().phase !== 'paused') return;
  const wasPaused = get().phase === 'paused';
  set({ phase: 'stopping' });
  try {
    await engine().stop();
    if (wasPaused) set({ phase: 'stopped' });
  } catch (e) {
    set({ phase: wasPaused ? 'paused' : 'running', error: engineErrorMessage(e, 'stop', 'stop the run') });
  }
  if (wasPaused) void refreshRuns();
}

/** Which runs some tab's engine is training now (the engine holds a Web Lock per run while it trains). */
async function heldRunLocks(): Promise<ReadonlySet<string>> {
  const locks = globalThis.navigator?.locks;
  if (typeof locks?.query !== 'function') return new Set();
  try {
    return lockedRunIds(await locks.query());
  } catch {
    return new Set();
  }
}

export async function refreshRuns(): Promise<void> {
  set({ runsStatus: 'loading' });
  try {
    const [runs, lockedRuns, folders] = await Promise.all([engine().listRuns(), heldRunLocks(), keptFolders().catch(() => new Set<string>())]);
    set({ runs, lockedRuns, keptFolders: folders, runsStatus: 'ready', runsError: null });
  } catch (e) {
    set({ runsStatus: 'error', runsError: engineErrorMessage(e, 'listRuns', 'list the saved runs') });
  }
}

export async function deleteRun(runId: string): Promise<void> {
  const fingerprint = get().runs.find((r) => r.id === runId)?.modelFingerprint;
  try {
    await engine().deleteRun(runId);
    // the engine freed the run's files; the folder handle kept for its model goes with the last run on that model
    if (fingerprint && fingerprint !== useModelStore.getState().info?.fingerprint && !get().runs.some((r) => r.id !== runId && r.modelFingerprint === fingerprint)) await forgetFolder(fingerprint).catch(() => {});
    if (get().shownRunId === runId && get().liveRunId !== runId) set({ shownRunId: null, history: [] });
  } catch (e) {
    set({ runsError: engineErrorMessage(e, 'deleteRun', 'delete the run') });
  }
  await refreshRuns();
}

/**
 * The engine worker was replaced (it crashed or stopped answering): a run it was driving will
 * never report again. It is saved up to its last checkpoint and listed as interrupted.
 */
export function abandonLiveRun(): void {
  if (!isActivePhase(get().phase)) return;
  set({
    phase: 'failed',
    progress: null,
    error: 'The engine stopped during this run. The run is saved up to its last checkpoint: once the engine has restarted and the model is loaded, use “Resume from step N” below.',
  });
}

/** Put a past run's curves on the charts (the live run's stay while it is training). */
export function showRun(runId: string): void {
  const s = get();
  if (isActivePhase(s.phase) && s.liveRunId !== runId) return;
  const run = s.runs.find((r) => r.id === runId);
  if (run) set({ shownRunId: runId, history: run.history });
}

export function dismissRunError(): void {
  set({ error: null });
}
