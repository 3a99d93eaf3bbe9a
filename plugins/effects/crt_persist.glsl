// crt, quality "high", pass "persist": phosphors keep glowing.  What was lit fades by
// u_crt_persistence per frame (this pass's own last output, u_feedback); the guest's
// picture never goes below it.  A float target, so the fade reaches black smoothly.
vec4 effect_crt(vec4 color, vec2 uv) {
    return vec4(max(color.rgb, texture(u_feedback, uv).rgb * u_crt_persistence), 1.0);
}
