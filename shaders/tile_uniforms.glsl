// The stable set of uniforms every tile effect can read (docs/effects.md lists them).
// Texture coordinates (uv) are (0, 0) at the image's top-left, y down, in every texture.
// In the batched tile pass (GEOS_TILE_BATCH, tile_batch.vert) the per-tile values arrive
// from the vertex shader, which reads them from a buffer of per-tile rows: the names,
// types and meanings stay the same, so an effect's GLSL cannot tell the two apart.
uniform sampler2D u_frame;     // this pass's input: the guest image, or what the passes and effects before drew
uniform sampler2D u_original;  // this effect's input (what its first pass reads as u_frame)
uniform sampler2D u_guest;     // the guest image itself (BGRA storage, alpha forced to 1)
#ifdef GEOS_TILE_BATCH
flat in vec2 u_frame_size;
flat in vec2 u_source_size;
flat in vec2 u_original_size;
flat in vec2 u_output_size;
flat in vec2 u_tile_size;
flat in float u_focus;
flat in float u_cpu_load;
flat in float u_update_rate;
flat in int u_state;
#else
uniform vec2 u_frame_size;     // guest image size in pixels (scanlines follow guest rows with it)
uniform vec2 u_source_size;    // u_frame's size in pixels
uniform vec2 u_original_size;  // u_original's size in pixels
uniform vec2 u_output_size;    // this pass's target in pixels
uniform vec2 u_tile_size;      // the image's size on screen, in pixels
uniform float u_focus;         // 1.0 when this tile has input focus, else 0.0
uniform float u_cpu_load;      // the VM's CPU load, smoothed, 0..1 (per vCPU average)
uniform float u_update_rate;   // screen updates per second received for this tile
uniform int u_state;           // 0 booting, 1 running, 2 paused, 3 stopped, 4 failed
#endif
uniform vec2 u_resolution;     // window size in pixels
uniform float u_time;          // seconds since the shell started
uniform float u_zoom;          // camera zoom (screen pixels per world unit)
uniform int u_frame_count;     // frames this effect has drawn for this tile
uniform int u_frame_direction; // 1 (time runs forwards)
