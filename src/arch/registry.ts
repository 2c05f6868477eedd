// Every architecture Whetstone runs, one module each. Adding one: write src/arch/<name>.ts
// exporting an ArchDescriptor (see types.ts and /README.md "Adding an architecture") and list it
// here; nothing else in the tree names an architecture.
import { GEMMA3 } from './gemma3';
import { GPT2 } from './gpt2';
import { LLAMA } from './llama';
import { MISTRAL } from './mistral';
import { PHI3 } from './phi3';
import { QWEN2 } from './qwen2';
import { QWEN3 } from './qwen3';
import type { ArchDescriptor, ModelConfig } from './types';

export const ARCHITECTURES: readonly ArchDescriptor[] = [LLAMA, QWEN2, MISTRAL, GPT2, QWEN3, GEMMA3, PHI3];

const byId = new Map(ARCHITECTURES.map((a) => [a.id, a]));
const byHfName = new Map(ARCHITECTURES.flatMap((a) => a.hfArchitectures.map((n) => [n, a] as const)));
const byModelType = new Map(ARCHITECTURES.flatMap((a) => a.modelTypes.map((t) => [t, a] as const)));

/** The module for an HF `architectures[0]` name, or undefined. */
export function archForHfName(name: string): ArchDescriptor | undefined {
  return byHfName.get(name);
}

/** The module for a config's `model_type`, or undefined. */
export function archForModelType(type: string): ArchDescriptor | undefined {
  return byModelType.get(type);
}

/** HF architecture names we accept, in registry order. */
export function supportedHfArchitectures(): string[] {
  return ARCHITECTURES.flatMap((a) => [...a.hfArchitectures]);
}

/** The module of a parsed config (or of an architecture id). */
export function archOf(c: Pick<ModelConfig, 'architecture'> | string): ArchDescriptor {
  const id = typeof c === 'string' ? c : c.architecture;
  const a = byId.get(id);
  if (!a) throw new Error(`no architecture module "${id}" (registered: ${[...byId.keys()].join(', ')})`);
  return a;
}
