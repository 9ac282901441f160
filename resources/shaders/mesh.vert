// #version is prepended by the renderer.
// Mesh vertex stage shared by every render mode of core/render/renderer.py.
//
// Two ways in:
//  * screen space (u_use_view == 0): in_pos = (x_px, y_px, depth) from core.camera.project,
//    pixel centres at integer coordinates, depth grows away from the viewer;
//  * view + projection (u_use_view == 1): in_pos in any world space, GL-style matrices
//    (eye looks down -z, y up).
// NDC y is flipped on purpose in both paths so that framebuffer row 0 is image row 0:
// glReadPixels then returns rows top-down and no flip copy is needed on readback.


uniform int u_use_view;
uniform mat4 u_view;
uniform mat4 u_proj;          // already multiplied by diag(1, -1, 1, 1)
uniform vec2 u_size;          // framebuffer width, height in pixels
uniform vec2 u_depth_range;   // screen path: depth mapped to the NDC z range [-1, 1]

in vec3 in_pos;
in vec3 in_ref;               // NMFC: normalised mean-face coordinates in [0, 1]^3
in vec3 in_normal;
in vec2 in_uv;
in vec3 in_attr;

// Without a geometry stage (NO_GEOMETRY: no ids, no flat data needed) the outputs go
// straight to the fragment stage under its input names.
#ifdef NO_GEOMETRY
out vec3 f_pos;
out vec3 f_normal;
out vec2 f_uv;
out vec3 f_attr;
out float f_depth;
#else
out VS_OUT {
    vec3 pos;                 // position in the lighting space (screen space or world space)
    vec3 ref;
    vec3 normal;
    vec2 uv;
    vec3 attr;
    float depth;              // output depth: input depth (screen) or eye-space distance (view)
} vs_out;
#endif

void main() {
    float depth;
    if (u_use_view == 1) {
        vec4 eye = u_view * vec4(in_pos, 1.0);
        gl_Position = u_proj * eye;
        depth = -eye.z;
    } else {
        float z = (in_pos.z - u_depth_range.x) / (u_depth_range.y - u_depth_range.x);
        gl_Position = vec4((in_pos.x + 0.5) / u_size.x * 2.0 - 1.0,
                           (in_pos.y + 0.5) / u_size.y * 2.0 - 1.0,
                           z * 2.0 - 1.0, 1.0);
        depth = in_pos.z;
    }
#ifdef NO_GEOMETRY
    f_pos = in_pos;
    f_normal = in_normal;
    f_uv = in_uv;
    f_attr = in_attr;
    f_depth = depth;
#else
    vs_out.pos = in_pos;
    vs_out.ref = in_ref;
    vs_out.normal = in_normal;
    vs_out.uv = in_uv;
    vs_out.attr = in_attr;
    vs_out.depth = depth;
#endif
}
