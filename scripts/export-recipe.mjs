// npm run export-recipe -- --from OUT --out DIR [--start initial|checkpoint] [--repo-id ID] [--profile DIR]
// Writes the cluster recipe of an `npm run finetune` run (OUT is its output folder): train.py
// (transformers + peft + accelerate), job.json, the trainer's batches as JSONL, the first adapter
// as a PEFT folder, accelerate configs, README and an Axolotl YAML (see src/train/recipe/). It
// loads the run's model and data again (metrics.json's source) in the same headless engine as
// `npm run finetune`, and exports the run from its profile (its kept dataset and losses); when the
// profile no longer has the run, the job's settings with the data loaded again (no studio losses).
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { choiceFlag, EXIT, EXIT_CODES_HELP, parseCli, Progress, reportError, UsageError } from './lib/cli.mjs';

const OPTIONS = {
  from: { type: 'string' },
  out: { type: 'string' },
  start: { type: 'string' },
  'repo-id': { type: 'string' },
  profile: { type: 'string' },
  verbose: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
};

const HELP = `usage: npm run export-recipe -- --from OUT --out DIR [options]
  --from OUT              an npm run finetune output folder (its metrics.json names the run, model and data)
  --out DIR               where the recipe folder goes (created; files in it are replaced)
  --start initial|checkpoint   start from the run's first adapter (default: the cluster run repeats the
                          studio's from step 0) or from its last checkpoint (adapter + AdamW moments)
  --repo-id ID            the base model's Hugging Face repo id (the studio knows none for a folder or the demo)
  --profile DIR           the CLI profile the run is in (default: the one metrics.json names)
  --verbose               stack traces with errors
Then on the cluster: accelerate launch --config_file accelerate_config.yaml train.py --out out (see DIR/README.md).
${EXIT_CODES_HELP}`;

const progress = new Progress();
const log = (m) => progress.log(m);

function readMetrics(from) {
  const dir = resolve(from);
  const path = join(dir, 'metrics.json');
  if (!existsSync(path)) throw new UsageError(`--from ${from}: no metrics.json there. Pass the --out folder of an npm run finetune run.`);
  let m;
  try {
    m = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new UsageError(`${path} is not valid JSON (${e.message}).`);
  }
  if (!m.config || !m.run?.id) throw new UsageError(`${path} is not the metrics.json of a finished npm run finetune run (it has no run or config).`);
  if ((m.config.method ?? 'lora') !== 'lora') throw new UsageError(`the run in ${from} is ${m.config.method === 'prompt' ? 'prompt tuning' : 'full fine-tuning'}: only LoRA runs are exported for a cluster.`);
  if (!m.source?.model || !m.source?.data) {
    throw new UsageError(`${path} does not say which model and data the run used (written by an older npm run finetune): run it again with this version.`);
  }
  return m;
}

function modelFiles(host, model) {
  if (model === 'demo') return null;
  if (!existsSync(model) || !statSync(model).isDirectory()) throw new UsageError(`the run's model folder ${model} is gone: the recipe needs the same model loaded again.`);
  return { name: basename(model), files: readdirSync(model).filter((f) => statSync(join(model, f)).isFile()).map((f) => ({ name: f, url: host.serveFile(join(model, f)) })) };
}

function dataFile(data) {
  const path = data === 'demo' ? resolve('public/datasets/sample.jsonl') : data;
  if (!existsSync(path)) throw new UsageError(`the run's dataset ${path} is gone: the recipe needs it (its raw rows are copied into data/raw/).`);
  return path;
}

function writeRecipe(outDir, files) {
  mkdirSync(outDir, { recursive: true });
  const root = resolve(outDir);
  for (const f of files) {
    const target = resolve(root, f.name);
    // the engine names files inside the folder; anything else is a bug, never written
    if (!target.startsWith(root + sep)) throw new Error(`refusing to write ${f.name} outside ${root}`);
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, Buffer.from(f.base64, 'base64'));
  }
}

async function main() {
  const given = parseCli(OPTIONS);
  if (given.help) {
    process.stdout.write(`${HELP}\n`);
    return;
  }
  if (!given.from) throw new UsageError('--from OUT is required: the --out folder of an npm run finetune run.');
  if (!given.out) throw new UsageError('--out DIR is required: where the recipe folder goes.');
  const start = given.start === undefined ? 'initial' : choiceFlag(given, 'start', ['initial', 'checkpoint']);
  const metrics = readMetrics(given.from);
  const { model, data, trainOn } = metrics.source;
  const rawPath = dataFile(data);
  if (model === 'demo' && !existsSync('public/models/stories260K/config.json')) throw new UsageError('the demo model is not built here: run npm run demo-model first.');

  const { startBrowserEngine } = await import('./lib/browserEngine.mjs');
  const host = await startBrowserEngine({ profile: given.profile ?? metrics.run.profile, quiet: !given.verbose });
  try {
    const { page } = host;
    const status = await page.evaluate(() => window.whetstoneCli.engine.init());
    if (status.state !== 'ready') throw Object.assign(new Error(`no WebGPU adapter: ${status.error}`), { exitCode: EXIT.NO_GPU });
    log('loading the model');
    const mf = modelFiles(host, model);
    // loaded as the run had it (metrics.json's model: its load-time quantization), so it is the run's model
    const quantize = metrics.model?.quantization ?? 'none';
    await page.evaluate(async ([mf, quantize]) => {
      const cli = window.whetstoneCli;
      if (!mf) return cli.engine.loadModel({ kind: 'demo' }, undefined, { quantize });
      return cli.engine.loadModel({ kind: 'files', name: mf.name, files: await Promise.all(mf.files.map((f) => cli.fileFromUrl(f.url, f.name))) }, undefined, { quantize });
    }, [mf, quantize]);
    const runs = await page.evaluate(() => window.whetstoneCli.engine.listRuns());
    const run = runs.find((r) => r.id === metrics.run.id);
    if (!run) log(`warning: run ${metrics.run.id} is not in the profile ${host.profile} any more: exporting its settings with the data loaded again (no studio losses to compare with${start === 'checkpoint' ? ', and no checkpoint: starting from the first adapter' : ''})`);
    log('reading the data');
    const raw = { name: basename(rawPath), url: host.serveFile(rawPath) };
    const c = metrics.config;
    const files = await page.evaluate(
      async ({ raw, c, trainOn, runId, start, repoId }) => {
        const cli = window.whetstoneCli;
        const file = await cli.fileFromUrl(raw.url, raw.name);
        await cli.engine.loadDataset({ kind: 'file', file }, { maxSeqLen: c.seqLen, trainOn, onBadRow: 'skip', validationFraction: c.validationFraction, seed: c.seed });
        const req = runId ? { runId, start, raw: file, trainOn, repoId } : { config: c, raw: file, trainOn, repoId };
        return cli.encodeFiles(await cli.engine.exportRecipe(req));
      },
      { raw, c, trainOn: trainOn ?? 'completions', runId: run?.id ?? null, start, repoId: given['repo-id'] },
    );
    writeRecipe(given.out, files);
    log(`wrote ${files.length} files to ${resolve(given.out)}: ${files.map((f) => f.name).filter((n) => !n.includes('/')).join(', ')}, data/, initial_adapter/`);
    log(`next: cd ${given.out} && accelerate launch --config_file accelerate_config.yaml train.py --out out (README.md has the details)`);
  } finally {
    progress.end();
    await host.close();
  }
}

try {
  await main();
} catch (e) {
  reportError(e, { verbose: process.argv.includes('--verbose'), progress });
}
