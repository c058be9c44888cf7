"""Steering rules beyond the study's dynamic edit (:mod:`valuelocate.edits`), and how strong
to make them.

- :mod:`~valuelocate.steering.mean_diff`: add gamma x (mean_target - mean_other) to selected
  neurons or to every neuron of a band of layers, with its permuted control.
- :mod:`~valuelocate.steering.residual`: the residual-stream steering vector, the reference a
  reviewer asks for, with its norm-matched random-direction control.
- :mod:`~valuelocate.steering.budget`: the gamma at which an edit reaches a cost budget
  (neutral-text perplexity ratio or KL), by bisection.
- :mod:`~valuelocate.steering.intervention`: apply a neuron edit or a residual vector alike.
"""
