// First import of the kit's bundle: WebGPU's globals (GPUBufferUsage, GPUMapMode, ...) from Dawn's
// Node bindings, installed before any module that reads them at import time is evaluated.
import { globals } from 'webgpu';

Object.assign(globalThis, globals);
