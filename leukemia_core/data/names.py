"""How datasets and cell types are named: a dataset's title for readers (pages and reports name
datasets, never the folder they were read from) and which white-cell types are lymphoid."""

from __future__ import annotations

#: How a dataset is named to a reader (pages, reports), by the ``dataset`` of its records: never by
#: the folder it was read from on some machine.
DATASET_TITLES = {"cnmc": "C-NMC 2019", "aria": "Aria ALL", "bccd": "BCCD", "wbcseg": "wbcseg (Zheng et al.)",
                  "folder": "a labelled folder"}


#: White-cell types that are not lymphoid (BCCD's and wbcseg's type labels, kept as ``subclass``).
NON_LYMPHOID = ("neutrophil", "eosinophil", "monocyte", "basophil")


def is_lymphoid(record) -> bool:
    """Whether every white cell of ``record`` is lymphoid as far as its labels say: C-NMC's and
    Aria's cells are (B-lymphoid), a BCCD or wbcseg image is when no type it names is another."""
    return not any(t in NON_LYMPHOID for t in record.subclass.split("+"))


def dataset_title(dataset: str) -> str:
    """A dataset's name for a reader: ``cnmc`` -> ``C-NMC 2019``; a report set's family
    (``aria-original``) or key (``cnmc/test``) names its dataset too; unknown names stay as they are."""
    base = dataset.split("/")[0].split("-")[0]
    return DATASET_TITLES.get(base, dataset)
