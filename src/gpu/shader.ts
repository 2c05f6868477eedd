// Shader compilation inside error scopes: a WGSL compile error or a pipeline validation error
// fails loudly and names the .wgsl file it came from (and the line), instead of surfacing later as
// an uncaptured error and garbage results.

export interface WgslSource {
  /** file name under src/gpu/shaders/, used in every error message */
  file: string;
  code: string;
}

export class ShaderError extends Error {
  constructor(
    readonly file: string,
    readonly details: string,
  ) {
    super(`WGSL error in src/gpu/shaders/${file}: ${details}`);
    this.name = 'ShaderError';
  }
}

export interface PipelineSpec {
  shader: WgslSource;
  entryPoint?: string;
  /** values for the shader's `override` constants (workgroup sizes, tile sizes...) */
  constants?: Record<string, number>;
}

function specKey(spec: PipelineSpec): string {
  const consts = spec.constants
    ? Object.keys(spec.constants)
        .sort()
        .map((k) => `${k}=${spec.constants![k]}`)
        .join(',')
    : '';
  return `${spec.shader.file}#${spec.entryPoint ?? 'main'}#${consts}`;
}

export async function compileComputePipeline(device: GPUDevice, spec: PipelineSpec): Promise<GPUComputePipeline> {
  const { file, code } = spec.shader;
  const entryPoint = spec.entryPoint ?? 'main';
  device.pushErrorScope('validation');
  const module = device.createShaderModule({ code, label: file });
  const info = await module.getCompilationInfo();
  const errors = info.messages.filter((m) => m.type === 'error');
  if (errors.length > 0) {
    await device.popErrorScope();
    throw new ShaderError(file, errors.map((m) => `line ${m.lineNum}:${m.linePos}: ${m.message}`).join('; '));
  }
  let pipeline: GPUComputePipeline;
  try {
    pipeline = await device.createComputePipelineAsync({
      label: `${file}:${entryPoint}`,
      layout: 'auto',
      compute: { module, entryPoint, constants: spec.constants },
    });
  } catch (e) {
    await device.popErrorScope();
    throw new ShaderError(file, `pipeline '${entryPoint}' could not be created: ${(e as Error).message}`);
  }
  const err = await device.popErrorScope();
  if (err) throw new ShaderError(file, `validation failed for '${entryPoint}': ${err.message}`);
  return pipeline;
}

/** Pipelines compiled once per device and spec (compiling costs ~150 ms on a software adapter). */
export class PipelineCache {
  private cache = new Map<string, Promise<GPUComputePipeline>>();
  constructor(private device: GPUDevice) {}

  get(spec: PipelineSpec): Promise<GPUComputePipeline> {
    const key = specKey(spec);
    let p = this.cache.get(key);
    if (!p) {
      p = compileComputePipeline(this.device, spec);
      // a failed compile must not poison the cache for a later fixed shader
      p.catch(() => this.cache.delete(key));
      this.cache.set(key, p);
    }
    return p;
  }
}
