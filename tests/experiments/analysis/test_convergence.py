"""The convergence rule: the worst seed's val F1 range over the last quarter at most 0.01."""
from experiments.analysis.convergence import CONVERGED_RANGE, MIN_LATE_VALIDATIONS, verdict


def test_the_rule_at_its_bounds():
    assert CONVERGED_RANGE == 0.01 and MIN_LATE_VALIDATIONS == 3
    assert verdict([0.004, 0.01], [3, 5], False) is True  # a range of exactly 0.01 meets it
    assert verdict([0.004, 0.0101], [3, 5], False) is False  # the worst seed decides
    assert verdict([0.0, 0.0], [3, 2], False) is None  # a seed with 2 validations: not judged
    assert verdict([0.0], [5], True) is False  # a failed or collapsed seed never converges
