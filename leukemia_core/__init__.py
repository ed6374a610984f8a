"""leukemia_core: everything behind the dashboard that is not UI.

Layers, lowest first. A module imports (at module level or inside a function) only from its own
top-level package or module and from the layers below it; ``tests/test_layout.py`` checks this
list against the code, and that no import cycle exists. The app (``app.py``, ``pages/``) sits
above all of them.

1. ``errors``: the exceptions every layer raises.
2. ``paths``, ``tfstartup``, ``samples``, ``jsonio``, ``provenance``, ``stats``, ``timing``, ``rows``:
   folders and artefact names, the one TensorFlow import, the shipped sample images, JSON files,
   the commit, statistics (intervals, AUC), timing helpers, the image and cell row schema.
3. ``docblocks``: generated blocks of Markdown files.
4. ``data``: reading images and datasets, splits, preprocessing, augmentation, colour statistics.
5. ``models``: architectures, weights, manifests, calibration, the model card.
6. ``cells``: finding white cells and cropping them.
7. ``explain``: Grad-CAM and Score-CAM maps.
8. ``inference``: a served model reading an image's cells.
9. ``onnx_calls``: the same reading with an ONNX Runtime forward pass.
10. ``onnx_export``: exporting the shipped weights to ONNX and checking parity.
11. ``evaluation``: reports of a model on labelled sets, the colour baseline.
12. ``training``: the ``train`` command.
13. ``reports``, ``cases``: tables and case reports; the case store.
14. ``verification``: a lab's verification study and site calibration.
15. ``adaptation``: a lab's own head on a model's or encoder's features.
16. ``screening``: archive screening on Ray.
17. ``bench``: speed, memory and scaling figures.
18. ``cli``: ``python -m leukemia_core``.

Importing the package loads nothing heavy: TensorFlow is imported by the modules that need it.
"""

__version__ = "0.1.0"
