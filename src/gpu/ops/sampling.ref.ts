// Plain TS reference for next-token selection, written independently of the kernel and the way
// Hugging Face's warpers do it (with sorts): TemperatureLogitsWarper, TopKLogitsWarper
// (remove scores < the k-th largest), TopPLogitsWarper (sort ascending, remove where the
// cumulative probability <= 1 - top_p, always keep the most likely token). f64 throughout.
// The draw: the first candidate, in vocabulary order, whose running probability sum exceeds u.

export function argmaxRef(row: ArrayLike<number>): number {
  let best = -Infinity;
  let index = -1;
  for (let i = 0; i < row.length; i++) {
    if (row[i] > best) {
      best = row[i];
      index = i;
    }
  }
  return index < 0 ? 0 : index;
}

export interface SamplingRefParams {
  temperature: number;
  topK?: number;
  topP?: number;
}

/** Probabilities after temperature, top-k and top-p (0 for removed tokens; NaN logits removed). */
export function filteredProbsRef(row: ArrayLike<number>, p: SamplingRefParams): Float64Array {
  const V = row.length;
  const scores = Float64Array.from(row, (v) => (Number.isNaN(v) ? -Infinity : v / p.temperature));
  const topK = p.topK ?? 0;
  if (topK > 0) {
    const k = Math.min(topK, V);
    const kth = [...scores].sort((a, b) => b - a)[k - 1];
    for (let i = 0; i < V; i++) if (scores[i] < kth) scores[i] = -Infinity;
  }
  const max = scores.reduce((a, b) => Math.max(a, b), -Infinity);
  const probs = Float64Array.from(scores, (s) => Math.exp(s - max));
  const z = probs.reduce((a, b) => a + b, 0);
  for (let i = 0; i < V; i++) probs[i] /= z;
  const topP = p.topP ?? 1;
  if (topP < 1) {
    const order = [...probs.keys()].sort((a, b) => probs[a] - probs[b]);
    let cum = 0;
    const remove: number[] = [];
    order.forEach((idx, j) => {
      cum += probs[idx];
      if (cum <= 1 - topP && j !== order.length - 1) remove.push(idx);
    });
    for (const idx of remove) probs[idx] = 0;
    const z2 = probs.reduce((a, b) => a + b, 0);
    for (let i = 0; i < V; i++) probs[i] /= z2;
  }
  return probs;
}

export interface SampleRef {
  token: number;
  /** number of tokens with non-zero probability */
  candidates: number;
  /** tokens whose cumulative interval lies within `slack` of u (rounding could pick any of them) */
  acceptable: number[];
}

export function sampleRef(row: ArrayLike<number>, p: SamplingRefParams, u: number, slack = 1e-5): SampleRef {
  const probs = filteredProbsRef(row, p);
  let cum = 0;
  let token = -1;
  let last = -1;
  let candidates = 0;
  const acceptable: number[] = [];
  for (let i = 0; i < probs.length; i++) {
    if (probs[i] <= 0) continue;
    candidates++;
    const lo = cum;
    cum += probs[i];
    last = i;
    if (token < 0 && cum > u) token = i;
    if (u >= lo - slack && u < cum + slack) acceptable.push(i);
  }
  if (token < 0) token = last;
  if (!acceptable.includes(token)) acceptable.push(token);
  return { token, candidates, acceptable };
}
