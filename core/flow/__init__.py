"""Dense 3D facial flow from meshes (DeepFaceFlow Eq. 6.1), its colour codings
(Eq. 6.5 HSV for 3D, the Middlebury wheel for 2D) and comparison with image flow."""
from core.flow.colour import (FLOW_PERCENTILE, NORMALISATIONS, clip_max_magnitude, flow2d_to_rgb, flow3d_to_rgb,
                              legend_2d, legend_3d, magnitude_scale)
from core.flow.mesh_flow import (DenseFlow, clip_flow, clip_vertex_flow_scales, dense_flow, flow_from_buffers,
                                 flow_pair, vertex_displacement)

__all__ = ["FLOW_PERCENTILE", "NORMALISATIONS", "DenseFlow", "clip_flow", "clip_max_magnitude",
           "clip_vertex_flow_scales", "dense_flow", "flow2d_to_rgb", "flow3d_to_rgb", "flow_from_buffers",
           "flow_pair", "legend_2d", "legend_3d", "magnitude_scale", "vertex_displacement"]
