// How LoRA composes from the matmul family (the LoRA op may fuse differently), checked against the
// PyTorch fixture: y = x·Wᵀ + b + s·(x·Aᵀ)·Bᵀ and its gradients dx, dA, dB, with u = x·Aᵀ:
//   y  = matmulXWt(x, W, b);  u = matmulXWt(x, A);  y += s·u·Bᵀ     (matmulXWt accumulate, alpha s)
//   du = s·dy·B               (matmulDyW, f32 weights)
//   dB = s·dyᵀ·u;  dA = duᵀ·x (matmulDyTX, accumulate to sum micro-batches)
//   dx = dy·W + du·A          (matmulDyW, then matmulDyW accumulate)
import { describe, it } from 'vitest';
import { expectClose } from '../../util/check';
import { getTestGpu } from '../testing/nodeGpu';
import { downloadF32, emptyTensor, releaseTensor, uploadF16, uploadF32, type Tensor } from '../tensor';
import { loadFixture, type LoraLinearFixture } from './fixtures';
import { matmulDyTX, matmulDyW, matmulXWt } from './matmul';

const fixture = loadFixture<LoraLinearFixture>('lora_linear');
// f32 kernels vs PyTorch f32 on tiny shapes: rounding-order differences only
const TOL = { atol: 1e-5, rtol: 1e-4 };

describe.each(fixture.cases.map((c) => [c.name, c] as const))('LoRA linear from matmul ops vs PyTorch: %s', (_name, c) => {
  it('forward y and gradients dx, dA, dB', async () => {
    const ctx = await getTestGpu();
    const { N, IN, OUT, r, scale } = c.config;
    const made: Tensor[] = [];
    const f32 = (v: number[], shape: number[], label: string) => {
      const t = uploadF32(ctx, v, shape, label);
      made.push(t);
      return t;
    };
    const x = f32(c.x, [N, IN], 'x');
    const W = uploadF16(ctx, c.W, [OUT, IN], 'W');
    made.push(W);
    const bias = c.bias ? f32(c.bias, [OUT], 'bias') : null;
    const A = f32(c.A, [r, IN], 'A');
    const B = f32(c.B, [OUT, r], 'B');
    const dy = f32(c.dy, [N, OUT], 'dy');

    const y = await matmulXWt(ctx, x, W, bias);
    const u = await matmulXWt(ctx, x, A);
    await matmulXWt(ctx, u, B, null, { out: y, accumulate: true, alpha: scale });
    const du = await matmulDyW(ctx, dy, B, { alpha: scale });
    const dB = await matmulDyTX(ctx, dy, u, { alpha: scale });
    // dA accumulates, as across micro-batches: start from zero
    const dA = emptyTensor(ctx, 'f32', [r, IN], 'dA');
    await matmulDyTX(ctx, du, x, { out: dA, accumulate: true });
    const dx = await matmulDyW(ctx, dy, W);
    await matmulDyW(ctx, du, A, { out: dx, accumulate: true });
    made.push(y, u, du, dB, dA, dx);

    expectClose('y', await downloadF32(ctx, y), c.y, TOL);
    expectClose('dx', await downloadF32(ctx, dx), c.dx, TOL);
    expectClose('dA', await downloadF32(ctx, dA), c.dA, TOL);
    expectClose('dB', await downloadF32(ctx, dB), c.dB, TOL);
    for (const t of made) releaseTensor(ctx, t);
  });
});
