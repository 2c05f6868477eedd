// (IA)³'s kernels (shaders/ia3.wgsl): a learned vector l (K) scaling the columns of an (N, K)
// activation, and the vector's gradient. How a linear uses them (model/ia3.ts):
//   output scaling (k_proj, v_proj):  z = x·Wᵀ + b,  y = l ⊙ z;   dz = l ⊙ dy,  dl += Σ_n dy ⊙ z
//   input scaling (down_proj):        y = (l ⊙ x)·Wᵀ + b;          g = dy·W,  dx = l ⊙ g,  dl += Σ_n g ⊙ x
//   ia3Scale(x, l)        x (N, K) -> out (N, K) = x ⊙ l per column (or out += x ⊙ l with accumulate)
//   ia3ColumnDot(a, b)    a, b (N, K) -> dl (K) += Σ_n a ⊙ b (fixed summation order: deterministic)
// Ops only record into ctx.encoder(); callers flush.
import type { GpuContext } from '../device';
import { dispatch, grid1d } from '../dispatch';
import type { WgslSource } from '../shader';
import ia3Code from '../shaders/ia3.wgsl?raw';
import { emptyTensor, type Tensor } from '../tensor';

export const IA3_SHADER: WgslSource = { file: 'ia3.wgsl', code: ia3Code, fragments: [] };
const WG = 64;

function expect2d(op: string, t: Tensor, what: string, rows: number | null, cols: number | null): [number, number] {
  if (t.dtype !== 'f32' || t.shape.length !== 2) throw new Error(`${op}: ${what} (${t.label}) must be a rank-2 f32 tensor, got ${t.dtype} [${t.shape.join(',')}]`);
  const [r, c] = t.shape;
  if ((rows !== null && r !== rows) || (cols !== null && c !== cols)) {
    throw new Error(`${op}: ${what} (${t.label}) is [${r},${c}] but [${rows ?? '*'},${cols ?? '*'}] is expected from the other tensors`);
  }
  return [r, c];
}

function expectVector(op: string, t: Tensor, what: string, n: number) {
  if (t.dtype !== 'f32' || t.shape.length !== 1 || t.shape[0] !== n) {
    throw new Error(`${op}: ${what} (${t.label}) must be f32 [${n}], got ${t.dtype} [${t.shape.join(',')}]`);
  }
}

async function run(ctx: GpuContext, entryPoint: string, bindings: Tensor[], threads: number, p: { k: number; n: number; accumulate: boolean }, label: string) {
  const pipeline = await ctx.pipelines.get({ shader: IA3_SHADER, entryPoint, constants: { WG } });
  const [gx, gy] = grid1d(ctx, Math.max(1, Math.ceil(threads / WG)));
  const uniforms = new Uint32Array([p.k, p.n, p.accumulate ? 1 : 0, gx * WG]);
  dispatch(ctx, { pipeline, bindings, uniforms, workgroups: [gx, gy], label });
}

/** out (N, K) = x ⊙ l per column, or out += x ⊙ l with accumulate; out must not share x's buffer. */
export async function ia3Scale(ctx: GpuContext, x: Tensor, l: Tensor, opts: { out?: Tensor; accumulate?: boolean } = {}): Promise<Tensor> {
  const op = 'ia3Scale';
  const [N, K] = expect2d(op, x, 'x', null, null);
  expectVector(op, l, 'l', K);
  const out = opts.out ?? emptyTensor(ctx, 'f32', [N, K], 'ia3 scaled');
  expect2d(op, out, 'out', N, K);
  if (out.buffer === x.buffer) throw new Error(`${op}: out must not share x's buffer`);
  if (N * K > 0) await run(ctx, 'ia3_scale_v1', [x, l, out], N * K, { k: K, n: N * K, accumulate: !!opts.accumulate }, `ia3_scale ${N}x${K}`);
  return out;
}

/** dl (K) += Σ_n a_nj · b_nj for a, b (N, K). */
export async function ia3ColumnDot(ctx: GpuContext, a: Tensor, b: Tensor, dl: Tensor): Promise<void> {
  const op = 'ia3ColumnDot';
  const [N, K] = expect2d(op, a, 'a', null, null);
  expect2d(op, b, 'b', N, K);
  expectVector(op, dl, 'dl', K);
  if (K > 0) await run(ctx, 'ia3_col_dot_v1', [a, b, dl], K, { k: K, n: N, accumulate: false }, `ia3_col_dot ${N}x${K}`);
}
