"""reports.inputs: images kept in memory, decoded with a message instead of an exception, shrunk for display."""

import hashlib
import io

import numpy as np
from PIL import Image

from leukemia_core.reports.inputs import DISPLAY_MAX_SIDE, ImageInput, decode, display_copy
from leukemia_core.explain.maps import heatmap_on_image
from leukemia_core.samples import list_samples


def _png(rgb):
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="PNG")
    return buf.getvalue()


def test_digest_is_the_sha256_of_the_bytes():
    item = ImageInput("a.png", b"abc")
    assert item.digest == hashlib.sha256(b"abc").hexdigest()


def test_decode_gives_rgb_or_a_message_naming_the_file():
    rgb = np.random.default_rng(0).integers(0, 256, (5, 7, 3), np.uint8)
    got, msg = decode(ImageInput("x.png", _png(rgb)))
    assert msg == "" and got.dtype == np.uint8 and got.shape == (5, 7, 3)
    np.testing.assert_array_equal(got, rgb)
    got, msg = decode(ImageInput("broken.png", b"not an image"))
    assert got is None and "broken.png" in msg


def test_display_copy_keeps_aspect_and_small_images():
    small = np.zeros((100, 50, 3), np.uint8)
    assert display_copy(small) is small
    big = np.full((2000, 1000, 3), 200, np.uint8)
    out = display_copy(big)
    assert out.shape == (DISPLAY_MAX_SIDE, DISPLAY_MAX_SIDE // 2, 3) and out.dtype == np.uint8
    assert (out == 200).all()
    assert display_copy(np.zeros((10, 2000, 3), np.uint8), 100).shape == (1, 100, 3)  # at least one pixel


def test_classify_steps_without_streamlit():
    good = list_samples()[0]
    rgb, err = decode(ImageInput(good.path.name, good.path.read_bytes()))
    assert err == "" and rgb.dtype == np.uint8 and rgb.ndim == 3
    rgb, err = decode(ImageInput("scan.tif", b"\x00" * 64))
    assert rgb is None and err.startswith("scan.tif: ")
    from pages._cells import results_table, summary_row

    df = results_table([summary_row("b.png", "m", None, 0.5, "b.png: the file is empty")])
    assert df.loc[0, "call"] == "NO CALL" and df.loc[0, "reason"] == "could not be read"
    assert df.loc[0, "P(ALL)"] is None and df.loc[0, "error"] == "b.png: the file is empty"
    csv = df.to_csv(index=False)
    assert csv.splitlines()[0] == ("image,model,call,reason,P(ALL),cells,ALL cells,NO CALL cells,blast %,refer,"
                                   "threshold,check by eye,error") and "the file is empty" in csv
    # a map of the padded square input, put back on a wide image, keeps the image's own region
    cam = np.zeros((32, 32), np.float32)
    cam[8:24, :] = 1.0  # the image occupies the middle half of the padded square
    out = heatmap_on_image(cam, (50, 100))
    assert out.shape == (50, 100) and out[3:-3].min() > 0.99 and out.mean() > 0.9
    big = display_copy(np.zeros((2000, 1000, 3), np.uint8), 500)
    assert big.shape == (500, 250, 3)


def test_an_image_given_twice_is_read_once():
    from leukemia_core.reports.inputs import unique_inputs

    a, b = ImageInput("a.png", b"x"), ImageInput("b.png", b"y")
    unique, repeats = unique_inputs([a, b, ImageInput("a copy.png", b"x"), ImageInput("a.png", b"x")])
    assert [u.name for u in unique] == ["a.png", "b.png"] and repeats == [("a copy.png", "a.png"), ("a.png", "a.png")]
    assert unique_inputs([]) == ([], [])
