"""Designs and (in a later issue) the search space over them."""

from epim.space._design import (
    DESIGN_FIELDS,
    MAX_BITS,
    MIN_BITS,
    Design,
    DesignBatch,
    LayerDesign,
    design_from_dict,
    load_design_file,
    scale_design,
    validate_layer_design,
)
from epim.space._space import LayerOptions, LayerSpace, SearchSpace

__all__ = [
    "DESIGN_FIELDS",
    "MAX_BITS",
    "MIN_BITS",
    "Design",
    "DesignBatch",
    "LayerDesign",
    "LayerOptions",
    "LayerSpace",
    "SearchSpace",
    "design_from_dict",
    "load_design_file",
    "scale_design",
    "validate_layer_design",
]
