// The cluster recipe without a GPU: every job setting has a row in the mapping table (and a new
// setting without one fails here and in the typecheck); the rendered rows are the trainer's
// batches; job.json, the initial PEFT adapter, the README and the Axolotl YAML carry the job;
// train.py and whetstone_recipe.py compile; and whetstone_recipe.py's pure-PyTorch pieces (the
// learning rate, the smoothed token loss, the packing mask) give the studio's figures.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseHfConfig } from '../../arch/config';
import { BatchIterator, chatTemplateInfo, readDatasetFile, splitDataset, tokenizeDataset } from '../../data';
import { makeByteLevelChatmlTokenizer } from '../../data/testing/tokenizers';
import { crossEntropyRef } from '../../gpu/ops/crossEntropy.ref';
import { readSafetensorsHeader, readTensorF32 } from '../../io/safetensors';
import { bufferSource } from '../../io/byteSource';
import { initLoraWeights, targetedModules } from '../../model/adapter';
import { DEMO_MODEL_DIR, REPO_ROOT } from '../../model/testing/loadForTest';
import { DEFAULT_BOTTLENECK, DEFAULT_CONFIG, DEFAULT_PREFIX_TUNING, DEFAULT_PROMPT_TUNING, type TrainConfig } from '../config';
import { learningRateAt } from '../schedule';
import { evaluationBatches, plannedSteps } from '../trainer';
import { buildRecipe, RecipeError, type RecipeInput } from './build';
import { scalar } from './axolotl';
import { SETTING_MAPPINGS, settingPaths } from './mapping';
import { rowsToBatch, trainerBatchOptions, type RecipeRow } from './render';

const tmp = mkdtempSync(join(tmpdir(), 'whetstone-recipe-unit-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A config with every optional setting present, so that its paths are all the job's settings. */
const FULL: TrainConfig = {
  ...DEFAULT_CONFIG,
  lora: { ...DEFAULT_CONFIG.lora, useLoraPlus: true, loraPlusRatio: 16, useDora: true },
  promptTuning: { ...DEFAULT_PROMPT_TUNING, initText: 'x' },
  bottleneck: { ...DEFAULT_BOTTLENECK },
  prefixTuning: { ...DEFAULT_PREFIX_TUNING, projection: true, encoderHiddenSize: 64 },
  deviceBudgetBytes: 2 ** 30,
};

describe('the settings table', () => {
  it('maps every setting of the job, and nothing else', () => {
    const paths = settingPaths(FULL);
    const missing = paths.filter((p) => !(p in SETTING_MAPPINGS));
    expect(missing, `settings without a recipe mapping (add them to SETTING_MAPPINGS in src/train/recipe/mapping.ts): ${missing.join(', ')}`).toEqual([]);
    expect(Object.keys(SETTING_MAPPINGS).filter((k) => !paths.includes(k))).toEqual([]);
    // the defaults' own settings are among them (a new default setting lands here too)
    expect(settingPaths(DEFAULT_CONFIG).every((p) => p in SETTING_MAPPINGS)).toBe(true);
    for (const [k, m] of Object.entries(SETTING_MAPPINGS)) {
      expect(m.recipe.length, k).toBeGreaterThan(0);
      if (m.fidelity === 'differs' || m.axolotl === null) expect(m.note, `${k} needs a note saying what differs`).toBeTruthy();
    }
  });

  it('notices a setting added without a mapping', () => {
    const grown = { ...FULL, lora: { ...FULL.lora, futureKnob: true }, newKnob: 3 };
    expect(settingPaths(grown).filter((p) => !(p in SETTING_MAPPINGS))).toEqual(['lora.futureKnob', 'newKnob']);
  });
});

async function tinyJob(config: TrainConfig) {
  const t = makeByteLevelChatmlTokenizer();
  const rows = Array.from({ length: 23 }, (_, i) => ({
    messages: [
      { role: 'user', content: `Question ${i}: ${'why '.repeat(1 + (i % 5))}?` },
      { role: 'assistant', content: `Answer ${i} ${'because '.repeat(1 + ((i * 7) % 4))}` },
    ],
  }));
  const text = rows.map((r) => JSON.stringify(r)).join('\n');
  const file = new File([text], 'chat.jsonl');
  const raw = await readDatasetFile(file);
  const template = chatTemplateInfo(t.tokenizerConfig, t.tokenizer);
  const ds = tokenizeDataset(raw, t.tokenizer, template, { maxSeqLen: config.seqLen, onBadRow: 'stop' });
  const { train, validation } = splitDataset(ds, { validationFraction: config.validationFraction, seed: config.seed });
  const modelConfig = parseHfConfig(readFileSync(join(DEMO_MODEL_DIR, 'config.json'), 'utf8'));
  const input: RecipeInput = {
    title: 'unit job',
    config,
    model: { name: 'stories260K', repoId: 'someone/stories-hf', revision: 'abc123', sourceNote: 'test', config: modelConfig },
    train,
    validation,
    totalSteps: plannedSteps(train, config),
    template,
    format: raw.format,
    trainOn: 'completions',
    raw: { name: 'chat.jsonl', bytes: new TextEncoder().encode(text) },
    start: { from: 'initial' },
    studioHistory: [{ step: 1, loss: 2.5, lr: 0, gradNorm: 1, tokensPerSecond: 1 }],
    date: '2026-01-01',
  };
  return { input, train, validation, modelConfig };
}

const JOB: TrainConfig = {
  ...DEFAULT_CONFIG,
  lora: { ...DEFAULT_CONFIG.lora, rank: 4, alpha: 8, targetModules: ['q_proj', 'v_proj', 'down_proj'], dropout: 0.05 },
  maxSteps: 0,
  epochs: 2,
  batchSize: 3,
  gradAccumulation: 2,
  seqLen: 48,
  labelSmoothing: 0.1,
  weightDecay: 0.02,
  seed: 5,
  validationFraction: 0.2,
};

function filesByPath(files: { path: string; bytes: Uint8Array }[]) {
  return new Map(files.map((f) => [f.path, f.bytes]));
}

describe('buildRecipe', () => {
  it('writes the trainer’s batches, the job, the first adapter, the README and the Axolotl YAML', async () => {
    const { input, train, validation, modelConfig } = await tinyJob(JOB);
    const files = filesByPath(buildRecipe(input));
    const text = (p: string) => new TextDecoder().decode(files.get(p)!);
    for (const p of ['train.py', 'whetstone_recipe.py', 'job.json', 'README.md', 'axolotl.yaml', 'accelerate_config.yaml', 'accelerate_multinode.yaml', 'accelerate_fsdp.yaml',
      'data/train_batches.jsonl', 'data/eval_batches.jsonl', 'data/train_examples.jsonl', 'data/validation_examples.jsonl', 'data/format.json', 'data/raw/chat.jsonl',
      'chat_template.jinja', 'initial_adapter/adapter_model.safetensors', 'initial_adapter/adapter_config.json']) {
      expect(files.has(p), p).toBe(true);
    }

    // every micro-batch of every step, as a BatchIterator with the trainer's options draws them
    const total = plannedSteps(train, JOB);
    expect(total).toBeGreaterThan(1);
    const rows = text('data/train_batches.jsonl').trim().split('\n').map((l) => JSON.parse(l) as RecipeRow);
    expect(rows.length).toBe(total * JOB.gradAccumulation * JOB.batchSize);
    const it = new BatchIterator(train, trainerBatchOptions(JOB));
    for (let k = 0; k < total * JOB.gradAccumulation; k++) {
      const b = it.next();
      const got = rowsToBatch(rows.slice(k * JOB.batchSize, (k + 1) * JOB.batchSize));
      expect(got.tokens).toEqual(b.tokens);
      expect(got.labels).toEqual(b.labels);
      expect(got.positions).toEqual(b.positions);
      expect(got.docIds).toEqual(b.docIds);
      expect(got.trainedTokens).toBe(b.trainedTokens);
    }
    const evalRows = text('data/eval_batches.jsonl').trim().split('\n').map((l) => JSON.parse(l) as RecipeRow);
    const evalBatches = evaluationBatches(validation, JOB, 8);
    expect(evalRows.length).toBe(evalBatches.reduce((s, b) => s + b.B, 0));
    expect(rowsToBatch(evalRows.slice(0, JOB.batchSize)).labels).toEqual(evalBatches[0].labels);
    // HF convention: each row's labels are the studio's shifted right by one
    expect(rows[0].labels[0]).toBe(-100);
    expect(rows.some((r) => r.labels.some((y, t) => y !== -100 && y === r.input_ids[t]))).toBe(true);

    const job = JSON.parse(text('job.json'));
    expect(job.optimizer).toEqual({ name: 'adamw', lr: JOB.learningRate, betas: [JOB.beta1, JOB.beta2], eps: JOB.eps, weight_decay: JOB.weightDecay, lora_plus_ratio: 1 });
    expect(job.schedule).toEqual({ name: 'cosine', warmup_steps: JOB.warmupSteps, total_steps: total, max_steps: 0, epochs: 2 });
    expect(job.batch).toEqual({ batch_size: 3, grad_accumulation: 2, seq_len: 48, pack: true });
    expect([job.max_grad_norm, job.label_smoothing, job.seed, job.eval, job.checkpoint_every]).toEqual([1, 0.1, 5, { every: JOB.evalEvery, max_batches: 8 }, JOB.checkpointEvery]);
    expect(job.lora).toMatchObject({ r: 4, lora_alpha: 8, lora_dropout: 0.05, use_rslora: false, scale: 2 });
    expect(job.base_model).toMatchObject({ repo_id: 'someone/stories-hf', revision: 'abc123' });
    expect(job.data).toMatchObject({ train_rows: rows.length, eval_rows: evalRows.length });
    expect(job.studio_history).toEqual([{ step: 1, loss: 2.5, lr: 0, grad_norm: 1 }]);

    // the first adapter is the seeded init the studio's run starts from
    const cfg = JSON.parse(text('initial_adapter/adapter_config.json'));
    expect(cfg).toMatchObject({ peft_type: 'LORA', r: 4, lora_alpha: 8, lora_dropout: 0.05, use_rslora: false, base_model_name_or_path: 'someone/stories-hf' });
    expect([...cfg.target_modules].sort()).toEqual(['down_proj', 'q_proj', 'v_proj']);
    const st = bufferSource(files.get('initial_adapter/adapter_model.safetensors')!);
    const header = await readSafetensorsHeader(st);
    const mods = targetedModules(modelConfig, JOB.lora.targetModules);
    expect(Object.keys(header.tensors).length).toBe(2 * mods.length);
    for (const m of [mods[0], mods.at(-1)!]) {
      const want = initLoraWeights(m.inFeatures, m.outFeatures, 4, JOB.seed, m.path);
      expect(await readTensorF32(st, header, `base_model.model.${m.path}.lora_A.weight`)).toEqual(want.A);
      expect((await readTensorF32(st, header, `base_model.model.${m.path}.lora_B.weight`)).every((x) => x === 0)).toBe(true);
    }

    const readme = text('README.md');
    expect(readme).not.toMatch(/\{\{/);
    expect(readme).toContain('someone/stories-hf');
    expect(readme).toContain('accelerate launch --config_file accelerate_config.yaml train.py --out out');
    expect(readme).toContain('## When to move to a cluster');
    expect(readme).toContain('## Coming back to the studio');
    expect(readme).toMatch(/sum of the token losses of all its micro-batches/);
    expect(readme).not.toMatch(/quantized base/);
    const q = new TextDecoder().decode(filesByPath(buildRecipe({ ...input, model: { ...input.model, quantization: 'int4' } })).get('README.md')!);
    expect(q).toMatch(/The studio trained this job on its int4-quantized base/);
    expect(job.base_model.studio_quantization).toBe('none');
    const yaml = text('axolotl.yaml');
    for (const line of ['base_model: "someone/stories-hf"', 'adapter: lora', 'lora_r: 4', 'lora_alpha: 8', 'lora_dropout: 0.05', 'sequence_len: 48', 'sample_packing: true',
      'micro_batch_size: 3', 'gradient_accumulation_steps: 2', `max_steps: ${total}`, 'lr_scheduler: cosine', 'weight_decay: 0.02', 'learning_rate: 0.002', 'adam_epsilon: 1.0e-8', 'adam_beta2: 0.999', 'seed: 5', '  - path: data/train_examples.jsonl']) {
      expect(yaml.split('\n'), line).toContain(line);
    }
    expect(yaml).toMatch(/label smoothing 0.1: Axolotl has no setting/);
    expect([scalar(1e-8), scalar(2.5e-7), scalar(1e21 + 0.5), scalar(3), scalar(0.003), scalar('a "b"')]).toEqual(['1.0e-8', '2.5e-7', '1.0e+21', '3', '0.003', '"a \\"b\\""']);

    // the scripts compile as written into the folder
    const dir = join(tmp, 'unit');
    for (const [p, bytes] of files) {
      mkdirSync(dirname(join(dir, p)), { recursive: true });
      writeFileSync(join(dir, p), bytes);
    }
    const r = spawnSync('/usr/bin/python3', ['-m', 'py_compile', join(dir, 'train.py'), join(dir, 'whetstone_recipe.py')], { encoding: 'utf8', env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' } });
    expect(r.status, r.stderr).toBe(0);
    // the shipped scripts are the template files, byte for byte (train.py is not assembled at run time)
    expect(text('train.py')).toBe(readFileSync(join(REPO_ROOT, 'src/train/recipe/templates/train.py'), 'utf8'));
  });

  it('starts from a checkpoint with its AdamW moments, and refuses what is not LoRA', async () => {
    const { input, modelConfig } = await tinyJob({ ...JOB, maxSteps: 4, epochs: 1 });
    const mods = targetedModules(modelConfig, JOB.lora.targetModules);
    const params: Record<string, Float32Array> = {};
    const adamM: Record<string, Float32Array> = {};
    const adamV: Record<string, Float32Array> = {};
    mods.forEach((m, i) => {
      for (const [f, n] of [['A', 4 * m.inFeatures], ['B', m.outFeatures * 4]] as const) {
        const key = `base_model.model.${m.path}.lora_${f}.weight`;
        params[key] = Float32Array.from({ length: n }, (_, j) => (i + j) * 1e-3);
        adamM[key] = Float32Array.from({ length: n }, () => 0.5);
        adamV[key] = Float32Array.from({ length: n }, () => 0.25);
      }
    });
    const files = filesByPath(buildRecipe({ ...input, start: { from: 'checkpoint', step: 2, params, adamM, adamV } }));
    const job = JSON.parse(new TextDecoder().decode(files.get('job.json')!));
    expect(job.start).toEqual({ from: 'checkpoint', step: 2, adapter_dir: 'initial_adapter', optimizer_state: 'initial_adapter/optimizer_state.safetensors' });
    const st = bufferSource(files.get('initial_adapter/optimizer_state.safetensors')!);
    const header = await readSafetensorsHeader(st);
    const key = `base_model.model.${mods[0].path}.lora_A.weight`;
    expect(Array.from(await readTensorF32(st, header, `${key}.exp_avg_sq`)).every((x) => x === 0.25)).toBe(true);
    const ad = bufferSource(files.get('initial_adapter/adapter_model.safetensors')!);
    expect(await readTensorF32(ad, await readSafetensorsHeader(ad), key)).toEqual(params[key]);

    expect(() => buildRecipe({ ...input, config: { ...input.config, method: 'prompt', pack: false } })).toThrow(RecipeError);
    expect(() => buildRecipe({ ...input, config: { ...input.config, method: 'full' } })).toThrow(/Only LoRA runs/);
    expect(() => buildRecipe({ ...input, config: { ...input.config, lora: { ...input.config.lora, dropout: 0, useDora: true } } })).toThrow(/DoRA jobs are not exported/);
  });
});

describe('whetstone_recipe.py (PyTorch) against the studio', () => {
  it('gives the studio’s learning rates, smoothed token losses and packing mask', () => {
    const lrCases: { args: [number, number, string, number, number]; want: number }[] = [];
    for (const schedule of ['constant', 'linear', 'cosine'] as const) {
      for (const [warm, total] of [[0, 10], [3, 10], [5, 5], [2, 1]]) {
        for (let s = 0; s <= total + 1; s++) lrCases.push({ args: [s, 3e-3, schedule, warm, total], want: learningRateAt(s, 3e-3, schedule, warm, total) });
      }
    }
    // a packed row (3 examples, then padding) as the studio lays it out
    const batch = new BatchIterator(
      { offsets: Int32Array.from([0, 3, 5, 9]), tokens: Int32Array.from([5, 6, 7, 8, 9, 10, 11, 12, 13]), trained: Uint8Array.from([0, 1, 1, 0, 1, 0, 0, 1, 1]) } as never,
      { batchSize: 1, seqLen: 12, pack: true, seed: 0, shuffle: false },
    ).next();
    const V = 7;
    const N = 12;
    const logits = Array.from({ length: N * V }, (_, i) => Math.sin(i * 1.37) * 3);
    const labels = Array.from(batch.labels, (y) => (y === -100 ? -100 : y % V));
    const ce = crossEntropyRef(logits, labels, N, V, 0.1);
    const counted = labels.filter((y) => y !== -100).length;
    const cases = { lr: lrCases.map((c) => c.args), logits, labels, V, positions: Array.from(batch.positions), docIds: Array.from(batch.docIds) };
    const script = `
import json, sys, torch
sys.path.insert(0, ${JSON.stringify(join(REPO_ROOT, 'src/train/recipe/templates'))})
import whetstone_recipe as wr
c = json.load(sys.stdin)
lrs = [wr.lr_at(*a) for a in c["lr"]]
logits = torch.tensor(c["logits"], dtype=torch.float64).reshape(1, -1, c["V"])
# the row in the HF convention, shifted back by the recipe's own helper
labels = torch.tensor([[-100] + c["labels"][:-1]])
after = torch.tensor([c["labels"][-1]])
targets = wr.shifted_targets(labels, after)
loss = float(wr.loss_sum(logits.double(), targets, 0.1))
pos = torch.tensor([c["positions"]])
mask = torch.tensor([[1 if d >= 0 else 0 for d in c["docIds"]]])
bias = wr.attention_bias(pos, mask)[0, 0]
allowed = (bias == 0).int().tolist()
print(json.dumps({"lrs": lrs, "loss_sum": loss, "targets": targets[0].tolist(), "allowed": allowed, "docs": wr.doc_ids(pos, mask)[0].tolist()}))
`;
    const r = spawnSync('/usr/bin/python3', ['-c', script], { input: JSON.stringify(cases), encoding: 'utf8', env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' } });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { lrs: number[]; loss_sum: number; targets: number[]; allowed: number[][]; docs: number[] };
    lrCases.forEach((c, i) => expect(Math.abs(out.lrs[i] - c.want), JSON.stringify(c.args)).toBeLessThanOrEqual(1e-15));
    expect(out.targets).toEqual(labels);
    // torch's smoothed cross-entropy summed = the studio's mean × its count (float32 loss_sum vs f64 reference)
    expect(Math.abs(out.loss_sum - ce.loss * counted)).toBeLessThanOrEqual(1e-4 * ce.loss * counted);
    expect(out.docs).toEqual(Array.from(batch.docIds));
    // the studio's attention rule: s <= t within the same example; padding sees only itself
    for (let t = 0; t < N; t++) {
      for (let s = 0; s < N; s++) {
        const studio = batch.docIds[t] >= 0 ? s <= t && batch.docIds[s] === batch.docIds[t] : s === t;
        expect(out.allowed[t][s] === 1, `query ${t} key ${s}`).toBe(studio);
      }
    }
  });
});
