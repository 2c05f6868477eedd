// Fuzzes readDatasetFile (src/data) with generated .jsonl/.json/.csv/.txt files in every layout
// (alpaca, question/answer, prompt/completion, input/output, text, OpenAI chat, ShareGPT), some
// rows bad on purpose, then mutated: text edits (quotes, delimiters, brackets, line breaks),
// byte edits (invalid UTF-8, stray BOMs), rows swapped for random JSON or 100,000 '[' deep
// nesting, garbage, wrong extensions, and random reader options.
// Contract: DatasetError, or a RawDataset whose rows are accounted for (valid + bad = rows) with
// well-formed examples. Beyond that, four properties must hold:
//   - the same bytes split into different stream chunks read the same;
//   - onBadRow 'stop' throws exactly the first bad row that 'collect' lists;
//   - keepRows: false streams the same examples through onExample;
//   - blank lines before the content shift every line number and change nothing else.
// One more test reads a 100 MB single-line file (made of repeated Blob parts) within the budgets.

import { expect, it } from 'vitest';
import { readDatasetFile, type ReadOptions } from '../data/read';
import { DatasetError, type ColumnMapping, type Example, type RawDataset } from '../data/types';
import { fuzz, FUZZ_TIMEOUT_MS, type Rng, summary } from './harness';
import { KNOWN_BUGS } from './knownBugs';
import { jsonText, mutateBytesMany, mutateTextMany, randomJson, randomString } from './mutate';

const enc = new TextEncoder();

// ---- generating valid files ----

const WORDS = ['Once', 'upon', 'a', 'time', 'Bob', 'the', 'robot', 'loved', 'moon', 'What', 'is', '2+2?', '4.', 'Hello', 'world'];

function cellText(rng: Rng): string {
  const r = rng.float();
  if (r < 0.7) return Array.from({ length: rng.int(1, 6) }, () => rng.pick(WORDS)).join(' ');
  if (r < 0.8) return rng.pick(['a, b', 'say "hi"', 'line1\nline2', 'tab\there', 'semi;colon|pipe', '\u00e9\u{1F600}\u4e2d', "it's", '[1, 2]', '{"role": "user"}']);
  if (r < 0.9) return randomString(rng);
  return rng.pick(['', ' ', '\n']); // blank: a bad row for required fields
}

type Layout = 'alpaca' | 'qa' | 'pc' | 'io' | 'text' | 'openai' | 'sharegpt';
const LAYOUTS: Layout[] = ['alpaca', 'qa', 'pc', 'io', 'text', 'openai', 'sharegpt'];

function chatMessages(rng: Rng, roleKey: string, contentKey: string, roles: string[]): Record<string, unknown>[] {
  const msgs: Record<string, unknown>[] = [];
  if (rng.chance(0.3)) msgs.push({ [roleKey]: roles[0], [contentKey]: cellText(rng) });
  for (let t = rng.int(1, 2); t > 0; t--) {
    msgs.push({ [roleKey]: roles[1], [contentKey]: cellText(rng) }, { [roleKey]: roles[2], [contentKey]: cellText(rng) });
  }
  if (rng.chance(0.05)) msgs.push({ [roleKey]: rng.pick(['tool', 'bot', 'USER', 5]), [contentKey]: 'x' });
  if (rng.chance(0.05)) msgs.pop();
  return msgs;
}

function row(rng: Rng, layout: Layout): Record<string, unknown> {
  let r: Record<string, unknown>;
  switch (layout) {
    case 'alpaca':
      r = { instruction: cellText(rng), input: rng.chance(0.5) ? cellText(rng) : '', output: cellText(rng) };
      if (rng.chance(0.1)) r.system = cellText(rng);
      break;
    case 'qa':
      r = { question: cellText(rng), answer: cellText(rng) };
      break;
    case 'pc':
      r = { prompt: cellText(rng), completion: cellText(rng) };
      break;
    case 'io':
      r = { input: cellText(rng), output: cellText(rng) };
      break;
    case 'text':
      r = { text: cellText(rng) };
      break;
    case 'openai':
      r = { messages: chatMessages(rng, 'role', 'content', ['system', 'user', 'assistant']) };
      break;
    default:
      r = { conversations: chatMessages(rng, 'from', 'value', ['system', 'human', 'gpt']) };
  }
  // the usual ways a row goes bad: a field missing, null, or of the wrong type
  if (rng.chance(0.08)) {
    const k = rng.pick(Object.keys(r));
    if (rng.chance(0.5)) delete r[k];
    else r[k] = rng.pick<unknown>([null, 5, true, [], {}, ['x']]);
  }
  return r;
}

function csvField(rng: Rng, v: unknown, delim: string): string {
  const s = typeof v === 'string' ? v : JSON.stringify(v) ?? '';
  const needs = s.includes(delim) || s.includes('"') || s.includes('\n') || s.includes('\r');
  return needs || rng.chance(0.2) ? `"${s.replaceAll('"', '""')}"` : s;
}

type Kind = 'jsonl' | 'json' | 'csv' | 'txt';

function validFile(rng: Rng): { kind: Kind; text: string } {
  const kind = rng.pick<Kind>(['jsonl', 'jsonl', 'json', 'csv', 'csv', 'txt']);
  const n = rng.int(1, 8);
  const nl = rng.chance(0.2) ? '\r\n' : '\n';
  if (kind === 'txt') {
    const lines = Array.from({ length: n }, () => (rng.chance(0.2) ? '' : cellText(rng).replaceAll('\n', ' ')));
    return { kind, text: lines.join(nl) + (rng.chance(0.7) ? nl : '') };
  }
  const layout = rng.pick(LAYOUTS);
  const rows = Array.from({ length: n }, () => row(rng, layout));
  if (kind === 'jsonl') {
    const lines = rows.map((r) => JSON.stringify(r));
    if (rng.chance(0.2)) lines.splice(rng.int(0, lines.length), 0, rng.pick(['', '   ', '\t']));
    return { kind, text: lines.join(nl) + (rng.chance(0.7) ? nl : '') };
  }
  if (kind === 'json') {
    const indent = rng.pick([0, 2]);
    return { kind, text: `[${nl}${rows.map((r) => JSON.stringify(r, null, indent).replaceAll('\n', nl)).join(`,${nl}`)}${nl}]${rng.chance(0.5) ? nl : ''}` };
  }
  const delim = rng.pick([',', ',', ';', '\t', '|']);
  const cols = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const lines = [cols.map((c) => csvField(rng, c, delim)).join(delim)];
  for (const r of rows) lines.push(cols.map((c) => csvField(rng, r[c] ?? '', delim)).join(delim));
  return { kind, text: lines.join(nl) + (rng.chance(0.7) ? nl : '') };
}

// ---- mutating ----

function mutate(rng: Rng, text: string): Uint8Array {
  const r = rng.float();
  if (r < 0.35) return enc.encode(text);
  if (r < 0.6) return enc.encode(mutateTextMany(rng, text, 4));
  if (r < 0.78) return mutateBytesMany(rng, enc.encode(text), 4);
  const lines = text.split('\n');
  const at = rng.below(lines.length + 1);
  if (r < 0.9) {
    lines.splice(at, rng.chance(0.5) ? 1 : 0, jsonText(randomJson(rng, 2)));
  } else if (r < 0.93) {
    // 100,000-deep nesting, balanced or not (JSON.parse handles any depth; recursion would not)
    const depth = rng.pick([1000, 1000, 100_000]);
    const open = rng.pick(['[', '{"a":']);
    lines.splice(at, 0, open.repeat(depth) + (rng.chance(0.5) ? '0' + (open === '[' ? ']' : '}').repeat(depth) : ''));
  } else if (r < 0.96) {
    // a CSV header with many columns
    const cols = KNOWN_BUGS.csvHeaderQuadratic ? rng.int(50, 2000) : rng.pick([2000, 100_000]);
    lines.splice(0, 0, Array.from({ length: cols }, (_, i) => `c${i}`).join(','));
  } else {
    return rng.bytes(rng.size(300));
  }
  return enc.encode(lines.join('\n'));
}

const EXTENSIONS: Record<Kind, string[]> = { jsonl: ['jsonl', 'ndjson', 'JSONL'], json: ['json'], csv: ['csv', 'tsv'], txt: ['txt', 'md', 'text'] };

function fileName(rng: Rng, kind: Kind): string {
  if (rng.chance(0.9)) return `data.${rng.pick(EXTENSIONS[kind])}`;
  return rng.pick(['data', 'data.dat', 'data.', '.jsonl', 'data.csv.json', `data.${rng.pick(Object.values(EXTENSIONS).flat())}`]);
}

function randomMapping(rng: Rng): ColumnMapping {
  const key = () => rng.pick(['text', 'instruction', 'output', 'input', 'question', 'answer', 'messages', 'conversations', 'prompt', 'nope', 'constructor', '__proto__', 'toString', '']);
  const kind = rng.pick(['text', 'instruction', 'chat'] as const);
  if (kind === 'text') return { kind, text: key() };
  if (kind === 'instruction') return { kind, instruction: key(), output: key(), input: rng.chance(0.5) ? key() : undefined, system: rng.chance(0.2) ? key() : undefined };
  return {
    kind, messages: key(), role: rng.pick(['role', 'from', 'constructor']), content: rng.pick(['content', 'value', 'toString']),
    roles: rng.chance(0.5) ? { user: 'user', assistant: 'assistant', system: 'system' } : { human: 'user', gpt: 'assistant' },
  };
}

interface Input {
  name: string;
  bytes: Uint8Array;
  /** Byte offsets where the stream is cut into chunks. */
  cuts: number[];
  options: { onBadRow?: 'stop'; detectRows?: number; mapping?: ColumnMapping; kind?: Kind };
  /** Which of the extra properties this case checks (they cost a read each). */
  extra: { chunks: boolean; stop: boolean; stream: boolean; shift: number };
}

/** Where the first chunk must end while the first-chunk bugs are open: past the first line that has content. */
function firstChunkEnd(bytes: Uint8Array): number {
  let i = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf ? 3 : 0; // the decoder drops a leading BOM
  while (i < bytes.length && (bytes[i] === 0x20 || bytes[i] === 0x09 || bytes[i] === 0x0a || bytes[i] === 0x0d)) i++;
  const nl = bytes.indexOf(0x0a, i);
  return nl < 0 ? bytes.length : nl + 1;
}

function randomCuts(rng: Rng, bytes: Uint8Array): number[] {
  const min = KNOWN_BUGS.datasetFirstChunk ? firstChunkEnd(bytes) : 1;
  const cuts = new Set<number>();
  for (let n = rng.int(0, 6); n > 0; n--) {
    if (bytes.length > min) cuts.add(rng.int(min, bytes.length - 1));
  }
  if (!KNOWN_BUGS.datasetFirstChunk && rng.chance(0.3) && bytes.length > 2) cuts.add(rng.int(1, Math.min(bytes.length - 1, 8)));
  return [...cuts].sort((a, b) => a - b);
}

function generate(rng: Rng): Input {
  const { kind, text } = validFile(rng);
  let bytes = mutate(rng, text);
  if (rng.chance(0.05)) bytes = new Uint8Array([0xef, 0xbb, 0xbf, ...bytes]); // a UTF-8 BOM
  const options: Input['options'] = {};
  if (rng.chance(0.3)) options.onBadRow = 'stop';
  if (rng.chance(0.2)) options.detectRows = rng.int(1, 4);
  if (rng.chance(0.1)) options.mapping = randomMapping(rng);
  if (rng.chance(0.05)) options.kind = rng.pick<Kind>(['jsonl', 'json', 'csv', 'txt']);
  const startsWithBom = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf;
  const name = fileName(rng, kind);
  const ext = name.toLowerCase().split('.').pop();
  const readAsCsv = options.kind === 'csv' || (options.kind === undefined && (ext === 'csv' || ext === 'tsv'));
  return {
    name,
    bytes,
    cuts: randomCuts(rng, bytes),
    options,
    extra: {
      chunks: rng.chance(0.6),
      stop: options.onBadRow !== 'stop' && rng.chance(0.4),
      stream: rng.chance(0.25),
      // a leading BOM would stop being leading; a leading blank line changes the CSV delimiter guess (see knownBugs.ts)
      shift: !startsWithBom && !(KNOWN_BUGS.csvDelimiterFromBlankLine && readAsCsv) && rng.chance(0.25) ? rng.int(1, 3) : 0,
    },
  };
}

// ---- reading and checking ----

/**
 * True when the reader's first decoded chunk of these bytes (one Blob part) is blank though the
 * file is not: the decoder holds back a final incomplete UTF-8 sequence until the stream ends.
 */
function firstChunkBlank(bytes: Uint8Array): boolean {
  return new TextDecoder().decode(bytes, { stream: true }).trim() === '' && new TextDecoder().decode(bytes).trim() !== '';
}

function fileOf(bytes: Uint8Array, cuts: readonly number[], name: string): File {
  const parts: Uint8Array<ArrayBuffer>[] = [];
  let at = 0;
  for (const c of [...cuts, bytes.length]) {
    parts.push(bytes.slice(at, c));
    at = c;
  }
  return new File(parts, name);
}

type Outcome = { ok: RawDataset; streamed: Example[] } | { error: DatasetError };

async function read(bytes: Uint8Array, cuts: readonly number[], input: Input, over: ReadOptions = {}): Promise<Outcome> {
  const streamed: Example[] = [];
  try {
    const ok = await readDatasetFile(fileOf(bytes, cuts, input.name), { ...input.options, onExample: (x) => streamed.push(x), ...over });
    return { ok, streamed };
  } catch (e) {
    if (e instanceof DatasetError) return { error: e };
    throw e;
  }
}

function errorKey(e: DatasetError): string {
  return `${e.code}: ${e.message} ${JSON.stringify(e.badRow ?? null)}`;
}

function checkExample(x: Example): void {
  const nonBlank = (s: unknown) => typeof s === 'string' && s.trim().length > 0;
  if (x.kind === 'text') expect(typeof x.text === 'string' && x.text.length > 0).toBe(true);
  else if (x.kind === 'instruction') {
    expect(nonBlank(x.instruction) && nonBlank(x.output)).toBe(true);
    if (x.input !== undefined) expect(nonBlank(x.input)).toBe(true);
    if (x.system !== undefined) expect(nonBlank(x.system)).toBe(true);
  } else {
    expect(x.messages.length).toBeGreaterThan(0);
    for (const m of x.messages) {
      expect(['system', 'user', 'assistant']).toContain(m.role);
      expect(nonBlank(m.content)).toBe(true);
    }
    expect(x.messages.some((m) => m.role === 'assistant')).toBe(true);
  }
}

/**
 * The text a .txt file holds, as the reader must return it: the encoding its byte-order mark names
 * (none: UTF-8), the mark dropped, CRLF as LF, every line ended; lines whose bytes are not text in
 * that encoding are left out and are the bad rows.
 */
function expectedText(bytes: Uint8Array): { text: string; lines: number; badLines: number[] } {
  const le = bytes[0] === 0xff && bytes[1] === 0xfe;
  const be = bytes[0] === 0xfe && bytes[1] === 0xff;
  const utf8Bom = bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf;
  const encoding = le ? 'utf-16le' : be ? 'utf-16be' : 'utf-8';
  const body = bytes.subarray(le || be ? 2 : utf8Bom ? 3 : 0);
  const unit = encoding === 'utf-8' ? 1 : 2;
  const pieces: Uint8Array[] = [];
  let start = 0;
  for (let i = 0; i + unit <= body.length; i += unit) {
    const nl = unit === 1 ? body[i] === 10 : le ? body[i] === 10 && body[i + 1] === 0 : body[i] === 0 && body[i + 1] === 10;
    if (nl) {
      pieces.push(body.subarray(start, i));
      start = i + unit;
    }
  }
  if (start < body.length) pieces.push(body.subarray(start));
  const dec = new TextDecoder(encoding, { fatal: true, ignoreBOM: true });
  let text = '';
  const badLines: number[] = [];
  pieces.forEach((p, i) => {
    let l: string;
    try {
      l = dec.decode(p);
    } catch {
      badLines.push(i + 1);
      return;
    }
    text += (l.endsWith('\r') ? l.slice(0, -1) : l) + '\n';
  });
  return { text, lines: pieces.length, badLines };
}

function checkDataset(d: RawDataset, input: Input): void {
  expect(d.fileName).toBe(input.name);
  expect(d.bytes).toBe(input.bytes.length);
  for (const x of d.examples) {
    checkExample(x);
    expect(x.kind).toBe(d.format.kind);
  }
  if (d.format.name === 'text-file') {
    const want = expectedText(input.bytes);
    expect(d.examples.map((x) => (x as { text: string }).text).join('')).toBe(want.text);
    expect(d.rowCount).toBe(want.lines);
    expect(d.badRows.map((b) => b.line)).toEqual(want.badLines);
    return;
  }
  expect(d.rowCount).toBe(d.examples.length + d.badRows.length);
  const lines = [...d.examples.map((x) => x.line), ...d.badRows.map((b) => b.line)];
  expect(lines.every((l) => Number.isSafeInteger(l) && l >= 1)).toBe(true);
  for (const b of d.badRows) expect(typeof b.reason === 'string' && b.reason.length > 0).toBe(true);
  expect(d.format.confidence >= 0 && d.format.confidence <= 1).toBe(true);
  // rows come in file order
  const inOrder = (xs: number[]) => xs.every((l, i) => i === 0 || l >= xs[i - 1]);
  expect(inOrder(d.examples.map((x) => x.line))).toBe(true);
  expect(inOrder(d.badRows.map((x) => x.line))).toBe(true);
}

function shiftLines(d: RawDataset, k: number): RawDataset {
  return {
    ...d,
    examples: d.examples.map((x) => ({ ...x, line: x.line + k })),
    badRows: d.badRows.map((b) => ({ ...b, line: b.line + k })),
    bytes: d.bytes + k,
  };
}

async function run(input: Input): Promise<{ ok: RawDataset; streamed: Example[] }> {
  const out = await read(input.bytes, [], input);
  if ('error' in out) throw out.error;
  return out;
}

async function check(out: Outcome, input: Input): Promise<void> {
  if ('ok' in out) {
    checkDataset(out.ok, input);
    expect(out.streamed).toEqual(out.ok.examples);
  }
  const same = (a: Outcome, b: Outcome, what: string) => {
    if ('error' in a || 'error' in b) expect('error' in a ? errorKey(a.error) : 'ok', what).toBe('error' in b ? errorKey(b.error) : 'ok');
    else expect(a.ok, what).toEqual(b.ok);
  };
  if (input.extra.chunks && input.cuts.length > 0) same(await read(input.bytes, input.cuts, input), out, `read in chunks cut at ${input.cuts}`);
  if (input.extra.stream) {
    const s = await read(input.bytes, input.cuts, input, { keepRows: false });
    if ('ok' in s && 'ok' in out) {
      expect(s.ok.examples).toEqual([]);
      expect(s.streamed).toEqual(out.ok.examples);
      expect({ ...s.ok, examples: [] }).toEqual({ ...out.ok, examples: [] });
    } else same(s, out, 'keepRows: false');
  }
  if (input.extra.stop) {
    const s = await read(input.bytes, [], input, { onBadRow: 'stop' });
    if ('ok' in out && out.ok.badRows.length > 0) {
      expect('error' in s && s.error.code).toBe('bad-row');
      expect('error' in s && s.error.badRow).toEqual(out.ok.badRows[0]);
    } else if ('ok' in out) {
      same(s, out, "onBadRow: 'stop' on a file with no bad rows");
    } else {
      // collect failed: stop fails too, the same way or at the first (unreadable) row
      expect('error' in s).toBe(true);
      if ('error' in s && s.error.code !== out.error.code) expect([s.error.code, out.error.code]).toEqual(['bad-row', 'format']);
    }
  }
  const shifted = new Uint8Array([...new Uint8Array(input.extra.shift).fill(0x0a), ...input.bytes]);
  if (input.extra.shift > 0 && !(KNOWN_BUGS.datasetFirstChunk && firstChunkBlank(shifted))) {
    const k = input.extra.shift;
    const s = await read(shifted, [], { ...input, bytes: shifted });
    const isText = 'ok' in out ? out.ok.format.name === 'text-file' : 'ok' in s && s.ok.format.name === 'text-file';
    if (isText) return; // blank lines are part of a .txt document's text
    if ('ok' in out && 'ok' in s) expect(s.ok).toEqual(shiftLines(out.ok, k));
    else if ('error' in out && 'error' in s) {
      expect(s.error.code).toBe(out.error.code);
      expect(s.error.badRow?.line).toBe(out.error.badRow === undefined ? undefined : out.error.badRow.line + k);
    } else {
      expect('ok' in s ? 'ok' : errorKey(s.error), `after ${k} blank lines`).toBe('ok' in out ? 'ok' : errorKey(out.error));
    }
  }
}

it('readDatasetFile: mutated dataset files end in DatasetError or rows that are all accounted for', async () => {
  const stats = await fuzz<Input, { ok: RawDataset; streamed: Example[] }>({
    name: 'readDatasetFile',
    seed: 0xda7a,
    cases: 10_000,
    generate,
    run,
    typedError: (e) => e instanceof DatasetError,
    check,
    // the properties hold for failures too (same error in chunks, in 'stop' mode, after blank lines)
    checkError: (e, input) => check({ error: e as DatasetError }, input),
    describe: (x) =>
      `${x.name}, ${x.bytes.length} bytes, cuts ${JSON.stringify(x.cuts)}, options ${JSON.stringify(x.options)}, extra ${JSON.stringify(x.extra)}: ` +
      JSON.stringify(new TextDecoder().decode(x.bytes.subarray(0, 1200))),
  });
  console.log(summary(stats));
  expect(stats.cases).toBeGreaterThanOrEqual(10_000);
  expect(stats.ok).toBeGreaterThan(stats.cases * 0.3);
  expect(stats.typed).toBeGreaterThan(stats.cases * 0.1);
}, FUZZ_TIMEOUT_MS);

it('readDatasetFile: a 100 MB single-line JSONL file is read within the time and memory budgets', async () => {
  const MiB = 1024 * 1024;
  const part = new Uint8Array(MiB).fill(0x61); // "aaaa..."
  const parts = 100;
  let seen = 0;
  const stats = await fuzz<File, RawDataset>({
    name: 'readDatasetFile 100 MB line',
    seed: 1,
    cases: 1,
    // the default 2 s budget holds (about 0.6 s here); the line itself and its JSON.parse copy are ~400 MiB
    maxCaseMiB: 1024,
    maxRetainedMiB: 16,
    generate: () => new File([enc.encode('{"text": "'), ...new Array<Uint8Array<ArrayBuffer>>(parts).fill(part), enc.encode('"}')], 'big.jsonl'),
    run: (f) => readDatasetFile(f, { keepRows: false, onExample: (x) => (seen = x.kind === 'text' ? x.text.length : -1) }),
    typedError: () => false,
    check: (d) => {
      expect(d.rowCount).toBe(1);
      expect(d.badRows).toEqual([]);
      expect(d.examples).toEqual([]);
      expect(d.bytes).toBe(parts * MiB + 12);
    },
    describe: (f) => `${f.name}: {"text": "a x ${parts} MiB"}`,
  });
  console.log(summary(stats));
  expect(seen).toBe(parts * MiB);
}, FUZZ_TIMEOUT_MS);
