"""The study pipelines, generated: each study's ``dvc.yaml`` written from its settings file.

:mod:`.layout` names a study's folders; :mod:`.stages` builds its stages from one template per
kind (an ablation is one template over the swept settings) and declares each stage's settings
from the file that writes them (the study's file, or the base it ``extends``). The command line is
``python -m experiments.pipeline``.
"""
