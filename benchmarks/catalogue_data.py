"""Product catalogue data: 53,940 real diamonds, a text embedding of each listing, the
measurements a shop stores beside it, and what sells.

    from benchmarks.catalogue_data import load_catalogue
    data = load_catalogue()                  # reads the CSV out of plotnine's wheel
    data.titles[0]                           # "0.23 carat round diamond, Ideal cut, colour E, ..."
    data.embeddings                          # (53940, 64) float32, row i is diamond i
    data.objectives["price"]                 # (53940,) float64, higher is better
    data.stored("columns+noise")[0]          # {"carat": 0.23, ..., "shuffle_rank": 917}

The table is ggplot2's `diamonds` (price and attributes of 53,940 round diamonds), shipped
as `plotnine/data/diamonds.csv` inside the `plotnine==0.15.9` wheel, which the first run
downloads with `pip download --no-deps` into `catalogue_dir()` and reads as a zip
(plotnine is never imported nor a dependency). The vector is what a catalogue's text search
indexes: the listing's title (carat written out, cut, colour, clarity) embedded by hashed
character 2- to 4-grams, TF-IDF weighted, reduced to 64 dimensions by TruncatedSVD and
L2-normalised (noise-free: equal titles get equal vectors). The real fields the shop stores
are the numeric `COLUMNS` (weight, proportions, size in mm); the objectives are the price
and the price per carat, which the stored weight and size predict far better than a text
embedding of the title does. Rows keep the CSV's order. Needs scikit-learn and FAISS.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .molecules_data import cache_dir, wheel
from .stored_fields import Collection

PLOTNINE_WHEEL = "plotnine==0.15.9"
MEMBER = "plotnine/data/diamonds.csv"
DIM = 64
VERSION = 2  # bump when the embedding changes: a cached one of another version is rebuilt
COLUMNS = ("carat", "depth", "table", "x", "y", "z")  # the real fields stored beside a vector
OBJECTIVES = {
    "price": "the sale price in US dollars",
    "price_per_carat": "the price divided by the weight in carats",
}


@dataclass
class Catalogue(Collection):
    """Rows of the catalogue: listing titles, their embeddings, the stored columns and every
    objective's value per row; the real fields a variant stores are `COLUMNS`."""

    REAL = "columns"

    titles: list[str]
    embeddings: np.ndarray
    columns: dict[str, np.ndarray]
    objectives: dict[str, np.ndarray] = field(default_factory=dict)

    def real_fields(self) -> dict[str, np.ndarray]:
        return {name: self.columns[name] for name in COLUMNS}


def catalogue_dir() -> Path:
    """Where the plotnine wheel lives (beside the molecule cache, outside git)."""
    return cache_dir().parent / "catalogue"


def load_catalogue() -> Catalogue:
    """The diamonds catalogue, from plotnine's wheel (downloaded on first use)."""
    found = wheel(catalogue_dir(), PLOTNINE_WHEEL)
    if found is None:
        raise RuntimeError(
            f"cannot get the diamonds table: `pip download --no-deps {PLOTNINE_WHEEL}` failed"
        )
    with zipfile.ZipFile(found) as archive:
        text = archive.read(MEMBER).decode()
    return build_catalogue(text, catalogue_dir() / f"embeddings-v{VERSION}.npy")


def build_catalogue(text: str, cache: Path | None = None) -> Catalogue:
    """A catalogue from the diamonds CSV's text (header: carat, cut, color, clarity, depth,
    table, price, x, y, z); the embeddings are read from `cache` when it holds them, else
    computed (and saved there)."""
    rows = list(csv.DictReader(io.StringIO(text)))
    if not rows:
        raise ValueError("the diamonds table has no rows")
    columns = {name: np.array([float(row[name]) for row in rows]) for name in (*COLUMNS, "price")}
    price = columns.pop("price")
    titles = [title(row) for row in rows]
    objectives = {"price": price, "price_per_carat": price / columns["carat"]}
    return Catalogue(titles, embeddings(titles, cache), columns, objectives)


def embeddings(titles: Sequence[str], cache: Path | None) -> np.ndarray:
    """`embed(titles)`, from `cache` when it holds as many rows."""
    if cache is not None and cache.exists():
        cached = np.load(cache)
        if len(cached) == len(titles):
            return cached
    embedded = embed(titles)
    if cache is not None:
        np.save(cache, embedded)
    return embedded


def title(row: dict[str, str]) -> str:
    """A listing's title, as a shop writes it."""
    return f"round diamond, {row['cut']} cut, colour {row['color']}, clarity {row['clarity']}"


def embed(titles: Sequence[str], dim: int = DIM, seed: int = 0) -> np.ndarray:
    """Hashed character 2- to 4-grams, TF-IDF, TruncatedSVD to `dim` (at most one fewer than
    the titles), rows L2-normalised, as float32."""
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer
    from sklearn.preprocessing import normalize

    grams = HashingVectorizer(
        analyzer="char_wb", ngram_range=(2, 4), n_features=2**16, alternate_sign=False, norm=None
    ).transform(titles)
    weighted = TfidfTransformer(sublinear_tf=True).fit_transform(grams)
    svd = TruncatedSVD(min(dim, len(titles) - 1), algorithm="randomized", random_state=seed)
    reduced = normalize(svd.fit_transform(weighted))
    return np.ascontiguousarray(reduced, dtype=np.float32)
