"""Performance scripts of the project (not part of the library): each prints its figures.

Run from the repository root:

- ``python -m benchmarks.topology``: TopoGuide's fast backend against gudhi's reference path, and
  one TGHEM forward (``--large-crop``: one huge crop, stage by stage).
- ``python -m benchmarks.topology_step``: the same plus the training-step overhead with the U-Net.
- ``python -m benchmarks.train``: training throughput of the methods under precision and
  memory-format settings (the harness is :mod:`benchmarks.training`).
- ``bash benchmarks/gpu.sh``: the prepared GPU check (paper-scale throughput on CUDA).

Each prints the machine and the versions that move its figures first
(:mod:`benchmarks.environment`).
"""
