// Every GPU buffer goes through this allocator so that live and peak bytes are known exactly
// (the memory estimate is checked against it, and tests assert on what was allocated).

export interface AllocationRecord {
  label: string;
  size: number;
}

export class GpuAllocator {
  liveBytes = 0;
  peakBytes = 0;
  private live = new Map<GPUBuffer, AllocationRecord>();
  /** every allocation since the last resetLog(), for tests that look at sizes */
  log: AllocationRecord[] = [];

  constructor(private device: GPUDevice) {}

  create(size: number, usage: GPUBufferUsageFlags, label: string): GPUBuffer {
    // Zero-sized bindings are invalid, and mapped/copied sizes must be multiples of 4.
    const padded = Math.max(4, Math.ceil(size / 4) * 4);
    const buffer = this.device.createBuffer({ size: padded, usage, label });
    const rec = { label, size: padded };
    this.live.set(buffer, rec);
    this.log.push(rec);
    this.liveBytes += padded;
    if (this.liveBytes > this.peakBytes) this.peakBytes = this.liveBytes;
    return buffer;
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
