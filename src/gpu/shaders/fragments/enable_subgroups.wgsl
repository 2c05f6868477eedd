// The `enable subgroups;` directive for a shader whose other fragments do not carry it: list it
// first (a directive must precede every declaration). Needs the device's 'subgroups' feature.
enable subgroups;
