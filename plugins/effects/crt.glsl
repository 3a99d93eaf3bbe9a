// crt: a cathode-ray tube look, applied inside each tile's pass.
// Uniforms u_crt_<param> are declared by the renderer from CrtParams.
//
// quality "fast" runs this file alone: one pass, the glow a four-tap blur.  quality "high"
// runs crt_high.glsl, which includes this file with CRT_HIGH defined: the picture then
// comes from the "persist" pass (phosphor persistence, its own feedback) and the glow from
// the "bloom" pass (a separable blur of the bright parts at half size).
#ifdef CRT_HIGH
#define CRT_PICTURE u_pass_persist
#else
#define CRT_PICTURE u_frame
#endif

vec2 crt_warp(vec2 uv) {
    // barrel distortion: each axis bulges by the square of the other one
    vec2 c = uv * 2.0 - 1.0;
    c += c * (c.yx * c.yx) * u_crt_curvature * 2.0;
    return c * 0.5 + 0.5;
}

vec3 crt_glow(vec2 w, vec2 texel) {
#ifdef CRT_HIGH
    return texture(u_pass_bloom, w).rgb * 1.5;
#else
    vec3 blur = texture(u_frame, w + vec2(2.0, 0.0) * texel).rgb + texture(u_frame, w - vec2(2.0, 0.0) * texel).rgb
              + texture(u_frame, w + vec2(0.0, 2.0) * texel).rgb + texture(u_frame, w - vec2(0.0, 2.0) * texel).rgb;
    return max(blur * 0.25 - 0.4, 0.0);
#endif
}

vec4 effect_crt(vec4 color, vec2 uv) {
    vec2 texel = 1.0 / u_frame_size;
    vec2 w = u_crt_curvature > 0.0 ? crt_warp(uv) : uv;
    if (w.x < 0.0 || w.x > 1.0 || w.y < 0.0 || w.y > 1.0) {
        return vec4(0.0, 0.0, 0.0, 1.0);
    }
#ifdef CRT_HIGH
    vec3 rgb = texture(CRT_PICTURE, w).rgb;
#else
    vec3 rgb = (u_crt_curvature > 0.0 || u_crt_aberration > 0.0) ? texture(u_frame, w).rgb : color.rgb;
#endif
    if (u_crt_aberration > 0.0) {
        vec2 shift = vec2(u_crt_aberration * texel.x, 0.0);
        rgb.r = texture(CRT_PICTURE, w + shift).r;
        rgb.b = texture(CRT_PICTURE, w - shift).b;
    }
    if (u_crt_glow > 0.0) {
        rgb += u_crt_glow * crt_glow(w, texel);
    }
    // scanlines follow guest pixel rows; they fade out when a tile is drawn smaller
    // than its guest screen (minified rows would only make moire)
    float row_scale = u_tile_size.y / u_frame_size.y;
    float lines = u_crt_scanlines * smoothstep(0.6, 1.0, row_scale);
    if (mod(floor(w.y * u_frame_size.y), 2.0) >= 1.0) {
        rgb *= 1.0 - lines;
    }
    if (u_crt_mask > 0.0) {
        int column = int(mod(gl_FragCoord.x, 3.0));
        vec3 mask = vec3(column == 0, column == 1, column == 2);
        rgb *= mix(vec3(1.0), mask * 1.5 + 0.25, u_crt_mask);
    }
    vec2 edge = w * (1.0 - w);
    float vig = pow(clamp(edge.x * edge.y * 16.0, 0.0, 1.0), 0.35);
    rgb *= mix(1.0, vig, u_crt_vignette);
    return vec4(rgb, color.a);
}
