// Which modules of a base model can carry LoRA, and their in/out sizes. Shared by the PEFT and
// GGUF adapter formats.
import { expectedTensors, type ModelConfig } from './hfConfig';
import { stripPeftPrefix } from './loraKeys';

/** One LoRA pair in PEFT's layout. */
export interface LoraWeights {
  /** HF module path, e.g. "model.layers.0.self_attn.q_proj" or "transformer.h.0.attn.c_attn". */
  module: string;
  /** [r, in], row-major (PEFT lora_A). */
  a: Float32Array;
  /** [out, r], row-major (PEFT lora_B). */
  b: Float32Array;
  /** DoRA only: [out], PEFT's lora_magnitude_vector. */
  magnitude?: Float32Array;
}

export class LoraTargetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LoraTargetError';
  }
}

/**
 * The module path as it appears in the model's own state dict: a PEFT "base_model.model."
 * prefix is dropped and the architecture completes its own short forms (GPT-2: "transformer.").
 */
export function canonicalModule(config: ModelConfig, module: string): string {
  const bare = stripPeftPrefix(module);
  return config.format.canonicalModule?.(bare) ?? bare;
}

/** Every linear module of the model that can take LoRA, in model order, with its sizes. */
export function linearModules(config: ModelConfig): { module: string; in: number; out: number }[] {
  const out: { module: string; in: number; out: number }[] = [];
  const arch = config.format;
  const tables = new Set(arch.embeddingTensors(config));
  for (const t of expectedTensors(config)) {
    if (t.shape.length !== 2 || !t.name.endsWith('.weight') || tables.has(t.name)) continue;
    const module = t.name.slice(0, -'.weight'.length);
    // Conv1D (GPT-2) stores [in, out]; nn.Linear stores [out, in]
    const conv1d = arch.storedTransposed?.(t.name) ?? false;
    out.push({ module, in: conv1d ? t.shape[0] : t.shape[1], out: conv1d ? t.shape[1] : t.shape[0] });
  }
  return out;
}

/** in/out features of a LoRA target module; throws for anything that is not a linear layer. */
export function loraTargetShape(config: ModelConfig, module: string): { in: number; out: number } {
  const name = canonicalModule(config, module);
  const found = linearModules(config).find((m) => m.module === name);
  if (!found) {
    throw new LoraTargetError(
      `LoRA target "${module}" is not a linear layer of this ${config.hfArchitecture} model ` +
        `(${config.numLayers} layers; embeddings and norms cannot take LoRA here).`,
    );
  }
  return { in: found.in, out: found.out };
}
