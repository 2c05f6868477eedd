// dx = alpha · dy · W (+ dx if accumulate): the input gradient of y = x·Wᵀ.
//   dy (M, N) f32, or (B, M, N) batched
//   W  (N, K) fp16 packed (base weights) or f32 (LoRA, attention), Hugging Face nn.Linear layout;
//      or (B, N, K) with one matrix per batch entry (a rank-2 W is shared by all)
//   dx (M, K) f32, or (B, M, K) when either input is batched
// `accumulate` adds into `out`, so the base path, the LoRA path and residual branches can sum into
// one gradient buffer. Kernels: shaders/matmul_dyw.wgsl and matmul_dyw_sg.wgsl; variants as for
// matmulXWt (matmulVariants.ts); vec4 versions need N % 4 == 0 and K % 4 == 0.
import type { GpuContext } from '../device';
import { dispatch } from '../dispatch';
import { weightRead } from './matmulShaders';
import { isQuantized } from './quantWeights';
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


const OP = 'matmulDyW';

/** How matmulTrust.ts runs a variant of this op on its validation problem. */
export const trustRunDyW: TrustRunner = (ctx, variant, t) => matmulDyW(ctx, t.a, t.b, { variant, out: t.out, accumulate: true, alpha: t.alpha });

export async function matmulDyW(ctx: GpuContext, dy: Tensor, w: Tensor, opts: MatmulOptions = {}): Promise<Tensor> {
  const dd = matDims(OP, dy, 'dy', ['f32']);
  const quant = isQuantized(w);
  const wd = matDims(OP, w, 'W', quant ? ['u32'] : ['f16', 'f32']);
  if (quant && wd.rank !== 2) throw new Error(`${OP}: a quantized W is one (N, K) matrix, got [${w.shape.join(',')}] (${w.label})`);
  const [M, N, K] = [dd.rows, dd.cols, wd.cols];
  if (wd.rows !== N) throw new Error(`${OP}: dy is [${dy.shape.join(',')}] but W is [${w.shape.join(',')}]: dy's columns must equal W's rows`);
  const batch = commonBatch(OP, dd, 'dy', wd, 'W');
  if (opts.accumulate && !opts.out) throw new Error(`${OP}: accumulate needs an out tensor to accumulate into`);
  const outShape = dd.rank === 3 || wd.rank === 3 ? [batch, M, K] : [M, K];
  if (opts.out) checkOut(OP, opts.out, outShape, [['dy', dy], ['W', w]]);

  const read = weightRead('dyw', w);
  const shape: MatmulShapeClass = { op: 'dyw', m: M, n: N, k: K, wDtype: read.wDtype, batch };
  const name = await trustedVariant(ctx, shape, trustRunDyW, opts.variant, OP);
  const v = variantOf(name);
  const dx = opts.out ?? emptyTensor(ctx, 'f32', outShape, 'matmul dx');
  const pipeline = await ctx.pipelines.get(
    pipelineSpecFor(v, 'matmul_dyw', read.shaders, read.constants),
  );
  dispatch(ctx, {
    pipeline,
    bindings: [dy, w, dx],
    uniforms: matmulParams([M, N, K], opts.accumulate ? 2 : 0, opts.alpha ?? 1, [
      dd.rank === 3 ? M * N : 0,
      wd.rank === 3 ? N * K : 0,
      M * K,
    ]),
    workgroups: workgroupsFor(v, problemOf(shape)),
    label: `${OP} ${name} ${batch > 1 ? `${batch}x` : ''}${M}x${N}x${K}`,
  });
  return dx;
}
