"""Consensus, agreement and vote rules: a pure library (NumPy/SciPy only, no Django).

Plain data in (sequences, mappings, arrays), plain data out (floats, dicts, frozen dataclasses).
Every public function documents its formula and its source; the tests in ``tests/consensus``
check each against a reference implementation or a worked example from the source.

Module map (import the submodule you need; this package imports nothing on purpose):

- ``votes``      answer counts and shares, plurality, strict majority, ReConcile's recalibrated
                 confidence-weighted vote, Shannon and normalised entropy, top share, unanimity.
- ``agreement``  chance-corrected agreement: Fleiss' kappa, Krippendorff's alpha (nominal,
                 ordinal, interval, ratio; missing values allowed).
- ``semantic``   semantic entropy of free-text answers: cluster by meaning (offline TF-IDF
                 cosine by default, or a caller's embedding function), entropy over clusters.
- ``mutual``     numeric answers: average-distance consensus degree, mutual (max-disagreement)
                 consensus, OWA aggregation and RIM-quantifier weights.
- ``rankings``   ranked ballots: Borda count, Schulze method, Kemeny median ranking.
- ``pairwise``   Bradley-Terry strengths from pairwise comparisons (MM algorithm).
- ``dynamics``   opinion dynamics across rounds: flips, conformity events, KAIROS utility and
                 resistance, accuracy per round / participant / aggregation rule.
- ``polis``      group-aware consensus for agree/disagree votes on statements (Polis).
- ``cost``       tokens and money per session, cost of pass (cost per correct answer).
- ``crowd``      label aggregation and annotator quality (a separate subpackage).
"""
