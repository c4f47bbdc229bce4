"""The studies' DVC pipelines, generated: each study's ``dvc.yaml`` written from its settings file.

:mod:`.layout` names a study's folders; :mod:`.stages` builds its stages from one template per
kind (an ablation is one template over the swept settings) and declares each stage's settings
from the file that writes them (the study's file, or the base it ``extends``); :mod:`.dvcfile`
writes the text. The command line is ``python -m pipelines [STUDY_DIR ...] [--check]``, run from
the repository root; it replaces no ``dvc.yaml`` it did not write.
:mod:`.verify` (``python -m pipelines.verify``) reruns committed stages of a study in a worktree and
compares their outputs with its lock; :mod:`.references` (``python -m pipelines.references``) records
the default study's outputs as made on other machines, which ``.ci/run`` checks there.

Project tooling beside ``experiments/`` (as ``benchmarks/`` is): it reads the study design and
the settings through ``experiments``, and nothing in ``tghem``, ``baselines`` or ``experiments``
imports it; no stage runs it.
"""
