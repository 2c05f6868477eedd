// Values in error messages.

/**
 * A short, safe rendering of a JSON value for error messages: JSON.stringify recurses, so a value
 * nested thousands of levels deep would overflow the stack instead of producing our error.
 */
export function describeJson(v: unknown, depth = 0, custom?: (v: unknown) => string | undefined): string {
  const own = custom?.(v);
  if (own !== undefined) return own;
  if (v === null || typeof v !== 'object') {
    const text = typeof v === 'string' ? JSON.stringify(v.length > 60 ? `${v.slice(0, 60)}…` : v) : String(v);
    return text;
  }
  if (depth >= 3) return Array.isArray(v) ? '[…]' : '{…}';
  if (Array.isArray(v)) {
    const items = v.slice(0, 6).map((x) => describeJson(x, depth + 1, custom));
    return `[${items.join(',')}${v.length > 6 ? ',…' : ''}]`;
  }
  const keys = Object.keys(v).slice(0, 6);
  return `{${keys.map((k) => `${JSON.stringify(k)}:${describeJson((v as Record<string, unknown>)[k], depth + 1, custom)}`).join(',')}${Object.keys(v).length > 6 ? ',…' : ''}}`;
}
