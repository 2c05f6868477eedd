// Self-consistency of the PyTorch fixtures for the Gemma 3 / Phi-3 / sliding-window ops
// (attention_window, rope_partial, rmsnorm_offset, geglu_tanh): each stored output and gradient is
// re-derived from the stored inputs in float64 TypeScript (the plain references in *.ref.ts and the
// formulas below, independent of the kernels and of PyTorch), so a broken or hand-edited fixture
// fails here before any kernel test trusts it. As fixtures.test.ts: |got - want| <= 1e-5·(1 + |want|).
import { describe, expect, it } from 'vitest';
import { attentionBackwardRef, attentionForwardRef } from './attention.ref';
import { loadFixture, type AttentionWindowFixture, type GegluFixture, type RmsNormOffsetFixture, type RopePartialFixture } from './fixtures';
import { rmsnormBackwardRef, rmsnormForwardRef } from './rmsnorm.ref';

const TOL = 1e-5;

function expectClose(what: string, got: ArrayLike<number>, want: ArrayLike<number>) {
  expect(got.length, `${what} length`).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got[i] - want[i]) / (1 + Math.abs(want[i]));
    if (!(err <= TOL)) throw new Error(`${what}[${i}]: stored ${want[i]}, recomputed ${got[i]}`);
  }
}

describe('Gemma 3 / Phi-3 op fixtures are self-consistent', () => {
  it('attention_window: out, lse, delta, dq, dk, dv, with the window really applied', () => {
    const f = loadFixture<AttentionWindowFixture>('attention_window');
    expect(f.cases.map((c) => c.config.window)).toEqual([3, 2, 1]);
    for (const c of f.cases) {
      const cfg = { ...c.config, docIds: c.docIds };
      const fwd = attentionForwardRef(c.q, c.k, c.v, cfg);
      const bwd = attentionBackwardRef(c.q, c.k, c.v, c.dout, cfg);
      expectClose(`${c.name}.out`, fwd.out, c.out);
      expectClose(`${c.name}.lse`, fwd.lse, c.lse);
      expectClose(`${c.name}.delta`, bwd.delta, c.delta);
      expectClose(`${c.name}.dq`, bwd.dq, c.dq);
      expectClose(`${c.name}.dk`, bwd.dk, c.dk);
      expectClose(`${c.name}.dv`, bwd.dv, c.dv);
      // without the window the stored outputs would not be reproduced
      const full = attentionForwardRef(c.q, c.k, c.v, { ...cfg, window: null });
      expect(() => expectClose('full', full.lse, c.lse)).toThrow();
    }
  });

  it('rope_partial: y and dx (first rotaryDim dims rotated with inv_freq over rotaryDim, rest copied)', () => {
    for (const c of loadFixture<RopePartialFixture>('rope_partial').cases) {
      const { B, T, H, D, rotaryDim: R, theta } = c.config;
      const y = Float64Array.from(c.x);
      const dx = Float64Array.from(c.dy);
      for (let n = 0; n < B * T; n++) {
        for (let h = 0; h < H; h++) {
          const o = (n * H + h) * D;
          for (let i = 0; i < R / 2; i++) {
            const a = c.positions[n] * Math.pow(theta, (-2 * i) / R);
            const [cs, sn] = [Math.cos(a), Math.sin(a)];
            const [x1, x2] = [c.x[o + i], c.x[o + i + R / 2]];
            const [g1, g2] = [c.dy[o + i], c.dy[o + i + R / 2]];
            y[o + i] = x1 * cs - x2 * sn;
            y[o + i + R / 2] = x2 * cs + x1 * sn;
            dx[o + i] = g1 * cs + g2 * sn;
            dx[o + i + R / 2] = g2 * cs - g1 * sn;
          }
        }
      }
      expect(R).toBeLessThan(D);
      expectClose(`${c.name}.y`, y, c.y);
      expectClose(`${c.name}.dx`, dx, c.dx);
    }
  });

  it('rmsnorm_offset: y, rstd, dx, dw of x·rstd·(1 + w)', () => {
    const c = loadFixture<RmsNormOffsetFixture>('rmsnorm_offset').cases[0];
    const { N, C, eps } = c.config;
    const f = rmsnormForwardRef(c.x, c.w, N, C, eps, 1);
    const b = rmsnormBackwardRef(c.dy, c.x, c.w, N, C, eps, 1);
    expectClose('y', f.y, c.y);
    expectClose('rstd', f.rstd, c.rstd);
    expectClose('dx', b.dx, c.dx);
    expectClose('dw', b.dw, c.dw);
  });

  it('geglu_tanh: h, dgate, dup of gelu_tanh(gate)·up', () => {
    const c = loadFixture<GegluFixture>('geglu_tanh').cases[0];
    const k = Math.sqrt(2 / Math.PI);
    const t = c.gate.map((g) => Math.tanh(k * (g + 0.044715 * g ** 3)));
    const gelu = c.gate.map((g, i) => 0.5 * g * (1 + t[i]));
    expectClose('h', gelu.map((v, i) => v * c.up[i]), c.h);
    expectClose('dup', gelu.map((v, i) => v * c.dh[i]), c.dup);
    const slope = c.gate.map((g, i) => 0.5 * (1 + t[i]) + 0.5 * g * (1 - t[i] ** 2) * k * (1 + 3 * 0.044715 * g * g));
    expectClose('dgate', slope.map((s, i) => s * c.up[i] * c.dh[i]), c.dgate);
  });
});
