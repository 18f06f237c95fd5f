"""The benchmark objectives and the clustered corpus: vectorised forms, pickling, shape."""

from __future__ import annotations

import pickle

import numpy as np

from emb_opt.objectives import BumpsScore, TargetMetadataScore
from emb_opt.schemas import Item
from emb_opt.synthetic import clustered_corpus


def items_of(embeddings, metadata=None):
    metadata = metadata or [None] * len(embeddings)
    return [Item(id=i, embedding=e, data=m) for i, (e, m) in enumerate(zip(embeddings, metadata))]


def test_bumps_score_function_matches_its_array_form_and_pickles():
    corpus = clustered_corpus(2000, 16, clusters=4, seed=3)
    score = pickle.loads(pickle.dumps(BumpsScore.on_clusters(corpus.centres)))
    expected = score.scores(corpus.embeddings[:50])
    got = [r.score for r in score(items_of(corpus.embeddings[:50]))]
    assert np.allclose(got, expected)
    assert np.allclose(score.peak, corpus.centres[0])
    assert int(np.argmax(score.scores(corpus.centres))) == 0  # the highest bump is on centre 0


def test_clustered_corpus_is_seeded_with_a_sparse_first_cluster():
    first, second = clustered_corpus(4000, 8, seed=5), clustered_corpus(4000, 8, seed=5)
    assert np.array_equal(first.embeddings, second.embeddings)
    clusters = np.bincount([m["cluster"] for m in first.metadata])
    assert clusters[0] == 4000 - clusters[1:].sum()
    assert clusters[0] < 0.1 * 4000 < clusters[1]
    assert first.centres.shape == (8, 8)


def test_the_global_peak_sits_in_the_sparse_cluster():
    corpus = clustered_corpus(20_000, 64, seed=0)
    scores = BumpsScore.on_clusters(corpus.centres).scores(corpus.embeddings)
    assert corpus.metadata[int(np.argmax(scores))]["cluster"] == 0


def test_metadata_score_depends_on_the_metadata_and_matches_its_array_form():
    score = pickle.loads(pickle.dumps(TargetMetadataScore()))
    embeddings = np.zeros((3, 8))
    metadata = [{"rand": 0.1}, {"rand": 0.9}, {}]
    responses = score(items_of(embeddings, metadata))
    assert responses[1].score > responses[0].score  # same place, better metadata
    assert not responses[2].valid and "rand" in responses[2].data["error"]
    vectorised = score.scores(embeddings[:2], {"rand": np.array([0.1, 0.9])})
    assert np.allclose(vectorised, [r.score for r in responses[:2]])
