// bio: brightness pulses like a heartbeat.  u_bio_phase (0..1 per beat) and
// u_bio_depth are computed per tile from the VM's smoothed CPU load (bio.py).
uniform float u_bio_phase;
uniform float u_bio_depth;

float bio_beat(float p) {
    // "lub-dub": a strong beat and a weaker echo
    float lub = exp(-pow((p - 0.08) * 12.0, 2.0));
    float dub = 0.55 * exp(-pow((p - 0.28) * 12.0, 2.0));
    return max(lub, dub);
}

vec4 effect_bio(vec4 color, vec2 uv) {
    float brightness = 1.0 - u_bio_depth * (1.0 - bio_beat(u_bio_phase));
    return vec4(color.rgb * brightness, color.a);
}
