// The engine worker: owns the GPUDevice and runs every kernel. The UI reaches it only through
// the EngineApi interface (comlink).
import * as Comlink from 'comlink';
import { acquireGpu, type GpuContext } from '../gpu/device';
import { runSelfTest } from '../gpu/selftest';
import type { EngineApi, EngineEvents, EngineStatus } from './api';

let ctx: GpuContext | null = null;
let status: EngineStatus | null = null;
let starting: Promise<EngineStatus> | null = null;
const listeners: EngineEvents[] = [];

function emit(kind: 'lost' | 'error', message: string) {
  for (const l of listeners) void l.onDeviceEvent(kind, message);
}

async function start(): Promise<EngineStatus> {
  try {
    const c = await acquireGpu({
      timeoutMs: 15_000,
      onLost: (e) => {
        if (ctx !== c) return;
        ctx = null;
        status = { state: 'lost', error: e.message, adapter: c.description };
        emit('lost', e.message);
      },
      onUncapturedError: (m) => emit('error', m),
    });
    ctx = c;
    status = { state: 'ready', adapter: c.description };
  } catch (e) {
    status = { state: 'unavailable', error: (e as Error).message };
  }
  return status;
}

function requireGpu(): GpuContext {
  if (!ctx) throw new Error(status?.state === 'lost' ? `The GPU was lost: ${status.error}` : 'The GPU is not ready yet');
  return ctx;
}

// The model, dataset, training and export methods are being added (src/workers/engine.ts).
const api: Pick<EngineApi, 'init' | 'status' | 'subscribe' | 'selfTest'> = {
  async init() {
    if (ctx && status) return status;
    starting ??= start().finally(() => (starting = null));
    return starting;
  },
  async status() {
    return status;
  },
  async subscribe(events) {
    listeners.push(events);
  },
  async selfTest() {
    return runSelfTest(requireGpu());
  },
};

Comlink.expose(api);
