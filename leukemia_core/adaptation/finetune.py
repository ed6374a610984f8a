"""Fine-tuning the last block with the head, measured against the frozen head on the same draws.

A copy of the feature source's graph (the shipped weights are never changed) gets a one-unit
sigmoid head started from the frozen head's weights; the layers of the last block
(:data:`LAST_BLOCK`) and the head are trained on the drawn cells (Adam, class-balanced binary
cross-entropy, flips and quarter turns, a fixed number of epochs: no cell is left to choose an
epoch on), everything else stays frozen (batch norm in inference mode). ``adapt-kshot --finetune``
reports it beside the frozen head at the k it names.
"""

from __future__ import annotations

import numpy as np

#: Layer-name prefixes of the last block of each feature source that fine-tuning trains.
LAST_BLOCK = {
    "efficientnet_b0": ("block7a_", "top_"),
    "densenet121": ("conv5_block16_", "bn", "relu"),
}
EPOCHS = 15
LEARNING_RATE = 1e-4
BATCH = 16


def _augment(x: np.ndarray, rng) -> np.ndarray:
    out = x.copy()
    for i in range(len(out)):
        if rng.random() < 0.5:
            out[i] = out[i, :, ::-1]
        out[i] = np.rot90(out[i], int(rng.integers(4)))
    return out


def finetune_scores(source, head, fit_crops: np.ndarray, y_fit: np.ndarray, test_crops: np.ndarray,
                    seed: int = 0, epochs: int = EPOCHS) -> np.ndarray:
    """P(ALL) of ``test_crops`` after fine-tuning ``source``'s last block and ``head`` on the fit cells.

    Raises:
        KeyError: no last block is defined for this source.
    """
    import keras

    prefixes = LAST_BLOCK[source.name]
    keras.utils.set_random_seed(seed)
    feats = keras.models.clone_model(source.model)
    feats.set_weights(source.model.get_weights())
    for layer in feats.layers:
        layer.trainable = any(layer.name.startswith(p) for p in prefixes)
    out = keras.layers.Dense(1, activation="sigmoid", name="site_head")(feats.output)
    model = keras.Model(feats.input, out)
    model.get_layer("site_head").set_weights([head.w[:, None].astype(np.float32), np.array([head.b], np.float32)])
    model.compile(optimizer=keras.optimizers.Adam(LEARNING_RATE), loss="binary_crossentropy")
    y = np.asarray(y_fit, np.float32)
    n1, n0 = max(1, int(y.sum())), max(1, int(len(y) - y.sum()))
    weights = np.where(y == 1, len(y) / (2 * n1), len(y) / (2 * n0)).astype(np.float32)
    rng = np.random.default_rng(seed)
    x = fit_crops.astype(np.float32) / 255.0
    for _ in range(epochs):
        model.fit(_augment(x, rng), y, sample_weight=weights, batch_size=BATCH, epochs=1, verbose=0, shuffle=True)
    return model.predict(test_crops.astype(np.float32) / 255.0, batch_size=64, verbose=0)[:, 0].astype(np.float64)
