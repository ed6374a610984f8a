"""White cells: find them in any image, crop each at one scale, score the finder."""

from .crop import CELL_SHARE, crop_cell, crop_cells, whole_image_crop
from .finder import Cell, find_cells

__all__ = ["CELL_SHARE", "Cell", "crop_cell", "crop_cells", "find_cells", "whole_image_crop"]
