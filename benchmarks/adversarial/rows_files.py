"""Rows of the files a person hands over: alias bombs as configs, a tell row with a score and
a reason, a huge tell file, and source data changed under a run."""

from __future__ import annotations

import csv
import os
import shutil
from pathlib import Path

import numpy as np

from .context import Pass
from .harness import Case, refusal, worst
from .lab import external, fill, plate_rows, results, told_check, write_config

LEVELS, LOL = "abcdefghi", '"lol"'
BOMB = "".join(  # about 650 bytes; 9**9 strings once its aliases are expanded
    f"{name}: &{name} [{', '.join([f'*{LEVELS[i - 1]}' if i else LOL] * 9)}]\n"
    for i, name in enumerate(LEVELS)
)


def alias_bombs(ctx: Pass) -> list[Case]:
    """An alias bomb appended to a config given to `run` and `ask`, and to a shared run's
    config.yaml that `ask RUN` and `tell RUN` re-read: each refused in one line naming the
    file, in reasonable time and memory."""
    folder = ctx.dir("bombs")
    config = write_config(folder / "run.yaml", folder / "out")
    bombed = folder / "bomb.yaml"
    bombed.write_text(config.read_text() + BOMB)
    asking = external(folder / "ask.yaml", "lab")
    asked_bomb = folder / "ask-bomb.yaml"
    asked_bomb.write_text(asking.read_text() + BOMB)
    cases = [
        _bomb_case(ctx, "run CONFIG", bombed, "run", str(bombed), "--quiet", cwd=folder),
        _bomb_case(ctx, "ask CONFIG", asked_bomb, "ask", str(asked_bomb), cwd=folder),
    ]
    run, first, _ = ctx.asked()
    fill(first, run.parent / f"{run.name}-scored.csv")
    shared = run / "config.yaml"
    shared.write_text(shared.read_text() + BOMB)
    cases.append(_bomb_case(ctx, "ask RUN (its config.yaml)", shared, "ask", str(run)))
    scored = str(run.parent / f"{run.name}-scored.csv")
    cases.append(_bomb_case(ctx, "tell RUN (its config.yaml)", shared, "tell", str(run), scored))
    return cases


def _bomb_case(ctx: Pass, name: str, path: Path, *args: str, cwd: Path | None = None) -> Case:
    done = ctx.commands.run(*args, cwd=cwd)
    kind, note = refusal(done, path.name)
    return Case("bombs", name, kind, f"{note} (peak {done.peak_mb:.0f} MB)")


def score_and_reason(ctx: Pass) -> list[Case]:
    """A told row with both a score and a reason (as CSV and as an Excel workbook): refused
    naming it (nothing told), or its score kept with the reason as a note; never stored as
    invalid with its score dropped."""
    cases = []
    for suffix in (".csv", ".xlsx"):
        run, plate, _ = ctx.asked()
        scored = run.parent / f"{run.name}-scored.csv"
        told = fill(plate, scored)
        rows = plate_rows(scored)
        odd = rows[2]["id"]
        rows[2]["reason"] = "bubble in the well"
        path = scored.with_name(f"{run.name}-reason{suffix}")
        _write_rows(rows, path)
        done = ctx.commands.run("tell", str(run), str(path))
        if done.code == 0:
            kept = {str(r["id"]): r for r in results(run)}.get(odd, {})
            if kept.get("score") is None:
                kind, note = "wrong", f"accepted ({done.said()}); row {odd} stored with no score"
            else:
                kind, note = told_check(run, told)
                note = note or "accepted, the score kept"
        else:
            kind, note = refusal(done, odd)
            if any(str(row["id"]) in told for row in results(run)):
                kind, note = "wrong", f"refused, yet some rows were told: {note}"
        cases.append(Case("reason", f"score and reason in {suffix}", kind, note))
    return cases


def _write_rows(rows: list[dict[str, str]], path: Path) -> None:
    if path.suffix == ".xlsx":
        from openpyxl import Workbook

        book = Workbook()
        sheet = book.active
        sheet.append(list(rows[0]))
        for row in rows:
            sheet.append(list(row.values()))
        book.save(path)
        return
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


HUGE_MB, PROBLEMS_MB = 1000, 20  # bounds a tell of a huge file must keep


def huge_tell_file(ctx: Pass) -> list[Case]:
    """A tell file of the plate's rows and millions of rows of ids never asked (about 100
    MB at 7,000,000 rows): refused in bounded memory (under 1,000 MB) with a capped problems
    file (under 20 MB); with `--partial`, the plate told in bounded memory."""
    rows = 1_000_000 if ctx.quick else 7_000_000
    run, plate, _ = ctx.asked()
    told = fill(plate, run.parent / "plate-scored.csv")
    huge = run.parent / "huge.csv"
    with open(huge, "w") as handle:
        handle.write("id,score\n")
        handle.writelines(f"{id},{score!r}\n" for id, score in told.items())
        handle.writelines(f"{10_000_000 + i},0.5\n" for i in range(rows - len(told)))
    size = huge.stat().st_size / 2**20
    refused = ctx.commands.run("tell", str(run), str(huge), memory_gb=16)
    problems = sum(path.stat().st_size for path in (run / "ask").glob("problems-*")) / 2**20
    partial = ctx.commands.run("tell", str(run), str(huge), "--partial", memory_gb=16)
    huge.unlink()
    what = f"{rows:,} rows ({size:.0f} MB)"
    kind, note = refusal(refused, str(huge.name))
    if kind == "ok" and refused.peak_mb > HUGE_MB:
        kind, note = "other", "refused, memory beyond bound"
    cases = [Case("huge-tell", f"{what}, refused", kind, f"{note} (peak {refused.peak_mb:.0f} MB)")]
    kind = "other" if problems > PROBLEMS_MB else (refused.kind() or "ok")
    cases.append(Case("huge-tell", f"{what}, problems file", kind, f"{problems:.1f} MB"))
    kind, note = told_check(run, told) if partial.code == 0 else ("other", partial.said())
    if kind == "ok" and partial.peak_mb > HUGE_MB:
        kind, note = "other", "told, memory beyond bound"
    note = f"{note or 'told'} (peak {partial.peak_mb:.0f} MB)"
    cases.append(Case("huge-tell", f"{what}, --partial", worst(kind, partial.kind()), note))
    return cases


OLD_BLOCKS, BLOCK = 64, 2**20  # how emb_opt before issue 31 sampled a file over 64 MiB
EMBEDDINGS = "source.data.embeddings"  # what a refusal names


def changed_sources(ctx: Pass) -> list[Case]:
    """Source data changed under a run: a file over 64 MiB edited between the blocks an
    earlier version sampled (mtime set back), the same replaced by an edited copy, a LanceDB
    collection re-embedded beyond its first 32 items: `run --resume` must refuse each; and
    `status` of an ask/tell run whose file changed must say so."""
    return [
        _big_file(ctx, "edited in place"),
        _big_file(ctx, "replaced by an edited copy"),
        _database(ctx),
        _status(ctx),
    ]


def _resume_refused(ctx: Pass, name: str, folder: Path, config: Path, *names: str) -> Case:
    again = ctx.commands.run("run", str(config), "--resume", "--quiet", cwd=folder)
    if again.code == 0:
        return Case("sources", name, "wrong", "--resume accepted the changed data")
    kind, note = refusal(again, *names)
    return Case("sources", name, kind, note)


def _big_file(ctx: Pass, how: str) -> Case:
    folder = ctx.dir(f"sources-{how.split()[0]}")
    vectors = np.random.default_rng(5).standard_normal((1_700_000, 16)).astype(np.float32)
    big = folder / "big.npy"
    np.save(big, vectors)
    del vectors
    source = {"backend": "faiss", "k": 5, "data": {"kind": "files", "embeddings": str(big)}}
    strategy = {"update": {"name": "rl", "lrs": [0.25, 1.0]}}
    config = write_config(
        folder / "run.yaml",
        folder / "out",
        source=source,
        strategy=strategy,
        stop={"iterations": 2, "idle": None},
    )
    first = ctx.commands.run("run", str(config), "--quiet", cwd=folder)
    if first.code != 0:
        return Case("sources", f"file over 64 MiB {how}", first.kind() or "other", first.said())
    _edit_between_blocks(big, replace=how.startswith("replaced"))
    write_config(
        config,
        folder / "out",
        source=source,
        strategy=strategy,
        stop={"iterations": 3, "idle": None},
    )
    return _resume_refused(ctx, f"file over 64 MiB {how}", folder, config, EMBEDDINGS)


def _edit_between_blocks(path: Path, replace: bool) -> None:
    """Change 4 KiB of floats between two of the blocks an earlier version hashed, then set the
    modification time back (`replace`: into a copy renamed over the file)."""
    stat = path.stat()
    last = stat.st_size - BLOCK
    start = last * 10 // (OLD_BLOCKS - 1) + BLOCK  # the end of the 11th block
    gap = last * 11 // (OLD_BLOCKS - 1) - start
    assert gap > 8192, gap
    target = path.with_name("edited.npy") if replace else path
    if replace:
        shutil.copyfile(path, target)
    finite = np.random.default_rng(9).standard_normal(1024).astype(np.float32).tobytes()
    with open(target, "r+b") as handle:
        handle.seek((start + gap // 2) // 4 * 4)  # on a float (the header is 128 bytes)
        handle.write(finite)
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    if replace:
        os.replace(target, path)


def _database(ctx: Pass) -> Case:
    folder = ctx.dir("sources-lancedb")
    source = {
        "backend": "lancedb",
        "path": str(folder / "lance"),
        "collection": "items",
        "k": 5,
        "data": {"kind": "synthetic", "n": 3000, "dim": 16, "seed": 0},
    }
    config = write_config(
        folder / "run.yaml", folder / "out", source=source, stop={"iterations": 2, "idle": None}
    )
    first = ctx.commands.run("run", str(config), "--quiet", cwd=folder)
    name = "database re-embedded beyond its first 32 items"
    if first.code != 0:
        return Case("sources", name, first.kind() or "other", first.said())
    changed = ctx.commands.run(str(folder / "lance"), "items", module="adv_lance")
    if changed.code != 0:
        return Case("sources", name, "other", f"cannot change the table: {changed.said()}")
    write_config(config, folder / "out", source=source, stop={"iterations": 3, "idle": None})
    return _resume_refused(ctx, name, folder, config, "changed")


def _status(ctx: Pass) -> Case:
    folder = ctx.dir("sources-status")
    data = folder / "embeddings.npy"
    np.save(data, np.random.default_rng(7).standard_normal((3000, 16)).astype(np.float32))
    source = {"backend": "faiss", "k": 5, "data": {"kind": "files", "embeddings": str(data)}}
    config = external(folder / "lab.yaml", "lab", source=source)
    asked = ctx.commands.run("ask", str(config), cwd=folder)
    if asked.code != 0:
        return Case("sources", "status over changed data", "other", asked.said())
    np.save(data, np.random.default_rng(8).standard_normal((3000, 16)).astype(np.float32))
    status = ctx.commands.run("status", str(folder / "lab"), cwd=folder)
    if status.kind():
        return Case("sources", "status over changed data", status.kind() or "", status.said())
    if "changed" in status.out or "changed" in status.err:
        line = next(x for x in (status.out + status.err).splitlines() if "changed" in x)
        return Case("sources", "status over changed data", "ok", line.strip())
    return Case("sources", "status over changed data", "wrong", "status silent on the change")
