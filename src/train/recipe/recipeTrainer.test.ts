// The cluster recipe against the studio's real run, on the test GPU: the engine trains the demo
// model on the sample dataset (packing, accumulation, warm-up + cosine, clipping, label
// smoothing, weight decay, rsLoRA, LoRA+, evaluation); every batch the trainer hands the model is
// recorded. The recipe exported from that run must hold exactly those batches, in order
// (data/train_batches.jsonl) and the validation batches (data/eval_batches.jsonl); and its
// training loop (whetstone_recipe.train, what train.py runs) driven in PyTorch with the
// repository's reference Llama must reproduce the run's per-step losses, learning rates,
// gradient norms and validation losses.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { nodeGpu } from '../../gpu/testing/nodeGpu';
import { CausalLM, type HostBatch } from '../../model/causalLM';
import { DEMO_MODEL_DIR, REPO_ROOT } from '../../model/testing/loadForTest';
import { Engine } from '../../workers/engine';
import { MemoryKeyValueStore } from '../checkpointStore';
import { DEFAULT_CONFIG, type TrainConfig } from '../config';
import { rowsToBatch, type RecipeRow } from './render';

function filesOf(dir: string): File[] {
  return readdirSync(dir).map((f) => new File([readFileSync(join(dir, f))], f));
}

const config: TrainConfig = {
  ...DEFAULT_CONFIG,
  lora: { ...DEFAULT_CONFIG.lora, rank: 4, alpha: 8, useRslora: true, useLoraPlus: true, loraPlusRatio: 4 },
  maxSteps: 6,
  batchSize: 2,
  gradAccumulation: 2,
  seqLen: 64,
  pack: true,
  learningRate: 4e-3,
  schedule: 'cosine',
  warmupSteps: 2,
  weightDecay: 0.01,
  maxGradNorm: 0.5,
  labelSmoothing: 0.1,
  evalEvery: 3,
  checkpointEvery: 3,
  seed: 11,
  validationFraction: 0.1,
};

const tmp = mkdtempSync(join(tmpdir(), 'whetstone-recipe-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function readRows(text: string): RecipeRow[] {
  return text.trim().split('\n').map((l) => JSON.parse(l) as RecipeRow);
}

function sameBatch(rows: RecipeRow[], b: HostBatch): void {
  const got = rowsToBatch(rows);
  expect([got.B, got.T]).toEqual([b.B, b.T]);
  expect(got.tokens).toEqual(b.tokens);
  expect(got.labels).toEqual(b.labels);
  expect(got.positions).toEqual(b.positions);
  expect(got.docIds).toEqual(b.docIds);
}

describe('the recipe of a studio run', () => {
  it('holds the batches the trainer saw, and its loop reproduces the run in PyTorch', { timeout: 600_000 }, async () => {
    // what the trainer hands the model, in order, and whether it was a training or an evaluation pass
    const seen: { batch: HostBatch; kind: 'train' | 'eval' | null }[] = [];
    const realUpload = CausalLM.prototype.upload;
    const realTrainStep = CausalLM.prototype.trainStep;
    const realEvalLoss = CausalLM.prototype.evalLoss;
    CausalLM.prototype.upload = function (b: HostBatch) {
      seen.push({ batch: b, kind: null });
      return realUpload.call(this, b);
    };
    CausalLM.prototype.trainStep = function (...a: Parameters<CausalLM['trainStep']>) {
      seen.at(-1)!.kind = 'train';
      return realTrainStep.apply(this, a);
    };
    CausalLM.prototype.evalLoss = function (...a: Parameters<CausalLM['evalLoss']>) {
      seen.at(-1)!.kind = 'eval';
      return realEvalLoss.apply(this, a);
    };
    let files;
    let summary;
    try {
      const engine = new Engine({ gpu: nodeGpu(), kv: new MemoryKeyValueStore() });
      expect((await engine.init()).state).toBe('ready');
      await engine.loadModel({ kind: 'files', files: filesOf(DEMO_MODEL_DIR), name: 'stories260K' });
      const sample = new File([readFileSync(join(REPO_ROOT, 'public/datasets/sample.jsonl'))], 'sample.jsonl');
      await engine.loadDataset({ kind: 'file', file: sample }, { maxSeqLen: config.seqLen, trainOn: 'completions', onBadRow: 'skip', validationFraction: config.validationFraction, seed: config.seed });
      seen.length = 0;
      summary = await engine.startTraining(config, { onProgress: () => {}, onStatus: () => {} }, 'recipe check');
      expect(summary.status).toBe('finished');
      files = await engine.exportRecipe({ runId: summary.id, raw: sample, trainOn: 'completions' });
    } finally {
      CausalLM.prototype.upload = realUpload;
      CausalLM.prototype.trainStep = realTrainStep;
      CausalLM.prototype.evalLoss = realEvalLoss;
    }
    const byName = new Map(files.map((f) => [f.name, f.bytes]));
    const textOf = (n: string) => new TextDecoder().decode(byName.get(n)!);

    // 1. the training rows are the trainer's micro-batches, in order
    const trainSeen = seen.filter((s) => s.kind === 'train').map((s) => s.batch);
    expect(trainSeen.length).toBe(config.maxSteps * config.gradAccumulation);
    const rows = readRows(textOf('data/train_batches.jsonl'));
    expect(rows.length).toBe(trainSeen.length * config.batchSize);
    trainSeen.forEach((b, i) => {
      const mine = rows.slice(i * config.batchSize, (i + 1) * config.batchSize);
      expect(mine.every((r) => r.step === Math.floor(i / config.gradAccumulation) + 1 && r.micro === i % config.gradAccumulation)).toBe(true);
      sameBatch(mine, b);
    });
    // packing really happened (several examples in a row), and answer-only masking (some positions untrained)
    expect(rows.some((r) => r.position_ids.filter((p, t) => p === 0 && r.attention_mask[t] === 1).length > 1)).toBe(true);
    expect(rows.some((r) => r.labels.some((y, t) => y === -100 && t > 0 && r.attention_mask[t] === 1))).toBe(true);

    // 2. the validation rows are the batches of the trainer's first evaluation
    const evalRows = readRows(textOf('data/eval_batches.jsonl'));
    const firstEval: HostBatch[] = [];
    const firstEvalAt = seen.findIndex((s) => s.kind === 'eval');
    for (let i = firstEvalAt; i < seen.length && seen[i].kind === 'eval'; i++) firstEval.push(seen[i].batch);
    expect(firstEval.length).toBeGreaterThan(0);
    expect(evalRows.length).toBe(firstEval.reduce((s, b) => s + b.B, 0));
    let at = 0;
    for (const b of firstEval) {
      sameBatch(evalRows.slice(at, at + b.B), b);
      at += b.B;
    }

    // 3. the loop of train.py in PyTorch, from the recipe's files alone, against the run
    const dir = join(tmp, 'recipe');
    for (const f of files) {
      mkdirSync(dirname(join(dir, f.name)), { recursive: true });
      writeFileSync(join(dir, f.name), f.bytes);
    }
    const compile = spawnSync('/usr/bin/python3', ['-m', 'py_compile', join(dir, 'train.py'), join(dir, 'whetstone_recipe.py')], { encoding: 'utf8' });
    expect(compile.status, compile.stderr).toBe(0);
    const ref = spawnSync('/usr/bin/python3', [join(REPO_ROOT, 'src/train/recipe/testing/run_recipe_reference.py'), dir, DEMO_MODEL_DIR, REPO_ROOT], {
      encoding: 'utf8',
      cwd: REPO_ROOT,
      env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' },
    });
    expect(ref.status, ref.stderr).toBe(0);
    const py = JSON.parse(ref.stdout) as { history: { step: number; loss: number; lr: number; grad_norm: number; val_loss?: number }[] };
    const studio = summary.history;
    expect(py.history.map((h) => h.step)).toEqual(studio.map((h) => h.step));
    const report = studio.map((h, i) => ({ step: h.step, studio: h.loss, recipe: py.history[i].loss, rel: Math.abs(py.history[i].loss - h.loss) / h.loss }));
    console.log('studio vs recipe loop (PyTorch reference model):', JSON.stringify(report));
    for (let i = 0; i < studio.length; i++) {
      const s = studio[i];
      const p = py.history[i];
      expect(Math.abs(p.lr - s.lr)).toBeLessThanOrEqual(1e-9 * config.learningRate);
      // both in float32, summed in other orders: 1.1e-6 relative at most over these 6 steps when written
      expect(Math.abs(p.loss - s.loss) / s.loss).toBeLessThan(1e-4);
      expect(Math.abs(p.grad_norm - s.gradNorm) / s.gradNorm).toBeLessThan(1e-3);
      expect(p.val_loss === undefined).toBe(s.valLoss === undefined);
      if (s.valLoss !== undefined) expect(Math.abs(p.val_loss! - s.valLoss) / s.valLoss).toBeLessThan(1e-4);
    }
    // the clipping and the warm-up were exercised
    expect(studio.some((h) => h.gradNorm > config.maxGradNorm)).toBe(true);
    expect(studio[0].lr).toBe(0);

    // 4. splitting each step's rows in micro-batches of 1 (as on more GPUs) gives the same steps
    const ref1 = spawnSync('/usr/bin/python3', [join(REPO_ROOT, 'src/train/recipe/testing/run_recipe_reference.py'), dir, DEMO_MODEL_DIR, REPO_ROOT], {
      encoding: 'utf8',
      cwd: REPO_ROOT,
      env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1', MICRO_BATCH: '1' },
    });
    expect(ref1.status, ref1.stderr).toBe(0);
    const py1 = JSON.parse(ref1.stdout) as typeof py;
    py1.history.forEach((h, i) => expect(Math.abs(h.loss - py.history[i].loss) / py.history[i].loss).toBeLessThan(1e-5));

    // 5. stopped after 3 steps and continued from the weights and AdamW moments (train.py --start
    // checkpoint's path): the same steps as the uninterrupted loop
    const ref3 = spawnSync('/usr/bin/python3', [join(REPO_ROOT, 'src/train/recipe/testing/run_recipe_reference.py'), dir, DEMO_MODEL_DIR, REPO_ROOT], {
      encoding: 'utf8',
      cwd: REPO_ROOT,
      env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1', RESUME_AT: '3' },
    });
    expect(ref3.status, ref3.stderr).toBe(0);
    const py3 = JSON.parse(ref3.stdout) as typeof py;
    expect(py3.history.map((h) => h.step)).toEqual(py.history.map((h) => h.step));
    py3.history.forEach((h, i) => {
      expect(h.loss).toBe(py.history[i].loss);
      expect(h.lr).toBe(py.history[i].lr);
    });
  });
});
