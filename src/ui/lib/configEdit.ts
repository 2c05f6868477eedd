// Editing a TrainConfig from the form: one flat key per field (LoRA settings included), issues
// from validateConfig attached to the fields they concern, and which preset the config matches.
import { bottleneckOf, DEFAULT_LORA_PLUS_RATIO, prefixTuningOf, PRESETS, promptTuningOf, withPreset, type BottleneckSettings, type ConfigIssue, type LoraSettings, type PrefixTuningSettings, type PromptTuningSettings, type TrainConfig } from '../../train/config';

export type LoraKey = keyof LoraSettings;
export type TopKey = Exclude<keyof TrainConfig, 'method' | 'lora'>;
export type FieldKey = TopKey | LoraKey;
export type PresetName = keyof typeof PRESETS;

const LORA_KEYS: readonly LoraKey[] = ['rank', 'alpha', 'dropout', 'targetModules', 'useRslora', 'useLoraPlus', 'loraPlusRatio', 'useDora'];

/** What the form shows for LoRA settings a config may leave out (older saved jobs have none). */
const LORA_OPTIONAL: Partial<Record<LoraKey, unknown>> = { useLoraPlus: false, loraPlusRatio: DEFAULT_LORA_PLUS_RATIO, useDora: false };

export function isLoraKey(k: FieldKey): k is LoraKey {
  return (LORA_KEYS as readonly string[]).includes(k);
}

export function getField(c: TrainConfig, k: FieldKey): unknown {
  return isLoraKey(k) ? (c.lora[k] ?? LORA_OPTIONAL[k]) : c[k];
}

export function setField(c: TrainConfig, k: FieldKey, value: unknown): TrainConfig {
  if (isLoraKey(k)) return { ...c, lora: { ...c.lora, [k]: value } };
  return { ...c, [k]: value };
}

/** Change some prompt-tuning settings (the config may have none yet: defaults fill in). */
export function setPromptTuning(c: TrainConfig, patch: Partial<PromptTuningSettings>): TrainConfig {
  return { ...c, promptTuning: { ...promptTuningOf(c), ...patch } };
}

/** Change some prefix-tuning settings (the config may have none yet: defaults fill in). */
export function setPrefixTuning(c: TrainConfig, patch: Partial<PrefixTuningSettings>): TrainConfig {
  return { ...c, prefixTuning: { ...prefixTuningOf(c), ...patch } };
}

/** Change some bottleneck-adapter settings (the config may have none yet: defaults fill in). */
export function setBottleneck(c: TrainConfig, patch: Partial<BottleneckSettings>): TrainConfig {
  return { ...c, bottleneck: { ...bottleneckOf(c), ...patch } };
}

/**
 * Issues by the field they concern (config keys, plus validateConfig's own names for the
 * prompt-tuning settings: numVirtualTokens, promptInit, initText); both betas get "betas".
 */
export function issuesByField(issues: readonly ConfigIssue[]): Partial<Record<string, string>> {
  const out: Partial<Record<string, string>> = {};
  for (const i of issues) {
    const keys = i.field === 'betas' ? ['beta1', 'beta2'] : [i.field];
    for (const k of keys) out[k] = out[k] ? `${out[k]} ${i.message}` : i.message;
  }
  return out;
}

function sameConfig(a: TrainConfig, b: TrainConfig): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** The preset the config is exactly at (applying it again would change nothing), or null. */
export function matchingPreset(c: TrainConfig): PresetName | null {
  for (const name of Object.keys(PRESETS) as PresetName[]) if (sameConfig(withPreset(c, name), c)) return name;
  return null;
}

/**
 * Optimizer steps the run will take: exact with max steps, else an upper bound (packing puts
 * several examples in a sequence, so the trainer may need fewer); null when unknown.
 */
export function plannedSteps(c: TrainConfig, trainExamples: number | null): number | null {
  if (c.maxSteps > 0) return c.maxSteps;
  if (trainExamples === null || !(c.batchSize > 0) || !(c.gradAccumulation > 0) || !(c.epochs > 0)) return null;
  return Math.max(1, Math.ceil((Math.ceil(trainExamples / c.batchSize) * c.epochs) / c.gradAccumulation));
}
