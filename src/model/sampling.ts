// Choosing the next token from a logits row (V) on the CPU: greedy, temperature, top-k, top-p,
// with a seeded generator so a seed reproduces a generation. The row is V floats (a few hundred
// KB at most), read back once per token.
export interface SamplingParams {
  greedy: boolean;
  temperature: number;
  topK: number;
  topP: number;
}

export function argmax(logits: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i] > logits[best]) best = i;
  return best;
}

/** `u` is a uniform random number in [0, 1). */
export function sampleToken(logits: Float32Array, p: SamplingParams, u: number): number {
  if (p.greedy || p.temperature <= 0) return argmax(logits);
  const V = logits.length;
  let idx = Array.from({ length: V }, (_, i) => i);
  idx.sort((a, b) => logits[b] - logits[a]);
  if (p.topK > 0 && p.topK < V) idx = idx.slice(0, p.topK);
  const max = logits[idx[0]];
  const probs = idx.map((i) => Math.exp((logits[i] - max) / p.temperature));
  let total = probs.reduce((a, b) => a + b, 0);
  if (p.topP > 0 && p.topP < 1) {
    let acc = 0;
    let keep = probs.length;
    for (let j = 0; j < probs.length; j++) {
      acc += probs[j] / total;
      if (acc >= p.topP) {
        keep = j + 1;
        break;
      }
    }
    idx = idx.slice(0, keep);
    probs.length = keep;
    total = probs.reduce((a, b) => a + b, 0);
  }
  let r = u * total;
  for (let j = 0; j < idx.length; j++) {
    r -= probs[j];
    if (r < 0) return idx[j];
  }
  return idx[idx.length - 1];
}
