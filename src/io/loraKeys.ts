// The one place that spells a LoRA tensor's name. Training checkpoints (IndexedDB), the optimizer's
// parameter order and PEFT's adapter_model.safetensors all use PEFT's key,
// "base_model.model.<module>.lora_A.weight" / ".lora_B.weight", so a checkpoint written by any
// earlier version keeps loading and an export needs no renaming. Change these strings only with a
// migration for the checkpoints already stored in users' browsers.

/** PEFT's prefix in front of the base model's own module path. */
export const PEFT_PREFIX = 'base_model.model.';

/** Which LoRA factor: A is [r, in], B is [out, r]. */
export type LoraFactor = 'A' | 'B';

/** A parsed LoRA key: the module path as the base model names it, and the factor. */
export interface LoraKey {
  module: string;
  factor: LoraFactor;
}

/** The module path without PEFT's prefix (unchanged when it has none). */
export function stripPeftPrefix(name: string): string {
  return name.startsWith(PEFT_PREFIX) ? name.slice(PEFT_PREFIX.length) : name;
}

/** The key of one LoRA factor, in checkpoints and in PEFT files alike. */
export function loraCheckpointKey(module: string, factor: LoraFactor): string {
  if (module.length === 0) throw new Error('A LoRA key needs a module path (e.g. model.layers.0.self_attn.q_proj).');
  return `${PEFT_PREFIX}${module}.lora_${factor}.weight`;
}

const KEY = /^base_model\.model\.(.+)\.lora_([AB])\.weight$/;
// PEFT writes ".lora_A.default.weight" when an adapter is saved straight from the model's state
// dict (adapter name "default"); files read from elsewhere may have it, our own keys never do.
const PEFT_FILE_KEY = /^base_model\.model\.(.+)\.lora_([AB])(?:\.default)?\.weight$/;

/** The module and factor of a key written by loraCheckpointKey; null for any other name. */
export function parseLoraCheckpointKey(key: string): LoraKey | null {
  const m = KEY.exec(key);
  return m ? { module: m[1], factor: m[2] as LoraFactor } : null;
}

/** As parseLoraCheckpointKey, also accepting PEFT's ".default" adapter name in a file's tensor names. */
export function parsePeftLoraKey(key: string): LoraKey | null {
  const m = PEFT_FILE_KEY.exec(key);
  return m ? { module: m[1], factor: m[2] as LoraFactor } : null;
}

/**
 * DoRA's magnitude vector of one module, as PEFT saves it (get_peft_model_state_dict drops the
 * ".default.weight" of the module dict's parameter): "base_model.model.<module>.lora_magnitude_vector".
 */
export function doraMagnitudeKey(module: string): string {
  if (module.length === 0) throw new Error('A DoRA key needs a module path (e.g. model.layers.0.self_attn.q_proj).');
  return `${PEFT_PREFIX}${module}.lora_magnitude_vector`;
}

// files written from a model's own state dict may keep the adapter name and ".weight"
const DORA_KEY = /^base_model\.model\.(.+)\.lora_magnitude_vector(?:\.default)?(?:\.weight)?$/;

/** The module of a DoRA magnitude key (ours or PEFT's); null for any other name. */
export function parseDoraMagnitudeKey(key: string): string | null {
  return DORA_KEY.exec(key)?.[1] ?? null;
}
