// The shader modules of the matmul family, per op: v1-v4 (plain), the quad versions v5/v6, and the
// register-tiled v7 with scalar or vec4 loads; each a .wgsl file plus its fragments, in the order
// the loader puts them before it (src/gpu/shader.ts). The ops that read a base weight W (xwt, dyw)
// also have native-f16 modules for adapters with 'shader-f16': the same .wgsl files composed with
// enable_f16.wgsl first and fp16_weights_native.wgsl in place of fp16_weights.wgsl (same
// function names), picked by the variant (MatmulVariant.f16). A quantized W (quantWeights.ts) is
// read by the same .wgsl files composed with quant_weights.wgsl in place of fp16_weights.wgsl
// (same function names, dequantizing in every load), picked by W's dtype. The fragments only this
// family uses (matmul_rt, enable_f16, fp16_weights_native, quant_weights) are declared here rather
// than in gpu/fragments.ts.
import { FP16_WEIGHTS, MATMUL_DYTX_IO, MATMUL_DYW_IO, MATMUL_MAC, MATMUL_XWT_IO, QUAD_TILE } from '../fragments';
import type { WgslFragment, WgslSource } from '../shader';
import enableF16Code from '../shaders/fragments/enable_f16.wgsl?raw';
import fp16NativeCode from '../shaders/fragments/fp16_weights_native.wgsl?raw';
import matmulRtCode from '../shaders/fragments/matmul_rt.wgsl?raw';
import quantWeightsCode from '../shaders/fragments/quant_weights.wgsl?raw';
import matmulCode from '../shaders/matmul.wgsl?raw';
import matmulSgCode from '../shaders/matmul_sg.wgsl?raw';
import matmulV7Code from '../shaders/matmul_v7.wgsl?raw';
import matmulV7Vec4Code from '../shaders/matmul_v7_vec4.wgsl?raw';
import dywCode from '../shaders/matmul_dyw.wgsl?raw';
import dywSgCode from '../shaders/matmul_dyw_sg.wgsl?raw';
import dywV7Code from '../shaders/matmul_dyw_v7.wgsl?raw';
import dywV7Vec4Code from '../shaders/matmul_dyw_v7_vec4.wgsl?raw';
import dytxCode from '../shaders/matmul_dytx.wgsl?raw';
import dytxSgCode from '../shaders/matmul_dytx_sg.wgsl?raw';
import dytxV7Code from '../shaders/matmul_dytx_v7.wgsl?raw';
import dytxV7Vec4Code from '../shaders/matmul_dytx_v7_vec4.wgsl?raw';
import type { Tensor } from '../tensor';
import type { MatmulShaders, NativeF16Shaders, WDtype } from './matmulVariants';
import { isQuantized, quantConstants, quantWDtype } from './quantWeights';

/** The register-tiled kernel of version 7 (the shader defines its loads and epilogue). */
export const MATMUL_RT: WgslFragment = { file: 'fragments/matmul_rt.wgsl', code: matmulRtCode };
/** `enable f16;`: first in the fragment list of a native-f16 module. */
export const ENABLE_F16: WgslFragment = { file: 'fragments/enable_f16.wgsl', code: enableF16Code };
/** w_at, w4_at, w4_vec, w_cols over W as array<f16> / array<vec4<f16>> (same names as FP16_WEIGHTS). */
export const FP16_WEIGHTS_NATIVE: WgslFragment = { file: 'fragments/fp16_weights_native.wgsl', code: fp16NativeCode };

/** w_at, w4_at, w4_vec, w_cols over a quantized W (same names as FP16_WEIGHTS; overrides Q4, GROUP). */
export const QUANT_WEIGHTS: WgslFragment = { file: 'fragments/quant_weights.wgsl', code: quantWeightsCode };

type Files = Record<'plain' | 'quad' | 'tiled' | 'tiledVec4', [string, string]>;

function family(io: WgslFragment[], files: Files, native?: WgslFragment[]): MatmulShaders {
  const src = (k: keyof Files, fragments: WgslFragment[]): WgslSource => ({ file: files[k][0], code: files[k][1], fragments });
  const shaders: MatmulShaders = {
    plain: src('plain', io),
    quad: src('quad', [QUAD_TILE, ...io]),
    tiled: src('tiled', [...io, MATMUL_RT]),
    tiledVec4: src('tiledVec4', [...io, MATMUL_RT]),
  };
  if (native) {
    // no quad module: the naga validator that checks these (matmulF16.test.ts) has no subgroups
    const f16: NativeF16Shaders = {
      plain: src('plain', [ENABLE_F16, ...native]),
      tiled: src('tiled', [ENABLE_F16, ...native, MATMUL_RT]),
      tiledVec4: src('tiledVec4', [ENABLE_F16, ...native, MATMUL_RT]),
    };
    shaders.nativeF16 = f16;
  }
  return shaders;
}

const XWT_FILES: Files = {
  plain: ['matmul.wgsl', matmulCode],
  quad: ['matmul_sg.wgsl', matmulSgCode],
  tiled: ['matmul_v7.wgsl', matmulV7Code],
  tiledVec4: ['matmul_v7_vec4.wgsl', matmulV7Vec4Code],
};

const DYW_FILES: Files = {
  plain: ['matmul_dyw.wgsl', dywCode],
  quad: ['matmul_dyw_sg.wgsl', dywSgCode],
  tiled: ['matmul_dyw_v7.wgsl', dywV7Code],
  tiledVec4: ['matmul_dyw_v7_vec4.wgsl', dywV7Vec4Code],
};

/** y = x·Wᵀ */
export const XWT_SHADERS = family([MATMUL_XWT_IO, FP16_WEIGHTS, MATMUL_MAC], XWT_FILES, [MATMUL_XWT_IO, FP16_WEIGHTS_NATIVE, MATMUL_MAC]);

/** y = x·Wᵀ with a quantized W */
export const XWT_QUANT_SHADERS = family([MATMUL_XWT_IO, QUANT_WEIGHTS, MATMUL_MAC], XWT_FILES);

/** dx = dy·W */
export const DYW_SHADERS = family([MATMUL_DYW_IO, FP16_WEIGHTS, MATMUL_MAC], DYW_FILES, [MATMUL_DYW_IO, FP16_WEIGHTS_NATIVE, MATMUL_MAC]);

/** dx = dy·W with a quantized W */
export const DYW_QUANT_SHADERS = family([MATMUL_DYW_IO, QUANT_WEIGHTS, MATMUL_MAC], DYW_FILES);

/** dW = dyᵀ·x */
export const DYTX_SHADERS = family([MATMUL_DYTX_IO, MATMUL_MAC], {
  plain: ['matmul_dytx.wgsl', dytxCode],
  quad: ['matmul_dytx_sg.wgsl', dytxSgCode],
  tiled: ['matmul_dytx_v7.wgsl', dytxV7Code],
  tiledVec4: ['matmul_dytx_v7_vec4.wgsl', dytxV7Vec4Code],
});

/** How an op of the family reads its W: the modules, their weight constants and W's validation class. */
export interface WeightRead {
  shaders: MatmulShaders;
  constants: Record<string, number>;
  wDtype: WDtype;
}

/** The modules and constants for reading `w` in y = x·Wᵀ (xwt) or dx = dy·W (dyw). */
export function weightRead(op: 'xwt' | 'dyw', w: Tensor): WeightRead {
  if (isQuantized(w)) {
    const wDtype = quantWDtype(w.quant, w.shape[1]);
    return { shaders: op === 'xwt' ? XWT_QUANT_SHADERS : DYW_QUANT_SHADERS, constants: quantConstants(wDtype), wDtype };
  }
  return { shaders: op === 'xwt' ? XWT_SHADERS : DYW_SHADERS, constants: { W_F16: w.dtype === 'f16' ? 1 : 0 }, wDtype: w.dtype === 'f16' ? 'f16' : 'f32' };
}
