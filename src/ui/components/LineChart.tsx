import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export interface ChartSeries {
  label: string;
  values: (number | null)[];
  /** CSS variable holding the colour, e.g. "--chart-1" */
  colorVar: string;
  /** draw points only (validation loss comes every N steps) */
  pointsOnly?: boolean;
}

function cssVar(el: Element, name: string, fallback: string): string {
  return getComputedStyle(el).getPropertyValue(name).trim() || fallback;
}

/**
 * A uPlot line chart that follows its container's width and the colour scheme. The canvas is
 * hidden from assistive technology; the caption and `summary` say what it shows.
 */
export function LineChart({ title, x, series, summary, logY, height = 170, testId }: { title: string; x: number[]; series: ChartSeries[]; summary: string; logY?: boolean; height?: number; testId?: string }) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);
  const data = [x, ...series.map((s) => s.values)] as uPlot.AlignedData;
  const dataRef = useRef(data);
  dataRef.current = data;
  const shape = series.map((s) => `${s.label}:${s.colorVar}:${s.pointsOnly ? 1 : 0}`).join('|') + (logY ? 'log' : '');

  // (Re)build the chart when the series' shape or the colour scheme changes.
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const make = () => {
      plot.current?.destroy();
      const fg = cssVar(el, '--muted', '#666');
      const grid = cssVar(el, '--grid', 'rgba(128,128,128,0.2)');
      const axis = { stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 }, font: '11px system-ui, sans-serif' };
      const opts: uPlot.Options = {
        width: Math.max(200, el.clientWidth),
        height,
        legend: { show: series.length > 1 },
        cursor: { drag: { x: false, y: false } },
        scales: { x: { time: false }, y: logY ? { distr: 3 } : {} },
        axes: [{ ...axis, label: 'step', labelSize: 16, labelFont: '11px system-ui, sans-serif' }, { ...axis, size: 56 }],
        series: [
          { label: 'step' },
          ...series.map((s) => {
            const color = cssVar(el, s.colorVar, '#2458d6');
            return s.pointsOnly
              ? { label: s.label, stroke: color, width: 0, paths: () => null, points: { show: true, size: 7, fill: color, stroke: color } }
              : { label: s.label, stroke: color, width: 2, spanGaps: false, points: { show: false } };
          }),
        ],
      };
      plot.current = new uPlot(opts, dataRef.current, el);
    };
    make();
    const ro = new ResizeObserver(() => plot.current?.setSize({ width: Math.max(200, el.clientWidth), height }));
    ro.observe(el);
    const mq = window.matchMedia('(prefers-color-scheme: dark)');
    mq.addEventListener('change', make);
    return () => {
      ro.disconnect();
      mq.removeEventListener('change', make);
      plot.current?.destroy();
      plot.current = null;
    };
    // series/logY are captured through `shape`; the data goes through dataRef.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [shape, height]);

  useEffect(() => {
    plot.current?.setData(data);
  });

  return (
    <figure className="chart" data-testid={testId} data-points={x.length}>
      <figcaption>
        <span className="chart-title">{title}</span> <span className="chart-summary">{summary}</span>
      </figcaption>
      <div ref={box} className="chart-canvas" aria-hidden="true" />
      {x.length === 0 && <p className="chart-empty">No data yet</p>}
    </figure>
  );
}
