// The job as an Axolotl YAML: the studio's tokenized examples as a pre-tokenized dataset (no
// `type:`, columns input_ids / attention_mask / labels), the LoRA and optimizer settings under
// Axolotl's keys (SETTING_MAPPINGS says which key each setting becomes), and comments where
// Axolotl cannot do what the studio does.
import { loraPlusRatioOf, type TrainConfig } from '../config';

export interface AxolotlInput {
  config: TrainConfig;
  baseModel: string;
  /** PEFT target_modules: suffixes, or one regex of exactly the adapted modules */
  targetModules: string[] | string;
  totalSteps: number;
  hasValidation: boolean;
  /** the checkpoint adapter to start from (relative to the recipe), or null for a fresh one */
  startAdapter: string | null;
}

/**
 * A YAML scalar: strings double-quoted (JSON's escapes are YAML's), booleans as they are, numbers
 * so that PyYAML (YAML 1.1, what Axolotl reads with) takes them as floats: 0.003, and exponents
 * only with a dot and a signed power (1.0e-8; "1e-8" would be a string there).
 */
export function scalar(v: string | number | boolean): string {
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new Error(`Axolotl YAML: ${v} is not a finite number.`);
    const s = String(v);
    if (!s.includes('e')) return s;
    const [m, e] = s.split('e');
    return `${m.includes('.') ? m : `${m}.0`}e${/^[-+]/.test(e) ? e : `+${e}`}`;
  }
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  return JSON.stringify(v);
}

const SCHEDULER: Record<TrainConfig['schedule'], string> = { constant: 'constant_with_warmup', linear: 'linear', cosine: 'cosine' };

export function axolotlYaml(a: AxolotlInput): string {
  const c = a.config;
  const l = c.lora;
  const lines: string[] = [
    '# The Whetstone job for Axolotl: axolotl train axolotl.yaml (from this folder).',
    '# Axolotl packs and orders the examples itself, and normalises the loss per micro-batch:',
    '# its steps are not the studio\'s row for row (train.py is; see README.md).',
    `base_model: ${scalar(a.baseModel)}`,
    '',
    '# the studio\'s tokenized examples (its chat template and answer-only masks), pre-tokenized',
    'datasets:',
    '  - path: data/train_examples.jsonl',
    '    ds_type: json',
    '    type:',
  ];
  if (a.hasValidation) lines.push('test_datasets:', '  - path: data/validation_examples.jsonl', '    ds_type: json', '    split: train', '    type:', 'val_set_size: 0');
  else lines.push('val_set_size: 0');
  lines.push('dataset_prepared_path: last_run_prepared', 'output_dir: ./out-axolotl', '');
  lines.push('adapter: lora');
  if (a.startAdapter) lines.push(`lora_model_dir: ${scalar(a.startAdapter)}`);
  lines.push(`lora_r: ${scalar(l.rank)}`, `lora_alpha: ${scalar(l.alpha)}`, `lora_dropout: ${scalar(l.dropout)}`);
  if (typeof a.targetModules === 'string') lines.push(`lora_target_modules: ${scalar(a.targetModules)}`);
  else lines.push('lora_target_modules:', ...a.targetModules.map((t) => `  - ${scalar(t)}`));
  lines.push(`peft_use_rslora: ${scalar(l.useRslora)}`);
  if (loraPlusRatioOf(l) !== 1) lines.push(`loraplus_lr_ratio: ${scalar(loraPlusRatioOf(l))}`);
  lines.push('');
  lines.push(
    `sequence_len: ${scalar(c.seqLen)}`,
    `sample_packing: ${scalar(c.pack)}`,
    `pad_to_sequence_len: ${scalar(c.pack)}`,
    `micro_batch_size: ${scalar(c.batchSize)}`,
    `gradient_accumulation_steps: ${scalar(c.gradAccumulation)}`,
    '# the studio\'s number of optimizer steps (of batch_size x accumulation rows on one GPU)',
    `max_steps: ${scalar(a.totalSteps)}`,
    `num_epochs: ${scalar(c.maxSteps > 0 ? 1 : c.epochs)}`,
    '',
    'optimizer: adamw_torch',
    `learning_rate: ${scalar(c.learningRate)}`,
    `lr_scheduler: ${SCHEDULER[c.schedule]}`,
    `warmup_steps: ${scalar(c.warmupSteps)}`,
    `adam_beta1: ${scalar(c.beta1)}`,
    `adam_beta2: ${scalar(c.beta2)}`,
    `adam_epsilon: ${scalar(c.eps)}`,
    `weight_decay: ${scalar(c.weightDecay)}`,
    `max_grad_norm: ${scalar(c.maxGradNorm)}`,
  );
  if (c.labelSmoothing > 0) lines.push(`# label smoothing ${c.labelSmoothing}: Axolotl has no setting for it (train.py applies it)`);
  lines.push(
    `seed: ${scalar(c.seed)}`,
    `gradient_checkpointing: ${scalar(c.activationCheckpointing)}`,
    'bf16: auto',
    'tf32: false',
    // the packing mask keeps examples apart only with flash attention's varlen kernels
    `flash_attention: ${scalar(c.pack)}`,
    '',
  );
  if (a.hasValidation && c.evalEvery > 0) lines.push(`eval_steps: ${scalar(c.evalEvery)}`);
  if (c.checkpointEvery > 0) lines.push(`save_steps: ${scalar(c.checkpointEvery)}`);
  lines.push('logging_steps: 1', '');
  return lines.join('\n');
}
