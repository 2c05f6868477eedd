// What a number field's text means. Empty or malformed text becomes NaN, so validateConfig
// reports it next to the field instead of the field silently snapping to 0.

export function parseNumberInput(text: string): number {
  const t = text.trim().replace(/_/g, '');
  if (t === '' || !/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(t)) return NaN;
  return Number(t);
}

/** The text a number field starts from: short, and in exponent form for small rates (2e-3). */
export function numberToInput(v: number): string {
  if (Number.isNaN(v)) return '';
  if (v !== 0 && Math.abs(v) < 1e-3) return v.toExponential();
  return String(v);
}
