// #version is prepended by the renderer. Flat colour of a line or point overlay.
in vec3 v_colour;
out vec4 out_color;

void main() {
    out_color = vec4(v_colour, 1.0);
}
