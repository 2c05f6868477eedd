// Bars for the dataset's length histogram (bin edges and counts from the tokenizer's stats).
import type { LengthHistogram } from '../../data';

export interface HistogramBar {
  from: number;
  to: number;
  count: number;
  /** bar height as a share of the tallest bar, 0..1 */
  height: number;
  label: string;
}

export function histogramBars(h: LengthHistogram): HistogramBar[] {
  const n = Math.min(h.counts.length, Math.max(0, h.edges.length - 1));
  let max = 0;
  for (let i = 0; i < n; i++) max = Math.max(max, h.counts[i]);
  const bars: HistogramBar[] = [];
  for (let i = 0; i < n; i++) {
    const from = Math.ceil(h.edges[i]);
    // Bins are [from, to) except the last, which includes its right edge.
    const to = i === n - 1 ? Math.floor(h.edges[i + 1]) : Math.ceil(h.edges[i + 1]) - 1;
    bars.push({ from, to, count: h.counts[i], height: max > 0 ? h.counts[i] / max : 0, label: from >= to ? `${from}` : `${from}–${to}` });
  }
  return bars;
}
