// The bench's tables and latest.json from made-up measurements: every figure lands in its row and
// column, verdicts follow the targets, missing parts (no kernel bench, no torch, a failed case)
// are said rather than hidden, and latest.json carries the fields the README and CI read.
import { describe, expect, it } from 'vitest';
import type { AdapterDescription } from '../src/gpu/device';
import { buildLatest, formatCombinedTable, formatTrainingTable, markdownTable, summarizeKernels, verdict, type TrainingCaseRow, type TrainingRun } from './trainingReport.mjs';

const adapter = {
  name: 'google swiftshader',
  vendor: 'google',
  architecture: 'swiftshader',
  description: '',
  isSoftware: true,
  fp16Mode: 'packed-u32',
  features: { shaderF16: false, subgroups: true, timestampQuery: true },
  limits: {},
} as unknown as AdapterDescription;

function fakeCase(o: Partial<TrainingCaseRow & { error: undefined }> = {}): TrainingCaseRow {
  const msPerStep = 4000;
  return {
    model: 'stories260K',
    name: 'stories260K',
    adapter,
    layers: 5,
    fullLayers: 5,
    batchSize: 4,
    seqLen: 256,
    tokensPerStep: 1024,
    rank: 16,
    alpha: 32,
    targetModules: ['q_proj'],
    activationCheckpointing: false,
    warmup: 2,
    stepsPlanned: 5,
    stepsMeasured: 5,
    reduced: null,
    loadMs: 100,
    warmupMs: [5000, 4000],
    stepMs: [4000, 4000, 4000, 4000, 4000],
    msPerStep,
    msPerStepMedian: msPerStep,
    tokensPerSecond: 256,
    split: { matmulMs: 2000, attentionMs: 1000, otherMs: 600, overheadMs: 400 },
    overheadFraction: 0.1,
    outsideFraction: 0.25,
    timing: 'timestamp',
    categoryRunsMs: null,
    passesPerStep: 500,
    commandsPerStep: { passes: 1, dispatches: 500, submits: 1, writes: 6, writeBytes: 128 * 1024, buffers: 0, bindGroups: 500 },
    untimedStepMs: 3500,
    timedCommandsPerStep: { passes: 500, dispatches: 500, submits: 1, writes: 6, writeBytes: 128 * 1024, buffers: 0, bindGroups: 500 },
    decode: {
      promptTokens: 32,
      newTokens: 16,
      weights: 'LoRA adapter',
      prefillMs: 800,
      msPerToken: 50,
      tokensPerSecond: 20,
      firstStepMs: 95,
      firstStepCommands: { passes: 30, dispatches: 60, submits: 25, writes: 3, writeBytes: 4096, buffers: 24, bindGroups: 60 },
      steadyMsPerToken: 47,
      prefillTokensPerSecond: 40,
      prefillCommands: { passes: 2, dispatches: 60, submits: 1, writes: 3, writeBytes: 4096, buffers: 1, bindGroups: 60 },
      commandsPerToken: { passes: 2, dispatches: 60, submits: 1, writes: 3, writeBytes: 15.5 * 1024, buffers: 1, bindGroups: 60 },
    },
    topPasses: [{ label: 'ce_forward_backward_inplace 1024x512', category: 'other', ms: 300, count: 1 }],
    flops: { matmul: 1.6e9, attention: 0.6e9, total: 2.2e9, recompute: 0 },
    peakGflops: 20,
    peakSource: 'kernels.json',
    ofPeak: 2.2e9 / (4000 * 1e6) / 20,
    matmulGflops: 0.8,
    matmulOfPeak: 0.04,
    attentionGflops: 0.6,
    peakBytes: 30 * 2 ** 20,
    peakBytesAfterWarmup: 30 * 2 ** 20,
    memory: { weightsBytes: 1, loraBytes: 1, optimizerBytes: 1, activationsBytes: 1, analyticBytes: 25 * 2 ** 20, estimateBytes: 33 * 2 ** 20 },
    memoryRatio: 1.2,
    estimateRatio: 30 / 33,
    liveByGroup: [
      { group: 'kept activations', bytes: 20 * 2 ** 20 },
      { group: 'gradients + scratch', bytes: 10 * 2 ** 20 },
    ],
    losses: [6.2, 6.1],
    seconds: 40,
    torch: { tokensPerSecond: 5120, msPerStep: 200 },
    ...o,
  } as TrainingCaseRow;
}

const run = (cases: TrainingCaseRow[], torchNote: string | null = null): TrainingRun => ({
  date: '2026-01-01T00:00:00.000Z',
  userAgent: 'Mozilla/5.0 HeadlessChrome/156.0.0.0 Safari/537.36',
  adapter,
  cases,
  torchNote,
  seconds: 100,
});

const kernels = {
  adapter,
  peakGflops: 26.7,
  tfjs: 'tfjs-core 4.22.0, backend webgpu',
  matmul: [
    { m: 512, n: 1536, k: 576, gflops: 3, vsTfjs: 4.5, ofPeak: 0.11 },
    { m: 512, n: 576, k: 1536, gflops: 2, vsTfjs: 1.2, ofPeak: 0.08 },
  ],
};

function rowOf(table: string, metric: string): string[] {
  const line = table.split('\n').find((l) => l.startsWith(`| ${metric}`));
  if (!line) throw new Error(`no row "${metric}" in\n${table}`);
  return line.split('|').slice(1, -1).map((c) => c.trim());
}

describe('verdicts and helpers', () => {
  it('met / short against a target, nothing without a value', () => {
    expect(verdict(1.6, 1.5, true)).toBe(' (met)');
    expect(verdict(1.4, 1.5, true)).toBe(' (short)');
    expect(verdict(0.2, 0.2, false)).toBe(' (met)');
    expect(verdict(0.21, 0.2, false)).toBe(' (short)');
    expect(verdict(null, 0.2, false)).toBe('');
  });

  it('kernel summary: ranges over the matmul shapes, null without a kernel bench', () => {
    expect(summarizeKernels(null)).toBeNull();
    const s = summarizeKernels(kernels)!;
    expect([s.peakGflops, s.shapes, s.vsTfjsMin, s.vsTfjsMax, s.ofPeakMin, s.ofPeakMax, s.gflopsMax]).toEqual([26.7, 2, 1.2, 4.5, 0.08, 0.11, 3]);
    // a kernels.json without tfjs numbers or matmul rows still summarises
    expect(summarizeKernels({ peakGflops: 10 })).toMatchObject({ shapes: 0, vsTfjsMin: null, ofPeakMin: null });
  });

  it('markdown table columns line up', () => {
    const t = markdownTable(['a', 'bb'], [['xxxx', 'y']]).split('\n');
    expect(new Set(t.map((l) => l.length)).size).toBe(1);
    expect(t[1]).toMatch(/^\|-+\|-+\|$/);
  });
});

describe('combined table', () => {
  const smol = fakeCase({ model: 'smollm2-135m-shape', name: 'SmolLM2-135M shape', layers: 2, fullLayers: 30, stepsMeasured: 2, reduced: '2 of 5 steps: 60.0 s per step and the time budget', tokensPerSecond: 17, outsideFraction: 0.1, memoryRatio: 1.1, torch: null });
  const table = formatCombinedTable({ kernels, kernelsNote: null, training: run([fakeCase(), smol]), commit: 'abcdef0123456789', date: '2026-01-01' });

  it('has one column per case next to the kernel column, and the header facts', () => {
    expect(rowOf(table, 'metric')).toEqual(['metric', 'target', 'kernels', 'stories260K', 'SmolLM2-135M shape']);
    expect(table).toContain('@ abcdef0123');
    expect(table).toContain('adapter: google swiftshader (software), Chromium 156.0.0.0; timestamps yes');
  });

  it('training figures with their targets', () => {
    expect(rowOf(table, 'layers measured').slice(3)).toEqual(['5 of 5', '2 of 30 (software adapter)']);
    expect(rowOf(table, 'steps measured').slice(3)).toEqual(['5 after 2 warm-up', '2 after 2 warm-up (cut to fit the time budget)']);
    expect(rowOf(table, 'tokens/s (B=4 x T=256')[3]).toBe('256');
    expect(rowOf(table, 'tokens/s (B=4 x T=256')[4]).toBe('17.0');
    expect(rowOf(table, 'PyTorch CPU tokens/s')[3]).toBe('5,120 (0.050x)');
    expect(rowOf(table, '  matmul')[3]).toBe('2.00 s (50%)');
    expect(rowOf(table, '  overhead')[3]).toBe('400 ms (10%)');
    expect(rowOf(table, 'time outside matmul + attention').slice(1)).toEqual(['≤ 20%', '', '25% (short)', '10% (met)']);
    expect(rowOf(table, 'matmul GFLOP/s inside the step')[3]).toBe('0.80 (4.0%) (short)');
    expect(rowOf(table, 'peak ÷ analytic').slice(3)).toEqual(['1.20 (short)', '1.10 (met)']);
    expect(rowOf(table, 'peak GPU bytes')[3]).toBe('30.0 MiB');
  });

  it('GPU commands per step and per decoded token, decode speed', () => {
    const noCounts = formatCombinedTable({ kernels, kernelsNote: null, training: run([fakeCase({ commandsPerStep: null, decode: null, untimedStepMs: null })]), commit: null, date: 'd' });
    expect(rowOf(table, 'passes / dispatches / submits per step').slice(1)).toEqual(['≤ 1 submit', '', '1 / 500 / 1 (met)', '1 / 500 / 1 (met)']);
    expect(rowOf(table, '  buffer writes (bytes) / buffers created per step')[3]).toBe('6 (128 KiB) / 0');
    expect(rowOf(table, '  step time as in the studio')[3]).toBe('3.50 s');
    expect(rowOf(table, '  passes per step under the pass timer')[3]).toBe('500');
    expect(rowOf(table, 'decode tokens/s (32-token prompt, 16 new, greedy, LoRA adapter)')[3]).toBe('20.0 (steady 21.3; prefill 800 ms for 32)');
    expect(rowOf(table, '  passes / dispatches / submits per decoded token')[3]).toBe('2 / 60 / 1');
    expect(rowOf(table, '  buffer writes (bytes) / buffers created per token')[3]).toBe('3 (16 KiB) / 1');
    expect(rowOf(noCounts, 'passes / dispatches / submits per step')[3]).toBe('-');
    expect(rowOf(noCounts, 'decode tokens/s')[3]).toBe('not measured');
  });

  it('kernel figures: the worst shape decides the verdict', () => {
    expect(rowOf(table, 'matmul y = x·Wᵀ vs tfjs')[2]).toBe('1.20x–4.50x (short)');
    expect(rowOf(table, 'matmul y = x·Wᵀ of FMA peak')[2]).toBe('8%–11% (short)');
    expect(rowOf(table, 'FMA-only peak')[2]).toBe('26.70');
  });

  it('notes say what was cut or missing', () => {
    expect(table).toContain('- SmolLM2-135M shape: 2 of 5 steps: 60.0 s per step and the time budget');
    const t2 = formatCombinedTable({ kernels: null, kernelsNote: 'kernel bench not available', training: run([fakeCase({ torch: null }), { model: 'smollm2-135m-shape', error: 'Error: out of memory\n at x' }], 'PyTorch peer unavailable: /usr/bin/python3 has no torch'), commit: null, date: 'd' });
    expect(rowOf(t2, 'matmul y = x·Wᵀ vs tfjs')[2]).toBe('not run');
    expect(rowOf(t2, 'PyTorch CPU tokens/s')[3]).toBe('n/a');
    expect(rowOf(t2, 'layers measured')[4]).toBe('failed');
    expect(t2).toContain('- kernel bench not available');
    expect(t2).toContain('- smollm2-135m-shape: FAILED: Error: out of memory');
    expect(t2).toContain('- PyTorch peer unavailable: /usr/bin/python3 has no torch');
  });

  it('Qwen3 and Gemma 3 shape columns: their names, and each column its own batch when the batches differ', () => {
    const small = { batchSize: 1, seqLen: 64, tokensPerStep: 64, warmup: 1, stepsPlanned: 2, stepsMeasured: 2, torch: null };
    const qwen = fakeCase({ ...small, model: 'qwen3-0.6b-shape', name: 'Qwen3-0.6B shape (random weights)', layers: 2, fullLayers: 28, tokensPerSecond: 5.4, memoryRatio: 1.13 });
    const gemma = fakeCase({ ...small, model: 'gemma3-270m-shape', name: 'Gemma-3-270M shape (random weights)', layers: 2, fullLayers: 18, tokensPerSecond: 6.9, memoryRatio: 1.3 });
    const t = formatCombinedTable({ kernels, kernelsNote: null, training: run([fakeCase(), qwen, gemma]), commit: null, date: 'd' });
    expect(rowOf(t, 'metric').slice(3)).toEqual(['stories260K', 'Qwen3-0.6B shape', 'Gemma-3-270M shape']);
    expect(rowOf(t, 'layers measured').slice(3)).toEqual(['5 of 5', '2 of 28 (software adapter)', '2 of 18 (software adapter)']);
    expect(rowOf(t, 'steps measured').slice(4)).toEqual(['2 after 1 warm-up', '2 after 1 warm-up']);
    expect(rowOf(t, 'tokens/s (LoRA r=16 all linear)').slice(3)).toEqual(['256 (B=4 x T=256)', '5.4 (B=1 x T=64)', '6.9 (B=1 x T=64)']);
    expect(rowOf(t, 'peak ÷ analytic').slice(4)).toEqual(['1.13 (met)', '1.30 (short)']);
    expect(rowOf(t, 'PyTorch CPU tokens/s').slice(4)).toEqual(['-', '-']);
    const l = buildLatest({ kernels, kernelsNote: null, training: run([qwen, gemma]), commit: null, date: 'd' });
    expect(l.training.map((r) => [r.model, r.batchSize, r.seqLen, r.tokensPerStep])).toEqual([
      ['qwen3-0.6b-shape', 1, 64, 64],
      ['gemma3-270m-shape', 1, 64, 64],
    ]);
  });

  it("the training bench's own table has no kernel column and lists the slowest passes", () => {
    const t = formatTrainingTable(run([fakeCase()]));
    expect(rowOf(t, 'metric')).toEqual(['metric', 'target', 'stories260K']);
    expect(t).not.toContain('kernel bench');
    expect(t).toContain('300 ms  x1    ce_forward_backward_inplace 1024x512');
    expect(t).toContain('stories260K: GPU memory at the peak (30.0 MiB; analytic minimum 25.0 MiB)');
    expect(t).toContain('    20.0 MiB  kept activations');
  });
});

describe('latest.json', () => {
  it('holds adapter, date, commit, kernels and one training row per case with the ratios', () => {
    const l = buildLatest({ kernels, kernelsNote: null, training: run([fakeCase(), { model: 'smollm2-135m-shape', error: 'boom' }]), commit: 'abc', date: 'today' });
    expect(l.adapter).toEqual(adapter);
    expect([l.date, l.commit]).toEqual(['today', 'abc']);
    expect(l.kernels).toBe(kernels);
    expect(l.training[0]).toMatchObject({
      model: 'stories260K',
      layers: 5,
      tokensPerStep: 1024,
      tokensPerSecond: 256,
      torchTokensPerSecond: 5120,
      vsTorch: 0.05,
      overheadFraction: 0.1,
      ofPeak: 2.2e9 / (4000 * 1e6) / 20,
      peakBytes: 30 * 2 ** 20,
      analyticBytes: 25 * 2 ** 20,
      memoryRatio: 1.2,
      commandsPerStep: { passes: 1, dispatches: 500, submits: 1 },
      untimedStepMs: 3500,
      decode: { tokensPerSecond: 20, commandsPerToken: { submits: 1 } },
    });
    expect(l.training[1]).toEqual({ model: 'smollm2-135m-shape', error: 'boom' });
    const none = buildLatest({ kernels: null, kernelsNote: 'kernel bench not available', training: run([fakeCase({ torch: null })]), commit: null, date: 'd' });
    expect(none.kernels).toBeNull();
    expect(none.training[0]).toMatchObject({ torchTokensPerSecond: null, vsTorch: null });
  });
});

describe('quantized-base rows (issue 17)', () => {
  it('int8 / int4 columns are titled by their base, show tokens/s, peak bytes and the base weights, and latest.json carries the precision', () => {
    const cases = [
      fakeCase(),
      fakeCase({ quantization: 'int8', tokensPerSecond: 240, peakBytes: 27 * 2 ** 20, memory: { weightsBytes: 0.3 * 2 ** 20, loraBytes: 1, optimizerBytes: 1, activationsBytes: 1, analyticBytes: 24 * 2 ** 20, estimateBytes: 31 * 2 ** 20 }, memoryRatio: 27 / 24, torch: null }),
      fakeCase({ quantization: 'int4', tokensPerSecond: 230.5, peakBytes: 26 * 2 ** 20, memory: { weightsBytes: 0.2 * 2 ** 20, loraBytes: 1, optimizerBytes: 1, activationsBytes: 1, analyticBytes: 23 * 2 ** 20, estimateBytes: 30 * 2 ** 20 }, memoryRatio: 26 / 23, torch: null }),
      { model: 'stories260K', quantize: 'int4', error: 'Error: no adapter' },
    ];
    const t = formatTrainingTable(run(cases));
    expect(t.split('\n').find((l) => l.startsWith('| metric'))!.split('|').slice(3, -1).map((c) => c.trim())).toEqual(['stories260K', 'stories260K (int8 base)', 'stories260K (int4 base)', 'stories260K (int4 base)']);
    expect(rowOf(t, 'base weights').slice(2)).toEqual(['fp16 (0.0 MiB)', 'int8 (0.3 MiB)', 'int4 (0.2 MiB)', '-']);
    expect(rowOf(t, 'tokens/s').slice(2)).toEqual(['256', '240', '231', '-']);
    expect(rowOf(t, 'peak GPU bytes').slice(2)).toEqual(['30.0 MiB', '27.0 MiB', '26.0 MiB', '-']);
    expect(rowOf(t, 'analytic minimum (W as loaded').slice(2)).toEqual(['25.0 MiB', '24.0 MiB', '23.0 MiB', '-']);
    expect(t).toContain('- stories260K (int4 base): FAILED: Error: no adapter');
    expect(t).toContain('stories260K (int8 base): GPU memory at the peak (27.0 MiB');
    const latest = buildLatest({ kernels: null, kernelsNote: null, training: run(cases), commit: 'abc', date: 'd' });
    expect(latest.training.map((r) => ('quantization' in r ? r.quantization : null))).toEqual(['none', 'int8', 'int4', null]);
  });
});
