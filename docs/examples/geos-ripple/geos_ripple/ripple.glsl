// ripple: rings of waves from u_ripple_centre (0..1 over the image, y down) move the
// picture towards and away from it by up to u_ripple_amplitude guest pixels.
// A warp: it re-samples u_frame (what the effects before it drew) at a moved position.
vec4 effect_ripple(vec4 color, vec2 uv) {
    vec2 pixels = uv * u_frame_size;  // guest pixels: the waves keep their size whatever the zoom
    vec2 away = pixels - u_ripple_centre * u_frame_size;
    float distance = length(away);
    float wave = sin(distance / u_ripple_wavelength * 6.2831853 - u_time * u_ripple_speed);
    vec2 offset = distance > 0.0 ? away / distance * wave * u_ripple_amplitude : vec2(0.0);
    return texture(u_frame, (pixels + offset) / u_frame_size);
}
