// Decode speed, as the playground sees it: generateIds (src/model/generate.ts) on a random prompt,
// greedy, with the end-of-sequence check off so every run makes the same number of tokens.
//   prefill: from the call to the first token on the CPU (the prompt's forward, its one readback,
//            sampling), with its GPU commands
//   per token: the mean interval between later tokens (one decode step against the KV cache, its
//            logits readback, sampling)
//   steady: the same without the first decode step, which re-makes the workspace buffers the
//            prompt's forward sized for its length (the model's workspace keeps one size per
//            name); the GPU commands per token are those of a steady step
// The first run compiles pipelines and makes the KV cache: `warmup` runs come first, unmeasured.
import { diffCounts, perUnit, type GpuCounts } from '../src/gpu/counters';
import type { CausalLM } from '../src/model/causalLM';
import { generateIds } from '../src/model/generate';
import type { ForwardRun } from '../src/model/blocks';
import { mean } from './trainingMath';
import { mulberry32 } from '../src/util/prng';

export interface DecodeCase {
  promptTokens: number;
  newTokens: number;
  warmup: number;
  seed: number;
}

export interface DecodeResult {
  promptTokens: number;
  /** tokens generated in the measured run (newTokens, or fewer when the model's positions run out) */
  newTokens: number;
  /** what was applied: 'base' or 'LoRA adapter' */
  weights: string;
  prefillMs: number;
  /** mean ms from one generated token to the next */
  msPerToken: number;
  /** 1000 / msPerToken */
  tokensPerSecond: number;
  /** ms and GPU commands of the first decode step (from the first token to the second) */
  firstStepMs: number;
  firstStepCommands: GpuCounts;
  /** mean ms per token without the first decode step */
  steadyMsPerToken: number;
  /** prompt tokens / prefill seconds */
  prefillTokensPerSecond: number;
  prefillCommands: GpuCounts;
  /** mean commands of one steady decode step (after the first) */
  commandsPerToken: GpuCounts;
}

export async function runDecodeCase(model: CausalLM, kase: DecodeCase, run: ForwardRun | null): Promise<DecodeResult> {
  if (kase.newTokens < 3) throw new Error(`the decode bench needs at least 3 new tokens (a first and a steady decode step), got ${kase.newTokens}`);
  const ctx = model.ctx;
  const next = mulberry32(kase.seed);
  const prompt = Array.from({ length: kase.promptTokens }, () => next() % model.config.vocabSize);
  const options = { greedy: true, temperature: 0, topK: 0, topP: 1, maxTokens: kase.newTokens, seed: kase.seed, eosIds: [], run };
  for (let i = 0; i < kase.warmup; i++) await generateIds(model, prompt, options);
  const times: number[] = [];
  const counts: GpuCounts[] = [];
  const t0 = performance.now();
  const c0 = ctx.counters.snapshot();
  const ids = await generateIds(model, prompt, {
    ...options,
    onToken: () => {
      times.push(performance.now());
      counts.push(ctx.counters.snapshot());
    },
  });
  if (ids.length < 3) throw new Error(`the model made ${ids.length} token(s) from a ${prompt.length}-token prompt: the decode bench needs 3 or more`);
  const gaps = times.slice(1).map((t, i) => t - times[i]);
  const msPerToken = mean(gaps);
  const prefillMs = times[0] - t0;
  const last = counts[counts.length - 1];
  return {
    promptTokens: prompt.length,
    newTokens: ids.length,
    weights: run?.adapter ? 'LoRA adapter' : 'base',
    prefillMs,
    msPerToken,
    tokensPerSecond: 1000 / msPerToken,
    prefillTokensPerSecond: (prompt.length * 1000) / prefillMs,
    firstStepMs: gaps[0],
    firstStepCommands: diffCounts(counts[1], counts[0]),
    steadyMsPerToken: mean(gaps.slice(1)),
    prefillCommands: diffCounts(counts[0], c0),
    commandsPerToken: perUnit(diffCounts(last, counts[1]), ids.length - 2),
  };
}
