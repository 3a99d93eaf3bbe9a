// crt, quality "high", the two bloom passes: a 9-tap gaussian across columns (CRT_BLOOM_X,
// which also keeps only what is brighter than 0.4) or down rows, of this pass's input.
vec4 effect_crt(vec4 color, vec2 uv) {
#ifdef CRT_BLOOM_X
    vec2 step = vec2(1.0 / u_source_size.x, 0.0);
#else
    vec2 step = vec2(0.0, 1.0 / u_source_size.y);
#endif
    vec3 sum = vec3(0.0);
    float total = 0.0;
    for (int i = -4; i <= 4; i++) {
        float weight = exp(-float(i * i) / 8.0);
        vec3 tap = texture(u_frame, uv + float(i) * step).rgb;
#ifdef CRT_BLOOM_X
        tap = max(tap - 0.4, 0.0);
#endif
        sum += tap * weight;
        total += weight;
    }
    return vec4(sum / total, 1.0);
}
