#version 330 core
// Every native effect pass: one quad.  a_pos runs 0..1 over the quad and u_matrix takes it
// to clip space (onto the tile's image on screen, the window, or a whole pass target);
// a_uv is (0, 0) at the image's top-left, y down, in every stage and every target.
layout(location = 0) in vec2 a_pos;
layout(location = 1) in vec2 a_uv;
uniform mat4 u_matrix;
out vec2 v_uv;

void main() {
    gl_Position = u_matrix * vec4(a_pos, 0.0, 1.0);
    v_uv = a_uv;
}
