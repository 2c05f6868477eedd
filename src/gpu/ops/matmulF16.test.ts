// Native-f16 matmul variants (MatmulVariant.f16: W read as array<f16> / vec4<f16>, f32
// accumulation). This machine's adapter lacks 'shader-f16', so here they are covered by
// (a) the gating: illegal without the feature, with the reason, never chosen, never tuned;
// (b) their WGSL: every native module is parsed and validated by naga (testing/nagaWgsl.ts), with
//     controls showing the same check passes the packed modules Dawn compiles here and fails
//     modules composed wrongly; Dawn itself refuses them here, as it must;
// (c) the upload layout they read: uploadF16's words are the halves in element order;
// and on an adapter that has 'shader-f16' (a GPU), by running them against the references.
import { describe, expect, it } from 'vitest';
import { f32ToF16Bits, roundToF16 } from '../../util/f16';
import { expectClose } from '../../util/check';
import { randn } from '../../util/random';
import type { WgslSource } from '../shader';
import { compileComputePipeline, joinWgsl } from '../shader';
import { nagaValidate } from '../testing/nagaWgsl';
import { getTestGpu } from '../testing/nodeGpu';
import { downloadF32, downloadU32, releaseTensor, uploadF16, uploadF32 } from '../tensor';
import { MemoryTuneStore } from '../tune/store';
import { tuneMatmul } from '../tune/matmulTuner';
import { matmulDyW, matmulXWt } from './matmul';
import { matmulDyWRef, matmulXWtRef } from './matmul.ref';
import { problemOf, variantFor, type MatmulShapeClass } from './matmulRegistry';
import { DYW_SHADERS, ENABLE_F16, FP16_WEIGHTS_NATIVE, XWT_SHADERS } from './matmulShaders';
import { FP16_WEIGHTS, MATMUL_MAC, MATMUL_XWT_IO } from '../fragments';
import { defaultOrder, illegalReason, legalVariants, MATMUL_FAMILY_VARIANTS, pipelineSpecFor } from './matmulVariants';

const F16 = Object.keys(MATMUL_FAMILY_VARIANTS).filter((n) => MATMUL_FAMILY_VARIANTS[n].f16);
const XWT: MatmulShapeClass = { op: 'xwt', m: 64, n: 64, k: 64, wDtype: 'f16' };
const DYW: MatmulShapeClass = { op: 'dyw', m: 64, n: 64, k: 64, wDtype: 'f16' };

const nativeModules = (): [string, WgslSource][] =>
  [XWT_SHADERS, DYW_SHADERS].flatMap((s) => Object.values(s.nativeF16 ?? {}).map((m): [string, WgslSource] => [m.file, m]));

describe('native-f16 matmul variants: gating', () => {
  it('there are several, of the versions that read W (2, 3, 4, 7), each with a packed twin', () => {
    expect(F16.length).toBeGreaterThanOrEqual(4);
    for (const n of F16) {
      expect([2, 3, 4, 7]).toContain(MATMUL_FAMILY_VARIANTS[n].version);
      const packed = MATMUL_FAMILY_VARIANTS[n.replace(/_f16$/, '')];
      expect(packed).toEqual({ ...MATMUL_FAMILY_VARIANTS[n], f16: undefined });
    }
  });

  it('are illegal without shader-f16 (saying so), and for f32 W and dW = dyᵀ·x on any adapter', async () => {
    const ctx = await getTestGpu();
    const has = ctx.device.features.has('shader-f16');
    expect(ctx.description.fp16Mode).toBe(has ? 'shader-f16' : 'packed-u32');
    for (const n of F16) {
      for (const s of [XWT, DYW]) {
        const why = illegalReason(ctx, n, problemOf(s));
        if (has) expect(why).toBeNull();
        else expect(why).toBe(`variant ${n} reads W as native f16 and needs the 'shader-f16' feature, which this device lacks (the packed-u32 variants read fp16 W instead)`);
        expect(illegalReason(ctx, n, problemOf({ ...s, wDtype: 'f32' }))).toMatch(/reads W as native f16: only for an fp16 W/);
      }
      expect(illegalReason(ctx, n, problemOf({ op: 'dytx', m: 64, n: 64, k: 64 }))).toMatch(/only for an fp16 W/);
    }
  });

  it('are never chosen or tuned without shader-f16; asked for by name, the op refuses with the reason', async () => {
    const ctx = await getTestGpu();
    if (ctx.device.features.has('shader-f16')) return; // the gating below is what adapters without it do
    for (const s of [XWT, DYW]) {
      expect(legalVariants(ctx, problemOf(s)).filter((n) => F16.includes(n))).toEqual([]);
      expect(F16).not.toContain(variantFor(ctx, s));
      // the GPU default order starts with them: on a GPU without the feature the packed v7 is first
      const gpuLike = { ...ctx, description: { ...ctx.description, isSoftware: false } };
      expect(defaultOrder(gpuLike).slice(0, 2).every((n) => F16.includes(n))).toBe(true);
      expect(F16).not.toContain(variantFor(gpuLike, s));
      expect(variantFor(gpuLike, s)).toBe('v7_64x64_k8_4x4_v4_db');
    }
    await expect(tuneMatmul(ctx, { op: 'xwt', m: 8, n: 8, k: 8 }, { store: new MemoryTuneStore(), candidates: F16 })).rejects.toThrow(/no legal variant/);
    const x = uploadF32(ctx, randn(4 * 8, 1), [4, 8], 'x');
    const w = uploadF16(ctx, randn(6 * 8, 2), [6, 8], 'W');
    await expect(matmulXWt(ctx, x, w, null, { variant: 'v7_64x64_k8_4x4_v4_db_f16' })).rejects.toThrow(/matmulXWt: variant v7_64x64_k8_4x4_v4_db_f16 reads W as native f16 and needs the 'shader-f16' feature/);
    const dy = uploadF32(ctx, randn(4 * 6, 3), [4, 6], 'dy');
    await expect(matmulDyW(ctx, dy, w, { variant: 'v2_8x8_f16' })).rejects.toThrow(/matmulDyW: variant v2_8x8_f16 reads W as native f16/);
    for (const t of [x, w, dy]) releaseTensor(ctx, t);
  });
});

describe('native-f16 matmul modules: WGSL checked by naga', () => {
  it('every native module (x·Wᵀ and dy·W; v1-v4 and v7 scalar / vec4) parses and validates', async () => {
    const modules = nativeModules();
    expect(modules.map(([f]) => f).sort()).toEqual(['matmul.wgsl', 'matmul_dyw.wgsl', 'matmul_dyw_v7.wgsl', 'matmul_dyw_v7_vec4.wgsl', 'matmul_v7.wgsl', 'matmul_v7_vec4.wgsl']);
    for (const [file, m] of modules) {
      const joined = joinWgsl(m).code;
      expect(joined.trimStart().startsWith('//')).toBe(true);
      expect(joined).toMatch(/^enable f16;$/m);
      const v = await nagaValidate(joined);
      expect({ file, ...v }).toMatchObject({ file, ok: true });
    }
  });

  it('controls: the packed modules Dawn compiles here pass the same check; wrongly composed ones fail', async () => {
    for (const s of [XWT_SHADERS, DYW_SHADERS]) {
      for (const m of [s.plain, s.tiled, s.tiledVec4]) expect({ file: m.file, ...(await nagaValidate(joinWgsl(m).code)) }).toMatchObject({ ok: true });
    }
    const native = XWT_SHADERS.nativeF16!.plain;
    // without `enable f16;`
    const noEnable = await nagaValidate(joinWgsl({ ...native, fragments: native.fragments!.filter((f) => f !== ENABLE_F16) }).code);
    expect(noEnable.ok).toBe(false);
    expect(noEnable.message).toMatch(/`f16` enable extension is not enabled/);
    // both weight fragments: w_at defined twice
    const both = await nagaValidate(joinWgsl({ ...native, fragments: [ENABLE_F16, MATMUL_XWT_IO, FP16_WEIGHTS, FP16_WEIGHTS_NATIVE, MATMUL_MAC] }).code);
    expect(both.ok).toBe(false);
    // no epilogue fragment: store4 and FAULT undefined
    const noMac = await nagaValidate(joinWgsl({ ...native, fragments: [ENABLE_F16, MATMUL_XWT_IO, FP16_WEIGHTS_NATIVE] }).code);
    expect(noMac).toMatchObject({ ok: false, message: expect.stringMatching(/no definition in scope/) });
  });

  it('Dawn on an adapter without shader-f16 refuses the native modules (hence the gating)', async () => {
    const ctx = await getTestGpu();
    if (ctx.device.features.has('shader-f16')) return; // there, the op tests below compile them
    const spec = pipelineSpecFor(MATMUL_FAMILY_VARIANTS.v2_8x8_f16, 'matmul', XWT_SHADERS, { W_F16: 1 });
    await expect(compileComputePipeline(ctx.device, spec)).rejects.toThrow(/WGSL error in src\/gpu\/shaders\/matmul\.wgsl: .*f16/);
  });
});

describe('the fp16 layout the native kernels read', () => {
  it("uploadF16 writes the halves in element order (array<f16>'s layout), padded to whole words", async () => {
    const ctx = await getTestGpu();
    for (const n of [1, 5, 8, 37]) {
      const v = randn(n, n);
      const t = uploadF16(ctx, v, [n], 'halves');
      const words = await downloadU32(ctx, t);
      expect(words.length).toBe(Math.ceil(n / 2));
      const halves = new Uint16Array(words.buffer);
      for (let i = 0; i < n; i++) expect(halves[i]).toBe(f32ToF16Bits(v[i]));
      if (n % 2) expect(halves[n]).toBe(0);
      // a vec4<f16> view of a 4-aligned tensor covers it exactly (8 bytes per element)
      if (n % 4 === 0) expect(t.buffer.size % 8).toBe(0);
      releaseTensor(ctx, t);
    }
  });
});

describe('native-f16 variants on an adapter with shader-f16', () => {
  it('match the references (y = x·Wᵀ + bias, dx = dy·W) on awkward shapes; here: refused, see gating', async () => {
    const ctx = await getTestGpu();
    const has = ctx.device.features.has('shader-f16');
    const TOL = { atol: 2e-5, rtol: 1e-5 };
    for (const [M, N, K] of [[1, 1, 1], [67, 131, 37], [130, 68, 36]] as [number, number, number][]) {
      const x = randn(M * K, 1);
      const w = randn(N * K, 2, 0.5);
      const dy = randn(M * N, 3);
      const bias = randn(N, 4);
      const w16 = Float32Array.from(w, roundToF16);
      const tx = uploadF32(ctx, x, [M, K], 'x');
      const tw = uploadF16(ctx, w, [N, K], 'W');
      const tdy = uploadF32(ctx, dy, [M, N], 'dy');
      const tb = uploadF32(ctx, bias, [N], 'bias');
      for (const variant of F16) {
        for (const [op, run, ref] of [
          ['xwt', () => matmulXWt(ctx, tx, tw, tb, { variant }), () => matmulXWtRef(x, w16, bias, M, N, K)],
          ['dyw', () => matmulDyW(ctx, tdy, tw, { variant }), () => matmulDyWRef(dy, w16, M, N, K)],
        ] as const) {
          const why = illegalReason(ctx, variant, problemOf({ op, m: M, n: N, k: K, wDtype: 'f16' }));
          if (!has) {
            expect(why).toMatch(/needs the 'shader-f16' feature/);
            continue;
          }
          if (why) {
            expect(why).toMatch(/uses vec4 loads/);
            continue;
          }
          const out = await run();
          expectClose(`${op} ${variant} ${M}x${N}x${K}`, await downloadF32(ctx, out), ref(), TOL);
          releaseTensor(ctx, out);
        }
      }
      for (const t of [tx, tw, tdy, tb]) releaseTensor(ctx, t);
    }
  }, 600_000);
});
