// Reads a dataset file (.jsonl, .json, .csv, .txt) as a stream: parse rows, detect the layout from
// the first rows (or take the user's mapping), validate every row, and keep the bad ones with
// their line numbers.

import { detectFormat, formatFromMapping } from './detect';
import { parseCsv, guessDelimiter } from './parseCsv';
import { parseJsonArray, parseJsonLines, type ParsedRecord } from './parseJson';
import { parseTextPieces } from './parseText';
import { isBadRow, toExample } from './rows';
import { peekChunks, readTextChunks, type ProgressCallback } from './stream';
import type { BadRow, ColumnMapping, DetectedFormat, Example, RawDataset } from './types';
import { DatasetError, badRowError } from './types';

export type FileKind = 'jsonl' | 'json' | 'csv' | 'txt';

export interface ReadOptions {
  onProgress?: ProgressCallback;
  signal?: AbortSignal;
  /** Overrides detection. Ignored for .txt files, which are always plain text. */
  mapping?: ColumnMapping;
  /** Override the kind the file name suggests. */
  kind?: FileKind;
  /** Keep examples in `examples` (default true). False, with onExample, streams them instead. */
  keepRows?: boolean;
  /** Called once with the file's format, before the first onExample (to set up streaming tokenization). */
  onFormat?: (format: DetectedFormat) => void;
  /** Called with each valid example in file order. */
  onExample?: (ex: Example) => void;
  /** 'stop' throws a DatasetError at the first bad row; 'collect' (default) lists them all. */
  onBadRow?: 'collect' | 'stop';
  /** Rows to look at before deciding the format (default 200). */
  detectRows?: number;
}

function kindFromName(name: string): FileKind | undefined {
  const ext = name.toLowerCase().split('.').pop();
  if (ext === 'jsonl' || ext === 'ndjson') return 'jsonl';
  if (ext === 'json') return 'json';
  if (ext === 'csv' || ext === 'tsv') return 'csv';
  if (ext === 'txt' || ext === 'text' || ext === 'md') return 'txt';
  return undefined;
}

function firstNonSpace(s: string): string {
  const m = /\S/.exec(s);
  return m ? m[0] : '';
}

/**
 * Reads and validates a dataset file. Memory: the reader holds one chunk and one row at a time;
 * with keepRows: false nothing grows with the file but the bad-row list.
 */
export async function readDatasetFile(file: Blob & { name: string }, opts: ReadOptions = {}): Promise<RawDataset> {
  const keep = opts.keepRows ?? true;
  const stopAtBad = opts.onBadRow === 'stop';
  // lines whose bytes did not decode (line -> reason), reported before the text holding them
  const badLines = new Map<number, string>();
  const onBadLine = (line: number, reason: string) => badLines.set(line, reason);
  const { first, all } = await peekChunks(readTextChunks(file, { onProgress: opts.onProgress, signal: opts.signal, onBadLine }));
  if (firstNonSpace(first) === '') {
    throw new DatasetError('empty', `${file.name} is empty: it holds no rows.`);
  }
  let kind = opts.kind ?? kindFromName(file.name);
  const lead = firstNonSpace(first);
  // A .json file holding one object per line is JSON Lines; an unknown extension is judged by content.
  if (kind === 'json' && lead === '{') kind = 'jsonl';
  if (kind === undefined) {
    if (lead === '[') kind = 'json';
    else if (lead === '{') kind = 'jsonl';
    else
      throw new DatasetError(
        'format',
        `Cannot tell what kind of file ${file.name} is: use a .jsonl, .json, .csv or .txt file name.`,
      );
  }

  const examples: Example[] = [];
  const badRows: BadRow[] = [];
  let rowCount = 0;
  const accept = (x: Example | BadRow) => {
    rowCount++;
    if (isBadRow(x)) {
      if (stopAtBad) throw badRowError(x, file.name);
      badRows.push(x);
    } else {
      if (keep) examples.push(x);
      opts.onExample?.(x);
    }
  };

  if (kind === 'txt') {
    const format: DetectedFormat = {
      name: 'text-file', kind: 'text', mapping: { kind: 'text', text: 'text' }, confidence: 1, sampled: 0,
    };
    opts.onFormat?.(format);
    const undecodable = (line: number) => {
      const reason = badLines.get(line);
      if (reason === undefined) return false;
      badLines.delete(line);
      accept({ line, reason });
      return true;
    };
    const pieces = parseTextPieces(all, undefined, undecodable);
    let lines = 0;
    for (;;) {
      const r = await pieces.next();
      if (r.done) {
        lines = r.value;
        break;
      }
      const ex: Example = { kind: 'text', line: r.value.line, text: r.value.text };
      if (keep) examples.push(ex);
      opts.onExample?.(ex);
    }
    // For a text file "rows" are its lines: pieces are an implementation detail.
    return { fileName: file.name, format, examples, badRows, rowCount: lines, bytes: file.size };
  }

  const records: AsyncGenerator<ParsedRecord> =
    kind === 'jsonl' ? parseJsonLines(all) : kind === 'json' ? parseJsonArray(all) : parseCsv(all, guessDelimiter(first));

  // Hold the first rows back until the format is known, then validate them and stream the rest.
  const sampleSize = opts.detectRows ?? 200;
  const held: ParsedRecord[] = [];
  let format: DetectedFormat | undefined = opts.mapping ? formatFromMapping(opts.mapping) : undefined;
  if (format) opts.onFormat?.(format);
  const decide = () => {
    format = detectFormat(held.filter((r) => 'value' in r).map((r) => (r as { value: unknown }).value));
    format.sampled = held.length;
    opts.onFormat?.(format);
  };
  // A record holding an undecodable line is a bad row (never trained on with U+FFFD in it); an
  // undecodable line outside every record (between JSON elements, a CSV header) is one by itself.
  const flushBadLinesBefore = (line: number) => {
    for (const [l, reason] of badLines) {
      if (l >= line) break;
      badLines.delete(l);
      accept({ line: l, reason });
    }
  };
  const handle = (rec: ParsedRecord) => {
    flushBadLinesBefore(rec.line);
    let undecodable: string | undefined;
    for (let l = rec.line, last = rec.last ?? rec.line; l <= last && badLines.size > 0; l++) {
      const reason = badLines.get(l);
      if (reason === undefined) continue;
      badLines.delete(l);
      // relative, like every reason: the row's own line number is the bad row's line
      undecodable ??= l === rec.line ? reason : `its line ${l - rec.line + 1} (the record spans ${last - rec.line + 1} lines) is ${reason}`;
    }
    if (undecodable !== undefined) accept({ line: rec.line, reason: undecodable });
    else if ('error' in rec) accept({ line: rec.line, reason: rec.error });
    else accept(toExample(rec.value, format!.mapping, rec.line));
  };
  for await (const rec of records) {
    if (format !== undefined) {
      handle(rec);
      continue;
    }
    held.push(rec);
    if (held.length >= sampleSize) {
      decide();
      for (const h of held) handle(h);
      held.length = 0;
    }
  }
  if (format === undefined) {
    if (held.length === 0) throw new DatasetError('empty', `${file.name} holds no rows.`);
    if (held.every((r) => 'error' in r) && stopAtBad) throw badRowError({ line: held[0].line, reason: (held[0] as { error: string }).error }, file.name);
    if (held.every((r) => 'error' in r)) {
      const r = held[0] as { line: number; error: string };
      throw new DatasetError('format', `No readable rows in ${file.name}: line ${r.line}: ${r.error}.`, { line: r.line, reason: r.error });
    }
    decide();
    for (const h of held) handle(h);
  }
  flushBadLinesBefore(Infinity);
  return { fileName: file.name, format: format!, examples, badRows, rowCount, bytes: file.size };
}
