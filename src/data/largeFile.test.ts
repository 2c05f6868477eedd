// A 200 MB JSON Lines file is read with flat memory: the reader holds a chunk and a row at a time.
// Measured as the growth of heapUsed and RSS while reading, not as a time.

import { closeSync, mkdtempSync, openAsBlob, openSync, rmSync, writeSync } from 'node:fs';
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
