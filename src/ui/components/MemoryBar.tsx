import type { MemoryEstimate } from '../../train/memory';
import { formatBytes, formatPercent } from '../lib/format';
import { memoryBarModel } from '../lib/memoryBar';

/** The estimate as one stacked bar with a legend; the limit, when known, as a line across it. */
export function MemoryBar({ estimate, compact }: { estimate: MemoryEstimate; compact?: boolean }) {
  const m = memoryBarModel(estimate);
  const summary = estimate.limitBytes
    ? `${formatBytes(m.totalBytes)} of ${formatBytes(estimate.limitBytes)} (${formatPercent(m.totalBytes, estimate.limitBytes)})`
    : `${formatBytes(m.totalBytes)} in total`;
  return (
    <div className={`memory${compact ? ' compact' : ''}`}>
      <div className="memory-bar" role="img" aria-label={`GPU memory for this job: ${summary}. ${m.segments.map((s) => `${s.label} ${formatBytes(s.bytes)}`).join(', ')}.`}>
        {m.segments.map((s) => (
          <span key={s.key} className={`seg seg-${s.key}`} style={{ width: `${(s.fraction * 100).toFixed(2)}%` }} />
        ))}
        {m.limitFraction !== null && <span className="limit" style={{ left: `calc(${(m.limitFraction * 100).toFixed(2)}% - 1px)` }} />}
      </div>
      <p className={`memory-total ${estimate.fits ? '' : 'error'}`}>
        <strong>{summary}</strong>
        {estimate.fits ? '' : ' — does not fit'}
      </p>
      {!compact && (
        <ul className="legend">
          {m.segments.map((s) => (
            <li key={s.key}>
              <span className={`swatch seg-${s.key}`} aria-hidden="true" /> {s.label}: {formatBytes(s.bytes)}
            </li>
          ))}
          {m.limitFraction !== null && (
            <li>
              <span className="swatch limit-swatch" aria-hidden="true" /> Limit: {formatBytes(estimate.limitBytes!)}
            </li>
          )}
        </ul>
      )}
    </div>
  );
}
