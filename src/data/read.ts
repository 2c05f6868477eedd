// Reads a dataset file (.jsonl, .json, .csv, .txt, .parquet) as a stream: parse rows, detect the
// layout from the first rows (or take the user's mapping), validate every row, and keep the bad
// ones with their line numbers (Parquet: row numbers and row groups).

import { parseCsv, guessDelimiter } from './parseCsv';
import { parseJsonArray, parseJsonLines, type ParsedRecord } from './parseJson';
import { isParquet, parseParquetRows, type RowGroupStart } from './parseParquet';
import { parseTextPieces } from './parseText';
import { consumeRecords } from './records';
import { peekChunks, readTextChunks, type ProgressCallback } from './stream';
import type { BadRow, ColumnMapping, DetectedFormat, Example, RawDataset } from './types';
import { DatasetError, badRowError } from './types';

export type FileKind = 'jsonl' | 'json' | 'csv' | 'txt' | 'parquet';

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
  /** Read at most this many rows (valid + bad) of a row-based file; the rest is not read. */
  maxRows?: number;
}

function kindFromName(name: string): FileKind | undefined {
  const ext = name.toLowerCase().split('.').pop();
  if (ext === 'jsonl' || ext === 'ndjson') return 'jsonl';
  if (ext === 'json') return 'json';
  if (ext === 'csv' || ext === 'tsv') return 'csv';
  if (ext === 'txt' || ext === 'text' || ext === 'md') return 'txt';
  if (ext === 'parquet' || ext === 'pq') return 'parquet';
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
  const named = opts.kind ?? kindFromName(file.name);
  // Parquet by its name, or by its magic bytes when the name does not say (a file without extension)
  if (named === 'parquet' || (named === undefined && (await isParquet(file)))) return readParquetDataset([file], opts);
  const keep = opts.keepRows ?? true;
  const stopAtBad = opts.onBadRow === 'stop';
  // lines whose bytes did not decode (line -> reason), reported before the text holding them
  const badLines = new Map<number, string>();
  const onBadLine = (line: number, reason: string) => badLines.set(line, reason);
  const { first, all } = await peekChunks(readTextChunks(file, { onProgress: opts.onProgress, signal: opts.signal, onBadLine }));
  if (firstNonSpace(first) === '') {
    throw new DatasetError('empty', `${file.name} is empty: it holds no rows.`);
  }
  let kind = named;
  const lead = firstNonSpace(first);
  // A .json file holding one object per line is JSON Lines; an unknown extension is judged by content.
  if (kind === 'json' && lead === '{') kind = 'jsonl';
  if (kind === undefined) {
    if (lead === '[') kind = 'json';
    else if (lead === '{') kind = 'jsonl';
    else
      throw new DatasetError(
        'format',
        `Cannot tell what kind of file ${file.name} is: use a .jsonl, .json, .csv, .txt or .parquet file name.`,
      );
  }

  const examples: Example[] = [];
  const badRows: BadRow[] = [];
  const accept = (x: BadRow) => {
    if (stopAtBad) throw badRowError(x, file.name);
    badRows.push(x);
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
  const res = await consumeRecords(records, file.name, opts, badLines);
  return { fileName: file.name, ...res, bytes: file.size };
}

/**
 * Reads one dataset file, or several Parquet files as one split (the shards of a Hub dataset's
 * split, in order: rows are numbered across them and a bad row names its shard).
 */
export async function readDatasetFiles(files: readonly (Blob & { name: string })[], opts: ReadOptions = {}): Promise<RawDataset> {
  if (files.length === 0) throw new DatasetError('empty', 'No dataset file was given.');
  if (files.length === 1) return readDatasetFile(files[0], opts);
  for (const f of files) {
    if (!(await isParquet(f))) {
      throw new DatasetError('format', `${f.name} is not a Parquet file: several files can be read together only as the Parquet shards of one split. Pick one file, or only .parquet files.`);
    }
  }
  return readParquetDataset(files, opts);
}

async function readParquetDataset(files: readonly (Blob & { name: string })[], opts: ReadOptions): Promise<RawDataset> {
  const name = files.length === 1 ? files[0].name : `${files[0].name} (+${files.length - 1} more)`;
  const rowGroups: RowGroupStart[] = [];
  const records = parseParquetRows(files, { onProgress: opts.onProgress, signal: opts.signal, onRowGroup: (g) => rowGroups.push(g) });
  const res = await consumeRecords(records, name, opts);
  return { fileName: name, ...res, bytes: files.reduce((s, f) => s + f.size, 0), rowGroups };
}
