"""Reenactment: a source face drives a target (expression, head pose, gaze).

``transfer`` computes the driven target parameters, ``render`` / ``warp`` / ``fill``
turn them into pixels by warping the target frame, ``pipeline`` runs offline export
and ``live`` the newest-frame-first live preview.
"""
