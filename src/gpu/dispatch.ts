// Recording one compute dispatch into the context's compute pass (shared by consecutive dispatches
// unless ctx.mergePasses is off).
import type { GpuContext } from './device';
import type { Tensor } from './tensor';

export type Binding = Tensor | GPUBuffer | { buffer: GPUBuffer; offset?: number; size?: number };

function resource(b: Binding): GPUBufferBinding {
  if ('buffer' in b && !('shape' in b)) return b as GPUBufferBinding;
  if ('shape' in b) return { buffer: b.buffer };
  return { buffer: b as GPUBuffer };
}

export interface DispatchArgs {
  pipeline: GPUComputePipeline;
  /** storage bindings in @binding order starting at 0 (group 0) */
  bindings: Binding[];
  /** uniform parameters, bound right after the storage bindings */
  uniforms?: ArrayBufferView;
  workgroups: [number, number?, number?];
  label?: string;
}

export function dispatch(ctx: GpuContext, args: DispatchArgs): void {
  const entries: GPUBindGroupEntry[] = args.bindings.map((b, i) => ({ binding: i, resource: resource(b) }));
  if (args.uniforms) {
    const slot = ctx.uniforms.push(args.uniforms);
    entries.push({ binding: entries.length, resource: { buffer: slot.buffer, offset: slot.offset, size: slot.size } });
  }
  const bindGroup = ctx.device.createBindGroup({ layout: args.pipeline.getBindGroupLayout(0), entries, label: args.label });
  ctx.counters.bindGroups++;
  const maxGroups = ctx.description.limits.maxComputeWorkgroupsPerDimension;
  const [x, y = 1, z = 1] = args.workgroups;
  if (x > maxGroups || y > maxGroups || z > maxGroups) {
    throw new Error(`${args.label ?? 'dispatch'}: ${x}x${y}x${z} workgroups exceeds the limit ${maxGroups} per dimension`);
  }
  if (x === 0 || y === 0 || z === 0) return;
  ctx.counters.dispatches++;
  // consecutive dispatches share a pass (ctx.mergePasses); WebGPU synchronises storage accesses
  // between the dispatches of a pass as it does between passes
  const { pass, shared } = ctx.computePass(args.label ?? 'dispatch');
  pass.setPipeline(args.pipeline);
  pass.setBindGroup(0, bindGroup);
  pass.dispatchWorkgroups(x, y, z);
  if (!shared) pass.end();
}

/** Split a 1-D count of workgroups into (x, y) so that neither exceeds the per-dimension limit. */
export function grid1d(ctx: GpuContext, groups: number): [number, number] {
  const max = ctx.description.limits.maxComputeWorkgroupsPerDimension;
  if (groups <= max) return [groups, 1];
  const y = Math.ceil(groups / max);
  return [Math.ceil(groups / y), y];
}
