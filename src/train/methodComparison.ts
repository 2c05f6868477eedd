// The method picker's comparison: each parameter-efficient method (and full fine-tuning) as a job
// of the same shape as the one being edited (batch, sequence length, checkpointing, LoRA rank and
// targets), so that its trainable parameters and GPU memory come from the same estimate the run
// will be checked against (train/memory.ts); the worker adds a measured step time per method.
import { DEFAULT_BOTTLENECK, DEFAULT_PREFIX_TUNING, DEFAULT_PROMPT_TUNING, type TrainConfig, type TrainMethod } from './config';
import type { MemoryEstimate } from './memory';

export type MethodKey = 'lora' | 'dora' | 'prompt' | 'prefix' | 'ia3' | 'bottleneck' | 'full';

export interface MethodChoice {
  key: MethodKey;
  method: TrainMethod;
  label: string;
  /** when to choose it, in one line */
  when: string;
}

export const METHOD_CHOICES: readonly MethodChoice[] = [
  { key: 'lora', method: 'lora', label: 'LoRA', when: 'The default: strong results at a small cost; exports to PEFT, GGUF and a merged model.' },
  { key: 'dora', method: 'lora', label: 'DoRA', when: 'LoRA with a learned magnitude per output: closer to full fine-tuning at low ranks, a little slower.' },
  { key: 'ia3', method: 'ia3', label: '(IA)³', when: 'Scaling vectors only, far fewer parameters than LoRA: small datasets, many cheap task adapters.' },
  { key: 'bottleneck', method: 'bottleneck', label: 'Bottleneck adapters', when: 'Adapter modules inside each layer (Houlsby/Pfeiffer); they stay separate from the weights.' },
  { key: 'prefix', method: 'prefix', label: 'Prefix tuning', when: 'Steers style or task with keys/values every layer attends to; one small file, no merge.' },
  { key: 'prompt', method: 'prompt', label: 'Prompt tuning', when: 'A few trained virtual tokens before every example: tiny files, weakest on small models.' },
  { key: 'full', method: 'full', label: 'Full fine-tuning', when: 'Every weight: the most capacity, about 8× the model in GPU memory.' },
];

/** The job as this method would run it: the same shape, the method's own settings (the job's where it has them). */
export function methodConfig(job: TrainConfig, key: MethodKey): TrainConfig {
  const choice = METHOD_CHOICES.find((c) => c.key === key);
  if (!choice) throw new Error(`Unknown method ${key}.`);
  const method = choice.method;
  return {
    ...job,
    method,
    // prompt and prefix tuning give each sequence its tokens once: no packing
    pack: method === 'prompt' || method === 'prefix' ? false : job.pack,
    lora: key === 'dora' ? { ...job.lora, useDora: true, dropout: 0 } : { ...job.lora, useDora: false },
    promptTuning: job.promptTuning ?? { ...DEFAULT_PROMPT_TUNING },
    prefixTuning: job.prefixTuning ?? { ...DEFAULT_PREFIX_TUNING },
    bottleneck: job.bottleneck ?? { ...DEFAULT_BOTTLENECK },
  };
}

export interface MethodComparisonRow {
  key: MethodKey;
  label: string;
  when: string;
  /** null: the method cannot run this model or job (see why) */
  trainableParams: number | null;
  memoryBytes: number | null;
  fits: boolean;
  /** measured milliseconds per optimizer step on this GPU (absent: not measured) */
  stepMs?: number;
  /** why there are no figures, or why the step was not measured */
  why?: string;
}

/** A row from the method's memory estimate: AdamW keeps m and v (f32) per trained value, so its bytes / 8 are the trainable parameters. */
export function comparisonRow(choice: MethodChoice, est: MemoryEstimate): MethodComparisonRow {
  return { key: choice.key, label: choice.label, when: choice.when, trainableParams: est.optimizerBytes / 8, memoryBytes: est.totalBytes, fits: est.fits, ...(est.fits ? {} : { why: est.advice ?? 'Does not fit on this GPU.' }) };
}
