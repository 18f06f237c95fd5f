"""The guided model reads stored fields beside the embedding when asked (`fields=[...]`)."""

from __future__ import annotations

import numpy as np
import pytest

from emb_opt.adapters.numpy import NumpyDataSource
from emb_opt.runner import Runner
from emb_opt.stopping import StopRule
from emb_opt.update import GuidedUpdate
from emb_opt.update.inputs import ModelInputs, field_matrix
from emb_opt.utils import build_batch_from_items

N, TOP, BUDGET = 2000, 20, 200


@pytest.fixture(scope="module")
def collection():
    """Embeddings that say nothing of the score; the score is stored beside them."""
    rng = np.random.default_rng(5)
    embeddings = rng.standard_normal((N, 8)).astype(np.float32)
    potency = rng.standard_normal(N)
    print_ = rng.standard_normal((N, 3))
    metadata = [
        {"potency": float(p), "fp": f.tolist(), "name": f"m{i}"}
        for i, (p, f) in enumerate(zip(potency, print_))
    ]
    return embeddings, metadata


def screen(collection, field: str, fields: list[str] | str, mode: str) -> int:
    """How many of the top items by `field` (summed, for a vector) a search scored."""
    embeddings, metadata = collection
    values = np.array([np.sum(row[field]) for row in metadata])
    source = NumpyDataSource(embeddings, k=10, metadata=metadata)
    update = GuidedUpdate(batch=20, initial=40, mode=mode, fields=fields, sample=400, seed=0)

    def score(items):
        return [float(np.sum(item.data[field])) for item in items]

    runner = Runner(source, None, score, None, update)
    start = build_batch_from_items(source.sample(4, seed=1))
    _, log = runner.search(start, 40, verbose=False, stop=StopRule(max_score_calls=BUDGET))
    top = set(np.argsort(-values)[:TOP].tolist())
    return len(top & {int(item.id) for item in log.items.values()})


@pytest.mark.parametrize("mode", ["pool", "neighbourhood"])
@pytest.mark.parametrize("field", ["potency", "fp"])
def test_a_score_stored_beside_the_vector_is_found_when_the_model_reads_it(collection, field, mode):
    with_fields = screen(collection, field, [field], mode)
    without = screen(collection, field, [], mode)
    chosen = screen(collection, field, "auto", mode)  # the default: it finds the field itself
    assert with_fields >= 12  # random scoring of 200 of 2,000 finds about 2 of the top 20
    assert with_fields >= without + 6
    assert chosen >= without + 6


def test_no_fields_leaves_the_embeddings_as_they_are():
    embeddings = np.ones((3, 4))
    assert ModelInputs.fit((), embeddings, None)(embeddings, None) is embeddings


def test_the_fields_block_weighs_like_the_embeddings():
    rng = np.random.default_rng(0)
    embeddings = rng.standard_normal((300, 16))
    rows = [{"a": float(x), "b": [float(y), float(z)]} for x, y, z in rng.normal(5, 9, (300, 3))]
    inputs = ModelInputs.fit(["a", "b"], embeddings, rows)
    block = inputs(embeddings, rows)[:, 16:]
    assert block.shape == (300, 3)
    assert np.allclose(block.mean(axis=0), 0, atol=1e-5)
    spread = np.linalg.norm(block[:150] - block[150:], axis=1).mean()
    typical = np.linalg.norm(embeddings[:150] - embeddings[150:], axis=1).mean()
    assert 0.5 < spread / typical < 2


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([{"a": 1.0}, {"b": 2.0}], "field 'a', but an item has None"),
        ([{"a": 1.0}, {"a": "high"}], "field 'a', but an item has 'high'"),
        ([{"a": [1.0, 2.0]}, {"a": [1.0]}], "holds 1 numbers on one item and 2"),
        ([{"a": float("nan")}], "expected finite numbers"),
        ([{"a": True}], "an item has True"),
    ],
)
def test_a_field_that_is_not_a_number_is_a_clear_error(rows, message):
    with pytest.raises(ValueError, match=message):
        field_matrix(rows, ["a"])


def test_no_items_make_an_empty_input_matrix_of_the_model_width():
    inputs = ModelInputs.fit(["b"], np.zeros((2, 3)), [{"b": [1.0, 2.0]}, {"b": [0.0, 1.0]}])
    assert inputs(np.zeros((0, 3)), []).shape == (0, 5)
    assert inputs(np.zeros((1, 3)), [{"b": [3.0, 4.0]}]).shape == (1, 5)


def test_a_source_without_metadata_is_a_clear_error():
    inputs = ModelInputs.fit(["a"], np.zeros((2, 3)), [{"a": 1.0}, {"a": 2.0}])
    with pytest.raises(ValueError, match=r"reads the fields \['a'\], but the source returned no"):
        inputs(np.zeros((2, 3)), None)


@pytest.mark.parametrize("fields", ["potency", [""], [3]])
def test_bad_fields_are_rejected(fields):
    with pytest.raises(ValueError, match=r"fields must be 'auto' or a list of field names"):
        GuidedUpdate(fields=fields)
