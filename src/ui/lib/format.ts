// Numbers as the studio shows them: bytes in binary units, durations as "3 min 05 s", counts as
// "260K". Pure functions so they are tested without a DOM.

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

/** 1536 -> "1.5 KiB"; three significant digits at most, never "1024 KiB". */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n)) return '—';
  const sign = n < 0 ? '-' : '';
  let v = Math.abs(n);
  let u = 0;
  while (v >= 1024 && u < UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  if (u === 0) return `${sign}${Math.round(v)} B`;
  let text = v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
  // 1023.99 KiB rounds to "1024": show the next unit instead.
  if (Number(text) >= 1024 && u < UNITS.length - 1) {
    u++;
    text = (v / 1024).toFixed(2);
  }
  return `${sign}${text} ${UNITS[u]}`;
}

/** Seconds as "42 s", "3 min 05 s", "1 h 02 min", "2 d 3 h"; "—" when unknown. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '—';
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${String(s % 60).padStart(2, '0')} s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h} h ${String(m % 60).padStart(2, '0')} min`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

/** 260_000 -> "260K", 1_234_567 -> "1.23M", 999 -> "999". */
export function formatCount(n: number): string {
  if (!Number.isFinite(n)) return '—';
  const a = Math.abs(n);
  const scaled = (div: number, suffix: string) => {
    const v = n / div;
    const text = Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(2);
    return `${text.replace(/\.0+$|(\.\d*?)0+$/, '$1')}${suffix}`;
  };
  if (a >= 1e12) return scaled(1e12, 'T');
  if (a >= 1e9) return scaled(1e9, 'B');
  if (a >= 1e6) return scaled(1e6, 'M');
  if (a >= 1e3) return scaled(1e3, 'K');
  return String(Math.round(n));
}

/** Thousands separators for integers the user reads exactly (rows, tokens, steps). */
export function formatInt(n: number): string {
  if (!Number.isFinite(n)) return '—';
  return Math.round(n).toLocaleString('en-US');
}

/** Loss-like values: 4 significant digits; tiny or huge ones in exponent form. */
export function formatMetric(v: number | undefined | null): string {
  if (v === undefined || v === null || Number.isNaN(v)) return '—';
  if (!Number.isFinite(v)) return v > 0 ? '∞' : '-∞';
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a < 1e-3 || a >= 1e5) return v.toExponential(2);
  return String(Number(v.toPrecision(4)));
}

export function formatPercent(part: number, whole: number): string {
  if (!(whole > 0) || !Number.isFinite(part)) return '—';
  const p = (100 * part) / whole;
  return `${p >= 10 || p === 0 ? p.toFixed(0) : p.toFixed(1)}%`;
}
