// Test-only fault injection (unit tests and the e2e reliability tests), kept out of EngineApi:
// the production worker never exposes it. Node tests call engineDebug(engine) directly; in the
// browser the worker installs it on a separate comlink port only when it was started in test mode
// (see engine.worker.ts and src/ui/engineClient.ts).
import type { GpuContext } from '../gpu/device';
import { coreOf, type Engine } from './engine';
import type { Trained } from './services/trained';

/** What the page may call in test mode (plain data in and out). */
export interface EngineDebugApi {
  /** Destroy the GPU device as a driver reset would. */
  loseDevice(): Promise<void>;
  /** Make the gradients of optimizer step `step` of the current or next run NaN (exercises detection and rollback). */
  injectNaN(step: number): Promise<void>;
  /** Simulate a GPU with only `freeBytes` more memory than is in use now (null: no limit); allocations beyond it fail as a real out-of-memory does. */
  simulateGpuMemory(freeBytes: number | null): Promise<void>;
}

/** The hooks, plus what Node tests inspect (the device, what was trained). */
export interface EngineDebug extends EngineDebugApi {
  /** the GPU device now (throws when there is none) */
  gpu(): GpuContext;
  /** what was trained or imported last */
  trained(): Trained;
}

export function engineDebug(engine: Engine): EngineDebug {
  const core = coreOf(engine);
  return {
    async loseDevice() {
      core.gpu.context?.device.destroy();
    },
    async injectNaN(step) {
      core.pendingNaNStep = step;
      if (core.training) core.training.trainer.nanAtStep = step;
    },
    async simulateGpuMemory(freeBytes) {
      const a = core.gpu.require().allocator;
      a.simulatedLimitBytes = freeBytes === null ? null : a.liveBytes + freeBytes;
    },
    gpu: () => core.gpu.require(),
    trained: () => core.trained,
  };
}

/** Only the hooks (what the worker exposes to a page in test mode). */
export function engineDebugApi(engine: Engine): EngineDebugApi {
  const { loseDevice, injectNaN, simulateGpuMemory } = engineDebug(engine);
  return { loseDevice, injectNaN, simulateGpuMemory };
}
