// Every GPU buffer goes through this allocator so that live and peak bytes are known exactly
// (the memory estimate is checked against it, and tests assert on what was allocated).
//
// Out of memory: WebGPU never throws from createBuffer; a buffer the GPU cannot hold comes back
// invalid and the failure is only reported through an 'out-of-memory' error scope, later. Each
// allocation therefore sits in its own scope, and checkOutOfMemory() collects what failed, so the
// trainer can stop with the name and size of the buffer that did not fit instead of running on
// invalid buffers.

/** Bytes in words: "12.3 MiB", "1.50 GiB". */
export function mib(bytes: number): string {
  return bytes >= 2 ** 30 ? `${(bytes / 2 ** 30).toFixed(2)} GiB` : `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}

export interface AllocationRecord {
  label: string;
  size: number;
}

export interface OutOfMemoryFailure {
  /** the buffer that could not be allocated */
  label: string;
  size: number;
  /** bytes this allocator held when it was asked for it */
  liveBytes: number;
  /** the GPU's own words (or the simulation's) */
  message: string;
}

export class GpuAllocator {
  liveBytes = 0;
  peakBytes = 0;
  private live = new Map<GPUBuffer, AllocationRecord>();
  /** every allocation since the last resetLog(), for tests that look at sizes */
  log: AllocationRecord[] = [];
  /**
   * Fault injection (tests): allocations that would take liveBytes above this limit fail as a real
   * out-of-memory would (the buffer is unusable, the failure is reported through checkOutOfMemory).
   */
  simulatedLimitBytes: number | null = null;
  private pending = new Set<Promise<void>>();
  private failures: OutOfMemoryFailure[] = [];
  /** buffers reported out of memory: caches that outlive a run must not keep handing them out */
  private failed = new WeakSet<GPUBuffer>();

  constructor(private device: GPUDevice) {}

  create(size: number, usage: GPUBufferUsageFlags, label: string): GPUBuffer {
    // Zero-sized bindings are invalid, and mapped/copied sizes must be multiples of 4.
    const padded = Math.max(4, Math.ceil(size / 4) * 4);
    const liveBefore = this.liveBytes;
    const simulated = this.simulatedLimitBytes !== null && liveBefore + padded > this.simulatedLimitBytes;
    this.device.pushErrorScope('out-of-memory');
    const buffer = this.device.createBuffer({ size: padded, usage, label });
    // a lost device rejects (or never reports): nothing to learn about memory then
    const popped = this.device.popErrorScope().catch(() => null);
    // a destroyed buffer fails every later use, as an invalid one does
    if (simulated) buffer.destroy();
    const check = popped.then((err) => {
      if (err || simulated) {
        this.failed.add(buffer);
        const message = err?.message || `simulated: only ${this.simulatedLimitBytes} bytes may be live`;
        this.failures.push({ label, size: padded, liveBytes: liveBefore, message });
      }
    });
    this.pending.add(check);
    void check.finally(() => this.pending.delete(check));
    const rec = { label, size: padded };
    this.live.set(buffer, rec);
    this.log.push(rec);
    this.liveBytes += padded;
    if (this.liveBytes > this.peakBytes) this.peakBytes = this.liveBytes;
    return buffer;
  }

  /**
   * The first allocation that ran out of GPU memory since the last call (null when all fit).
   * Waits for every allocation made so far to be reported.
   */
  async checkOutOfMemory(): Promise<OutOfMemoryFailure | null> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
    const first = this.failures[0] ?? null;
    this.failures = [];
    return first;
  }

  /** False for a buffer whose allocation was reported out of memory (known once reported). */
  usable(buffer: GPUBuffer): boolean {
    return !this.failed.has(buffer);
  }

  release(buffer: GPUBuffer): void {
    const rec = this.live.get(buffer);
    if (!rec) return;
    this.live.delete(buffer);
    this.liveBytes -= rec.size;
    buffer.destroy();
  }

  releaseAll(): void {
    for (const b of [...this.live.keys()]) this.release(b);
  }

  resetPeak(): void {
    this.peakBytes = this.liveBytes;
  }

  resetLog(): void {
    this.log = [];
  }

  /** live buffers by label, largest first (for memory reports) */
  liveBuffers(): AllocationRecord[] {
    return [...this.live.values()].sort((a, b) => b.size - a.size);
  }
}
