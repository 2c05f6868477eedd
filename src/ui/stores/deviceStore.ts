// Device slice: what the UI knows about the GPU. Plain data only; actions at module level so
// worker callbacks can call them.
import { create } from 'zustand';
import type { AdapterDescription } from '../../gpu/device';
import type { SelfTestCase } from '../../gpu/selftest';
import { engine, HEARTBEAT, onWorkerError, proxy, watchEngine } from '../engineClient';
import { errorText } from '../lib/errors';
import { forgetHeldAdapter } from './exportStore';

export interface DeviceState {
  /** stopped: the engine worker crashed or stopped answering (restartEngine() starts a new one) */
  status: 'idle' | 'starting' | 'ready' | 'unavailable' | 'lost' | 'stopped';
  adapter: AdapterDescription | null;
  error: string | null;
  selfTest: { running: boolean; results: SelfTestCase[] | null; error: string | null };
}

export const useDeviceStore = create<DeviceState>(() => ({
  status: 'idle',
  adapter: null,
  error: null,
  selfTest: { running: false, results: null, error: null },
}));

const set = useDeviceStore.setState;

let stopWatching: (() => void) | null = null;

function engineStopped(why: string): void {
  set({ status: 'stopped', error: `${why} Restart it: saved runs are kept and can be resumed from their last checkpoint.` });
}

export async function startEngine(): Promise<void> {
  if (useDeviceStore.getState().status === 'starting') return;
  set({ status: 'starting', error: null });
  try {
    onWorkerError((message) => engineStopped(`The engine crashed (${message}).`));
    stopWatching?.();
    stopWatching = watchEngine(
      () => engineStopped(`The engine has not answered for ${HEARTBEAT.silentAfterMs / 1000} s: it crashed or is stuck.`),
      () => void answeredAgain(),
    );
    await engine().subscribe(
      proxy({
        onDeviceEvent(kind: 'lost' | 'error', message: string) {
          if (kind === 'lost') {
            set({ status: 'lost', error: message });
            forgetHeldAdapter(); // the adapter lived on the lost device
          }
          else console.warn('[whetstone] GPU error:', message);
        },
      }),
    );
    const s = await engine().init();
    if (s.state === 'ready') set({ status: 'ready', adapter: s.adapter, error: null });
    else if (s.state === 'lost') set({ status: 'lost', adapter: s.adapter, error: s.error });
    else set({ status: 'unavailable', adapter: null, error: s.error });
  } catch (e) {
    set({ status: 'unavailable', error: (e as Error).message });
  }
}

export async function runGpuSelfTest(): Promise<void> {
  set({ selfTest: { running: true, results: null, error: null } });
  try {
    const results = await engine().selfTest();
    set({ selfTest: { running: false, results, error: null } });
  } catch (e) {
    set({ selfTest: { running: false, results: null, error: (e as Error).message } });
  }
}

/** A silent engine answered after all (it was busy, not dead): show where the GPU stands. */
async function answeredAgain(): Promise<void> {
  if (useDeviceStore.getState().status !== 'stopped') return;
  try {
    const s = await engine().status();
    if (s?.state === 'ready') set({ status: 'ready', adapter: s.adapter, error: null });
    else if (s?.state === 'lost') set({ status: 'lost', adapter: s.adapter, error: s.error });
    else if (s?.state === 'unavailable') set({ status: 'unavailable', error: s.error });
  } catch {
    // keep 'stopped': the banner still offers the restart
  }
}

/** Ask the engine where the GPU stands (it may have recovered a lost device by itself). */
export async function refreshGpuStatus(): Promise<void> {
  try {
    const s = await engine().status();
    if (s?.state === 'ready') set({ status: 'ready', adapter: s.adapter, error: null });
  } catch {
    // keep what we know; the banner still offers to reconnect
  }
}

/** After a device loss: a new device, with the loaded model uploaded to it again. */
export async function reconnectGpu(): Promise<void> {
  set({ status: 'starting', error: null });
  try {
    const s = await engine().recoverDevice();
    if (s.state === 'ready') set({ status: 'ready', adapter: s.adapter, error: null });
    else if (s.state === 'lost') set({ status: 'lost', adapter: s.adapter, error: s.error });
    else set({ status: 'unavailable', error: s.error });
  } catch (e) {
    set({ status: 'lost', error: `Reconnecting failed: ${errorText(e)}. Reload the page to start again (saved runs are kept).` });
  }
}
