"""Molecule screening data: MOSES molecules, 64-d embeddings, eight objectives in two halves.

    from benchmarks.molecules_data import load_molecules, half
    data = load_molecules()                 # builds the cache on first use (about 5 minutes)
    data.embeddings                         # (100000, 64) float32, row i is molecule i
    data.smiles                             # (100000,) str
    data.objectives["qed"]                  # (100000,) float64, higher is better
    half("check")                           # the objectives kept for confirming a choice
    data.metadata[0]                        # {"descriptors": [12 RDKit descriptors]}
    data.stored("descriptors+noise")[0]     # {"heavy_atoms": 24.0, ..., "shuffle_rank": 917}
    big = load_molecules(1_000_000, objectives=["qed"])  # the train split (about 36 minutes)

The SMILES come out of the `molsets==0.3.1` wheel (MOSES), which the build downloads with
`pip download --no-deps` into the cache directory and reads as a zip: `moses` is never
imported (its declared dependencies do not build on Python 3.11). An installed `moses`
package is the fallback. Two caches, each built on first use: 100,000 molecules drawn from
the 176,074 of the test split (up to n = 100,000) and 1,000,000 drawn from the 1,584,663 of the
train split (larger n), each with a seeded permutation, so the first n rows are a random
subset of any size. Embeddings: Morgan radius-2 count fingerprints (2048 folded),
square-rooted, rows L2-normalised, reduced to 64 dims by TruncatedSVD fitted on the split's
cached rows. The four objectives of the dev half are computed with the embeddings; the
check half's (`EXTRA_VERSION`) on their first use, in the split's `extras-v1` folder, and
the `DESCRIPTORS` a database might store beside the vectors on theirs.
Everything is cached as .npy in `cache_dir()` (`$EMB_OPT_BENCH_CACHE`, default
`~/.cache/emb_opt_bench/molecules`; the train split in its `train-1000000` folder). Needs
RDKit and scikit-learn: `pip install -e ".[bench]"`.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import time
import zipfile
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import cache, cached_property
from pathlib import Path
from typing import Any

import numpy as np

from .stored_fields import Collection

MOSES_WHEEL = "molsets==0.3.1"
SPLITS = {"test": 100_000, "train": 1_000_000}  # molecules cached per MOSES split
N_MOLECULES = SPLITS["test"]
DIM = 64
FP_SIZE = 2048
CHOICE_SEED = 0
VERSION = 1  # bump when the build changes; a cache of another version is rebuilt
CELECOXIB = "Cc1ccc(-c2cc(C(F)(F)F)nn2-c2ccc(S(N)(=O)=O)cc2)cc1"
TROGLITAZONE = "Cc1c(C)c2OC(C)(COc3ccc(CC4SC(=O)NC4=O)cc3)CCc2c(C)c1O"
CAMPHOR = "CC1(C)C2CCC1(C)C(=O)C2"
MENTHOL = "CC(C)C1CCC(C)CC1O"
MPO_TARGETS = {"logp": (4.0, 0.5), "tpsa": (95.0, 15.0), "mw": (340.0, 15.0)}  # mean, width
NOISY_LOGP_SD = 0.5  # the known noise of `noisy_logp`: Gaussian, sd in logP units


@dataclass(frozen=True)
class Objective:
    """A benchmark objective: its note, its half ("dev" to choose methods on, "check" to
    confirm them at the end), and the sd of the Gaussian noise every score call adds."""

    note: str
    half: str
    noise: float = 0.0


OBJECTIVES = {
    "celecoxib_similarity": Objective(
        "Tanimoto similarity (Morgan r2, 2048 bits) to celecoxib", "dev"
    ),
    "qed": Objective("QED drug-likeness (RDKit)", "dev"),
    "mpo_logp_tpsa_mw": Objective(
        "desirability product: exp(-z^2/2) of logP 4.0 +- 0.5, TPSA 95 +- 15, MW 340 +- 15",
        "dev",
    ),
    "penalized_logp": Objective("Crippen logP - SA score - max(largest ring - 6, 0)", "dev"),
    "troglitazone_similarity": Objective(
        "Tanimoto similarity (Morgan r2, 2048 bits) to troglitazone", "check"
    ),
    "median_camphor_menthol": Objective(
        "geometric mean of the Tanimoto similarities to camphor and to menthol "
        "(GuacaMol's median molecules 1)",
        "check",
    ),
    "qed_minus_sa": Objective("QED - 0.1 x SA score (SA-penalised drug-likeness)", "check"),
    "noisy_logp": Objective(
        f"Crippen logP, every score call adding Gaussian noise of sd {NOISY_LOGP_SD} "
        "(recall counts the noise-free values)",
        "check",
        noise=NOISY_LOGP_SD,
    ),
}
HALVES = ("dev", "check")
BASE_OBJECTIVES = ("celecoxib_similarity", "qed", "mpo_logp_tpsa_mw", "penalized_logp")
EXTRA_VERSION = 1  # bump when an extra objective changes: extras of another version are rebuilt
DESCRIPTORS_VERSION = 1  # bump when DESCRIPTORS change
DESCRIPTORS = (  # what a compound database often stores beside a vector (`Molecules.descriptors`)
    "HeavyAtomCount", "NumHeteroatoms", "RingCount", "NumAromaticRings", "FractionCSP3",
    "NumRotatableBonds", "NumHDonors", "NumHAcceptors", "NHOHCount", "NOCount",
    "NumAliphaticRings", "NumSaturatedRings",
)  # fmt: skip
DESCRIPTOR_FIELDS = (  # the same, as the field names a database gives them (`Molecules.stored`)
    "heavy_atoms", "heteroatoms", "rings", "aromatic_rings", "fraction_csp3",
    "rotatable_bonds", "h_donors", "h_acceptors", "nhoh_count", "no_count",
    "aliphatic_rings", "saturated_rings",
)  # fmt: skip
STORED_INPUTS = {  # objectives that read some stored descriptors (or close proxies of them)
    "qed": "inputs: donors, acceptors, rotatable bonds, aromatic rings",
    "qed_minus_sa": "inputs: QED's four; heavy atoms (SA size penalty)",
    "penalized_logp": "input: heavy atoms (SA size penalty)",
    "mpo_logp_tpsa_mw": "proxies: heavy atoms ~ MW, N/O count ~ TPSA",
}


def half(name: str) -> list[str]:
    """The objectives of one half ("dev" or "check"), or of both ("all")."""
    return [o for o, objective in OBJECTIVES.items() if name in (objective.half, "all")]


def cache_dir() -> Path:
    """Where the wheel and the built arrays live (outside git)."""
    override = os.environ.get("EMB_OPT_BENCH_CACHE")
    base = Path(override).expanduser() if override else Path.home() / ".cache" / "emb_opt_bench"
    return base / "molecules"


def split_for(n: int) -> str:
    """The smallest split whose cache holds n molecules."""
    for split, size in SPLITS.items():
        if 0 < n <= size:
            return split
    raise ValueError(f"n must be in 1..{max(SPLITS.values())}, got {n}")


def split_dir(split: str) -> Path:
    """A split's cache folder: the test split's is `cache_dir()` itself, others a subfolder."""
    return cache_dir() if split == "test" else cache_dir() / f"{split}-{SPLITS[split]}"


@dataclass
class Molecules(Collection):
    """Rows of the benchmark: SMILES, embeddings and every objective's value per row; the
    real fields a variant stores are the `DESCRIPTORS`, named `DESCRIPTOR_FIELDS`."""

    REAL = "descriptors"

    smiles: np.ndarray
    embeddings: np.ndarray
    objectives: dict[str, np.ndarray] = field(default_factory=dict)
    folder: Path | None = None  # the split's cache folder (None: not cached)

    def __len__(self) -> int:
        return len(self.smiles)

    def head(self, n: int) -> Molecules:
        """The first n rows (a random subset: rows are in a seeded random order)."""
        values = {name: column[:n] for name, column in self.objectives.items()}
        embeddings = np.ascontiguousarray(self.embeddings[:n])
        return Molecules(self.smiles[:n], embeddings, values, self.folder)

    @cached_property
    def descriptors(self) -> np.ndarray:
        """(n, len(DESCRIPTORS)) RDKit descriptors of every molecule (cached on first use)."""
        name = f"descriptors-v{DESCRIPTORS_VERSION}.npy"
        path = None if self.folder is None else self.folder / name
        if path is not None and path.exists():
            return np.load(path)[: len(self)]
        if path is None:
            return _in_chunks(_descriptors_chunk, list(self.smiles))["descriptors"]
        computed = _in_chunks(_descriptors_chunk, list(np.load(path.with_name("smiles.npy"))))
        _save(path, computed["descriptors"])
        return computed["descriptors"][: len(self)]

    @cached_property
    def metadata(self) -> list[dict[str, list[float]]]:
        """Per molecule, the descriptors as one vector field: `{"descriptors": [...]}`."""
        return [{"descriptors": row} for row in self.descriptors.tolist()]

    def real_fields(self) -> dict[str, np.ndarray]:
        """The descriptors as separate named fields (`DESCRIPTOR_FIELDS`)."""
        return dict(zip(DESCRIPTOR_FIELDS, self.descriptors.T))


def load_molecules(
    n: int = N_MOLECULES,
    split: str | None = None,
    verbose: bool = True,
    objectives: Sequence[str] = tuple(OBJECTIVES),
) -> Molecules:
    """The first n cached rows of `split` (default: `split_for(n)`) with the values of
    `objectives`; builds what the cache lacks first."""
    split = split or split_for(n)
    if split not in SPLITS or not 0 < n <= SPLITS[split]:
        raise ValueError(f"n must be in 1..{SPLITS.get(split)} for split {split!r}, got {n}")
    folder = split_dir(split)
    if not _cache_ready(split):
        build_cache(split, verbose=verbose)
    smiles = np.load(folder / "smiles.npy")
    embeddings = np.load(folder / "embeddings.npy")
    extras = [name for name in objectives if name not in BASE_OBJECTIVES]
    values = {name: np.load(folder / f"{name}.npy") for name in objectives if name not in extras}
    values |= load_extras(folder, smiles, extras, verbose) if extras else {}
    return Molecules(smiles, embeddings, values, folder).head(n)


def load_extras(
    folder: Path, smiles: np.ndarray, names: Sequence[str], verbose: bool = True
) -> dict[str, np.ndarray]:
    """The values of the objectives outside the main cache, computed for every molecule of
    the split on first use and cached in the split's `extras-v{EXTRA_VERSION}` folder."""
    extras = folder / f"extras-v{EXTRA_VERSION}"
    if not all((extras / f"{name}.npy").exists() for name in names):
        began = time.perf_counter()
        _say(verbose, f"molecules: computing the extra objectives for {len(smiles):,} ...")
        columns = _in_chunks(_extras_chunk, list(smiles), progress=verbose)
        extras.mkdir(parents=True, exist_ok=True)
        for name, column in columns.items():
            _save(extras / f"{name}.npy", column)
        _say(verbose, f"molecules: extras built in {time.perf_counter() - began:.0f} s")
    return {name: np.load(extras / f"{name}.npy") for name in names}


def cache_meta(split: str) -> dict[str, Any]:
    """What the split's cache records about its build (empty before it is built)."""
    try:
        return dict(json.loads((split_dir(split) / "meta.json").read_text()))
    except (OSError, ValueError):
        return {}


def _cache_ready(split: str) -> bool:
    meta = cache_meta(split)
    return meta.get("version") == VERSION and meta.get("n") == SPLITS[split]


def build_cache(split: str, verbose: bool = True) -> None:
    """Choose the split's molecules, embed them, compute every objective, save as .npy."""
    began = time.perf_counter()
    folder = split_dir(split)
    folder.mkdir(parents=True, exist_ok=True)
    smiles = choose(read_split(split), SPLITS[split], CHOICE_SEED)
    _say(verbose, f"molecules: computing fingerprints and objectives for {len(smiles):,} ...")
    rows = featurise(smiles, progress=verbose)
    embeddings = embed(rows["counts"])
    arrays = {"smiles": np.array(smiles), "embeddings": embeddings}
    arrays |= {name: rows[name] for name in BASE_OBJECTIVES}
    for name, array in arrays.items():
        _save(folder / f"{name}.npy", array)
    seconds = time.perf_counter() - began
    meta = {"version": VERSION, "n": len(smiles), "dim": DIM, "build_seconds": round(seconds, 1)}
    (folder / "meta.json").write_text(json.dumps(meta | {"split": split}) + "\n")
    _say(verbose, f"molecules: cache built in {seconds:.0f} s at {folder}")


def _save(path: Path, array: np.ndarray) -> None:
    partial = path.with_name(path.stem + ".partial.npy")
    np.save(partial, array)
    partial.replace(path)


def _say(verbose: bool, message: str) -> None:
    if verbose:
        print(message, file=sys.stderr, flush=True)


def read_split(split: str) -> list[str]:
    """A MOSES split's SMILES ("test" or "train"): from the molsets wheel, else an installed
    `moses`."""
    member = f"dataset/data/{split}.csv.gz"
    found = wheel(cache_dir())
    if found is not None:
        with zipfile.ZipFile(found) as archive:
            raw = archive.read(f"moses/{member}")
    else:
        import importlib.util

        spec = importlib.util.find_spec("moses")
        if spec is None or spec.origin is None:
            raise RuntimeError(
                f"cannot get the MOSES {split} split: `pip download --no-deps {MOSES_WHEEL}` "
                f"failed and no `moses` package is installed"
            )
        raw = (Path(spec.origin).parent / member).read_bytes()
    lines = gzip.decompress(raw).decode().splitlines()
    return [line.strip() for line in lines[1:] if line.strip()]  # the first line is "SMILES"


def wheel(folder: Path, requirement: str = MOSES_WHEEL) -> Path | None:
    """The wheel of a pinned requirement ("name==version") in `folder`, downloaded with
    `pip download --no-deps` if missing (None if impossible)."""
    name, version = requirement.split("==")
    pattern = f"{name.replace('-', '_')}-{version}-*.whl"
    found = sorted(folder.glob(pattern))
    if not found:
        folder.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "pip", "download", "--no-deps", requirement]
        subprocess.run([*command, "-d", str(folder), "-q"], check=False)
        found = sorted(folder.glob(pattern))
    return found[0] if found else None


def choose(smiles: Sequence[str], n: int, seed: int) -> list[str]:
    """n SMILES in a seeded random order (all of them, shuffled, if there are fewer)."""
    order = np.random.default_rng(seed).permutation(len(smiles))[:n]
    return [smiles[i] for i in order]


def featurise(smiles: Sequence[str], progress: bool = True) -> dict[str, Any]:
    """Count fingerprints (sparse) and the main cache's objectives."""
    from scipy import sparse

    columns = _in_chunks(_featurise_chunk, smiles, progress=progress)
    return columns | {"counts": sparse.vstack(columns["counts"]).tocsr()}


def _in_chunks(
    work: Any, smiles: Sequence[str], workers: int = 2, chunk: int = 5_000, progress: bool = True
) -> dict[str, Any]:
    """`work(chunk of smiles) -> {name: column}` over every chunk in `workers` processes; the
    columns concatenated (sparse matrices: a list of the parts)."""
    from tqdm import tqdm

    chunks = [list(smiles[i : i + chunk]) for i in range(0, len(smiles), chunk)]
    parts = []
    bar = tqdm(total=len(smiles), unit="mol", unit_scale=True, disable=not progress)
    with ProcessPoolExecutor(workers) as pool, bar:
        for part, size in zip(pool.map(work, chunks), map(len, chunks)):
            parts.append(part)
            bar.update(size)
    return {
        name: [p[name] for p in parts]
        if not isinstance(parts[0][name], np.ndarray)
        else np.concatenate([p[name] for p in parts])
        for name in parts[0]
    }


def _featurise_chunk(smiles: list[str]) -> dict[str, Any]:
    """One chunk's count fingerprints and main objectives (runs in a worker process)."""
    from rdkit import DataStructs
    from rdkit.Chem import QED, Crippen, Descriptors, rdMolDescriptors
    from scipy import sparse

    mols = _parse(smiles)
    generator = _morgan()
    dense = np.stack([generator.GetCountFingerprintAsNumPy(m) for m in mols])
    bits = [generator.GetFingerprint(m) for m in mols]
    logp = np.array([Crippen.MolLogP(m) for m in mols])
    tpsa = np.array([rdMolDescriptors.CalcTPSA(m) for m in mols])
    mw = np.array([Descriptors.MolWt(m) for m in mols])
    sa = np.array([_sascorer().calculateScore(m) for m in mols])
    return {
        "counts": sparse.csr_matrix(dense.astype(np.float32)),
        "celecoxib_similarity": np.array(
            DataStructs.BulkTanimotoSimilarity(_reference(CELECOXIB), bits)
        ),
        "qed": np.array([QED.qed(m) for m in mols]),
        "mpo_logp_tpsa_mw": desirability({"logp": logp, "tpsa": tpsa, "mw": mw}),
        "penalized_logp": logp - sa - np.array([_ring_penalty(m) for m in mols]),
    }


def _extras_chunk(smiles: list[str]) -> dict[str, np.ndarray]:
    """One chunk's values of the objectives outside the main cache (noise-free)."""
    from rdkit import DataStructs
    from rdkit.Chem import QED, Crippen

    mols = _parse(smiles)
    generator = _morgan()
    bits = [generator.GetFingerprint(m) for m in mols]

    def similarity(reference: str) -> np.ndarray:
        return np.array(DataStructs.BulkTanimotoSimilarity(_reference(reference), bits))

    sa = np.array([_sascorer().calculateScore(m) for m in mols])
    return {
        "troglitazone_similarity": similarity(TROGLITAZONE),
        "median_camphor_menthol": np.sqrt(similarity(CAMPHOR) * similarity(MENTHOL)),
        "qed_minus_sa": np.array([QED.qed(m) for m in mols]) - 0.1 * sa,
        "noisy_logp": np.array([Crippen.MolLogP(m) for m in mols]),
    }


def _descriptors_chunk(smiles: list[str]) -> dict[str, np.ndarray]:
    """One chunk's `DESCRIPTORS` (runs in a worker process)."""
    from rdkit.Chem import Descriptors

    functions = [getattr(Descriptors, name) for name in DESCRIPTORS]
    rows = [[float(f(mol)) for f in functions] for mol in _parse(smiles)]
    return {"descriptors": np.array(rows)}


def _parse(smiles: list[str]) -> list[Any]:
    """RDKit molecules of the SMILES (RDKit's warnings off)."""
    from rdkit import Chem, RDLogger

    RDLogger.DisableLog("rdApp.*")
    mols = [Chem.MolFromSmiles(s) for s in smiles]
    if any(mol is None for mol in mols):
        bad = next(s for s, mol in zip(smiles, mols) if mol is None)
        raise ValueError(f"RDKit cannot parse the MOSES SMILES {bad!r}")
    return mols


def _morgan() -> Any:
    """The Morgan radius-2, `FP_SIZE`-bit generator of every fingerprint here."""
    from rdkit.Chem import rdFingerprintGenerator

    return rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=FP_SIZE)


def _reference(smiles: str) -> Any:
    """The Morgan bit fingerprint of a reference molecule."""
    from rdkit import Chem

    return _morgan().GetFingerprint(Chem.MolFromSmiles(smiles))


@cache
def _sascorer() -> Any:
    """RDKit Contrib's synthetic-accessibility scorer."""
    from rdkit.Chem import RDConfig

    sys.path.append(os.path.join(RDConfig.RDContribDir, "SA_Score"))
    import sascorer

    return sascorer


def _ring_penalty(mol: Any) -> float:
    """Atoms beyond six in the largest ring (0 when there is no ring)."""
    sizes = [len(ring) for ring in mol.GetRingInfo().AtomRings()]
    return float(max(max(sizes, default=0) - 6, 0))


def desirability(properties: dict[str, np.ndarray]) -> np.ndarray:
    """Product of Gaussian desirabilities around `MPO_TARGETS` (1 at every target)."""
    squared = sum(((properties[k] - mean) / width) ** 2 for k, (mean, width) in MPO_TARGETS.items())
    return np.exp(-0.5 * squared)


def embed(counts: Any, dim: int = DIM, seed: int = 0) -> np.ndarray:
    """sqrt counts, rows L2-normalised, TruncatedSVD to `dim` dims, as float32."""
    from sklearn.decomposition import TruncatedSVD
    from sklearn.preprocessing import normalize

    scaled = normalize(counts.sqrt(), norm="l2")
    reduced = TruncatedSVD(dim, algorithm="randomized", random_state=seed).fit_transform(scaled)
    return np.ascontiguousarray(reduced, dtype=np.float32)


if __name__ == "__main__":  # python -m benchmarks.molecules_data [n]: build the cache for n
    began = time.perf_counter()
    size = int(sys.argv[1]) if len(sys.argv) > 1 else N_MOLECULES
    molecules = load_molecules(size)
    print(f"{len(molecules):,} molecules, embeddings {molecules.embeddings.shape}")
    print(f"ready in {time.perf_counter() - began:.1f} s at {split_dir(split_for(size))}")
