// The frozen base's linear layers, whatever their storage: fp16 (or f32) weights go to the matmul
// family (matmul.ts, matmulDyW.ts), quantized ones (matmulQuant.ts) to the kernels that
// dequantize in their tile loads. The model's blocks call these for every base weight, so a
// quantized base changes nothing above this file.
//   baseXWt: y = alpha · x · Wᵀ (+ bias) (+ y)    x (M, K) f32, W (N, K), y (M, N) f32
//   baseDyW: dx = alpha · dy · W (+ dx)            dy (M, N) f32, W (N, K), dx (M, K) f32
import type { GpuContext } from '../device';
import type { Tensor } from '../tensor';
import { matmulXWt, type MatmulOptions } from './matmul';
import { matmulDyW } from './matmulDyW';
import { isQuantized, matmulDyWQuant, matmulXWtQuant } from './matmulQuant';

type BaseOptions = Pick<MatmulOptions, 'out' | 'accumulate' | 'alpha'>;

export function baseXWt(ctx: GpuContext, x: Tensor, w: Tensor, bias: Tensor | null = null, opts: BaseOptions = {}): Promise<Tensor> {
  return isQuantized(w) ? matmulXWtQuant(ctx, x, w, bias, opts) : matmulXWt(ctx, x, w, bias, opts);
}

export function baseDyW(ctx: GpuContext, dy: Tensor, w: Tensor, opts: BaseOptions = {}): Promise<Tensor> {
  return isQuantized(w) ? matmulDyWQuant(ctx, dy, w, opts) : matmulDyW(ctx, dy, w, opts);
}
