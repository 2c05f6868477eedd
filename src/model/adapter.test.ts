import { describe, expect, it } from 'vitest';
import { initLoraWeights } from './adapter';

describe('initLoraWeights (PEFT default init)', () => {
  it('draws A from U(-1/√in, 1/√in), spread over the whole range, and sets B to zero', () => {
    const { A, B } = initLoraWeights(64, 96, 8, 42, 'model.layers.0.self_attn.q_proj');
    const bound = 1 / 8;
    expect(A.length).toBe(8 * 64);
    expect(Math.max(...A)).toBeLessThanOrEqual(bound);
    expect(Math.min(...A)).toBeGreaterThanOrEqual(-bound);
    // uniform on the interval: the extremes come close to the bound, the mean close to 0
    expect(Math.max(...A)).toBeGreaterThan(0.9 * bound);
    expect(Math.min(...A)).toBeLessThan(-0.9 * bound);
    expect(Math.abs(A.reduce((s, x) => s + x, 0) / A.length)).toBeLessThan(0.02);
    expect(B.length).toBe(96 * 8);
    expect(B.every((x) => x === 0)).toBe(true);
  });

  it('is reproducible per seed and differs between modules', () => {
    const a = initLoraWeights(16, 16, 4, 1, 'm.q_proj').A;
    expect(Array.from(initLoraWeights(16, 16, 4, 1, 'm.q_proj').A)).toEqual(Array.from(a));
    expect(Array.from(initLoraWeights(16, 16, 4, 1, 'm.k_proj').A)).not.toEqual(Array.from(a));
    expect(Array.from(initLoraWeights(16, 16, 4, 2, 'm.q_proj').A)).not.toEqual(Array.from(a));
  });
});
