// Training configuration: every hyperparameter with its default, a one-line explanation for the
// UI, validation with messages that say how to fix a value, and presets.

export type LrSchedule = 'constant' | 'linear' | 'cosine';
export type TargetPreset = 'all-linear' | 'attention' | 'custom';

export interface LoraSettings {
  rank: number;
  alpha: number;
  dropout: number;
  /** module names as in Hugging Face checkpoints: q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj (GPT-2: c_attn, c_proj, c_fc) */
  targetModules: string[];
  useRslora: boolean;
  /**
   * LoRA+ (Hayou et al. 2024): B trains with learning rate loraPlusRatio × lr, A with lr. An
   * optimizer setting only: the adapter and its files are plain LoRA. Absent: off.
   */
  useLoraPlus?: boolean;
  /** lr_B / lr_A when useLoraPlus is on (absent: DEFAULT_LORA_PLUS_RATIO) */
  loraPlusRatio?: number;
  /**
   * DoRA (Liu et al. 2024; PEFT use_dora): each targeted linear's weight split into a trained
   * magnitude per output and the LoRA-updated direction. Needs dropout 0. Absent: off.
   */
  useDora?: boolean;
}

/** The LoRA+ paper's recommended lr_B / lr_A (2^4). */
export const DEFAULT_LORA_PLUS_RATIO = 16;

/**
 * What is trained: 'lora' an adapter on the targeted linears; 'prompt' n virtual-token
 * embeddings prepended to every sequence (PEFT prompt tuning; packing must be off); 'full'
 * every weight (f32 master copies + AdamW state: 16 bytes per parameter beyond the model);
 * 'ia3' (IA)³ (PEFT IA3): learned vectors scaling keys, values and the MLP's down_proj input;
 * 'prefix' prefix tuning (PEFT PREFIX_TUNING): per layer n trained key/value positions every query
 * attends to (packing must be off).
 */
export type TrainMethod = 'lora' | 'prompt' | 'full' | 'bottleneck' | 'ia3' | 'prefix';

/**
 * Prefix tuning (PEFT PREFIX_TUNING, prefix_projection false: the table is trained directly; a
 * PEFT adapter saved with prefix_projection on imports as its table).
 */
export interface PrefixTuningSettings {
  /** num_virtual_tokens: prefix positions per layer */
  numVirtualTokens: number;
  /**
   * Where the prefix starts. 'text' (the default): the base model's own keys and values of
   * initText (its tokens cut or repeated to numVirtualTokens), as Li & Liang recommend (real
   * activations), so the run starts where the base model is, as if that text came first.
   * 'random': PEFT's PrefixEncoder init, N(0, 1), which starts far from the base model.
   */
  init?: 'text' | 'random';
  initText?: string;
  /**
   * PEFT's prefix_projection: train an MLP (embedding → Linear → tanh → Linear) whose output is
   * the prefix, as Li & Liang do for stability; it starts from PEFT's random init (init 'random').
   * encoderHiddenSize: the MLP's width (PEFT's encoder_hidden_size; absent: the kv width Hkv·D).
   */
  projection?: boolean;
  encoderHiddenSize?: number;
}

/**
 * A learning rate that suits each method on small models (AdamW; the CLI's defaults): the fewer and
 * larger-scaled the trained values, the larger the steps they take (a prefix's keys/values are
 * activations of magnitude ~1-10, (IA)³ vectors start at 1).
 */
export const TYPICAL_LR: Record<TrainMethod, number> = { lora: 3e-3, prompt: 3e-2, full: 1e-3, ia3: 2e-2, bottleneck: 5e-3, prefix: 1e-1 };

/** The typical learning rate of this job's method (prefix tuning through its MLP trains Linear layers: LoRA-sized steps). */
export function typicalLearningRate(c: Pick<TrainConfig, 'method' | 'prefixTuning'>): number {
  const method = c.method ?? 'lora';
  if (method === 'prefix' && prefixTuningOf(c).projection) return 5e-3;
  return TYPICAL_LR[method];
}

/** What the prefix's keys/values start from by default: a plain sentence any tokenizer encodes. */
export const DEFAULT_PREFIX_INIT_TEXT = 'The following text is written clearly and carefully.';

export const DEFAULT_PREFIX_TUNING: PrefixTuningSettings = { numVirtualTokens: 20, init: 'text', initText: DEFAULT_PREFIX_INIT_TEXT };

/** The prefix-tuning settings of a config (defaults where it has none). */
export function prefixTuningOf(c: Pick<TrainConfig, 'prefixTuning'>): PrefixTuningSettings {
  return { ...DEFAULT_PREFIX_TUNING, ...(c.prefixTuning ?? {}) };
}

/** Positions before every sequence's tokens (prefix tuning's prefix; 0 for other methods). */
export function prefixPositionsOf(c: Pick<TrainConfig, 'method' | 'prefixTuning'>): number {
  return c.method === 'prefix' ? prefixTuningOf(c).numVirtualTokens : 0;
}

/**
 * Bottleneck adapters (the AdapterHub `adapters` library's BnConfig): per layer a small MLP
 * h + W_up·f(W_down·h + b_down) + b_up on the residual stream, the base frozen.
 * 'houlsby' = the library's double_seq_bn (Houlsby et al. 2019: after attention and after the
 * MLP, swish); 'pfeiffer' = seq_bn (Pfeiffer et al. 2020: one adapter after the MLP, relu).
 * The bottleneck width is hidden_size // reductionFactor (at least 1), as the library sizes it.
 */
export interface BottleneckSettings {
  variant: 'houlsby' | 'pfeiffer';
  reductionFactor: number;
}

export const DEFAULT_BOTTLENECK: BottleneckSettings = { variant: 'pfeiffer', reductionFactor: 16 };

/** The bottleneck settings of a config (defaults where it has none). */
export function bottleneckOf(c: Pick<TrainConfig, 'bottleneck'>): BottleneckSettings {
  return { ...DEFAULT_BOTTLENECK, ...(c.bottleneck ?? {}) };
}

export interface PromptTuningSettings {
  /** num_virtual_tokens */
  numVirtualTokens: number;
  /** 'random': N(0, 1) as PEFT's RANDOM; 'text': the embeddings of initText's tokens (PEFT's TEXT) */
  init: 'random' | 'text';
  /** the init text for init 'text' */
  initText?: string;
}

export const DEFAULT_PROMPT_TUNING: PromptTuningSettings = { numVirtualTokens: 20, init: 'random' };

/** Total GPU memory a run may plan for when the job sets none (see deviceBudgetBytes). */
export const DEFAULT_DEVICE_BUDGET_BYTES = 4 * 2 ** 30;

export interface TrainConfig {
  method: TrainMethod;
  /** used when method is 'lora' */
  lora: LoraSettings;
  /** used when method is 'prompt' (absent: DEFAULT_PROMPT_TUNING) */
  promptTuning?: PromptTuningSettings;
  /** used when method is 'bottleneck' (absent: DEFAULT_BOTTLENECK) */
  bottleneck?: BottleneckSettings;
  /** used when method is 'prefix' (absent: DEFAULT_PREFIX_TUNING) */
  prefixTuning?: PrefixTuningSettings;
  /**
   * Total GPU memory (bytes) the job may plan for. WebGPU does not report the GPU's memory, so
   * full fine-tuning is checked against this, or the engine's default (4 GiB unless
   * EngineOptions.deviceBudgetBytes says otherwise); LoRA and prompt tuning are checked against
   * it only when it is set here or in EngineOptions. Every method is checked against the
   * per-buffer limit.
   */
  deviceBudgetBytes?: number;
  learningRate: number;
  schedule: LrSchedule;
  warmupSteps: number;
  /** stop after this many optimizer steps (0: run `epochs` full passes) */
  maxSteps: number;
  epochs: number;
  batchSize: number;
  gradAccumulation: number;
  seqLen: number;
  pack: boolean;
  weightDecay: number;
  beta1: number;
  beta2: number;
  eps: number;
  maxGradNorm: number;
  labelSmoothing: number;
  seed: number;
  activationCheckpointing: boolean;
  evalEvery: number;
  checkpointEvery: number;
  validationFraction: number;
}

export const LLAMA_ALL_LINEAR = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'];
export const LLAMA_ATTENTION = ['q_proj', 'k_proj', 'v_proj', 'o_proj'];
export const GPT2_ALL_LINEAR = ['c_attn', 'attn.c_proj', 'c_fc', 'mlp.c_proj'];
export const GPT2_ATTENTION = ['c_attn', 'attn.c_proj'];

export const DEFAULT_CONFIG: TrainConfig = {
  method: 'lora',
  lora: { rank: 8, alpha: 16, dropout: 0, targetModules: LLAMA_ALL_LINEAR, useRslora: false },
  learningRate: 2e-3,
  schedule: 'cosine',
  warmupSteps: 5,
  maxSteps: 60,
  epochs: 1,
  batchSize: 4,
  gradAccumulation: 1,
  seqLen: 128,
  pack: true,
  weightDecay: 0,
  beta1: 0.9,
  beta2: 0.999,
  eps: 1e-8,
  maxGradNorm: 1,
  labelSmoothing: 0,
  seed: 42,
  activationCheckpointing: false,
  evalEvery: 20,
  checkpointEvery: 10,
  validationFraction: 0.05,
};

export const PRESETS: Record<'quick' | 'balanced' | 'thorough', { label: string; blurb: string; config: Partial<TrainConfig> }> = {
  quick: {
    label: 'Quick try',
    blurb: 'A few minutes: small rank, short run. See whether the data moves the model at all.',
    config: { maxSteps: 30, learningRate: 3e-3, lora: { ...DEFAULT_CONFIG.lora, rank: 4, alpha: 8 }, warmupSteps: 3, evalEvery: 10 },
  },
  balanced: {
    label: 'Balanced',
    blurb: 'The usual starting point: rank 8 on all linear layers, cosine schedule.',
    config: { maxSteps: 200, learningRate: 2e-3, lora: { ...DEFAULT_CONFIG.lora, rank: 8, alpha: 16 }, warmupSteps: 10, evalEvery: 25 },
  },
  thorough: {
    label: 'Thorough',
    blurb: 'Longer and larger: rank 16, two epochs, dropout against over-fitting.',
    config: { maxSteps: 0, epochs: 2, learningRate: 1e-3, lora: { ...DEFAULT_CONFIG.lora, rank: 16, alpha: 32, dropout: 0.05 }, warmupSteps: 20, evalEvery: 50 },
  },
};

export const HELP: Record<string, string> = {
  method: 'LoRA trains a small adapter. Prompt tuning trains only a few virtual tokens put before every example (smallest, weakest). Full fine-tuning trains every weight (strongest, needs about 8x the model size in GPU memory). (IA)³, bottleneck adapters and prefix tuning say below when to choose them; “Compare the methods on this model” measures them all.',
  ia3: '(IA)³: learns one scaling vector for the keys, values and MLP of each layer (far fewer parameters than LoRA, a little more memory than prompt tuning); choose it for small datasets or many cheap task adapters. Exports PEFT IA3 or a merged model.',
  numVirtualTokens: 'Prompt tuning: how many trainable virtual tokens precede every example. 8 to 32 is usual.',
  prefix: 'Prefix tuning: learns key/value positions that every layer attends to (more capacity than prompt tuning, far fewer parameters than LoRA, nothing merged into the weights); choose it to steer style or task on a frozen model with one small file. Exports PEFT prefix tuning only (no merged model, no GGUF).',
  prefixInit: 'Prefix tuning: start from the base model’s own keys/values of a text (the run starts where the base model is), or from PEFT’s random N(0, 1) values (starts far from it; needs many more steps).',
  prefixProjection: 'Prefix tuning: train PEFT’s reparameterisation MLP (prefix_projection) instead of the prefix itself; steadier with random starts, more parameters while training, the same small file after it (PEFT saves the prefix the MLP produces).',
  prefixHidden: 'Prefix tuning with the MLP: its hidden width (PEFT’s encoder_hidden_size); empty uses the key/value width.',
  prefixInitText: 'Prefix tuning with text init: the text whose keys/values start the prefix (its tokens cut or repeated to the prefix length).',
  prefixVirtualTokens: 'Prefix tuning: how many trained key/value positions every layer sees before the example. 10 to 30 is usual.',
  promptInit: 'Prompt tuning: start the virtual tokens random, or from the embeddings of a text that describes the task.',
  bottleneck: 'Bottleneck adapters: a small down-project, non-linearity, up-project block with a residual inside each layer (Houlsby et al.); more capacity than (IA)³, fewer parameters than LoRA on all linears, but they stay in the model (no merged model, no GGUF). Exports the AdapterHub adapters library’s files.',
  bottleneckVariant: 'Bottleneck adapters: Pfeiffer puts one small adapter after each layer’s MLP (fewer parameters); Houlsby one after attention and one after the MLP (learns more).',
  reductionFactor: 'Bottleneck adapters: hidden size ÷ this = the adapter’s width (16 is the usual; lower learns more, uses more memory).',
  initText: 'Prompt tuning with text init: the text whose tokens start the virtual tokens (cut or repeated to their number).',
  deviceBudgetBytes: 'GPU memory the job may use. Browsers do not report it; the default is 4 GiB for full fine-tuning.',
  rank: 'Size of the low-rank update. Higher learns more but trains slower and uses more memory.',
  alpha: 'Scale of the update (applied as alpha/rank). Keep alpha ≈ 2×rank unless you know why not.',
  dropout: 'Randomly zeroes LoRA inputs while training; helps against over-fitting small datasets.',
  targetModules: 'Which linear layers get an adapter. All linear layers learn most; attention-only is cheaper.',
  useRslora: 'Rank-stabilised LoRA: scales by alpha/√rank so high ranks keep learning.',
  useLoraPlus: 'LoRA+: trains B with a larger learning rate than A (ratio below); often learns faster at the same cost. Files stay plain LoRA.',
  useDora: 'DoRA: learns a magnitude per output besides the LoRA direction; closer to full fine-tuning at a little more memory and time. Exports as PEFT DoRA or a merged model (llama.cpp has no DoRA adapters).',
  loraPlusRatio: 'LoRA+: B’s learning rate is this many times the learning rate (the paper suggests 16).',
  learningRate: 'Step size of AdamW. Too high: loss jumps or turns NaN. Too low: loss barely moves.',
  schedule: 'How the learning rate changes over the run after warm-up.',
  warmupSteps: 'Steps at the start where the learning rate ramps up from zero.',
  maxSteps: 'Stop after this many optimizer steps (0 = run the number of epochs instead).',
  epochs: 'Full passes over the training rows (used when max steps is 0).',
  batchSize: 'Sequences per micro-batch. Memory grows with it.',
  gradAccumulation: 'Micro-batches summed before each optimizer step: a larger effective batch without more memory.',
  seqLen: 'Tokens per sequence. Longer rows are truncated; memory grows with it.',
  pack: 'Pack several short examples into each sequence (attention stays within each example).',
  weightDecay: 'AdamW decoupled weight decay on the adapter weights.',
  maxGradNorm: 'Clip the global gradient norm to this value (0 = no clipping).',
  labelSmoothing: 'Spread a little probability over all tokens in the target; 0 for exact fine-tuning.',
  seed: 'Makes the run reproducible: adapter init, shuffling, dropout.',
  activationCheckpointing: 'Recompute each layer in the backward pass instead of storing it: less memory, ~30% slower.',
  evalEvery: 'Compute validation loss every N steps (0 = never).',
  checkpointEvery: 'Save the adapter and optimizer state every N steps so the run can resume.',
  validationFraction: 'Share of rows held out for validation loss.',
};

export interface ConfigIssue {
  field: string;
  message: string;
}

function posInt(v: number): boolean {
  return Number.isInteger(v) && v > 0;
}

/** The prompt-tuning settings of a config (defaults where it has none). */
export function promptTuningOf(c: Pick<TrainConfig, 'promptTuning'>): PromptTuningSettings {
  return { ...DEFAULT_PROMPT_TUNING, ...(c.promptTuning ?? {}) };
}

/** Virtual tokens the model sees before every sequence (0 unless prompt tuning). */
export function virtualTokensOf(c: Pick<TrainConfig, 'method' | 'promptTuning'>): number {
  return c.method === 'prompt' ? promptTuningOf(c).numVirtualTokens : 0;
}

export function validateConfig(c: TrainConfig): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const bad = (field: string, message: string) => issues.push({ field, message });
  const method = c.method ?? 'lora';
  if (method !== 'lora' && method !== 'prompt' && method !== 'full' && method !== 'bottleneck' && method !== 'ia3' && method !== 'prefix') {
    bad('method', `Method must be 'lora', 'prompt', 'full', 'bottleneck', 'ia3' or 'prefix', got ${JSON.stringify(method)}.`);
  }
  if (method === 'prefix') {
    const n = prefixTuningOf(c).numVirtualTokens;
    if (!posInt(n) || n > 512) bad('prefixVirtualTokens', 'Prefix positions must be a whole number from 1 to 512 (try 20).');
    const pt = prefixTuningOf(c);
    if (pt.init !== 'text' && pt.init !== 'random') bad('prefixInit', "The prefix starts from 'text' (the model's own keys/values of a text) or 'random'.");
    if (pt.projection && pt.init !== 'random') bad('prefixInit', 'With the reparameterisation MLP the prefix starts from PEFT’s random init: set the start to random, or turn the MLP off.');
    if (pt.encoderHiddenSize !== undefined && !(posInt(pt.encoderHiddenSize) && pt.encoderHiddenSize <= 16384)) bad('prefixHidden', 'The MLP’s hidden size must be a whole number from 1 to 16384 (or empty for the key/value width).');
    if (!pt.projection && pt.init === 'text' && !(pt.initText ?? '').trim()) bad('prefixInitText', 'Enter a text to start the prefix from (any sentence in the language of your data), or start it from random values.');
    if (c.pack) bad('pack', 'Prefix tuning needs packing off: every example gets the prefix once, at its start. Turn off packing.');
  }
  if (method === 'bottleneck') {
    const b = bottleneckOf(c);
    if (b.variant !== 'houlsby' && b.variant !== 'pfeiffer') bad('bottleneckVariant', "The bottleneck variant must be 'houlsby' or 'pfeiffer'.");
    if (!(Number.isFinite(b.reductionFactor) && b.reductionFactor >= 1 && b.reductionFactor <= 4096)) bad('reductionFactor', 'The reduction factor must be a number from 1 to 4096 (try 16).');
  }
  if (method === 'lora') {
    if (!posInt(c.lora.rank) || c.lora.rank > 256) bad('rank', 'Rank must be a whole number from 1 to 256 (try 8).');
    if (!(c.lora.alpha > 0)) bad('alpha', 'Alpha must be positive (try twice the rank).');
    if (!(c.lora.dropout >= 0 && c.lora.dropout < 1)) bad('dropout', 'Dropout must be at least 0 and below 1 (try 0 or 0.05).');
    if (c.lora.targetModules.length === 0) bad('targetModules', 'Choose at least one target module.');
    if (c.lora.useLoraPlus && !(Number.isFinite(loraPlusRatioOf(c.lora)) && loraPlusRatioOf(c.lora) >= 1 && loraPlusRatioOf(c.lora) <= 1024)) {
      bad('loraPlusRatio', 'The LoRA+ ratio must be a number from 1 to 1024 (try 16), or turn LoRA+ off.');
    }
    if (c.lora.useDora && c.lora.dropout > 0) {
      bad('dropout', 'DoRA trains without LoRA dropout here: set dropout to 0, or turn DoRA off.');
    }
  }
  if (method === 'prompt') {
    const p = promptTuningOf(c);
    if (!posInt(p.numVirtualTokens) || p.numVirtualTokens > 512) bad('numVirtualTokens', 'Virtual tokens must be a whole number from 1 to 512 (try 20).');
    if (p.init !== 'random' && p.init !== 'text') bad('promptInit', "Prompt init must be 'random' or 'text'.");
    if (p.init === 'text' && !(typeof p.initText === 'string' && p.initText.trim().length > 0)) bad('initText', 'Text init needs an init text (a sentence describing the task), or choose random init.');
    if (c.pack) {
      bad('pack', 'Prompt tuning needs packing off: the virtual tokens start every sequence, and packed examples after the first would not see them. Turn off packing.');
    }
  }
  if (c.deviceBudgetBytes !== undefined && !(Number.isFinite(c.deviceBudgetBytes) && c.deviceBudgetBytes > 0)) {
    bad('deviceBudgetBytes', 'The GPU memory budget must be a positive number of bytes (e.g. 4294967296 for 4 GiB), or left unset.');
  }
  if (!(c.learningRate > 0 && c.learningRate < 1)) bad('learningRate', 'Learning rate must be between 0 and 1 (try 2e-4 to 3e-3).');
  if (!Number.isInteger(c.warmupSteps) || c.warmupSteps < 0) bad('warmupSteps', 'Warm-up steps must be a whole number ≥ 0.');
  if (!Number.isInteger(c.maxSteps) || c.maxSteps < 0) bad('maxSteps', 'Max steps must be a whole number ≥ 0.');
  if (c.maxSteps === 0 && !posInt(c.epochs)) bad('epochs', 'With max steps 0, epochs must be at least 1.');
  if (!posInt(c.batchSize)) bad('batchSize', 'Batch size must be a whole number ≥ 1.');
  if (!posInt(c.gradAccumulation)) bad('gradAccumulation', 'Gradient accumulation must be a whole number ≥ 1.');
  if (!posInt(c.seqLen) || c.seqLen < 2) bad('seqLen', 'Sequence length must be a whole number ≥ 2.');
  if (!(c.weightDecay >= 0)) bad('weightDecay', 'Weight decay must be ≥ 0.');
  if (!(c.beta1 >= 0 && c.beta1 < 1) || !(c.beta2 >= 0 && c.beta2 < 1)) bad('betas', 'Betas must be in [0, 1).');
  if (!(c.eps > 0)) bad('eps', 'Epsilon must be positive.');
  if (!(c.maxGradNorm >= 0)) bad('maxGradNorm', 'Max gradient norm must be ≥ 0 (0 turns clipping off).');
  if (!(c.labelSmoothing >= 0 && c.labelSmoothing < 1)) bad('labelSmoothing', 'Label smoothing must be in [0, 1).');
  if (!Number.isInteger(c.seed) || c.seed < 0) bad('seed', 'Seed must be a whole number ≥ 0.');
  if (!Number.isInteger(c.evalEvery) || c.evalEvery < 0) bad('evalEvery', 'Evaluate-every must be a whole number ≥ 0.');
  if (!Number.isInteger(c.checkpointEvery) || c.checkpointEvery < 0) bad('checkpointEvery', 'Checkpoint-every must be a whole number ≥ 0.');
  if (!(c.validationFraction >= 0 && c.validationFraction < 0.9)) bad('validationFraction', 'Validation fraction must be in [0, 0.9).');
  return issues;
}

export function withPreset(base: TrainConfig, preset: keyof typeof PRESETS): TrainConfig {
  const p = PRESETS[preset].config;
  return { ...base, ...p, lora: { ...base.lora, ...(p.lora ?? {}), targetModules: base.lora.targetModules } };
}

/** lr_B / lr_A of a LoRA run: the LoRA+ ratio when LoRA+ is on, else 1. */
export function loraPlusRatioOf(l: Pick<LoraSettings, 'useLoraPlus' | 'loraPlusRatio'>): number {
  return l.useLoraPlus ? (l.loraPlusRatio ?? DEFAULT_LORA_PLUS_RATIO) : 1;
}

export function loraScale(l: LoraSettings): number {
  return l.useRslora ? l.alpha / Math.sqrt(l.rank) : l.alpha / l.rank;
}
