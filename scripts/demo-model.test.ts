// End to end: runs scripts/demo-model.mjs under plain Node (no TypeScript loader) into temp
// folders and reads what it wrote back with the project's own readers.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Tokenizer } from '@huggingface/tokenizers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bufferSource } from '../src/io/byteSource';
import { checkTensors } from '../src/io/hfConfig';
import { parseHfConfig } from '../src/arch/config';
import { llama2cToHf, parseLlama2c } from '../src/io/llama2c.js';
import { readSafetensorsHeader, readTensorF32 } from '../src/io/safetensors';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const shared = join(root, '../shared/models/stories260K');
const script = join(root, 'scripts/demo-model.mjs');

function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    execFile(process.execPath, [script, ...args], { cwd: root, timeout: 60_000 }, (err, stdout, stderr) => {
      done({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
    });
  });
}

const tmp = mkdtempSync(join(tmpdir(), 'demo-model-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('demo-model script', () => {
  const out = join(tmp, 'a');

  it('converts stories260K from ../shared into a loadable Hugging Face checkpoint', async () => {
    const r = await run(['--out', out]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/read .*stories260K.bin \(sha256 ok\)/);
    expect(r.stdout).toMatch(/wrote .*model.safetensors \(\d+ bytes\)/);
    for (const f of ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'generation_config.json']) {
      expect(existsSync(join(out, f)), f).toBe(true);
    }
    const config = parseHfConfig(readFileSync(join(out, 'config.json'), 'utf8'));
    expect(config).toMatchObject({ architecture: 'llama', hiddenSize: 64, numLayers: 5, numKvHeads: 4, vocabSize: 512, tieWordEmbeddings: true });
    const src = bufferSource(readFileSync(join(out, 'model.safetensors')), 'model.safetensors');
    const header = await readSafetensorsHeader(src);
    expect(checkTensors(config, header.tensors).unexpected).toEqual([]);
    expect(new Set(header.tensors.map((t) => t.dtype))).toEqual(new Set(['F32']));
    // exact F32 copies of the converted weights (q/k permuted)
    const ref = llama2cToHf(parseLlama2c(readFileSync(join(shared, 'stories260K.bin'))));
    for (const t of ref.tensors) expect(await readTensorF32(src, header, t.name), t.name).toEqual(t.data);
    const tok = new Tokenizer(JSON.parse(readFileSync(join(out, 'tokenizer.json'), 'utf8')), JSON.parse(readFileSync(join(out, 'tokenizer_config.json'), 'utf8')));
    expect(tok.encode('Once upon a time').ids).toEqual([1, 403, 407, 261, 378]);
    expect(JSON.parse(readFileSync(join(out, 'generation_config.json'), 'utf8'))).toMatchObject({ bos_token_id: 1, eos_token_id: 2 });
  });

  it('skips the work when the output is current, and rebuilds when an output changed', async () => {
    const before = statSync(join(out, 'model.safetensors')).mtimeMs;
    const r = await run(['--out', out]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/is up to date/);
    expect(r.stdout).not.toMatch(/wrote/);
    expect(statSync(join(out, 'model.safetensors')).mtimeMs).toBe(before);
    writeFileSync(join(out, 'tokenizer.json'), '{}');
    const again = await run(['--out', out]);
    expect(again.stdout).toMatch(/wrote .*tokenizer.json/);
    expect(JSON.parse(readFileSync(join(out, 'tokenizer.json'), 'utf8')).model.type).toBe('BPE');
    expect((await run(['--out', out, '--force'])).stdout).toMatch(/wrote/);
  });

  it('rejects unknown arguments and a --source without the files', async () => {
    const bad = await run(['--nope']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/unknown argument --nope\. Usage/);
    const missing = await run(['--out', join(tmp, 'x'), '--source', join(tmp, 'empty')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/stories260K.bin does not exist/);
  });
});

describe('demo-model downloads', () => {
  // a local stand-in for huggingface.co: serves the real files, or corrupted ones under /bad
  let server: Server;
  let base = '';
  beforeAll(async () => {
    server = createServer((req, res) => {
      const [, dir, name] = (req.url ?? '').split('/');
      const path = join(shared, name ?? '');
      if (!name || !existsSync(path) || (dir !== 'good' && dir !== 'bad')) {
        res.writeHead(404).end();
        return;
      }
      const bytes = readFileSync(path);
      if (dir === 'bad' && name === 'tok512.bin') bytes[100] ^= 1;
      res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(bytes);
    });
    await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((ok) => server.close(() => ok())));

  it('downloads and checks the sha256 values', async () => {
    const out = join(tmp, 'dl');
    const r = await run(['--out', out, '--download', '--base-url', `${base}/good`]);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/downloaded http:\/\/127.0.0.1:\d+\/good\/stories260K.bin \(1056540 bytes, sha256 ok\)/);
    expect(readFileSync(join(out, 'model.safetensors'))).toEqual(readFileSync(join(tmp, 'a/model.safetensors')));
  });

  it('fails loudly on a sha256 mismatch and writes nothing', async () => {
    const out = join(tmp, 'bad');
    const r = await run(['--out', out, '--download', '--base-url', `${base}/bad`]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/sha256 mismatch for tok512.bin from http:\/\/127.0.0.1:\d+\/bad\/tok512.bin\n {2}expected 037cb335/);
    expect(existsSync(out)).toBe(false);
  });

  it('reports HTTP errors', async () => {
    const r = await run(['--out', join(tmp, 'nf'), '--download', '--base-url', `${base}/missing`]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/downloading http:\/\/127.0.0.1:\d+\/missing\/stories260K.bin failed with HTTP 404/);
  });
});
