"""Code lengths and coding: description lengths in bits, with the code each stands for.

- ``arithmetic``: an arithmetic coder that turns any next-symbol model into a compressor,
  with a container format that refuses foreign, truncated and corrupt files.
- ``ncd``: normalized compression distance with zlib, bz2 and lzma, and distance matrices.
- ``codes``: ML, two-part, Bayes-mixture and NML code lengths of multinomials and Markov
  chains, the NML parametric complexity computed exactly.
"""
