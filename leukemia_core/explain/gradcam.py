"""Grad-CAM (Selvaraju et al., ICCV 2017) and Grad-CAM++ (Chattopadhyay et al., WACV 2018).

:meth:`GradCAM.raw_maps` is tf-keras-vis's ``Gradcam``; :meth:`GradCAM.predict_and_explain` is a
compiled path that computes P(ALL) and the raw map in one forward pass and a backward pass through
the head only (explained layer to logits; only the head is recorded on the gradient tape, which
also keeps the one-off tracing short). Tests check that both give the same maps.
"""

from __future__ import annotations

import numpy as np

from ..models.registry import LOGITS_LAYER
from .base import PostProcess, VisExplainer, as_batch


class GradCAM(VisExplainer):
    """Grad-CAM: channels of the explained layer weighted by the mean gradient of the class score."""

    method, title = "gradcam", "Grad-CAM"
    vis_class = ("tf_keras_vis.gradcam", "Gradcam")

    def __init__(self, model, cam_layer: str, postprocess: PostProcess | None = None):
        # lazy: Keras imports TensorFlow (about 4 s here); the app imports this package before any model is loaded
        import keras
        import tensorflow as tf

        super().__init__(model, cam_layer, postprocess)
        h, w = self.size
        feats_out = model.get_layer(cam_layer).output
        logits_out = model.get_layer(LOGITS_LAYER).output
        try:
            # backbone up to the explained layer, and the head from it to the logits (shared
            # weights): the tape then records only the head, which is all the gradient needs
            feat_model = keras.Model(model.inputs[0], feats_out, name=f"{model.name}_to_{cam_layer}")
            head_model = keras.Model(feats_out, logits_out, name=f"{model.name}_head")
        except ValueError:  # the head also reads layers before cam_layer: record the whole pass
            feat_model = head_model = None
            grad_model = keras.Model(model.inputs, [feats_out, logits_out])
        #: True when the compiled path records only the head on its gradient tape.
        self.split_head = head_model is not None
        whole_pass = head_model is None

        def feats_and_logits(x, tape):
            if head_model is None:
                return grad_model(x, training=False)
            feats = feat_model(x, training=False)
            tape.watch(feats)
            return feats, head_model(feats, training=False)

        # autograph off, as for the predictor's forward pass (see inference.Predictor)
        @tf.function(input_signature=[tf.TensorSpec([None, h, w, 3], tf.float32),
                                      tf.TensorSpec([], tf.int32)], reduce_retracing=True, autograph=False)
        def fast_gradcam(x, class_index):
            with tf.GradientTape(watch_accessed_variables=whole_pass) as tape:
                feats, logits = feats_and_logits(x, tape)
                score = tf.reduce_sum(logits[:, class_index])
            grads = tape.gradient(score, feats)
            weights = tf.reduce_mean(grads, axis=[1, 2], keepdims=True)
            cam = tf.nn.relu(tf.reduce_sum(feats * weights, axis=-1))
            return tf.nn.softmax(logits)[:, 1], cam

        self._fast = fast_gradcam

    def predict_and_explain(self, x: np.ndarray, *, class_index: int) -> tuple[np.ndarray, np.ndarray]:
        """P(ALL) and the maps of ``class_index`` in one compiled pass (see the module).

        ``x``: ``float32 (N, S, S, 3)`` in [0, 1]. Returns P(ALL) ``float32 (N,)`` in [0, 1] and
        the maps ``float32 (N, S, S)`` in [0, 1].
        """
        xb, _ = as_batch(x)
        p, cam = self._fast(xb, np.int32(class_index))
        return p.numpy(), self.postprocess(cam.numpy(), self.size)


class GradCAMPlusPlus(VisExplainer):
    """Grad-CAM++: channel weights from second- and third-order gradient terms (tf-keras-vis)."""

    method, title = "gradcam++", "Grad-CAM++"
    vis_class = ("tf_keras_vis.gradcam_plus_plus", "GradcamPlusPlus")
