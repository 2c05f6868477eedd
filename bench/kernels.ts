// The kernel benchmark page (bench/kernels.html), driven by bench/run-kernels.mjs in headless
// Chromium: window.runKernelBench() measures and returns KernelBenchResults; progress goes to the
// console (the runner prints it) and to the page. Asserts nothing about speed.
//   - the adapter's FMA-only peak (fma_peak.wgsl)
//   - y = x·Wᵀ (fp16 W) at 256³, 512³, 1024³ and two LLM shapes: the autotuner's per-variant
//     timings, its winner re-timed (also with f32 W), and tfjs-backend-webgpu's tf.matMul (f32)
//   - dx = dy·W and dW = dyᵀ·x at the LLM shapes (tuned winner)
//   - attention forward + backward (src/gpu/ops/attention.ts), version 1 and version 2
//     (FlashAttention-2 tiles) with the backward/forward rate, and a LoRA layer forward + backward
//     (base matmul + src/gpu/ops/lora.ts)
//   - the row reductions (RMSNorm, LayerNorm, cross-entropy, gradient norm): the version each op
//     runs on this device and why, and every version's time (bench/rowKernelsMeasure.ts)
// Times are medians of a few reps after warm-up (big shapes: fewer reps; each takes seconds here).
// The measurements themselves are in bench/kernelMeasure.ts (the GPU kit's Node runner uses them too).
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-webgpu';
import { acquireGpu, type AdapterDescription } from '../src/gpu/device';
import { browserTuneStore } from '../src/gpu/tune/idbStore';
import { MemoryTuneStore } from '../src/gpu/tune/store';
import { tuneMatmul } from '../src/gpu/tune/matmulTuner';
import { randn } from '../src/util/random';
import {
  benchAttention,
  benchBackward,
  benchLora,
  benchMatmulShape,
  cpuRate,
  measurePeak,
  median,
  type AttentionRow,
  type BackwardRow,
  type LoraRow,
  type MatmulRow,
  type Probe,
} from './kernelMeasure';
import { benchRowKernels, type RowKernelBench } from './rowKernelsMeasure';

export type { AttentionRow, BackwardRow, LoraRow, MatmulRow };

export interface KernelBenchResults {
  date: string;
  userAgent: string;
  adapter: AdapterDescription;
  peakGflops: number;
  /** the peak in GFLOP per CPU-second of the GPU process (null without /proc) */
  peakCpuGflops: number | null;
  matmul: MatmulRow[];
  backward: BackwardRow[];
  attention: AttentionRow[] | string;
  lora: LoraRow[] | string;
  /** the row reductions' versions: this device's choices and each version's time */
  rowKernels: RowKernelBench;
  tfjs: string;
  seconds: number;
  /** after a page reload, where each matmul shape's winner came from (expected: 'store', IndexedDB) */
  persistence?: { shape: string; source: string; winner: string }[];
}

export interface KernelBenchOptions {
  /** override the matmul shapes [m, n, k] (default: 256³, 512³, 1024³, 512x1536x576, 512x576x1536) */
  shapes?: [number, number, number][];
  attentionT?: number[];
  /** [m, n, k] for dx = dy·W and dW = dyᵀ·x (default: the two LLM shapes) */
  backwardShapes?: [number, number, number][];
  /** [tokens, in, out] of the LoRA layer (default: 512 x 576 -> 1536 and 512 x 1536 -> 576) */
  loraShapes?: [number, number, number][];
  skipTfjs?: boolean;
}

const LLM_SHAPES: [number, number, number][] = [
  [512, 1536, 576],
  [512, 576, 1536],
];

const DEFAULT_SHAPES: [number, number, number][] = [
  [256, 256, 256],
  [512, 512, 512],
  [1024, 1024, 1024],
  [512, 1536, 576], // tokens x 576 -> 1536 (SmolLM2-135M up/gate projections)
  [512, 576, 1536], // tokens x 1536 -> 576 (down projection)
];

function log(line: string): void {
  console.log(`[bench] ${line}`);
  const el = document.getElementById('log');
  if (el) el.textContent += `${line}\n`;
}

/** CPU seconds of Chromium's GPU process so far, from the runner (null when it cannot tell). */
const probe: Probe = {
  log,
  cpuSeconds: async () => (window.__gpuCpuSeconds ? window.__gpuCpuSeconds() : null),
};

async function tfjsMatmulGflops(m: number, n: number, k: number): Promise<{ gflops: number; cpuGflops: number | null }> {
  const a = tf.tensor2d(randn(m * k, 1), [m, k]);
  const b = tf.tensor2d(randn(n * k, 2, 0.5), [n, k]);
  const run = async () => {
    const c = tf.matMul(a, b, false, true);
    await c.data();
    c.dispose();
  };
  await run(); // compiles tfjs's program
  const ts: number[] = [];
  // one rep where a run takes seconds (tfjs is several times slower than our kernels here)
  const reps = m * n * k > 5e8 ? 1 : 3;
  const { cpuGflops } = await cpuRate(probe, 2 * m * n * k, async () => {
    for (let i = 0; i < reps; i++) {
      const t0 = performance.now();
      await run();
      ts.push(performance.now() - t0);
    }
    return { runs: reps };
  });
  a.dispose();
  b.dispose();
  return { gflops: (2 * m * n * k) / median(ts) / 1e6, cpuGflops };
}

export async function runKernelBench(opts: KernelBenchOptions = {}): Promise<KernelBenchResults> {
  const started = performance.now();
  const ctx = await acquireGpu({ timeoutMs: 30_000 });
  const d = ctx.description;
  log(`adapter: ${d.name} (software: ${d.isSoftware}, subgroups: ${d.features.subgroups}, timestamps: ${d.features.timestampQuery})`);

  const peak = await measurePeak(ctx, probe);
  const peakGflops = peak.gflops;
  log(`FMA-only peak: ${peakGflops.toFixed(2)} GFLOP/s${peak.cpuGflops ? `, ${peak.cpuGflops.toFixed(2)} GFLOP per CPU-second` : ''}`);

  let tfjsStatus = 'skipped';
  if (!opts.skipTfjs) {
    try {
      await tf.setBackend('webgpu');
      await tf.ready();
      tfjsStatus = `tfjs-core ${tf.version_core}, backend ${tf.getBackend()}`;
    } catch (e) {
      tfjsStatus = `unavailable: ${(e as Error).message}`;
    }
    log(`tfjs: ${tfjsStatus}`);
  }
  const tfjsOk = tfjsStatus.startsWith('tfjs-core') && tf.getBackend() === 'webgpu';

  // Winners persist in IndexedDB (the app's store); a rerun shows the remembered winner, then
  // re-measures every variant anyway (this is a benchmark).
  const store = browserTuneStore() ?? new MemoryTuneStore();
  const matmul: MatmulRow[] = [];
  for (const shape of opts.shapes ?? DEFAULT_SHAPES) matmul.push(await benchMatmulShape(ctx, probe, store, shape, peak, tfjsOk ? tfjsMatmulGflops : null));
  const backward: BackwardRow[] = await benchBackward(ctx, probe, store, opts.backwardShapes ?? LLM_SHAPES, peakGflops);

  log('attention forward + backward (src/gpu/ops/attention.ts)');
  const attention = await benchAttention(ctx, probe, opts.attentionT ?? [128, 256, 512]);
  log('LoRA layer forward + backward (matmul + src/gpu/ops/lora.ts)');
  const lora = await benchLora(ctx, probe, opts.loraShapes ?? LLM_SHAPES);
  log('row reductions, version 1 (workgroup memory) and 2 (subgroups) (src/gpu/ops/rowKernels.ts)');
  const rowKernels = await benchRowKernels(ctx, probe);

  ctx.destroy();
  return {
    date: new Date().toISOString(),
    userAgent: navigator.userAgent,
    adapter: d,
    peakGflops,
    peakCpuGflops: peak.cpuGflops,
    matmul,
    backward,
    attention,
    lora,
    rowKernels,
    tfjs: tfjsStatus,
    seconds: (performance.now() - started) / 1000,
  };
}

/**
 * After a page reload: are the winners of runKernelBench's matmul shapes still known? They should
 * come back from IndexedDB (source 'store') without timing anything.
 */
export async function checkTunePersistence(shapes: [number, number, number][] = DEFAULT_SHAPES): Promise<{ shape: string; source: string; winner: string }[]> {
  const ctx = await acquireGpu({ timeoutMs: 30_000 });
  const store = browserTuneStore();
  if (!store) throw new Error('no IndexedDB in this page');
  const out = [];
  for (const [m, n, k] of shapes) {
    // a persisted winner returns before anything is timed; were it missing, only v1 would be timed
    const r = await tuneMatmul(ctx, { op: 'xwt', m, n, k, wDtype: 'f16' }, { store, candidates: ['v1_16x16'], reps: 1 });
    out.push({ shape: `${m}x${n}x${k}`, source: r.source, winner: r.winner });
  }
  ctx.destroy();
  return out;
}

declare global {
  interface Window {
    runKernelBench: typeof runKernelBench;
    checkTunePersistence: typeof checkTunePersistence;
    /** exposed by bench/run-kernels.mjs */
    __gpuCpuSeconds?: () => Promise<number | null>;
  }
}

window.runKernelBench = runKernelBench;
window.checkTunePersistence = checkTunePersistence;
if (new URLSearchParams(location.search).has('run')) {
  runKernelBench().then(
    (r) => log(JSON.stringify(r, null, 2)),
    (e) => log(`failed: ${(e as Error).stack ?? e}`),
  );
}
