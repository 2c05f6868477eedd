import { describe, expect, it } from 'vitest';
import { compileComputePipeline, joinWgsl, PipelineCache, ShaderError, sourceLine, specKey, type WgslSource } from './shader';
import { getTestGpu } from './testing/nodeGpu';

describe('shader compilation', () => {
  it('a WGSL syntax error names the shader file and line', async () => {
    const { device } = await getTestGpu();
    const broken = { file: 'broken_example.wgsl', code: '@compute @workgroup_size(1)\nfn main() {\n  let x: f32 = ;\n}\n' };
    const err = await compileComputePipeline(device, { shader: broken }).catch((e) => e);
    expect(err).toBeInstanceOf(ShaderError);
    expect(err.message).toMatch(/src\/gpu\/shaders\/broken_example\.wgsl/);
    expect(err.message).toMatch(/src\/gpu\/shaders\/broken_example\.wgsl:3:\d+: /);
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

  describe('fragments', () => {
    const helpers = { file: 'fragments/helpers_example.wgsl', code: '// two helpers\nfn twice(v: f32) -> f32 {\n  return 2.0 * v;\n}\n' };
    const consts = { file: 'fragments/consts_example.wgsl', code: 'const SCALE: f32 = 3.0;\n' };
    const main = (code: string, fragments = [helpers, consts]): WgslSource => ({ file: 'uses_fragments.wgsl', code, fragments });
    const ok = '@group(0) @binding(0) var<storage, read_write> out: array<f32>;\n@compute @workgroup_size(1)\nfn main() {\n  out[0] = twice(SCALE);\n}\n';

    it('are put before the code once each, in order, and the result runs', async () => {
      const joined = joinWgsl(main(ok, [helpers, consts, helpers]));
      expect(joined.code).toBe(`${helpers.code}\n${consts.code}\n${ok}`);
      expect(joined.parts.map((p) => p.file)).toEqual(['fragments/helpers_example.wgsl', 'fragments/consts_example.wgsl', 'uses_fragments.wgsl']);
      const { device } = await getTestGpu();
      await expect(compileComputePipeline(device, { shader: main(ok) })).resolves.toBeTruthy();
    });

    it('map a line of the joined source back to its file and line', () => {
      const joined = joinWgsl(main(ok));
      // helpers: 5 lines (4 and the empty one after the last newline), then consts: 2, then main
      expect(sourceLine(joined, 1)).toEqual({ file: 'fragments/helpers_example.wgsl', line: 1 });
      expect(sourceLine(joined, 3)).toEqual({ file: 'fragments/helpers_example.wgsl', line: 3 });
      expect(sourceLine(joined, 6)).toEqual({ file: 'fragments/consts_example.wgsl', line: 1 });
      expect(sourceLine(joined, 8)).toEqual({ file: 'uses_fragments.wgsl', line: 1 });
      expect(sourceLine(joined, 11)).toEqual({ file: 'uses_fragments.wgsl', line: 4 });
    });

    it('a broken fragment is named with its own line', async () => {
      const { device } = await getTestGpu();
      const broken = { file: 'fragments/broken_fragment.wgsl', code: '// fine\n// still fine\nfn twice(v: f32) -> f32 {\n  return 2.0 * ;\n}\n' };
      const err = await compileComputePipeline(device, { shader: main(ok, [consts, broken]) }).catch((e) => e);
      expect(err).toBeInstanceOf(ShaderError);
      expect(err.message).toMatch(/^WGSL error in src\/gpu\/shaders\/uses_fragments\.wgsl: src\/gpu\/shaders\/fragments\/broken_fragment\.wgsl:4:\d+: /);
    });

    it('a broken main file is named with its own line, after the fragments', async () => {
      const { device } = await getTestGpu();
      const code = ok.replace('out[0] = twice(SCALE);', 'out[0] = twice(SCALE) +;');
      const err = await compileComputePipeline(device, { shader: main(code) }).catch((e) => e);
      expect(err).toBeInstanceOf(ShaderError);
      expect(err.message).toMatch(/src\/gpu\/shaders\/uses_fragments\.wgsl:4:\d+: /);
      expect(err.message).not.toMatch(/fragments\//);
    });

    it('are part of the pipeline cache key', async () => {
      const other = { file: 'fragments/consts_other.wgsl', code: 'const SCALE: f32 = 5.0;\n' };
      expect(specKey({ shader: main(ok) })).not.toBe(specKey({ shader: main(ok, [helpers, other]) }));
      expect(specKey({ shader: main(ok) })).not.toBe(specKey({ shader: main(ok, [consts, helpers]) }));
      const { device } = await getTestGpu();
      const cache = new PipelineCache(device);
      const a = await cache.get({ shader: main(ok) });
      const b = await cache.get({ shader: main(ok, [helpers, other]) });
      expect(a).not.toBe(b);
      expect(await cache.get({ shader: main(ok) })).toBe(a);
    });

    it('two different fragments of one name are refused', () => {
      const clash = { file: helpers.file, code: 'fn twice(v: f32) -> f32 {\n  return v + v;\n}\n' };
      expect(() => joinWgsl(main(ok, [helpers, clash]))).toThrow(/two different fragments are named fragments\/helpers_example\.wgsl/);
    });
  });
});
