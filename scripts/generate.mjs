// npm run generate -- --model <dir|demo> --prompt "..." --max-tokens N [--greedy] [--adapter <dir>]
//   [--temperature T] [--top-k K] [--top-p P] [--seed S] [--chat] [--profile DIR] [--verbose]
// Runs the studio's engine worker in headless Chromium and streams the generated text to stdout
// (progress and messages go to stderr).
import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import { choiceFlag, cleanMessage, EXIT, EXIT_CODES_HELP, numberFlag, parseCli, Progress, reportError, UsageError } from './lib/cli.mjs';

const OPTIONS = {
  model: { type: 'string', default: 'demo' },
  quantize: { type: 'string', default: 'none' },
  prompt: { type: 'string', default: 'Once upon a time' },
  'max-tokens': { type: 'string', default: '64' },
  greedy: { type: 'boolean', default: false },
  adapter: { type: 'string' },
  temperature: { type: 'string', default: '0.8' },
  'top-k': { type: 'string', default: '40' },
  'top-p': { type: 'string', default: '0.95' },
  seed: { type: 'string', default: '0' },
  chat: { type: 'boolean', default: false },
  profile: { type: 'string' },
  verbose: { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
};
const HELP = `usage: npm run generate -- --model <dir|demo> --prompt "..." --max-tokens N [--greedy] [--adapter <dir>]
  [--temperature 0.8] [--top-k 40] [--top-p 0.95] [--seed 0] [--chat] [--profile DIR] [--verbose]
  --model         a Hugging Face model folder, a GGUF model file (FILE.gguf) or demo
  --adapter DIR   a PEFT adapter folder (adapter_config.json + adapter_model.safetensors)
  --quantize none|int8|int4   quantize the base's linear layers at load (default none: fp16)
The text goes to stdout, progress and messages to stderr.
${EXIT_CODES_HELP}`;

const progress = new Progress();

async function main() {
  const values = parseCli(OPTIONS);
  if (values.help) {
    process.stdout.write(`${HELP}\n`);
    return;
  }
  const sampling = {
    maxTokens: numberFlag(values, 'max-tokens', { integer: true, min: 1 }),
    temperature: numberFlag(values, 'temperature', { min: 0 }),
    topK: numberFlag(values, 'top-k', { integer: true, min: 0 }),
    topP: numberFlag(values, 'top-p', { min: 0 }),
    seed: numberFlag(values, 'seed', { integer: true }),
    greedy: values.greedy,
  };
  const quantize = choiceFlag(values, 'quantize', ['none', 'int8', 'int4']);
  const folder = (dir, flag) => {
    const abs = resolve(dir);
    if (!existsSync(abs) || !statSync(abs).isDirectory()) throw new UsageError(`--${flag} ${dir}: no such folder.`);
    return abs;
  };
  const ggufFile = /\.gguf$/i.test(values.model) && existsSync(resolve(values.model)) && statSync(resolve(values.model)).isFile() ? resolve(values.model) : null;
  const modelDir = values.model === 'demo' || ggufFile ? null : folder(values.model, 'model');
  const adapterDir = values.adapter ? folder(values.adapter, 'adapter') : null;
  if (values.model === 'demo' && !existsSync('public/models/stories260K/config.json')) {
    const r = spawnSync(process.execPath, ['scripts/demo-model.mjs'], { stdio: ['ignore', 'inherit', 'inherit'] });
    if (r.status !== 0) throw new Error('could not build the demo model (npm run demo-model)');
  }

  // loaded only now: Vite and Playwright take a while to import, and a usage error should not wait
  const { startBrowserEngine } = await import('./lib/browserEngine.mjs');
  const host = await startBrowserEngine({ profile: values.profile, quiet: !values.verbose });
  try {
    const { page } = host;
    const files = (abs) => readdirSync(abs).filter((f) => statSync(join(abs, f)).isFile()).map((f) => ({ name: f, url: host.serveFile(join(abs, f)) }));
    const modelFiles = ggufFile
      ? { name: basename(ggufFile).replace(/\.gguf$/i, ''), files: [{ name: basename(ggufFile), url: host.serveFile(ggufFile) }] }
      : modelDir
        ? { name: basename(modelDir), files: files(modelDir) }
        : null;
    const adapterFiles = adapterDir ? files(adapterDir).filter((f) => /^adapter_(model\.safetensors|config\.json)$/.test(f.name)) : null;
    await page.exposeFunction('cliToken', (text) => process.stdout.write(text));
    await page.exposeFunction('cliLoad', (p) => {
      // a download under 1 MiB (config and tokenizer files, the demo model) is over before a line would help
    if (p.phase === 'tokenizer' || p.phase === 'done' || !p.bytesTotal || (p.phase === 'download' && p.bytesTotal < 2 ** 20)) return;
      progress.update(p.phase === 'download' ? 'download model' : 'load weights', p.bytesDone / p.bytesTotal, `${(p.bytesDone / 2 ** 20).toFixed(1)}/${(p.bytesTotal / 2 ** 20).toFixed(1)} MiB`);
    });
    const status = await page.evaluate(() => window.whetstoneCli.engine.init());
    if (status.state !== 'ready') throw Object.assign(new Error(`no WebGPU adapter: ${status.error}`), { exitCode: EXIT.NO_GPU });
    progress.log(`GPU: ${status.adapter.name}${status.adapter.isSoftware ? ' (software adapter)' : ''}`);
    const asInput = (p) => p.catch((e) => Promise.reject(Object.assign(new Error(cleanMessage(e)), { exitCode: EXIT.USAGE, stack: e.stack })));
    const info = await asInput(
      page.evaluate(async ([mf, q]) => {
        const cli = window.whetstoneCli;
        const onProgress = cli.proxy((p) => window.cliLoad(p));
        if (!mf) return cli.engine.loadModel({ kind: 'demo' }, onProgress, { quantize: q });
        return cli.engine.loadModel({ kind: 'files', name: mf.name, files: await Promise.all(mf.files.map((f) => cli.fileFromUrl(f.url, f.name))) }, onProgress, { quantize: q });
      }, [modelFiles, quantize]),
    );
    progress.close('download model', 'load weights');
    progress.log(`model: ${info.name} (${info.hfArchitecture}, ${(info.parameterCount / 1e6).toFixed(2)}M parameters${info.quantization && info.quantization !== 'none' ? `, base ${info.quantization}` : ''})`);
    if (adapterFiles) {
      const a = await asInput(
        page.evaluate(async (af) => {
          const cli = window.whetstoneCli;
          return cli.engine.importAdapter(await Promise.all(af.map((f) => cli.fileFromUrl(f.url, f.name))));
        }, adapterFiles),
      );
      progress.log(a.method === 'prompt' ? `adapter: prompt tuning, ${a.numVirtualTokens} virtual tokens` : `adapter: LoRA r=${a.rank} alpha=${a.alpha} on ${a.targetModules.join(', ')}`);
    }
    const req = { prompt: values.prompt, chat: values.chat, useAdapter: !!adapterFiles, sampling };
    process.stdout.write(values.prompt);
    await page.evaluate(async (r) => {
      const cli = window.whetstoneCli;
      let printed = 0;
      await cli.engine.generate(
        r,
        cli.proxy({
          onToken(text) {
            window.cliToken(text.slice(printed));
            printed = text.length;
          },
        }),
      );
    }, req);
    process.stdout.write('\n');
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
