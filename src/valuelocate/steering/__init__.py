"""Every steering rule, how edits combine, and how strong to make them.

- :mod:`~valuelocate.steering.rules`: the registry, rule name -> how to build its edit and its
  matched control from a run's artifacts; everything that steers builds its edits there.
- :mod:`~valuelocate.steering.dynamic`: the study's dynamic rule and its random control.
- :mod:`~valuelocate.steering.mean_diff`: add gamma x (mean_target - mean_other) to selected
  neurons or to every neuron of a band of layers, with its permuted control.
- :mod:`~valuelocate.steering.ladder`: the ladder of nested located sets (ranked by the
  contrast's paired effect size) and each point's mean-difference edit.
- :mod:`~valuelocate.steering.residual`: the residual-stream steering vector, the reference a
  reviewer asks for, with its norm-matched random-direction control.
- :mod:`~valuelocate.steering.word_priming`: the word-priming null, a bias on the output
  logits by the answers' unigram log-odds, with its vocabulary-permuted control.
- :mod:`~valuelocate.steering.simple`: scale, add, ablate or set neurons, with their controls.
- :mod:`~valuelocate.steering.compose`: :class:`EditStack`, the one way to combine edits (in
  order on the same rows, or one per block of rows).
- :mod:`~valuelocate.steering.rows`: one edit per batch row applied in place on its neurons
  only (the server's fast path; bit for bit ``EditStack``'s per-row path); a row that ends
  leaves the batch (``keep_rows``).
- :mod:`~valuelocate.steering.row_ops`: the in-place operations the fast path plans for each
  edit shape (constant additions, the dynamic rule, any other edit on its row).
- :mod:`~valuelocate.steering.budget`: the gamma at which an edit reaches a cost budget
  (neutral-text perplexity ratio or KL), by bisection.
- :mod:`~valuelocate.steering.intervention`: apply a neuron edit or a residual vector alike.
"""
