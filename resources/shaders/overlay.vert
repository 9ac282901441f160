// #version is prepended by the renderer.
// Lines and points drawn over a rendered mesh (wireframe, flow arrows, landmarks): the
// same two ways in as mesh.vert (screen space or view + projection), a flat colour per
// vertex, and a depth bias towards the viewer so lines on the surface are not hidden by it.

uniform int u_use_view;
uniform mat4 u_view;
uniform mat4 u_proj;          // already multiplied by diag(1, -1, 1, 1)
uniform vec2 u_size;
uniform vec2 u_depth_range;
uniform float u_depth_bias;   // in NDC z units (the NDC depth range is 2)
uniform float u_point_size;

in vec3 in_pos;
in vec3 in_colour;
out vec3 v_colour;

void main() {
    if (u_use_view == 1) {
        gl_Position = u_proj * (u_view * vec4(in_pos, 1.0));
    } else {
        float z = (in_pos.z - u_depth_range.x) / (u_depth_range.y - u_depth_range.x);
        gl_Position = vec4((in_pos.x + 0.5) / u_size.x * 2.0 - 1.0,
                           (in_pos.y + 0.5) / u_size.y * 2.0 - 1.0,
                           z * 2.0 - 1.0, 1.0);
    }
    gl_Position.z -= u_depth_bias * gl_Position.w;
    gl_PointSize = u_point_size;
    v_colour = in_colour;
}
