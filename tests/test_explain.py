"""explain (package): the method registry, titles and create_explainer."""

import pytest

from leukemia_core.explain import EXPLAINERS, Explainer, create_explainer


def test_unknown_method(tiny):
    with pytest.raises(ValueError, match="gradcam"):
        create_explainer(tiny, "cam_conv", "lime")


# ---------------------------------------------------------------------------------------------
# The class family


def test_registry_names_each_method_once_and_titles_it():
    from leukemia_core.explain import METHODS, method_title
    assert METHODS == ("gradcam", "gradcam++", "scorecam")
    assert [EXPLAINERS[m].method for m in METHODS] == list(METHODS)
    assert [method_title(m) for m in METHODS] == ["Grad-CAM", "Grad-CAM++", "Score-CAM"]
    assert all(issubclass(c, Explainer) for c in EXPLAINERS.values())
