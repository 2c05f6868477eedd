// One case of the training benchmark: a model, a LoRA config and a batch shape, trained for a few
// warm-up and measured steps through the real Trainer (the code the engine worker runs), on a
// GpuContext of its own. Runs in bench/trainingWorker.ts in Chromium; tests drive it in Node.
//
// What is measured:
//   - wall time of each Trainer.trainOneStep() (forward, backward, clipping, AdamW and its one
//     readback): tokens/s = tokens per step / mean step time
//   - the split of that time: GPU time of every compute pass from timestamp queries
//     (src/train/passTimer.ts), summed per category (matmul incl. LoRA, attention, other ops);
//     overhead = step wall time - time inside passes (recording, submits, gaps between passes,
//     the readback). Without timestamps: the step is re-run with only one category's passes
//     enabled, and with none; a category costs its run minus the none run.
//   - peak GPU bytes from the allocation tracker, reset when the device is created, so it
//     covers weights, adapter, optimizer state, activations and scratch; against the analytic
//     minimum of the same config (bench/trainingMath.ts)
//   - step FLOPs / (step time × the adapter's FMA-only peak)
//   - GPU commands per step (compute passes, dispatches, submits, buffer writes and creations;
//     src/gpu/counters.ts): on the warm-up steps, which run as the studio runs them (dispatches
//     sharing passes), and on the measured steps, which the pass timer gives one pass per dispatch
//   - with kase.decode: generation speed (prefill, tokens/s, commands per token) with the trained
//     adapter applied, after the training steps (bench/decodeCase.ts)
import { perUnit, type GpuCounts } from '../src/gpu/counters';
import type { GpuContext } from '../src/gpu/device';
import { releaseTensor } from '../src/gpu/tensor';
import type { Batch } from '../src/data';
import { mulberry32 } from '../src/util/prng';
import { createAdapter, releaseAdapter } from '../src/model/adapter';
import type { CausalLM } from '../src/model/causalLM';
import type { RunRecord } from '../src/train/checkpointStore';
import { archOf } from '../src/arch/registry';
import { DEFAULT_CONFIG, type TrainConfig } from '../src/train/config';
import { PassTimer, sumByCategory, type PassCategory } from '../src/train/passTimer';
import { FixedBatches, Trainer } from '../src/train/trainer';
import { runDecodeCase, type DecodeResult } from './decodeCase';
import { fmaPeakFlops, timeFmaPeak } from './fmaPeak';
import { analyticMemory, mean, median, memoryBreakdown, splitFromCategoryRuns, splitStep, stepFlops, type StepSplit } from './trainingMath';
import type { PassTotal, TrainingCase, TrainingCaseResult } from './trainingTypes';

export interface LoadedForBench {
  model: CausalLM;
  /** the display name, e.g. "stories260K" or "SmolLM2-135M shape (random weights)" */
  name: string;
  /** layers of the full model this stands for */
  fullLayers: number;
}

export interface CaseHooks {
  /** build or load the model with `layers` layers (null: its own count) */
  loadModel: (ctx: GpuContext, layers: number | null) => Promise<LoadedForBench>;
  log: (line: string) => void;
}

/** What identifies an adapter across runs: vendor and architecture (names vary with browser flags). */
export function adapterKey(d: { vendor: string; architecture: string }): string {
  return `${d.vendor} ${d.architecture}`.trim();
}

/** The adapter's FMA-only GFLOP/s (best of 5, bench/fma_peak.wgsl). */
export async function measureFmaPeak(ctx: GpuContext, opts: { groups?: number; iterations?: number } = {}): Promise<number> {
  const groups = opts.groups ?? 256;
  const iterations = opts.iterations ?? 256;
  const t = await timeFmaPeak(ctx, groups, iterations);
  return fmaPeakFlops(groups, iterations) / t.best / 1e6;
}

/** Random next-token batches (the benchmark measures speed; the data does not matter). */
export function randomBatches(count: number, B: number, T: number, vocab: number, seed: number): Batch[] {
  const next = mulberry32(seed);
  return Array.from({ length: count }, () => {
    const stream = Int32Array.from({ length: B * (T + 1) }, () => next() % vocab);
    const tokens = new Int32Array(B * T);
    const labels = new Int32Array(B * T);
    for (let b = 0; b < B; b++) {
      tokens.set(stream.subarray(b * (T + 1), b * (T + 1) + T), b * T);
      labels.set(stream.subarray(b * (T + 1) + 1, (b + 1) * (T + 1)), b * T);
    }
    return {
      B,
      T,
      tokens,
      labels,
      positions: Int32Array.from({ length: B * T }, (_, i) => i % T),
      docIds: Int32Array.from({ length: B * T }, (_, i) => Math.floor(i / T)),
      trainedTokens: B * T,
    };
  });
}

function benchRun(): RunRecord {
  return { id: 'bench', name: 'bench', createdAt: 0, updatedAt: 0, status: 'running', model: { name: 'bench', architecture: 'llama', fingerprint: '' }, dataset: { name: 'random', fingerprint: '' }, config: {}, totalSteps: 0, history: [], checkpoint: null, checkpointStep: 0 };
}

/** Pass labels carry the kernel variant and shape; layers repeat them, so totals per label are meaningful. */
function topPasses(perStep: Map<string, PassTotal>, steps: number, n = 12): PassTotal[] {
  return [...perStep.values()]
    .map((p) => ({ ...p, ms: p.ms / steps, count: p.count / steps }))
    .sort((a, b) => b.ms - a.ms)
    .slice(0, n);
}

export async function runTrainingCase(ctx: GpuContext, kase: TrainingCase, hooks: CaseHooks): Promise<TrainingCaseResult> {
  const started = performance.now();
  const log = hooks.log;
  const d = ctx.description;
  // everything the run allocates counts from here: weights, adapter, optimizer, activations
  ctx.allocator.resetPeak();
  // what is live at the peak: buffers freed later (a logits chunk re-made for a shorter last
  // chunk) would be missing from a look at the end
  const allocator = ctx.allocator;
  const create = allocator.create;
  let atPeak: { group: string; bytes: number }[] = [];
  allocator.create = (size, usage, label) => {
    const before = allocator.peakBytes;
    const b = create.call(allocator, size, usage, label);
    if (allocator.peakBytes > before) atPeak = memoryBreakdown(allocator.liveBuffers());
    return b;
  };
  const layers = d.isSoftware && kase.layersOnSoftware !== null ? kase.layersOnSoftware : kase.layers;
  const { batchSize, seqLen } = d.isSoftware && kase.batchOnSoftware ? kase.batchOnSoftware : kase;
  const t0 = performance.now();
  const { model, name, fullLayers } = await hooks.loadModel(ctx, layers);
  await ctx.device.queue.onSubmittedWorkDone();
  const loadMs = performance.now() - t0;
  const c = model.config;
  const quantization = kase.quantize ?? 'none';
  log(`${name}: ${c.numLayers} of ${fullLayers} layers, hidden ${c.hiddenSize}, vocab ${c.vocabSize}, batch ${batchSize} x ${seqLen}, base ${quantization === 'none' ? 'fp16' : quantization}; loaded in ${(loadMs / 1000).toFixed(1)} s`);

  const lora = { rank: kase.rank, alpha: 2 * kase.rank, dropout: 0, targetModules: [...archOf(c).loraTargets.allLinear], useRslora: false };
  const planned = kase.warmup + kase.steps;
  const config: TrainConfig = {
    ...DEFAULT_CONFIG,
    lora,
    learningRate: 1e-4,
    schedule: 'constant',
    warmupSteps: 0,
    maxSteps: planned + 4,
    batchSize,
    seqLen,
    gradAccumulation: 1,
    weightDecay: 0.01,
    maxGradNorm: 1,
    evalEvery: 0,
    checkpointEvery: 0,
    activationCheckpointing: kase.activationCheckpointing,
    seed: kase.seed,
  };
  const adapter = createAdapter(ctx, c, lora, kase.seed);
  const batches = new FixedBatches(randomBatches(2, batchSize, seqLen, c.vocabSize, kase.seed + 1));
  const trainer = new Trainer(ctx, model, adapter, batches, null, config, null, benchRun(), () => {});
  // as Trainer.runLoop does: the kernel versions' one-time checks before the first step
  await trainer.prepareKernels();
  // the checks' buffers were transient: the run's peak counts from its own live set
  ctx.allocator.resetPeak();
  const useTimestamps = kase.timing !== 'wall' && d.features.timestampQuery;
  if (kase.timing === 'timestamp' && !useTimestamps) throw new Error(`${d.name} has no 'timestamp-query': run with timing 'wall' or 'auto'`);
  // installed after the warm-up: until then steps run as in the studio (dispatches share passes)
  let timer: PassTimer | null = null;
  const tokensPerStep = batchSize * seqLen;
  const losses: number[] = [];
  const step = async () => {
    const before = ctx.counters.snapshot();
    const s0 = performance.now();
    const r = await trainer.trainOneStep();
    const ms = performance.now() - s0;
    const commands = ctx.counters.since(before);
    trainer.step++;
    return { ms, loss: r.loss, nonFinite: r.nonFinite, commands };
  };

  try {
    const warmupMs: number[] = [];
    let commandsPerStep: GpuCounts | null = null;
    for (let i = 0; i < kase.warmup; i++) {
      const r = await step();
      warmupMs.push(r.ms);
      losses.push(r.loss);
      commandsPerStep = r.commands;
      log(`  warm-up ${i + 1}/${kase.warmup}: ${(r.ms / 1000).toFixed(2)} s, loss ${r.loss.toFixed(4)}; ${commandLine(r.commands)}`);
    }
    const peakBytesAfterWarmup = ctx.allocator.peakBytes;
    timer = new PassTimer(ctx, { timestamps: useTimestamps });

    // Fit the measured steps into the time left: another step starts only if it can end before
    // the deadline, judged by the slowest step so far (category runs cost about two more steps).
    const extra = useTimestamps ? 0 : 2;
    const fits = (slowest: number) => kase.deadline === null || Date.now() + (1 + extra) * slowest <= kase.deadline;

    const stepMs: number[] = [];
    const splits: StepSplit[] = [];
    const labels = new Map<string, PassTotal>();
    let passes = 0;
    const timedCommands: GpuCounts[] = [];
    let trusted = useTimestamps;
    for (let i = 0; i < kase.steps; i++) {
      if (i > 0 && !fits(Math.max(...stepMs, ...warmupMs.slice(-1)))) {
        log(`  stopping after ${i} measured step(s) of ${kase.steps} to stay within the time budget`);
        break;
      }
      timer.begin();
      const r = await step();
      const got = await timer.end();
      stepMs.push(r.ms);
      losses.push(r.loss);
      timedCommands.push(r.commands);
      passes += got.passes.length;
      const sums = sumByCategory(got.passes);
      if (useTimestamps && (!got.timed || sums.matmul + sums.attention + sums.other > r.ms * 1.05)) trusted = false;
      splits.push(splitStep(r.ms, sums));
      for (const p of got.passes) {
        const t = labels.get(p.label) ?? { label: p.label, category: p.category, ms: 0, count: 0 };
        t.ms += p.ms;
        t.count++;
        labels.set(p.label, t);
      }
      const s = splits[splits.length - 1];
      log(
        `  step ${i + 1}/${kase.steps}: ${(r.ms / 1000).toFixed(2)} s, ${((tokensPerStep * 1000) / r.ms).toFixed(0)} tokens/s, loss ${r.loss.toFixed(4)}` +
          (useTimestamps ? ` (matmul ${(s.matmulMs / 1000).toFixed(2)} s, attention ${(s.attentionMs / 1000).toFixed(2)} s, other ${(s.otherMs / 1000).toFixed(2)} s)` : ''),
      );
      if (r.nonFinite) log('  (the loss or gradients were not finite: the step was skipped by the NaN guard; timing is still valid)');
    }
    const steps = stepMs.length;
    const reduced = steps < kase.steps ? `${steps} of ${kase.steps} steps: ${(Math.max(...stepMs) / 1000).toFixed(1)} s per step and the time budget` : null;
    const peakBytes = ctx.allocator.peakBytes;
    const liveByGroup = atPeak;
    const msPerStep = mean(stepMs);

    let split: StepSplit;
    let categoryRunsMs: TrainingCaseResult['categoryRunsMs'] = null;
    if (trusted) {
      split = {
        matmulMs: mean(splits.map((s) => s.matmulMs)),
        attentionMs: mean(splits.map((s) => s.attentionMs)),
        otherMs: mean(splits.map((s) => s.otherMs)),
        overheadMs: mean(splits.map((s) => s.overheadMs)),
      };
    } else {
      if (useTimestamps) log('  timestamps looked wrong (unwritten, or longer than the step): timing categories by separate runs');
      // results of these runs are garbage (ops are skipped): they come after the measured steps
      const runs = { none: 0, matmul: 0, attention: 0, other: 0 };
      for (const only of ['none', 'matmul', 'attention', 'other'] as const) {
        timer.only = only as PassCategory | 'none';
        timer.begin();
        const r = await step();
        await timer.end();
        runs[only] = r.ms;
        log(`  only ${only === 'none' ? 'recording and submits (no passes)' : `${only} passes`}: ${(r.ms / 1000).toFixed(2)} s`);
      }
      timer.only = null;
      categoryRunsMs = runs;
      split = splitFromCategoryRuns(msPerStep, runs);
    }

    let decode: DecodeResult | null = null;
    if (kase.decode) {
      // the playground's way: no pass timer, the adapter applied
      timer.uninstall();
      decode = await runDecodeCase(model, kase.decode, { adapter, seed: 0, training: false });
      log(
        `  decode (${decode.weights}, ${decode.promptTokens}-token prompt, ${decode.newTokens} new): prefill ${decode.prefillMs.toFixed(0)} ms, ` +
          `${decode.tokensPerSecond.toFixed(1)} tokens/s (first step ${decode.firstStepMs.toFixed(0)} ms, then ${decode.steadyMsPerToken.toFixed(1)} ms/token); ` +
          `per steady token ${commandLine(decode.commandsPerToken)}`,
      );
    }

    const flops = stepFlops(c, config);
    // names differ with browser flags (the description is exposed or not): compare vendor and architecture
    const peakFits = kase.peakAdapter === null || kase.peakAdapter === adapterKey(d);
    let peakGflops = peakFits ? kase.peakGflops : null;
    const peakSource: TrainingCaseResult['peakSource'] = peakGflops ? 'kernels.json' : 'measured here';
    if (!peakFits) log(`  kernels.json's peak was measured on "${kase.peakAdapter}", not "${adapterKey(d)}": measuring here`);
    if (!peakGflops) {
      peakGflops = await measureFmaPeak(ctx);
      log(`  FMA-only peak of this adapter: ${peakGflops.toFixed(2)} GFLOP/s (bench/fma_peak.wgsl)`);
    }
    const memory = analyticMemory(c, config, quantization);
    const result: TrainingCaseResult = {
      model: kase.model,
      quantization,
      name,
      adapter: d,
      layers: c.numLayers,
      fullLayers,
      batchSize,
      seqLen,
      tokensPerStep,
      rank: lora.rank,
      alpha: lora.alpha,
      targetModules: lora.targetModules,
      activationCheckpointing: kase.activationCheckpointing,
      warmup: kase.warmup,
      stepsPlanned: kase.steps,
      stepsMeasured: steps,
      reduced,
      loadMs,
      warmupMs,
      stepMs,
      msPerStep,
      msPerStepMedian: median(stepMs),
      tokensPerSecond: (tokensPerStep * 1000) / msPerStep,
      split,
      overheadFraction: split.overheadMs / msPerStep,
      outsideFraction: (split.otherMs + split.overheadMs) / msPerStep,
      timing: trusted ? 'timestamp' : 'category-runs',
      categoryRunsMs,
      passesPerStep: passes / steps,
      commandsPerStep,
      untimedStepMs: warmupMs.length > 1 ? warmupMs[warmupMs.length - 1] : null,
      timedCommandsPerStep: perUnit(sumCounts(timedCommands), steps),
      decode,
      topPasses: trusted ? topPasses(labels, steps) : [],
      flops,
      peakGflops,
      peakSource,
      ofPeak: flops.total / (msPerStep * 1e6) / peakGflops,
      matmulGflops: split.matmulMs > 0 ? flops.matmul / (split.matmulMs * 1e6) : 0,
      matmulOfPeak: split.matmulMs > 0 ? flops.matmul / (split.matmulMs * 1e6) / peakGflops : 0,
      attentionGflops: split.attentionMs > 0 ? flops.attention / (split.attentionMs * 1e6) : 0,
      peakBytes,
      peakBytesAfterWarmup,
      memory,
      memoryRatio: peakBytes / memory.analyticBytes,
      estimateRatio: peakBytes / memory.estimateBytes,
      liveByGroup,
      losses,
      seconds: (performance.now() - started) / 1000,
    };
    log(
      `  => ${result.tokensPerSecond.toFixed(1)} tokens/s, ${(msPerStep / 1000).toFixed(2)} s/step, ${(100 * result.ofPeak).toFixed(1)}% of FMA peak, ` +
        `peak ${(peakBytes / 2 ** 20).toFixed(1)} MiB = ${result.memoryRatio.toFixed(2)}x analytic`,
    );
    return result;
  } finally {
    allocator.create = create;
    timer?.uninstall();
    trainer.release();
    releaseAdapter(ctx, adapter);
    model.release();
    for (const w of model.weights.values()) releaseTensor(ctx, w);
  }
}

/** "1 pass, 408 dispatches, 1 submit, 6 writes (103 KiB), 0 buffers" */
export function commandLine(c: GpuCounts): string {
  const n = (v: number) => (Number.isInteger(v) ? String(v) : v.toFixed(1));
  return `${n(c.passes)} passes, ${n(c.dispatches)} dispatches, ${n(c.submits)} submits, ${n(c.writes)} writes (${(c.writeBytes / 1024).toFixed(0)} KiB), ${n(c.buffers)} buffers created`;
}

function sumCounts(all: GpuCounts[]): GpuCounts {
  const out: GpuCounts = { passes: 0, dispatches: 0, submits: 0, writes: 0, writeBytes: 0, buffers: 0, bindGroups: 0 };
  for (const c of all) for (const k of Object.keys(out) as (keyof GpuCounts)[]) out[k] += c[k];
  return out;
}
