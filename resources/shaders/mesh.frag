// Fragment stage. The renderer compiles one variant per set of requested outputs by
// prepending defines (WANT_COLOR / WANT_IDS / WANT_ATTR and their LOC_* locations), so a
// pass writes only the render targets that will be read back:
//   colour     RGBA8    shaded / textured / NMFC, alpha 1 on the mesh
//   ids        RGBA32F  (triangle id + 1 as an exact float, b0, b1, depth); 0 = background
//   attribute  RGBA32F  interpolated per-vertex attribute (3) + coverage 1
// NO_GEOMETRY variants (no geometry stage) serve smooth shading, texturing and attributes
// without ids. #version is prepended by the renderer, before the defines.

const int MODE_SHADED_SMOOTH = 0;
const int MODE_SHADED_FLAT = 1;
const int MODE_TEXTURED = 2;
const int MODE_NMFC = 3;

uniform int u_mode;
uniform sampler2D u_texture;
uniform vec3 u_light;         // unit vector towards the light, lighting space
uniform vec4 u_eye;           // camera centre (w = 1) or direction towards the viewer (w = 0)
uniform vec3 u_albedo;
uniform float u_ambient;
uniform float u_specular;
uniform float u_shininess;

in vec3 f_pos;
in vec3 f_normal;
in vec2 f_uv;
in vec3 f_attr;
in float f_depth;
#ifndef NO_GEOMETRY
in vec3 f_bary;
flat in vec3 f_face_normal;
flat in vec3 f_nmfc;
flat in int f_tri;
#endif

#ifdef WANT_COLOR
layout(location = LOC_COLOR) out vec4 out_color;

vec3 shade(vec3 n) {
    vec3 v = normalize(u_eye.xyz - f_pos * u_eye.w);
    n = normalize(n);
    // Two-sided lighting: the input winding may be either way round.
    if (dot(n, v) < 0.0) n = -n;
    float diffuse = max(dot(n, u_light), 0.0);
    vec3 h = normalize(u_light + v);
    float spec = diffuse > 0.0 ? pow(max(dot(n, h), 0.0), u_shininess) : 0.0;
    return min(u_albedo * (u_ambient + (1.0 - u_ambient) * diffuse) + vec3(u_specular * spec), vec3(1.0));
}
#endif
#ifdef WANT_IDS
layout(location = LOC_IDS) out vec4 out_ids;
#endif
#ifdef WANT_ATTR
layout(location = LOC_ATTR) out vec4 out_attr;
#endif

void main() {
#ifdef WANT_COLOR
    vec3 c = vec3(0.0);
    if (u_mode == MODE_SHADED_SMOOTH) c = shade(f_normal);
    else if (u_mode == MODE_TEXTURED) c = texture(u_texture, f_uv).rgb;
#ifndef NO_GEOMETRY
    else if (u_mode == MODE_SHADED_FLAT) c = shade(f_face_normal);
    else if (u_mode == MODE_NMFC) c = f_nmfc;
#endif
    out_color = vec4(c, 1.0);
#endif
#ifdef WANT_IDS
    // Triangle ids stay exact as floats up to 2^24.
    out_ids = vec4(float(f_tri + 1), f_bary.x, f_bary.y, f_depth);
#endif
#ifdef WANT_ATTR
    out_attr = vec4(f_attr, 1.0);
#endif
}
