"""explain.gradcam: the compiled one-pass Grad-CAM agrees with tf-keras-vis (tiny and proposed models, both
classes)."""

import numpy as np
import pytest

from leukemia_core.explain import create_explainer
from leukemia_core.models import create_model


def test_fast_gradcam_matches_tf_keras_vis(tiny, batch):
    ex = create_explainer(tiny, "cam_conv", "gradcam")
    reference = ex.heatmap(batch, class_index=1)
    p, fast = ex.predict_and_explain(batch, class_index=1)
    np.testing.assert_allclose(p, tiny(batch).numpy()[:, 1], rtol=1e-5, atol=1e-6)
    for a, b in zip(reference, fast):
        if a.max() == 0:
            assert b.max() == 0
        else:
            assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.99


@pytest.mark.slow
def test_fast_gradcam_matches_on_the_proposed_model(batch):
    import cv2
    m = create_model("proposed", 64)
    x = np.stack([cv2.resize(b, (64, 64)) for b in batch])
    ex = create_explainer(m, "attention_map", "gradcam")
    ref, (_, fast) = ex.heatmap(x, class_index=1), ex.predict_and_explain(x, class_index=1)
    for a, b in zip(ref, fast):
        if a.max() > 0:
            assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.99


def test_fast_gradcam_matches_tf_keras_vis_for_both_classes(two_evidence, aria_fields):
    x, _, _ = aria_fields
    ex = create_explainer(two_evidence, "cam_conv", "gradcam")
    for c in (0, 1):
        ref = ex.heatmap(x, class_index=c)
        _, fast = ex.predict_and_explain(x, class_index=c)
        for a, b in zip(ref, fast):
            assert a.std() > 0.1
            assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.99


def test_compiled_passes_do_not_parse_python_source():
    """Grad-CAM's compiled pass and the predictor's forward pass are traced without autograph: its
    source parsing (ast.parse) is not thread-safe on CPython 3.11 and broke a Streamlit page being
    parsed while the warm-up thread traced ("AST constructor recursion depth mismatch"). A fresh
    process, since autograph caches what it converted."""
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "import ast, types\n"
        "import numpy as np\n"
        "from leukemia_core.tfstartup import import_tensorflow\n"
        "import_tensorflow()\n"
        "from leukemia_core.explain.gradcam import GradCAM\n"
        "from leukemia_core.inference import Predictor\n"
        "from leukemia_core.models import create_model\n"
        "from leukemia_core.models.registry import get_spec\n"
        "calls = []\n"
        "orig = ast.parse\n"
        "ast.parse = lambda *a, **k: (calls.append(1), orig(*a, **k))[1]\n"
        "m = create_model('tiny_cnn', 32)\n"
        "x = np.zeros((2, 32, 32, 3), np.float32)\n"
        "GradCAM(m, get_spec('tiny_cnn').cam_layer).predict_and_explain(x, class_index=1)\n"
        "Predictor(types.SimpleNamespace(model=m, input_size=32)).predict(x)\n"
        "print('ast.parse calls:', len(calls))\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[1], capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "ast.parse calls: 0"
