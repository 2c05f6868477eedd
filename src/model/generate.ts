// Autoregressive generation: the model's last-position logits for the tokens so far, one token
// at a time, stopping at an end-of-sequence id or max tokens, streaming each token out.
import { mulberry32 } from '../util/prng';
import { readBuffer, type Tensor } from '../gpu/tensor';
import type { ModelConfig } from '../io/hfConfig';
import type { CausalLM } from './causalLM';
import type { ForwardRun } from './blocks';
import { sampleToken, type SamplingParams } from './sampling';

export interface GenerateOptions extends SamplingParams {
  maxTokens: number;
  seed: number;
  eosIds: number[];
  run: ForwardRun | null;
  onToken?: (ids: number[]) => void;
  signal?: { aborted: boolean };
  /**
   * Positions already in the KV cache before the prompt (prefix tuning's prefix): `fill` writes
   * them into every layer's cache (positions 0..length-1), and the prompt starts at `length`.
   */
  past?: { length: number; fill: (cache: { k: Tensor; v: Tensor }[]) => void };
}

/**
 * How many positions generation may reach: max_position_embeddings, or with dynamic (NTK) RoPE
 * scaling, which exists to go past it, max_position_embeddings × factor.
 */
export function contextLength(c: Pick<ModelConfig, 'maxPositions' | 'rope'>): number {
  return c.rope?.type === 'dynamic' ? Math.floor(c.maxPositions * c.rope.factor) : c.maxPositions;
}

export async function generateIds(model: CausalLM, promptIds: number[], o: GenerateOptions): Promise<number[]> {
  const maxPos = contextLength(model.config);
  if (promptIds.length === 0) throw new Error('generate: the prompt has no tokens');
  const past = o.past?.length ?? 0;
  if (past + promptIds.length >= maxPos) {
    throw new Error(`The prompt has ${promptIds.length} tokens${past ? ` after ${past} prefix positions` : ''}; this model reads at most ${maxPos}. Shorten it.`);
  }
  const steps = Math.min(o.maxTokens, maxPos - past - promptIds.length);
  const cache = model.kvCache(past + promptIds.length + steps);
  o.past?.fill(cache);
  const out: number[] = [];
  const rand = mulberry32(o.seed >>> 0);
  // prefill with the whole prompt, then one token per step against the KV cache
  let logitsT = await model.decode(promptIds, past, cache, o.run);
  for (let t = 0; t < steps; t++) {
    const logits = new Float32Array(await readBuffer(model.ctx, logitsT.buffer, model.config.vocabSize * 4));
    const next = sampleToken(logits, o, rand() / 4294967296);
    if (o.eosIds.includes(next)) break;
    out.push(next);
    o.onToken?.(out);
    if (o.signal?.aborted || t === steps - 1) break;
    logitsT = await model.decode([next], past + promptIds.length + t, cache, o.run);
  }
  return out;
}
