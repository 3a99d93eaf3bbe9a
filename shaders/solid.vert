#version 330 core
// Flat-coloured rectangles: tile frames, title bars, badges, HUD panels.
layout(location = 0) in vec2 a_pos;
layout(location = 1) in vec4 a_color;
uniform mat4 u_matrix;
out vec4 v_color;

void main() {
    gl_Position = u_matrix * vec4(a_pos, 0.0, 1.0);
    v_color = a_color;
}
