// Every studio job setting (TrainConfig, deeply) and where it goes in the cluster recipe: the
// job.json field train.py reads (and the Hugging Face / PEFT / accelerate equivalent), the
// Axolotl key, and whether the cluster run reproduces it exactly. The table's type is built from
// TrainConfig's keys, so adding a setting to the job without a row here fails the typecheck, and
// recipe.test.ts fails at run time on the default config's keys.
import type { TrainConfig } from '../config';

/** Dotted paths of every leaf setting of T (arrays are leaves; optional objects count too). */
export type SettingPath<T, P extends string = ''> = {
  [K in keyof T & string]-?: NonNullable<T[K]> extends readonly unknown[]
    ? `${P}${K}`
    : NonNullable<T[K]> extends object
      ? SettingPath<NonNullable<T[K]>, `${P}${K}.`>
      : `${P}${K}`;
}[keyof T & string];

export interface SettingMapping {
  /** where train.py gets it (job.json field, the data files, the PEFT folder) */
  recipe: string;
  /** the Hugging Face / PEFT / accelerate name of the same thing */
  hf: string;
  /** the Axolotl YAML key, or null when Axolotl has none (said in the YAML) */
  axolotl: string | null;
  /** exact: the cluster run does the same; differs: see note; studio-only: no cluster meaning */
  fidelity: 'exact' | 'differs' | 'studio-only';
  note?: string;
}

export const SETTING_MAPPINGS: Record<SettingPath<TrainConfig>, SettingMapping> = {
  method: { recipe: 'job.json method (LoRA only)', hf: 'peft LoraConfig', axolotl: 'adapter: lora', fidelity: 'exact', note: 'Prompt tuning and full fine-tuning runs are not exported as cluster recipes.' },
  'lora.rank': { recipe: 'initial_adapter/adapter_config.json r; job.json lora.r', hf: 'LoraConfig.r', axolotl: 'lora_r', fidelity: 'exact' },
  'lora.alpha': { recipe: 'adapter_config.json lora_alpha', hf: 'LoraConfig.lora_alpha', axolotl: 'lora_alpha', fidelity: 'exact' },
  'lora.dropout': {
    recipe: 'adapter_config.json lora_dropout',
    hf: 'LoraConfig.lora_dropout (nn.Dropout on the LoRA input)',
    axolotl: 'lora_dropout',
    fidelity: 'differs',
    note: 'Same probability and inverted scaling, but the masks come from torch’s generator, not the studio’s: with dropout > 0 the runs agree in distribution, not step by step.',
  },
  'lora.targetModules': { recipe: 'adapter_config.json target_modules (PEFT suffixes or a regex of exactly the adapted modules)', hf: 'LoraConfig.target_modules', axolotl: 'lora_target_modules', fidelity: 'exact' },
  'lora.useRslora': { recipe: 'adapter_config.json use_rslora', hf: 'LoraConfig.use_rslora (alpha/√r)', axolotl: 'peft_use_rslora', fidelity: 'exact' },
  'lora.useLoraPlus': { recipe: 'job.json optimizer.lora_plus_ratio (1 when off): the lora_B tensors in an AdamW group at ratio × lr', hf: 'peft create_loraplus_optimizer', axolotl: 'loraplus_lr_ratio', fidelity: 'exact', note: 'Weight decay keeps its coefficient (torch scales the decay with the group’s lr, as the studio).' },
  'lora.loraPlusRatio': { recipe: 'job.json optimizer.lora_plus_ratio', hf: 'create_loraplus_optimizer loraplus_lr_ratio', axolotl: 'loraplus_lr_ratio', fidelity: 'exact' },
  'lora.useDora': { recipe: '— (a DoRA job is refused with a message: not exported for a cluster yet)', hf: 'LoraConfig.use_dora', axolotl: 'peft_use_dora', fidelity: 'differs', note: 'DoRA trains in the studio; the recipe refuses DoRA jobs until it writes the initial magnitude vector (PEFT lora_magnitude_vector) with use_dora.' },
  'bottleneck.variant': { recipe: '—', hf: 'adapters SeqBnConfig / DoubleSeqBnConfig', axolotl: null, fidelity: 'studio-only', note: 'Bottleneck-adapter runs are not exported as cluster recipes.' },
  'bottleneck.reductionFactor': { recipe: '—', hf: 'adapters BnConfig.reduction_factor', axolotl: null, fidelity: 'studio-only', note: 'Bottleneck-adapter runs are not exported as cluster recipes.' },
  'prefixTuning.numVirtualTokens': { recipe: '—', hf: 'PrefixTuningConfig.num_virtual_tokens', axolotl: null, fidelity: 'studio-only', note: 'Prefix tuning is not exported as a cluster recipe.' },
  'prefixTuning.init': { recipe: '—', hf: '— (PEFT inits the PrefixEncoder N(0, 1); the studio can start from the model’s keys/values of a text)', axolotl: null, fidelity: 'studio-only', note: 'Prefix tuning is not exported as a cluster recipe.' },
  'prefixTuning.initText': { recipe: '—', hf: '—', axolotl: null, fidelity: 'studio-only', note: 'Prefix tuning is not exported as a cluster recipe.' },
  'prefixTuning.projection': { recipe: '—', hf: 'PrefixTuningConfig.prefix_projection', axolotl: null, fidelity: 'studio-only', note: 'Prefix tuning is not exported as a cluster recipe.' },
  'prefixTuning.encoderHiddenSize': { recipe: '—', hf: 'PrefixTuningConfig.encoder_hidden_size', axolotl: null, fidelity: 'studio-only', note: 'Prefix tuning is not exported as a cluster recipe.' },
  'promptTuning.numVirtualTokens': { recipe: '—', hf: 'PromptTuningConfig.num_virtual_tokens', axolotl: null, fidelity: 'studio-only', note: 'Prompt tuning is not exported as a cluster recipe.' },
  'promptTuning.init': { recipe: '—', hf: 'PromptTuningConfig.prompt_tuning_init', axolotl: null, fidelity: 'studio-only', note: 'Prompt tuning is not exported as a cluster recipe.' },
  'promptTuning.initText': { recipe: '—', hf: 'PromptTuningConfig.prompt_tuning_init_text', axolotl: null, fidelity: 'studio-only', note: 'Prompt tuning is not exported as a cluster recipe.' },
  deviceBudgetBytes: { recipe: '—', hf: '—', axolotl: null, fidelity: 'studio-only', note: 'The studio’s memory planning (browsers do not report GPU memory); cluster GPUs do.' },
  learningRate: { recipe: 'job.json optimizer.lr', hf: 'AdamW lr', axolotl: 'learning_rate', fidelity: 'exact' },
  schedule: { recipe: 'job.json schedule.name (whetstone_recipe.lr_at)', hf: 'get_{constant,linear,cosine}_schedule_with_warmup', axolotl: 'lr_scheduler', fidelity: 'exact' },
  warmupSteps: { recipe: 'job.json schedule.warmup_steps', hf: 'num_warmup_steps', axolotl: 'warmup_steps', fidelity: 'exact' },
  maxSteps: { recipe: 'job.json schedule.total_steps and the rows of data/train_batches.jsonl', hf: 'max_steps', axolotl: 'max_steps', fidelity: 'exact' },
  epochs: { recipe: 'job.json schedule.total_steps (epochs × micro-batches per epoch / accumulation) and the rows', hf: 'num_train_epochs', axolotl: 'num_epochs', fidelity: 'exact' },
  batchSize: { recipe: 'job.json batch.batch_size; rows per micro-batch in the data', hf: 'per_device_train_batch_size', axolotl: 'micro_batch_size', fidelity: 'exact', note: 'train.py splits each step’s rows over the GPUs; the step is the same for any GPU count.' },
  gradAccumulation: {
    recipe: 'job.json batch.grad_accumulation; micro-batches per step in the data',
    hf: 'gradient_accumulation_steps',
    axolotl: 'gradient_accumulation_steps',
    fidelity: 'exact',
    note: 'train.py: the step’s loss is the sum over all its trained tokens / their count, as the studio. HF Trainer and Axolotl differ (see README).',
  },
  seqLen: { recipe: 'job.json batch.seq_len; the rows are this long', hf: 'max_seq_length', axolotl: 'sequence_len', fidelity: 'exact' },
  pack: { recipe: 'the rows: packed examples with position_ids restarting at 0; train.py’s block-diagonal 4D mask', hf: 'packing with position_ids (DataCollatorWithFlattening)', axolotl: 'sample_packing', fidelity: 'exact' },
  weightDecay: { recipe: 'job.json optimizer.weight_decay', hf: 'AdamW weight_decay', axolotl: 'weight_decay', fidelity: 'exact', note: 'Applied to every LoRA tensor, as the studio (HF Trainer exempts biases and norms only).' },
  beta1: { recipe: 'job.json optimizer.betas[0]', hf: 'AdamW betas[0]', axolotl: 'adam_beta1', fidelity: 'exact' },
  beta2: { recipe: 'job.json optimizer.betas[1]', hf: 'AdamW betas[1]', axolotl: 'adam_beta2', fidelity: 'exact' },
  eps: { recipe: 'job.json optimizer.eps', hf: 'AdamW eps', axolotl: 'adam_epsilon', fidelity: 'exact' },
  maxGradNorm: { recipe: 'job.json max_grad_norm (0: no clipping)', hf: 'clip_grad_norm_ max_norm', axolotl: 'max_grad_norm', fidelity: 'exact' },
  labelSmoothing: { recipe: 'job.json label_smoothing', hf: 'cross_entropy label_smoothing', axolotl: null, fidelity: 'exact', note: 'Axolotl has no label-smoothing setting.' },
  seed: { recipe: 'job.json seed (accelerate set_seed); the data order and the initial adapter are already the seed’s', hf: 'set_seed', axolotl: 'seed', fidelity: 'exact', note: 'Dropout masks differ (see lora.dropout).' },
  activationCheckpointing: { recipe: 'job.json activation_checkpointing', hf: 'gradient_checkpointing_enable()', axolotl: 'gradient_checkpointing', fidelity: 'exact' },
  evalEvery: { recipe: 'job.json eval.every; data/eval_batches.jsonl', hf: 'eval_steps', axolotl: 'eval_steps', fidelity: 'exact' },
  checkpointEvery: { recipe: 'job.json checkpoint_every: a PEFT adapter folder out/checkpoint-N', hf: 'save_steps', axolotl: 'save_steps', fidelity: 'exact' },
  validationFraction: { recipe: 'the split is in the data: training rows and data/eval_batches.jsonl', hf: '—', axolotl: 'test_datasets (val_set_size: 0)', fidelity: 'exact' },
};

/** The dotted setting paths of a config object (what recipe.test.ts checks against the table). */
export function settingPaths(value: object, prefix = ''): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(value)) {
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) out.push(...settingPaths(v as object, `${prefix}${k}.`));
    else out.push(`${prefix}${k}`);
  }
  return out;
}
