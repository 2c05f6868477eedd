// `npm run bench` (= node bench/run-all.mjs): the kernel benchmark (the `bench:kernels` npm script,
// else bench/run-kernels.mjs; skipped with a note when neither exists), then the training
// benchmark (bench/run-training.mjs), then ONE combined table against the performance targets,
// written with everything measured to bench/results/latest.json.
//
// The whole run is meant to finish within --budget-minutes (default 15) on a 2-core machine
// without a GPU: the kernel bench gets at most --kernel-minutes (default 8) and is stopped after
// that (the table then says so and uses no kernel figures); the training bench cuts its measured
// steps to the time left and says so in the table.
// Options: --quick (both benches' small configs; results go to the temp dir), --skip-kernels,
// --no-torch, --timing auto|timestamp|wall, --budget-minutes M, --kernel-minutes M.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runTrainingBench, writeJson } from './run-training.mjs';
import { buildLatest, formatCombinedTable } from './trainingReport.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

function parseArgs(argv) {
  const a = { quick: false, skipKernels: false, torch: true, timing: 'auto', budgetMinutes: 15, kernelMinutes: 8 };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    if (k === '--quick') a.quick = true;
    else if (k === '--skip-kernels') a.skipKernels = true;
    else if (k === '--no-torch') a.torch = false;
    else if (k === '--timing') a.timing = argv[++i];
    else if (k === '--budget-minutes') a.budgetMinutes = Number(argv[++i]);
    else if (k === '--kernel-minutes') a.kernelMinutes = Number(argv[++i]);
    else throw new Error(`unknown option ${k}; see the header of bench/run-all.mjs`);
  }
  return a;
}

/** How to start the colleague's kernel bench, or null when it does not exist yet. */
function kernelCommand(quick) {
  const extra = quick ? ['--quick'] : [];
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  if (pkg.scripts?.['bench:kernels']) return { cmd: 'npm', args: ['run', '--silent', 'bench:kernels', ...(extra.length ? ['--', ...extra] : [])], shown: 'npm run bench:kernels' };
  if (existsSync(join(root, 'bench', 'run-kernels.mjs'))) return { cmd: process.execPath, args: [join(root, 'bench', 'run-kernels.mjs'), ...extra], shown: 'node bench/run-kernels.mjs' };
  return null;
}

/**
 * Run a command, echoing its output; stop it (its whole process group) after timeoutMs. Returns
 * the last "wrote <file>.json" path it printed (where the kernel bench put its results).
 */
function runWithTimeout(cmd, args, timeoutMs) {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'], detached: true });
    let timedOut = false;
    let tail = '';
    let wrote = null;
    p.stdout.on('data', (d) => {
      process.stdout.write(d);
      tail = (tail + d).slice(-4096);
      for (const m of tail.matchAll(/wrote (\S+\.json)/g)) wrote = m[1];
    });
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-p.pid, 'SIGTERM');
      } catch {
        /* already gone */
      }
    }, timeoutMs);
    p.on('error', (e) => {
      clearTimeout(timer);
      resolve({ code: -1, timedOut, wrote, error: e.message });
    });
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, timedOut, wrote });
    });
  });
}

function gitCommit() {
  try {
    return execFileSync('git', ['rev-parse', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim();
  } catch {
    return null;
  }
}

/** Tracked files that differ from the commit (the bench runs the working tree, not the commit). */
function gitChangedFiles() {
  try {
    return execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: root, encoding: 'utf8' }).split('\n').filter(Boolean).length;
  } catch {
    return null;
  }
}

async function main() {
  const a = parseArgs(process.argv.slice(2));
  const t0 = Date.now();
  const deadline = t0 + a.budgetMinutes * 60_000 - 20_000; // printing and teardown
  const resultsDir = join(root, 'bench', 'results');

  let kernels = null;
  let kernelsNote = null;
  let kernelsFile = join(resultsDir, 'kernels.json');
  const kc = a.skipKernels ? null : kernelCommand(a.quick);
  if (a.skipKernels) kernelsNote = 'kernel bench skipped (--skip-kernels)';
  else if (!kc) {
    console.log('kernel bench not available');
    kernelsNote = 'kernel bench not available';
  } else {
    console.log(`== kernel bench: ${kc.shown} (at most ${a.kernelMinutes} min)`);
    const r = await runWithTimeout(kc.cmd, kc.args, a.kernelMinutes * 60_000);
    if (r.wrote) kernelsFile = r.wrote;
    if (r.timedOut) kernelsNote = `kernel bench stopped after ${a.kernelMinutes} min (the time budget)`;
    else if (r.code !== 0) kernelsNote = `kernel bench failed (exit ${r.code}${r.error ? `: ${r.error}` : ''})`;
    // only this run's results count as this run's figures
    if (existsSync(kernelsFile) && statSync(kernelsFile).mtimeMs >= t0) kernels = JSON.parse(readFileSync(kernelsFile, 'utf8'));
    else kernelsNote = `${kernelsNote ?? 'kernel bench wrote no results'}; no kernel figures from this run`;
  }
  console.log(`== training bench (${((deadline - Date.now()) / 60_000).toFixed(1)} min left)`);
  let training = null;
  try {
    // the FMA peak of this run's kernel bench, else the training bench measures its own
    training = await runTrainingBench({ quick: a.quick, torch: a.torch, timing: a.timing, deadline, kernelsFile: kernels ? kernelsFile : null });
  } catch (e) {
    console.error(`training bench failed: ${e.stack ?? e}`);
  }
  const inputs = { kernels, kernelsNote, training, commit: gitCommit(), date: new Date().toISOString() };
  const changed = gitChangedFiles();
  console.log(`\n${formatCombinedTable(inputs)}\n`);
  if (changed) console.log(`(measured on the working tree: ${changed} tracked file(s) differ from commit ${inputs.commit?.slice(0, 10)})\n`);
  // --quick only checks the runners: its results go to the temp dir, not over the real ones
  const file = a.quick ? join(tmpdir(), 'whetstone-latest-quick.json') : join(resultsDir, 'latest.json');
  writeJson(file, { ...buildLatest(inputs), uncommittedTrackedFiles: changed });
  console.log(`wrote ${file} (${((Date.now() - t0) / 1000).toFixed(0)} s in all)`);
  if (!training || training.cases.some((c) => c.error)) process.exitCode = 1;
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
