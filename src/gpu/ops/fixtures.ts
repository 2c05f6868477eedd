// Typed loader for the PyTorch oracle fixtures in ./fixtures/*.json (written by
// reference/ops_fixtures.py, committed so CI needs no PyTorch). Node-only (reads files with fs):
// import it from tests, never from code that ships to the browser.
//
// Every tensor is a flat row-major array (last index fastest) in the layouts of
// /work/notes/layouts.md; `shapes` gives each tensor field's shape. Float values are f32 values
// written with the fewest digits that round-trip, so Float32Array.from(field) (or Math.fround)
// recovers them exactly; base weights W are written as their exact fp16 values (upload them with
// packF16). Integer tensors (docIds, positions, labels) are plain integers. Gradients are for the stored upstream
// gradient (dout / dy / dh / dloss).

import { readFileSync } from 'node:fs';

export const FIXTURE_NAMES = [
  'attention_gqa',
  'rope',
  'rmsnorm',
  'layernorm',
  'cross_entropy',
  'lora_linear',
  'swiglu',
  'gelu_new',
  'adamw',
  'attention_window',
  'rope_partial',
  'rmsnorm_offset',
  'geglu_tanh',
] as const;

export type FixtureName = (typeof FIXTURE_NAMES)[number];

/** One fixture file: a few cases of one op. */
export interface FixtureFile<C extends FixtureCase> {
  op: FixtureName;
  generator: string;
  notes: string;
  cases: C[];
}

export interface FixtureCase {
  name: string;
  config: object;
  /** Shape of every tensor field of the case (AdamW: of every per-step tensor too). */
  shapes: Record<string, number[]>;
}

// ---------------------------------------------------------------- attention_gqa

export interface AttentionConfig {
  B: number;
  T: number;
  Hq: number;
  Hkv: number;
  D: number;
  causal: true;
  /** 1/sqrt(D) */
  scale: number;
  /** true when docIds is present */
  packed: boolean;
}

/** Cases: gqa_causal (B2 T7 Hq4 Hkv2 D8), packed_docs (B1 T9, docIds), single_token (B2 T1). */
export interface AttentionCase extends FixtureCase {
  config: AttentionConfig;
  /** (B,T,Hq,D) */ q: number[];
  /** (B,T,Hkv,D) */ k: number[];
  /** (B,T,Hkv,D) */ v: number[];
  /** (B*T) int; only in packed cases */ docIds?: number[];
  /** (B,T,Hq,D) */ out: number[];
  /** (B,Hq,T) natural logsumexp of the scaled, masked scores */ lse: number[];
  /** (B,T,Hq,D) upstream gradient */ dout: number[];
  /** (B,Hq,T) sum over d of dout*out (FlashAttention-2 backward pre-pass) */ delta: number[];
  /** (B,T,Hq,D) */ dq: number[];
  /** (B,T,Hkv,D) */ dk: number[];
  /** (B,T,Hkv,D) */ dv: number[];
}
export type AttentionFixture = FixtureFile<AttentionCase>;

// ---------------------------------------------------------------- attention_window

export interface AttentionWindowConfig {
  B: number;
  T: number;
  Hq: number;
  Hkv: number;
  D: number;
  /** token i sees j iff i - window < j <= i (Hugging Face sliding_window_overlay) */
  window: number;
  scale: number;
  packed: boolean;
}

/** Cases: window3_gqa, window2_packed_docs_scale (docIds, scale 0.25), window1_self_only. Tensors as AttentionCase. */
export interface AttentionWindowCase extends Omit<AttentionCase, 'config'> {
  config: AttentionWindowConfig;
}
export type AttentionWindowFixture = FixtureFile<AttentionWindowCase>;

// ---------------------------------------------------------------- rope

export interface RopeConfig {
  B: number;
  T: number;
  H: number;
  D: number;
  theta: number;
}

/** Cases: offset (positions 3..7), packed_restart (positions 0,1,2,0,1). */
export interface RopeCase extends FixtureCase {
  config: RopeConfig;
  /** (B,T,H,D) */ x: number[];
  /** (B*T) int */ positions: number[];
  /** (B,T,H,D) */ y: number[];
  /** (B,T,H,D) upstream gradient */ dy: number[];
  /** (B,T,H,D) */ dx: number[];
}
export type RopeFixture = FixtureFile<RopeCase>;

/** Partial rotary (Phi-3): the first rotaryDim of D dims rotated, inv_freq over rotaryDim. Tensors as RopeCase. */
export interface RopePartialCase extends Omit<RopeCase, 'config'> {
  config: RopeConfig & { rotaryDim: number };
}
export type RopePartialFixture = FixtureFile<RopePartialCase>;

// ---------------------------------------------------------------- rmsnorm / layernorm

export interface NormConfig {
  N: number;
  C: number;
  eps: number;
}

export interface RmsNormCase extends FixtureCase {
  config: NormConfig;
  /** (N,C) */ x: number[];
  /** (C) */ w: number[];
  /** (N,C) */ y: number[];
  /** (N) 1/sqrt(mean(x^2)+eps) */ rstd: number[];
  /** (N,C) upstream gradient */ dy: number[];
  /** (N,C) */ dx: number[];
  /** (C) */ dw: number[];
}
export type RmsNormFixture = FixtureFile<RmsNormCase>;
/** Gemma: y = x·rstd·(1 + w); same fields as RmsNormCase. */
export type RmsNormOffsetFixture = FixtureFile<RmsNormCase>;

export interface LayerNormCase extends FixtureCase {
  config: NormConfig;
  /** (N,C) */ x: number[];
  /** (C) */ w: number[];
  /** (C) */ b: number[];
  /** (N,C) */ y: number[];
  /** (N) */ mean: number[];
  /** (N) 1/sqrt(biased var + eps) */ rstd: number[];
  /** (N,C) upstream gradient */ dy: number[];
  /** (N,C) */ dx: number[];
  /** (C) */ dw: number[];
  /** (C) */ db: number[];
}
export type LayerNormFixture = FixtureFile<LayerNormCase>;

// ---------------------------------------------------------------- cross_entropy

export interface CrossEntropyConfig {
  N: number;
  V: number;
  ignoreIndex: -100;
  labelSmoothing: number;
  reduction: 'mean';
  /** rows whose label is not ignoreIndex (the mean's denominator) */
  numCounted: number;
}

/** Cases: no_smoothing, smoothing_0.1 (same labels, two of them -100). */
export interface CrossEntropyCase extends FixtureCase {
  config: CrossEntropyConfig;
  /** (N,V) */ logits: number[];
  /** (N) int, -100 = ignored */ labels: number[];
  /** (N) logsumexp of each row */ lse: number[];
  /** (N) per-token loss, 0 where ignored */ rowLoss: number[];
  /** scalar: mean over counted tokens */ loss: number;
  /** scalar upstream gradient of loss */ dloss: number;
  /** (N,V); ignored rows are 0 */ dlogits: number[];
}
export type CrossEntropyFixture = FixtureFile<CrossEntropyCase>;

// ---------------------------------------------------------------- lora_linear

export interface LoraLinearConfig {
  N: number;
  IN: number;
  OUT: number;
  r: number;
  alpha: number;
  rslora: boolean;
  /** alpha/r, or alpha/sqrt(r) when rslora */
  scale: number;
  hasBias: boolean;
  dropout: 0;
}

/** Cases: bias, no_bias, rslora (with bias). W and bias are frozen: no dW, no dbias. */
export interface LoraLinearCase extends FixtureCase {
  config: LoraLinearConfig;
  /** (N,IN) */ x: number[];
  /** (OUT,IN) exact fp16 values */ W: number[];
  /** (OUT); only when hasBias */ bias?: number[];
  /** (r,IN) */ A: number[];
  /** (OUT,r) */ B: number[];
  /** (N,OUT) */ y: number[];
  /** (N,OUT) upstream gradient */ dy: number[];
  /** (N,IN) */ dx: number[];
  /** (r,IN) */ dA: number[];
  /** (OUT,r) */ dB: number[];
}
export type LoraLinearFixture = FixtureFile<LoraLinearCase>;

// ---------------------------------------------------------------- swiglu / gelu_new

export interface ActivationConfig {
  N: number;
  F: number;
}

export interface SwigluCase extends FixtureCase {
  config: ActivationConfig;
  /** (N,F) */ gate: number[];
  /** (N,F) */ up: number[];
  /** (N,F) silu(gate)*up */ h: number[];
  /** (N,F) upstream gradient */ dh: number[];
  /** (N,F) */ dgate: number[];
  /** (N,F) */ dup: number[];
}
export type SwigluFixture = FixtureFile<SwigluCase>;
/** GeGLU (Gemma): h = gelu_tanh(gate)·up; same fields as SwigluCase. */
export type GegluFixture = FixtureFile<SwigluCase>;

export interface GeluNewCase extends FixtureCase {
  config: ActivationConfig;
  /** (N,F) */ x: number[];
  /** (N,F) */ y: number[];
  /** (N,F) upstream gradient */ dy: number[];
  /** (N,F) */ dx: number[];
}
export type GeluNewFixture = FixtureFile<GeluNewCase>;

// ---------------------------------------------------------------- adamw

export interface AdamWConfig {
  shape: number[];
  numel: number;
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  numSteps: number;
}

export interface AdamWStep {
  /** 1-based optimizer step t (bias corrections use t) */
  step: number;
  /** gradient applied at this step */ grad: number[];
  /** state after this step */ param: number[];
  exp_avg: number[];
  exp_avg_sq: number[];
}

/** Case three_steps: from param0 with zero state; steps[0] is the one-step result. */
export interface AdamWCase extends FixtureCase {
  config: AdamWConfig;
  param0: number[];
  steps: AdamWStep[];
}
export type AdamWFixture = FixtureFile<AdamWCase>;

// ---------------------------------------------------------------- loader

const REGENERATE = 'regenerate with `/usr/bin/python3 reference/ops_fixtures.py` (see reference/README.md)';

/**
 * Parse src/gpu/ops/fixtures/<name>.json. Checks that every tensor field has the length its
 * recorded shape implies, so a truncated or hand-edited file fails here rather than as a
 * confusing kernel mismatch. Usage: `loadFixture<RopeFixture>('rope').cases[0].x`.
 */
export function loadFixture<T>(name: FixtureName): T {
  if (!(FIXTURE_NAMES as readonly string[]).includes(name)) {
    throw new Error(`unknown fixture "${name}"; known: ${FIXTURE_NAMES.join(', ')}`);
  }
  const url = new URL(`./fixtures/${name}.json`, import.meta.url);
  let text: string;
  try {
    text = readFileSync(url, 'utf8');
  } catch (e) {
    throw new Error(`cannot read fixture ${url.pathname}: ${(e as Error).message}; ${REGENERATE}`);
  }
  const doc = JSON.parse(text) as FixtureFile<FixtureCase>;
  if (doc.op !== name || !Array.isArray(doc.cases) || doc.cases.length === 0) {
    throw new Error(`fixture ${name}.json has op "${doc.op}" and ${doc.cases?.length} cases; ${REGENERATE}`);
  }
  for (const c of doc.cases) {
    checkShapes(`${name}/${c.name}`, c as unknown as Record<string, unknown>, c.shapes);
    // AdamW keeps one record per optimizer step; its tensors share the case's shapes
    const steps = (c as unknown as { steps?: unknown }).steps;
    if (Array.isArray(steps)) {
      steps.forEach((s, i) => checkShapes(`${name}/${c.name}/steps[${i}]`, s, c.shapes));
    }
  }
  return doc as T;
}

function checkShapes(where: string, record: Record<string, unknown>, shapes: Record<string, number[]>) {
  for (const [key, value] of Object.entries(record)) {
    if (!Array.isArray(value) || key === 'cases' || key === 'steps') continue;
    const shape = shapes[key];
    if (!shape) throw new Error(`fixture ${where}: tensor "${key}" has no entry in shapes; ${REGENERATE}`);
    const want = shape.reduce((a, b) => a * b, 1);
    if (value.length !== want || !value.every((x) => typeof x === 'number' && Number.isFinite(x))) {
      throw new Error(
        `fixture ${where}: "${key}" should hold ${want} finite numbers (shape [${shape}]) but has ` +
          `${value.length} entries; ${REGENERATE}`,
      );
    }
  }
}
