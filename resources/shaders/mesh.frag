// Fragment stage. The renderer compiles one variant per set of requested outputs by
// prepending defines (WANT_COLOR / WANT_IDS / WANT_ATTR and their LOC_* locations), so a
// pass writes only the render targets that will be read back:
//   colour     RGBA8    shaded / textured / NMFC / per-vertex colour, alpha 1 on the mesh
//   ids        RG32UI   (triangle id + 1, b0 | b1 << 16, see below); 0 = background. Depth is
//                       not written: the renderer interpolates it from the barycentrics on demand
//   attribute  RG32F + R32F  interpolated per-vertex attribute (x, y and z); two targets of
//                       12 bytes cost less than one RGBA32F, and coverage comes from depth
// NO_GEOMETRY variants (no geometry stage) serve smooth shading, texturing and attributes
// without ids. #version is prepended by the renderer, before the defines.

const int MODE_SHADED_SMOOTH = 0;
const int MODE_SHADED_FLAT = 1;
const int MODE_TEXTURED = 2;
const int MODE_NMFC = 3;
const int MODE_COLOUR = 5;    // per-vertex colour given as the attribute (e.g. 3D flow)

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
layout(location = LOC_IDS) out uvec2 out_ids;
#endif
#ifdef WANT_ATTR
layout(location = LOC_ATTR) out vec2 out_attr_xy;
layout(location = LOC_ATTR_Z) out float out_attr_z;
#endif

void main() {
#ifdef WANT_COLOR
    vec3 c = vec3(0.0);
    if (u_mode == MODE_SHADED_SMOOTH) c = shade(f_normal);
    else if (u_mode == MODE_TEXTURED) c = texture(u_texture, f_uv).rgb;
    else if (u_mode == MODE_COLOUR) c = f_attr;
#ifndef NO_GEOMETRY
    else if (u_mode == MODE_SHADED_FLAT) c = shade(f_face_normal);
    else if (u_mode == MODE_NMFC) c = f_nmfc;
#endif
    out_color = vec4(c, 1.0);
#endif
#ifdef WANT_IDS
    // 8 bytes per pixel: on llvmpipe the fragment stage costs by bytes written. The
    // barycentrics are stored as unorm16 over [-0.25, 1.25] (step 2.3e-5, far finer than
    // the interpolation error ~5e-4) so that the slight extrapolation the rasteriser
    // produces at a few edge pixels is kept, not clamped.
    // Code 0 is kept for the background (cleared to 0), so codes run from 1.
    uvec2 b = uvec2(clamp((f_bary.xy + 0.25) / 1.5 * 65535.0 + 0.5, 1.0, 65535.0));
    out_ids = uvec2(uint(f_tri + 1), b.x | (b.y << 16));
#endif
#ifdef WANT_ATTR
    out_attr_xy = f_attr.xy;
    out_attr_z = f_attr.z;
#endif
}
