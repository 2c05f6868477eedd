import { describe, expect, it } from 'vitest';
import { histogramBars } from './histogram';

describe('histogramBars', () => {
  it('labels integer ranges and scales heights to the tallest bar', () => {
    const bars = histogramBars({ edges: [0, 32, 64, 128], counts: [2, 8, 4] });
    expect(bars.map((b) => b.label)).toEqual(['0–31', '32–63', '64–128']);
    expect(bars.map((b) => b.height)).toEqual([0.25, 1, 0.5]);
    expect(bars.map((b) => b.count)).toEqual([2, 8, 4]);
  });
  it('handles empty and degenerate histograms', () => {
    expect(histogramBars({ edges: [], counts: [] })).toEqual([]);
    const one = histogramBars({ edges: [5, 5], counts: [0] });
    expect(one).toEqual([{ from: 5, to: 5, count: 0, height: 0, label: '5' }]);
  });
});
