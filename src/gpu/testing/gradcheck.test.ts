import { describe, expect, it } from 'vitest';
import { expectClose } from '../../util/check';
import { centralDiffGrad, centralDiffVjp } from './gradcheck';
import { randn } from '../../util/random';

// L(v) = ½·vᵀAv + bᵀv with A symmetric: ∇L = Av + b.
function quadratic(n: number) {
  const r = randn(n * n, 1);
  const A = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) A[i * n + j] = r[i * n + j] + r[j * n + i];
  const b = Float64Array.from(randn(n, 2));
  const Av = (v: ArrayLike<number>) => Float64Array.from({ length: n }, (_, i) => A.slice(i * n, i * n + n).reduce((s, a, j) => s + a * v[j], 0));
  const loss = (v: ArrayLike<number>) => 0.5 * Av(v).reduce((s, x, i) => s + x * v[i], 0) + b.reduce((s, x, i) => s + x * v[i], 0);
  // Σ|terms| of L: what its f64 rounding error is relative to
  const scale = (v: ArrayLike<number>) => A.reduce((s, a, k) => s + Math.abs(0.5 * a * v[Math.floor(k / n)] * v[k % n]), 0) + b.reduce((s, x, i) => s + Math.abs(x * v[i]), 0);
  const grad = (v: ArrayLike<number>) => Av(v).map((x, i) => x + b[i]);
  return { A, b, Av, loss, scale, grad };
}

describe('centralDiffGrad', () => {
  const n = 6;
  const q = quadratic(n);
  const v = randn(n, 3);
  const h = 1e-2;
  // A quadratic has f''' = 0, so only rounding is left: each loss is off by ~eps·Σ|terms|, and the
  // quotient divides that by 2h. 16·eps is a generous count of the rounding steps per loss.
  const roundTol = { atol: (16 * Number.EPSILON * q.scale(v)) / h, rtol: 0 };

  it('is exact up to rounding on a quadratic', () => {
    expectClose('grad of ½vᵀAv + bᵀv', centralDiffGrad(q.loss, v, h), q.grad(v), roundTol);
  });

  it('detects a wrong gradient: a missing ½, a one-sided A, one entry off by 10 tolerances', () => {
    const fd = centralDiffGrad(q.loss, v, h);
    expect(() => expectClose('2Av + b', fd, q.Av(v).map((x, i) => 2 * x + q.b[i]), roundTol)).toThrow(/outside/);
    const upper = Float64Array.from({ length: n }, (_, i) => q.b[i] + q.A.slice(i * n, i * n + n).reduce((s, a, j) => s + (j >= i ? a * v[j] : 0), 0));
    expect(() => expectClose('triangular A', fd, upper, roundTol)).toThrow(/outside/);
    const nudged = q.grad(v);
    nudged[2] += 10 * roundTol.atol;
    expect(() => expectClose('one entry off', fd, nudged, roundTol)).toThrow(/1 of 6 values outside/);
  });

  it('has the O(h²) error of a central difference on Σ cᵢ·sin(vᵢ)', () => {
    const c = randn(n, 4);
    const loss = (p: Float64Array) => p.reduce((s, x, i) => s + c[i] * Math.sin(x), 0);
    const exact = Float64Array.from(v, (x, i) => c[i] * Math.cos(x));
    const maxErr = (step: number) => centralDiffGrad(loss, v, step).reduce((m, g, i) => Math.max(m, Math.abs(g - exact[i])), 0);
    const maxC = c.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
    for (const step of [1e-2, 1e-3, 1e-4]) {
      // truncation |cᵢ·cos vᵢ|·(1 − sin(h)/h) <= |cᵢ|·h²/6, plus the rounding of ~eps·Σ|cᵢ| / h
      expectClose(`grad at h=${step}`, centralDiffGrad(loss, v, step), exact, { atol: (maxC * step * step) / 6 + (16 * Number.EPSILON * n * maxC) / step, rtol: 0 });
    }
    // halving h quarters the error (a one-sided difference would only halve it)
    const ratio = maxErr(1e-2) / maxErr(5e-3);
    expect(ratio).toBeGreaterThan(3.9);
    expect(ratio).toBeLessThan(4.1);
    // the derivative of sin is not −cos
    expect(() => expectClose('wrong sign', centralDiffGrad(loss, v, 1e-3), exact.map((g) => -g), { atol: (maxC * 1e-6) / 6, rtol: 0 })).toThrow(/outside/);
  });

  it('leaves v alone, calls the loss 2n times, returns f64 and rejects a bad step', () => {
    const before = Float32Array.from(v);
    let calls = 0;
    const g = centralDiffGrad((p) => (calls++, q.loss(p)), v, h);
    expect(g).toBeInstanceOf(Float64Array);
    expect(calls).toBe(2 * n);
    expect(v).toEqual(before);
    for (const bad of [0, -1e-3, NaN, Infinity]) expect(() => centralDiffGrad(q.loss, v, bad)).toThrow(/step h must be a finite number > 0/);
  });
});

describe('centralDiffVjp', () => {
  // f(v) = [v0·v1, sin v2, v0², e^v1·v2], so dyᵀ·J is
  // [dy0·v1 + 2·dy2·v0, dy0·v0 + dy3·e^v1·v2, dy1·cos v2 + dy3·e^v1].
  const f = (p: ArrayLike<number>) => [p[0] * p[1], Math.sin(p[2]), p[0] * p[0], Math.exp(p[1]) * p[2]];
  const v = [0.3, -0.7, 1.1];
  const dy = [0.5, -1.5, 2, 0.25];
  const exact = [
    dy[0] * v[1] + 2 * dy[2] * v[0],
    dy[0] * v[0] + dy[3] * Math.exp(v[1]) * v[2],
    dy[1] * Math.cos(v[2]) + dy[3] * Math.exp(v[1]),
  ];
  const h = 1e-4;
  // third derivatives here are at most |dy1| + |dy3|·e^|v1|·(|v2| + 3) < 3, so truncation < 3·h²/6
  const tol = { atol: (3 * h * h) / 6 + (64 * Number.EPSILON) / h, rtol: 0 };

  it('equals dyᵀ·J of a small nonlinear map', () => {
    expectClose('vjp', centralDiffVjp(f, v, dy, h), exact, tol);
  });

  it('detects a transposed Jacobian term (dy2 where dy0 belongs)', () => {
    const wrong = [...exact];
    wrong[0] = dy[2] * v[1] + 2 * dy[2] * v[0];
    expect(() => expectClose('vjp', centralDiffVjp(f, v, dy, h), wrong, tol)).toThrow(/1 of 3 values outside/);
  });

  it('names a dy that does not match f', () => {
    expect(() => centralDiffVjp(f, v, [1, 2, 3], h)).toThrow(/f returned 4 values but dy has 3/);
  });
});
