"""Data sources: in-process indexes and vector databases behind one protocol.

Each adapter lives in its own module and imports its backend only when used, e.g.
`from emb_opt.adapters.faiss import FaissDataSource`.
"""

from ..protocols import DataSource, ScanBatch
from .base import QueryHits, VectorDataSource, scan_to_items

__all__ = ["DataSource", "QueryHits", "ScanBatch", "VectorDataSource", "scan_to_items"]
