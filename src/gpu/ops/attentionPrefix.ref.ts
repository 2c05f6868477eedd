// Plain TS reference for attention with a key/value prefix (ops/attentionPrefix.ts), written from
// Hugging Face's cache semantics, not from the extended-sequence layout the op uses: query t of
// the sequence sits at cache position P + t; the keys are the P prefix keys at positions 0..P-1
// and the sequence's keys at P + j; key position e is visible from query position P + t iff
// e <= P + t and, with a sliding window W, e > P + t - W.
//   q (B, T, Hq, D), k and v (B, T, Hkv, D), prefix (2, P, Hkv, D) (keys, then values, shared by
//   every batch entry), out (B, T, Hq, D); q head h uses kv head floor(h / (Hq / Hkv)).
// f64 accumulation; the backward differentiates sum(dout ⊙ out) directly.

export interface AttentionPrefixRefConfig {
  B: number;
  T: number;
  Hq: number;
  Hkv: number;
  D: number;
  P: number;
  scale?: number;
  window?: number | null;
}

type Arr = ArrayLike<number>;

/** The visible keys of query (b, h, t): for each, its key and value rows' offsets in k/v or the prefix. */
function keysOf(c: AttentionPrefixRefConfig, b: number, h: number, t: number) {
  const { T, Hq, Hkv, D, P } = c;
  const g = Math.floor(h / (Hq / Hkv));
  const qpos = P + t;
  const visible = (e: number) => e <= qpos && (!c.window || e > qpos - c.window);
  const keys: { prefix: boolean; kOff: number; vOff: number }[] = [];
  for (let j = 0; j < P; j++) {
    if (visible(j)) keys.push({ prefix: true, kOff: (j * Hkv + g) * D, vOff: ((P + j) * Hkv + g) * D });
  }
  for (let j = 0; j <= t; j++) {
    if (visible(P + j)) keys.push({ prefix: false, kOff: ((b * T + j) * Hkv + g) * D, vOff: ((b * T + j) * Hkv + g) * D });
  }
  return keys;
}

function probs(q: Arr, k: Arr, prefix: Arr, c: AttentionPrefixRefConfig, qOff: number, keys: ReturnType<typeof keysOf>) {
  const scale = c.scale ?? 1 / Math.sqrt(c.D);
  const s = keys.map((key) => {
    const src = key.prefix ? prefix : k;
    let dot = 0;
    for (let d = 0; d < c.D; d++) dot += q[qOff + d] * src[key.kOff + d];
    return dot * scale;
  });
  const max = Math.max(...s);
  const sum = s.reduce((a, x) => a + Math.exp(x - max), 0);
  return s.map((x) => Math.exp(x - max) / sum);
}

export function attentionPrefixForwardRef(q: Arr, k: Arr, v: Arr, prefix: Arr, c: AttentionPrefixRefConfig): Float64Array {
  const { B, T, Hq, D } = c;
  const out = new Float64Array(B * T * Hq * D);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      for (let h = 0; h < Hq; h++) {
        const qOff = ((b * T + t) * Hq + h) * D;
        const keys = keysOf(c, b, h, t);
        const p = probs(q, k, prefix, c, qOff, keys);
        keys.forEach((key, j) => {
          const src = key.prefix ? prefix : v;
          for (let d = 0; d < D; d++) out[qOff + d] += p[j] * src[key.vOff + d];
        });
      }
    }
  }
  return out;
}

/** Gradients of sum(dout ⊙ out): dq, dk, dv and dprefix (2, P, Hkv, D) summed over the batch. */
export function attentionPrefixBackwardRef(q: Arr, k: Arr, v: Arr, prefix: Arr, dout: Arr, c: AttentionPrefixRefConfig) {
  const { B, T, Hq, D } = c;
  const scale = c.scale ?? 1 / Math.sqrt(D);
  const dq = new Float64Array(q.length);
  const dk = new Float64Array(k.length);
  const dv = new Float64Array(v.length);
  const dprefix = new Float64Array(prefix.length);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      for (let h = 0; h < Hq; h++) {
        const qOff = ((b * T + t) * Hq + h) * D;
        const keys = keysOf(c, b, h, t);
        const p = probs(q, k, prefix, c, qOff, keys);
        const dp = keys.map((key) => {
          const src = key.prefix ? prefix : v;
          let x = 0;
          for (let d = 0; d < D; d++) x += dout[qOff + d] * src[key.vOff + d];
          return x;
        });
        const pdp = p.reduce((a, pj, j) => a + pj * dp[j], 0);
        keys.forEach((key, j) => {
          const ds = p[j] * (dp[j] - pdp) * scale;
          const ksrc = key.prefix ? prefix : k;
          const dK = key.prefix ? dprefix : dk;
          const dV = key.prefix ? dprefix : dv;
          for (let d = 0; d < D; d++) {
            dq[qOff + d] += ds * ksrc[key.kOff + d];
            dK[key.kOff + d] += ds * q[qOff + d];
            dV[key.vOff + d] += p[j] * dout[qOff + d];
          }
        });
      }
    }
  }
  return { dq, dk, dv, dprefix };
}
