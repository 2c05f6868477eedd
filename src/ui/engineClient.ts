// The UI's handle on the engine worker. Only stores call it; components never see the worker.
import * as Comlink from 'comlink';
import type { EngineApi } from '../workers/api';
import { DEBUG_PORT_KEY, ENGINE_TEST_WORKER_NAME, ENGINE_WORKER_NAME, type EngineDebugApi } from '../workers/debugChannel';

let worker: Worker | null = null;
let remote: Comlink.Remote<EngineApi> | null = null;
/** the current worker's fault-injection hooks (test mode only) */
let debugRemote: Comlink.Remote<EngineDebugApi> | null = null;

/** The dev server (which the Playwright tests use) or a page opened with `?test`: the test handle and hooks exist. */
function testMode(): boolean {
  return typeof window !== 'undefined' && (import.meta.env.DEV || new URLSearchParams(window.location.search).has('test'));
}

export function engine(): Comlink.Remote<EngineApi> {
  if (!remote) {
    worker = new Worker(new URL('../workers/engine.worker.ts', import.meta.url), { type: 'module', name: testMode() ? ENGINE_TEST_WORKER_NAME : ENGINE_WORKER_NAME });
    remote = Comlink.wrap<EngineApi>(worker);
    exposeForTests();
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

/**
 * Throw the worker away (it crashed, was killed or hangs); the next engine() call starts a fresh
 * one. Everything it held (the GPU device, the model, the adapter) is gone; saved runs are in
 * IndexedDB and stay. Pending calls on the old worker never settle: callers reset their state.
 */
export function discardEngineWorker(): void {
  worker?.terminate();
  worker = null;
  remote = null;
  debugRemote = null;
}

/**
 * A terminated or crashed worker sends nothing: no 'error' event, and calls to it never settle.
 * So the page pings it (status(), which answers at once unless the worker's thread is stuck) and
 * calls it silent when a ping has waited `silentAfterMs`. The engine awaits the GPU between
 * steps, so a training run does not delay the answer; a long synchronous stretch (tokenizing a
 * huge file) might, which is why `onAnswer` reports a worker that turned out to be only busy.
 */
export const HEARTBEAT = { everyMs: 5_000, silentAfterMs: 20_000 };

/** Watch the current worker. Returns a function that stops watching. */
export function watchEngine(onSilent: () => void, onAnswer: () => void): () => void {
  let pending: { at: number; to: Comlink.Remote<EngineApi> } | null = null;
  let silent = false;
  const tick = () => {
    const r = remote;
    if (!r) return;
    if (pending && pending.to === r) {
      if (!silent && performance.now() - pending.at > HEARTBEAT.silentAfterMs) {
        silent = true;
        onSilent();
      }
      return;
    }
    const ping = { at: performance.now(), to: r };
    pending = ping;
    // Any answer, a rejection included, shows the worker's thread is alive.
    const answered = () => {
      if (pending !== ping) return;
      pending = null;
      if (silent) {
        silent = false;
        onAnswer();
      }
    };
    r.status().then(answered, answered);
  };
  const id = setInterval(tick, HEARTBEAT.everyMs);
  return () => clearInterval(id);
}

/**
 * Test-only handle (e2e fault injection: debug.loseDevice(), debug.injectNaN(), killing the
 * worker), set on `window.__whetstoneEngine` in the dev server (which the Playwright tests use)
 * or when the page is opened with `?test`. Production builds without the flag do not expose it.
 */
export interface EngineTestHandle {
  /** the engine's API exactly as the stores call it (the current worker) */
  readonly api: Comlink.Remote<EngineApi>;
  /** the current worker's fault-injection hooks (src/workers/debugHooks.ts), on a port of their own */
  readonly debug: Comlink.Remote<EngineDebugApi>;
  /** wrap callbacks to pass to api methods (startTraining's events) */
  proxy: typeof Comlink.proxy;
  /** terminate the worker behind the UI's back: what a crash or a killed thread looks like to the page */
  killWorker(): void;
}

declare global {
  interface Window {
    __whetstoneEngine?: EngineTestHandle;
  }
}

function exposeForTests(): void {
  if (typeof window === 'undefined' || window.__whetstoneEngine) return;
  if (!testMode()) return;
  window.__whetstoneEngine = {
    get api() {
      return engine();
    },
    get debug() {
      engine();
      if (!debugRemote) {
        const channel = new MessageChannel();
        worker!.postMessage({ [DEBUG_PORT_KEY]: channel.port2 }, [channel.port2]);
        debugRemote = Comlink.wrap<EngineDebugApi>(channel.port1);
      }
      return debugRemote;
    },
    proxy: Comlink.proxy,
    killWorker: () => worker?.terminate(),
  };
}
