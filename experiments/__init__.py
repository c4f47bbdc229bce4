"""Reproduction benchmark for TG-HEM: the study pipeline around the loss library ``tghem``.

Data flows one way, stage by stage, each a thin ``python -m experiments.<stage>`` command
over the library subpackages::

    prepare  ->  train  ->  evaluate  ->  aggregate  ->  report
    (data)      (training)  (evaluation)  (analysis)     (analysis)

Subpackages, each importing only from those listed before it:

* :mod:`experiments.core`: settings (``params.yaml``), the stage command-line helpers, atomic
  files, the run environment, points on the pixel grid, and the prepared-data format (its
  path, writer and readers) that every later stage reads;
* :mod:`experiments.data`: dataset registry, checksummed downloads and mirrors, the published
  layouts' parsers, the synthetic generator and the split protocols (used by ``prepare``);
* :mod:`experiments.model`: the U-Net, its input normalisation, checkpoints and tiled inference;
* :mod:`experiments.evaluation`: detection and counting metrics, and evaluating a run;
* :mod:`experiments.training`: training targets and crops, the method registry, distributed
  runs and the training loop;
* :mod:`experiments.analysis`: the study design and the pipeline's folders, collecting runs,
  statistics, the qualitative example, tables and figures.

No stage module imports another stage, and no subpackage imports a stage.
"""

import sys as _sys

if _sys.argv[:1] == ["-m"]:  # `python -m experiments.<stage>` is importing it (runpy sets argv[0] later)
    import signal as _signal

    def _interrupted_while_starting(signum, frame):
        # Ctrl-C before the stage has started: one line, not a traceback of the imports.
        # experiments.core.cli.run_stage puts Python's own handler back once the stage runs.
        print("interrupted (SIGINT) while starting; nothing was written", file=_sys.stderr)
        raise SystemExit(130)

    if _signal.getsignal(_signal.SIGINT) is _signal.default_int_handler:
        _signal.signal(_signal.SIGINT, _interrupted_while_starting)
