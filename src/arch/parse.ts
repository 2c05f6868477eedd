// Helpers the architecture modules parse config.json with: every refusal is an HfConfigError that
// names the file, the key and what to do.
import { describeJson } from '../io/describeJson';
import { HfConfigError, type Json } from './types';

export function fail(file: string, problem: string, fix: string): never {
  throw new HfConfigError(`${file}: ${problem}. ${fix}`);
}

export const CHECK = 'Check config.json; it must come from the same checkpoint as the weights.';

export function posInt(c: Json, file: string, key: string, fallback?: number): number {
  const v = c[key] ?? fallback;
  if (v === undefined) fail(file, `"${key}" is missing`, CHECK);
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) {
    fail(file, `"${key}" must be a positive integer, got ${describeJson(v)}`, CHECK);
  }
  return v;
}

export function posNumber(c: Json, file: string, key: string, fallback: number): number {
  const v = c[key] ?? fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
    fail(file, `"${key}" must be a positive number, got ${describeJson(v)}`, CHECK);
  }
  return v;
}

export function bool(c: Json, file: string, key: string, fallback: boolean): boolean {
  const v = c[key] ?? fallback;
  if (typeof v !== 'boolean') fail(file, `"${key}" must be true or false, got ${describeJson(v)}`, CHECK);
  return v;
}

export function tokenId(c: Json, file: string, key: string, fallback: number | null): number | null {
  const v = c[key] === undefined ? fallback : c[key];
  if (v === null) return null;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    fail(file, `"${key}" must be a token id (a non-negative integer), got ${describeJson(v)}`, CHECK);
  }
  return v;
}

export function tokenIds(c: Json, file: string, key: string, fallback: number | null): number[] {
  const v = c[key] === undefined ? fallback : c[key];
  if (v === null) return [];
  const list = Array.isArray(v) ? v : [v];
  for (const id of list) {
    if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0) {
      fail(file, `"${key}" must be a token id or a list of them, got ${describeJson(v)}`, CHECK);
    }
  }
  return list as number[];
}

export function hiddenAct(c: Json, file: string, key: string, fallback: string): string {
  const v = c[key] ?? fallback;
  if (typeof v !== 'string' || v.length === 0) fail(file, `"${key}" must be an activation name, got ${describeJson(v)}`, CHECK);
  return v;
}

export function dtypeOf(c: Json): string | null {
  const d = c.torch_dtype ?? c.dtype;
  return typeof d === 'string' ? d : null;
}
