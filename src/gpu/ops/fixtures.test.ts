// Self-consistency of the committed PyTorch fixtures: every stored output and gradient is
// re-derived here from the stored inputs with plain float64 TypeScript (independent of the
// kernels and of PyTorch), so a broken, stale or hand-edited fixture fails loudly before any
// kernel test trusts it. Stored values are f32-rounded f64 results, hence the 1e-5 tolerance.

import { describe, expect, it } from 'vitest';
import { roundToF16 } from '../../util/f16';
import {
  FIXTURE_NAMES,
  loadFixture,
  type AdamWFixture,
  type AttentionFixture,
  type CrossEntropyFixture,
  type GeluNewFixture,
  type LayerNormFixture,
  type LoraLinearFixture,
  type RmsNormFixture,
  type RopeFixture,
  type SwigluFixture,
} from './fixtures';

const TOL = 1e-5;

/** Largest violation of |got - want| <= TOL * (1 + |want|), with its index; null when all pass. */
function mismatch(got: ArrayLike<number>, want: ArrayLike<number>): string | null {
  if (got.length !== want.length) return `length ${got.length} vs ${want.length}`;
  let worst = -1;
  let worstErr = 0;
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got[i] - want[i]) / (1 + Math.abs(want[i]));
    if (!(err <= TOL) && !(err <= worstErr)) {
      worst = i;
      worstErr = err;
    }
  }
  return worst < 0 ? null : `index ${worst}: stored ${want[worst]}, recomputed ${got[worst]}`;
}

/** Fail with the fixture field's name when the stored tensor disagrees with the recomputed one. */
function expectClose(what: string, recomputed: ArrayLike<number>, stored: ArrayLike<number>) {
  expect(mismatch(recomputed, stored), what).toBeNull();
}

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

// ------------------------------------------------------------------ f64 references

function attention(c: AttentionFixture['cases'][number]) {
  const { B, T, Hq, Hkv, D, scale } = c.config;
  const rep = Hq / Hkv;
  const qi = (b: number, t: number, h: number) => ((b * T + t) * Hq + h) * D;
  const ki = (b: number, t: number, h: number) => ((b * T + t) * Hkv + h) * D;
  const out = new Float64Array(B * T * Hq * D);
  const lse = new Float64Array(B * Hq * T);
  const delta = new Float64Array(B * Hq * T);
  const dq = new Float64Array(out.length);
  const dk = new Float64Array(B * T * Hkv * D);
  const dv = new Float64Array(dk.length);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < Hq; h++) {
      const g = Math.floor(h / rep);
      for (let i = 0; i < T; i++) {
        const allowed: number[] = [];
        for (let j = 0; j <= i; j++) {
          if (!c.docIds || c.docIds[b * T + j] === c.docIds[b * T + i]) allowed.push(j);
        }
        const s = allowed.map((j) => {
          let acc = 0;
          for (let d = 0; d < D; d++) acc += c.q[qi(b, i, h) + d] * c.k[ki(b, j, g) + d];
          return acc * scale;
        });
        const m = Math.max(...s);
        const l = m + Math.log(s.reduce((a, x) => a + Math.exp(x - m), 0));
        const p = s.map((x) => Math.exp(x - l));
        lse[(b * Hq + h) * T + i] = l;
        let dlt = 0;
        for (let d = 0; d < D; d++) {
          let acc = 0;
          allowed.forEach((j, n) => (acc += p[n] * c.v[ki(b, j, g) + d]));
          out[qi(b, i, h) + d] = acc;
          dlt += acc * c.dout[qi(b, i, h) + d];
        }
        delta[(b * Hq + h) * T + i] = dlt;
        allowed.forEach((j, n) => {
          let dp = 0;
          for (let d = 0; d < D; d++) dp += c.dout[qi(b, i, h) + d] * c.v[ki(b, j, g) + d];
          const ds = p[n] * (dp - dlt) * scale;
          for (let d = 0; d < D; d++) {
            dq[qi(b, i, h) + d] += ds * c.k[ki(b, j, g) + d];
            dk[ki(b, j, g) + d] += ds * c.q[qi(b, i, h) + d];
            dv[ki(b, j, g) + d] += p[n] * c.dout[qi(b, i, h) + d];
          }
        });
      }
    }
  }
  return { out, lse, delta, dq, dk, dv };
}

function rope(c: RopeFixture['cases'][number]) {
  const { B, T, H, D, theta } = c.config;
  const y = new Float64Array(c.x.length);
  const dx = new Float64Array(c.x.length);
  const half = D / 2;
  for (let bt = 0; bt < B * T; bt++) {
    for (let h = 0; h < H; h++) {
      const o = (bt * H + h) * D;
      for (let i = 0; i < half; i++) {
        const ang = c.positions[bt] * Math.pow(theta, (-2 * i) / D);
        const cos = Math.cos(ang);
        const sin = Math.sin(ang);
        const [x1, x2] = [c.x[o + i], c.x[o + i + half]];
        const [g1, g2] = [c.dy[o + i], c.dy[o + i + half]];
        y[o + i] = x1 * cos - x2 * sin;
        y[o + i + half] = x2 * cos + x1 * sin;
        // the transpose of a rotation is the rotation by -angle
        dx[o + i] = g1 * cos + g2 * sin;
        dx[o + i + half] = g2 * cos - g1 * sin;
      }
    }
  }
  return { y, dx };
}

function rmsnorm(c: RmsNormFixture['cases'][number]) {
  const { N, C, eps } = c.config;
  const y = new Float64Array(N * C);
  const dx = new Float64Array(N * C);
  const dw = new Float64Array(C);
  const rstd = new Float64Array(N);
  for (let n = 0; n < N; n++) {
    let ss = 0;
    for (let j = 0; j < C; j++) ss += c.x[n * C + j] ** 2;
    const r = 1 / Math.sqrt(ss / C + eps);
    rstd[n] = r;
    let gx = 0; // sum_j dy*w*x
    for (let j = 0; j < C; j++) gx += c.dy[n * C + j] * c.w[j] * c.x[n * C + j];
    for (let j = 0; j < C; j++) {
      const x = c.x[n * C + j];
      y[n * C + j] = x * r * c.w[j];
      dx[n * C + j] = r * c.dy[n * C + j] * c.w[j] - ((r ** 3 * x) / C) * gx;
      dw[j] += c.dy[n * C + j] * x * r;
    }
  }
  return { y, rstd, dx, dw };
}

function layernorm(c: LayerNormFixture['cases'][number]) {
  const { N, C, eps } = c.config;
  const y = new Float64Array(N * C);
  const dx = new Float64Array(N * C);
  const dw = new Float64Array(C);
  const db = new Float64Array(C);
  const mean = new Float64Array(N);
  const rstd = new Float64Array(N);
  for (let n = 0; n < N; n++) {
    const row = c.x.slice(n * C, n * C + C);
    const mu = row.reduce((a, x) => a + x, 0) / C;
    const r = 1 / Math.sqrt(row.reduce((a, x) => a + (x - mu) ** 2, 0) / C + eps);
    mean[n] = mu;
    rstd[n] = r;
    const xhat = row.map((x) => (x - mu) * r);
    const g = xhat.map((_, j) => c.dy[n * C + j] * c.w[j]);
    const gMean = g.reduce((a, x) => a + x, 0) / C;
    const gxMean = g.reduce((a, x, j) => a + x * xhat[j], 0) / C;
    for (let j = 0; j < C; j++) {
      y[n * C + j] = xhat[j] * c.w[j] + c.b[j];
      dx[n * C + j] = r * (g[j] - gMean - xhat[j] * gxMean);
      dw[j] += c.dy[n * C + j] * xhat[j];
      db[j] += c.dy[n * C + j];
    }
  }
  return { y, mean, rstd, dx, dw, db };
}

function crossEntropy(c: CrossEntropyFixture['cases'][number]) {
  const { N, V, labelSmoothing: eps, ignoreIndex } = c.config;
  const counted = c.labels.filter((l) => l !== ignoreIndex).length;
  const lse = new Float64Array(N);
  const rowLoss = new Float64Array(N);
  const dlogits = new Float64Array(N * V);
  let total = 0;
  for (let n = 0; n < N; n++) {
    const row = c.logits.slice(n * V, n * V + V);
    const m = Math.max(...row);
    const l = m + Math.log(row.reduce((a, x) => a + Math.exp(x - m), 0));
    lse[n] = l;
    const label = c.labels[n];
    if (label === ignoreIndex) continue;
    const nll = l - row[label];
    const smooth = row.reduce((a, x) => a + (l - x), 0) / V;
    rowLoss[n] = (1 - eps) * nll + eps * smooth;
    total += rowLoss[n];
    for (let v = 0; v < V; v++) {
      const target = (v === label ? 1 - eps : 0) + eps / V;
      dlogits[n * V + v] = (c.dloss / counted) * (Math.exp(row[v] - l) - target);
    }
  }
  return { counted, lse, rowLoss, loss: total / counted, dlogits };
}

function loraLinear(c: LoraLinearFixture['cases'][number]) {
  const { N, IN, OUT, r, scale: s } = c.config;
  const xa = new Float64Array(N * r); // x·Aᵀ
  const dyb = new Float64Array(N * r); // dy·B
  for (let n = 0; n < N; n++) {
    for (let k = 0; k < r; k++) {
      for (let i = 0; i < IN; i++) xa[n * r + k] += c.x[n * IN + i] * c.A[k * IN + i];
      for (let o = 0; o < OUT; o++) dyb[n * r + k] += c.dy[n * OUT + o] * c.B[o * r + k];
    }
  }
  const y = new Float64Array(N * OUT);
  const dx = new Float64Array(N * IN);
  const dA = new Float64Array(r * IN);
  const dB = new Float64Array(OUT * r);
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < OUT; o++) {
      let acc = c.bias ? c.bias[o] : 0;
      for (let i = 0; i < IN; i++) acc += c.x[n * IN + i] * c.W[o * IN + i];
      for (let k = 0; k < r; k++) acc += s * xa[n * r + k] * c.B[o * r + k];
      y[n * OUT + o] = acc;
    }
    for (let i = 0; i < IN; i++) {
      let acc = 0;
      for (let o = 0; o < OUT; o++) acc += c.dy[n * OUT + o] * c.W[o * IN + i];
      for (let k = 0; k < r; k++) acc += s * dyb[n * r + k] * c.A[k * IN + i];
      dx[n * IN + i] = acc;
    }
    for (let k = 0; k < r; k++) {
      for (let i = 0; i < IN; i++) dA[k * IN + i] += s * dyb[n * r + k] * c.x[n * IN + i];
      for (let o = 0; o < OUT; o++) dB[o * r + k] += s * c.dy[n * OUT + o] * xa[n * r + k];
    }
  }
  return { y, dx, dA, dB };
}

function geluNew(x: number) {
  const k = Math.sqrt(2 / Math.PI);
  const t = Math.tanh(k * (x + 0.044715 * x ** 3));
  const y = 0.5 * x * (1 + t);
  const dydx = 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * k * (1 + 3 * 0.044715 * x * x);
  return { y, dydx };
}

/** torch.optim.AdamW's update, in the same order of operations. */
function adamwSteps(c: AdamWFixture['cases'][number]) {
  const { lr, beta1, beta2, eps, weightDecay } = c.config;
  const p = Float64Array.from(c.param0);
  const m = new Float64Array(p.length);
  const v = new Float64Array(p.length);
  return c.steps.map(({ step: t, grad }) => {
    const bc1 = 1 - beta1 ** t;
    const bc2 = 1 - beta2 ** t;
    for (let i = 0; i < p.length; i++) {
      p[i] *= 1 - lr * weightDecay;
      m[i] = beta1 * m[i] + (1 - beta1) * grad[i];
      v[i] = beta2 * v[i] + (1 - beta2) * grad[i] * grad[i];
      p[i] -= (lr / bc1) * (m[i] / (Math.sqrt(v[i]) / Math.sqrt(bc2) + eps));
    }
    return { param: p.slice(), exp_avg: m.slice(), exp_avg_sq: v.slice() };
  });
}

// ------------------------------------------------------------------ tests

describe('op fixtures', () => {
  it('every fixture loads, names its op and has consistent shapes', () => {
    for (const name of FIXTURE_NAMES) {
      const f = loadFixture<{ op: string; cases: { name: string }[] }>(name);
      expect(f.op).toBe(name);
      expect(f.cases.length).toBeGreaterThan(0);
    }
  });

  it('attention_gqa: out, lse, delta, dq, dk, dv match an f64 recomputation', () => {
    const f = loadFixture<AttentionFixture>('attention_gqa');
    expect(f.cases.map((c) => c.name)).toEqual(['gqa_causal', 'packed_docs', 'single_token']);
    const packed = f.cases[1];
    expect(packed.docIds).toEqual([0, 0, 0, 1, 1, 1, 1, 2, 2]);
    expect(f.cases[2].config.T).toBe(1);
    for (const c of f.cases) {
      const { B, T, Hq, Hkv, D } = c.config;
      expect([B * T * Hq * D, B * T * Hkv * D, B * Hq * T]).toEqual([c.q.length, c.k.length, c.lse.length]);
      expect(c.config.scale).toBeCloseTo(1 / Math.sqrt(D), 12);
      const r = attention(c);
      for (const key of ['out', 'lse', 'delta', 'dq', 'dk', 'dv'] as const) {
        expectClose(`${c.name}.${key}`, r[key], c[key]);
      }
    }
  });

  it('rope: y and dx match an f64 recomputation', () => {
    const f = loadFixture<RopeFixture>('rope');
    expect(f.cases[0].positions).toEqual([3, 4, 5, 6, 7]);
    for (const c of f.cases) {
      const r = rope(c);
      expectClose(`${c.name}.y`, r.y, c.y);
      expectClose(`${c.name}.dx`, r.dx, c.dx);
    }
  });

  it('rmsnorm: y, rstd, dx, dw match an f64 recomputation', () => {
    const c = loadFixture<RmsNormFixture>('rmsnorm').cases[0];
    expect(c.config).toEqual({ N: 5, C: 13, eps: 1e-5 });
    const r = rmsnorm(c);
    for (const key of ['y', 'rstd', 'dx', 'dw'] as const) expectClose(key, r[key], c[key]);
  });

  it('layernorm: y, mean, rstd, dx, dw, db match an f64 recomputation', () => {
    const c = loadFixture<LayerNormFixture>('layernorm').cases[0];
    const r = layernorm(c);
    for (const key of ['y', 'mean', 'rstd', 'dx', 'dw', 'db'] as const) expectClose(key, r[key], c[key]);
  });

  it('cross_entropy: loss, rowLoss, lse and dlogits match an f64 recomputation', () => {
    const f = loadFixture<CrossEntropyFixture>('cross_entropy');
    expect(f.cases.map((c) => c.config.labelSmoothing)).toEqual([0, 0.1]);
    for (const c of f.cases) {
      expect(c.labels.filter((l) => l === -100)).toHaveLength(2);
      const r = crossEntropy(c);
      expect(c.config.numCounted).toBe(r.counted);
      expectClose(`${c.name}.loss`, [r.loss], [c.loss]);
      expectClose(`${c.name}.rowLoss`, r.rowLoss, c.rowLoss);
      expectClose(`${c.name}.lse`, r.lse, c.lse);
      expectClose(`${c.name}.dlogits`, r.dlogits, c.dlogits);
    }
  });

  it('lora_linear: W is fp16-exact; y, dx, dA, dB match an f64 recomputation', () => {
    const f = loadFixture<LoraLinearFixture>('lora_linear');
    for (const c of f.cases) {
      const { r, alpha, rslora, hasBias } = c.config;
      expect(c.config.scale).toBeCloseTo(rslora ? alpha / Math.sqrt(r) : alpha / r, 12);
      expect(c.bias !== undefined).toBe(hasBias);
      expect(c.W.every((w) => roundToF16(w) === w)).toBe(true);
      const res = loraLinear(c);
      for (const key of ['y', 'dx', 'dA', 'dB'] as const) expectClose(`${c.name}.${key}`, res[key], c[key]);
    }
    expect(f.cases.map((c) => [c.config.hasBias, c.config.rslora])).toEqual([
      [true, false],
      [false, false],
      [true, true],
    ]);
  });

  it('swiglu: h, dgate, dup match an f64 recomputation', () => {
    const c = loadFixture<SwigluFixture>('swiglu').cases[0];
    const h = c.gate.map((g, i) => g * sigmoid(g) * c.up[i]);
    const dgate = c.gate.map((g, i) => {
      const sg = sigmoid(g);
      return c.dh[i] * c.up[i] * (sg + g * sg * (1 - sg));
    });
    const dup = c.gate.map((g, i) => c.dh[i] * g * sigmoid(g));
    expectClose('h', h, c.h);
    expectClose('dgate', dgate, c.dgate);
    expectClose('dup', dup, c.dup);
  });

  it('gelu_new: y and dx match an f64 recomputation', () => {
    const c = loadFixture<GeluNewFixture>('gelu_new').cases[0];
    expectClose('y', c.x.map((x) => geluNew(x).y), c.y);
    expectClose('dx', c.x.map((x, i) => geluNew(x).dydx * c.dy[i]), c.dx);
  });

  it('adamw: params and moments after each of three steps match an f64 recomputation', () => {
    const c = loadFixture<AdamWFixture>('adamw').cases[0];
    expect(c.steps.map((s) => s.step)).toEqual([1, 2, 3]);
    const want = adamwSteps(c);
    c.steps.forEach((s, i) => {
      for (const key of ['param', 'exp_avg', 'exp_avg_sq'] as const) {
        expectClose(`step ${s.step} ${key}`, want[i][key], s[key]);
      }
    });
  });

  it('the comparison catches a corrupted value (the checks above can fail)', () => {
    const c = loadFixture<RmsNormFixture>('rmsnorm').cases[0];
    const y = rmsnorm(c).y;
    expect(mismatch(y, c.y)).toBeNull();
    const corrupted = c.y.slice();
    corrupted[7] += 1e-3;
    expect(mismatch(y, corrupted)).toMatch(/^index 7:/);
  });
});
