// #version is prepended by the renderer.
// Per-triangle data computed once per primitive: the triangle id (gl_PrimitiveIDIn is the
// index of the triangle in the static index buffer), corner barycentrics, the flat normal
// and the NMFC colour (centroid of the normalised mean-face corners, flat per triangle as in
// Head2Head++ Eq. 7.2).


layout(triangles) in;
layout(triangle_strip, max_vertices = 3) out;

in VS_OUT {
    vec3 pos;
    vec3 ref;
    vec3 normal;
    vec2 uv;
    vec3 attr;
    float depth;
} gs_in[];

out vec3 f_pos;
out vec3 f_normal;
out vec2 f_uv;
out vec3 f_attr;
out vec3 f_bary;
out float f_depth;
flat out vec3 f_face_normal;
flat out vec3 f_nmfc;
flat out int f_tri;

void main() {
    vec3 n = cross(gs_in[1].pos - gs_in[0].pos, gs_in[2].pos - gs_in[0].pos);
    vec3 centre = (gs_in[0].ref + gs_in[1].ref + gs_in[2].ref) / 3.0;
    for (int i = 0; i < 3; ++i) {
        gl_Position = gl_in[i].gl_Position;
        f_pos = gs_in[i].pos;
        f_normal = gs_in[i].normal;
        f_uv = gs_in[i].uv;
        f_attr = gs_in[i].attr;
        f_bary = vec3(i == 0, i == 1, i == 2);
        f_depth = gs_in[i].depth;
        f_face_normal = n;
        f_nmfc = centre;
        f_tri = gl_PrimitiveIDIn;
        EmitVertex();
    }
    EndPrimitive();
}
