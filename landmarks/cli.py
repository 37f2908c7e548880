"""The ``landmarks`` command line.

Imports are deferred to the command that needs them: ``landmarks list`` and ``show`` start
without torch; ``run`` and ``reproduce`` load it.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from landmarks import __version__, registry
from landmarks.allocator import retain_freed_memory
from landmarks.errors import UserInputError
from landmarks.files import input_folder, output_folder

EXIT_BAD_INPUT = 2
EXIT_FAILED = 1
EXIT_INTERRUPTED = 130


def _console(stderr: bool = False):  # type: ignore[no-untyped-def]
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    # Logs and pipes get a wide canvas rather than rich's 80-column default.
    width = None if stream.isatty() else 160
    return Console(stderr=stderr, highlight=False, soft_wrap=False, width=width)


def _timestamp() -> str:
    return time.strftime("%Y%m%d-%H%M%S")


# ---- landmarks list ------------------------------------------------------------------------


def cmd_list(args: argparse.Namespace) -> int:
    from rich.table import Table

    from landmarks.results import (
        NOT_RUN,
        Result,
        find_seed_results,
        latest_statuses,
        other_seeds,
        runs_root,
        seeds_held,
    )

    if args.runs:
        runs = input_folder(args.runs, "--runs")
    else:  # a missing runs/ only means nothing has run yet
        runs = runs_root()
        if runs.exists() or runs.is_symlink():
            runs = input_folder(runs, "the runs folder")
    statuses = latest_statuses(runs)
    # The runs on other seeds that sit beside each paper's latest result (landmarks reproduce
    # --seeds, make seeds): the status column is one seed's, and a claim may hold on it alone.
    seeds_in: dict[Path, dict[str, list[Result]]] = {}
    held: dict[str, str] = {}
    for pid, (_, r) in statuses.items():
        root = r.path.parent.parent
        if root not in seeds_in:
            seeds_in[root] = find_seed_results(root, skip_malformed=True)
        held[pid] = seeds_held(r, other_seeds(r, seeds_in[root]), short=True)
    show_seeds = any(held.values())
    table = Table(title="landmarks: papers", title_justify="left")
    if show_seeds:
        table.caption = (
            "other seeds: claims each run on another seed reproduced (⚠: code changed since that "
            "run; (quick) or (full): it ran another preset than the status column's)"
        )
        table.caption_justify = "left"
    for col in ("id", "year", "title", "track", "status", *(["other seeds"] if show_seeds else [])):
        table.add_column(col, no_wrap=col in ("id", "status", "other seeds"))
    for p in registry.PAPERS:
        status = statuses.get(p.id, (NOT_RUN, None))[0]
        style = (
            "green" if status.startswith("reproduced") else "red" if status.startswith("not rep") else "dim"
        )
        row = [p.id, str(p.year), p.title, f"{p.track}. {registry.TRACKS[p.track]}", f"[{style}]{status}[/]"]
        table.add_row(*row, *([held.get(p.id, "")] if show_seeds else []))
    _console().print(table)
    return 0


# ---- landmarks show ------------------------------------------------------------------------


def cmd_show(args: argparse.Namespace) -> int:
    from rich.markup import escape
    from rich.table import Table

    paper = registry.get(args.id)
    card = paper.load().CARD
    con = _console()
    con.print(f"[bold]{escape(paper.title)}[/]  ({paper.id})")
    con.print(f"{escape(paper.authors)}, {paper.year} · {paper.url}")
    con.print(f"[dim]Track {paper.track}: {registry.TRACKS[paper.track]}[/]\n")
    con.print(f"[bold]Citation[/]\n{escape(card.citation)}\n")
    con.print("[bold]Takeaways[/]")
    for t in card.takeaways:
        con.print(f" • {escape(t)}")
    claims = Table(title="Claims checked by `landmarks run`", title_justify="left")
    for col in ("claim", "threshold", "paper's figure"):
        claims.add_column(col)
    for c in card.claims:
        claims.add_row(escape(c.statement), escape(c.threshold), escape(c.paper_value))
    con.print()
    con.print(claims)
    if card.figures:
        con.print("[bold]The paper's reference numbers[/]")
        for k, v in card.figures.items():
            con.print(f" • {escape(k)}: {escape(str(v))}")
    con.print("\n[bold]What the toy keeps[/]")
    for k in card.keeps:
        con.print(f" • {escape(k)}")
    con.print("[bold]What it shrinks[/]")
    for k in card.shrinks:
        con.print(f" • {escape(k)}")
    if card.notes:
        con.print(f"\n{escape(card.notes)}")
    con.print(
        f"\n[bold]Run it[/]\n  landmarks run {paper.id}            # the reproduction\n"
        f"  landmarks run {paper.id} --quick    # a few seconds: proves the code runs\n"
        f"  landmarks run {paper.id} --set key=value   # see `landmarks run {paper.id} --set help`"
    )
    return 0


# ---- landmarks run -------------------------------------------------------------------------


def _resume_dir(paper_id: str) -> Path | None:
    """The newest ``runs/*/`` that holds checkpoints of this paper."""
    from landmarks.results import runs_root

    found = sorted(runs_root().glob(f"*/{paper_id}/checkpoints"), key=lambda p: p.stat().st_mtime)
    return found[-1].parent.parent if found else None


def _print_claims(result: dict, console) -> None:  # type: ignore[no-untyped-def]
    from rich.markup import escape
    from rich.table import Table

    from landmarks.claims import REPRODUCED
    from landmarks.provenance import machine_note
    from landmarks.report import measured_text

    table = Table(
        title=f"{result['paper']}: seed {result['seed']}, {result['device']}, {machine_note(result)}"
        + (" (quick preset: proves the code runs, not the claims)" if result["quick"] else ""),
        title_justify="left",
    )
    for col in ("claim", "paper's figure", "threshold", "measured", "verdict"):
        table.add_column(col)
    for c in result["claims"]:
        ok = c["verdict"] == REPRODUCED
        table.add_row(
            escape(c["statement"]),
            escape(c["paper_value"]),
            escape(c["threshold"]),
            measured_text(c["measured"]),
            "[green]reproduced[/]" if ok else "[red]not reproduced[/]",
        )
    console.print(table)


def cmd_run(args: argparse.Namespace) -> int:
    registry.get(args.id)  # unknown ids fail before torch loads
    if args.set and any(s in ("help", "?") for s in args.set):
        return _print_keys(args.id, args.quick)
    # Paths fail before torch loads and before anything is written.
    if args.out:
        out = Path(args.out)
    elif args.resume:
        out = _resume_dir(args.id) or _fail_resume(args.id)
    else:
        out = Path("runs") / _timestamp()
    _check_out(out, args.out, [args.id])
    data_dir = input_folder(args.data_dir, "--data-dir") if args.data_dir else None
    from landmarks.runner import preset, run_paper

    preset(args.id, args.quick, args.set)  # bad --set fails before any work
    try:
        result = run_paper(
            args.id,
            out=out,
            quick=args.quick,
            seed=args.seed,
            device=args.device,
            overrides=args.set,
            resume=args.resume,
            data_dir=data_dir,
        )
    except KeyboardInterrupt:
        print(
            f"\ninterrupted; progress is checkpointed. Continue with:\n"
            f"  landmarks run {args.id} --out {out} --resume"
            + "".join(f" --set {s}" for s in args.set)
            + (" --quick" if args.quick else "")
            + (f" --seed {args.seed}" if args.seed else ""),
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    from landmarks.engine import distributed

    if distributed.is_main():
        _print_claims(result, _console())
        print(f"wrote {out / args.id / 'result.json'}")
    return 0


def _check_out(out: Path, given: str | None, run_folders: list[str]) -> None:
    """The results folder and each ``<out>/<run folder>/checkpoints`` below it (``<id>``, or
    ``<id>/seed-<n>`` for a run on another seed) can be made and written."""
    what = "--out" if given else "the results folder"
    output_folder(out, what, *(f"{folder}/checkpoints" for folder in run_folders))


def _fail_resume(paper_id: str) -> Path:
    raise UserInputError(f"--resume: found no checkpoints of {paper_id} under runs/; pass --out DIR")


def _print_keys(paper_id: str, quick: bool) -> int:
    from landmarks.config import describe_keys
    from landmarks.runner import preset

    print(f"{paper_id} settings ({'quick' if quick else 'default'} preset), set with --set key=value:")
    print(describe_keys(preset(paper_id, quick)))
    return 0


# ---- landmarks reproduce / report ----------------------------------------------------------


def cmd_reproduce(args: argparse.Namespace) -> int:
    ids = args.ids or registry.ids()
    for pid in ids:
        registry.get(pid)
    seeds = _other_seeds(args)
    out = Path(args.out) if args.out else Path("runs") / _timestamp()
    from landmarks.results import SEED_FOLDER, seed_folder

    if seeds:
        missing = [pid for pid in ids if not (out / pid / "result.json").is_file()]
        if missing:
            raise UserInputError(
                f"--seeds runs other seeds beside each paper's main result, and {out} has none for "
                f"{', '.join(missing)}; run `landmarks reproduce {' '.join(missing)} --out {out}` first"
            )
    _check_out(out, args.out, [f"{pid}/{SEED_FOLDER.format(n)}" for pid in ids for n in seeds] or ids)
    from tqdm.auto import tqdm

    from landmarks import report
    from landmarks.files import atomic_write_bytes
    from landmarks.runner import run_paper

    out.mkdir(parents=True, exist_ok=True)
    errors: dict[str, str] = {}
    # (paper, seed, its folder): the main run of each paper, or with --seeds its runs on those
    # seeds, each in <out>/<id>/seed-<n>/ beside the main result, which stays as it is
    jobs = (
        [(pid, n, seed_folder(out, pid, n)) for pid in ids for n in seeds]
        if seeds
        else [(pid, args.seed, out / pid) for pid in ids]
    )
    bar = tqdm(jobs, desc="reproduce", unit="run", file=sys.stderr, dynamic_ncols=True)
    console = _console()
    for pid, seed, folder in bar:
        name = pid if not seeds else f"{pid} (seed {seed})"
        bar.set_postfix(paper=name)
        (folder / "error.txt").unlink(missing_ok=True)
        try:
            result = run_paper(
                pid,
                out=out,
                quick=args.quick,
                seed=seed,
                device=args.device,
                resume=args.resume,
                folder=folder,
            )
        except KeyboardInterrupt:
            again = ["landmarks reproduce", *args.ids, "--out", str(out), "--resume"]
            again += ["--quick"] if args.quick else []
            again += (
                ["--seeds", *map(str, seeds)] if seeds else (["--seed", str(args.seed)] if args.seed else [])
            )
            print(f"\ninterrupted; continue with: {' '.join(again)}", file=sys.stderr)
            return EXIT_INTERRUPTED
        except UserInputError:
            raise
        except Exception as e:  # one paper's failure must not lose the others' results
            import traceback

            errors[name] = f"{type(e).__name__}: {e}"
            text = traceback.format_exc()
            atomic_write_bytes(folder / "error.txt", lambda f, t=text: f.write(t.encode()))
            tqdm.write(f"[{name}] failed: {type(e).__name__}: {e}", file=sys.stderr)
            continue
        bar.clear()
        _print_claims(result, console)
    bar.close()
    print(f"writing the report of {out} (RESULTS.md, report.html)", file=sys.stderr)
    md, page = report.build(out, errors)
    print(f"wrote {md}\nwrote {page}")
    return EXIT_FAILED if errors else 0


def _other_seeds(args: argparse.Namespace) -> list[int]:
    """``--seeds``, checked: each >= 0, once, and not together with ``--seed``."""
    if not args.seeds:
        return []
    if args.seed:
        raise UserInputError(
            "--seed and --seeds: --seed chooses the main run's seed, --seeds runs other seeds beside "
            "the main results; give one of them"
        )
    if any(n < 0 for n in args.seeds):
        raise UserInputError(f"--seeds: seeds are integers >= 0, got {' '.join(map(str, args.seeds))}")
    return list(dict.fromkeys(args.seeds))


def cmd_report(args: argparse.Namespace) -> int:
    from landmarks import report

    md, page = report.build(Path(args.dir))
    print(f"wrote {md}\nwrote {page}")
    return 0


# ---- landmarks bench ------------------------------------------------------------------------


def cmd_bench(args: argparse.Namespace) -> int:
    from landmarks.bench import BENCHMARKS, run_benchmarks

    unknown = [n for n in args.names if n not in BENCHMARKS]
    if unknown:
        raise UserInputError(
            f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}"
        )
    out = Path(args.out)
    if out.is_dir():
        raise UserInputError(
            f"--out {out} is a folder; bench writes a JSON file, e.g. --out {out / 'bench.json'}"
        )
    output_folder(out.parent, "--out")
    run_benchmarks(args.names, repeats=args.repeats, out=out)
    print(f"wrote {out}")
    return 0


# ---- landmarks compress / decompress ------------------------------------------------------


def cmd_compress(args: argparse.Namespace) -> int:
    from landmarks.files import atomic_write_bytes
    from landmarks.information.arithmetic import AdaptiveContextModel, compress

    source = _read_input(args.file)
    if not source:
        raise UserInputError(f"{args.file} is empty: there is nothing to compress")
    if args.order < 0:
        raise UserInputError(f"--order must be >= 0, got {args.order}")
    out = _output_file(args.out, Path(f"{args.file}.lmac"), f"{Path(args.file).name}.lmac")
    blob = compress(source, AdaptiveContextModel(args.order))
    atomic_write_bytes(out, lambda f: f.write(blob))
    print(f"wrote {out}: {len(source)} → {len(blob)} bytes, {8 * len(blob) / len(source):.3f} bits per byte")
    return 0


def cmd_decompress(args: argparse.Namespace) -> int:
    from landmarks.files import atomic_write_bytes
    from landmarks.information.arithmetic import decompress

    blob = _read_input(args.file)
    name = str(args.file)
    default = Path(name[: -len(".lmac")] if name.endswith(".lmac") else name + ".out")
    out = _output_file(args.out, default, default.name)
    data = decompress(blob, source=name)
    atomic_write_bytes(out, lambda f: f.write(data))
    print(f"wrote {out}: {len(data)} bytes")
    return 0


def _output_file(given: str | None, default: Path, suggested_name: str) -> Path:
    """The file compress / decompress will write, checked before any work: not a folder, and
    below folders that exist or can be made."""
    out = Path(given) if given else default
    if out.is_dir():
        where = f"--out {out}" if given else f"{out} (the default output)"
        raise UserInputError(f"{where} is a folder; this writes one file, e.g. --out {out / suggested_name}")
    output_folder(out.parent, "--out" if given else "the output's folder")
    return out


# ---- landmarks score ----------------------------------------------------------------------------


def _read_lines(path: str) -> list[str]:
    data = _read_input(path)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise UserInputError(f"{path}: not UTF-8 text (byte {e.start}); metrics score text") from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # a final newline ends the last line; it does not start another
    return lines


def cmd_score(args: argparse.Namespace) -> int:
    """Score a hypothesis file against one or more reference files, a segment per line, in the
    manner of sacrebleu's command line."""
    from landmarks import metrics

    hyps = _read_lines(args.hypothesis)
    refs = [_read_lines(r) for r in args.references]
    for path, lines in zip(args.references, refs, strict=True):
        if len(lines) != len(hyps):
            raise UserInputError(
                f"{path} has {len(lines)} lines and {args.hypothesis} {len(hyps)}: a reference line per hypothesis line"
            )
    if not hyps:
        raise UserInputError(f"{args.hypothesis} is empty: there is nothing to score")
    if args.metric in ("wer", "cer", "rouge") and len(refs) > 1:
        raise UserInputError(f"--metric {args.metric} takes one reference file, got {len(refs)}")
    if args.metric == "bleu":
        print(metrics.corpus_bleu(hyps, refs))
    elif args.metric == "chrf":
        print(metrics.corpus_chrf(hyps, refs, word_order=2 if args.chrf_plus else 0))
    elif args.metric == "wer":
        print(f"WER = {100 * metrics.word_error_rate(refs[0], hyps):.2f} %")
    elif args.metric == "cer":
        print(f"CER = {100 * metrics.character_error_rate(refs[0], hyps):.2f} %")
    else:
        types = ("rouge1", "rouge2", "rougeL", "rougeLsum")
        scores = [metrics.rouge(h, r, types, stem=args.stem) for h, r in zip(hyps, refs[0], strict=True)]
        for t in types:
            mean = {
                a: sum(getattr(s[t], a) for s in scores) / len(scores)
                for a in ("precision", "recall", "fmeasure")
            }
            print(
                f"{t:10s} P {mean['precision']:.4f}  R {mean['recall']:.4f}  F {mean['fmeasure']:.4f}  (mean of {len(scores)} lines)"
            )
    return 0


def _read_input(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise UserInputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise UserInputError(f"{path} is a folder; give a file") from None
    except OSError as e:
        raise UserInputError(f"{path}: cannot be read ({e.strerror or e})") from None


# ---- landmarks index ----------------------------------------------------------------------------


def _read_npy(path: str, what: str):  # type: ignore[no-untyped-def]
    """A numeric 2-D array from a .npy file, refusing pickles and anything else."""
    import io

    import numpy as np

    data = _read_input(path)
    try:
        array = np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise UserInputError(f"{what} {path}: not a readable .npy array ({e})") from None
    if not isinstance(array, np.ndarray):
        raise UserInputError(f"{what} {path} is an .npz archive; give one .npy array (np.save)")
    if array.ndim != 2 or array.dtype.kind not in "fiu":
        raise UserInputError(
            f"{what} {path}: expected a 2-D array of numbers (count, dim), got {array.dtype} of shape {array.shape}"
        )
    return array


def _index_settings(pairs: list[str]) -> dict[str, str]:
    settings = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UserInputError(f"--set {pair!r}: write it as key=value, e.g. --set M=32")
        settings[key.strip()] = value.strip()
    return settings


def cmd_index(args: argparse.Namespace) -> int:
    """Build, extend and search a vector index over .npy files (landmarks.ann)."""
    from landmarks.ann import build_index, load_index

    if args.action == "build":
        vectors = _read_npy(args.vectors, "--vectors")
        index = build_index(args.kind, vectors.shape[1], args.metric, **_index_settings(args.set))
        began = time.perf_counter()
        index.add(vectors)
        index.save(args.out)
        print(f"wrote {args.out}: {index!r}, built in {time.perf_counter() - began:.1f} s")
    elif args.action == "add":
        index = load_index(args.index)
        vectors = _read_npy(args.vectors, "--vectors")
        ids = index.add(vectors)
        index.save(args.index)
        print(f"added ids {ids[0]}..{ids[-1]} to {args.index}: {len(index)} vectors")
    elif args.action == "search":
        import numpy as np

        from landmarks.files import atomic_write_bytes

        index = load_index(args.index)
        queries = _read_npy(args.queries, "--queries")
        distances, ids = index.search(queries, args.k, **_index_settings(args.set))
        if args.out:
            atomic_write_bytes(Path(args.out), lambda f: np.savez(f, ids=ids, distances=distances))
            print(f"wrote {args.out}: ids and distances, {ids.shape[0]} queries × {ids.shape[1]}")
        else:
            for i in range(len(ids)):
                print(f"{i}\t" + " ".join(f"{j}:{d:.6g}" for j, d in zip(ids[i], distances[i], strict=True)))
    else:  # info
        index = load_index(args.index)
        print(repr(index))
    return 0


# ---- the parser ----------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="landmarks",
        description="The landmark papers of deep learning: readable code, parity tests, reproduced claims.",
    )
    parser.add_argument("--version", action="version", version=f"landmarks {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("list", help="every paper with its status from the latest results")
    p.add_argument("--runs", help="folder of runs to read statuses from (default: runs/)")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("show", help="a paper's card: citation, claims, what the toy keeps and shrinks")
    p.add_argument("id")
    p.set_defaults(func=cmd_show)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--quick", action="store_true", help="tiny preset: seconds, proves the code runs")
        p.add_argument("--seed", type=int, default=0, help="fixes every number on the CPU (default 0)")
        p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda", "mps"))
        p.add_argument(
            "--out", help="results folder; writes <out>/<id>/result.json (default runs/<timestamp>)"
        )
        p.add_argument(
            "--resume", action="store_true", help="continue an interrupted run from its checkpoints"
        )

    p = sub.add_parser("run", help="train, measure and check one paper's claims")
    p.add_argument("id")
    common(p)
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config value (repeatable); --set help lists the keys",
    )
    p.add_argument("--data-dir", help="your own data files, for papers that read them")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("reproduce", help="run several papers (default: all) and write one report")
    p.add_argument("ids", nargs="*", help="paper ids (default: every paper)")
    common(p)
    p.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        metavar="SEED",
        help="check the claims on other seeds: run each paper on each of these seeds into "
        "<out>/<id>/seed-<n>/, beside its main result (left as it is); the report gives every "
        "claim's verdict per seed",
    )
    p.set_defaults(func=cmd_reproduce)

    p = sub.add_parser("report", help="rebuild report.html and RESULTS.md from a results folder")
    p.add_argument("dir")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser(
        "bench", help="time fused vs explicit paths, the KV cache, and the transformer's FLOP utilization"
    )
    p.add_argument("names", nargs="*", help="benchmarks to run (default: all): attention, recurrent, ...")
    p.add_argument("--repeats", type=int, default=5, help="timed repeats per measurement (median reported)")
    p.add_argument("--out", default="bench.json", help="where to write the results (default bench.json)")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("compress", help="arithmetic-code a file with an adaptive context model")
    p.add_argument("file")
    p.add_argument("--out", help="where to write (default FILE.lmac)")
    p.add_argument(
        "--order", type=int, default=2, help="bytes of context the model conditions on (default 2)"
    )
    p.set_defaults(func=cmd_compress)

    p = sub.add_parser(
        "score", help="score a hypothesis file against reference files: BLEU, chrF, ROUGE, WER, CER"
    )
    p.add_argument("--metric", choices=["bleu", "chrf", "rouge", "wer", "cer"], default="bleu")
    p.add_argument("hypothesis", help="one segment per line, UTF-8")
    p.add_argument("references", nargs="+", help="one or more files, each a segment per hypothesis line")
    p.add_argument("--chrf-plus", action="store_true", help="chrF++: word uni- and bigrams too")
    p.add_argument(
        "--stem", action="store_true", help="ROUGE: Porter-stem tokens longer than 3 letters (needs nltk)"
    )
    p.set_defaults(func=cmd_score)

    p = sub.add_parser(
        "index",
        help="build, extend and search a nearest-neighbour index (hnsw, ivfpq, lsh, exact) over .npy vectors",
    )
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    a = actions.add_parser("build", help="index the vectors of a .npy file (count, dim)")
    a.add_argument("--kind", choices=["hnsw", "ivfpq", "lsh", "exact"], default="hnsw")
    a.add_argument("--vectors", required=True, help="a .npy array (count, dim)")
    a.add_argument("--out", required=True, help="the index file to write (an .npz)")
    a.add_argument("--metric", choices=["l2", "cosine"], default="l2")
    a.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an index setting (repeatable): hnsw M, ef_construction, ef; ivfpq nlist, m, nprobe, rerank; lsh tables, bits, probes",
    )
    a = actions.add_parser("add", help="add the vectors of a .npy file to an index (no rebuild for hnsw)")
    a.add_argument("index")
    a.add_argument("--vectors", required=True)
    a = actions.add_parser("search", help="the k nearest stored vectors of each query")
    a.add_argument("index")
    a.add_argument("--queries", required=True, help="a .npy array (count, dim)")
    a.add_argument("-k", type=int, default=10, help="neighbours per query (default 10)")
    a.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a search setting: ef, nprobe, rerank, probes",
    )
    a.add_argument("--out", help="write ids and distances to this .npz instead of printing them")
    a = actions.add_parser("info", help="what an index file holds")
    a.add_argument("index")
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("decompress", help="decode a file written by landmarks compress")
    p.add_argument("file")
    p.add_argument("--out", help="where to write (default FILE without .lmac)")
    p.set_defaults(func=cmd_decompress)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    retain_freed_memory()  # no page faults on every step's activations (landmarks/allocator.py)
    try:
        return args.func(args)
    except UserInputError as e:
        print(f"landmarks: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except Exception as e:
        from landmarks.engine.train import TrainingDiverged

        if isinstance(e, TrainingDiverged):
            print(f"landmarks: training diverged: {e}", file=sys.stderr)
            return EXIT_FAILED
        raise


if __name__ == "__main__":
    raise SystemExit(main())
