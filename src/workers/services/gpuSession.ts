// The GPU session: acquiring the device (once, however many calls ask at the same time), its
// status, device-loss events for the page, and forgetting a lost device so a new one can be
// acquired (recoverDevice).
import { acquireGpu, type GpuContext } from '../../gpu/device';
import type { EngineEvents, EngineStatus } from '../api';

export class GpuSession {
  private ctx: GpuContext | null = null;
  private current: EngineStatus | null = null;
  private starting: Promise<EngineStatus> | null = null;
  private listeners: EngineEvents[] = [];

  /** onLost: called when the device is lost, before the page hears of it */
  constructor(
    private readonly gpuObject: GPU | undefined,
    private readonly onLost: () => void,
  ) {}

  /** the device now (null while there is none) */
  get context(): GpuContext | null {
    return this.ctx;
  }

  status(): EngineStatus | null {
    return this.current;
  }

  subscribe(events: EngineEvents): void {
    this.listeners.push(events);
  }

  private emit(kind: 'lost' | 'error', message: string) {
    for (const l of this.listeners) void l.onDeviceEvent(kind, message);
  }

  /** Acquire the GPU (idempotent). Never throws: failures come back as 'unavailable'. */
  async init(): Promise<EngineStatus> {
    if (this.ctx && this.current) return this.current;
    this.starting ??= this.start().finally(() => (this.starting = null));
    return this.starting;
  }

  private async start(): Promise<EngineStatus> {
    try {
      const c = await acquireGpu({
        gpu: this.gpuObject,
        timeoutMs: 15_000,
        onLost: (e) => {
          if (this.ctx !== c) return;
          this.ctx = null;
          this.onLost();
          this.current = { state: 'lost', error: e.message, adapter: c.description };
          this.emit('lost', e.message);
        },
        onUncapturedError: (m) => this.emit('error', m),
      });
      this.ctx = c;
      this.current = { state: 'ready', adapter: c.description };
    } catch (e) {
      this.current = { state: 'unavailable', error: (e as Error).message };
    }
    return this.current;
  }

  /** The device, or an error that says why there is none. */
  require(): GpuContext {
    if (!this.ctx) {
      const s = this.current;
      throw new Error(
        s?.state === 'lost'
          ? `The GPU was lost (${s.error}). Reconnect to continue.`
          : s?.state === 'unavailable'
            ? `WebGPU is not available: ${s.error}`
            : 'The GPU is not ready yet.',
      );
    }
    return this.ctx;
  }

  /**
   * Every action that needs the GPU starts here: a call that arrives while the device is still
   * being acquired (the page sends it as soon as the user clicks) waits for it instead of
   * failing; one that arrives before anyone asked for the GPU acquires it. A lost device stays
   * lost until recoverDevice().
   */
  async ready(): Promise<GpuContext> {
    if (!this.ctx && this.current?.state !== 'lost') await this.init();
    return this.require();
  }

  /** Forget the device (lost) so that the next init() acquires a new one. */
  forget(): void {
    this.ctx = null;
    this.current = null;
  }
}
