"""``audience audiences compile|check|list``: the catalogue from the command line.

``compile`` checks the catalogue and (re)writes the generated dbt models, removing those of
deleted audiences; ``check`` checks it and that the generated files are up to date; ``list``
prints the audiences. An invalid catalogue or stale files exit with status 2 and a message
naming the file, the audience and the rule.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

from audience.audiences import catalogue_dir, compiler, dbt_project_dir
from audience.audiences.catalogue import Catalogue, CatalogueError, load

INVALID = 2


def load_catalogue(folder: Path, project_dir: Path) -> Catalogue:
    return load(folder, point_keys=compiler.point_keys(project_dir), display_root=folder.parent)


def run(
    action: str,
    *,
    folder: Path | None = None,
    project_dir: Path | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    folder = folder or catalogue_dir()
    project_dir = project_dir or dbt_project_dir()
    try:
        catalogue = load_catalogue(folder, project_dir)
    except CatalogueError as exc:
        count = len(exc.problems)
        print(f"audience catalogue invalid ({count} problem{'s' if count > 1 else ''}):", file=err)
        for problem in exc.problems:
            print(f"  {problem}", file=err)
        return INVALID
    if action == "list":
        for a in sorted(catalogue.audiences, key=lambda a: a.key):
            lookalike = (
                f" lookalike {a.lookalike.ratio:g} {','.join(a.lookalike.countries)}"
                if (a.lookalike and a.lookalike.enabled)
                else ""
            )
            print(f"{a.key:<40} {','.join(a.destinations) or '-':<18} {a.source_file}{lookalike}", file=out)
        return 0
    files = compiler.compile_catalogue(catalogue)
    if action == "check":
        found = compiler.drift(files, project_dir)
        if found:
            print(
                f"generated audience models are stale ({found}); run `audience audiences compile` and commit",
                file=err,
            )
            return INVALID
        print(
            f"audience catalogue OK: {len(catalogue.audiences)} audiences, generated models up to date",
            file=out,
        )
        return 0
    if action == "compile":
        found = compiler.write(files, project_dir)
        print(
            f"compiled {len(catalogue.audiences)} audiences: {len(found.missing)} files added, "
            f"{len(found.changed)} updated, {len(found.extra)} removed",
            file=out,
        )
        return 0
    raise ValueError(f"unknown action {action!r}")
