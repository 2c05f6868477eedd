// The GPU kit's orchestrator (copied to gpu-kit/run.mjs by `npm run gpu-kit`; started by
// gpu-kit/run.sh with the kit's own Node). Node built-ins only: nothing else travels.
//
// Runs each part in its own process with its own time limit, so that a crash, a hang or an
// error in one part is recorded as that part's error and the others still run; rewrites ONE JSON
// after every part (a run cut short still leaves what it measured):
//   adapter                        the WebGPU adapter (name, features, limits)
//   kernels                        kernel bench (bench/kit/node.ts kernels)
//   training:qwen2.5-0.5b-shape    training bench: LoRA r=16 all linear, B=4 x T=256, decode
//   training:smollm2-135m-shape
//   torch:<shape>:<dtype>          the PyTorch peer (reference/bench_torch.py) on CUDA, float32
//                                  and bfloat16; on the CPU and tiny with --dry-run
// Options: --out FILE (default ./whetstone-gpu-kit.json), --dry-run, --budget-s S (default 450:
// the whole run stays under 8 minutes with Node's unpacking), --only PART[,PART] (by prefix),
// --kit DIR and --work DIR (set by run.sh).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The whole run's default limit: under 8 minutes with Node's unpacking and the JSON. */
export const DEFAULT_BUDGET_S = 450;

/** The parts and their time limits (seconds), in order. */
export function plan({ dryRun }) {
  if (dryRun) {
    return [
      { id: 'adapter', kind: 'node', args: ['adapter'], limitS: 60 },
      { id: 'kernels', kind: 'node', args: ['kernels'], limitS: 120 },
      { id: 'training:qwen2.5-0.5b-shape', kind: 'node', args: ['training', '--model', 'qwen2.5-0.5b-shape'], limitS: 120 },
      { id: 'training:smollm2-135m-shape', kind: 'node', args: ['training', '--model', 'smollm2-135m-shape'], limitS: 120 },
      { id: 'torch:qwen2.5-0.5b-shape:float32', kind: 'torch', args: ['--device', 'cpu', '--model', 'qwen2.5-0.5b-shape', '--layers', '1', '--seq', '16', '--batch', '1', '--steps', '1', '--warmup', '0', '--dtype', 'float32'], limitS: 120 },
    ];
  }
  const torch = (model, dtype, limitS) => ({
    id: `torch:${model}:${dtype}`,
    kind: 'torch',
    args: ['--device', 'cuda', '--model', model, '--seq', '256', '--batch', '4', '--rank', '16', '--steps', '5', '--warmup', '2', '--dtype', dtype],
    limitS,
  });
  return [
    { id: 'adapter', kind: 'node', args: ['adapter'], limitS: 30 },
    { id: 'kernels', kind: 'node', args: ['kernels'], limitS: 100 },
    { id: 'training:qwen2.5-0.5b-shape', kind: 'node', args: ['training', '--model', 'qwen2.5-0.5b-shape'], limitS: 130 },
    { id: 'training:smollm2-135m-shape', kind: 'node', args: ['training', '--model', 'smollm2-135m-shape'], limitS: 100 },
    // importing torch and starting CUDA take seconds of each; the budget cuts the last ones
    torch('qwen2.5-0.5b-shape', 'bfloat16', 45),
    torch('smollm2-shape', 'bfloat16', 30),
    torch('qwen2.5-0.5b-shape', 'float32', 35),
    torch('smollm2-shape', 'float32', 25),
  ];
}

function parseArgs(argv) {
  const here = dirname(fileURLToPath(import.meta.url));
  const a = { out: resolve('whetstone-gpu-kit.json'), dryRun: false, budgetS: DEFAULT_BUDGET_S, only: null, kit: here, work: join(os.tmpdir(), 'whetstone-gpu-kit') };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    if (k === '--out') a.out = resolve(argv[++i]);
    else if (k === '--dry-run') a.dryRun = true;
    else if (k === '--budget-s') a.budgetS = Number(argv[++i]);
    else if (k === '--only') a.only = argv[++i].split(',');
    else if (k === '--kit') a.kit = resolve(argv[++i]);
    else if (k === '--work') a.work = resolve(argv[++i]);
    else throw new Error(`unknown option ${k}: use --out FILE, --dry-run, --budget-s S, --only PART[,PART]`);
  }
  if (!(a.budgetS > 0)) throw new Error(`--budget-s must be a positive number of seconds, got ${a.budgetS}`);
  return a;
}

function writeJson(file, value) {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(`${file}.tmp`, `${JSON.stringify(value, null, 2)}\n`);
  renameSync(`${file}.tmp`, file);
}

function sh(cmd, args, timeoutMs = 10_000) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: timeoutMs });
  if (r.error) return { error: r.error.message };
  return { status: r.status, stdout: r.stdout.trim().slice(0, 4000), stderr: r.stderr.trim().slice(0, 1000) };
}

/** The first Python that imports torch: $PYTHON, python3, /usr/bin/python3 (null: none does). */
function findTorchPython() {
  const tried = [];
  for (const py of [process.env.PYTHON, 'python3', '/usr/bin/python3'].filter(Boolean)) {
    const r = sh(py, ['-c', 'import torch; print(torch.__version__, torch.cuda.is_available(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else "")'], 60_000);
    if (r.status === 0) return { python: py, torch: r.stdout, tried };
    tried.push(`${py}: ${r.error ?? r.stderr.split('\n').pop()}`);
  }
  return { python: null, torch: null, tried };
}

function machine() {
  const smi = sh('nvidia-smi', ['--query-gpu=name,driver_version,memory.total,clocks.max.sm', '--format=csv,noheader']);
  const vulkanVars = Object.fromEntries(Object.entries(process.env).filter(([k]) => /^(VK_|WHETSTONE_KIT_|LD_LIBRARY_PATH$)/.test(k)));
  return {
    hostname: os.hostname(),
    platform: `${os.type()} ${os.release()} ${os.arch()}`,
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? null,
    memoryBytes: os.totalmem(),
    node: process.version,
    nodePath: process.execPath,
    nvidiaSmi: smi.error ? `unavailable: ${smi.error}` : smi.stdout || smi.stderr,
    vulkan: vulkanVars,
  };
}

/**
 * Run one part: its process is killed (with its group) at the limit. Resolves with the part's
 * record: what it wrote, or { ok: false, error } with the tail of its output.
 */
function runPart(part, a, limitS) {
  const t0 = Date.now();
  const tmp = join(a.work, 'parts', `${part.id.replace(/[^a-z0-9.-]/gi, '_')}.json`);
  mkdirSync(dirname(tmp), { recursive: true });
  // a file left by an earlier run must not pass for this run's result
  rmSync(tmp, { force: true });
  let cmd;
  let args;
  if (part.kind === 'node') {
    cmd = process.execPath;
    args = [join(a.work, 'app', 'kit.mjs'), ...part.args, '--out', tmp, '--deadline-ms', String(Math.max(5, limitS - 15) * 1000), ...(a.dryRun ? ['--dry-run'] : [])];
  } else {
    if (!a.python) return Promise.resolve({ id: part.id, ok: false, error: `no Python with torch: ${a.pythonTried.join('; ')}`, limitS, seconds: 0 });
    cmd = a.python;
    args = [join(a.kit, 'torch', 'bench_torch.py'), ...part.args, '--json'];
  }
  return new Promise((done) => {
    let tail = '';
    const keep = (d) => {
      process.stdout.write(d);
      tail = (tail + d).slice(-6000);
    };
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true, env: { ...process.env, OMP_WAIT_POLICY: process.env.OMP_WAIT_POLICY ?? 'PASSIVE' } });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-p.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }, limitS * 1000);
    p.stdout.on('data', keep);
    p.stderr.on('data', keep);
    const finish = (code, error) => {
      clearTimeout(timer);
      const seconds = (Date.now() - t0) / 1000;
      const base = { id: part.id, command: [cmd === process.execPath ? 'node' : cmd, ...args.map((x) => x.replace(`${a.work}/`, '$WORK/').replace(`${a.kit}/`, '$KIT/'))].join(' '), limitS, seconds };
      if (timedOut) return done({ ...base, ok: false, error: `stopped after its time limit of ${limitS} s`, outputTail: tail });
      if (error) return done({ ...base, ok: false, error: `could not start ${cmd}: ${error.message}`, outputTail: tail });
      if (part.kind === 'node') {
        if (!existsSync(tmp)) return done({ ...base, ok: false, error: `exited with ${code} and wrote no result`, outputTail: tail });
        const r = JSON.parse(readFileSync(tmp, 'utf8'));
        // seconds: the part's wall time as seen from here; partSeconds: inside its process
        return done({ ...base, ...r, seconds, partSeconds: r.seconds, ok: r.ok && code === 0, ...(r.ok ? {} : { outputTail: tail }) });
      }
      const line = tail.trim().split('\n').pop() ?? '';
      if (code !== 0) return done({ ...base, ok: false, error: `bench_torch.py exited with ${code}: ${line}`, outputTail: tail });
      try {
        return done({ ...base, ok: true, result: JSON.parse(line) });
      } catch {
        return done({ ...base, ok: false, error: 'bench_torch.py printed no JSON', outputTail: tail });
      }
    };
    p.on('error', (e) => finish(null, e));
    p.on('close', (code) => finish(code, null));
  });
}

/** H200 SXM dense peaks (NVIDIA's data sheet), for MFU-style ratios of the figures below. */
export const H200_PEAK_TFLOPS = { f16Dense: 989, f32: 67 };

/** The figures the issue's targets speak of, from the parts that ran. */
export function summarize(parts) {
  const training = {};
  for (const [id, p] of Object.entries(parts)) {
    if (!id.startsWith('training:') || !p.ok) continue;
    const r = p.result;
    const shape = id.slice('training:'.length);
    const torchKey = shape === 'smollm2-135m-shape' ? 'smollm2-shape' : shape;
    const peers = Object.fromEntries(
      Object.entries(parts)
        .filter(([k, q]) => k.startsWith(`torch:${torchKey}:`) && q.ok)
        .map(([k, q]) => [k.split(':')[2], { tokensPerSecond: q.result.tokensPerSecond, msPerStep: q.result.msPerStep, oursOverTorch: r.tokensPerSecond / q.result.tokensPerSecond }]),
    );
    training[shape] = {
      layers: r.layers,
      tokensPerSecond: r.tokensPerSecond,
      msPerStep: r.msPerStep,
      untimedStepMs: r.untimedStepMs,
      stepTflops: r.flops.total / (r.msPerStep * 1e9),
      ofH200F16Peak: r.flops.total / (r.msPerStep * 1e9) / H200_PEAK_TFLOPS.f16Dense,
      split: r.split,
      commandsPerStep: r.commandsPerStep,
      passesPerStepTimed: r.passesPerStep,
      decode: r.decode ? { tokensPerSecond: r.decode.tokensPerSecond, steadyMsPerToken: r.decode.steadyMsPerToken, prefillMs: r.decode.prefillMs, commandsPerToken: r.decode.commandsPerToken } : null,
      torch: peers,
    };
  }
  const k = parts.kernels?.ok ? parts.kernels.result : null;
  const kernels = k
    ? {
        peakGflops: k.peakGflops,
        matmul: k.matmul.map((m) => ({ shape: `${m.m}x${m.n}x${m.k}`, variant: m.variant, gflops: m.gflops, ofH200F16Peak: m.gflops / 1000 / H200_PEAK_TFLOPS.f16Dense })),
        attentionBwdOverFwd: k.attention.map((x) => ({ model: x.model, variant: x.variant, T: x.T, bwdOverFwd: x.bwdOverFwd, bwdRateOverFwd: x.bwdRateOverFwd })),
      }
    : null;
  return { adapter: parts.adapter?.ok ? parts.adapter.adapter.description.name : null, kernels, training, failed: Object.values(parts).filter((p) => !p.ok).map((p) => p.id) };
}

async function main() {
  const a = parseArgs(process.argv.slice(2));
  const t0 = Date.now();
  const manifestFile = join(a.kit, 'manifest.json');
  const doc = {
    kind: 'whetstone-gpu-kit',
    kit: existsSync(manifestFile) ? JSON.parse(readFileSync(manifestFile, 'utf8')) : null,
    startedAt: new Date().toISOString(),
    dryRun: a.dryRun,
    budgetS: a.budgetS,
    machine: machine(),
    parts: {},
    summary: null,
    complete: false,
    seconds: 0,
  };
  const parts = plan(a).filter((p) => !a.only || a.only.some((o) => p.id.startsWith(o)));
  if (parts.some((p) => p.kind === 'torch')) {
    const py = findTorchPython();
    Object.assign(a, { python: py.python, pythonTried: py.tried });
    doc.machine.python = py;
  }
  writeJson(a.out, doc);
  console.log(`gpu-kit: ${parts.length} parts, budget ${a.budgetS} s, writing ${a.out}`);
  for (const part of parts) {
    const left = a.budgetS - (Date.now() - t0) / 1000;
    if (left < 10) {
      doc.parts[part.id] = { id: part.id, ok: false, error: `not run: ${left.toFixed(0)} s of the ${a.budgetS} s budget left`, limitS: part.limitS, seconds: 0 };
      continue;
    }
    const limitS = Math.min(part.limitS, Math.floor(left));
    console.log(`\n== ${part.id} (at most ${limitS} s)`);
    doc.parts[part.id] = await runPart(part, a, limitS);
    const r = doc.parts[part.id];
    console.log(`== ${part.id}: ${r.ok ? 'ok' : `FAILED: ${r.error.split('\n')[0]}`} (${r.seconds.toFixed(1)} s)`);
    doc.summary = summarize(doc.parts);
    doc.seconds = (Date.now() - t0) / 1000;
    writeJson(a.out, doc);
  }
  doc.summary = summarize(doc.parts);
  doc.complete = parts.every((p) => doc.parts[p.id]?.ok);
  doc.seconds = (Date.now() - t0) / 1000;
  writeJson(a.out, doc);
  console.log(`\ngpu-kit: ${doc.complete ? 'all parts ok' : `failed: ${doc.summary.failed.join(', ')}`}; ${doc.seconds.toFixed(0)} s; wrote ${a.out}`);
  console.log(JSON.stringify(doc.summary, null, 1));
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((e) => {
    console.error(`gpu-kit: ${e.message ?? e}`);
    process.exit(1);
  });
}
