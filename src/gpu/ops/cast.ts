// f32 (n) <-> fp16 packed (n) casts on the GPU (kernels in shaders/cast.wgsl).
import type { GpuContext } from '../device';
import { dispatch, grid1d } from '../dispatch';
import type { WgslSource } from '../shader';
import castCode from '../shaders/cast.wgsl?raw';
import { emptyTensor, numel, type Tensor } from '../tensor';

export const CAST_SHADER: WgslSource = { file: 'cast.wgsl', code: castCode };
const WG = 256;

async function run(ctx: GpuContext, entryPoint: string, src: Tensor, dst: Tensor, n: number) {
  const pipeline = await ctx.pipelines.get({ shader: CAST_SHADER, entryPoint, constants: { WG } });
  const words = Math.ceil(n / 2);
  const [gx, gy] = grid1d(ctx, Math.ceil(words / WG));
  dispatch(ctx, {
    pipeline,
    bindings: [src, dst],
    uniforms: new Uint32Array([n, gx * WG, 0, 0]),
    workgroups: [gx, gy],
    label: entryPoint,
  });
}

export async function castF32ToF16(ctx: GpuContext, src: Tensor, out?: Tensor): Promise<Tensor> {
  if (src.dtype !== 'f32') throw new Error(`castF32ToF16: ${src.label} is ${src.dtype}, expected f32`);
  const dst = out ?? emptyTensor(ctx, 'f16', src.shape, `${src.label} as f16`);
  await run(ctx, 'cast_f32_to_f16', src, dst, numel(src.shape));
  return dst;
}

export async function castF16ToF32(ctx: GpuContext, src: Tensor, out?: Tensor): Promise<Tensor> {
  if (src.dtype !== 'f16') throw new Error(`castF16ToF32: ${src.label} is ${src.dtype}, expected f16`);
  const dst = out ?? emptyTensor(ctx, 'f32', src.shape, `${src.label} as f32`);
  await run(ctx, 'cast_f16_to_f32', src, dst, numel(src.shape));
  return dst;
}
