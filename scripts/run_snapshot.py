"""Move a `fgit run` folder between machines without its merged models' weights.

    python scripts/run_snapshot.py save runs/cpu-qwen0.5b-onpolicy results/cpu-qwen0.5b-onpolicy
    python scripts/run_snapshot.py restore results/cpu-qwen0.5b-onpolicy runs/cpu-qwen0.5b-onpolicy
    fgit run examples/cpu-qwen0.5b-onpolicy.yaml     # every finished stage is cached

`save` copies the run folder, leaving out each LoRA run's merged weights (its adapter rebuilds
them), checkpoints, and a training run cut short; `restore` copies it back and rebuilds each
merged model from its adapter, checking every rebuilt file against the sha256 that `save`
recorded (fgit.pipeline.snapshot; docs/pipeline.md, "Moving a run").
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    from fgit.errors import user_errors
    from fgit.pipeline.snapshot import restore_snapshot, save_snapshot

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    save = commands.add_parser("save", help="RUN -> SNAPSHOT (SNAPSHOT is replaced)")
    save.add_argument("run", type=Path)
    save.add_argument("snapshot", type=Path)
    restore = commands.add_parser("restore", help="SNAPSHOT -> RUN (a new folder)")
    restore.add_argument("snapshot", type=Path)
    restore.add_argument("run", type=Path)
    args = parser.parse_args(argv)
    try:
        if args.command == "save":
            record = save_snapshot(args.run, args.snapshot)
            for stage, entry in record["dropped"].items():
                size = sum(f["bytes"] for f in entry["files"].values()) / 2**20
                print(
                    f"{stage}: left out {entry['model']} weights ({size:.0f} MiB), kept its adapter"
                )
            print(f"snapshot of {args.run} in {args.snapshot}")
            return 0
        rebuilt = restore_snapshot(args.snapshot, args.run)
    except user_errors() as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    differ = [r.stage for r in rebuilt if not r.matches]
    if differ:
        print(
            f"warning: {', '.join(differ)} rebuilt with other bytes than were trained (another "
            f"CPU can round a merge differently); recorded in {args.run / 'restored.json'}",
            file=sys.stderr,
        )
    print(f"restored {args.run}: {len(rebuilt)} merged models rebuilt, {len(differ)} differ")
    return 0


if __name__ == "__main__":
    sys.exit(main())
