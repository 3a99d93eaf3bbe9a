// The stable set of uniforms every screen effect can read (docs/effects.md lists them).
// Texture coordinates (uv) are (0, 0) at the window's top-left, y down, in every texture.
uniform sampler2D u_screen;    // this pass's input: the window drawn so far, or what the passes and effects before drew
uniform sampler2D u_original;  // this effect's input (what its first pass reads as u_screen)
uniform vec2 u_source_size;    // u_screen's size in pixels
uniform vec2 u_original_size;  // u_original's size in pixels
uniform vec2 u_output_size;    // this pass's target in pixels
uniform vec2 u_resolution;     // window size in pixels
uniform float u_time;          // seconds since the shell started
uniform float u_zoom;          // camera zoom
uniform int u_frame_count;     // frames this effect has drawn
uniform int u_frame_direction; // 1 (time runs forwards)
