// The UI's handle on the engine worker. Only stores call it; components never see the worker.
import * as Comlink from 'comlink';
import type { EngineApi } from '../workers/api';

let worker: Worker | null = null;
let remote: Comlink.Remote<EngineApi> | null = null;

export function engine(): Comlink.Remote<EngineApi> {
  if (!remote) {
    worker = new Worker(new URL('../workers/engine.worker.ts', import.meta.url), { type: 'module', name: 'whetstone-engine' });
    remote = Comlink.wrap<EngineApi>(worker);
  }
  return remote;
}

/** Wrap a callback object so the worker can call back into the page. */
export function proxy<T extends object>(obj: T): T & Comlink.ProxyMarked {
  return Comlink.proxy(obj);
}

export function onWorkerError(cb: (message: string) => void): void {
  engine();
  worker?.addEventListener('error', (e) => cb(e.message || 'the engine worker crashed'));
}
