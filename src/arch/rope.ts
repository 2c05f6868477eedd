// RoPE settings of a config.json: rope_theta and the rope_scaling (or transformers 5
// rope_parameters) entry, validated into a RopeScaling the model applies. Supported: default,
// linear, dynamic (NTK) and llama3, with the keys and semantics of HF's modeling_rope_utils; any
// other rope_type (yarn, longrope, ntk, ...) is refused by name: ignoring it would silently
// compute another model. The frequencies themselves: src/model/ropeFrequencies.ts.
import { describeJson } from '../io/describeJson';
import { CHECK, fail, posNumber } from './parse';
import type { Json, RopeScaling } from './types';

export const SUPPORTED_ROPE_TYPES = ['default', 'linear', 'dynamic', 'llama3'] as const;

function num(raw: Json, file: string, key: string): number {
  const v = raw[key];
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
    fail(file, `rope_scaling "${key}" must be a positive number for rope_type "${String(raw.rope_type ?? raw.type)}", got ${describeJson(v)}`, CHECK);
  }
  return v;
}

/** theta, the raw scaling object (null for plain RoPE) and its parsed form. */
export function ropeSettings(c: Json, file: string, maxPositions: number): { theta: number; raw: Json | null; scaling: RopeScaling } {
  // transformers 5 moved rope_theta into rope_parameters; older configs have rope_theta and
  // rope_scaling at the top level.
  const params = c.rope_parameters;
  const p = params && typeof params === 'object' && !Array.isArray(params) ? (params as Json) : null;
  const theta = posNumber({ rope_theta: c.rope_theta ?? p?.rope_theta }, file, 'rope_theta', 10000);
  const rawAny = c.rope_scaling ?? p;
  if (rawAny === null || rawAny === undefined) return { theta, raw: null, scaling: { type: 'default' } };
  if (typeof rawAny !== 'object' || Array.isArray(rawAny)) fail(file, `"rope_scaling" must be an object or null, got ${describeJson(rawAny)}`, CHECK);
  const raw = rawAny as Json;
  const type = raw.rope_type ?? raw.type;
  if (type === undefined || type === 'default') return { theta, raw: null, scaling: { type: 'default' } };
  const copy = { ...raw };
  switch (type) {
    case 'linear':
      return { theta, raw: copy, scaling: { type: 'linear', factor: num(raw, file, 'factor') } };
    case 'dynamic':
      return { theta, raw: copy, scaling: { type: 'dynamic', factor: num(raw, file, 'factor'), maxPositions } };
    case 'llama3': {
      const lowFreqFactor = num(raw, file, 'low_freq_factor');
      const highFreqFactor = num(raw, file, 'high_freq_factor');
      if (!(highFreqFactor > lowFreqFactor)) {
        fail(file, `rope_scaling "high_freq_factor" (${highFreqFactor}) must be greater than "low_freq_factor" (${lowFreqFactor}) for rope_type "llama3"`, CHECK);
      }
      const original = raw.original_max_position_embeddings;
      if (typeof original !== 'number' || !Number.isSafeInteger(original) || original <= 0) {
        fail(file, `rope_scaling "original_max_position_embeddings" must be a positive integer for rope_type "llama3", got ${describeJson(original)}`, CHECK);
      }
      return { theta, raw: copy, scaling: { type: 'llama3', factor: num(raw, file, 'factor'), lowFreqFactor, highFreqFactor, originalMaxPositions: original } };
    }
    default:
      fail(
        file,
        `rope_scaling asks for rope_type ${describeJson(type)}, which Whetstone does not implement (it applies ${SUPPORTED_ROPE_TYPES.join(', ')}); ignoring it would compute a different model`,
        'Use a checkpoint whose config.json has no such rope_scaling entry (for example the original config of a model a YaRN entry was added to for long contexts).',
      );
  }
}
