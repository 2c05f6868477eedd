// Mutators shared by the fuzz tests: bytes (AFL-style flips, interesting values, splices,
// truncation), text (JSON/CSV punctuation, line breaks, broken UTF-16), and JSON values (a random
// node of a parsed document replaced, deleted, retyped or nudged). Valid inputs mutated a little
// reach much deeper into a parser than random bytes, which die at the first check.

import { KNOWN_BUGS } from './knownBugs';
import type { Rng } from './harness';

/** Numbers that sit on boundaries parsers get wrong. */
export const INTERESTING_NUMBERS: readonly number[] = [
  0, -0, 1, -1, 2, 3, 7, 8, 16, 31, 32, 63, 64, 127, 128, 255, 256, 1023, 1024, 4095, 4096, 65535, 65536,
  0x7fffffff, 0x80000000, 0xffffffff, 2 ** 32, 2 ** 40, 2 ** 52, 2 ** 53 - 1, 2 ** 53, 2 ** 53 + 2, 2 ** 63, 2 ** 64,
  1e21, 1e308, Number.MAX_VALUE, Number.MIN_VALUE, -(2 ** 31), -(2 ** 53), 0.5, 1.5, -0.5, 1e-6, 1e-300, 3.14159,
];

/** Numbers JSON text cannot hold but an already-parsed object can. */
export const NON_JSON_NUMBERS: readonly number[] = [NaN, Infinity, -Infinity];

/** Strings that trip lookups, encoders and error messages. */
export const INTERESTING_STRINGS: readonly string[] = [
  '', ' ', 'a', '0', '-1', '1e3', 'null', 'true', '__proto__', 'constructor', 'toString', 'hasOwnProperty',
  'prototype', 'valueOf', '__metadata__', 'F32', 'F16', 'BF16', 'I32', 'I64', 'U8', 'F64', 'BOOL', 'F8_E4M3', 'Q4_0',
  'f32', 'float32', 'llama', 'gpt2', 'qwen2', 'mistral', 'LlamaForCausalLM', 'GPT2LMHeadModel', 'Qwen2ForCausalLM',
  'MistralForCausalLM', 'BertModel', 'silu', 'gelu_new', 'text', 'messages', 'role', 'content', 'user', 'assistant',
  'system', 'instruction', 'output', 'input', 'conversations', 'from', 'value', 'human', 'gpt',
  '\u0000', '\n', '\r\n', '"', '\\', ',', '[', '{', '\u00e9', '\u{1F600}', '\uFFFD', '\uFEFF', '\uD800', '\uDC00', 'a\uD800b',
  '<s>', '</s>', '<unk>', '<|im_start|>', '\u2581', 'x'.repeat(300),
];

let nestingBugOpen = false;

/**
 * For a test file whose target still has a deep-nesting bug (see knownBugs.ts): every random value
 * may land where the bug is (in a safetensors "shape", say), so all generated nesting is capped.
 */
export function capNesting(bugOpen: boolean): void {
  nestingBugOpen = bugOpen;
}

/** Deepest nesting to generate: 48 while a deep-nesting bug is open (see knownBugs.ts), else up to 100,000. */
export function maxNesting(rng: Rng, bugOpen: boolean = KNOWN_BUGS.deepNestingStackOverflow || nestingBugOpen): number {
  return bugOpen ? 48 : rng.pick([48, 2000, 20_000, 100_000]);
}

/** `depth` nested arrays around `inner` (built without recursion, so any depth works). */
export function nestedArray(depth: number, inner: unknown = 0): unknown {
  let v: unknown = inner;
  for (let i = 0; i < depth; i++) v = [v];
  return v;
}

/**
 * JSON.stringify for plain data, without recursion, so that documents nested 100,000 deep can be
 * written (JSON.stringify overflows the stack at a few thousand). Same output for plain data:
 * non-finite numbers become null, undefined/functions/symbols are dropped from objects and
 * become null in arrays, bigints are written as numbers.
 */
export function jsonText(value: unknown): string {
  const out: string[] = [];
  // a stack of pending work: a value to write, or a literal piece of text
  const stack: ({ v: unknown } | string)[] = [{ v: value }];
  const scalar = (v: unknown): string | undefined => {
    if (v === null) return 'null';
    if (typeof v === 'number') return Number.isFinite(v) ? JSON.stringify(v) : 'null';
    if (typeof v === 'bigint') return v.toString();
    if (typeof v === 'string' || typeof v === 'boolean') return JSON.stringify(v);
    return undefined;
  };
  while (stack.length > 0) {
    const item = stack.pop()!;
    if (typeof item === 'string') {
      out.push(item);
      continue;
    }
    const v = item.v;
    const s = scalar(v);
    if (s !== undefined) out.push(s);
    else if (Array.isArray(v)) {
      const parts: ({ v: unknown } | string)[] = ['['];
      v.forEach((x, i) => {
        if (i > 0) parts.push(',');
        parts.push(scalar(x) === undefined && (x === undefined || typeof x === 'function' || typeof x === 'symbol') ? 'null' : { v: x });
      });
      parts.push(']');
      for (let i = parts.length - 1; i >= 0; i--) stack.push(parts[i]);
    } else if (typeof v === 'object' && v !== null) {
      const parts: ({ v: unknown } | string)[] = ['{'];
      for (const [k, x] of Object.entries(v)) {
        if (x === undefined || typeof x === 'function' || typeof x === 'symbol') continue;
        if (parts.length > 1) parts.push(',');
        parts.push(`${JSON.stringify(k)}:`, { v: x });
      }
      parts.push('}');
      for (let i = parts.length - 1; i >= 0; i--) stack.push(parts[i]);
    } else {
      out.push('null');
    }
  }
  return out.join('');
}

export function randomNumber(rng: Rng, nonJson = false): number {
  const r = rng.float();
  if (r < 0.55) return rng.pick(INTERESTING_NUMBERS);
  if (r < 0.7) return rng.int(0, 100);
  if (r < 0.8) return (rng.float() - 0.5) * 2 ** rng.int(0, 70);
  if (r < 0.9 && nonJson) return rng.pick(NON_JSON_NUMBERS);
  return rng.int(-5, 5) * 2 ** rng.int(0, 60);
}

export function randomString(rng: Rng): string {
  const r = rng.float();
  if (r < 0.6) return rng.pick(INTERESTING_STRINGS);
  const n = rng.size(40);
  let s = '';
  for (let i = 0; i < n; i++) {
    const k = rng.float();
    s += k < 0.7 ? String.fromCharCode(rng.int(32, 126)) : k < 0.9 ? String.fromCodePoint(rng.int(0, 0x10ffff)) : String.fromCharCode(rng.int(0xd800, 0xdfff));
  }
  return s;
}

/** A random JSON-like value. `nonJson` adds NaN, ±Infinity and undefined (for parsed-object APIs). */
export function randomJson(rng: Rng, depth = 3, nonJson = false): unknown {
  const r = rng.float();
  if (r < 0.1) return null;
  if (r < 0.18) return rng.chance(0.5);
  if (r < 0.45) return randomNumber(rng, nonJson);
  if (r < 0.65) return randomString(rng);
  if (nonJson && r < 0.68) return undefined;
  if (r < 0.71) return nestedArray(rng.chance(0.2) ? maxNesting(rng) : rng.int(1, 48), rng.chance(0.5) ? 0 : {});
  if (depth <= 0) return rng.pick([0, '', null]);
  if (r < 0.85) return Array.from({ length: rng.size(6) }, () => randomJson(rng, depth - 1, nonJson));
  const o: Record<string, unknown> = {};
  const n = rng.size(6);
  for (let i = 0; i < n; i++) o[randomString(rng)] = randomJson(rng, depth - 1, nonJson);
  return o;
}

type Container = Record<string, unknown> | unknown[];

function isContainer(v: unknown): v is Container {
  return typeof v === 'object' && v !== null && !ArrayBuffer.isView(v);
}

function shallowCopy(v: Container): Container {
  return Array.isArray(v) ? [...v] : { ...v };
}

/**
 * Picks a node by walking down from the root (stopping early with probability `stop` at each
 * level, so nodes near the top, where the structure is, are chosen more often than leaves of a
 * 10,000-entry vocabulary) and returns a copy of `root` in which `edit` replaced that node. Only
 * the path to the node is copied. `edit` gets the key and parent so it may delete or add keys.
 */
export function editRandomNode(
  rng: Rng,
  root: unknown,
  edit: (value: unknown, key: string | number | null, parent: Container | null) => unknown,
  stop = 0.3,
): unknown {
  const DELETE = deleteMarker;
  const walk = (v: unknown, key: string | number | null, parent: Container | null): unknown => {
    if (!isContainer(v) || rng.chance(stop)) return edit(v, key, parent);
    const keys = Array.isArray(v) ? v.map((_, i) => i) : Object.keys(v);
    if (keys.length === 0) return edit(v, key, parent);
    const k = rng.pick(keys as (string | number)[]);
    const copy = shallowCopy(v);
    const child = walk((v as Record<string | number, unknown>)[k], k, copy);
    if (child === DELETE) {
      if (Array.isArray(copy)) copy.splice(k as number, 1);
      else delete (copy as Record<string, unknown>)[k as string];
    } else {
      // defineProperty: a key "__proto__" must stay an own data property, as JSON.parse makes it
      Object.defineProperty(copy, k, { value: child, writable: true, enumerable: true, configurable: true });
    }
    return copy;
  };
  return walk(root, null, null);
}

/** Returned by an `edit` callback to delete the node from its parent. */
export const deleteMarker: unique symbol = Symbol('delete');

/** One structural mutation of a JSON document: the common ways real files go wrong. */
export function mutateJson(rng: Rng, root: unknown, nonJson = false, extraKeys: readonly string[] = []): unknown {
  return editRandomNode(rng, root, (v, key) => {
    const r = rng.float();
    if (r < 0.15 && key !== null) return deleteMarker;
    if (r < 0.45) return randomJson(rng, 2, nonJson);
    if (r < 0.6 && typeof v === 'number') {
      const ops = [v + 1, v - 1, -v, v * 2, v / 2, v + 0.5, v * 2 ** 32, 0, Math.floor(v / 3)];
      return rng.pick(ops);
    }
    if (r < 0.7 && typeof v === 'string') {
      return rng.pick([v + v, v.slice(1), v.toUpperCase(), `${v}\u0000`, ` ${v}`, v.slice(0, v.length >> 1)]);
    }
    if (r < 0.8 && isContainer(v)) {
      const copy = shallowCopy(v);
      if (Array.isArray(copy)) {
        if (rng.chance(0.5)) copy.push(randomJson(rng, 1, nonJson));
        else copy.reverse();
      } else {
        const k = rng.chance(0.5) && extraKeys.length > 0 ? rng.pick(extraKeys) : randomString(rng);
        Object.defineProperty(copy, k, { value: randomJson(rng, 1, nonJson), writable: true, enumerable: true, configurable: true });
      }
      return copy;
    }
    if (r < 0.9) return rng.chance(0.5) ? [v] : { value: v };
    return randomJson(rng, 0, nonJson);
  });
}

/** Applies 1..max mutations. */
export function mutateJsonMany(rng: Rng, root: unknown, max: number, nonJson = false, extraKeys: readonly string[] = []): unknown {
  let v = root;
  const n = rng.int(1, max);
  for (let i = 0; i < n; i++) v = mutateJson(rng, v, nonJson, extraKeys);
  return v;
}

const TEXT_TOKENS = ['"', '\\', ',', ':', '[', ']', '{', '}', '\n', '\r', '\r\n', ' ', '\t', '0', '-', 'e', '.', 'null', 'true', '\uFFFD', '\uD800', '\u0000', ';', '|', '""'];

/** One text-level mutation (insert a token, delete or duplicate a span, swap, truncate). */
export function mutateText(rng: Rng, s: string): string {
  const at = rng.below(s.length + 1);
  switch (rng.below(6)) {
    case 0:
      return s.slice(0, at) + rng.pick(TEXT_TOKENS) + s.slice(at);
    case 1: {
      const len = rng.size(Math.max(2, s.length - at));
      return s.slice(0, at) + s.slice(at + len);
    }
    case 2: {
      const len = rng.size(Math.max(2, Math.min(64, s.length - at)));
      return s.slice(0, at) + s.slice(at, at + len).repeat(rng.int(2, 4)) + s.slice(at + len);
    }
    case 3:
      return s.slice(0, at);
    case 4: {
      if (s.length < 2) return s + rng.pick(TEXT_TOKENS);
      const i = rng.below(s.length - 1);
      return s.slice(0, i) + s[i + 1] + s[i] + s.slice(i + 2);
    }
    default:
      return s.slice(0, at) + randomString(rng) + s.slice(at);
  }
}

export function mutateTextMany(rng: Rng, s: string, max: number): string {
  const n = rng.int(1, max);
  for (let i = 0; i < n; i++) s = mutateText(rng, s);
  return s;
}

const INTERESTING_BYTES = [0x00, 0x01, 0x7f, 0x80, 0xff, 0x20, 0x22, 0x2c, 0x5b, 0x5d, 0x7b, 0x7d, 0x0a, 0xc0, 0xed, 0xf0];
const INTERESTING_U64 = INTERESTING_NUMBERS.filter((x) => Number.isFinite(x) && Math.abs(x) < 2 ** 64).map((x) => BigInt.asUintN(64, BigInt(Math.trunc(x))));

/** One byte-level mutation; may change the length. */
export function mutateBytes(rng: Rng, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(b);
  const n = out.length;
  const at = rng.below(Math.max(1, n));
  switch (rng.below(8)) {
    case 0:
      if (n > 0) out[at] ^= 1 << rng.below(8);
      return out;
    case 1:
      if (n > 0) out[at] = rng.pick(INTERESTING_BYTES);
      return out;
    case 2:
      if (n > 0) out[at] = rng.u32() & 0xff;
      return out;
    case 3: {
      // an interesting little-endian u32/u64 over whatever was there (lengths, counts, offsets)
      const width = rng.chance(0.5) ? 4 : 8;
      if (n < width) return out;
      const pos = rng.below(n - width + 1);
      const dv = new DataView(out.buffer);
      const v = rng.pick(INTERESTING_U64);
      if (width === 4) dv.setUint32(pos, Number(v & 0xffffffffn), true);
      else dv.setBigUint64(pos, v, true);
      return out;
    }
    case 4:
      return out.slice(0, rng.below(n + 1));
    case 5: {
      const extra = rng.bytes(rng.size(64));
      const r = new Uint8Array(n + extra.length);
      r.set(out.subarray(0, at));
      r.set(extra, at);
      r.set(out.subarray(at), at + extra.length);
      return r;
    }
    case 6: {
      const len = rng.size(Math.max(2, n - at));
      const r = new Uint8Array(n - Math.min(len, n - at));
      r.set(out.subarray(0, at));
      r.set(out.subarray(at + len), at);
      return r;
    }
    default: {
      // duplicate a span (repeated structures, doubled records)
      const len = rng.size(Math.max(2, Math.min(256, n - at)));
      const span = out.slice(at, at + len);
      const r = new Uint8Array(n + span.length);
      r.set(out.subarray(0, at + span.length));
      r.set(span, at + span.length);
      r.set(out.subarray(at + span.length), at + 2 * span.length);
      return r;
    }
  }
}

export function mutateBytesMany(rng: Rng, b: Uint8Array, max: number): Uint8Array {
  const n = rng.int(1, max);
  let out = b;
  for (let i = 0; i < n; i++) out = mutateBytes(rng, out);
  return out;
}

/** `s` with each lone surrogate replaced by U+FFFD, as TextEncoder writes it. */
export function wellFormed(s: string): string {
  return s.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD');
}
