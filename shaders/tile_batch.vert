#version 330 core
// The batched tile pass (engine/render/tile_batch.py): the same quad as pass.vert, placed by
// the tile's row in u_tiles instead of a per-tile matrix, and the tile's values handed to
// the fragment shader (tile.frag with GEOS_TILE_BATCH) under their uniform names.
// A row is three RGBA32F texels: the image rect in world units (x, y, w, h);
// (frame width, frame height, focus, cpu load); (update rate, state, 0, 0).
layout(location = 0) in vec2 a_pos;
layout(location = 1) in vec2 a_uv;
uniform mat4 u_camera;         // world -> clip space
uniform float u_zoom;
uniform int u_tile;            // the row of the tile drawn
uniform sampler2D u_tiles;     // one texel row per tile (RGBA32F, 3 texels wide)
out vec2 v_uv;
flat out vec2 u_frame_size;
flat out vec2 u_source_size;
flat out vec2 u_original_size;
flat out vec2 u_output_size;
flat out vec2 u_tile_size;
flat out float u_focus;
flat out float u_cpu_load;
flat out float u_update_rate;
flat out int u_state;

void main() {
    vec4 rect = texelFetch(u_tiles, ivec2(0, u_tile), 0);
    vec4 frame = texelFetch(u_tiles, ivec2(1, u_tile), 0);
    vec4 more = texelFetch(u_tiles, ivec2(2, u_tile), 0);
    gl_Position = u_camera * vec4(rect.xy + a_pos * rect.zw, 0.0, 1.0);
    v_uv = a_uv;
    u_frame_size = frame.xy;
    u_source_size = frame.xy;
    u_original_size = frame.xy;
    u_tile_size = rect.zw * u_zoom;
    u_output_size = max(vec2(1.0), floor(u_tile_size + 0.5));
    u_focus = frame.z;
    u_cpu_load = frame.w;
    u_update_rate = more.x;
    u_state = int(more.y);
}
