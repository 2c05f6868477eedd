// Training benchmark runner: `npm run bench:training` (= node bench/run-training.mjs); also used by
// bench/run-all.mjs (`npm run bench`).
// Serves bench/training.html with a Vite dev server on 127.0.0.1 (a free port), opens it in
// headless Chromium with WebGPU (Debian's /usr/bin/chromium, SwiftShader when there is no GPU;
// CHROME_PATH overrides), runs LoRA training steps for each case in a worker through the real
// model code (CausalLM + Trainer), then runs the PyTorch CPU peer (reference/bench_torch.py) for
// the same shapes, prints a table and writes bench/results/training.json. Measures only.
//
// Cases (issue 9): LoRA r=16 (alpha 32) on q,k,v,o,gate,up,down, batch 4 x 256 tokens, 2 warm-up
// + 5 measured steps, activation checkpointing off (the trainer's default):
//   stories260K (public/models/stories260K, `npm run demo-model`), all 5 layers
//   SmolLM2-135M's shape with random weights: 30 layers, or 2 on a software adapter
//   Qwen3-0.6B's and Gemma-3-270M's published configs (bench/archShapes.ts) with random weights,
//   real widths and vocabularies (151936, 262144): all layers at B=4 x T=256, or 2 layers at
//   B=1 x T=64 on a software adapter (the LM head alone is ~1 TFLOP per step at 4 x 256);
//   1 warm-up + 2 measured steps, no decode and no PyTorch peer
// Measured steps are cut (never below 1) when the time budget would be exceeded; the table says so.
//
// Options: --quick (T=32, B=2, 1+1 steps, 1 SmolLM layer: checks the runner itself; results go
// to the temp dir), --timing auto|timestamp|wall, --checkpointing, --no-torch,
// --smollm-layers N (layers on every adapter), --budget-minutes M (default 13), --only stories|smollm|qwen3|gemma3
// (a prefix of the case id: stories260K, stories260K-int8, stories260K-int4, ...; --only stories260K-int runs the
// quantized rows).
import { chromium } from '@playwright/test';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createServer } from 'vite';
import { CHROMIUM_ARGS as BASE_CHROMIUM_ARGS, CHROMIUM_PATH } from '../scripts/lib/chromium.mjs';
import { freePort } from '../scripts/lib/freePort.mjs';
import { formatTrainingTable } from './trainingReport.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

export const CHROMIUM_ARGS = [
  ...BASE_CHROMIUM_ARGS,
  // unquantised timestamp queries (Chromium rounds them to 100 µs otherwise); a switch of its
  // own, not --enable-features, so Playwright's feature list stays intact
  '--enable-webgpu-developer-features',
];

export const PYTHON = '/usr/bin/python3';

/** The kernel benchmark's FMA-only peak and the adapter it was measured on, if it has run. */
export function kernelsPeak(file = join(root, 'bench', 'results', 'kernels.json')) {
  if (!existsSync(file)) return { peakGflops: null, adapter: null };
  try {
    const k = JSON.parse(readFileSync(file, 'utf8'));
    if (!(typeof k.peakGflops === 'number' && k.peakGflops > 0)) return { peakGflops: null, adapter: null };
    // the worker compares "vendor architecture" with its own adapter (bench/trainingCase.ts adapterKey)
    const adapter = k.adapter ? `${k.adapter.vendor ?? ''} ${k.adapter.architecture ?? ''}`.trim() : null;
    return { peakGflops: k.peakGflops, adapter };
  } catch {
    return { peakGflops: null, adapter: null };
  }
}

/**
 * The cases of issue 9 and 13 (or the quick ones), and the demo model with an int8 and an int4 base
 * (issue 17: the linear layers quantized at load); `only`: the cases whose id (caseId) starts with it.
 * @param {{ quick?: boolean, timing?: string, checkpointing?: boolean, smollmLayers?: number | null, only?: string | null, deadline?: number | null, peakGflops?: number | null, peakAdapter?: string | null }} [opts]
 */
export function trainingCases({ quick = false, timing = 'auto', checkpointing = false, smollmLayers = null, only = null, deadline = null, peakGflops = null, peakAdapter = null } = {}) {
  const common = {
    batchSize: quick ? 2 : 4,
    seqLen: quick ? 32 : 256,
    rank: 16,
    warmup: quick ? 1 : 2,
    steps: quick ? 1 : 5,
    deadline,
    activationCheckpointing: checkpointing,
    timing,
    peakGflops,
    peakAdapter,
    seed: 1234,
    // after training: the playground's generation with the trained adapter (bench/decodeCase.ts)
    decode: { promptTokens: quick ? 8 : 32, newTokens: quick ? 4 : 16, warmup: 1, seed: 99 },
  };
  const cases = [
    { ...common, model: 'stories260K', layers: null, layersOnSoftware: null },
    ...['int8', 'int4'].map((quantize) => ({ ...common, model: 'stories260K', layers: null, layersOnSoftware: null, quantize })),
    { ...common, model: 'smollm2-135m-shape', layers: smollmLayers ?? (quick ? 1 : null), layersOnSoftware: smollmLayers ?? (quick ? 1 : 2) },
    ...['qwen3-0.6b-shape', 'gemma3-270m-shape'].map((model) => ({
      ...common,
      model,
      layers: quick ? 1 : null,
      layersOnSoftware: quick ? 1 : 2,
      batchOnSoftware: quick ? { batchSize: 1, seqLen: 16 } : { batchSize: 1, seqLen: 64 },
      warmup: 1,
      steps: quick ? 1 : 2,
      decode: null,
    })),
  ];
  return cases.filter((c) => !only || caseId(c).toLowerCase().startsWith(only.toLowerCase()));
}

/** "stories260K", "stories260K-int8": the model, and the base's quantization when it has one. */
export function caseId(c) {
  return c.quantize && c.quantize !== 'none' ? `${c.model}-${c.quantize}` : c.model;
}

/** The models reference/bench_torch.py has (the others get no PyTorch figure). */
export const TORCH_PEERS = { stories260K: 'stories260k', 'smollm2-135m-shape': 'smollm2-shape' };

/**
 * The PyTorch CPU peer for one case (null when bench_torch.py has no such model), or { unavailable: why } when /usr/bin/python3 with torch is
 * absent or the script fails. OMP_WAIT_POLICY=PASSIVE: spinning OpenMP threads otherwise halve
 * torch's speed on a 2-core machine.
 */
export function runTorchPeer({ model, layers, batchSize, seqLen, rank, steps = 5, warmup = 2, log = () => {} }) {
  if (!existsSync(PYTHON)) return Promise.resolve({ unavailable: `${PYTHON} is absent` });
  const peer = TORCH_PEERS[model];
  if (!peer) return Promise.resolve(null);
  const args = [join(root, 'reference', 'bench_torch.py'), '--model', peer, '--seq', String(seqLen), '--batch', String(batchSize), '--rank', String(rank), '--steps', String(steps), '--warmup', String(warmup), '--json'];
  if (layers !== null && layers !== undefined) args.push('--layers', String(layers));
  log(`PyTorch peer: python3 ${args.slice(0).map((a) => a.replace(`${root}/`, '')).join(' ')}`);
  return new Promise((resolve) => {
    const p = spawn(PYTHON, args, { cwd: root, env: { ...process.env, OMP_WAIT_POLICY: 'PASSIVE' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    p.on('error', (e) => resolve({ unavailable: `could not start ${PYTHON}: ${e.message}` }));
    p.on('close', (code) => {
      if (code !== 0) {
        const why = /No module named 'torch'/.test(err) ? `${PYTHON} has no torch` : `bench_torch.py exited with ${code}: ${err.trim().split('\n').slice(-1)[0] ?? ''}`;
        resolve({ unavailable: why });
        return;
      }
      try {
        resolve(JSON.parse(out.trim().split('\n').pop()));
      } catch {
        resolve({ unavailable: `bench_torch.py printed no JSON: ${out.slice(0, 200)}` });
      }
    });
  });
}

/**
 * Run the training cases in Chromium, then the PyTorch peers. Returns
 * { adapter, date, cases: [{ ...result, torch } | { model, error }], torchNote, seconds }.
 */
export async function runTrainingBench(opts = {}) {
  const log = opts.log ?? ((l) => console.log(l));
  const t0 = Date.now();
  // opts.kernelsFile: null = no kernel figures (measure the peak here); undefined = the usual file
  const kernelsFile = opts.kernelsFile === undefined ? join(root, 'bench', 'results', 'kernels.json') : opts.kernelsFile;
  const peak = kernelsFile ? kernelsPeak(kernelsFile) : { peakGflops: null, adapter: null };
  if (peak.peakGflops) log(`FMA peak from ${kernelsFile.replace(`${root}/`, '')}: ${peak.peakGflops.toFixed(2)} GFLOP/s (${peak.adapter})`);
  else log('no kernel bench results: the FMA peak is measured by the training bench itself');
  // the PyTorch peers run after the browser: keep them time (about 1 minute on an idle 2-core machine)
  const torchReserveMs = opts.torch === false ? 0 : 90_000;
  const deadline = opts.deadline ? opts.deadline - torchReserveMs : null;
  const all = trainingCases({ ...opts, deadline, peakGflops: peak.peakGflops, peakAdapter: peak.adapter });
  const demoMissing = !existsSync(join(root, 'public/models/stories260K/config.json'));
  const missing = { ok: false, model: 'stories260K', error: 'public/models/stories260K is missing: run `npm run demo-model` first' };
  if (demoMissing && all.some((c) => c.model === 'stories260K')) log(`stories260K: ${missing.error}`);
  const cases = all.filter((c) => !(demoMissing && c.model === 'stories260K'));

  const port = await freePort();
  const server = await createServer({
    root,
    logLevel: 'warn',
    clearScreen: false,
    server: { host: '127.0.0.1', port, strictPort: true, hmr: false },
    // pre-bundle what the page and worker import so a late discovery never reloads the page
    optimizeDeps: { entries: ['bench/training.html', 'bench/trainingWorker.ts'] },
  });
  await server.listen();
  const url = `http://127.0.0.1:${port}/bench/training.html`;
  log(`training bench page: ${url}`);
  const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: CHROMIUM_ARGS });
  let outcomes;
  let userAgent = '';
  try {
    const page = await browser.newPage();
    page.on('console', (msg) => {
      const text = msg.text();
      if (text.startsWith('[bench] ')) log(text.slice(8));
      else if (msg.type() === 'error' || msg.type() === 'warning') log(`  (page ${msg.type()}) ${text}`);
    });
    page.on('pageerror', (e) => log(`  (page error) ${e.message}`));
    await page.goto(url);
    await page.waitForFunction(() => typeof window.runTrainingBench === 'function', null, { timeout: 120_000 });
    userAgent = await page.evaluate(() => navigator.userAgent);
    // no timeout of our own: each case limits its measured steps to the deadline
    const ran = cases.length ? await page.evaluate((c) => window.runTrainingBench(c), cases) : [];
    outcomes = all.map((c) => (demoMissing && c.model === 'stories260K' ? missing : ran.shift()));
  } finally {
    await browser.close();
    await server.close();
  }

  const results = [];
  let torchNote = null;
  for (const [i, o] of outcomes.entries()) {
    if (!o.ok) {
      results.push({ model: o.model, ...(all[i].quantize ? { quantize: all[i].quantize } : {}), error: o.error });
      continue;
    }
    const r = o.result;
    let torch = null;
    if (opts.torch === false) torchNote = 'PyTorch peer skipped (--no-torch)';
    else if (r.quantization && r.quantization !== 'none') {
      // the PyTorch peer trains an fp32 base: no peer for a quantized row
    } else if (!torchNote) {
      torch = await runTorchPeer({ model: r.model, layers: r.model === 'stories260K' ? null : r.layers, batchSize: r.batchSize, seqLen: r.seqLen, rank: r.rank, log });
      if (torch === null) {
        // no peer for this model
      } else if (torch.unavailable) {
        torchNote = `PyTorch peer unavailable: ${torch.unavailable}`;
        log(torchNote);
        torch = null;
      } else {
        log(`  PyTorch: ${torch.tokensPerSecond.toFixed(1)} tokens/s (${(torch.msPerStep / 1000).toFixed(2)} s/step)`);
      }
    }
    results.push({ ...r, torch });
  }
  const adapter = outcomes.find((o) => o.ok)?.result.adapter ?? null;
  return { date: new Date().toISOString(), userAgent, adapter, cases: results, torchNote, seconds: (Date.now() - t0) / 1000 };
}

function parseArgs(argv) {
  const a = { quick: false, timing: 'auto', checkpointing: false, torch: true, smollmLayers: null, budgetMinutes: 13, only: null };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    if (k === '--quick') a.quick = true;
    else if (k === '--checkpointing') a.checkpointing = true;
    else if (k === '--no-torch') a.torch = false;
    else if (k === '--timing') a.timing = argv[++i];
    else if (k === '--smollm-layers') a.smollmLayers = Number(argv[++i]);
    else if (k === '--budget-minutes') a.budgetMinutes = Number(argv[++i]);
    else if (k === '--only') a.only = argv[++i];
    else throw new Error(`unknown option ${k}; see the header of bench/run-training.mjs`);
  }
  if (!['auto', 'timestamp', 'wall'].includes(a.timing)) throw new Error(`--timing must be auto, timestamp or wall, got ${a.timing}`);
  return a;
}

export function writeJson(file, value) {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(`${file}.tmp`, `${JSON.stringify(value, null, 2)}\n`);
  renameSync(`${file}.tmp`, file);
}

async function main() {
  const a = parseArgs(process.argv.slice(2));
  const run = await runTrainingBench({ ...a, deadline: Date.now() + a.budgetMinutes * 60_000 });
  console.log(`\n${formatTrainingTable(run)}`);
  // --quick only checks the runner: its results go to the temp dir, not over the real ones
  const file = a.quick ? join(tmpdir(), 'whetstone-training-quick.json') : join(root, 'bench', 'results', 'training.json');
  writeJson(file, run);
  console.log(`wrote ${file} (${run.seconds.toFixed(0)} s)`);
  if (run.cases.some((c) => c.error)) process.exitCode = 1;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
