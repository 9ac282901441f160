"""Tracker points on the turned-away side of the face: trusted less, frame by frame.

MediaPipe's landmarker regresses a whole 3D face mesh, so on a turned head it still puts
every point somewhere, also those on the side the camera cannot see: the far half of the
jaw line and cheek are then its guess, not an observation (on AFLW2000-3D, ICT's jaw error
doubles from the 0-30 degree yaw bin to the 60-90 one). The seeds' contour treatment (eos,
seed 004) re-matches outline landmarks to the model's silhouette; that assumes 2D annotations
on the visible outline, which MediaPipe's points are not (they stay on its own mesh, hidden
behind the cheek), and doing it made the 30-60 degree bin worse (ICT jaw 7.4 -> 8.8 % NME).

Here each point's observation is instead pulled towards the fit's own projection in
proportion to how far its surface faces away from the camera: with the current fit, the
surface normal n at the point's embedded triangle, its component towards the viewer n_z
(``-R[2] . n``: the camera's depth axis points into the image); the visibility
``v = clip((n_z - FACING_AWAY) / (FACING_FULL - FACING_AWAY), V_MIN, 1)``, and the
observation becomes ``proj + v (obs - proj)``: a weight v on that point in a robust
(iteratively reweighted) fit, applied to the observation so that the fit keeps its point
weights shared by all frames (one set of normal equations). Frontal faces are unchanged
(every point faces the camera).

Measured (bench/bench_accuracy.py, 15 AFLW2000-3D images, jaw NME % by yaw bin 0-30 / 30-60
/ 60-90 degrees, 10 / 4 / 1 images): ICT off 6.86 / 7.43 / 15.06, on 6.83 / 7.52 / 14.62;
built-in off 7.16 / 8.51 / 15.90, on 7.16 / 8.60 / 15.91. Within noise, so it is off by
default (``FitSettings.hidden_points``). A first version took n_z with the wrong sign (it
trusted points facing the camera least and the turned-away ones fully): that one gave ICT
6.98 / 7.00 / 14.34, a gain that came from weakening every frontal point against the
priors, not from the visibility.

Coordinates: model cm (y up, +z towards the viewer); observations in image pixels.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.camera import OrthoCameras
from core.fitting.basis import LandmarkBasis, basis_from_vertices

#: normal z (camera frame, towards the viewer) at or below which a point counts as hidden ...
FACING_AWAY = -0.4
#: ... and from which on it counts as fully seen
FACING_FULL = -0.05
#: the least a hidden point's observation still counts
V_MIN = 0.2


@dataclass
class VisibilityModel:
    """The corner vertices of the tracker points' embedding triangles.

    corners : LandmarkBasis over the distinct corner vertices
    tri : (L, 3) indices into ``corners`` of each point's triangle
    """

    corners: LandmarkBasis
    tri: np.ndarray

    def visibility(self, identity: np.ndarray, expression: np.ndarray, cams: OrthoCameras) -> np.ndarray:
        """(F, L) in [V_MIN, 1]: how much each point's surface faces the camera in each frame."""
        C = self.corners.points(identity, expression)                        # (F, C, 3)
        a, b, c = (C[:, self.tri[:, k]] for k in range(3))
        n = np.cross(b - a, c - a)
        n /= np.maximum(np.linalg.norm(n, axis=-1, keepdims=True), 1e-12)
        # the camera's third row points away from the viewer (depth grows into the image)
        nz = -np.einsum("fb,flb->fl", cams.rotation[:, 2], n)
        return np.clip((nz - FACING_AWAY) / (FACING_FULL - FACING_AWAY), V_MIN, 1.0)

    def pulled(self, tracker: LandmarkBasis, identity: np.ndarray, expression: np.ndarray,
               cams: OrthoCameras, obs: np.ndarray) -> np.ndarray:
        """The observations (F, L, 2) px pulled towards the current fit's projection where hidden."""
        proj = cams.project(tracker.points(identity, expression))[..., :2]
        v = self.visibility(identity, expression, cams)[..., None]
        return proj + v * (obs - proj)


def visibility_model(model, num_points: int) -> VisibilityModel | None:
    """For the model's tracker embedding (None without one). The triangle's winding decides the
    normal's side: the models' triangles are counter-clockwise seen from outside."""
    if model.embedding is None:
        return None
    tri = np.asarray(model.triangles)[np.asarray(model.embedding.triangles)[:num_points]]   # (L, 3)
    verts, inv = np.unique(tri.ravel(), return_inverse=True)
    return VisibilityModel(basis_from_vertices(model, verts), inv.reshape(tri.shape))
