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
import sgSumCode from './shaders/fragments/sg_sum.wgsl?raw';
import crossEntropyIoCode from './shaders/fragments/cross_entropy_io.wgsl?raw';
import rmsnormIoCode from './shaders/fragments/rmsnorm_io.wgsl?raw';
import layernormIoCode from './shaders/fragments/layernorm_io.wgsl?raw';
import gradnormIoCode from './shaders/fragments/gradnorm_io.wgsl?raw';
import fa2KvTileCode from './shaders/fragments/fa2_kv_tile.wgsl?raw';
import enableSubgroupsCode from './shaders/fragments/enable_subgroups.wgsl?raw';

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
/** sg_sum / sg_sum2 of the row kernels' version 2 (enable subgroups): list it first; the shader declares WG. */
export const SG_SUM = fragment('sg_sum.wgsl', sgSumCode);
/** Params, bindings, Stats and the loss / gradient of cross_entropy.wgsl and cross_entropy_sg.wgsl. */
export const CROSS_ENTROPY_IO = fragment('cross_entropy_io.wgsl', crossEntropyIoCode);
/** Params, bindings and weight() of rmsnorm.wgsl and rmsnorm_sg.wgsl. */
export const RMSNORM_IO = fragment('rmsnorm_io.wgsl', rmsnormIoCode);
/** Params, bindings, weight() and bias() of layernorm.wgsl and layernorm_sg.wgsl. */
export const LAYERNORM_IO = fragment('layernorm_io.wgsl', layernormIoCode);
/** Params, bindings, is_nonfinite and store_state of gradnorm.wgsl and gradnorm_sg.wgsl. */
export const GRADNORM_IO = fragment('gradnorm_io.wgsl', gradnormIoCode);
/** kt, vt, dt, fa2_stage_kv, fa2_first_key, fa2_sees of the FA2 kernels that walk K/V tiles; the shader declares BC, D4, k, v, docIds. */
export const FA2_KV_TILE = fragment('fa2_kv_tile.wgsl', fa2KvTileCode);
/** `enable subgroups;` alone, for shaders whose other fragments lack it: list it first. */
export const ENABLE_SUBGROUPS = fragment('enable_subgroups.wgsl', enableSubgroupsCode);
