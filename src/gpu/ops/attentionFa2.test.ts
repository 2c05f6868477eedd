// Attention version 2 (FlashAttention-2 tiling) on awkward shapes against the f64 TS reference:
// T = 1, odd T, T not a multiple of the 32-row blocks or of the key/query tiles, T an exact
// multiple, several documents, windows smaller and larger than a tile, GQA groups 1/2/3/4 and
// MQA, every head dim the architectures use (4..16 for the tiny models, stories260K's 8, 64, 80,
// 96, 128, 256, and 136 split over two threads), explicit scales; KV-cache decode through v2;
// tile sizes within 16 KiB of workgroup memory; bit-identical reruns.
import { describe, expect, it } from 'vitest';
import type { AdapterLimits, GpuContext } from '../device';
import { expectClose } from '../../util/check';
import { getTestGpu, nodeGpu } from '../testing/nodeGpu';
import { randn } from '../../util/random';
import { downloadF32, emptyTensor, releaseTensor, uploadF32, uploadI32, type Tensor } from '../tensor';
import { attentionBackward, attentionForward, FA2_ATTENTION_VARIANT } from './attention';
import { attentionBackwardRef, attentionForwardRef, type AttentionRefConfig } from './attention.ref';
import { attentionDecode, kvCacheWrite } from './attentionDecode';
import { compileComputePipeline } from '../shader';
import {
  ATTENTION_FA2_BWD_DKDV_SHADER,
  ATTENTION_FA2_BWD_DQ_SHADER,
  ATTENTION_FA2_SHADER,
  FA2_ROWS,
  FA2_WORKGROUP_BYTES,
  fa2DkdvBytes,
  fa2DqBytes,
  fa2FwdBytes,
  fa2IllegalReason,
  fa2Tiles,
} from './attentionFa2';

// f32 kernels against the f64 reference on the same f32 inputs (as attention.test.ts).
const TOL = { atol: 2e-5, rtol: 1e-4 };
const V2 = FA2_ATTENTION_VARIANT;

interface Case {
  name: string;
  B: number;
  T: number;
  Hq: number;
  Hkv: number;
  D: number;
  window?: number;
  scale?: number;
  docIds?: number[];
}

const contiguousDocs = (B: number, T: number, lens: number[]) =>
  Array.from({ length: B * T }, (_, i) => {
    let t = i % T;
    let d = 0;
    while (d < lens.length - 1 && t >= lens[d]) t -= lens[d++];
    return 10 * Math.floor(i / T) + d;
  });

const CASES: Case[] = [
  { name: 'T = 1, two batches, gqa 2', B: 2, T: 1, Hq: 2, Hkv: 1, D: 8 },
  { name: 'stories260K heads (8 q, 4 kv, D 8), odd T = 37: two query blocks, ragged key tile', B: 1, T: 37, Hq: 8, Hkv: 4, D: 8 },
  { name: 'T = 64, exactly two blocks, mqa 4, D 4', B: 1, T: 64, Hq: 4, Hkv: 1, D: 4 },
  { name: 'T = 70, three query blocks, interleaved docs, two batches', B: 2, T: 70, Hq: 4, Hkv: 2, D: 8, docIds: Array.from({ length: 140 }, (_, i) => (i * 7) % 3) },
  { name: 'several contiguous documents across blocks, rep 3, D 12', B: 2, T: 41, Hq: 6, Hkv: 2, D: 12, docIds: contiguousDocs(2, 41, [5, 20, 1, 15]) },
  { name: 'window 3 (smaller than a tile) with documents, D 16', B: 1, T: 45, Hq: 4, Hkv: 2, D: 16, window: 3, docIds: contiguousDocs(1, 45, [30, 15]) },
  { name: 'window 40 (larger than a tile and a block), T = 75', B: 1, T: 75, Hq: 2, Hkv: 2, D: 16, window: 40 },
  { name: 'window 1, T = 33', B: 1, T: 33, Hq: 2, Hkv: 1, D: 8, window: 1 },
  { name: 'D 64 (SmolLM2, Qwen), gqa 3, three documents', B: 1, T: 33, Hq: 3, Hkv: 1, D: 64, docIds: contiguousDocs(1, 33, [9, 9, 15]) },
  { name: 'D 80 (Phi-2-like), window 7, odd T', B: 1, T: 35, Hq: 2, Hkv: 1, D: 80, window: 7 },
  { name: 'D 96 (Phi-3), mha (group 1)', B: 1, T: 19, Hq: 2, Hkv: 2, D: 96 },
  { name: 'D 128 (Llama, Qwen3), gqa 4, window 9, documents', B: 1, T: 40, Hq: 4, Hkv: 1, D: 128, window: 9, docIds: contiguousDocs(1, 40, [17, 23]) },
  { name: 'D 256 (Gemma 3), scale 1/16, window 5, documents, two threads per row', B: 1, T: 37, Hq: 2, Hkv: 1, D: 256, window: 5, scale: 1 / 16, docIds: contiguousDocs(1, 37, [20, 17]) },
  { name: 'D 136 (two threads of 68 dims), T = 1', B: 1, T: 1, Hq: 2, Hkv: 2, D: 136 },
  { name: 'D 136, T = 9, explicit scale 0.3', B: 1, T: 9, Hq: 2, Hkv: 1, D: 136, scale: 0.3 },
];

interface Inputs {
  q: Float32Array;
  k: Float32Array;
  v: Float32Array;
  dout: Float32Array;
}

function makeInputs(c: Case, seed: number): Inputs {
  const { B, T, Hq, Hkv, D } = c;
  return {
    q: randn(B * T * Hq * D, seed + 1),
    k: randn(B * T * Hkv * D, seed + 2),
    v: randn(B * T * Hkv * D, seed + 3),
    dout: randn(B * T * Hq * D, seed + 4),
  };
}

async function runGpu(ctx: GpuContext, c: Case, x: Inputs, variant: string) {
  const { B, T, Hq, Hkv, D } = c;
  const tq = uploadF32(ctx, x.q, [B, T, Hq, D], 'q');
  const tk = uploadF32(ctx, x.k, [B, T, Hkv, D], 'k');
  const tv = uploadF32(ctx, x.v, [B, T, Hkv, D], 'v');
  const tdout = uploadF32(ctx, x.dout, [B, T, Hq, D], 'dout');
  const tdoc = c.docIds ? uploadI32(ctx, c.docIds, [B * T], 'docIds') : undefined;
  const opts = { B, T, Hq, Hkv, D, docIds: tdoc, window: c.window, scale: c.scale, variant };
  const { out, lse } = await attentionForward(ctx, tq, tk, tv, opts);
  const g = await attentionBackward(ctx, tq, tk, tv, out, lse, tdout, opts);
  const res = {
    out: await downloadF32(ctx, out),
    lse: await downloadF32(ctx, lse),
    dq: await downloadF32(ctx, g.dq),
    dk: await downloadF32(ctx, g.dk),
    dv: await downloadF32(ctx, g.dv),
  };
  const all: (Tensor | undefined)[] = [tq, tk, tv, tdout, tdoc, out, lse, g.dq, g.dk, g.dv, g.scratch];
  for (const t of all) if (t) releaseTensor(ctx, t);
  return res;
}

const refConfig = (c: Case): AttentionRefConfig => ({ B: c.B, T: c.T, Hq: c.Hq, Hkv: c.Hkv, D: c.D, docIds: c.docIds, scale: c.scale, window: c.window });

describe('attention v2 (FlashAttention-2 tiles) vs the f64 reference', () => {
  it.each(CASES.map((c) => [c.name, c] as const))('%s', async (_, c) => {
    const ctx = await getTestGpu();
    const x = makeInputs(c, c.T * 10 + c.D);
    const got = await runGpu(ctx, c, x, V2);
    const ref = attentionForwardRef(x.q, x.k, x.v, refConfig(c));
    const g = attentionBackwardRef(x.q, x.k, x.v, x.dout, refConfig(c));
    expectClose('out', got.out, ref.out, TOL);
    expectClose('lse', got.lse, ref.lse, TOL);
    expectClose('dq', got.dq, g.dq, TOL);
    expectClose('dk', got.dk, g.dk, TOL);
    expectClose('dv', got.dv, g.dv, TOL);
  }, 300_000);

  it('is deterministic: two runs agree bit for bit (forward and every gradient)', async () => {
    const ctx = await getTestGpu();
    const c = CASES[4];
    const x = makeInputs(c, 3);
    const a = await runGpu(ctx, c, x, V2);
    const b = await runGpu(ctx, c, x, V2);
    for (const key of ['out', 'lse', 'dq', 'dk', 'dv'] as const) expect(Array.from(a[key]), key).toEqual(Array.from(b[key]));
  }, 300_000);
});

describe('attention v2 in KV-cache decode', () => {
  it('decoding positions pos.. of a windowed gqa cache gives the rows of the training attention', async () => {
    const ctx = await getTestGpu();
    const [B, Tmax, Hq, Hkv, D, window] = [2, 40, 4, 2, 16, 6];
    const c: Case = { name: 'decode', B, T: Tmax, Hq, Hkv, D, window };
    const x = makeInputs(c, 91);
    const ref = attentionForwardRef(x.q, x.k, x.v, refConfig(c));
    const kCache = emptyTensor(ctx, 'f32', [B, Tmax, Hkv, D], 'kCache');
    const vCache = emptyTensor(ctx, 'f32', [B, Tmax, Hkv, D], 'vCache');
    const tk = uploadF32(ctx, x.k, [B, Tmax, Hkv, D], 'k');
    const tv = uploadF32(ctx, x.v, [B, Tmax, Hkv, D], 'v');
    kvCacheWrite(ctx, tk, tv, kCache, vCache, { pos: 0 });
    // queries at positions 33..35 (Tq = 3), rows of a 40-row cache
    const [pos, Tq] = [33, 3];
    const qSlice = new Float32Array(B * Tq * Hq * D);
    for (let b = 0; b < B; b++) qSlice.set(x.q.subarray((b * Tmax + pos) * Hq * D, (b * Tmax + pos + Tq) * Hq * D), b * Tq * Hq * D);
    const tq = uploadF32(ctx, qSlice, [B, Tq, Hq, D], 'q');
    const { out, lse } = await attentionDecode(ctx, tq, kCache, vCache, { pos, Hq, window, variant: V2 });
    const want = new Float64Array(B * Tq * Hq * D);
    const wantLse = new Float64Array(B * Hq * Tq);
    for (let b = 0; b < B; b++) {
      want.set(ref.out.subarray((b * Tmax + pos) * Hq * D, (b * Tmax + pos + Tq) * Hq * D), b * Tq * Hq * D);
      for (let h = 0; h < Hq; h++) for (let t = 0; t < Tq; t++) wantLse[(b * Hq + h) * Tq + t] = ref.lse[(b * Hq + h) * Tmax + pos + t];
    }
    expectClose('decode out', await downloadF32(ctx, out), want, TOL);
    expectClose('decode lse', await downloadF32(ctx, lse), wantLse, TOL);
    for (const t of [kCache, vCache, tk, tv, tq, out, lse]) releaseTensor(ctx, t);
  }, 300_000);
});

describe('attention v2 tiles and device limits', () => {
  const DEFAULT_LIMITS: AdapterLimits = {
    maxStorageBufferBindingSize: 134217728,
    maxBufferSize: 268435456,
    maxComputeWorkgroupStorageSize: 16384,
    maxComputeInvocationsPerWorkgroup: 256,
    maxComputeWorkgroupSizeX: 256,
    maxComputeWorkgroupSizeY: 256,
    maxComputeWorkgroupsPerDimension: 65535,
    maxStorageBuffersPerShaderStage: 8,
    minUniformBufferOffsetAlignment: 256,
  };

  it('every head dim fits WebGPU\'s default 16 KiB of workgroup memory with the largest tiles that do', () => {
    for (const D of [4, 8, 12, 16, 32, 64, 80, 96, 128, 136, 256]) {
      const t = fa2Tiles(D);
      for (const [what, bytes] of [['fwd', t.fwd.bytes], ['dq', t.dq.bytes], ['dkdv', t.dkdv.bytes]] as const) {
        expect(bytes, `D ${D} ${what}`).toBeLessThanOrEqual(FA2_WORKGROUP_BYTES);
      }
      expect(t.ds).toBe(D > 128 ? 2 : 1);
      expect(fa2IllegalReason(DEFAULT_LIMITS, D, 4096, 64), `D ${D}`).toBeNull();
      // one more key (query) per tile would not fit, unless the tile is already the largest (32)
      if (t.fwd.bc < 32) expect(fa2FwdBytes(D, t.ds, FA2_ROWS, t.fwd.bc + 1), `D ${D} fwd`).toBeGreaterThan(FA2_WORKGROUP_BYTES);
      if (t.dq.bc < 32) expect(fa2DqBytes(D, t.ds, FA2_ROWS, t.dq.bc + 1), `D ${D} dq`).toBeGreaterThan(FA2_WORKGROUP_BYTES);
      if (t.dkdv.bq < 32) expect(fa2DkdvBytes(D, t.ds, FA2_ROWS, t.dkdv.bq + 1), `D ${D} dkdv`).toBeGreaterThan(FA2_WORKGROUP_BYTES);
    }
    // the tiles the shaders get at the common head dims (2 * BC * D * 4 bytes of K/V dominate)
    expect([64, 128, 256].map((D) => fa2Tiles(D).fwd.bc)).toEqual([31, 15, 7]);
    expect(fa2Tiles(8).fwd.bc).toBe(32);
    expect(fa2Tiles(64).dkdv.bq).toBe(31);
  });

  it('is illegal (and names why) where the device offers less than the tiles need', () => {
    expect(fa2IllegalReason({ ...DEFAULT_LIMITS, maxComputeWorkgroupStorageSize: 8192 }, 64, 128, 8)).toMatch(/needs \d+ bytes of workgroup memory at head dim 64, the device allows 8192/);
    expect(fa2IllegalReason({ ...DEFAULT_LIMITS, maxComputeInvocationsPerWorkgroup: 32 }, 256, 128, 8)).toMatch(/needs 64 threads per workgroup/);
    expect(fa2IllegalReason({ ...DEFAULT_LIMITS, maxComputeWorkgroupsPerDimension: 100 }, 64, 128, 101)).toMatch(/101 workgroups in one dimension/);
    expect(fa2IllegalReason(DEFAULT_LIMITS, 64, FA2_ROWS * 65535 + 1, 8)).toMatch(/65536 workgroups/);
  });
});

describe('attention v2 pipelines on a device with WebGPU\'s default limits', () => {
  // The test device asks for all the adapter offers; this one keeps the defaults (16 KiB of
  // workgroup memory), so Dawn itself checks the byte counts above against its own accounting.
  it('compile for every head dim at the chosen tiles, and a tile one key larger is refused', async () => {
    const adapter = await nodeGpu().requestAdapter();
    if (!adapter) throw new Error('no WebGPU adapter');
    const device = await adapter.requestDevice({ label: 'default limits' });
    try {
      expect(device.limits.maxComputeWorkgroupStorageSize).toBe(FA2_WORKGROUP_BYTES);
      // 64 and 96: the tightest single-thread tiles (16016 and 16240 bytes forward); 256: two
      // threads per row with the partial scores (each compile takes seconds here)
      for (const D of [64, 96, 256]) {
        const t = fa2Tiles(D);
        const D4 = D / 4;
        await compileComputePipeline(device, { shader: ATTENTION_FA2_SHADER, entryPoint: 'attention_fwd_v2', constants: { BR: t.fwd.br, BC: t.fwd.bc, D4, DS: t.ds } });
        await compileComputePipeline(device, { shader: ATTENTION_FA2_BWD_DQ_SHADER, entryPoint: 'attention_bwd_dq_v2', constants: { BR: t.dq.br, BC: t.dq.bc, D4, DS: t.ds } });
        await compileComputePipeline(device, { shader: ATTENTION_FA2_BWD_DKDV_SHADER, entryPoint: 'attention_bwd_dkdv_v2', constants: { BK: t.dkdv.bk, BQ: t.dkdv.bq, D4, DS: t.ds } });
      }
      // the control: D 64 with 32 keys per tile needs 16528 bytes
      expect(fa2FwdBytes(64, 1, FA2_ROWS, 32)).toBeGreaterThan(FA2_WORKGROUP_BYTES);
      await expect(
        compileComputePipeline(device, { shader: ATTENTION_FA2_SHADER, entryPoint: 'attention_fwd_v2', constants: { BR: FA2_ROWS, BC: 32, D4: 16, DS: 1 } }),
      ).rejects.toThrow(/attention_fa2\.wgsl/);
    } finally {
      device.destroy();
    }
  }, 600_000);
});
