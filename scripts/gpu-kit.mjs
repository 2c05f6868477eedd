// `npm run gpu-kit`: builds gpu-kit/ (git-ignored, at most 60 MiB), everything a machine with a
// GPU needs to run Whetstone's benchmarks without Node, npm or network:
//
//   gpu-kit/run.sh             the one command (see gpu-kit/README.txt, written below)
//   gpu-kit/run.mjs            its orchestrator (scripts/gpu-kit-run.mjs: parts, time limits, ONE JSON)
//   gpu-kit/node.xz            this Node binary (process.execPath), xz-compressed
//   gpu-kit/app/kit.mjs        bench/kit/node.ts bundled with everything it imports (kernel bench,
//                              training bench with decode), except the webgpu package:
//   gpu-kit/app/node_modules/webgpu/   its index.js and package.json; dawn.node as dawn.node.xz
//   gpu-kit/lib/vulkan/libvulkan.so.1  the Vulkan loader, used only where the machine has none
//   gpu-kit/torch/             reference/bench_torch.py and reference/lib/ (the PyTorch peer)
//   gpu-kit/manifest.json      commit, date, sizes
//
// The compressed binaries are kept in node_modules/.cache/whetstone-gpu-kit and reused while their
// source has not changed, so a rebuild takes seconds. Options: --out DIR (default gpu-kit).
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'vite';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const KIT_LIMIT_BYTES = 60 * 2 ** 20;
const VULKAN_LOADER_CANDIDATES = ['/lib/x86_64-linux-gnu/libvulkan.so.1', '/usr/lib/x86_64-linux-gnu/libvulkan.so.1', '/usr/lib64/libvulkan.so.1'];

function parseArgs(argv) {
  const a = { out: join(root, 'gpu-kit') };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--out') a.out = argv[++i];
    else throw new Error(`unknown option ${argv[i]}; see the header of scripts/gpu-kit.mjs`);
  }
  return a;
}

function stampOf(file) {
  const s = statSync(file);
  return `${realpathSync(file)}:${s.size}:${Math.floor(s.mtimeMs)}`;
}

/** CACHE/NAME.xz from SRC (xz), unless the cache's stamps say it was made from this very SRC. */
function compressCached(src, cache, name) {
  const stampsFile = join(cache, 'stamps.json');
  const stamps = existsSync(stampsFile) ? JSON.parse(readFileSync(stampsFile, 'utf8')) : {};
  const dst = join(cache, `${name}.xz`);
  const stamp = stampOf(src);
  if (stamps[name] === stamp && existsSync(dst)) return dst;
  try {
    execFileSync('xz', ['--version'], { stdio: 'ignore' });
  } catch {
    throw new Error('npm run gpu-kit needs the xz command to compress Node: install it (Debian/Ubuntu: apt-get install xz-utils)');
  }
  // -6 with 2 threads: ~25 MiB for Node in about a minute on 2 cores; -9 gains little and takes 3x
  execFileSync('sh', ['-c', `xz -6 -T2 -c "$0" > "$1.tmp" && mv "$1.tmp" "$1"`, src, dst], { stdio: 'inherit' });
  stamps[name] = stamp;
  writeFileSync(stampsFile, `${JSON.stringify(stamps, null, 2)}\n`);
  return dst;
}

function dirBytes(dir) {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    n += e.isDirectory() ? dirBytes(p) : statSync(p).size;
  }
  return n;
}

function gitCommit() {
  try {
    return execFileSync('git', ['rev-parse', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim();
  } catch {
    return null;
  }
}

const RUN_SH = `#!/usr/bin/env bash
# Whetstone GPU kit: the benchmarks on this machine's GPU, without Node, npm or network.
#   gpu-kit/run.sh [--out FILE] [--dry-run] [--budget-s SECONDS]
# Unpacks Node and dawn.node (xz, else Python's lzma) into \${KIT_WORK:-/tmp/whetstone-gpu-kit},
# finds the Vulkan loader and driver (the kit's loader where the machine has none; NVIDIA's ICD
# under /usr/local/nvidia where the standard folders have none), then runs run.mjs: the adapter,
# the kernel bench, the training bench (Qwen2.5-0.5B and SmolLM2-135M shapes, random weights, LoRA
# r=16 on all linear layers, decode speed) and the PyTorch CUDA peer, each with its own time limit,
# writing ONE JSON (default ./whetstone-gpu-kit.json) after every part. --dry-run: tiny shapes, the
# peer on the CPU: checks the kit on a machine without a GPU (SwiftShader).
set -u
KIT="$(cd "$(dirname "\${BASH_SOURCE[0]}")" && pwd)"
WORK="\${KIT_WORK:-\${TMPDIR:-/tmp}/whetstone-gpu-kit}"
mkdir -p "$WORK/bin" "$WORK/app"

unxz_to() { # SRC.xz DST
  if command -v xz >/dev/null 2>&1; then xz -dc "$1" > "$2.tmp"
  else python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$1" "$2.tmp"
  fi && mv "$2.tmp" "$2"
}
STAMP="$(cat "$KIT/manifest.json" | cksum)"
if [ ! -x "$WORK/bin/node" ] || [ "$(cat "$WORK/stamp" 2>/dev/null)" != "$STAMP" ]; then
  rm -rf "$WORK/app" && mkdir -p "$WORK/app" && cp -R "$KIT/app/." "$WORK/app/" || exit 1
  unxz_to "$KIT/node.xz" "$WORK/bin/node" && chmod +x "$WORK/bin/node" || { echo "gpu-kit: could not unpack node" >&2; exit 1; }
  unxz_to "$WORK/app/node_modules/webgpu/dist/linux-x64/dawn.node.xz" "$WORK/app/node_modules/webgpu/dist/linux-x64/dawn.node" || { echo "gpu-kit: could not unpack dawn.node" >&2; exit 1; }
  echo "$STAMP" > "$WORK/stamp"
fi

# the Vulkan loader: the machine's, else the kit's
if ! { ldconfig -p 2>/dev/null | grep -q 'libvulkan.so.1'; }; then
  export LD_LIBRARY_PATH="$KIT/lib/vulkan\${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export WHETSTONE_KIT_VULKAN_LOADER=kit
else export WHETSTONE_KIT_VULKAN_LOADER=system
fi
# the driver: NVIDIA's in the standard folders, else NVIDIA's mount (containers), else NVIDIA's
# library itself; on a machine without any GPU device (the dry run), Chromium's SwiftShader
has_icd() { for d in /usr/share/vulkan/icd.d /etc/vulkan/icd.d /usr/local/share/vulkan/icd.d; do ls "$d"/$1 >/dev/null 2>&1 && return 0; done; return 1; }
if [ -n "\${VK_ICD_FILENAMES:-}\${VK_DRIVER_FILES:-}" ]; then export WHETSTONE_KIT_VULKAN_DRIVER=given
elif has_icd 'nvidia*.json'; then export WHETSTONE_KIT_VULKAN_DRIVER=system-nvidia
elif [ -f /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ]; then
  export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json VK_ICD_FILENAMES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json WHETSTONE_KIT_VULKAN_DRIVER=nvidia-mount
elif ldconfig -p 2>/dev/null | grep -q 'libGLX_nvidia.so.0'; then
  printf '{"file_format_version":"1.0.0","ICD":{"library_path":"libGLX_nvidia.so.0","api_version":"1.3.0"}}\\n' > "$WORK/nvidia_icd.json"
  export VK_DRIVER_FILES="$WORK/nvidia_icd.json" VK_ICD_FILENAMES="$WORK/nvidia_icd.json" WHETSTONE_KIT_VULKAN_DRIVER=nvidia-library
elif [ ! -e /dev/dri ] && [ ! -e /dev/nvidia0 ] && [ -f /usr/lib/chromium/vk_swiftshader_icd.json ]; then
  export VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json WHETSTONE_KIT_VULKAN_DRIVER=swiftshader
else export WHETSTONE_KIT_VULKAN_DRIVER=system
fi
if [ -z "\${XDG_RUNTIME_DIR:-}" ]; then export XDG_RUNTIME_DIR="$WORK/xdg"; mkdir -p "$XDG_RUNTIME_DIR"; chmod 700 "$XDG_RUNTIME_DIR"; fi
exec "$WORK/bin/node" "$KIT/run.mjs" --kit "$KIT" --work "$WORK" "$@"
`;

const README = `Whetstone GPU kit (built by \`npm run gpu-kit\`; see the project README, "Performance").

On the machine with the GPU (NVIDIA with Vulkan through its driver; PyTorch with CUDA for the
peer; no Node or network needed):

    bash gpu-kit/run.sh --out /some/where/gpu-kit.json

It takes under 8 minutes (each part has its own limit; a part that fails or runs out of time is
recorded with its error and the rest still run) and writes one JSON: machine, adapter, kernel
bench, training bench for each shape (tokens/s, step split, passes/dispatches/submits per step,
decode tokens/s and commands per token), the PyTorch CUDA peer (float32 and bfloat16) and a
summary. The file is rewritten after every part.

Dry run (no GPU; SwiftShader): bash gpu-kit/run.sh --dry-run --out /tmp/kit.json
`;

async function main() {
  const a = parseArgs(process.argv.slice(2));
  const t0 = Date.now();
  const out = a.out;
  mkdirSync(out, { recursive: true });
  const manifestFile = join(out, 'manifest.json');

  // the bundle: Node target, everything inlined but the native webgpu package
  const app = join(out, 'app');
  rmSync(app, { recursive: true, force: true });
  console.log('gpu-kit: bundling bench/kit/node.ts');
  await build({
    root,
    configFile: false,
    // public/ (the demo model, sample datasets) is the studio's, not the benchmarks'
    publicDir: false,
    logLevel: 'warn',
    build: {
      ssr: join(root, 'bench/kit/node.ts'),
      outDir: app,
      emptyOutDir: true,
      target: 'node20',
      minify: false,
      rollupOptions: { external: ['webgpu'], output: { format: 'es', entryFileNames: 'kit.mjs', codeSplitting: false } },
    },
    ssr: { noExternal: true, target: 'node' },
  });
  const webgpuSrc = join(root, 'node_modules', 'webgpu');
  const webgpuDst = join(app, 'node_modules', 'webgpu');
  mkdirSync(join(webgpuDst, 'dist', 'linux-x64'), { recursive: true });
  for (const f of ['package.json', 'index.js', 'LICENSE.md']) if (existsSync(join(webgpuSrc, f))) copyFileSync(join(webgpuSrc, f), join(webgpuDst, f));
  const dawn = join(webgpuSrc, 'dist', 'linux-x64', 'dawn.node');
  if (!existsSync(dawn)) throw new Error(`${dawn} is missing: run npm install (the webgpu package ships it)`);

  // compressed once per source binary, in a cache outside the kit
  const cache = join(root, 'node_modules', '.cache', 'whetstone-gpu-kit');
  mkdirSync(cache, { recursive: true });
  console.log('gpu-kit: dawn.node (xz)');
  copyFileSync(compressCached(dawn, cache, 'dawn.node'), join(webgpuDst, 'dist', 'linux-x64', 'dawn.node.xz'));
  console.log(`gpu-kit: ${process.execPath} (Node ${process.version}, xz)`);
  copyFileSync(compressCached(process.execPath, cache, 'node'), join(out, 'node.xz'));

  const loader = VULKAN_LOADER_CANDIDATES.find((p) => existsSync(p));
  if (!loader) throw new Error(`no Vulkan loader (libvulkan.so.1) in ${VULKAN_LOADER_CANDIDATES.join(', ')}: install it (Debian/Ubuntu: apt-get install libvulkan1)`);
  mkdirSync(join(out, 'lib', 'vulkan'), { recursive: true });
  copyFileSync(realpathSync(loader), join(out, 'lib', 'vulkan', 'libvulkan.so.1'));

  rmSync(join(out, 'torch'), { recursive: true, force: true });
  mkdirSync(join(out, 'torch', 'lib'), { recursive: true });
  copyFileSync(join(root, 'reference', 'bench_torch.py'), join(out, 'torch', 'bench_torch.py'));
  cpSync(join(root, 'reference', 'lib'), join(out, 'torch', 'lib'), { recursive: true, filter: (p) => !p.includes('__pycache__') });

  copyFileSync(join(root, 'scripts', 'gpu-kit-run.mjs'), join(out, 'run.mjs'));
  writeFileSync(join(out, 'run.sh'), RUN_SH);
  chmodSync(join(out, 'run.sh'), 0o755);
  writeFileSync(join(out, 'README.txt'), README);

  const manifest = {
    commit: gitCommit(),
    builtAt: new Date().toISOString(),
    node: process.version,
    webgpu: JSON.parse(readFileSync(join(webgpuSrc, 'package.json'), 'utf8')).version,
    vulkanLoader: realpathSync(loader),
    sources: { node: stampOf(process.execPath), dawn: stampOf(dawn) },
  };
  writeFileSync(manifestFile, `${JSON.stringify(manifest, null, 2)}\n`);
  const bytes = dirBytes(out);
  manifest.bytes = bytes;
  writeFileSync(manifestFile, `${JSON.stringify(manifest, null, 2)}\n`);
  console.log(`gpu-kit: ${out} is ${(bytes / 2 ** 20).toFixed(1)} MiB (limit ${KIT_LIMIT_BYTES / 2 ** 20} MiB), built in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  if (bytes > KIT_LIMIT_BYTES) throw new Error(`the kit is ${(bytes / 2 ** 20).toFixed(1)} MiB, over the ${KIT_LIMIT_BYTES / 2 ** 20} MiB limit`);
  console.log(`run it: bash ${relative(process.cwd(), out) || '.'}/run.sh --out gpu-kit.json   (dry run here: add --dry-run)`);
}

main().catch((e) => {
  console.error(`gpu-kit: ${e.message ?? e}`);
  process.exit(1);
});
