// Kernel benchmark runner: `npm run bench:kernels` (= node bench/run-kernels.mjs).
// Serves bench/kernels.html with a Vite dev server on 127.0.0.1 (a free port), opens it in headless
// Chromium with WebGPU (Debian's /usr/bin/chromium, SwiftShader when there is no GPU; CHROME_PATH
// overrides), runs window.runKernelBench(), prints progress and a table, and writes
// bench/results/kernels.json. Measures only: asserts nothing about speed.
// Options: --quick (small shapes, for checking the runner itself), --no-tfjs.
import { chromium } from '@playwright/test';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createServer } from 'vite';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '../scripts/lib/chromium.mjs';
import { freePort } from '../scripts/lib/freePort.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = new Set(process.argv.slice(2));
const quick = args.has('--quick');
const TIMEOUT_MS = 20 * 60_000;

/**
 * CPU seconds used so far by this run's Chromium GPU process (where SwiftShader runs the kernels),
 * from /proc; null where there is no /proc. Other programs on a shared machine stretch wall time
 * but barely change CPU time, so ratios of CPU-time rates are the load-robust comparison.
 */
function gpuProcessCpuSeconds() {
  if (!existsSync('/proc/self/stat')) return null;
  const parentOf = new Map();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const st = readFileSync(`/proc/${d}/stat`, 'utf8');
      parentOf.set(Number(d), Number(st.slice(st.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // the process exited while we looked
    }
  }
  const isMine = (pid) => {
    for (let p = pid, hops = 0; p > 1 && hops < 20; p = parentOf.get(p) ?? 0, hops++) if (p === process.pid) return true;
    return false;
  };
  let ticks = 0;
  let found = false;
  for (const pid of parentOf.keys()) {
    if (!isMine(pid)) continue;
    let cmd = '';
    try {
      cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    if (!cmd.includes('--type=gpu-process')) continue;
    found = true;
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        const st = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
        const fields = st.slice(st.lastIndexOf(')') + 2).split(' ');
        ticks += Number(fields[11]) + Number(fields[12]);
      } catch {
        // thread exited
      }
    }
  }
  return found ? ticks / 100 : null; // USER_HZ is 100 on Linux
}

const f = (v, d = 2) => (v === null || v === undefined ? '-' : v.toFixed(d));
const pad = (s, n) => String(s).padEnd(n);
const lpad = (s, n) => String(s).padStart(n);

function printTables(r) {
  const out = [];
  out.push('');
  out.push(`adapter: ${r.adapter.name}   FMA peak ${f(r.peakGflops)} GFLOP/s (wall), ${f(r.peakCpuGflops)} per CPU-second   ${r.tfjs}`);
  out.push('');
  out.push('y = x·Wᵀ (W fp16; tfjs f32). GFLOP/s by wall clock, then per CPU-second of the GPU process (load-robust)');
  out.push(
    `${pad('m x n x k', 18)}${pad('variant', 10)}${lpad('ours', 8)}${lpad('f32 W', 8)}${lpad('tfjs', 8)}${lpad('ours/tfjs', 11)}${lpad('ours/peak', 11)}` +
      `${lpad('| cpu ours', 11)}${lpad('tfjs', 7)}${lpad('ours/tfjs', 11)}${lpad('ours/peak', 11)}`,
  );
  const pct = (v) => (v === null || v === undefined ? '-' : `${f(100 * v, 0)}%`);
  const times = (v) => (v === null || v === undefined ? '-' : `${f(v)}x`);
  for (const m of r.matmul) {
    out.push(
      `${pad(`${m.m}x${m.n}x${m.k}`, 18)}${pad(m.variant, 10)}${lpad(f(m.gflops), 8)}${lpad(f(m.gflopsF32W), 8)}${lpad(f(m.tfjsGflops), 8)}` +
        `${lpad(times(m.vsTfjs), 11)}${lpad(pct(m.ofPeak), 11)}` +
        `${lpad(`| ${f(m.cpuGflops)}`, 11)}${lpad(f(m.tfjsCpuGflops), 7)}${lpad(times(m.vsTfjsCpu), 11)}${lpad(pct(m.ofPeakCpu), 11)}`,
    );
  }
  out.push('');
  out.push('every variant, as the autotuner measured it (GFLOP/s; "-": not legal here, "x": wrong result; the fastest');
  out.push('3 on a probe with 1/8 of the rows were timed in full, the others show their probe speed)');
  const names = [...new Set(r.matmul.flatMap((m) => Object.keys(m.variants)))];
  out.push(pad('variant', 14) + r.matmul.map((m) => lpad(`${m.m}x${m.n}x${m.k}`, 16)).join(''));
  for (const name of names) {
    out.push(
      pad(name, 14) +
        r.matmul
          .map((m) => lpad(!(name in m.variants) ? '-' : m.variants[name] === null ? 'x' : f(m.variants[name]), 16))
          .join(''),
    );
  }
  out.push('');
  out.push('backward matmuls (tuned winner), GFLOP/s');
  for (const b of r.backward) {
    const what = b.op === 'dyw' ? 'dx = dy·W  (fp16 W)' : 'dW = dyᵀ·x';
    out.push(`${pad(what, 22)}${pad(`m=${b.m} n=${b.n} k=${b.k}`, 22)}${pad(b.variant, 10)}${lpad(f(b.gflops), 8)}${lpad(`${f(100 * b.ofPeak, 0)}%`, 7)}`);
  }
  out.push('');
  if (typeof r.attention === 'string') out.push(`attention: ${r.attention}`);
  else {
    out.push('attention (B=1, Hq=9, Hkv=3, D=64, causal)   forward ms   GFLOP/s   backward ms   GFLOP/s   bwd/fwd rate');
    for (const a of r.attention) {
      out.push(
        `${pad(`${a.variant ?? ''} T=${a.T}`, 44)}${lpad(f(a.fwdMs, 1), 11)}${lpad(f(a.fwdGflops), 10)}${lpad(f(a.bwdMs, 1), 14)}${lpad(f(a.bwdGflops), 10)}${lpad(a.bwdRateOverFwd === undefined ? '' : `${f(a.bwdRateOverFwd)}x`, 15)}`,
      );
    }
  }
  out.push('');
  if (typeof r.lora === 'string') out.push(`LoRA: ${r.lora}`);
  else {
    out.push('LoRA layer (base fp16 x·Wᵀ + adapter; backward dx, dA, dB)   forward ms   backward ms   GFLOP/s');
    for (const l of r.lora) {
      out.push(`${pad(`N=${l.N} ${l.IN}->${l.OUT} r=${l.r} dropout ${l.dropout}`, 58)}${lpad(f(l.fwdMs, 1), 13)}${lpad(f(l.bwdMs, 1), 14)}${lpad(f(l.gflops), 10)}`);
    }
  }
  out.push('');
  if (r.persistence) {
    const ok = r.persistence.every((p, i) => p.source === 'store' && p.winner === r.matmul[i].variant);
    out.push(`tuned winners after a page reload: ${r.persistence.map((p) => `${p.shape} ${p.winner} (${p.source})`).join(', ')}`);
    out.push(ok ? 'IndexedDB persistence: ok' : 'IndexedDB persistence: NOT as expected (see above)');
  }
  out.push(`total ${f(r.seconds, 0)} s`);
  console.log(out.join('\n'));
}

async function main() {
  const t0 = Date.now();
  const port = await freePort();
  const server = await createServer({
    root,
    logLevel: 'warn',
    clearScreen: false,
    server: { host: '127.0.0.1', port, strictPort: true, hmr: false },
    // pre-bundle the page's dependencies so a late discovery never reloads the page mid-run
    optimizeDeps: {
      entries: ['bench/kernels.html'],
      include: ['@tensorflow/tfjs-core', '@tensorflow/tfjs-backend-webgpu', 'idb-keyval'],
    },
  });
  await server.listen();
  const url = `http://127.0.0.1:${port}/bench/kernels.html`;
  console.log(`bench page: ${url}`);
  const browser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: CHROMIUM_ARGS,
  });
  let timer;
  try {
    const page = await browser.newPage();
    await page.exposeFunction('__gpuCpuSeconds', gpuProcessCpuSeconds);
    page.on('console', (msg) => {
      const text = msg.text();
      if (text.startsWith('[bench] ')) console.log(text.slice(8));
      else if (msg.type() === 'error' || msg.type() === 'warning') console.log(`  (page ${msg.type()}) ${text}`);
    });
    page.on('pageerror', (e) => console.log(`  (page error) ${e.message}`));
    await page.goto(url);
    await page.waitForFunction(() => typeof window.runKernelBench === 'function', null, { timeout: 120_000 });
    const opts = quick
      ? {
          shapes: [[64, 64, 64], [33, 70, 20]],
          backwardShapes: [[40, 24, 36]],
          loraShapes: [[40, 24, 36]],
          attentionT: [32],
          skipTfjs: args.has('--no-tfjs'),
        }
      : { skipTfjs: args.has('--no-tfjs') };
    const results = await Promise.race([
      page.evaluate((o) => window.runKernelBench(o), opts),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`benchmark did not finish within ${TIMEOUT_MS / 60000} minutes`)), TIMEOUT_MS);
      }),
    ]);
    // The winners went to IndexedDB: after a reload they must come back without being measured.
    await page.reload();
    await page.waitForFunction(() => typeof window.checkTunePersistence === 'function', null, { timeout: 120_000 });
    results.persistence = await page.evaluate((shapes) => window.checkTunePersistence(shapes), opts.shapes ?? undefined);
    printTables(results);
    // --quick only checks the runner: its numbers go to the temp dir, not over the real results
    const dir = quick ? tmpdir() : join(root, 'bench', 'results');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, quick ? 'whetstone-kernels-quick.json' : 'kernels.json');
    writeFileSync(`${file}.tmp`, `${JSON.stringify(results, null, 2)}\n`);
    renameSync(`${file}.tmp`, file);
    console.log(`wrote ${file} (${((Date.now() - t0) / 1000).toFixed(0)} s including startup)`);
  } finally {
    clearTimeout(timer);
    await browser.close();
    await server.close();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
