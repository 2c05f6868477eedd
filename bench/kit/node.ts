// The GPU kit's benchmark runner in Node (bundled by `npm run gpu-kit` into gpu-kit/app/kit.mjs;
// the webgpu package's dawn.node travels beside it). One part per process, so a crash or a hang in
// one part costs only that part (scripts/gpu-kit-run.mjs starts each with a time limit):
//
//   node kit.mjs adapter  --out FILE            the adapter: name, features, limits
//   node kit.mjs kernels  --out FILE [--dry-run] [--deadline-ms N]
//   node kit.mjs training --model smollm2-135m-shape|qwen2.5-0.5b-shape --out FILE [--dry-run] [--deadline-ms N]
//
// --dry-run: tiny shapes and 1 step, to check the kit on a CPU adapter (SwiftShader) in seconds.
// --deadline-ms: time this part may take; measured steps and kernel shapes are cut to fit.
// The file gets { part, ok: true, adapter, result } or { part, ok: false, error }.
import './globals';
import { writeFileSync } from 'node:fs';
import { create } from 'webgpu';
import { acquireGpu, type GpuContext } from '../../src/gpu/device';
import { MemoryTuneStore } from '../../src/gpu/tune/store';
import { createRandomModel, SMOLLM2_135M_SHAPE, type ModelShape } from '../../src/model/randomModel';
import { benchAttention, benchBackward, benchLora, benchMatmulShape, measurePeak, type MatmulRow, type Probe } from '../kernelMeasure';
import { runTrainingCase } from '../trainingCase';
import type { TrainingCase } from '../trainingTypes';

/**
 * Qwen/Qwen2.5-0.5B's shape (its config.json), built in the Llama layout: the q/k/v biases of
 * Qwen2 are left out (0.1% of the projections' FLOPs), rope_theta 1e6, tied embeddings.
 */
export const QWEN25_05B_SHAPE: Readonly<ModelShape> = Object.freeze({
  hiddenSize: 896,
  intermediateSize: 4864,
  numLayers: 24,
  numHeads: 14,
  numKvHeads: 2,
  headDim: 64,
  vocabSize: 151936,
  tieWordEmbeddings: true,
  maxPositions: 32768,
  ropeTheta: 1000000,
  rmsNormEps: 1e-6,
});

export const KIT_MODELS: Record<string, { shape: Readonly<ModelShape>; name: string }> = {
  'smollm2-135m-shape': { shape: SMOLLM2_135M_SHAPE, name: 'SmolLM2-135M shape (random weights)' },
  'qwen2.5-0.5b-shape': { shape: QWEN25_05B_SHAPE, name: 'Qwen2.5-0.5B shape (random weights, no q/k/v bias)' },
};

/** Tiny stand-ins for the dry run: same code paths, seconds on a CPU. */
const DRY_SHAPE: ModelShape = { hiddenSize: 64, intermediateSize: 96, numLayers: 1, numHeads: 4, numKvHeads: 2, headDim: 16, vocabSize: 512 };

interface Args {
  part: string;
  out: string;
  model: string | null;
  dryRun: boolean;
  deadlineMs: number | null;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { part: argv[0] ?? '', out: '', model: null, dryRun: false, deadlineMs: null };
  for (let i = 1; i < argv.length; i++) {
    const k = argv[i];
    if (k === '--out') a.out = argv[++i];
    else if (k === '--model') a.model = argv[++i];
    else if (k === '--dry-run') a.dryRun = true;
    else if (k === '--deadline-ms') a.deadlineMs = Number(argv[++i]);
    else throw new Error(`unknown option ${k}; see the header of bench/kit/node.ts`);
  }
  if (!['adapter', 'kernels', 'training'].includes(a.part)) throw new Error(`the part must be adapter, kernels or training, got "${a.part}"`);
  if (!a.out) throw new Error('--out FILE is required');
  return a;
}

const log = (line: string) => console.log(line);
const probe: Probe = { log, cpuSeconds: async () => null };

function adapterInfo(ctx: GpuContext) {
  const info = ctx.adapter.info ?? ({} as GPUAdapterInfo);
  return {
    description: ctx.description,
    info: { vendor: info.vendor, architecture: info.architecture, device: info.device, description: info.description },
    adapterFeatures: [...ctx.adapter.features].sort(),
    deviceFeatures: [...ctx.device.features].sort(),
  };
}

/** Kernel shapes of the two models' LoRA steps (B=4 x T=256 = 1024 tokens), or tiny ones. */
function kernelPlan(dry: boolean) {
  if (dry) {
    return {
      matmul: [[64, 96, 64]] as [number, number, number][],
      backward: [[64, 96, 64]] as [number, number, number][],
      attention: [{ T: 32, heads: { Hq: 4, Hkv: 2, D: 16 }, model: 'tiny' }],
      lora: [[64, 64, 96]] as [number, number, number][],
    };
  }
  const N = 1024;
  return {
    matmul: [
      [4096, 4096, 4096],
      [N, 4864, 896], // Qwen2.5-0.5B gate/up
      [N, 896, 4864], // Qwen2.5-0.5B down
      [N, 896, 896], // Qwen2.5-0.5B q/o
      [N, 1536, 576], // SmolLM2-135M gate/up
      [N, 576, 1536], // SmolLM2-135M down
      [N, 576, 576], // SmolLM2-135M q/o
    ] as [number, number, number][],
    backward: [
      [N, 4864, 896],
      [N, 896, 4864],
      [N, 1536, 576],
    ] as [number, number, number][],
    attention: [
      { T: 256, heads: { Hq: 14, Hkv: 2, D: 64 }, model: 'qwen2.5-0.5b' },
      { T: 1024, heads: { Hq: 14, Hkv: 2, D: 64 }, model: 'qwen2.5-0.5b' },
      { T: 256, heads: { Hq: 9, Hkv: 3, D: 64 }, model: 'smollm2-135m' },
    ],
    lora: [
      [N, 896, 4864],
      [N, 4864, 896],
      [N, 576, 1536],
    ] as [number, number, number][],
  };
}

async function kernels(ctx: GpuContext, a: Args) {
  const t0 = Date.now();
  const deadline = a.deadlineMs ? t0 + a.deadlineMs : null;
  const left = () => (deadline === null ? Infinity : deadline - Date.now());
  const plan = kernelPlan(a.dryRun);
  const skipped: string[] = [];
  const peak = await measurePeak(ctx, probe);
  log(`FMA-only peak: ${peak.gflops.toFixed(2)} GFLOP/s`);
  const store = new MemoryTuneStore();
  const matmul: MatmulRow[] = [];
  for (const s of plan.matmul) {
    // each later section needs its share: stop tuning shapes with less than 40% of the time left
    if (left() < 0.4 * (a.deadlineMs ?? 0)) {
      skipped.push(`matmul ${s.join('x')}`);
      continue;
    }
    // the dry run checks the path, not the tuner: two variants per shape
    matmul.push(await benchMatmulShape(ctx, probe, store, s, peak, null, a.dryRun ? 2 : undefined));
  }
  const backward = left() > 0.25 * (a.deadlineMs ?? 0) ? await benchBackward(ctx, probe, store, plan.backward, peak.gflops, a.dryRun ? 2 : undefined) : (skipped.push('backward'), []);
  const attention = [];
  for (const p of plan.attention) {
    if (left() < 0.1 * (a.deadlineMs ?? 0)) {
      skipped.push(`attention ${p.model} T=${p.T}`);
      continue;
    }
    for (const row of await benchAttention(ctx, probe, [p.T], p.heads)) attention.push({ model: p.model, ...row, bwdOverFwd: row.bwdMs / row.fwdMs });
  }
  const lora = left() > 0.05 * (a.deadlineMs ?? 0) ? await benchLora(ctx, probe, plan.lora) : (skipped.push('lora'), []);
  return { peakGflops: peak.gflops, matmul, backward, attention, lora, skipped, seconds: (Date.now() - t0) / 1000 };
}

async function training(ctx: GpuContext, a: Args) {
  const model = a.model ?? '';
  const m = KIT_MODELS[model];
  if (!m) throw new Error(`unknown --model "${model}"; one of ${Object.keys(KIT_MODELS).join(', ')}`);
  const shape = a.dryRun ? DRY_SHAPE : m.shape;
  const kase: TrainingCase = {
    model: model as TrainingCase['model'],
    layers: null,
    // the kit runs on a GPU; on a software adapter (the dry run) the tiny shape is already small
    layersOnSoftware: null,
    batchSize: a.dryRun ? 1 : 4,
    seqLen: a.dryRun ? 16 : 256,
    rank: 16,
    warmup: a.dryRun ? 2 : 2,
    steps: a.dryRun ? 1 : 5,
    // leave a fifth of the part's time for the decode measurement and the FMA peak
    deadline: a.deadlineMs ? Date.now() + 0.8 * a.deadlineMs : null,
    activationCheckpointing: false,
    timing: 'auto',
    peakGflops: null,
    peakAdapter: null,
    seed: 1234,
    decode: { promptTokens: a.dryRun ? 4 : 32, newTokens: a.dryRun ? 3 : 64, warmup: 1, seed: 99 },
  };
  return runTrainingCase(ctx, kase, {
    loadModel: async (c, layers) => ({
      model: createRandomModel(c, { ...shape, numLayers: layers ?? shape.numLayers }, { seed: kase.seed, name: m.name }),
      name: a.dryRun ? `${m.name}, dry run: tiny shape` : m.name,
      fullLayers: shape.numLayers,
    }),
    log,
  });
}

async function main() {
  const a = parseArgs(process.argv.slice(2));
  const started = Date.now();
  // kept reachable for the life of the process (Dawn tears down its instance when collected)
  const gpu = create(['backend=vulkan']);
  (globalThis as { __kitGpu?: GPU }).__kitGpu = gpu;
  let ctx: GpuContext | null = null;
  const errors: string[] = [];
  try {
    ctx = await acquireGpu({ gpu, timeoutMs: 60_000, onUncapturedError: (msg) => errors.push(msg) });
    const adapter = adapterInfo(ctx);
    log(`adapter: ${ctx.description.name} (software: ${ctx.description.isSoftware}, f16: ${ctx.description.features.shaderF16}, subgroups: ${ctx.description.features.subgroups}, timestamps: ${ctx.description.features.timestampQuery})`);
    const result = a.part === 'adapter' ? null : a.part === 'kernels' ? await kernels(ctx, a) : await training(ctx, a);
    writeFileSync(a.out, JSON.stringify({ part: a.part, model: a.model, dryRun: a.dryRun, ok: true, adapter, result, uncapturedErrors: errors, seconds: (Date.now() - started) / 1000 }, null, 1));
  } catch (e) {
    const error = (e as Error).stack ?? String(e);
    console.error(error);
    writeFileSync(a.out, JSON.stringify({ part: a.part, model: a.model, dryRun: a.dryRun, ok: false, error, uncapturedErrors: errors, seconds: (Date.now() - started) / 1000 }, null, 1));
    process.exitCode = 1;
  } finally {
    ctx?.destroy();
  }
}

void main();
