// Per-dispatch parameters. Each dispatch needs its own uniform bytes because queue.writeBuffer
// lands before the whole command buffer runs; so values are staged in CPU memory, given distinct
// aligned slots in shared buffers, and uploaded once per flush. An arena buffer holds 4096 slots
// of 256 bytes: a training step of a 24-layer model (a few thousand dispatches, one flush) uploads
// its uniforms in one or two writes; only the used bytes are written.

export const ARENA_BYTES = 1024 * 1024;

export interface UniformSlot {
  buffer: GPUBuffer;
  offset: number;
  size: number;
}

export class UniformArena {
  private buffers: GPUBuffer[] = [];
  private staging: Uint8Array<ArrayBuffer>[] = [];
  private used = 0; // bytes used across buffers in this flush
  private slot: number;

  constructor(
    private device: GPUDevice,
    alignment: number,
  ) {
    this.slot = Math.max(256, alignment);
  }

  /** Reserve a slot for `data` (at most 256 bytes) in this flush. */
  push(data: ArrayBufferView): UniformSlot {
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    if (bytes.byteLength > this.slot) throw new Error(`uniform block of ${bytes.byteLength} bytes exceeds ${this.slot}`);
    const index = Math.floor(this.used / ARENA_BYTES);
    const offset = this.used % ARENA_BYTES;
    if (index === this.buffers.length) {
      this.buffers.push(
        this.device.createBuffer({
          size: ARENA_BYTES,
          usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
          label: `uniform arena ${index}`,
        }),
      );
      this.staging.push(new Uint8Array(ARENA_BYTES));
    }
    this.staging[index].set(bytes, offset);
    this.used += this.slot;
    if (this.used % ARENA_BYTES !== 0 && ARENA_BYTES - (this.used % ARENA_BYTES) < this.slot) {
      this.used = Math.ceil(this.used / ARENA_BYTES) * ARENA_BYTES;
    }
    return { buffer: this.buffers[index], offset, size: Math.max(16, Math.ceil(bytes.byteLength / 16) * 16) };
  }

  upload(): void {
    const n = Math.ceil(this.used / ARENA_BYTES);
    for (let i = 0; i < n; i++) {
      const len = i < n - 1 ? ARENA_BYTES : this.used - i * ARENA_BYTES;
      this.device.queue.writeBuffer(this.buffers[i], 0, this.staging[i], 0, len);
    }
  }

  /** After a submit, slots can be reused: later writes are ordered after that submit. */
  recycle(): void {
    this.used = 0;
  }

  destroy(): void {
    for (const b of this.buffers) b.destroy();
    this.buffers = [];
    this.staging = [];
  }
}
