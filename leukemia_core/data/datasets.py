"""Dataset readers: folders of labelled images in, a list of :class:`Record` out.

These layouts are understood, detected from the folder given:

* **C-NMC 2019**, in its official layout, unchanged::

      <root>/training_data/fold_{0,1,2}/{all,hem}/UID_*.bmp
      <root>/validation_data/C-NMC_test_prelim_phase_data/<N>.bmp
      <root>/validation_data/C-NMC_test_prelim_phase_data_labels.csv

  (``<root>`` may also be the folder that holds ``C-NMC_Leukemia/``). Group = patient, parsed
  from the UID. Roles: fold_2 and the prelim set are **test** (patient-disjoint, never used to
  choose anything); from fold_0 + fold_1 a quarter of the patients of each class (chosen by a
  hash of the patient id, so the choice is fixed) is **val**, the rest **train**.
* **Aria et al. ALL** (Taleqani Hospital)::

      <root>/{Original,Segmented}/{Benign,Early,Pre,Pro}/WBC-*.jpg

  ``Benign`` is ``hem``; ``Early``, ``Pre`` and ``Pro`` are ``all`` (kept as ``subclass``).
  There is no patient mapping, so fields are grouped in blocks of consecutive file numbers; the
  last :data:`ARIA_TEST_FRACTION` of each subclass's numbers is the **test** block, the
  :data:`ARIA_VAL_FRACTION` before it the **val** block, the rest **train**. The same field in
  Original and Segmented, and byte-identical files, always share a group.
* **BCCD** (``JPEGImages/`` + ``Annotations/``; see :mod:`leukemia_core.data.bccd`): all ``hem``.
* **wbcseg** (``index.csv`` + ``dataset{1,2}/``; :mod:`leukemia_core.data.wbcseg`): all ``hem``, all **test**.
* **A plain folder** ``<root>/{all,hem}/...`` (any depth below, any supported image type), or
  ``<root>/{train,val,test}/{all,hem}/...`` when the user has split it already.
"""

from __future__ import annotations

import csv
import hashlib
import math
import re
from collections import defaultdict
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Iterable

from ..errors import DatasetLayoutError
from .bccd import bccd_images, bccd_types, is_bccd
from .wbcseg import is_wbcseg, wbcseg_images
from .images import is_image_path

LABELS = ("hem", "all")  # index = class id: 0 = HEM (normal), 1 = ALL (leukemic)
ARIA_SUBCLASS_LABEL = {"Benign": "hem", "Early": "all", "Pre": "all", "Pro": "all"}
ARIA_VARIANTS = ("Original", "Segmented")
ARIA_TEST_FRACTION = 0.2
ARIA_VAL_FRACTION = 0.15
ARIA_BLOCK = 20
#: Official folds: 0 and 1 are training folds (an inner validation split is carved from their
#: patients), fold 2 is the patient-disjoint test fold.
CNMC_FOLD_SPLIT = {"fold_0": "train", "fold_1": "train", "fold_2": "test"}
#: Share of training-fold patients (per class) moved to the inner validation split.
CNMC_VAL_FRACTION = 0.25
#: The three roles of data. ``val`` chooses epochs, thresholds, calibrators and field rules;
#: ``test`` is only reported.
ROLES = ("train", "val", "test")
CNMC_PRELIM_DIR = "C-NMC_test_prelim_phase_data"
CNMC_PRELIM_CSV = "C-NMC_test_prelim_phase_data_labels.csv"

_UID = re.compile(r"^UID_(h?)(\d+)_", re.IGNORECASE)
_NUMBER = re.compile(r"(\d+)(?!.*\d)")


@dataclass(frozen=True)
class Record:
    """One labelled image.

    Attributes:
        path: the image file.
        label: ``"all"`` (leukemic blast) or ``"hem"`` (normal cell).
        group: the unit that must never be split (patient; block of fields on Aria).
        dataset: ``"cnmc"``, ``"aria"``, ``"bccd"``, ``"wbcseg"`` or ``"folder"``.
        split: ``"train"``, ``"val"``, ``"test"`` or ``"unsplit"``.
        part: where it came from inside the dataset (``fold_0``, ``prelim``, ``Original`` ...).
        subclass: finer label where the dataset has one (Aria: Benign/Early/Pre/Pro).
    """

    path: Path
    label: str
    group: str
    dataset: str
    split: str
    part: str = ""
    subclass: str = ""

    @property
    def y(self) -> int:
        """Class index: 0 = HEM, 1 = ALL."""
        return LABELS.index(self.label)

    def as_dict(self) -> dict:
        """The record as a JSON-ready dict (``path`` as a string)."""
        d = asdict(self)
        d["path"] = str(self.path)
        return d


def cnmc_patient(file_name: str) -> str:
    """Group id for a C-NMC file name: ``ALL-<P>`` or ``HEM-<S>`` (lower-case ``UID_h3_`` too).

    >>> cnmc_patient("UID_h3_1_2_hem.bmp")
    'HEM-3'
    """
    m = _UID.match(file_name)
    if not m:
        raise DatasetLayoutError(f"{file_name}: not a C-NMC file name (expected UID_<patient>_...)")
    return f"{'HEM' if m.group(1) else 'ALL'}-{int(m.group(2))}"


def patient_or_file(file_name: str, file_key: str) -> str:
    """The group of an image outside a known layout: its C-NMC patient where ``file_name`` gives
    one, else the file itself (``file-<file_key>``), so that a leakage check can only catch the same
    file on both sides."""
    try:
        return cnmc_patient(file_name)
    except DatasetLayoutError:
        return f"file-{file_key}"


def _images_below(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and is_image_path(p))


def _child(folder: Path, name: str) -> Path | None:
    """Case-insensitive child folder lookup."""
    if not folder.is_dir():
        return None
    for c in folder.iterdir():
        if c.is_dir() and c.name.lower() == name.lower():
            return c
    return None


# --------------------------------------------------------------------------- C-NMC

def _cnmc_root(root: Path) -> Path | None:
    cands = [root, root / "C-NMC_Leukemia"]
    if root.name == "training_data":
        cands.append(root.parent)
    for cand in cands:
        if (cand / "training_data").is_dir() or (cand / "validation_data" / CNMC_PRELIM_CSV).is_file():
            return cand
    return None


def read_cnmc(root: Path) -> list[Record]:
    """Read C-NMC 2019 in its official layout (see module docstring)."""
    root = Path(root)
    base = _cnmc_root(root)
    if base is None:
        raise DatasetLayoutError(f"{root}: no C-NMC training_data/ or validation_data/ folder")
    records: list[Record] = []
    train = base / "training_data"
    if train.is_dir():
        folds = sorted(d for d in train.iterdir() if d.is_dir() and d.name.startswith("fold_"))
        if not folds:
            raise DatasetLayoutError(f"{train}: expected fold_0, fold_1, fold_2 folders inside")
        for fold in folds:
            split = CNMC_FOLD_SPLIT.get(fold.name, "train")
            for label in LABELS:
                d = _child(fold, label)
                if d is None:
                    continue
                for p in _images_below(d):
                    records.append(Record(p, label, cnmc_patient(p.name), "cnmc", split, fold.name))
    csv_path = base / "validation_data" / CNMC_PRELIM_CSV
    img_dir = base / "validation_data" / CNMC_PRELIM_DIR
    if csv_path.is_file() and img_dir.is_dir() and root.name != "training_data":
        with csv_path.open(newline="") as f:
            for row in csv.DictReader(f):
                p = img_dir / row["new_names"].strip()
                if not p.is_file():
                    continue
                label = "all" if int(row["labels"]) == 1 else "hem"
                records.append(Record(p, label, cnmc_patient(row["Patient_ID"].strip()), "cnmc", "test", "prelim"))
    if not records:
        raise DatasetLayoutError(
            f"{base}: C-NMC layout found but no images in training_data/fold_*/{{all,hem}}/ "
            f"or validation_data/{CNMC_PRELIM_DIR}/")
    return carve_validation(records, CNMC_VAL_FRACTION)


def _stable_rank(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


def carve_validation(records: list[Record], fraction: float) -> list[Record]:
    """Move a fixed share of the ``train`` groups of each label to ``val`` (whole groups only).

    Groups are ranked by a hash of their id, so the choice does not depend on file order and
    stays the same when images of known patients are added. At least one group per label moves
    when there are two or more.
    """
    by_label: dict[str, set[str]] = defaultdict(set)
    for r in records:
        if r.split == "train":
            by_label[r.label].add(r.group)
    val_groups: set[str] = set()
    for groups in by_label.values():
        if len(groups) < 2:
            continue
        n = max(1, int(round(len(groups) * fraction)))
        val_groups.update(sorted(groups, key=_stable_rank)[:n])
    return [replace(r, split="val") if r.split == "train" and r.group in val_groups else r for r in records]


# --------------------------------------------------------------------------- Aria

def _aria_variants(root: Path) -> list[tuple[str, Path]]:
    out = []
    for v in ARIA_VARIANTS:
        d = _child(root, v)
        if d is not None and any(_child(d, s) for s in ARIA_SUBCLASS_LABEL):
            out.append((v, d))
    if not out and sum(_child(root, s) is not None for s in ARIA_SUBCLASS_LABEL) >= 2:
        out.append((root.name, root))
    return out


def read_aria(root: Path, test_fraction: float = ARIA_TEST_FRACTION, val_fraction: float = ARIA_VAL_FRACTION,
              block: int = ARIA_BLOCK) -> list[Record]:
    """Read the Aria ALL dataset and split it by contiguous blocks of file numbers.

    For each subclass, fields numbered above the ``1 - test_fraction`` quantile are ``test``, the
    ``val_fraction`` below that ``val``, the rest ``train``; groups are blocks of ``block``
    consecutive numbers inside each role. The same field in Original and Segmented shares a
    group, and byte-identical files are merged into the group of the lowest-numbered one (and its
    role).
    """
    root = Path(root)
    variants = _aria_variants(root)
    if not variants:
        raise DatasetLayoutError(f"{root}: expected Original/ and/or Segmented/ holding Benign, Early, Pre, Pro")
    files: list[tuple[str, str, int, Path]] = []  # variant, subclass, number, path
    for variant, vdir in variants:
        for sub in ARIA_SUBCLASS_LABEL:
            sdir = _child(vdir, sub)
            if sdir is None:
                continue
            for p in _images_below(sdir):
                m = _NUMBER.search(p.stem)
                if m:
                    files.append((variant, sub, int(m.group(1)), p))
    if not files:
        raise DatasetLayoutError(f"{root}: Aria layout found but no numbered images (WBC-*-NNN.jpg)")

    # Fields (subclass, number); union byte-identical files into one field set.
    parent: dict[tuple[str, int], tuple[str, int]] = {}

    def find(k):
        while parent.setdefault(k, k) != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    by_hash: dict[tuple[str, str], tuple[str, int]] = {}
    for variant, sub, num, p in files:
        key = (sub, num)
        find(key)
        digest = hashlib.sha1(p.read_bytes()).hexdigest()
        other = by_hash.setdefault((variant, digest), key)
        if other != key:
            a, b = find(other), find(key)
            if a != b:
                parent[max(a, b)] = min(a, b)

    numbers: dict[str, list[int]] = defaultdict(list)
    for sub, num in {(s, n) for _, s, n, _ in files}:
        numbers[sub].append(num)
    cuts: dict[str, tuple[int, int]] = {}  # last train number, last val number
    for sub, nums in numbers.items():
        nums.sort()
        n = len(nums)
        n_test = max(1, math.floor(n * test_fraction)) if n > 1 else 0
        n_val = max(1, math.floor(n * val_fraction)) if n > 2 else 0
        n_train = n - n_test - n_val

        def last(k, nums=nums):
            return nums[k - 1] if k > 0 else nums[0] - 1

        cuts[sub] = (last(n_train), last(n_train + n_val))

    def side(key):
        root_key = find(key)
        sub, num = root_key
        t, v = cuts[sub]
        return ("train" if num <= t else "val" if num <= v else "test"), root_key

    first = {sub: {"train": min(nums), "val": cuts[sub][0] + 1, "test": cuts[sub][1] + 1}
             for sub, nums in numbers.items()}
    records = []
    for variant, sub, num, p in files:
        split, (rsub, rnum) = side((sub, num))
        offset = rnum - first[rsub][split]
        group = f"aria-{rsub}-{split}{offset // block:02d}"
        records.append(Record(p, ARIA_SUBCLASS_LABEL[sub], group, "aria", split, variant, sub))
    return records


# --------------------------------------------------------------------------- plain folders

def read_folder(root: Path, split: str | None = None) -> list[Record]:
    """Read ``<root>/{all,hem}/`` or ``<root>/{train,val,test}/{all,hem}/``.

    C-NMC-style file names give patient groups; otherwise each image is its own group, so a
    leakage check on such data can only catch the same file on both sides.
    """
    root = Path(root)
    splits = [(s, _child(root, s)) for s in ("train", "val", "test")]
    splits = [(s, d) for s, d in splits if d is not None]
    if not splits:
        splits = [(split or "unsplit", root)]
    records = []
    for s, d in splits:
        for label in LABELS:
            ld = _child(d, label)
            if ld is None:
                continue
            for p in _images_below(ld):
                group = patient_or_file(p.name, p.relative_to(root).as_posix())
                records.append(Record(p, label, group, "folder", split or s, ld.name))
    if not records:
        raise DatasetLayoutError(
            f"{root}: found no labelled images. Expected one of these layouts:\n"
            "  C-NMC:  training_data/fold_{0,1,2}/{all,hem}/UID_*.bmp (+ validation_data/)\n"
            "  Aria:   {Original,Segmented}/{Benign,Early,Pre,Pro}/*.jpg\n"
            "  folder: {all,hem}/*.png|jpg|bmp|tif  or  {train,val,test}/{all,hem}/...")
    return records


def detect_layout(root: Path) -> str:
    """Name the layout of ``root``: ``"cnmc"``, ``"aria"``, ``"bccd"``, ``"wbcseg"`` or ``"folder"``.

    Raises:
        DatasetLayoutError: ``root`` is missing or not a folder.
    """
    root = Path(root)
    if not root.exists():
        raise DatasetLayoutError(f"{root}: no such folder")
    if not root.is_dir():
        raise DatasetLayoutError(f"{root}: is a file; give the dataset's folder")
    if _cnmc_root(root) is not None:
        return "cnmc"
    if _aria_variants(root):
        return "aria"
    if is_bccd(root):
        return "bccd"
    if is_wbcseg(root):
        return "wbcseg"
    return "folder"


def read_dataset(root: Path, split: str | None = None) -> list[Record]:
    """Read any supported layout (see module docstring).

    Args:
        root: the dataset folder.
        split: for plain folders only, force every record to this split.
    """
    layout = detect_layout(root)
    if layout == "cnmc":
        return read_cnmc(root)
    if layout == "aria":
        return read_aria(root)
    if layout == "bccd":
        types = bccd_types(root)
        return [Record(p, "hem", g, "bccd", split or role, "JPEGImages", types.get(p.stem, ""))
                for p, g, role in bccd_images(root)]
    if layout == "wbcseg":  # one class, two labs never trained on: every image a test image
        return [Record(w.image, "hem", w.group, "wbcseg", split or "test", w.lab, w.wbc_type)
                for w in wbcseg_images(root)]
    return read_folder(root, split)


def read_many(roots: Iterable[Path], split: str | None = None) -> list[Record]:
    """Read several dataset folders into one list."""
    out: list[Record] = []
    for r in roots:
        out.extend(read_dataset(Path(r), split))
    return out


def summarize(records: Iterable[Record]) -> dict:
    """Counts per (dataset, part, split, label) and number of groups, for logs and reports."""
    counts: dict[str, int] = defaultdict(int)
    groups: dict[str, set] = defaultdict(set)
    for r in records:
        key = f"{r.dataset}/{r.split}"
        counts[f"{key}/{r.label}"] += 1
        groups[key].add(r.group)
    return {"images": dict(counts), "groups": {k: len(v) for k, v in groups.items()}}
