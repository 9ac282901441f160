"""Reenactment: a source face drives a target (expression, head pose, gaze).

``transfer`` computes the driven target parameters, ``faces`` fits a source or target
(``FittedFace``) and places any of its frames in the image for the renderer, ``pipeline``
runs the offline export and ``live`` the newest-frame-first live preview. Pixels come from a
``core.warp.FaceRenderer`` (the warp renderer today).
"""
