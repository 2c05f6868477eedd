// Parquet rows, read row group by row group with hyparquet (and hyparquet-compressors for every
// codec Parquet defines: snappy, gzip, brotli, zstd, lz4, lz4_raw). Only one row group's rows are
// decoded at a time and the byte source is read by ranges (a File/Blob in the browser, Node's
// fs.openAsBlob), so memory is bounded by the largest row group, not by the file.
//
// Values come out as JSON would give them: strings, numbers (INT64 as a number), null, lists as
// arrays and structs as objects (`messages: list<struct<role, content>>` is an array of
// {role, content}), so format detection, column mapping and bad-row reasons are the JSONL ones.

import { parquetMetadataAsync, parquetReadObjects, type AsyncBuffer, type FileMetaData } from 'hyparquet';
import { compressors } from 'hyparquet-compressors';
import type { ParsedRecord } from './parseJson';
import type { RowGroupStart } from './records';
import { firstInvalidUtf8, type ProgressCallback } from './stream';
import { DatasetError } from './types';

/** A Blob read by byte ranges. */
export function blobAsyncBuffer(blob: Blob): AsyncBuffer {
  return { byteLength: blob.size, slice: (start, end) => blob.slice(start, end).arrayBuffer() };
}

const MAGIC = [0x50, 0x41, 0x52, 0x31]; // "PAR1"

/** True when the blob starts with Parquet's magic bytes. */
export async function isParquet(blob: Blob): Promise<boolean> {
  if (blob.size < 4) return false;
  const head = new Uint8Array(await blob.slice(0, 4).arrayBuffer());
  return MAGIC.every((b, i) => head[i] === b);
}

/** The file's footer: schema, row groups and their sizes; a clear error when it is not Parquet. */
export async function parquetFileMetadata(file: Blob & { name: string }): Promise<FileMetaData> {
  const fix = 'Download the file again, or export it again with pyarrow/pandas (`df.to_parquet(...)`).';
  if (file.size < 12) throw new DatasetError('format', `${file.name} is not a Parquet file (${file.size} bytes). ${fix}`);
  const tail = new Uint8Array(await file.slice(file.size - 4).arrayBuffer());
  if (!(await isParquet(file)) || !MAGIC.every((b, i) => tail[i] === b)) {
    throw new DatasetError('format', `${file.name} is not a Parquet file, or it is cut short (no "PAR1" at its start and end). ${fix}`);
  }
  try {
    return await parquetMetadataAsync(blobAsyncBuffer(file));
  } catch (e) {
    throw new DatasetError('format', `${file.name}: its Parquet footer cannot be read (${e instanceof Error ? e.message : String(e)}). ${fix}`);
  }
}

/** A string column's value whose bytes are not UTF-8: where the first bad byte is, and its value. */
class InvalidText {
  constructor(
    readonly at: number,
    readonly byte: number,
  ) {}
}

// Strings decoded strictly (hyparquet's default would put U+FFFD in silently): a value that is not
// UTF-8 makes its row a bad row, as an undecodable line does in a text file.
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });
const PARSERS = {
  stringFromBytes(bytes: Uint8Array | undefined): unknown {
    if (bytes === undefined) return bytes;
    try {
      return strictUtf8.decode(bytes);
    } catch {
      const at = Math.max(0, firstInvalidUtf8(bytes));
      return new InvalidText(at, bytes[at]);
    }
  },
};

/**
 * JSON's view of a decoded Parquet value: bigint to number, dates to ISO text, the rest as is.
 * `bad` hears of the first value that is not UTF-8 text (it becomes null).
 */
export function jsonValue(v: unknown, bad?: (b: InvalidText) => void): unknown {
  if (typeof v === 'bigint') return Number(v);
  if (v instanceof Date) return v.toISOString();
  if (v instanceof InvalidText) {
    bad?.(v);
    return null;
  }
  if (Array.isArray(v)) return v.map((x) => jsonValue(x, bad));
  if (v !== null && typeof v === 'object' && !ArrayBuffer.isView(v)) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = jsonValue(x, bad);
    return out;
  }
  return v;
}

function rowValue(row: Record<string, unknown>): { value: unknown } | { error: string } {
  let invalid: string | undefined;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(row)) {
    out[k] = jsonValue(x, (b) => {
      invalid ??= `field "${k}" is not valid UTF-8 text (0x${b.byte.toString(16).padStart(2, '0')}, byte ${b.at + 1} of the value). Write the file again with its text as UTF-8`;
    });
  }
  return invalid === undefined ? { value: out } : { error: invalid };
}


export type { RowGroupStart };

export interface ParquetReadOptions {
  signal?: AbortSignal;
  /** Called before the rows of each row group are yielded. */
  onRowGroup?: (start: RowGroupStart) => void;
  /** Bytes of the files read so far (row groups done) of all of them. */
  onProgress?: ProgressCallback;
}

function aborted(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new DOMException('Reading the dataset was cancelled.', 'AbortError');
}

/**
 * The rows of one or more Parquet files (the shards of one split, in order) as ParsedRecords:
 * `line` counts rows from 1 across the shards, `rowGroup` is the row group in its file, `file`
 * names the shard when there are several. A row group that cannot be decoded is one bad record
 * at its first row saying how many rows it held; reading goes on with the next group.
 */
export async function* parseParquetRows(
  files: readonly (Blob & { name: string })[],
  opts: ParquetReadOptions = {},
): AsyncGenerator<ParsedRecord> {
  const total = files.reduce((s, f) => s + f.size, 0);
  let bytesBefore = 0;
  let line = 1;
  opts.onProgress?.(0, total);
  for (const file of files) {
    const metadata = await parquetFileMetadata(file);
    const buffer = blobAsyncBuffer(file);
    const shard = files.length > 1 ? file.name : undefined;
    let rowStart = 0;
    let groupBytes = 0;
    for (let g = 0; g < metadata.row_groups.length; g++) {
      if (opts.signal?.aborted) throw aborted(opts.signal);
      const group = metadata.row_groups[g];
      const n = Number(group.num_rows);
      const place = { rowGroup: g, ...(shard === undefined ? {} : { file: shard }) };
      opts.onRowGroup?.({ firstLine: line, ...place });
      let rows: Record<string, unknown>[] | null = null;
      let error = '';
      try {
        rows = await parquetReadObjects({ file: buffer, metadata, rowStart, rowEnd: rowStart + n, compressors, parsers: PARSERS });
      } catch (e) {
        error = e instanceof Error ? e.message : String(e);
      }
      if (rows === null) {
        yield { line, ...place, error: `row group ${g} (rows ${line}-${line + n - 1}) cannot be decoded (${error}); its ${n} rows are not used` };
      } else {
        for (let i = 0; i < rows.length; i++) {
          const row = rows[i];
          rows[i] = undefined as never; // let the row go once it is handed on
          yield { line: line + i, ...place, ...rowValue(row) };
        }
      }
      rowStart += n;
      line += n;
      groupBytes += Number(group.total_compressed_size ?? 0);
      opts.onProgress?.(bytesBefore + Math.min(groupBytes, file.size), total);
    }
    bytesBefore += file.size;
    opts.onProgress?.(bytesBefore, total);
  }
}

