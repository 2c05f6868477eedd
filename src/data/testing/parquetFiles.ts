// Parquet files written by a real writer, for tests (Node only): hyparquet-writer, with each
// codec's real compressor (Node's zlib for gzip and brotli, libzstd compiled to wasm by
// @bokuweb/zstd-wasm, lz4js for LZ4_RAW blocks; snappy is the writer's own). Columns are the
// shapes Hub datasets have: strings, integers, doubles, and chat lists as pyarrow writes them
// (`list<element: struct<...>>`, the standard three-level LIST).

import { brotliCompressSync, gzipSync } from 'node:zlib';
import { compress as zstdCompress, init as zstdInit } from '@bokuweb/zstd-wasm';
import { ByteWriter, ParquetWriter } from 'hyparquet-writer';
import { compressBlock, compressBound } from 'lz4js';

export const CODECS = ['UNCOMPRESSED', 'SNAPPY', 'GZIP', 'BROTLI', 'ZSTD', 'LZ4_RAW'] as const;
export type Codec = (typeof CODECS)[number];

/** A column: a string, an INT32, an INT64, a DOUBLE, or a list of structs with string fields. */
export type ColumnSpec =
  | { name: string; type: 'string' | 'int32' | 'int64' | 'double' }
  | { name: string; type: 'messages'; fields: [string, string] };

let zstdReady: Promise<void> | null = null;

function lz4Raw(bytes: Uint8Array): Uint8Array {
  const dst = new Uint8Array(compressBound(bytes.length));
  const n = compressBlock(bytes, dst, 0, bytes.length, new Uint32Array(1 << 16));
  if (n > 0) return dst.subarray(0, n);
  // lz4js returns 0 for a block too short to hold a match (a tiny dictionary page); LZ4 encodes
  // such a block as one literal run (what liblz4 writes): a token, the length's extra bytes, the bytes.
  const len = bytes.length;
  const extra: number[] = [];
  if (len >= 15) {
    let rest = len - 15;
    for (; rest >= 255; rest -= 255) extra.push(255);
    extra.push(rest);
  }
  return Uint8Array.from([Math.min(len, 15) << 4, ...extra, ...bytes]);
}

const COMPRESSORS = {
  GZIP: (b: Uint8Array) => new Uint8Array(gzipSync(b)),
  BROTLI: (b: Uint8Array) => new Uint8Array(brotliCompressSync(b)),
  ZSTD: (b: Uint8Array) => zstdCompress(b, 3),
  LZ4_RAW: lz4Raw,
};

/** The Parquet schema of the columns (every column and field nullable, as pyarrow writes them). */
type WriterOptions = ConstructorParameters<typeof ParquetWriter>[0];
type SchemaElement = WriterOptions['schema'][number];

export function parquetSchemaOf(columns: readonly ColumnSpec[]): SchemaElement[] {
  const schema: SchemaElement[] = [{ name: 'root', num_children: columns.length }];
  const str = (name: string): SchemaElement => ({ name, type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' });
  for (const c of columns) {
    if (c.type === 'string') schema.push(str(c.name));
    else if (c.type === 'int32') schema.push({ name: c.name, type: 'INT32', repetition_type: 'OPTIONAL' });
    else if (c.type === 'int64') schema.push({ name: c.name, type: 'INT64', repetition_type: 'OPTIONAL' });
    else if (c.type === 'double') schema.push({ name: c.name, type: 'DOUBLE', repetition_type: 'OPTIONAL' });
    else if (c.type === 'messages') {
      schema.push(
        { name: c.name, repetition_type: 'OPTIONAL', converted_type: 'LIST', num_children: 1 },
        { name: 'list', repetition_type: 'REPEATED', num_children: 1 },
        { name: 'element', repetition_type: 'OPTIONAL', num_children: 2 },
        str(c.fields[0]),
        str(c.fields[1]),
      );
    }
  }
  return schema;
}

function columnData(columns: readonly ColumnSpec[], rows: readonly Record<string, unknown>[]) {
  return columns.map((c) => ({
    name: c.name,
    data: rows.map((r) => {
      const v = r[c.name] ?? null;
      return c.type === 'int64' && typeof v === 'number' ? BigInt(v) : v;
    }),
  }));
}

export interface WriteOptions {
  codec?: Codec;
  /** Rows per row group (default: all in one). */
  rowGroupSize?: number;
}

/** Opens a writer over `writer` (a ByteWriter, or hyparquet-writer's fileWriter for big files). */
export async function parquetWriter(columns: readonly ColumnSpec[], writer: WriterOptions['writer'], codec: Codec = 'SNAPPY'): Promise<ParquetWriter> {
  if (codec === 'ZSTD') await (zstdReady ??= zstdInit());
  return new ParquetWriter({ writer, schema: parquetSchemaOf(columns), codec, compressors: COMPRESSORS, statistics: false });
}

/** Appends row groups of `rows` to an open writer. */
export function writeRows(w: ParquetWriter, columns: readonly ColumnSpec[], rows: readonly Record<string, unknown>[], rowGroupSize?: number): void {
  w.write({ columnData: columnData(columns, rows), rowGroupSize: rowGroupSize ?? Math.max(1, rows.length) });
}

/** A whole Parquet file of `rows` (JSON-like objects; missing keys are nulls). */
export async function parquetBytes(columns: readonly ColumnSpec[], rows: readonly Record<string, unknown>[], opts: WriteOptions = {}): Promise<Uint8Array<ArrayBuffer>> {
  const writer = new ByteWriter();
  const w = await parquetWriter(columns, writer, opts.codec);
  writeRows(w, columns, rows, opts.rowGroupSize);
  w.finish();
  return new Uint8Array(writer.getBuffer());
}
