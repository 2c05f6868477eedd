// Hugging Face config.json -> one normalized ModelConfig for the architectures we can train,
// plus the tensor names and shapes each architecture's checkpoint must contain. What is specific
// to an architecture lives in its module under src/arch (asked through the registry).
import { archForHfName, archForModelType, archOf, ARCHITECTURES, supportedHfArchitectures } from '../arch/registry';
import { CHECK, fail } from '../arch/parse';
import type { ExpectedTensor, Json, ModelConfig } from '../arch/types';
import { describeJson } from './describeJson';

export { HfConfigError, type Architecture, type ExpectedTensor, type ModelConfig, type RopeScaling } from '../arch/types';

/** The `architectures` entries we support, and the module id each becomes. */
export const SUPPORTED_ARCHITECTURES: Readonly<Record<string, string>> = Object.freeze(
  Object.fromEntries(ARCHITECTURES.flatMap((a) => a.hfArchitectures.map((n) => [n, a.id]))),
);

/** Sizes beyond these are not a model a browser tab can hold; refusing them early keeps the loader bounded. */
export const CONFIG_LIMITS = { layers: 1024, hidden: 65536, intermediate: 262144, vocab: 4194304, positions: 1048576, heads: 1024 };

function pickArchitecture(c: Json, file: string): string {
  const supported = supportedHfArchitectures().join(', ');
  const archs = c.architectures;
  if (archs === undefined || archs === null) {
    // configs written by hand or by old tools sometimes carry only model_type
    const byType = typeof c.model_type === 'string' ? archForModelType(c.model_type) : undefined;
    if (byType) return byType.hfArchitectures[0];
    fail(file, `has no "architectures" list${c.model_type !== undefined ? ` and an unsupported model_type ${describeJson(c.model_type)}` : ''}`, `Supported architectures: ${supported}.`);
  }
  if (!Array.isArray(archs) || archs.length === 0 || typeof archs[0] !== 'string') {
    fail(file, `"architectures" must be a non-empty list of names, got ${describeJson(archs)}`, `Supported architectures: ${supported}.`);
  }
  const name = archs[0];
  if (!archForHfName(name)) {
    fail(file, `architecture "${name}" is not supported`, `Supported architectures: ${supported}. Pick a model with one of these.`);
  }
  return name;
}

/**
 * Parses config.json (text or already-parsed object). `fileName` names it in errors.
 * Missing optional keys take the defaults of the transformers config classes; the core sizes
 * must be present.
 */
export function parseHfConfig(json: string | unknown, fileName = 'config.json'): ModelConfig {
  let parsed: unknown = json;
  if (typeof json === 'string') {
    try {
      parsed = JSON.parse(json);
    } catch (e) {
      fail(fileName, `is not valid JSON (${(e as Error).message})`, 'Download config.json again.');
    }
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    fail(fileName, 'must be a JSON object', 'Download config.json again.');
  }
  const c = parsed as Json;
  const hfArchitecture = pickArchitecture(c, fileName);
  const arch = archForHfName(hfArchitecture)!;
  const { config: cfg, explicitHeadDim } = arch.parseConfig(c, fileName);
  const config: ModelConfig = { ...cfg, architecture: arch.id, hfArchitecture };
  checkHeads(config, fileName, explicitHeadDim);
  return config;
}

function checkHeads(c: ModelConfig, file: string, explicitHeadDim: boolean): void {
  const k = archOf(c).configKeys;
  const limits: [string, number, number][] = [
    [k.layers, c.numLayers, CONFIG_LIMITS.layers],
    [k.hidden, c.hiddenSize, CONFIG_LIMITS.hidden],
    [k.intermediate, c.intermediateSize, CONFIG_LIMITS.intermediate],
    ['vocab_size', c.vocabSize, CONFIG_LIMITS.vocab],
    [k.positions, c.maxPositions, CONFIG_LIMITS.positions],
    [k.heads, c.numHeads, CONFIG_LIMITS.heads],
  ];
  for (const [key, value, max] of limits) {
    if (value > max) fail(file, `${key} ${value} is larger than any model Whetstone can load (at most ${max})`, CHECK);
  }
  if (!explicitHeadDim && c.hiddenSize % c.numHeads !== 0) {
    fail(file, `${k.hidden} ${c.hiddenSize} is not divisible by ${k.heads} ${c.numHeads}`, CHECK);
  }
  if (c.numHeads % c.numKvHeads !== 0) {
    fail(file, `${k.heads} ${c.numHeads} is not divisible by ${k.kvHeads} ${c.numKvHeads} (grouped-query attention needs whole groups)`, CHECK);
  }
  if (c.positions === 'rope' && c.headDim % 2 !== 0) {
    fail(file, `head size ${c.headDim} is odd; rotary embeddings rotate pairs and need an even head size`, CHECK);
  }
  for (const [key, id] of [['bos_token_id', c.bosTokenId], ['pad_token_id', c.padTokenId], ...c.eosTokenIds.map((e) => ['eos_token_id', e] as const)] as const) {
    if (id !== null && id >= c.vocabSize) {
      fail(file, `${key} ${id} is outside the vocabulary (vocab_size ${c.vocabSize})`, CHECK);
    }
  }
}

// ---- expected checkpoint tensors ----

/** Tensor names and shapes the checkpoint of `config` must contain, in model order. */
export function expectedTensors(config: ModelConfig): ExpectedTensor[] {
  return archOf(config).expectedTensors(config);
}

/** Tensors a checkpoint may contain that we do not need (buffers, a redundant tied head). */
function ignorable(config: ModelConfig, name: string): boolean {
  return archOf(config).ignorableTensor?.(config, name) ?? false;
}

export interface TensorMatch {
  /** canonical name -> the name as it appears in the checkpoint */
  names: Map<string, string>;
  missing: ExpectedTensor[];
  wrongShape: { name: string; expected: number[]; actual: number[] }[];
  /** checkpoint tensors that are neither expected nor known to be ignorable */
  unexpected: string[];
}

/**
 * Matches the tensors of a checkpoint (all shards together) to expectedTensors(config).
 * A checkpoint may store a tensor under an alias its architecture accepts (GPT2Model's names
 * without "transformer.").
 */
export function matchTensors(config: ModelConfig, available: Iterable<{ name: string; shape: readonly number[] }>): TensorMatch {
  const have = new Map<string, readonly number[]>();
  for (const t of available) have.set(t.name, t.shape);
  const names = new Map<string, string>();
  const missing: ExpectedTensor[] = [];
  const wrongShape: TensorMatch['wrongShape'] = [];
  const used = new Set<string>();
  const arch = archOf(config);
  for (const e of arch.expectedTensors(config)) {
    const candidates = [e.name, ...(arch.checkpointAliases?.(e.name) ?? [])];
    const actual = candidates.find((n) => have.has(n));
    if (actual === undefined) {
      missing.push(e);
      continue;
    }
    used.add(actual);
    names.set(e.name, actual);
    const shape = have.get(actual)!;
    if (shape.length !== e.shape.length || shape.some((d, i) => d !== e.shape[i])) {
      wrongShape.push({ name: actual, expected: e.shape, actual: [...shape] });
    }
  }
  const unexpected = [...have.keys()].filter((n) => !used.has(n) && !ignorable(config, n));
  return { names, missing, wrongShape, unexpected };
}

/**
 * Like matchTensors, but throws one HfConfigError that lists (the first few) missing and
 * mis-shaped tensors. Unexpected extra tensors are allowed (returned in the match).
 */
export function checkTensors(
  config: ModelConfig,
  available: Iterable<{ name: string; shape: readonly number[] }>,
  fileName = 'model.safetensors',
): TensorMatch {
  const m = matchTensors(config, available);
  const problems: string[] = [];
  const list = <T>(xs: T[], f: (x: T) => string) => xs.slice(0, 5).map(f).join(', ') + (xs.length > 5 ? `, and ${xs.length - 5} more` : '');
  if (m.missing.length > 0) problems.push(`${m.missing.length} tensor(s) missing: ${list(m.missing, (e) => e.name)}`);
  if (m.wrongShape.length > 0) {
    problems.push(`${m.wrongShape.length} tensor(s) with the wrong shape: ${list(m.wrongShape, (w) => `${w.name} is [${w.actual}] but config.json implies [${w.expected}]`)}`);
  }
  if (problems.length > 0) {
    fail(fileName, `does not match config.json (${config.hfArchitecture}): ${problems.join('; ')}`, 'Make sure the weights and config.json come from the same model (and that all shards are selected).');
  }
  return m;
}
