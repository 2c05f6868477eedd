// The one typed interface between the UI and the engine worker (exposed with comlink).
// Everything crossing it is plain data; GPU objects never leave the worker.
import type { AdapterDescription } from '../gpu/device';
import type { SelfTestCase } from '../gpu/selftest';

export type EngineStatus =
  | { state: 'ready'; adapter: AdapterDescription }
  | { state: 'unavailable'; error: string }
  | { state: 'lost'; error: string; adapter: AdapterDescription };

export interface EngineEvents {
  /** the device was lost or raised an uncaptured error */
  onDeviceEvent(kind: 'lost' | 'error', message: string): void;
}

export interface EngineApi {
  /** Acquire the GPU (idempotent). Never throws: failures come back as 'unavailable'. */
  init(): Promise<EngineStatus>;
  status(): Promise<EngineStatus | null>;
  /** Subscribe to device events (pass a comlink proxy). */
  subscribe(events: EngineEvents): Promise<void>;
  /** Run the matmul kernels against the TS reference inside the worker. */
  selfTest(): Promise<SelfTestCase[]>;
}
