import { sparklinePoints } from '../lib/runs';

/** A small loss curve for the runs list; decorative, the row's text gives the numbers. */
export function Sparkline({ values, width = 120, height = 32 }: { values: (number | null)[]; width?: number; height?: number }) {
  const points = sparklinePoints(values, width, height - 2);
  return (
    <svg className="sparkline" width={width} height={height} viewBox={`0 -1 ${width} ${height}`} aria-hidden="true" focusable="false">
      {points ? <polyline points={points} fill="none" stroke="var(--chart-1)" strokeWidth="1.5" /> : <line x1="0" x2={width} y1={height / 2} y2={height / 2} stroke="var(--border)" strokeDasharray="3 3" />}
    </svg>
  );
}
