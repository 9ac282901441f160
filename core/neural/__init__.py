"""The neural renderer: Head2Head++'s person-specific video rendering network (thesis ch. 7).

torch lives here (and in its tests) only. Modules:

- ``conditioning``: the fixed crop box, NMFC and eyes images of a ``ProjectedFace``, the mouth centre;
- ``networks``: the presets (the thesis's ``paper`` network and smaller ones), the sequential
  generator with a soft output mask, the multi-scale PatchGAN discriminators D_I, D_M, D_D;
- ``losses``: LSGAN, feature matching, the VGG stand-in (L1 + MS-SSIM);
- ``data``: a target clip made ready for training (crops, conditioning, bases; 20% held out);
- ``train``: the training loop, checkpoints and resume; ``sheets``: validation sheets;
- ``store``: the renderer folder on disk (safetensors + JSON manifest, checked before loading);
- ``device``: ``--device auto|cpu|cuda`` and what each device gets (AMP, channels-last on CUDA);
- ``renderer``: ``NeuralRenderer``, a ``core.warp.FaceRenderer``;
- ``library``: which trained renderers a target has (torch-free: the GUI asks it before anything loads);
- ``job``: a training from a target, start to end (``train-renderer``, the GUI's worker process).
"""
