// config.json -> ModelConfig: the architecture module named by `architectures` (or model_type)
// parses it, the shared size and head checks follow, and the module is attached as the config's
// checkpoint format.
import { CONFIG_LIMITS, type ModelConfig } from '../io/hfConfig';
import { describeJson } from '../io/describeJson';
import { CHECK, fail } from './parse';
import { archForHfName, archForModelType, archOf, ARCHITECTURES, supportedHfArchitectures } from './registry';
import type { Json } from './types';

/** The `architectures` entries we support, and the module id each becomes. */
export const SUPPORTED_ARCHITECTURES: Readonly<Record<string, string>> = Object.freeze(
  Object.fromEntries(ARCHITECTURES.flatMap((a) => a.hfArchitectures.map((n) => [n, a.id]))),
);

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
  const config: ModelConfig = { ...cfg, architecture: arch.id, hfArchitecture, format: arch };
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

