// The page behind the command-line tools: it starts the same engine worker the studio uses and
// exposes its comlink API (plus helpers to turn served files into File objects) to the Node
// script driving this page through Playwright.
import * as Comlink from 'comlink';
import type { EngineApi } from '../workers/api';

const worker = new Worker(new URL('../workers/engine.worker.ts', import.meta.url), { type: 'module', name: 'whetstone-engine' });
const engine = Comlink.wrap<EngineApi>(worker);

async function fileFromUrl(url: string, name: string): Promise<File> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${name}: HTTP ${res.status}`);
  return new File([await res.blob()], name);
}

declare global {
  interface Window {
    whetstoneCli?: {
      engine: Comlink.Remote<EngineApi>;
      proxy: typeof Comlink.proxy;
      fileFromUrl: typeof fileFromUrl;
    };
  }
}

window.whetstoneCli = { engine, proxy: Comlink.proxy, fileFromUrl };
