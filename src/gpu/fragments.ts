// The shared WGSL fragments (src/gpu/shaders/fragments/), one constant per file. A shader lists the
// ones it uses in its WgslSource; the loader (shader.ts) puts each before the shader's code, once,
// in that order. Each fragment's header says what the shader must declare for it.
import type { WgslFragment } from './shader';
import fp16WeightsCode from './shaders/fragments/fp16_weights.wgsl?raw';
import matmulDytxIoCode from './shaders/fragments/matmul_dytx_io.wgsl?raw';
import matmulDywIoCode from './shaders/fragments/matmul_dyw_io.wgsl?raw';
import matmulMacCode from './shaders/fragments/matmul_mac.wgsl?raw';
import matmulXwtIoCode from './shaders/fragments/matmul_xwt_io.wgsl?raw';
import quadTileCode from './shaders/fragments/quad_tile.wgsl?raw';
import wgSumCode from './shaders/fragments/wg_sum.wgsl?raw';

const fragment = (file: string, code: string): WgslFragment => ({ file: `fragments/${file}`, code });

/** W_F16 and the fp16 / f32 weight reads (w_at, w4_at, w4_vec, w_cols); the shader binds W and W2. */
export const FP16_WEIGHTS = fragment('fp16_weights.wgsl', fp16WeightsCode);
/** mac, rows4, store4 of the matmul family; the shader defines store_out. */
export const MATMUL_MAC = fragment('matmul_mac.wgsl', matmulMacCode);
/** The quad layout of the matmul v5/v6 kernels (enable subgroups, QX, QY, quad_tile, store_tile, swaps): list it first. */
export const QUAD_TILE = fragment('quad_tile.wgsl', quadTileCode);
/** Params, bindings, x4_at and store_out of matmulXWt (y = x·Wᵀ). */
export const MATMUL_XWT_IO = fragment('matmul_xwt_io.wgsl', matmulXwtIoCode);
/** Params, bindings, dy4_at and store_out of matmulDyW (dx = dy·W). */
export const MATMUL_DYW_IO = fragment('matmul_dyw_io.wgsl', matmulDywIoCode);
/** Params, bindings and store_out of matmulDyTX (dW = dyᵀ·x). */
export const MATMUL_DYTX_IO = fragment('matmul_dytx_io.wgsl', matmulDytxIoCode);
/** wg_sum / wg_sum2 of the row kernels (cross-entropy, LayerNorm, RMSNorm); the shader declares WG. */
export const WG_SUM = fragment('wg_sum.wgsl', wgSumCode);
