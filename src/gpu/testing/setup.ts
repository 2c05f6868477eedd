// Vitest setup: install WebGPU's globals (GPUBufferUsage, GPUMapMode, ...) from Dawn's Node
// bindings before any module that uses them at import time is loaded.
import { globals } from 'webgpu';

Object.assign(globalThis, globals);
