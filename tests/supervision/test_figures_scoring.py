from fractions import Fraction

import pytest
from hypothesis import given, strategies as st

from supervision.figures import competition_rank, format_score, ratio, score_cents

WEIGHTS = {"start_rate": 0.5, "investment_rate": 0.3, "timely_rate": 0.2}


def test_zero_denominator_is_empty_and_scores_zero():
    assert ratio(0, 0) is None
    assert score_cents(None, None, None, WEIGHTS) == 0


def test_rates_above_one_are_capped_in_the_score():
    assert score_cents(Fraction(3, 2), Fraction(1), Fraction(1), WEIGHTS) == 10000


def test_half_up_rounding_is_exact():
    # 100 × 0.5 × 1/8 = 6.25 exactly; 100 × 0.2 × 1/16 = 1.25; 0.3 × 1/3 × 100 = 10
    assert score_cents(Fraction(1, 8), None, None, WEIGHTS) == 625
    # 100 × 0.2 × 1/32 = 0.625 → 0.63 (half-up, where float rounding gives 0.62)
    assert score_cents(None, None, Fraction(1, 32), WEIGHTS) == 63
    assert round(100 * 0.2 * (1 / 32), 2) == 0.62  # what naive float rounding would publish
    # 100 × 0.5 × 1/3 = 16.666… → 16.67
    assert score_cents(Fraction(1, 3), None, None, WEIGHTS) == 1667


def test_format_score():
    assert format_score(625) == "6.25"
    assert format_score(10000) == "100.00"
    assert format_score(7) == "0.07"


def test_competition_rank_shares_the_better_rank():
    assert competition_rank([90, 80, 80, 70]) == [1, 2, 2, 4]
    assert competition_rank([5, 5, 5]) == [1, 1, 1]


@given(st.lists(st.integers(min_value=0, max_value=10000), min_size=1, max_size=20))
def test_competition_rank_properties(scores):
    ranks = competition_rank(scores)
    for s, r in zip(scores, ranks):
        assert r == 1 + sum(1 for t in scores if t > s)
    assert min(ranks) == 1
    # equal scores, equal ranks; higher score, better rank
    for i, a in enumerate(scores):
        for j, b in enumerate(scores):
            if a > b:
                assert ranks[i] < ranks[j]


@given(st.integers(0, 500), st.integers(1, 500), st.integers(0, 10**9), st.integers(1, 10**9),
       st.integers(0, 500), st.integers(1, 500))
def test_score_equals_exact_decimal_half_up(a, b, c, d, e, f):
    from decimal import ROUND_HALF_UP, Decimal, getcontext

    getcontext().prec = 60
    capped = [min(Decimal(x) / Decimal(y), Decimal(1)) for x, y in ((a, b), (c, d), (e, f))]
    exact = 100 * (Decimal("0.5") * capped[0] + Decimal("0.3") * capped[1] + Decimal("0.2") * capped[2])
    want = int((exact.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP) * 100))
    got = score_cents(Fraction(a, b), Fraction(c, d), Fraction(e, f), WEIGHTS)
    # Decimal division at 60 digits is exact enough unless the value sits on a .5 boundary by
    # a hair; the Fraction result is the exact one
    assert abs(got - want) <= 1
    assert 0 <= got <= 10000
