// Named GPU buffers that persist across steps: a training step asks for "L3.h1" with a shape and
// gets the same buffer every step (re-allocated only if the shape changes). Steady-state steps
// therefore allocate nothing, and the allocator's peak is the true working set.
import type { GpuContext } from '../gpu/device';
import { emptyTensor, numel, releaseTensor, type DType, type Tensor } from '../gpu/tensor';

export class Workspace {
  private tensors = new Map<string, Tensor>();
  constructor(private ctx: GpuContext) {}

  get(name: string, dtype: DType, shape: readonly number[]): Tensor {
    const t = this.tensors.get(name);
    // a buffer whose allocation ran out of memory (reported after the failed step) is made again
    const usable = !t || this.ctx.allocator.usable(t.buffer);
    if (t && usable && t.dtype === dtype && numel(t.shape) === numel(shape)) {
      if (t.shape.length === shape.length && t.shape.every((d, i) => d === shape[i])) return t;
      // same size, other shape: a view with the new shape over the same buffer
      const view = { ...t, shape: [...shape] };
      this.tensors.set(name, view);
      return view;
    }
    if (t) {
      // commands recorded but not yet submitted may still use the old buffer: submit them first
      // (a buffer destroyed after submission lives until that work is done)
      this.ctx.flush();
      releaseTensor(this.ctx, t);
    }
    const fresh = emptyTensor(this.ctx, dtype, shape, name);
    this.tensors.set(name, fresh);
    return fresh;
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  release(prefix = ''): void {
    this.ctx.flush();
    for (const [k, t] of this.tensors) {
      if (k.startsWith(prefix)) {
        releaseTensor(this.ctx, t);
        this.tensors.delete(k);
      }
    }
  }

  bytes(): number {
    let b = 0;
    for (const t of this.tensors.values()) b += t.buffer.size;
    return b;
  }
}
