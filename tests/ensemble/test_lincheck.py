"""Unit tests of the linearizability checker (lincheck.py) on hand-made
histories, so that test 6 cannot pass vacuously. No servers needed."""

import random

import pytest

from lincheck import CAS, FAIL, OK, READ, UNKNOWN, Op, check

INIT = (0, "init")


def rd(t0, t1, version, value, c="r"):
    return Op(READ, t0, t1, OK, result=(version, value), client=c)


def cas(t0, t1, expected, value, outcome=OK, c="w"):
    return Op(CAS, t0, None if outcome == UNKNOWN else t1, outcome,
              expected=expected, value=value, client=c)


def lin(ops, initial=INIT):
    return check(ops, initial).ok


def test_empty_and_sequential_histories():
    assert lin([])
    assert lin([rd(0, 1, 0, "init")])
    assert lin([cas(0, 1, 0, "a"), rd(2, 3, 1, "a"), cas(4, 5, 0, "b", FAIL),
                cas(6, 7, 1, "b"), rd(8, 9, 2, "b")])


def test_a_read_of_the_initial_value_after_a_completed_write_is_rejected():
    # the classic stale read: the write finished before the read began
    r = check([cas(0, 1, 0, "a"), rd(2, 3, 0, "init")], INIT)
    assert not r.ok
    assert "NOT linearizable" in r.explain()


def test_a_read_concurrent_with_a_write_may_see_either_value():
    assert lin([cas(0, 10, 0, "a"), rd(1, 2, 0, "init")])
    assert lin([cas(0, 10, 0, "a"), rd(1, 2, 1, "a")])
    # ... but not the old value after it saw the new one (same reader)
    assert not lin([cas(0, 10, 0, "a"), rd(1, 2, 1, "a"), rd(3, 4, 0, "init")])


def test_two_successful_cas_with_the_same_expected_version_are_rejected():
    # a lost update: both claim to have replaced version 0
    assert not lin([cas(0, 5, 0, "a", c="w1"), cas(1, 6, 0, "b", c="w2")])


def test_a_failed_cas_must_have_met_another_version():
    assert not lin([cas(0, 1, 0, "a", FAIL)])  # version was 0 all along
    assert lin([cas(0, 10, 0, "a", c="w1"), cas(1, 2, 0, "b", FAIL, c="w2")])
    assert lin([cas(0, 1, 0, "a"), cas(2, 3, 0, "b", FAIL)])


def test_a_read_of_a_value_nobody_wrote_is_rejected():
    assert not lin([cas(0, 1, 0, "a"), rd(2, 3, 1, "zzz")])
    assert not lin([rd(0, 1, 5, "init")])


def test_unknown_operations_may_take_effect_or_not():
    # never took effect
    assert lin([cas(0, None, 0, "a", UNKNOWN), rd(5, 6, 0, "init")])
    # took effect, seen much later
    assert lin([cas(0, None, 0, "a", UNKNOWN), rd(5, 6, 0, "init"),
                rd(100, 101, 1, "a")])
    # took effect, and a later successful cas built on it
    assert lin([cas(0, None, 0, "a", UNKNOWN, c="w1"),
                cas(3, 4, 1, "b", c="w2"), rd(5, 6, 2, "b")])
    # but not before it was invoked
    assert not lin([rd(0, 1, 1, "a"), cas(2, None, 0, "a", UNKNOWN)])
    # and at most once: after it, its expected version is gone
    assert not lin([cas(0, None, 0, "a", UNKNOWN), rd(1, 2, 1, "a"),
                    cas(3, 4, 1, "b"), rd(5, 6, 1, "a")])


def test_needs_backtracking_to_find_the_order():
    # B is invoked first, but only A, then the read, then B fits.
    ops = [cas(0, 11, 1, "b", c="B"), cas(1, 10, 0, "a", c="A"),
           rd(2, 3, 1, "a", c="R"), rd(12, 13, 2, "b", c="R")]
    r = check(ops, INIT)
    assert r.ok, r.explain()
    # the same with the final read claiming A's value is not linearizable
    ops[-1] = rd(12, 13, 1, "a", c="R")
    assert not lin(ops)


def test_input_validation():
    with pytest.raises(ValueError):
        check([Op(READ, 0, None, UNKNOWN, result=None)], INIT)
    with pytest.raises(ValueError):
        check([Op(CAS, 0, 1, UNKNOWN, expected=0, value="x")], INIT)
    with pytest.raises(ValueError):
        check([cas(5, 1, 0, "x")], INIT)


def random_history(seed, n_clients=5, n_ops=1500, unknown_rate=0.03):
    """A history produced by a real linearizable register: each op takes
    effect at one instant inside its interval."""
    rnd = random.Random(seed)
    state = INIT
    # each client runs ops back to back; an op's effect instant is chosen
    # uniformly inside its interval; process effects in instant order
    pending = []
    clock = {c: 0.0 for c in range(n_clients)}
    for i in range(n_ops):
        c = rnd.randrange(n_clients)
        t0 = clock[c] + rnd.random() * 0.002
        dur = 0.0005 + rnd.random() * 0.01
        at = t0 + rnd.random() * dur
        clock[c] = t0 + dur
        pending.append((at, t0, t0 + dur, c, rnd.random(), i))
    pending.sort()
    ops = []
    for at, t0, t1, c, x, i in pending:
        version, value = state
        if x < 0.4:
            ops.append(rd(t0, t1, version, value, c=c))
            continue
        # clients guess a version that is often current, sometimes stale
        expected = version if rnd.random() < 0.6 else max(0, version - rnd.randrange(1, 3))
        new = "c%d-%d" % (c, i)
        unknown = rnd.random() < unknown_rate
        if expected == version:
            state = (version + 1, new)
            ops.append(cas(t0, t1, expected, new, UNKNOWN if unknown else OK, c=c))
        else:
            ops.append(cas(t0, t1, expected, new, UNKNOWN if unknown else FAIL, c=c))
    return ops


@pytest.mark.parametrize("seed", range(5))
def test_random_linearizable_histories_pass(seed):
    ops = random_history(seed)
    r = check(ops, INIT)
    assert r.ok, r.explain()


@pytest.mark.parametrize("seed", range(5))
def test_random_histories_with_one_corrupted_read_fail(seed):
    ops = random_history(seed)
    rnd = random.Random(seed)
    reads = [o for o in ops if o.kind == READ and o.result[0] >= 3]
    victim = rnd.choice(reads)
    # the read now reports a version from well before it started, whose
    # successor was acknowledged before the read was invoked
    writes = {o.expected + 1: o for o in ops if o.kind == CAS and o.outcome == OK}
    old = next((v for v in range(victim.result[0] - 1, 0, -1)
                if v + 1 in writes and writes[v + 1].complete < victim.invoke
                and v in writes), None)
    if old is None:
        pytest.skip("no suitable older version for this seed")
    victim.result = (old, writes[old].value)
    r = check(ops, INIT)
    assert not r.ok
    assert r.stuck_at is not None


def test_a_lost_acknowledged_write_in_a_long_history_fails():
    ops = random_history(7)
    # drop every trace of one acknowledged write from the reads' point of
    # view by making a later successful cas expect its predecessor's version
    oks = {o.expected: o for o in ops if o.kind == CAS and o.outcome == OK}
    e = next(e for e in sorted(oks) if e >= len(oks) // 2 and e + 1 in oks)
    a, b = oks[e], oks[e + 1]
    b.expected = a.expected  # b claims to have replaced what a replaced
    assert not lin(ops)
