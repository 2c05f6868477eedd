// The `enable f16;` directive of the matmul modules that read W as native f16 (the adapter has
// 'shader-f16'). Directives must precede every declaration, so this fragment comes first in the
// fragment list (before quad_tile.wgsl's `enable subgroups;`, were a module to use both).
enable f16;
