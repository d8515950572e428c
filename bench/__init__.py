"""The benchmark harness (see README, "Benchmarks"):

- `python -m bench [--quick]`: the speed matrix, backends x sizes x optimisers x precisions.
- `python -m bench.multiscale`: does coarse to fine reach the single-scale loss sooner?
- `python -m bench.quality [--quick]`: nst's outputs against the reference implementation's,
  scored by an independent judge (bench.judge: AlexNet content and style distances).
  These three write JSON, Markdown and a PNG to bench/results/.
- `python -m bench.step_cost RESULT.json`: a multiscale result re-timed with a step-cost model.
- `python -m bench.conv_layers`, `python -m bench.cudnn_autotune`: convolutions timed alone (printed).
- `python -m bench.gallery`: a contact sheet of results to look at, written outside the repository.
"""
