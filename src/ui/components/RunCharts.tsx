import { useMemo } from 'react';
import { formatMetric, formatInt } from '../lib/format';
import { historyColumns, lastValue } from '../lib/runs';
import { useRunStore } from '../stores/runStore';
import { LineChart } from './LineChart';

/** Loss (with validation points), learning rate, gradient norm and speed of the shown run. */
export function RunCharts() {
  const history = useRunStore((s) => s.history);
  const shownRunId = useRunStore((s) => s.shownRunId);
  const runName = useRunStore((s) => s.runs.find((r) => r.id === s.shownRunId)?.name ?? null);
  const cols = useMemo(() => historyColumns(history), [history]);
  const at = (v: number | null, fmt: (n: number) => string = formatMetric) => (v === null ? 'no data yet' : `latest ${fmt(v)}`);
  return (
    <div className="charts-wrap">
      <h3>{shownRunId ? `Curves${runName ? ` of “${runName}”` : ''}` : 'Curves'}</h3>
      <div className="charts">
        <LineChart
          title="Loss"
          testId="chart-loss"
          x={cols.step}
          series={[
            { label: 'train', values: cols.loss, colorVar: '--chart-1' },
            { label: 'validation', values: cols.valLoss, colorVar: '--chart-2', pointsOnly: true },
          ]}
          summary={`${at(lastValue(cols.loss))}${lastValue(cols.valLoss) !== null ? `, validation ${formatMetric(lastValue(cols.valLoss))}` : ''}`}
        />
        <LineChart title="Learning rate" testId="chart-lr" x={cols.step} series={[{ label: 'learning rate', values: cols.lr, colorVar: '--chart-3' }]} summary={at(lastValue(cols.lr))} />
        <LineChart title="Gradient norm" testId="chart-grad" x={cols.step} series={[{ label: 'gradient norm', values: cols.gradNorm, colorVar: '--chart-4' }]} summary={at(lastValue(cols.gradNorm))} />
        <LineChart title="Tokens per second" testId="chart-speed" x={cols.step} series={[{ label: 'tokens/s', values: cols.tokensPerSecond, colorVar: '--chart-5' }]} summary={at(lastValue(cols.tokensPerSecond), formatInt)} />
      </div>
    </div>
  );
}
