// Per-pass GPU timing of whatever runs through a GpuContext (a training step, a generation step),
// without touching the model code: every op records its dispatch into its own compute pass from
// ctx.encoder() (src/gpu/dispatch.ts), so wrapping ctx.encoder() is enough.
//
// - With 'timestamp-query', each compute pass gets a begin/end timestamp pair; end() resolves them
//   and returns one record per pass with its label (ops label their passes "matmulXWt ...",
//   "attention fwd ...", "rmsnorm_forward ...").
// - Without it (or to cross-check), `only` turns every pass outside one category into a no-op:
//   timing a step with only matmuls, only attention, only the other ops, and none at all gives each
//   category's time by difference from the "none" step (which still pays for recording, submits
//   and the readback). Results computed in such a step are garbage; time it after the real steps.
//
// Passes that already carry timestampWrites (timeGpu's brackets) are left alone and not recorded.
// Instrumentation buffers are made with device.createBuffer, not the allocator, so the
// allocator's peak stays the model's own.
import type { GpuContext } from '../gpu/device';

export type PassCategory = 'matmul' | 'attention' | 'other';

/** The category of a pass from its label: base and LoRA matmuls, attention, everything else. */
export function passCategory(label: string): PassCategory {
  if (/^matmul/.test(label) || /^lora /.test(label)) return 'matmul';
  if (/^attention/.test(label)) return 'attention';
  return 'other';
}

export interface PassRecord {
  label: string;
  category: PassCategory;
  ms: number;
}

export interface CategoryTimes {
  matmul: number;
  attention: number;
  other: number;
}

export function sumByCategory(passes: readonly PassRecord[]): CategoryTimes {
  const t: CategoryTimes = { matmul: 0, attention: 0, other: 0 };
  for (const p of passes) t[p.category] += p.ms;
  return t;
}

/** WebGPU caps a query set at 4096 queries: 2048 passes per set. */
const QUERIES_PER_SET = 4096;

const NOOP_PASS = {
  label: 'skipped by PassTimer',
  setPipeline() {},
  setBindGroup() {},
  dispatchWorkgroups() {},
  dispatchWorkgroupsIndirect() {},
  pushDebugGroup() {},
  popDebugGroup() {},
  insertDebugMarker() {},
  end() {},
} as unknown as GPUComputePassEncoder;

interface Pending {
  label: string;
  set: number;
  index: number;
}

export class PassTimer {
  /** null: every pass runs; a category: only its passes run; 'none': no pass runs */
  only: PassCategory | 'none' | null = null;
  readonly timestamps: boolean;
  private readonly original: () => GPUCommandEncoder;
  private wrapped = new WeakMap<GPUCommandEncoder, GPUCommandEncoder>();
  private sets: GPUQuerySet[] = [];
  private pending: Pending[] = [];
  private skipped = 0;
  private installed = true;
  private readonly merged: boolean;

  constructor(
    private ctx: GpuContext,
    opts: { timestamps?: boolean } = {},
  ) {
    this.timestamps = (opts.timestamps ?? true) && ctx.device.features.has('timestamp-query');
    this.original = ctx.encoder;
    ctx.encoder = () => this.wrap(this.original.call(ctx));
    // one pass per dispatch while timing: a shared pass would time many ops under one label
    this.merged = ctx.mergePasses;
    ctx.mergePasses = false;
  }

  /** passes skipped by `only` since the last begin() */
  get skippedPasses(): number {
    return this.skipped;
  }

  /** Start a new measurement window (forgets passes recorded before). */
  begin(): void {
    this.pending = [];
    this.skipped = 0;
  }

  private wrap(enc: GPUCommandEncoder): GPUCommandEncoder {
    let w = this.wrapped.get(enc);
    if (!w) {
      w = new Proxy(enc, {
        get: (target, prop) => {
          if (prop === 'beginComputePass') return (desc?: GPUComputePassDescriptor) => this.beginPass(target, desc);
          const v = Reflect.get(target, prop, target) as unknown;
          // native methods need the real encoder as `this`
          return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
        },
      });
      this.wrapped.set(enc, w);
    }
    return w;
  }

  private beginPass(enc: GPUCommandEncoder, desc: GPUComputePassDescriptor = {}): GPUComputePassEncoder {
    if (desc.timestampWrites) return enc.beginComputePass(desc);
    const label = desc.label ?? '';
    if (this.only !== null && (this.only === 'none' || passCategory(label) !== this.only)) {
      this.skipped++;
      return NOOP_PASS;
    }
    if (!this.timestamps) return enc.beginComputePass(desc);
    const slot = this.pending.length;
    const set = Math.floor((2 * slot) / QUERIES_PER_SET);
    const index = (2 * slot) % QUERIES_PER_SET;
    while (this.sets.length <= set) {
      this.sets.push(this.ctx.device.createQuerySet({ type: 'timestamp', count: QUERIES_PER_SET, label: `pass timer ${this.sets.length}` }));
    }
    this.pending.push({ label, set, index });
    return enc.beginComputePass({ ...desc, timestampWrites: { querySet: this.sets[set], beginningOfPassWriteIndex: index, endOfPassWriteIndex: index + 1 } });
  }

  /**
   * The passes recorded since begin(), with their GPU times when timestamps are on (ms 0 and
   * `timed` false otherwise). Submits whatever is still unsubmitted and waits for it.
   */
  async end(): Promise<{ passes: PassRecord[]; timed: boolean }> {
    const pending = this.pending;
    this.pending = [];
    const records = pending.map((p) => ({ label: p.label, category: passCategory(p.label), ms: 0 }));
    if (!this.timestamps || pending.length === 0) {
      this.ctx.flush();
      await this.ctx.device.queue.onSubmittedWorkDone();
      return { passes: records, timed: false };
    }
    const usedSets = Math.floor((2 * (pending.length - 1)) / QUERIES_PER_SET) + 1;
    const bytes = usedSets * QUERIES_PER_SET * 8;
    const resolve = this.ctx.device.createBuffer({ size: bytes, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC, label: 'pass timer resolve' });
    const read = this.ctx.device.createBuffer({ size: bytes, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, label: 'pass timer read' });
    const enc = this.original.call(this.ctx);
    for (let s = 0; s < usedSets; s++) {
      const count = s < usedSets - 1 ? QUERIES_PER_SET : 2 * pending.length - s * QUERIES_PER_SET;
      enc.resolveQuerySet(this.sets[s], 0, count, resolve, s * QUERIES_PER_SET * 8);
    }
    enc.copyBufferToBuffer(resolve, 0, read, 0, bytes);
    this.ctx.flush();
    await read.mapAsync(GPUMapMode.READ);
    const ns = new BigInt64Array(read.getMappedRange().slice(0));
    read.unmap();
    resolve.destroy();
    read.destroy();
    let timed = true;
    for (let i = 0; i < pending.length; i++) {
      const at = pending[i].set * QUERIES_PER_SET + pending[i].index;
      const t0 = ns[at];
      const t1 = ns[at + 1];
      // an unwritten or reordered pair means the timestamps cannot be trusted on this adapter
      if (t0 <= 0n || t1 < t0) timed = false;
      records[i].ms = Number(t1 - t0) / 1e6;
    }
    return { passes: records, timed };
  }

  /** Restore ctx.encoder and free the query sets. */
  uninstall(): void {
    if (!this.installed) return;
    this.installed = false;
    this.ctx.encoder = this.original;
    this.ctx.mergePasses = this.merged;
    for (const s of this.sets) s.destroy();
    this.sets = [];
  }
}
