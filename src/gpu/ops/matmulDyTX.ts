// dW = alpha · dyᵀ · x (+ dW if accumulate): the weight gradient of y = x·Wᵀ.
//   dy (M, N) f32, or (B, M, N) batched
//   x  (M, K) f32, or (B, M, K) batched (a rank-2 input is shared by every batch entry)
//   dW (N, K) f32 (nn.Linear layout), or (B, N, K) when either input is batched
// To sum a batch into one dW, flatten it into rows (M = B·T) instead of batching.
// `accumulate` adds into `out` (gradient accumulation across micro-batches, LoRA dA / dB).
// Kernels: shaders/matmul_dytx.wgsl and matmul_dytx_sg.wgsl; variants as for matmulXWt
// (matmulVariants.ts); vec4 versions need N % 4 == 0 and K % 4 == 0.
import type { GpuContext } from '../device';
import { dispatch } from '../dispatch';
import { DYTX_SHADERS } from './matmulShaders';
import { emptyTensor, type Tensor } from '../tensor';
import { problemOf, type MatmulShapeClass } from './matmulRegistry';
import { trustedVariant, type TrustRunner } from './matmulTrust';
import {
  checkOut,
  commonBatch,
  matDims,
  matmulParams,
  pipelineSpecFor,
  variantOf,
  workgroupsFor,
  type MatmulOptions,
} from './matmulVariants';


const OP = 'matmulDyTX';

/** How matmulTrust.ts runs a variant of this op on its validation problem. */
export const trustRunDyTX: TrustRunner = (ctx, variant, t) => matmulDyTX(ctx, t.a, t.b, { variant, out: t.out, accumulate: true, alpha: t.alpha });

export async function matmulDyTX(ctx: GpuContext, dy: Tensor, x: Tensor, opts: MatmulOptions = {}): Promise<Tensor> {
  const dd = matDims(OP, dy, 'dy', ['f32']);
  const xd = matDims(OP, x, 'x', ['f32']);
  const [M, N, K] = [dd.rows, dd.cols, xd.cols];
  if (xd.rows !== M) throw new Error(`${OP}: dy is [${dy.shape.join(',')}] but x is [${x.shape.join(',')}]: they must have the same rows`);
  const batch = commonBatch(OP, dd, 'dy', xd, 'x');
  if (opts.accumulate && !opts.out) throw new Error(`${OP}: accumulate needs an out tensor to accumulate into`);
  const outShape = dd.rank === 3 || xd.rank === 3 ? [batch, N, K] : [N, K];
  if (opts.out) checkOut(OP, opts.out, outShape, [['dy', dy], ['x', x]]);

  const shape: MatmulShapeClass = { op: 'dytx', m: M, n: N, k: K, batch };
  const name = await trustedVariant(ctx, shape, trustRunDyTX, opts.variant, OP);
  const v = variantOf(name);
  const dw = opts.out ?? emptyTensor(ctx, 'f32', outShape, 'matmul dW');
  const pipeline = await ctx.pipelines.get(pipelineSpecFor(v, 'matmul_dytx', DYTX_SHADERS, {}));
  dispatch(ctx, {
    pipeline,
    bindings: [dy, x, dw],
    uniforms: matmulParams([M, N, K], opts.accumulate ? 2 : 0, opts.alpha ?? 1, [
      dd.rank === 3 ? M * N : 0,
      xd.rank === 3 ? M * K : 0,
      N * K,
    ]),
    workgroups: workgroupsFor(v, problemOf(shape)),
    label: `${OP} ${name} ${batch > 1 ? `${batch}x` : ''}${M}x${N}x${K}`,
  });
  return dw;
}
