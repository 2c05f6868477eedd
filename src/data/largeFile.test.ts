// A 200 MB JSON Lines file and a 500 MB Parquet file are read with flat memory: the reader holds a
// chunk (a row group) and a row at a time.
// Measured as the growth of heapUsed and RSS while reading, not as a time.

import { closeSync, mkdtempSync, openAsBlob, openSync, rmSync, statSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, expect, test } from 'vitest';
import { readDatasetFile } from './read';

const dir = mkdtempSync(join(tmpdir(), 'whetstone-data-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// A real gc() makes the baseline exclude the generator's garbage, so growth is measured sharply.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const TARGET_BYTES = 200 * 1024 * 1024;
const MiB = 1024 * 1024;

/** Writes rows in 1 MiB slices so the generator itself stays small; returns the row count. */
function writeJsonl(path: string): number {
  const fd = openSync(path, 'w');
  let written = 0;
  let rows = 0;
  const filler = 'the little robot named Bob loves the moon and the stars '.repeat(3);
  try {
    while (written < TARGET_BYTES) {
      const lines: string[] = [];
      let size = 0;
      while (size < MiB) {
        const line = JSON.stringify({ instruction: `Tell story ${rows}`, output: `${filler}${rows}` }) + '\n';
        lines.push(line);
        size += line.length;
        rows++;
      }
      writeSync(fd, lines.join(''));
      written += size;
    }
  } finally {
    closeSync(fd);
  }
  return rows;
}

test('a 200 MB JSONL file is read with flat memory', async () => {
  const path = join(dir, 'big.jsonl');
  const rows = writeJsonl(path);
  const blob = Object.assign(await openAsBlob(path), { name: 'big.jsonl' });
  expect(blob.size).toBeGreaterThanOrEqual(TARGET_BYTES);

  gc();
  const base = process.memoryUsage();
  let peakHeap = base.heapUsed;
  let peakRss = base.rss;
  let calls = 0;
  let lastRead = 0;
  let count = 0;
  let lastLine = 0;
  const raw = await readDatasetFile(blob, {
    keepRows: false,
    onExample: (ex) => {
      count++;
      lastLine = ex.line;
    },
    onProgress: (read) => {
      lastRead = read;
      if (++calls % 16 === 0) {
        const m = process.memoryUsage();
        peakHeap = Math.max(peakHeap, m.heapUsed);
        peakRss = Math.max(peakRss, m.rss);
      }
    },
  });
  expect(raw.format.name).toBe('alpaca');
  expect(raw.badRows).toEqual([]);
  expect(raw.rowCount).toBe(rows);
  expect(count).toBe(rows);
  expect(lastLine).toBe(rows);
  expect(lastRead).toBe(blob.size);
  gc();
  const retained = (process.memoryUsage().heapUsed - base.heapUsed) / MiB;
  const heapGrowth = (peakHeap - base.heapUsed) / MiB;
  const rssGrowth = (peakRss - base.rss) / MiB;
  // Holding the file (or its rows) would grow the heap by well over 200 MiB.
  expect(heapGrowth).toBeLessThan(64);
  expect(rssGrowth).toBeLessThan(128);
  expect(retained).toBeLessThan(8);
  console.log(
    `200 MiB JSONL: ${rows} rows; peak heap growth ${heapGrowth.toFixed(1)} MiB, peak RSS growth ${rssGrowth.toFixed(1)} MiB, ` +
      `retained ${retained.toFixed(1)} MiB`,
  );
});

// Parquet: a 500 MB snappy file of 25 MB row groups (HF's conversions use row groups of tens to
// hundreds of MB). The reader holds one row group's bytes and rows at a time, so memory is bounded
// by the row group, not by the file.
const PARQUET_BYTES = 500 * MiB;
const PARQUET_GROUP_ROWS = 24_000;

/** Pseudo-random words (xorshift), so snappy cannot shrink the file much: its bytes are the rows'. */
function wordMaker(seed: number): () => string {
  let s = seed >>> 0 || 1;
  const next = () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return s >>> 0;
  };
  const letters = 'abcdefghijklmnopqrstuvwxyz';
  const words = Array.from({ length: 8192 }, () => Array.from({ length: 3 + (next() % 8) }, () => letters[next() % 26]).join(''));
  return () => words[next() % words.length];
}

async function writeBigParquet(path: string): Promise<number> {
  const { fileWriter } = await import('hyparquet-writer');
  const { parquetWriter, writeRows } = await import('./testing/parquetFiles');
  const columns = [
    { name: 'instruction', type: 'string' as const },
    { name: 'output', type: 'string' as const },
  ];
  const w = await parquetWriter(columns, fileWriter(path), 'SNAPPY');
  const word = wordMaker(7);
  // one group's answers, reused by every group (compression works within a column chunk, so the
  // file is as big as if each were new); each row's instruction is its own
  const outputs = Array.from({ length: PARQUET_GROUP_ROWS }, () => Array.from({ length: 150 }, word).join(' '));
  let rows = 0;
  while (statSync(path).size < PARQUET_BYTES) {
    const group = outputs.map((output) => ({ instruction: `Tell story ${rows++}`, output }));
    writeRows(w, columns, group);
  }
  w.finish();
  return rows;
}

test('a 500 MB Parquet file is read with bounded memory', { timeout: 600_000 }, async () => {
  const path = join(dir, 'big.parquet');
  const t0 = performance.now();
  const rows = await writeBigParquet(path);
  const written = performance.now();
  const blob = Object.assign(await openAsBlob(path), { name: 'big.parquet' });
  expect(blob.size).toBeGreaterThanOrEqual(PARQUET_BYTES);

  gc();
  const base = process.memoryUsage();
  let peakHeap = base.heapUsed;
  let peakRss = base.rss;
  let count = 0;
  let lastLine = 0;
  let lastRead = 0;
  const sample = () => {
    const m = process.memoryUsage();
    peakHeap = Math.max(peakHeap, m.heapUsed);
    peakRss = Math.max(peakRss, m.rss);
  };
  const raw = await readDatasetFile(blob, {
    keepRows: false,
    onExample: (ex) => {
      count++;
      lastLine = ex.line;
      if (count % 2000 === 0) sample();
    },
    onProgress: (read) => {
      lastRead = read;
      sample();
    },
  });
  const read = performance.now();
  expect(raw.format.name).toBe('alpaca');
  expect(raw.badRows).toEqual([]);
  expect(raw.rowCount).toBe(rows);
  expect(count).toBe(rows);
  expect(lastLine).toBe(rows);
  expect(lastRead).toBe(blob.size);
  gc();
  const retained = (process.memoryUsage().heapUsed - base.heapUsed) / MiB;
  const heapGrowth = (peakHeap - base.heapUsed) / MiB;
  const rssGrowth = (peakRss - base.rss) / MiB;
  const groups = raw.rowGroups?.length ?? 0;
  // Holding the file (or its rows) would grow the heap by well over 500 MiB; one row group of
  // ~25 MB is held as its bytes, its decompressed pages and its strings and row objects.
  expect(groups).toBeGreaterThanOrEqual(20);
  expect(heapGrowth).toBeLessThan(200);
  expect(rssGrowth).toBeLessThan(320);
  expect(retained).toBeLessThan(8);
  console.log(
    `${(blob.size / MiB).toFixed(0)} MiB Parquet (snappy, ${groups} row groups of ${PARQUET_GROUP_ROWS} rows): ${rows} rows; ` +
      `peak heap growth ${heapGrowth.toFixed(1)} MiB, peak RSS growth ${rssGrowth.toFixed(1)} MiB, retained ${retained.toFixed(1)} MiB; ` +
      `written in ${((written - t0) / 1000).toFixed(0)} s, read in ${((read - written) / 1000).toFixed(0)} s`,
  );
});
