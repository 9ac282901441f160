"""Fitting settings: every weight with the reason for its value (see docs/fitting.md).

Units. The landmark term is measured in model centimetres: each frame's pixel
residuals are divided by that frame's camera scale (pixels per cm), so a close-up
and a small face in the corner weigh the same and the priors mean the same thing
at any resolution. Coefficients are in prior units (identity: standard
deviations; expression: blendshape activations), so the priors are plain
``||i||^2`` and ``||e||^2``.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields

#: the jaw-line conventions of ``FitSettings.jaw_landmarks`` (core/fitting/landmarks68.py)
JAW_CONVENTIONS = ("3d", "silhouette")


@dataclass
class FitSettings:
    """Every weight and switch of the fitters, each with the reason for its value (the comments)."""

    #: Landmark noise in cm. The data term is sum w ||residual_cm||^2 / sigma^2,
    #: i.e. a Gaussian likelihood with this std per coordinate. 0.15 cm is about
    #: 2 px on a 200 px wide face: MediaPipe's typical error on still images.
    landmark_sigma_cm: float = 0.15
    #: Tracker points are not independent measurements (MediaPipe's 478 points come
    #: from one network and their errors are strongly correlated), so per frame the
    #: point weights are normalised to sum to this many "effective points". 68
    #: makes a 478-point fit and a 68-point fit carry the same evidence per frame.
    effective_points: float = 68.0
    #: Identity prior weight on ||i||^2 (i in std units). 1.0 would be the Gaussian prior of a
    #: PCA model if the landmark noise were ``landmark_sigma_cm`` on ``effective_points``
    #: independent points; MediaPipe's error on a face's *shape* is larger and shared between
    #: points: on bench_shape's synthetic faces its inner points see about half of a face's
    #: deviation from the mean (per-point correlation with the truth 0.6, slope 0.5; nose 0.4),
    #: with an error of 1.9 mm rms against a 2.3 mm identity signal
    #: (bench/bench_shape_signal.py). Session 7, 24 random Surrey faces (seed 17), the identity
    #: vs the mean shape after similarity + ICP on stills, ICT (built-in): prior 1 1.8 % (9.7 %)
    #: closer, 4 10.3 % (10.6 %), 8 10.0 % (ICT); AFLW2000-3D NME ICT 4.22 -> 4.16 %, built-in
    #: 4.18 -> 4.15 %; on clips it is outweighed by the frames (``identity_evidence_frames``).
    #: Session 8, same faces, prior 4 -> 8 (with ``identity_symmetry`` 4 below): ICT stills 10.3
    #: -> 9.8 % (paired ratio 0.954 -> 0.945), clips 3.9 -> 8.6 %, spread of the identity across
    #: the 8 views 0.92 -> 0.69 mm (1.42 with prior 1); built-in stills 10.6 -> 13.8 %, clips 4.5
    #: -> 10.7 %; AFLW2000-3D NME (16 images) ICT 4.44 -> 4.40 %, built-in 4.49 -> 4.45 %;
    #: expressions, flow evidence and the d6 / d9 / d12 temporal figures unchanged (NOTES).
    identity_prior: float = 8.0
    #: The landmarks' evidence on the identity counts as at most this many frames: beyond it the
    #: identity prior grows with the clip (core/fitting/priors.identity_prior_weight). MediaPipe's
    #: error on a face's shape repeats in every frame, so 41 frames of a head sweep do not know
    #: the shape 41 times better than one: with a fixed prior the whole-video fit's identity
    #: follows the tracker's bias (ICT identity norm 14-15 std on the 41-frame sweeps against 4
    #: on stills; its nose tip moved up to 10 mm from the mean's, about twice the truth's offset,
    #: where depth and head rotation trade off). 24 faces, clips, ICT (built-in): no limit -1.3 %
    #: (4.2 %) closer than the mean with prior 1, 3.9 % (4.5 %) with prior 4; limit 1 frame 12.0 %
    #: (9.7 %). Off (<= 0, a fixed prior): the limit makes the fit's points follow MediaPipe's
    #: less on real clips, and the whole-video fit's error against the raw detections (the
    #: issue's <= 2.5 % IOD) rises on d6 from 2.47 to 2.65 % (limit 1), 2.62 (2), 2.59 (4),
    #: 2.56 % (8 frames); d9 1.24 -> 1.37 % (limit 1). The 3D shape and MediaPipe's points
    #: disagree there; the calm-frame point offsets (``neutral_calibration``) do not take it up
    #: (shrinkage 5 -> 0.5 frames: d6 2.61 %).
    identity_evidence_frames: float = 0.0
    #: Weight, in frames' worth of landmark evidence, of a prior that the identity is left-right
    #: symmetric (core/fitting/priors.identity_symmetry_matrix: the mean square asymmetry of its
    #: displacement at the tracker points, over landmark_sigma_cm^2, times effective_points).
    #: MediaPipe's error on a turned face differs between its near and far side; faces are close
    #: to symmetric. The built-in model's smooth identity modes include wholly antisymmetric ones
    #: (shears, twists) that took that error up; ICT's modes are nearly symmetric, so it changes
    #: little there. 24 faces, with prior 8, symmetry 0 -> 4: built-in stills 12.0 -> 13.8 %
    #: closer than the mean, clips 4.9 -> 10.7 %, view spread 1.15 -> 1.22 mm; ICT stills 10.0 ->
    #: 9.8 %, clips 8.0 -> 8.6 %, spread 0.69 -> 0.69 mm. It follows MediaPipe's points less on a
    #: turned face (a 55-degree photo: 1.5 -> 2.4 px mean error) while AFLW2000-3D's NME improves
    #: (built-in 4.47 -> 4.45 %). 0: off.
    identity_symmetry: float = 4.0
    #: Expression prior weight on ||e||^2. Small: blendshape activations are not
    #: Gaussian, the box [0, 1] already bounds them; this only breaks ties between
    #: near-redundant blendshapes (e.g. mouthClose vs jawOpen) towards the smaller.
    expression_prior: float = 0.05
    #: Prior on each frame's expressions centred on the tracker's own blendshape scores (read
    #: against the clip's neutral, core/fitting/priors.py), as a multiple of each shape's
    #: landmark curvature in that frame (1: as sure as the landmarks are about that shape
    #: alone). Landmarks cannot tell near-redundant shapes apart (jawOpen / mouthLowerDown,
    #: eyeBlink / eyeSquint, mouthPucker / a narrower mouth); the tracker's network reads them
    #: from the same face. 13 clips, ICT (leave-one-clip-out neutral; built-in in brackets):
    #: 0 -> calm lower face p95 0.54 (0.91), correlation with MediaPipe 0.53 (0.54); 1 -> 0.15
    #: (0.40), 0.94 (0.90); 2 -> 0.11 (0.25), 0.97 (0.94). 4 (session 6, the app's own neutral):
    #: built-in 0.207 -> 0.117 (the only setting that meets the issue's 0.15 with the app's
    #: default model), correlation 0.977 -> 0.991, AFLW2000-3D NME 4.17 -> 4.18 % (ICT 4.21 ->
    #: 4.22), flow evidence d6 / d9 1.27 / 1.06 -> 1.266 / 1.063. 0 turns it off.
    tracker_prior: float = 4.0
    #: The tracker-score prior's weight is at least this share of the frame's median curvature
    #: over shapes (times ``tracker_prior``): shapes the landmarks barely see (the built-in
    #: jawForward, along the viewing axis) would otherwise get no prior at all.
    tracker_prior_floor: float = 0.25
    #: Neutral calibration (core/fitting/neutral.py): on the frames where the tracker's scores
    #: say the face is at rest, per-point offsets between tracker points and model surface,
    #: constant over the clip. ICT, 13 clips, prior 1: calm lower face p95 0.181 -> 0.167, upper
    #: 0.292 -> 0.257 (pinning the calm frames in every solve instead of the first: 0.160 / 0.253).
    neutral_calibration: bool = True
    #: The calibration's first solve multiplies the tracker-score prior on the calm frames by this.
    neutral_pin: float = 10.0
    #: Shrinkage of the per-point offsets towards 0, in calm frames' worth of evidence.
    neutral_offset_frames: float = 5.0
    #: which frames' residuals the per-point offsets are measured on: "calm" (the frames at rest,
    #: expressions pinned to the tracker's reading) or "all" (every fitted frame: the offsets
    #: then also take up the tracker's per-subject bias on the face's shape, which repeats in
    #: every frame; meant for use with ``identity_evidence_frames``)
    neutral_offset_source: str = "calm"
    #: Personalise the model to the clip's subject before fitting (core/model/personalise.py,
    #: seed 004): its rest face and expression basis re-estimated from the clip's tracked points
    #: and the tracker's scores. Only models whose vertices are the tracker's points (built-in);
    #: ignored for others and for clips with fewer than 10 tracked frames.
    personalise: bool = False
    #: Box on identity coefficients, in std (the seeds' "+-3 sigma" choice).
    identity_bound: float = 3.0
    #: Second-difference penalty on expressions, as the half-width in frames of the
    #: equivalent smoothing kernel: the weight is frames**4 times the mean
    #: per-frame data curvature, so it means the same for any model or weights.
    #: 1.5 frames removes frame-to-frame jitter but keeps a blink (3-5 frames at 30 fps).
    #: 2 frames would bring d6's whole-video jitter from 0.53 to 0.46 of the per-frame
    #: fit's (+0.07 % IOD error), but on the synthetic clip of tests/test_fitting.py it moves
    #: the fitted shape further from the noise-free truth (0.64 -> 0.71 px): it removes
    #: signal, not only noise, so it is not the default (docs/fitting.md, sweep).
    expression_smoothing_frames: float = 1.5
    #: Largest camera smoothing spline half-width in frames (same meaning as above)
    #: for scale, rotation and translation. Each track segment gets the largest of
    #: 3, 2, 1, 0.5, 0 frames whose smoothing moves the face's points by
    #: at most ``camera_smoothing_budget_cm`` on average: a steady clip (d6) is
    #: smoothed fully, hand-held camera shake (d12: up to 67 px per frame) is kept,
    #: where a fixed 2-frame spline had blurred it into 8 px fit errors.
    camera_smoothing_frames: float = 3.0
    #: Mean displacement (cm on the face, i.e. pixels / scale) the camera smoothing
    #: may cause: 0.08 cm is 1.3 % of a 6.3 cm inter-ocular distance, inside the
    #: 2 % reprojection budget with room for the expression smoothing.
    camera_smoothing_budget_cm: float = 0.08
    #: Rigid-shape camera initialisation rounds (the seeds say ~5 are enough).
    init_rounds: int = 5
    #: Whole-video rounds of (expression+identity solve, camera refit + smoothing).
    #: 4 rounds lower the real clips' error a little (d12 2.01 -> 1.96 % IOD, d9 1.60 ->
    #: 1.56 %) but not the synthetic truth error (camera re-smoothing each round), and
    #: cost time on d6's 10 s budget: kept at 2.
    refine_rounds: int = 2
    #: ``refine_rounds`` when the image-motion refinement follows (the clip's frames were
    #: given): it corrects the cameras afterwards, and 1 round instead of 2 then changes the
    #: error by +0.04 % IOD and the acceleration error not at all (d6/d9/d12) while saving
    #: ~1.5 s of d6's 10 s budget.
    refine_rounds_with_image_motion: int = 1
    #: Weight of tracker points on the face outline. MediaPipe's outline points slide
    #: along the silhouette as the head turns, so they are not fixed surface points;
    #: they still pin the face width and chin, so down-weighted, not dropped.
    contour_weight: float = 0.3
    #: Trust tracker points on the side of the face turned away from the camera less, frame by
    #: frame, by how far their surface faces away (core/fitting/contour.py): MediaPipe places
    #: them from its own mesh, not from the image. Off: on AFLW2000-3D (bench_accuracy, ICT) it
    #: moves the jaw NME by yaw bin 6.86 / 7.43 / 15.06 -> 6.83 / 7.52 / 14.62 % (0-30 / 30-60 /
    #: 60-90 degrees; the last bin is one image), all-point NME 4.229 -> 4.222 %: within noise.
    hidden_points: bool = False
    #: Convention of the jaw line in ``Reconstruction.landmarks68`` (core/fitting/landmarks68.py; the
    #: fit itself does not change): "3d", the model's fixed jaw vertices, AFLW2000-3D's 3D-aware
    #: annotation (on a turned head the far half lies behind the cheek); "silhouette", the jaw
    #: points on the fitted face's visible outline, as 2D annotations (300-W) and the seeds'
    #: dynamic contour put them. bench_jaw_silhouette.py (6 synthetic faces at 30 / 45 / 60 / 75
    #: degrees of yaw, far-side points' median distance to the rendered outline, ICT): "3d" 9.7 /
    #: 17.0 / 29.3 / 36.4 mm, "silhouette" 1.0 / 2.3 / 2.3 / 3.3 mm. "3d" by default: AFLW2000-3D
    #: annotates the 3D-aware way, and its jaw NME is lower with it (ICT 30-60 degrees 6.9 against
    #: 11.5 %; all 68 points over the 15 images 4.16 against 4.68 %: beyond the issue's 0.3 pp).
    jaw_landmarks: str = "3d"
    #: Weight of frames the tracker bridged (interpolated across a short loss): the
    #: landmarks are a guess, the temporal term and neighbours should dominate.
    bridged_weight: float = 0.2
    #: Whole-video fit on the tracker's raw landmarks (``TrackResult.landmarks_raw``)
    #: instead of its temporally filtered ones. Off: measured on d6/d9/d12, the raw
    #: landmarks are 2-4x more jittery and the fit's own temporal terms do not make up
    #: for the tracker's filter (whole-video jitter 2x the per-frame fit of filtered
    #: landmarks). The per-frame (live) fit always uses the filtered landmarks.
    video_uses_raw_landmarks: bool = False
    #: Image-motion camera refinement (core/fitting/image_motion.py), as the crossover in
    #: frames between the two evidences: image motion (optical flow at the fitted points,
    #: ~0.1 px per frame pair) decides the camera's frame-to-frame motion, the landmarks
    #: (~1 px, but no drift) decide over longer spans. 10 frames = a precision ratio of
    #: about 10 between them. Measured (builtin, bench_flow_evidence.py, mesh/DIS photometric
    #: error): d9 1.54 -> 1.24, d6 3.3 -> 2.05; 3 frames gave d9 1.31. 0 turns it off. Used
    #: only when the caller passes the clip's frames to ``reconstruct``.
    image_motion_frames: float = 10.0
    #: The same crossover for the non-rigid part (brows, eyes, lips): per point, the image
    #: motion the rigid correction leaves over is fused with the fit (point by point, so
    #: noisier than the rigid part's 156-point summary), and the expressions are refitted
    #: to the fused points with the cameras fixed. 0 turns it off.
    image_motion_expression_frames: float = 5.0
    #: How the image motion is measured at the fitted points: "lk" (pyramidal Lucas-Kanade
    #: at the points) or "dis" (OpenCV's dense DIS flow on the face's box, read at the points).
    image_motion_method: str = "lk"
    #: The clip's identity from its skin's motion (core/fitting/texture_identity.py): the fitted
    #: points followed by optical flow through the stretches where the head turns most, the
    #: identity fitted to those tracks, then the whole-video fit to the tracker's points with
    #: that identity fixed. The tracker's points are biased on the face's shape (as much as the
    #: shape itself, and differently at each pose); the skin's motion is not. Needs the clip's
    #: frames and a head turn of at least ``texture_identity.MIN_ROTATION_DEG`` degrees;
    #: otherwise the tracker's points decide the identity as before.
    identity_from_motion: bool = True
    #: Half-width (frames) of each stretch tracked for it. 20, 30, 45: the same 3D shape on the 24
    #: synthetic head sweeps (ICT 24.0 / 25.1 / - % closer than the mean, built-in 34.9 / 35.0 / -);
    #: d9's built-in flow evidence 1.064 / 1.086 / 1.072 x DIS (1.062 without); 20 costs least.
    motion_identity_half_window: int = 20
    #: Corrective deformation per clip (core/fitting/corrective.py): per-frame offsets of
    #: control points on the face, from the face region's dense optical flow, spread smoothly
    #: to the vertices; the motion the blendshapes cannot express (d6: mesh flow evidence
    #: 2.0x -> 1.28x DIS, built-in and ICT). Only for whole-video fits given the clip's frames
    #: (never stills or the live fitter). False turns it off.
    corrective: bool = True
    #: Crossover in frames between the points' image motion and "the fit is right" when the
    #: per-point residual motion is fused into per-frame offsets (as image_motion_frames).
    #: d6 ICT, 0.2 cm grid: 10 frames 1.282x, 20: 1.276x, 40: 1.285x.
    corrective_crossover_frames: float = 20.0
    #: Grid spacing (cm on the neutral face) of the corrective's control vertices; the kernel
    #: that spreads their offsets is 0.6x this. d6 ICT: 0.3 cm 1.29x, 0.2 cm 1.28x (~5,100
    #: points, 31 MB of offsets for 1,008 frames), 0.15 cm 1.27x; the built-in mesh's vertices
    #: are ~0.8 cm apart, so it uses all of them at any spacing below that.
    corrective_spacing_cm: float = 0.2
    #: Sampling passes over the flow: the first at the fitted points, each later one where the
    #: previous put them (d6 built-in: 1 pass 1.31x, 2: 1.29x, 3: 1.28x; ICT: 2 1.274x, 3 1.276x).
    corrective_passes: int = 2
    #: Per-frame (live) fitter: pull towards the previous frame's expression, in the
    #: same units as expression_prior. Small: it damps jitter without visible lag.
    frame_temporal_prior: float = 0.5
    #: Per-frame fitter: camera/expression alternations per frame.
    frame_iterations: int = 2

    def __post_init__(self) -> None:
        if self.jaw_landmarks not in JAW_CONVENTIONS:
            raise ValueError(f"jaw_landmarks must be one of {', '.join(JAW_CONVENTIONS)}, not {self.jaw_landmarks!r}")

    def to_dict(self) -> dict:
        """The settings as a JSON-safe dict (stored in a Reconstruction)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "FitSettings":
        """Settings from a dict; keys this version does not know (older or newer files) are ignored."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})
