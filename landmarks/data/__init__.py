"""Data shared across papers: generators, the bundled corpus, and readers for users' files.

- ``synthetic``: the seeded pattern every synthetic task follows (``batch(step)`` is a pure
  function of seed and step).
- ``shakespeare``: the bundled, cleaned Shakespeare corpus, a train/val split and a
  character vocabulary.
- ``digits``: scikit-learn's 8×8 digits as float tensors, optionally upsampled.
- ``idx``: the MNIST IDX format (reader and writer, gzip or not) and ``load_mnist``.
- ``cifar``: the CIFAR-10 *binary* batches and ``load_cifar10`` (pickled batches are refused).
- ``text``: the corpus split by play, PTB-style word vocabularies, character and word id
  streams, truncated-BPTT batching, and a user's own text file (``--data-dir``).
- ``translation``: the toy translation task (a lexicon plus local reordering; alignments known).
- ``geometry``: planar point sets with exact convex hulls and exact TSP tours (Held–Karp).
- ``sorting``: sets of numbers and the permutation that sorts them.

Every reader raises ``DataFormatError`` with a message that names the file and the problem.
Importing this package imports no torch; the submodules do.
"""

from landmarks.data.errors import DataFormatError

__all__ = ["DataFormatError"]
