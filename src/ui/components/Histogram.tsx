import type { LengthHistogram } from '../../data';
import { formatInt } from '../lib/format';
import { histogramBars } from '../lib/histogram';

/** Sequence lengths as a small bar chart, with the same numbers in a table for screen readers. */
export function Histogram({ histogram, title }: { histogram: LengthHistogram; title: string }) {
  const bars = histogramBars(histogram);
  const w = 100 / Math.max(1, bars.length);
  return (
    <figure className="histogram">
      <figcaption>{title}</figcaption>
      <svg viewBox="0 0 100 40" preserveAspectRatio="none" className="histogram-bars" aria-hidden="true" focusable="false">
        {bars.map((b, i) => (
          <rect key={i} x={i * w + 0.4} width={w - 0.8} y={40 - b.height * 38} height={Math.max(b.count > 0 ? 0.6 : 0, b.height * 38)} fill="var(--chart-1)">
            <title>{`${b.label} tokens: ${formatInt(b.count)}`}</title>
          </rect>
        ))}
      </svg>
      <div className="histogram-axis" aria-hidden="true">
        <span>{bars[0]?.from ?? 0}</span>
        <span>{bars.length ? bars[bars.length - 1].to : 0} tokens</span>
      </div>
      <table className="visually-hidden">
        <caption>{title}</caption>
        <thead>
          <tr>
            <th>Tokens</th>
            <th>Sequences</th>
          </tr>
        </thead>
        <tbody>
          {bars.map((b, i) => (
            <tr key={i}>
              <td>{b.label}</td>
              <td>{b.count}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </figure>
  );
}
