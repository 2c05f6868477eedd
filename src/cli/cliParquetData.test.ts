// `npm run finetune -- --data` with Parquet for real (headless Chromium, the engine worker, the
// demo model, --eval-only so nothing trains): the shards of a split as comma-separated files, and
// hub:REPO with --max-rows against a loopback server answering as the Hub does; the second hub:
// run, with the server gone, reads the listing and the shard from the profile's Cache Storage.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parquetBytes } from '../data/testing/parquetFiles';

const ROOT = join(import.meta.dirname, '..', '..');
const tmp = mkdtempSync(join(tmpdir(), 'whetstone-cli-parquet-'));
const profile = join(tmp, 'profile');
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function finetune(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join('scripts', 'finetune.mjs'), '--profile', profile, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`finetune ${args.join(' ')} did not end within 200 s:\n${stderr}`));
    }, 200_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const STORIES = readFileSync(join(ROOT, 'public/datasets/sample.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { text: string });
let shards: Uint8Array[] = [];

beforeAll(async () => {
  if (!existsSync(join(ROOT, 'public/models/stories260K/config.json'))) {
    expect(spawnSync(process.execPath, ['scripts/demo-model.mjs'], { cwd: ROOT, stdio: 'inherit' }).status).toBe(0);
  }
  const text = [{ name: 'text', type: 'string' as const }];
  shards = [await parquetBytes(text, STORIES.slice(0, 150), { rowGroupSize: 50 }), await parquetBytes(text, STORIES.slice(150), { codec: 'ZSTD', rowGroupSize: 50 })];
  shards.forEach((b, i) => writeFileSync(join(tmp, `train-0000${i}-of-00002.parquet`), b));
});

it('--data a.parquet,b.parquet reads both shards as one split', { timeout: 240_000 }, async () => {
  const r = await finetune(['--eval-only', '--data', `${join(tmp, 'train-00000-of-00002.parquet')},${join(tmp, 'train-00001-of-00002.parquet')}`, '--out', join(tmp, 'eval-files')]);
  expect(r.code, r.stderr).toBe(0);
  expect(r.stderr).toMatch(/data: train-00000-of-00002\.parquet \(\+1 more\): text, \d+ examples/);
  expect(r.stdout).toMatch(/loss/);
});

it('--data hub:REPO --max-rows downloads only the shards it needs, and works again offline from the cache', { timeout: 480_000 }, async () => {
  const hits: string[] = [];
  let endpoint = '';
  const server = createServer((req, res) => {
    hits.push(req.url ?? '');
    res.setHeader('access-control-allow-origin', '*'); // the Hub's API allows any origin
    const urls = shards.map((_, i) => `${endpoint}/api/datasets/test-org/stories/parquet/default/train/${i}.parquet`);
    const send = (body: string | Uint8Array, type = 'application/json') => void res.writeHead(200, { 'content-type': type, 'content-length': String(Buffer.byteLength(body)) }).end(body);
    if (req.url === '/api/datasets/test-org/stories/parquet') return send(JSON.stringify({ default: { train: urls } }));
    if (req.url === '/api/datasets/test-org/stories/parquet/default/train') return send(JSON.stringify(urls));
    const m = /\/parquet\/default\/train\/(\d)\.parquet$/.exec(req.url ?? '');
    if (m) return send(shards[Number(m[1])], 'application/octet-stream');
    res.writeHead(404).end('{"error":"Repository not found"}');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const a = server.address();
  endpoint = `http://127.0.0.1:${typeof a === 'object' && a ? a.port : 0}`;
  const args = ['--eval-only', '--data', 'hub:test-org/stories', '--hub-endpoint', endpoint, '--max-rows', '120'];
  let first;
  try {
    first = await finetune([...args, '--out', join(tmp, 'eval-hub-1')]);
  } finally {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  }
  expect(first.code, first.stderr).toBe(0);
  expect(first.stderr).toContain('data: test-org/stories, config default, split train');
  expect(first.stderr).toMatch(/data: test-org\/stories \(default\/train\): text, \d+ examples/);
  // 120 rows are in the first shard (150 rows): the second is not downloaded
  expect(hits).toEqual(['/api/datasets/test-org/stories/parquet', '/api/datasets/test-org/stories/parquet/default/train', '/api/datasets/test-org/stories/parquet/default/train/0.parquet']);
  const loss = /loss[^\n]*/.exec(first.stdout)?.[0];

  // the server is gone: the same command reads everything from the profile's cache
  const second = await finetune([...args, '--out', join(tmp, 'eval-hub-2')]);
  expect(second.code, second.stderr).toBe(0);
  expect(/loss[^\n]*/.exec(second.stdout)?.[0]).toBe(loss);
});
