"""`python -m adv_lance PATH TABLE`: re-embed a LanceDB table beyond its first 32 rows (new
random vectors, the same ids, order, metadata and count), as a changed collection is."""

from __future__ import annotations

import sys

import lancedb
import numpy as np
import pyarrow as pa

KEPT = 32  # rows left as they were: what an earlier version's fingerprint scanned


def main() -> int:
    database = lancedb.connect(sys.argv[1])
    table = database.open_table(sys.argv[2]).to_arrow()
    index = table.schema.get_field_index("vector")
    vectors = np.stack(table.column(index).to_numpy(zero_copy_only=False)).astype(np.float32)
    vectors[KEPT:] = np.random.default_rng(6).standard_normal(vectors[KEPT:].shape)
    column = pa.FixedSizeListArray.from_arrays(pa.array(vectors.ravel()), vectors.shape[1])
    database.create_table(
        sys.argv[2], data=table.set_column(index, "vector", column), mode="overwrite"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
