import type { DatasetStats } from '../../data';
import { formatInt, formatPercent } from '../lib/format';
import { Histogram } from './Histogram';

export function DatasetStatsView({ stats }: { stats: DatasetStats }) {
  return (
    <div className="stats">
      <h3>Statistics</h3>
      <dl className="facts" aria-label="Dataset statistics">
        <dt>Rows</dt>
        <dd>{formatInt(stats.rows)}</dd>
        <dt>Sequences</dt>
        <dd>{formatInt(stats.examples)}</dd>
        <dt>Tokens</dt>
        <dd>{formatInt(stats.tokens)}</dd>
        <dt>Trained tokens</dt>
        <dd>
          {formatInt(stats.trainedTokens)} <span className="muted">({formatPercent(stats.trainedTokens, stats.tokens)} of all tokens)</span>
        </dd>
        <dt>Length</dt>
        <dd>
          mean {formatInt(stats.meanLength)}, longest {formatInt(stats.maxLength)} tokens
        </dd>
        <dt>Truncated rows</dt>
        <dd className={stats.truncatedRows > 0 ? 'warn' : undefined}>
          {formatInt(stats.truncatedRows)}
          {stats.truncatedRows > 0 && <span className="muted"> (longer than the sequence length; raise it in step 3 to keep their ends)</span>}
        </dd>
        {stats.splitRows > 0 && (
          <>
            <dt>Split rows</dt>
            <dd>{formatInt(stats.splitRows)} <span className="muted">(long text cut into several sequences)</span></dd>
          </>
        )}
        <dt>Skipped rows</dt>
        <dd className={stats.skippedRows > 0 ? 'warn' : undefined}>{formatInt(stats.skippedRows)}</dd>
        {stats.rowsWithSpecialTokenText > 0 && (
          <>
            <dt>Special-token text</dt>
            <dd>{formatInt(stats.rowsWithSpecialTokenText)} rows</dd>
          </>
        )}
      </dl>
      <Histogram histogram={stats.lengthHistogram} title="Sequence lengths (tokens)" />
    </div>
  );
}
