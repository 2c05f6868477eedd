// What one training step or one decoded token costs in GPU commands: compute passes, dispatches,
// queue submits, queue.writeBuffer calls (and their bytes), buffers and bind groups created. On
// real GPUs these counts often decide the speed of small models (every submit and pass has a fixed
// cost), so the benchmarks report them per step and per token.
//
// The counters are plain integers bumped where the commands are issued (src/gpu/dispatch.ts and
// the context's pass/flush in src/gpu/device.ts); submits, writes and buffer creations are counted
// by wrapping the device's own methods, so calls that bypass the context (a model's upload, a
// readback's staging buffer) count too. Reading them costs a copy of seven numbers.

export interface GpuCounts {
  /** compute passes begun through the context (ctx.computePass) */
  passes: number;
  /** dispatchWorkgroups calls made by dispatch() */
  dispatches: number;
  /** GPUQueue.submit calls */
  submits: number;
  /** GPUQueue.writeBuffer calls */
  writes: number;
  /** bytes written by those calls */
  writeBytes: number;
  /** GPUDevice.createBuffer calls (the allocator's and everyone else's) */
  buffers: number;
  /** bind groups made by dispatch() */
  bindGroups: number;
}

export const NO_COUNTS: Readonly<GpuCounts> = Object.freeze({ passes: 0, dispatches: 0, submits: 0, writes: 0, writeBytes: 0, buffers: 0, bindGroups: 0 });

export class GpuCounters implements GpuCounts {
  passes = 0;
  dispatches = 0;
  submits = 0;
  writes = 0;
  writeBytes = 0;
  buffers = 0;
  bindGroups = 0;

  /** The counts so far, as plain data. */
  snapshot(): GpuCounts {
    return { passes: this.passes, dispatches: this.dispatches, submits: this.submits, writes: this.writes, writeBytes: this.writeBytes, buffers: this.buffers, bindGroups: this.bindGroups };
  }

  /** What was counted since `before` (a snapshot). */
  since(before: GpuCounts): GpuCounts {
    return diffCounts(this.snapshot(), before);
  }
}

export function diffCounts(after: GpuCounts, before: GpuCounts): GpuCounts {
  return {
    passes: after.passes - before.passes,
    dispatches: after.dispatches - before.dispatches,
    submits: after.submits - before.submits,
    writes: after.writes - before.writes,
    writeBytes: after.writeBytes - before.writeBytes,
    buffers: after.buffers - before.buffers,
    bindGroups: after.bindGroups - before.bindGroups,
  };
}

/** counts / n, for "per step" and "per token" figures. */
export function perUnit(c: GpuCounts, n: number): GpuCounts {
  const d = Math.max(1, n);
  return {
    passes: c.passes / d,
    dispatches: c.dispatches / d,
    submits: c.submits / d,
    writes: c.writes / d,
    writeBytes: c.writeBytes / d,
    buffers: c.buffers / d,
    bindGroups: c.bindGroups / d,
  };
}

/**
 * Count the device's submits, buffer writes and buffer creations into `counters`, whoever calls
 * them. The wrappers are own properties of this device and its queue: other devices are untouched.
 */
export function countDeviceCalls(device: GPUDevice, counters: GpuCounters): void {
  const queue = device.queue;
  const submit = queue.submit;
  const writeBuffer = queue.writeBuffer;
  const createBuffer = device.createBuffer;
  queue.submit = function (buffers: Iterable<GPUCommandBuffer>) {
    counters.submits++;
    return submit.call(this, buffers);
  };
  queue.writeBuffer = function (this: GPUQueue, ...args: Parameters<GPUQueue['writeBuffer']>) {
    counters.writes++;
    counters.writeBytes += writtenBytes(args[2], args[3], args[4]);
    return writeBuffer.apply(this, args);
  } as GPUQueue['writeBuffer'];
  device.createBuffer = function (desc: GPUBufferDescriptor) {
    counters.buffers++;
    return createBuffer.call(this, desc);
  };
}

/** Bytes a writeBuffer(buffer, offset, data, dataOffset?, size?) call moves (offset and size in elements for typed arrays). */
function writtenBytes(data: BufferSource | SharedArrayBuffer, dataOffset?: number, size?: number): number {
  const elem = ArrayBuffer.isView(data) && 'BYTES_PER_ELEMENT' in data ? (data as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT : 1;
  const total = ArrayBuffer.isView(data) ? data.byteLength : (data as ArrayBuffer).byteLength;
  if (size !== undefined) return size * elem;
  return total - (dataOffset ?? 0) * elem;
}
