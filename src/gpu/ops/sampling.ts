// Next-token selection for generation (shaders/sampling.wgsl): greedy argmax, or temperature +
// top-k + top-p sampling with a uniform random number supplied by the CPU, so a seeded CPU
// generator makes runs reproducible. Everything, sorting-free top-k/top-p included, runs on the
// GPU; only the 4-byte token id comes back.
//   logits is (N, V) f32, row-major; `row` picks the row to sample from (default N-1, the last
//   position; for a batch of B sequences of length T, row b·T + T-1).
//   The result tensor is (2) i32: [token id, number of candidate tokens].
import type { GpuContext } from '../device';
import { dispatch } from '../dispatch';
import type { WgslSource } from '../shader';
import samplingCode from '../shaders/sampling.wgsl?raw';
import { emptyTensor, readBuffer, releaseTensor, STORAGE_USAGE, type Tensor } from '../tensor';

export const SAMPLING_SHADER: WgslSource = { file: 'sampling.wgsl', code: samplingCode };
const ARGMAX_WG = 256;

/** Sampling kernels: v1 finds the top-k/top-p cuts by binary search, v2 by radix select. */
export const SAMPLE_VARIANTS: Record<string, { entryPoint: string; wg: number }> = {
  // v2 keeps 17 values per thread in workgroup memory: 128 threads stay under 16 KiB
  v1: { entryPoint: 'sample_v1', wg: 256 },
  v2: { entryPoint: 'sample_v2', wg: 128 },
};
export const DEFAULT_SAMPLE_VARIANT = 'v2';

export interface SamplingParams {
  /** 0 (or below 1e-5): greedy argmax; otherwise logits are divided by it */
  temperature: number;
  /** keep the k most likely tokens (ties at the k-th kept); 0 or undefined: off */
  topK?: number;
  /** keep the smallest most-likely set with this much probability; 1 or undefined: off */
  topP?: number;
  /** a uniform random number in [0, 1) from the caller's seeded generator (ignored when greedy) */
  uniform: number;
}

/** Below this temperature sampling is greedy (as Hugging Face's do_sample=False). */
export const GREEDY_BELOW_TEMPERATURE = 1e-5;

function checkLogits(op: string, logits: Tensor, row: number | undefined): { N: number; V: number; row: number } {
  if (logits.dtype !== 'f32' || logits.shape.length !== 2) {
    throw new Error(`${op}: logits must be a rank-2 f32 tensor (N, V), got ${logits.dtype} [${logits.shape.join(',')}] (${logits.label})`);
  }
  const [N, V] = logits.shape;
  if (V === 0 || N === 0) throw new Error(`${op}: logits [${N},${V}] (${logits.label}) are empty`);
  const r = row ?? N - 1;
  if (!Number.isInteger(r) || r < 0 || r >= N) throw new Error(`${op}: row ${r} is outside the ${N} rows of ${logits.label}`);
  return { N, V, row: r };
}

function tokenTensor(ctx: GpuContext, out: Tensor | undefined, op: string): Tensor {
  if (!out) return emptyTensor(ctx, 'i32', [2], 'sampled token');
  if (out.dtype !== 'i32' || out.shape.length !== 1 || out.shape[0] !== 2) {
    throw new Error(`${op}: out must be an i32 tensor of shape [2], got ${out.dtype} [${out.shape.join(',')}] (${out.label})`);
  }
  return out;
}

/** Greedy decoding: out[0] = argmax of logits[row] (first index on ties, NaN never chosen). */
export async function argmaxToken(ctx: GpuContext, logits: Tensor, opts: { row?: number; out?: Tensor } = {}): Promise<Tensor> {
  const { V, row } = checkLogits('argmaxToken', logits, opts.row);
  const out = tokenTensor(ctx, opts.out, 'argmaxToken');
  const pipeline = await ctx.pipelines.get({ shader: SAMPLING_SHADER, entryPoint: 'argmax_v1', constants: { WG: ARGMAX_WG } });
  dispatch(ctx, {
    pipeline,
    bindings: [logits, out],
    uniforms: new Uint32Array([V, row, 0, 0, 0, 0, 0, 0]),
    workgroups: [1],
    label: `argmax row ${row} of ${V}`,
  });
  return out;
}

/**
 * Temperature, top-k, top-p, then one draw with params.uniform. Returns the (2) i32 result and
 * the (V) f32 scratch (pass opts.scratch / opts.out to reuse them across generated tokens).
 */
export async function sampleToken(
  ctx: GpuContext,
  logits: Tensor,
  params: SamplingParams,
  opts: { row?: number; out?: Tensor; scratch?: Tensor; variant?: string } = {},
): Promise<{ token: Tensor; scratch: Tensor }> {
  const op = 'sampleToken';
  const { V, row } = checkLogits(op, logits, opts.row);
  const { temperature, uniform } = params;
  if (!(temperature >= GREEDY_BELOW_TEMPERATURE) || !Number.isFinite(temperature)) {
    throw new Error(`${op}: temperature ${temperature} is not a positive finite number (use argmaxToken for greedy decoding)`);
  }
  if (!(uniform >= 0 && uniform < 1)) throw new Error(`${op}: uniform must be in [0, 1), got ${uniform}`);
  const topK = params.topK ?? 0;
  if (!Number.isInteger(topK) || topK < 0) throw new Error(`${op}: topK must be a non-negative integer, got ${topK}`);
  const topP = params.topP ?? 1;
  if (!(topP > 0 && topP <= 1)) throw new Error(`${op}: topP must be in (0, 1], got ${topP}`);
  const out = tokenTensor(ctx, opts.out, op);
  const scratch = opts.scratch ?? emptyTensor(ctx, 'f32', [V], 'sampling scratch');
  if (scratch.dtype !== 'f32' || scratch.shape.reduce((a, b) => a * b, 1) < V) {
    throw new Error(`${op}: scratch must be an f32 tensor of at least V = ${V} values, got ${scratch.dtype} [${scratch.shape.join(',')}]`);
  }
  const raw = new ArrayBuffer(32);
  const u = new Uint32Array(raw);
  const f = new Float32Array(raw);
  u[0] = V;
  u[1] = row;
  u[2] = topK >= V ? 0 : topK;
  u[3] = topP < 1 ? 1 : 0;
  f[4] = topP;
  f[5] = 1 / temperature;
  // an f32 draw of u < 1 may round up to 1.0; the kernel then takes the last candidate
  f[6] = uniform;
  const variantName = opts.variant ?? DEFAULT_SAMPLE_VARIANT;
  const variant = SAMPLE_VARIANTS[variantName];
  if (!variant) throw new Error(`${op}: unknown variant '${variantName}' (have ${Object.keys(SAMPLE_VARIANTS).join(', ')})`);
  const pipeline = await ctx.pipelines.get({ shader: SAMPLING_SHADER, entryPoint: variant.entryPoint, constants: { WG: variant.wg } });
  dispatch(ctx, {
    pipeline,
    bindings: [logits, out, scratch],
    uniforms: u,
    workgroups: [1],
    label: `sample ${variantName} row ${row} of ${V}`,
  });
  return { token: out, scratch };
}

/** Read the token id (4 bytes; submits pending work). -1 means no token had a finite logit. */
export async function readToken(ctx: GpuContext, token: Tensor): Promise<number> {
  return new Int32Array(await readBuffer(ctx, token.buffer, 4))[0];
}

/** Read [token id, number of candidate tokens]. */
export async function readTokenAndCandidates(ctx: GpuContext, token: Tensor): Promise<[number, number]> {
  const w = new Int32Array(await readBuffer(ctx, token.buffer, 8));
  return [w[0], w[1]];
}

/**
 * One generation step's choice: greedy when temperature < GREEDY_BELOW_TEMPERATURE, sampled
 * otherwise. Records, submits, and reads back the token id.
 */
export async function nextToken(ctx: GpuContext, logits: Tensor, params: SamplingParams, row?: number): Promise<number> {
  let token: Tensor;
  let scratch: Tensor | null = null;
  if (params.temperature < GREEDY_BELOW_TEMPERATURE) {
    token = await argmaxToken(ctx, logits, { row });
  } else {
    ({ token, scratch } = await sampleToken(ctx, logits, params, { row }));
  }
  const id = await readToken(ctx, token);
  releaseTensor(ctx, token);
  if (scratch) releaseTensor(ctx, scratch);
  if (id < 0) throw new Error(`nextToken: no token of row ${row ?? logits.shape[0] - 1} has a finite logit (all -inf or NaN)`);
  return id;
}

/** Copy logits[row] (e.g. the last position) into a (V) f32 tensor, for CPU-side inspection. */
export function copyLogitsRow(ctx: GpuContext, logits: Tensor, row?: number, out?: Tensor): Tensor {
  const { V, row: r } = checkLogits('copyLogitsRow', logits, row);
  const dst = out ?? emptyTensor(ctx, 'f32', [V], `logits row ${r}`);
  if (dst.buffer.size < V * 4 || (dst.buffer.usage & STORAGE_USAGE) !== STORAGE_USAGE) {
    throw new Error(`copyLogitsRow: out (${dst.label}) must be a storage tensor of at least ${V} f32 values`);
  }
  ctx.encoder().copyBufferToBuffer(logits.buffer, r * V * 4, dst.buffer, 0, V * 4);
  return dst;
}
