// Plain TS reference for causal grouped-query attention, written independently of the kernels:
// it builds each query row's full score vector, normalises it, and differentiates that directly.
//   q is (B, T, Hq, D), k and v are (B, T, Hkv, D), out is (B, T, Hq, D); lse and delta are
//   (B, Hq, T). q head h uses kv head floor(h / (Hq/Hkv)). Token i sees token j iff j <= i,
//   (without a window, or) j > i - window, and (without docIds, or) docIds[b*T + j] == docIds[b*T + i].
// Accumulates in f64 so that it is the more accurate side of every comparison.

export interface AttentionRefConfig {
  B: number;
  T: number;
  Hq: number;
  Hkv: number;
  D: number;
  scale?: number;
  /** sliding window (Hugging Face: key j visible from query i iff i - window < j <= i) */
  window?: number | null;
  docIds?: ArrayLike<number>;
}

type Arr = ArrayLike<number>;

function setup(c: AttentionRefConfig) {
  const { B, T, Hq, Hkv, D } = c;
  const rep = Hq / Hkv;
  const scale = c.scale ?? 1 / Math.sqrt(D);
  const qOff = (b: number, t: number, h: number) => ((b * T + t) * Hq + h) * D;
  const kOff = (b: number, t: number, g: number) => ((b * T + t) * Hkv + g) * D;
  const sees = (b: number, i: number, j: number) =>
    j <= i && (!c.window || j > i - c.window) && (!c.docIds || c.docIds[b * T + j] === c.docIds[b * T + i]);
  return { B, T, Hq, D, rep, scale, qOff, kOff, sees };
}

/** Probabilities of query row (b, h, i) over keys 0..i (0 where masked), plus its lse. */
function rowProbs(q: Arr, k: Arr, c: AttentionRefConfig, b: number, h: number, i: number) {
  const { D, rep, scale, qOff, kOff, sees } = setup(c);
  const g = Math.floor(h / rep);
  const s = new Float64Array(i + 1).fill(-Infinity);
  let max = -Infinity;
  for (let j = 0; j <= i; j++) {
    if (!sees(b, i, j)) continue;
    let dot = 0;
    for (let d = 0; d < D; d++) dot += q[qOff(b, i, h) + d] * k[kOff(b, j, g) + d];
    s[j] = dot * scale;
    max = Math.max(max, s[j]);
  }
  let sum = 0;
  for (let j = 0; j <= i; j++) sum += Math.exp(s[j] - max);
  const lse = max + Math.log(sum);
  return { p: s.map((x) => Math.exp(x - lse)), lse };
}

export function attentionForwardRef(q: Arr, k: Arr, v: Arr, c: AttentionRefConfig): { out: Float64Array; lse: Float64Array } {
  const { B, T, Hq, D, rep, kOff, qOff } = setup(c);
  const out = new Float64Array(B * T * Hq * D);
  const lse = new Float64Array(B * Hq * T);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < Hq; h++) {
      const g = Math.floor(h / rep);
      for (let i = 0; i < T; i++) {
        const r = rowProbs(q, k, c, b, h, i);
        lse[(b * Hq + h) * T + i] = r.lse;
        for (let j = 0; j <= i; j++) {
          if (r.p[j] === 0) continue;
          for (let d = 0; d < D; d++) out[qOff(b, i, h) + d] += r.p[j] * v[kOff(b, j, g) + d];
        }
      }
    }
  }
  return { out, lse };
}

/** Gradients of sum(dout ⊙ out) with respect to q, k, v (and delta = rowsum(dout ⊙ out)). */
export function attentionBackwardRef(
  q: Arr,
  k: Arr,
  v: Arr,
  dout: Arr,
  c: AttentionRefConfig,
): { dq: Float64Array; dk: Float64Array; dv: Float64Array; delta: Float64Array } {
  const { B, T, Hq, D, rep, scale, kOff, qOff } = setup(c);
  const dq = new Float64Array(B * T * Hq * D);
  const dk = new Float64Array(k.length);
  const dv = new Float64Array(v.length);
  const delta = new Float64Array(B * Hq * T);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < Hq; h++) {
      const g = Math.floor(h / rep);
      for (let i = 0; i < T; i++) {
        const { p } = rowProbs(q, k, c, b, h, i);
        const qi = qOff(b, i, h);
        // dL/dp_j = dout_i . v_j; softmax backward: ds_j = p_j (dp_j - sum_l p_l dp_l)
        const dp = new Float64Array(i + 1);
        let pdp = 0;
        for (let j = 0; j <= i; j++) {
          for (let d = 0; d < D; d++) dp[j] += dout[qi + d] * v[kOff(b, j, g) + d];
          pdp += p[j] * dp[j];
        }
        delta[(b * Hq + h) * T + i] = pdp; // equals sum_d dout ⊙ out
        for (let j = 0; j <= i; j++) {
          const ds = p[j] * (dp[j] - pdp) * scale;
          const kj = kOff(b, j, g);
          for (let d = 0; d < D; d++) {
            dq[qi + d] += ds * k[kj + d];
            dk[kj + d] += ds * q[qi + d];
            dv[kj + d] += p[j] * dout[qi + d];
          }
        }
      }
    }
  }
  return { dq, dk, dv, delta };
}
