import { describe, expect, it } from 'vitest';
import { learningRateAt } from './schedule';

describe('learningRateAt', () => {
  it('warms up linearly from zero', () => {
    expect(learningRateAt(0, 1e-3, 'constant', 4, 10)).toBe(0);
    expect(learningRateAt(2, 1e-3, 'constant', 4, 10)).toBeCloseTo(5e-4, 12);
    expect(learningRateAt(4, 1e-3, 'constant', 4, 10)).toBe(1e-3);
  });
  it('decays linearly and by cosine to zero at the last step', () => {
    expect(learningRateAt(4, 1, 'linear', 4, 14)).toBe(1);
    expect(learningRateAt(9, 1, 'linear', 4, 14)).toBeCloseTo(0.5, 12);
    expect(learningRateAt(14, 1, 'linear', 4, 14)).toBe(0);
    expect(learningRateAt(9, 1, 'cosine', 4, 14)).toBeCloseTo(0.5, 12);
    expect(learningRateAt(14, 1, 'cosine', 4, 14)).toBeCloseTo(0, 12);
    expect(learningRateAt(6, 1, 'cosine', 4, 14)).toBeCloseTo(0.5 * (1 + Math.cos(Math.PI * 0.2)), 12);
  });
  it('keeps a constant rate without warm-up', () => {
    expect(learningRateAt(0, 0.1, 'constant', 0, 5)).toBe(0.1);
    expect(learningRateAt(100, 0.1, 'constant', 0, 5)).toBe(0.1);
  });
});
