// Builds the demo model (stories260K from llama2.c, MIT) as a Hugging Face checkpoint:
// config.json, model.safetensors (F32, exact), tokenizer.json, tokenizer_config.json,
// generation_config.json. Plain Node (no TypeScript loader), so `npm run demo-model` works
// on a fresh clone.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { llama2cToHf, parseLlama2c } from '../../src/io/llama2c.js';
import { writeSafetensors } from '../../src/io/safetensorsWriter.js';
import { llama2cTokenizerConfig, llama2cTokenizerJson, parseLlama2cTokenizer } from '../../src/io/tok512.js';

const here = dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = resolve(here, '../..');
export const DEFAULT_OUT = join(REPO_ROOT, 'public/models/stories260K');
export const SHARED_SOURCE = resolve(REPO_ROOT, '../shared/models/stories260K');
export const DEFAULT_BASE_URL = 'https://huggingface.co/karpathy/tinyllamas/resolve/main/stories260K';

/** The canonical files and their sha256 (shared/models/stories260K/SOURCE.md). */
export const INPUTS = Object.freeze({
  'stories260K.bin': 'b0a507e7ad0f626624f17112325e66691f9076d622e1d3274d103d00299f2696',
  'tok512.bin': '037cb335abb25d1fa9e8ecae30ed2a3a8ace9302862ebcdc05d51a6bbb10c312',
});

export const OUTPUTS = Object.freeze(['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'generation_config.json', 'SOURCE.md']);
export const STAMP = '.demo-model-stamp.json';

/** Source files whose change must rebuild the outputs. */
const CONVERTER_FILES = [
  join(here, 'demoModel.mjs'),
  join(REPO_ROOT, 'src/io/llama2c.js'),
  join(REPO_ROOT, 'src/io/tok512.js'),
  join(REPO_ROOT, 'src/io/safetensorsWriter.js'),
];

/** @param {Uint8Array | string} data */
export function sha256(data) {
  return createHash('sha256').update(data).digest('hex');
}

function converterHash() {
  const h = createHash('sha256');
  for (const f of CONVERTER_FILES) h.update(readFileSync(f));
  return h.digest('hex');
}

/**
 * @param {string} name
 * @param {Uint8Array} bytes
 * @param {string} from
 */
function checkSha(name, bytes, from) {
  const want = INPUTS[/** @type {keyof typeof INPUTS} */ (name)];
  const got = sha256(bytes);
  if (got !== want) {
    throw new Error(
      `demo-model: sha256 mismatch for ${name} from ${from}\n  expected ${want}\n  got      ${got}\n` +
        'The file is corrupt or not the canonical one. Delete it (or fix --source / --base-url) and run again.',
    );
  }
}

/**
 * @param {string} url
 * @returns {Promise<Uint8Array>}
 */
async function download(url) {
  let res;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(120_000), redirect: 'follow' });
  } catch (e) {
    throw new Error(`demo-model: could not download ${url}: ${/** @type {Error} */ (e).message}. Check the network, or pass --source DIR with the files.`);
  }
  if (!res.ok) throw new Error(`demo-model: downloading ${url} failed with HTTP ${res.status}. Pass --source DIR with the files instead.`);
  return new Uint8Array(await res.arrayBuffer());
}

/**
 * Reads or downloads both inputs and checks their sha256.
 * @param {{ source?: string, download?: boolean, baseUrl?: string, log: (s: string) => void }} o
 * @returns {Promise<Record<string, Uint8Array>>}
 */
async function fetchInputs(o) {
  const local = o.source ?? (!o.download && Object.keys(INPUTS).every((n) => existsSync(join(SHARED_SOURCE, n))) ? SHARED_SOURCE : undefined);
  /** @type {Record<string, Uint8Array>} */
  const files = {};
  for (const name of Object.keys(INPUTS)) {
    if (local !== undefined) {
      const path = join(local, name);
      if (!existsSync(path)) throw new Error(`demo-model: ${path} does not exist. Pass --source DIR holding ${Object.keys(INPUTS).join(' and ')}.`);
      files[name] = new Uint8Array(readFileSync(path));
      checkSha(name, files[name], path);
      o.log(`read ${path} (sha256 ok)`);
    } else {
      const url = `${(o.baseUrl ?? DEFAULT_BASE_URL).replace(/\/$/, '')}/${name}`;
      files[name] = await download(url);
      checkSha(name, files[name], url);
      o.log(`downloaded ${url} (${files[name].length} bytes, sha256 ok)`);
    }
  }
  return files;
}

/**
 * The output files for the two inputs (pure: no I/O).
 * @param {Uint8Array} modelBin
 * @param {Uint8Array} tokBin
 * @returns {Record<string, Uint8Array>}
 */
export function convertStories260K(modelBin, tokBin) {
  const ckpt = parseLlama2c(modelBin, 'stories260K.bin');
  const { config, tensors } = llama2cToHf(ckpt);
  const tok = parseLlama2cTokenizer(tokBin, ckpt.header.vocabSize, 'tok512.bin');
  const json = (/** @type {unknown} */ v) => new TextEncoder().encode(JSON.stringify(v, null, 2) + '\n');
  return {
    'config.json': json(config),
    'model.safetensors': writeSafetensors(
      tensors.map((t) => ({ name: t.name, dtype: /** @type {const} */ ('F32'), shape: t.shape, data: t.data })),
      { format: 'pt', source: 'karpathy/tinyllamas stories260K (llama2.c), converted by Whetstone scripts/demo-model.mjs' },
    ),
    'tokenizer.json': json(llama2cTokenizerJson(tok, 'tok512.bin')),
    'tokenizer_config.json': json(llama2cTokenizerConfig(ckpt.header.seqLen)),
    'generation_config.json': json({ bos_token_id: 1, eos_token_id: 2, max_length: ckpt.header.seqLen }),
    'SOURCE.md': new TextEncoder().encode(
      '# stories260K\n\nAndrej Karpathy\'s stories260K (llama2.c "tinyllamas", trained on TinyStories), MIT license.\n' +
        `Source: ${DEFAULT_BASE_URL}/{stories260K.bin,tok512.bin}\n` +
        'Converted to the Hugging Face Llama layout (q/k rows permuted for rotate_half RoPE) by scripts/demo-model.mjs.\n',
    ),
  };
}

/**
 * @param {string} out
 * @param {string} converter
 * @returns {boolean}
 */
function isCurrent(out, converter) {
  try {
    const stamp = JSON.parse(readFileSync(join(out, STAMP), 'utf8'));
    if (stamp.converter !== converter || JSON.stringify(stamp.inputs) !== JSON.stringify(INPUTS)) return false;
    return OUTPUTS.every((f) => stamp.outputs?.[f] === sha256(readFileSync(join(out, f))));
  } catch {
    return false;
  }
}

/**
 * Builds the demo model into `out` unless it is already there and current.
 * @param {{ out?: string, source?: string, download?: boolean, baseUrl?: string, force?: boolean, log?: (s: string) => void }} [options]
 * @returns {Promise<{ out: string, built: boolean }>}
 */
export async function buildDemoModel(options = {}) {
  const log = options.log ?? ((s) => console.log(s));
  const out = resolve(options.out ?? DEFAULT_OUT);
  const shown = relative(process.cwd(), out) || '.';
  const converter = converterHash();
  if (!options.force && isCurrent(out, converter)) {
    log(`demo-model: ${shown} is up to date (delete ${STAMP} or pass --force to rebuild)`);
    return { out, built: false };
  }
  const inputs = await fetchInputs({ ...options, log: (s) => log(`demo-model: ${s}`) });
  const files = convertStories260K(inputs['stories260K.bin'], inputs['tok512.bin']);
  mkdirSync(out, { recursive: true });
  /** @type {Record<string, string>} */
  const outputs = {};
  for (const [name, bytes] of Object.entries(files)) {
    // write then rename, so an interrupted run never leaves a half-written file behind
    writeFileSync(join(out, `${name}.tmp`), bytes);
    renameSync(join(out, `${name}.tmp`), join(out, name));
    outputs[name] = sha256(bytes);
    log(`demo-model: wrote ${join(shown, name)} (${bytes.length} bytes)`);
  }
  writeFileSync(join(out, STAMP), JSON.stringify({ converter, inputs: INPUTS, outputs }, null, 2) + '\n');
  return { out, built: true };
}
