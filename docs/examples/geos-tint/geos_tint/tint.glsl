// tint: mix the picture towards (u_tint_red, u_tint_green, u_tint_blue) by u_tint_strength,
// keeping its brightness so detail stays readable.
vec4 effect_tint(vec4 color, vec2 uv) {
    vec3 tint = vec3(u_tint_red, u_tint_green, u_tint_blue);
    float luma = dot(color.rgb, vec3(0.299, 0.587, 0.114));
    return vec4(mix(color.rgb, tint * luma * 1.6, u_tint_strength), color.a);
}
