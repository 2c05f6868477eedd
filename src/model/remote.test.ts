// The Hub download path against a real local HTTP server that serves the Hub's URL layout.
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DownloadError, folderFromUrl, hubFileUrl } from './remote';

const FILES: Record<string, string> = {
  'config.json': JSON.stringify({ architectures: ['LlamaForCausalLM'] }),
  'model.safetensors': 'x'.repeat(5000),
  'tokenizer.json': '{"model":{}}',
};
let server: Server;
let endpoint = '';
const hits: string[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    hits.push(req.url ?? '');
    const m = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(req.url ?? '');
    if (!m) return void res.writeHead(400).end();
    const [, repo, revision, file] = m;
    if (repo === 'org/dropping' && file === 'model.safetensors') {
      // announce 5000 bytes, send 1000, then cut the connection
      res.writeHead(200, { 'content-length': '5000' });
      res.write('y'.repeat(1000));
      setTimeout(() => res.socket?.destroy(), 20);
      return;
    }
    const body = revision === 'main' ? FILES[file] : undefined;
    if (body === undefined) return void res.writeHead(404).end('Entry not found');
    res.writeHead(200, { 'content-length': String(Buffer.byteLength(body)) }).end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  endpoint = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe('folderFromUrl with the Hub layout', () => {
  it('downloads config, weights and the optional files that exist, with progress', async () => {
    const progress: string[] = [];
    const folder = await folderFromUrl('org/model', hubFileUrl('org/model', 'main', endpoint), {
      onProgress: (p) => progress.push(`${p.file}:${p.bytesDone}/${p.bytesTotal}`),
    });
    expect([...folder.files.keys()].sort()).toEqual(['config.json', 'model.safetensors', 'tokenizer.json']);
    expect(folder.files.get('model.safetensors')!.size).toBe(5000);
    expect(progress).toContain('model.safetensors:5000/5000');
    expect(hits.some((h) => h === '/org/model/resolve/main/config.json')).toBe(true);
  });

  it('a missing required file is a 404 that names the file and what to check', async () => {
    const err = await folderFromUrl('org/model', hubFileUrl('org/model', 'v2', endpoint)).catch((e) => e);
    expect(err).toBeInstanceOf(DownloadError);
    expect(err.message).toMatch(/config\.json was not found .*404.*revision/);
  });

  it('a connection dropped mid-file is an error that says how far it got', async () => {
    const err = await folderFromUrl('org/dropping', hubFileUrl('org/dropping', 'main', endpoint)).catch((e) => e);
    expect(err).toBeInstanceOf(DownloadError);
    expect(err.message).toMatch(/model\.safetensors .*(interrupted|stopped) after 1000 (of 5000 )?bytes/);
  });

  it('rejects something that is not a repo id', () => {
    expect(() => hubFileUrl('not a repo', 'main')).toThrow(/owner\/name/);
  });
});
