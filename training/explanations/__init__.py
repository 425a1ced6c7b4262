"""The evaluation of the explanations: how well each served method, and the road masks of ``POST /segment``,
match the true road masks, and the figures and report of ``docs/explanations.md`` and ``docs/visualbackprop.md``.

    python -m training.explanations                 # -> docs/explanations.md and docs/figures/explanations/
    python -m training.explanations.vbp_figures     # -> docs/figures/visualbackprop/ (docs/visualbackprop.md)

Layers, each importing only the ones below it (``tests/explain/test_layers.py`` fails on an import cycle):

1. ``results``: the vocabulary (what is evaluated, the figures that come out); nothing of this package.
2. ``tiles``, ``metrics``, ``sanity``: the tiles with their masks, the scores of a map, the randomised networks.
3. ``evaluate``: runs the methods and scores them.
4. ``ci`` (the bars CI holds each method to), ``guide`` (the advice), ``figures``, ``vbp_plots``: read results.
5. ``report`` (the Markdown), then the commands: ``__main__`` and ``vbp_figures``.
"""
