// The Hub download path against a real local HTTP server that serves the Hub's URL layout, and
// against servers that accept connections and then say nothing (the "offline" of flaky Wi-Fi or a
// captive portal): every such wait ends with an error that names the file, never a hang.
import { createServer, type Server } from 'node:http';
import { createServer as createTcpServer, type Socket } from 'node:net';
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
/** when true, the HTTP server takes every request and never answers it */
let silent = false;

beforeAll(async () => {
  server = createServer((req, res) => {
    hits.push(req.url ?? '');
    const m = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(req.url ?? '');
    if (!m) return void res.writeHead(400).end();
    const [, repo, revision, file] = m;
    if (silent) return; // accepted, and never answered
    if (repo === 'org/stalling' && file === 'model.safetensors') {
      // announce 5000 bytes, send 1000, then keep the connection open and say nothing more
      res.writeHead(200, { 'content-length': '5000' });
      res.write('y'.repeat(1000));
      return;
    }
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
afterAll(() => {
  // requests left unanswered on purpose hold their connections: end them, or close() waits forever
  server.closeAllConnections();
  return new Promise<void>((r) => server.close(() => r()));
});

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

/** A TCP server that accepts every connection and never sends a byte. */
async function blackHole(): Promise<{ endpoint: string; connections: () => number; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  let connections = 0;
  const hole = createTcpServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((r) => hole.listen(0, '127.0.0.1', r));
  const addr = hole.address();
  return {
    endpoint: `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`,
    connections: () => connections,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((r) => hole.close(() => r()));
    },
  };
}

/** Cache Storage's match/put over a Map (Node has no Cache Storage; the browser's is in e2e/hub-cache.spec.ts). */
function memoryCache(opts: { hang?: boolean } = {}) {
  const entries = new Map<string, { body: ArrayBuffer; status: number; statusText: string; headers: [string, string][] }>();
  const never = new Promise<never>(() => {});
  const cache = {
    async match(url: string) {
      if (opts.hang) return never;
      const e = entries.get(url);
      return e && new Response(e.status === 404 ? null : e.body, { status: e.status, statusText: e.statusText, headers: e.headers });
    },
    async put(url: string, res: Response) {
      if (opts.hang) return never;
      entries.set(url, { body: await res.arrayBuffer(), status: res.status, statusText: res.statusText, headers: [...res.headers] });
    },
  };
  return { cache: cache as unknown as Cache, entries };
}

describe('folderFromUrl when the network accepts and never answers', () => {
  it('a server that never answers is an error naming the server and the file, after the timeout', async () => {
    const hole = await blackHole();
    try {
      const err = await folderFromUrl('org/model', hubFileUrl('org/model', 'main', hole.endpoint), { timeoutMs: 300 }).catch((e) => e);
      expect(err).toBeInstanceOf(DownloadError);
      expect(err.message).toMatch(/^No answer from 127\.0\.0\.1:\d+ for config\.json in 0\.3 s: the connection may be down.*Check your connection/);
      expect(hole.connections()).toBe(1);
    } finally {
      await hole.close();
    }
  }, 10_000);

  it('a download that stops sending mid-file is an error that says how far it got', async () => {
    const err = await folderFromUrl('org/stalling', hubFileUrl('org/stalling', 'main', endpoint), { timeoutMs: 300 }).catch((e) => e);
    expect(err).toBeInstanceOf(DownloadError);
    expect(err.message).toMatch(/model\.safetensors from 127\.0\.0\.1:\d+ stalled: no data for 0\.3 s after 1000 of 5000 bytes/);
  }, 10_000);

  it("the caller's signal still cancels a request the server never answers", async () => {
    const hole = await blackHole();
    try {
      const ctrl = new AbortController();
      const loading = folderFromUrl('org/model', hubFileUrl('org/model', 'main', hole.endpoint), { signal: ctrl.signal, timeoutMs: 60_000 }).catch((e) => e);
      await expect.poll(() => hole.connections(), { timeout: 5000 }).toBe(1);
      ctrl.abort();
      const err = await loading;
      expect(err).toBeInstanceOf(DownloadError);
      expect(err.message).toMatch(/Could not reach .*config\.json/);
    } finally {
      await hole.close();
    }
  }, 10_000);

  it('a cached model loads without asking the network, even one that hangs; a file not cached is named after the timeout', async () => {
    const { cache, entries } = memoryCache();
    const first = await folderFromUrl('org/model', hubFileUrl('org/model', 'main', endpoint), { cache, timeoutMs: 2000 });
    // the files and the remembered absences (index, generation config, ...) are all cached
    expect(entries.size).toBe(3 + 5);
    silent = true;
    try {
      const before = hits.length;
      const progress: boolean[] = [];
      const again = await folderFromUrl('org/model', hubFileUrl('org/model', 'main', endpoint), { cache, timeoutMs: 300, onProgress: (p) => progress.push(p.fromCache) });
      expect(hits.length).toBe(before);
      expect(progress.every((c) => c)).toBe(true);
      expect([...again.files.keys()].sort()).toEqual([...first.files.keys()].sort());
      expect(again.files.get('model.safetensors')!.size).toBe(5000);

      entries.delete(hubFileUrl('org/model', 'main', endpoint)('tokenizer.json'));
      const err = await folderFromUrl('org/model', hubFileUrl('org/model', 'main', endpoint), { cache, timeoutMs: 300 }).catch((e) => e);
      expect(err).toBeInstanceOf(DownloadError);
      expect(err.message).toMatch(/No answer from .* for tokenizer\.json in 0\.3 s/);
    } finally {
      silent = false;
    }
  }, 10_000);

  it('a cache that never answers is passed over: the files come from the network', async () => {
    const { cache } = memoryCache({ hang: true });
    const folder = await folderFromUrl('org/model', hubFileUrl('org/model', 'main', endpoint), { cache, timeoutMs: 100 });
    expect(folder.files.get('model.safetensors')!.size).toBe(5000);
  }, 10_000);
});
