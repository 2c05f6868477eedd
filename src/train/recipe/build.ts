// "Export for a cluster": a LoRA job as a folder a GPU cluster runs with Hugging Face transformers
// + peft + accelerate (templates/train.py, a fixed script that reads the job.json written here),
// with the data as the studio's trainer sees it, the adapter's first weights as a PEFT folder
// (step 0, or a checkpoint with its AdamW moments), accelerate configs, a README and an Axolotl
// YAML. Plain data in, files out: the engine (workers/services/recipeExport.ts) and the tests call it.
import type { ChatTemplateInfo, DetectedFormat, TokenizedDataset } from '../../data';
import { DEFAULT_TEMPLATE } from '../../data';
import type { ModelConfig } from '../../io/hfConfig';
import { parseLoraCheckpointKey } from '../../io/loraKeys';
import type { LoraWeights } from '../../io/loraTargets';
import { targetModulesFor } from '../../io/peft';
import { writeSafetensors, type TensorToWrite } from '../../io/safetensors';
import { initLoraWeights, targetedModules } from '../../model/adapter';
import type { LossPoint } from '../checkpointStore';
import { loraPlusRatioOf, loraScale, type TrainConfig } from '../config';
import { exportPeftFiles } from '../export';
import { axolotlYaml } from './axolotl';
import { SETTING_MAPPINGS, settingPaths } from './mapping';
import { EVAL_MAX_BATCHES, evaluationJsonl, examplesJsonl, trainingJsonl } from './render';
import trainPy from './templates/train.py?raw';
import recipePy from './templates/whetstone_recipe.py?raw';
import accelerateSingle from './templates/accelerate_config.yaml?raw';
import accelerateFsdp from './templates/accelerate_fsdp.yaml?raw';
import accelerateMulti from './templates/accelerate_multinode.yaml?raw';
import readmeTemplate from './templates/README.md?raw';

export interface RecipeFile {
  /** relative path inside the recipe folder ("data/train_batches.jsonl") */
  path: string;
  bytes: Uint8Array;
}

export interface RecipeModel {
  /** what the studio calls it */
  name: string;
  /** the Hub repo id to pull, when the studio loaded it from the Hub (or the user named it) */
  repoId: string | null;
  revision?: string;
  /** how the studio got it, for the README when there is no repo id ("a folder named X") */
  sourceNote: string;
  config: ModelConfig;
  /** the studio's load-time quantization of the base's linears (absent or 'none': fp16) */
  quantization?: string;
}

/** Where the cluster run starts: the seeded first adapter (step 0), or a checkpoint. */
export type RecipeStart =
  | { from: 'initial' }
  | { from: 'checkpoint'; step: number; params: Record<string, Float32Array>; adamM: Record<string, Float32Array>; adamV: Record<string, Float32Array> };

export interface RecipeInput {
  title: string;
  config: TrainConfig;
  model: RecipeModel;
  train: TokenizedDataset;
  validation: TokenizedDataset | null;
  /** the trainer's planned steps (plannedSteps) */
  totalSteps: number;
  template: ChatTemplateInfo;
  format: DetectedFormat;
  trainOn: 'completions' | 'all';
  /** the dataset file as the user gave it, when the studio has it */
  raw: { name: string; bytes: Uint8Array } | null;
  start: RecipeStart;
  /** the studio run's per-step losses (train.py prints its own beside them) */
  studioHistory: LossPoint[];
  /** for the README; tests pass a fixed one */
  date?: string;
}

export class RecipeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RecipeError';
  }
}

const enc = new TextEncoder();
const text = (path: string, s: string): RecipeFile => ({ path, bytes: enc.encode(s) });

/** The adapter's first weights: the seeded init the studio's run starts from (createAdapter with the job's seed). */
export function initialAdapterWeights(model: ModelConfig, config: TrainConfig): LoraWeights[] {
  const r = config.lora.rank;
  return targetedModules(model, config.lora.targetModules).map((m) => {
    const w = initLoraWeights(m.inFeatures, m.outFeatures, r, config.seed, m.path);
    return { module: m.path, a: w.A, b: w.B };
  });
}

function checkpointWeights(params: Record<string, Float32Array>): LoraWeights[] {
  const byModule = new Map<string, LoraWeights>();
  for (const [key, value] of Object.entries(params)) {
    const k = parseLoraCheckpointKey(key);
    if (!k) throw new RecipeError(`The checkpoint holds "${key}", which is not a LoRA tensor: only LoRA runs are exported for a cluster.`);
    const w = byModule.get(k.module) ?? { module: k.module, a: new Float32Array(0), b: new Float32Array(0) };
    if (k.factor === 'A') w.a = Float32Array.from(value);
    else w.b = Float32Array.from(value);
    byModule.set(k.module, w);
  }
  return [...byModule.values()];
}

function optimizerState(start: Extract<RecipeStart, { from: 'checkpoint' }>): Uint8Array {
  const tensors: TensorToWrite[] = [];
  for (const [key, p] of Object.entries(start.params)) {
    const m = start.adamM[key];
    const v = start.adamV[key];
    if (!m || !v || m.length !== p.length || v.length !== p.length) throw new RecipeError(`The checkpoint has no AdamW state for ${key}.`);
    tensors.push({ name: `${key}.exp_avg`, dtype: 'F32', shape: [p.length], data: Float32Array.from(m) });
    tensors.push({ name: `${key}.exp_avg_sq`, dtype: 'F32', shape: [p.length], data: Float32Array.from(v) });
  }
  return writeSafetensors(tensors, { format: 'pt', whetstone: `AdamW moments at step ${start.step}` });
}

/** job.json: everything train.py reads. */
export function recipeJob(input: RecipeInput, targetModules: string[] | string, rows: { train: number; eval: number }) {
  const c = input.config;
  return {
    format: 'whetstone-recipe',
    version: 1,
    title: input.title,
    base_model: {
      repo_id: input.model.repoId,
      revision: input.model.revision ?? null,
      name: input.model.name,
      architecture: input.model.config.hfArchitecture,
      source: input.model.sourceNote,
      studio_quantization: input.model.quantization ?? 'none',
    },
    method: 'lora',
    lora: { r: c.lora.rank, lora_alpha: c.lora.alpha, lora_dropout: c.lora.dropout, target_modules: targetModules, use_rslora: c.lora.useRslora, scale: loraScale(c.lora) },
    optimizer: { name: 'adamw', lr: c.learningRate, betas: [c.beta1, c.beta2], eps: c.eps, weight_decay: c.weightDecay, lora_plus_ratio: loraPlusRatioOf(c.lora) },
    schedule: { name: c.schedule, warmup_steps: c.warmupSteps, total_steps: input.totalSteps, max_steps: c.maxSteps, epochs: c.epochs },
    batch: { batch_size: c.batchSize, grad_accumulation: c.gradAccumulation, seq_len: c.seqLen, pack: c.pack },
    max_grad_norm: c.maxGradNorm,
    label_smoothing: c.labelSmoothing,
    seed: c.seed,
    activation_checkpointing: c.activationCheckpointing,
    eval: { every: c.evalEvery, max_batches: EVAL_MAX_BATCHES },
    checkpoint_every: c.checkpointEvery,
    validation_fraction: c.validationFraction,
    data: {
      train_batches: 'data/train_batches.jsonl',
      eval_batches: rows.eval > 0 ? 'data/eval_batches.jsonl' : null,
      train_rows: rows.train,
      eval_rows: rows.eval,
      train_on: input.trainOn,
    },
    start:
      input.start.from === 'checkpoint'
        ? { from: 'checkpoint', step: input.start.step, adapter_dir: 'initial_adapter', optimizer_state: 'initial_adapter/optimizer_state.safetensors' }
        : { from: 'initial', step: 0, adapter_dir: 'initial_adapter' },
    studio_history: input.studioHistory.map((h) => ({ step: h.step, loss: h.loss, lr: h.lr, grad_norm: h.gradNorm, ...(h.valLoss !== undefined ? { val_loss: h.valLoss } : {}) })),
    studio_config: c,
  };
}

function fill(template: string, values: Record<string, string>): string {
  const out = template.replace(/\{\{(\w+)\}\}/g, (_, k: string) => {
    if (!(k in values)) throw new RecipeError(`README template: no value for {{${k}}}.`);
    return values[k];
  });
  return out;
}

function settingsTable(c: TrainConfig): string {
  const rows: string[] = [];
  const value = (path: string): unknown => path.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], c);
  for (const path of settingPaths(c)) {
    const m = SETTING_MAPPINGS[path as keyof typeof SETTING_MAPPINGS];
    if (!m || m.fidelity === 'studio-only') continue;
    const v = value(path);
    rows.push(`| \`${path}\` = ${Array.isArray(v) ? v.join(', ') : String(v)} | ${m.recipe}${m.fidelity === 'differs' && m.note ? ` (${m.note})` : ''} |`);
  }
  return rows.join('\n');
}

function templateFile(t: ChatTemplateInfo): string {
  if (t.chatTemplate) return t.chatTemplate;
  const D = DEFAULT_TEMPLATE;
  return [
    '{#- The model has no chat template: the studio renders rows with its default (Alpaca-style) template, as below. -#}',
    '{%- for m in messages -%}',
    `{%- if m.role == 'system' -%}{{ m.content }}${JSON.stringify(D.systemSuffix).slice(1, -1)}`,
    `{%- elif m.role == 'user' -%}${JSON.stringify(D.instruction).slice(1, -1)}{{ m.content }}${JSON.stringify(D.sectionEnd).slice(1, -1)}`,
    `{%- else -%}${JSON.stringify(D.response).slice(1, -1)}{{ m.content }}{{ eos_token }}${JSON.stringify(D.sectionEnd).slice(1, -1)}`,
    '{%- endif -%}',
    '{%- endfor -%}',
    '',
  ].join('\n');
}

/** The recipe folder's files. */
export function buildRecipe(input: RecipeInput): RecipeFile[] {
  const c = input.config;
  if ((c.method ?? 'lora') !== 'lora') {
    throw new RecipeError(`Only LoRA runs are exported for a cluster (this one is ${c.method === 'prompt' ? 'prompt tuning' : c.method === 'bottleneck' ? 'bottleneck adapters' : c.method === 'prefix' ? 'prefix tuning' : c.method === 'ia3' ? '(IA)³' : 'full fine-tuning'}). Export its PEFT adapter or model instead.`);
  }
  if (c.lora.useDora) {
    throw new RecipeError('DoRA jobs are not exported for a cluster yet (the recipe would train plain LoRA). Turn DoRA off for a cluster recipe, or export the PEFT DoRA adapter.');
  }
  const modules = targetedModules(input.model.config, c.lora.targetModules).map((m) => m.path);
  const targets = targetModulesFor(input.model.config, modules);
  const adapters = input.start.from === 'checkpoint' ? checkpointWeights(input.start.params) : initialAdapterWeights(input.model.config, c);
  const base = input.model.repoId ?? input.model.name;
  const peft = exportPeftFiles({ config: input.model.config, modelName: base, rank: c.lora.rank, alpha: c.lora.alpha, dropout: c.lora.dropout, useRslora: c.lora.useRslora, adapters });
  const trainRows = trainingJsonl(input.train, c, input.totalSteps);
  const evalRows = evaluationJsonl(input.validation, c);
  const count = (s: string) => (s ? s.split('\n').length - 1 : 0);
  const rows = { train: count(trainRows), eval: count(evalRows) };
  const job = recipeJob(input, targets, rows);
  const startNote =
    input.start.from === 'checkpoint'
      ? `the run's checkpoint at step ${input.start.step} as a PEFT adapter, with its AdamW moments (\`optimizer_state.safetensors\`): train.py continues at step ${input.start.step + 1} with the rows that follow (DDP; with FSDP pass \`--start initial\` or start from this adapter with a fresh optimizer).`
      : `the adapter the studio's run starts from (seed ${c.seed}: A uniform in ±1/√in as PEFT's Kaiming init, B = 0) as a PEFT folder, so the cluster run begins exactly where the studio's does.`;
  const files: RecipeFile[] = [
    text('train.py', trainPy),
    text('whetstone_recipe.py', recipePy),
    text('job.json', `${JSON.stringify(job, null, 2)}\n`),
    text('accelerate_config.yaml', accelerateSingle),
    text('accelerate_fsdp.yaml', accelerateFsdp),
    text('accelerate_multinode.yaml', accelerateMulti),
    text('axolotl.yaml', axolotlYaml({ config: c, baseModel: base, targetModules: targets, totalSteps: input.totalSteps, hasValidation: rows.eval > 0, startAdapter: input.start.from === 'checkpoint' ? 'initial_adapter' : null })),
    text('data/train_batches.jsonl', trainRows),
    text('data/train_examples.jsonl', examplesJsonl(input.train)),
    text('data/format.json', `${JSON.stringify({ file: input.raw?.name ?? input.train.fileName, format: input.format, trainOn: input.trainOn, maxSeqLen: input.train.maxSeqLen }, null, 2)}\n`),
    text('chat_template.jinja', templateFile(input.template)),
    ...peft.map((f) => ({ path: `initial_adapter/${f.name}`, bytes: f.bytes })),
  ];
  if (rows.eval > 0) files.push(text('data/eval_batches.jsonl', evalRows), text('data/validation_examples.jsonl', examplesJsonl(input.validation!)));
  if (input.raw) files.push({ path: `data/raw/${input.raw.name.replace(/[/\\]/g, '_')}`, bytes: input.raw.bytes });
  if (input.start.from === 'checkpoint') files.push({ path: 'initial_adapter/optimizer_state.safetensors', bytes: optimizerState(input.start) });
  const readme = fill(readmeTemplate, {
    title: input.title,
    date: input.date ?? new Date().toISOString().slice(0, 10),
    base_model: input.model.repoId ? `\`${input.model.repoId}\`${input.model.revision ? ` (revision ${input.model.revision})` : ''} on the Hugging Face Hub` : input.model.name,
    base_model_note: input.model.repoId
      ? `(${input.model.config.hfArchitecture}; train.py downloads it; \`--base-model DIR\` takes a local copy instead.)`
      : `(${input.model.config.hfArchitecture}, ${input.model.sourceNote}: the studio does not know its Hub repo id, so pass it, or the folder, with \`--base-model\`.)`,
    compare_note: input.studioHistory.length ? ' beside the studio\'s (and the difference in percent)' : '',
    metrics_note: input.studioHistory.length ? ', and the largest relative difference from the studio\'s losses' : '',
    checkpoint_every: String(c.checkpointEvery),
    settings_table: settingsTable(c),
    train_rows: String(rows.train),
    total_steps: String(input.totalSteps),
    grad_accumulation: String(c.gradAccumulation),
    batch_size: String(c.batchSize),
    seq_len: String(c.seqLen),
    eval_rows: String(rows.eval),
    raw_note: input.raw ? `the dataset file as given to the studio (\`${input.raw.name}\`).` : 'empty: the studio no longer had the original file (load it again before exporting to include it).',
    template_note: input.template.chatTemplate ? 'the model\'s chat template the rows were rendered with.' : 'the model has none; the studio\'s default (Alpaca-style) template, written as jinja.',
    start_note: startNote,
    dropout: String(c.lora.dropout),
    quant_note:
      input.model.quantization && input.model.quantization !== 'none'
        ? `\n- **The base's precision.** The studio trained this job on its ${input.model.quantization}-quantized base (its own load-time format); train.py loads the\n  base as \`--dtype\` says (float16-rounded by default), so its losses differ from the studio's by the quantization error. For QLoRA on the\n  cluster load the base with bitsandbytes (\`BitsAndBytesConfig(load_in_4bit=True)\`), a different 4-bit format from the studio's.`
        : '',
  });
  files.push(text('README.md', readme));
  return files;
}
