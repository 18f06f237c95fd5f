"""The benchmarks' stored-field variants yield the fields they promise (no cache needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from benchmarks.stored_fields import NOISE, WithFields, noise_columns, records, stores, variants

DIAMONDS = """\
"carat","cut","color","clarity","depth","table","price","x","y","z"
0.23,"Ideal","E","SI2",61.5,55,326,3.95,3.98,2.43
0.21,"Premium","E","SI1",59.8,61,326,3.89,3.84,2.31
0.23,"Good","E","VS1",56.9,65,327,4.05,4.07,2.31
0.29,"Premium","I","VS2",62.4,58,334,4.2,4.23,2.63
0.31,"Good","J","SI2",63.3,58,335,4.34,4.35,2.75
0.24,"Ideal","E","SI2",62.8,57,336,3.94,3.96,2.48
"""


def test_noise_fields_carry_what_they_promise() -> None:
    columns = noise_columns(500)
    assert tuple(columns) == NOISE
    assert len(np.unique(columns["record_id"])) == 500  # an id: all different
    assert columns["record_id"].min() >= 100_000_000 and columns["record_id"].max() < 10**9
    assert sorted(columns["shuffle_rank"].tolist()) == list(range(500))  # a permutation
    assert set(np.unique(columns["site"]).tolist()) == {1.0}  # a constant
    assert columns["batch_number"].min() >= 1 and columns["batch_number"].max() <= 200
    assert (columns["unit_price"] > 0).all()
    again = noise_columns(500)
    assert all(np.array_equal(columns[name], again[name]) for name in NOISE)  # seeded


def test_variants_and_records() -> None:
    assert variants("columns") == ("columns", "columns+noise", "noise", "none")
    assert stores("columns+noise", "columns") == (True, True)
    assert stores("none", "columns") == (False, False)
    with pytest.raises(ValueError, match=r"'descriptors'.*'columns'"):
        stores("descriptors", "columns")
    rows = records({"a": np.array([1.5, 2.5]), "b": np.array([3, 4])})
    assert rows == [{"a": 1.5, "b": 3}, {"a": 2.5, "b": 4}]
    assert type(rows[0]["b"]) is int  # Python numbers, as a database returns them
    assert records({}) is None


def test_catalogue_variants_store_the_columns_and_never_the_price() -> None:
    pytest.importorskip("sklearn")
    from benchmarks.catalogue_data import COLUMNS, build_catalogue

    data = build_catalogue(DIAMONDS)
    assert len(data) == 6
    assert data.titles[0] == "round diamond, Ideal cut, colour E, clarity SI2"
    assert np.allclose(data.embeddings[0], data.embeddings[5])  # equal titles, equal vectors
    assert not np.allclose(data.embeddings[0], data.embeddings[1])
    assert np.allclose(data.objectives["price_per_carat"][:2], [326 / 0.23, 326 / 0.21])
    both = data.stored("columns+noise")
    assert both is not None and list(both[0]) == [*COLUMNS, *NOISE]
    assert both[0]["carat"] == pytest.approx(0.23) and both[0]["site"] == 1.0
    assert list(data.stored("columns")[0]) == list(COLUMNS)
    assert list(data.stored("noise")[0]) == list(NOISE)
    assert data.stored("none") is None
    assert not any(name == "price" for row in both for name in row)


def test_with_fields_appends_the_standardised_columns() -> None:
    pytest.importorskip("sklearn")
    from benchmarks.catalogue_data import COLUMNS, build_catalogue

    data = build_catalogue(DIAMONDS)
    widened = WithFields(data, "columns")
    width = data.embeddings.shape[1]
    assert widened.embeddings.shape == (6, width + len(COLUMNS))
    assert np.allclose(widened.embeddings[:, :width], data.embeddings)
    block = widened.embeddings[:, width:]
    assert np.allclose(block.mean(axis=0), 0, atol=1e-6)
    carat = data.columns["carat"]
    assert np.argmax(block[:, 0]) == np.argmax(carat)  # the first column is the weight


def test_molecule_variants_store_the_descriptors_by_name() -> None:
    pytest.importorskip("rdkit")
    from benchmarks.molecules_data import DESCRIPTOR_FIELDS, Molecules

    smiles = np.array(["CCO", "c1ccccc1", "CC(=O)Nc1ccc(O)cc1"])
    data = Molecules(smiles, np.zeros((3, 4), dtype=np.float32))
    stored = data.stored("descriptors+noise")
    assert stored is not None and list(stored[0]) == [*DESCRIPTOR_FIELDS, *NOISE]
    assert [row["heavy_atoms"] for row in stored] == [3, 6, 11]
    assert [row["aromatic_rings"] for row in stored] == [0, 1, 1]
    assert stored[2]["h_donors"] == 2  # paracetamol: NH and OH
    assert list(data.stored("noise")[0]) == list(NOISE)
    assert data.stored("none") is None
    assert data.metadata[1]["descriptors"] == [stored[1][name] for name in DESCRIPTOR_FIELDS]


def test_molecules_metadata_flag_adds_the_variant_rows() -> None:
    from benchmarks.molecules import parse_args
    from benchmarks.molecules_methods import DEFAULT, HAND_PICKED, METHODS

    args = parse_args(["--metadata", "noise,descriptors+noise"])
    assert args.methods == [
        f"{DEFAULT} [stored: noise]",
        f"{DEFAULT} [stored: descriptors+noise]",
        HAND_PICKED,
    ]
    assert all(name in METHODS for name in args.methods)
    assert parse_args(["--metadata", "none", "--methods", "random"]).methods == ["random", DEFAULT]
    assert len(parse_args(["--metadata", "all"]).methods) == 5
    with pytest.raises(SystemExit):
        parse_args(["--metadata", "descriptor"])


def test_earlier_tables_are_read_for_the_same_setting() -> None:
    from benchmarks.variants_report import earlier_recall

    dev = Path(__file__).parents[2] / "benchmarks" / "results" / "molecules_dev.md"
    setting = "n = 100,000 (MOSES test split), budget 2,000 score calls, 3 seeds"
    found = earlier_recall([dev], setting, 100)
    assert found["qed"] == pytest.approx(0.243)
    assert found["celecoxib_similarity"] == pytest.approx(0.997)
    assert earlier_recall([dev], setting.replace("3 seeds", "1 seeds"), 100) == {}


def test_goals_table_counts_the_objectives_that_meet_each_goal() -> None:
    from benchmarks.molecules import Outcome
    from benchmarks.molecules_methods import DEFAULT, HAND_PICKED
    from benchmarks.variants_report import goals_table

    def outcome(name: str, at100: float) -> Outcome:
        return Outcome(name, (0.0, at100, 0.0), 2000, 1.0)

    both, noise = f"{DEFAULT} [stored: columns+noise]", f"{DEFAULT} [stored: noise]"
    rows = {"a": (0.30, 0.29, 0.70, 0.71), "b": (0.50, 0.45, 0.60, 0.70)}
    names = (DEFAULT, noise, both, HAND_PICKED)
    results = {key: [outcome(n, v) for n, v in zip(names, values)] for key, values in rows.items()}
    text = goals_table(results, "columns", 100, {"a": 0.30, "b": 0.52})
    assert "| a | -0.010 | -0.010 | +0.000 | +0.400 | +0.410 |" in text
    assert (
        "hand-picked fields (or ahead) on 1 of 2 objectives; the worst difference is -0.100" in text
    )
    assert "nothing stored (or ahead) on 1 of 2 objectives; the worst difference is -0.050" in text
    assert "earlier tables by at most 0.020 (2 objectives)" in text


def test_plot_without_baselines(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from benchmarks.molecules import CURVE_POINTS, Outcome, plot
    from benchmarks.molecules_methods import DEFAULT

    curve = np.linspace(0, 0.5, CURVE_POINTS)
    plot(
        {"qed": [Outcome(DEFAULT, (0.1, 0.5, 0.3), 2000, 1.0, curve=curve)]},
        2000,
        tmp_path / "p.png",
    )
    assert (tmp_path / "p.png").stat().st_size > 0
