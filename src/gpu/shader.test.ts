import { describe, expect, it } from 'vitest';
import { compileComputePipeline, ShaderError } from './shader';
import { getTestGpu } from './testing/nodeGpu';

describe('shader compilation', () => {
  it('a WGSL syntax error names the shader file and line', async () => {
    const { device } = await getTestGpu();
    const broken = { file: 'broken_example.wgsl', code: '@compute @workgroup_size(1)\nfn main() {\n  let x: f32 = ;\n}\n' };
    const err = await compileComputePipeline(device, { shader: broken }).catch((e) => e);
    expect(err).toBeInstanceOf(ShaderError);
    expect(err.message).toMatch(/src\/gpu\/shaders\/broken_example\.wgsl/);
    expect(err.message).toMatch(/line 3/);
  });

  it('a type error names the shader file', async () => {
    const { device } = await getTestGpu();
    const broken = { file: 'type_error.wgsl', code: '@compute @workgroup_size(1)\nfn main() {\n  let x: f32 = 1u;\n}\n' };
    await expect(compileComputePipeline(device, { shader: broken })).rejects.toThrow(/type_error\.wgsl/);
  });

  it('a missing entry point or bad override names the shader file', async () => {
    const { device } = await getTestGpu();
    const ok = { file: 'tiny.wgsl', code: 'override WG: u32 = 1;\n@compute @workgroup_size(WG)\nfn main() {}\n' };
    await expect(compileComputePipeline(device, { shader: ok, entryPoint: 'nope' })).rejects.toThrow(/tiny\.wgsl/);
    // a workgroup size above the device limit is a pipeline validation error, not garbage results
    await expect(compileComputePipeline(device, { shader: ok, constants: { WG: 100000 } })).rejects.toThrow(/tiny\.wgsl/);
    await expect(compileComputePipeline(device, { shader: ok, constants: { WG: 64 } })).resolves.toBeTruthy();
  });
});
