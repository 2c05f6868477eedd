// The page behind the command-line tools: it starts the same engine worker the studio uses and
// exposes its comlink API (plus helpers to turn served files into File objects and exported files
// into base64 for the trip back to Node) to the Node script driving this page through Playwright.
import * as Comlink from 'comlink';
import type { EngineApi, ExportedFile } from '../workers/api';
import { guardWorker } from './workerGuard';

const worker = new Worker(new URL('../workers/engine.worker.ts', import.meta.url), { type: 'module', name: 'whetstone-engine' });
// a worker that fails to load or dies makes every pending and later call fail (instead of hanging)
const { api: engine, failed: workerFailed } = guardWorker(worker, Comlink.wrap<EngineApi>(worker));

async function fileFromUrl(url: string, name: string): Promise<File> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${name}: HTTP ${res.status}`);
  return new File([await res.blob()], name);
}

/** Exported files as { name, base64 } (plain data, far smaller than a JSON array of bytes). */
function encodeFiles(files: ExportedFile[]): { name: string; base64: string }[] {
  return files.map((f) => {
    let bin = '';
    for (let i = 0; i < f.bytes.length; i += 0x8000) bin += String.fromCharCode(...f.bytes.subarray(i, i + 0x8000));
    return { name: f.name, base64: btoa(bin) };
  });
}

declare global {
  interface Window {
    whetstoneCli?: {
      engine: Comlink.Remote<EngineApi>;
      proxy: typeof Comlink.proxy;
      fileFromUrl: typeof fileFromUrl;
      encodeFiles: typeof encodeFiles;
      /** rejects when the engine worker failed to load or died */
      workerFailed: Promise<never>;
    };
  }
}

window.whetstoneCli = { engine, proxy: Comlink.proxy, fileFromUrl, encodeFiles, workerFailed };
