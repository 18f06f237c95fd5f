"""Test helpers shipped with the package: the adapter conformance suite and its corpus, and
the executor conformance suite.

Importing this module needs pytest and hypothesis (the `dev` extra: `pip install -e ".[dev]"`).
"""

from .cases import FILTER_CASES, FilterCase, capabilities_needed
from .corpus import ConformanceCorpus, conformance_corpus, fields_corpus
from .executor_suite import SUITE_FUNCTIONS, ExecutorConformance
from .names_suite import NameConformance
from .suite import DataSourceConformance, expected_neighbours

__all__ = [
    "FILTER_CASES",
    "SUITE_FUNCTIONS",
    "ConformanceCorpus",
    "DataSourceConformance",
    "ExecutorConformance",
    "FilterCase",
    "NameConformance",
    "capabilities_needed",
    "conformance_corpus",
    "expected_neighbours",
    "fields_corpus",
]
