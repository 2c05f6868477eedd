#!/usr/bin/env node
// `npm run hf-stack`: a Python virtual environment, .hf-venv/ (git-ignored), with the Hugging Face
// stack Whetstone's exports are checked against by the tests: transformers + peft + accelerate on a
// CPU build of PyTorch. The tests run the real consumers there (the cluster recipe's train.py under
// accelerate / torchrun, PEFT loading our adapter files); .ci/run calls this before `npm test`.
//
// Versions are pinned (what the checks were written against). Where pip is configured with local
// package indexes (file:// URLs, e.g. an offline mirror), those are used as the only indexes, so no
// network is tried; otherwise PyPI, with PyTorch's CPU wheels from download.pytorch.org.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..');
const VENV = join(ROOT, '.hf-venv');
const PY = join(VENV, 'bin', 'python');
const HF_STACK = { torch: '2.13.0', transformers: '5.18.0', peft: '0.21.0', accelerate: '1.15.0', safetensors: '0.8.0' };

function installed() {
  if (!existsSync(PY)) return false;
  const probe = spawnSync(PY, ['-c', `import importlib.metadata as m, json; print(json.dumps({k: m.version(k) for k in ${JSON.stringify(Object.keys(HF_STACK))}}))`], { encoding: 'utf8' });
  if (probe.status !== 0) return false;
  const have = JSON.parse(probe.stdout);
  return Object.entries(HF_STACK).every(([k, v]) => String(have[k]).split('+')[0] === v);
}

function localIndexes() {
  const r = spawnSync('python3', ['-m', 'pip', 'config', 'list'], { encoding: 'utf8' });
  if (r.status !== 0) return [];
  const urls = [];
  for (const line of r.stdout.split('\n')) {
    const m = /^(?:global|install)\.(?:extra-)?index-url='(.*)'$/.exec(line.trim());
    if (m) urls.push(...m[1].split(/\s+/).filter((u) => u.startsWith('file://')));
  }
  return urls;
}

if (installed()) {
  console.log(`[hf-stack] ${VENV} has ${Object.entries(HF_STACK).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  process.exit(0);
}
const t0 = Date.now();
if (!existsSync(PY)) execFileSync('python3', ['-m', 'venv', VENV], { stdio: 'inherit' });
const local = localIndexes();
const indexArgs = local.length
  ? ['--index-url', local[0], ...local.slice(1).flatMap((u) => ['--extra-index-url', u])]
  : ['--extra-index-url', 'https://download.pytorch.org/whl/cpu'];
console.log(`[hf-stack] installing into ${VENV} from ${local.length ? local.join(', ') : 'PyPI (+ PyTorch CPU wheels)'}`);
const pins = Object.entries(HF_STACK).map(([k, v]) => (k === 'torch' && !local.length ? `torch==${v}+cpu` : `${k}==${v}`));
const pip = spawnSync(PY, ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', ...indexArgs, ...pins], { stdio: ['ignore', 'inherit', 'pipe'], encoding: 'utf8' });
// pip warns once per package an extra local index lacks ("... is ignored: it is neither a file nor a directory")
process.stderr.write(pip.stderr.split('\n').filter((l) => l && !/is ignored: it is neither a file nor a directory/.test(l)).map((l) => `${l}\n`).join(''));
if (pip.status !== 0 || !installed()) {
  console.error(`[hf-stack] could not install ${pins.join(' ')} into ${VENV} (pip exit ${pip.status}). The tests that run the Hugging Face stack need it: check pip's network or index, then run \`npm run hf-stack\` again.`);
  process.exit(1);
}
console.log(`[hf-stack] installed ${pins.join(', ')} in ${Math.round((Date.now() - t0) / 1000)} s`);
