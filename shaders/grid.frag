#version 330 core
// The background grid of the infinite map.  Minor lines every 10^k world units,
// major lines every 10^(k+1); as the zoom changes the minor lines fade in or out so
// the on-screen spacing never drops below a few pixels and never jumps.
uniform vec3 u_camera;       // world x, world y at the window centre; zoom
uniform vec2 u_viewport;     // window size in pixels
uniform vec3 u_background;   // background colour
uniform vec3 u_line;         // line colour

out vec4 frag_color;

float line(vec2 world, float spacing, float width_px, float zoom) {
    vec2 dist = abs(fract(world / spacing + 0.5) - 0.5) * spacing * zoom;  // pixels to the nearest line
    float d = min(dist.x, dist.y);
    return 1.0 - smoothstep(width_px * 0.5, width_px * 0.5 + 1.0, d);
}

void main() {
    float zoom = u_camera.z;
    vec2 screen = vec2(gl_FragCoord.x, u_viewport.y - gl_FragCoord.y);
    vec2 world = (screen - 0.5 * u_viewport) / zoom + u_camera.xy;
    float level = log(8.0 / zoom) / log(10.0);      // minor spacing at least ~8 px
    float k = ceil(level);
    float minor = pow(10.0, k);
    float fade = clamp((k - level) * 1.5, 0.0, 1.0); // 0 just after a level change
    float g = max(line(world, minor, 1.0, zoom) * 0.35 * fade,
                  line(world, minor * 10.0, 1.0, zoom) * 0.7);
    frag_color = vec4(mix(u_background, u_line, g), 1.0);
}
