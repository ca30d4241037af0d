"""The native hot loop (`virtcheck.fuzz.native`) flags exactly the cases the Python
oracles fail, counts the coverage `Coverage.probe` counts, and drives campaigns that
find what the Python loop finds, deterministically."""

import pytest
from click.testing import CliRunner

from virtcheck.cli import main
from virtcheck.fuzz import oracles as O
from virtcheck.fuzz.campaign import CampaignConfig, run_campaign
from virtcheck.fuzz.casegen import CaseGenerator
from virtcheck.fuzz.coverage import Coverage
from virtcheck.fuzz import native as FN
from virtcheck.isa.machines import bundled
from virtcheck.isa.native import compiler

pytestmark = pytest.mark.skipif(compiler() is None, reason="no C compiler on this machine")


@pytest.mark.parametrize("name", ["pg3", "pg3-jrst", "pg3-lra"])
def test_flags_and_coverage_equal_the_python_oracles(name):
    isa = bundled()[name]
    gen = CaseGenerator(isa, 31)
    batch = FN.NativeBatch(isa, gen)
    res = batch.run(600, 4242)
    flags = dict(res.flagged)
    cov = Coverage(isa)
    steps = 0
    for k, choice in enumerate(res.choices):
        case = batch.case(choice)
        r = O.equivalence(isa, case)
        assert bool(flags.get(k, 0) & FN.DIFFERS) == (r.failure is not None or r.out_of_domain), k
        steps += r.steps
        cov.probe(case)
    assert res.hits == cov.hits
    assert res.steps == steps
    if name != "pg3":
        assert flags  # the variants' sensitive instructions show up in 600 cases


def test_a_batch_is_a_function_of_its_seed_and_pools():
    isa = bundled()["pg3-mfsr"]
    a = FN.NativeBatch(isa, CaseGenerator(isa, 5)).run(500, 77)
    b = FN.NativeBatch(isa, CaseGenerator(isa, 5)).run(500, 77)
    c = FN.NativeBatch(isa, CaseGenerator(isa, 5)).run(500, 78)
    assert (a.choices, a.flagged, a.hits, a.ratio_hist) == (b.choices, b.flagged, b.hits, b.ratio_hist)
    assert a.choices != c.choices


def _cfg(name, **kw):
    isa = bundled()[name]
    kw.setdefault("properties", ("equivalence",))
    return CampaignConfig(isa, name, seed=9, seconds=None, workers=1, steer=False, **kw)


def test_a_native_campaign_finds_jrst1_and_replays_exactly():
    runs = [run_campaign(_cfg("pg3-jrst", examples=6000, engine="native")) for _ in range(2)]
    a, b = (r.to_json() for r in runs)
    assert a["engine"] == "native" and a["engine_note"] == ""
    assert [f["instruction"] for f in a["failures"]] == ["JRST1"]
    assert len(a["failures"][0]["program"]) <= 3
    keep = ("programs", "pairs", "instructions_executed", "coverage", "efficiency")
    assert {k: a[k] for k in keep} == {k: b[k] for k in keep}
    what = ("property", "instruction", "program", "state_difference")
    assert [{k: f[k] for k in what} for f in a["failures"]] == [{k: f[k] for k in what} for f in b["failures"]]


def test_native_and_python_campaigns_agree_on_what_fails():
    found = {}
    for engine in ("native", "python"):
        r = run_campaign(_cfg("pg3-popf", examples=3000, engine=engine))
        found[engine] = sorted(f.instruction for f in r.failures)
    assert found["native"] == found["python"] == ["POPF"]


def test_an_engine_disagreement_is_reported_not_dropped(monkeypatch):
    real = FN.NativeBatch.run

    def all_flagged(self, n, seed):
        res = real(self, n, seed)
        res.flagged = [(0, FN.DIFFERS)]  # case 0 equal in Python: the engines now disagree
        return res

    monkeypatch.setattr(FN.NativeBatch, "run", all_flagged)
    r = run_campaign(_cfg("pg3", examples=100, engine="native"))
    assert [f.instruction for f in r.failures] == ["<engine>"]
    assert "native engine" in r.to_json()["failures"][0]["detail"]


def test_auto_falls_back_to_python_and_says_why():
    assert _cfg("pg3", examples=1).engine_choice() == ("native", "")
    engine, why = _cfg("pg3", examples=1, depth=2).engine_choice()
    assert engine == "python" and "depth 2" in why
    with pytest.raises(ValueError, match="native engine cannot run this campaign: the native monitor runs one level"):
        _cfg("pg3", examples=1, depth=2, engine="native").engine_choice()
    assert _cfg("pg3", examples=1, engine="python").engine_choice() == ("python", "asked for")


def test_cli_engine_choice_is_printed_and_refusals_are_one_line():
    res = CliRunner().invoke(main, ["fuzz", "pg3", "--examples", "3000", "--seed", "1", "--no-z3",
                                    "--property", "equivalence", "--format", "json"])
    assert res.exit_code == 0, res.output
    assert "virtcheck fuzz: engine native" in res.stderr
    res = CliRunner().invoke(main, ["fuzz", "pg3", "--examples", "10", "--seed", "1", "--no-z3", "--depth", "2",
                                    "--engine", "native"])
    assert res.exit_code == 2
    assert res.stderr.strip().splitlines()[-1].startswith("error: --engine native: the native engine cannot run")


def test_the_generators_own_cases_do_not_desynchronise_the_batch_pools():
    """Isolation and encapsulation cases turn the generator's pools over between batches
    (here: every pooled state at once); every case must still be rebuilt from what the
    batch ran, flagged exactly when the Python oracle fails it."""
    isa = bundled()["pg3-jrst"]
    gen = CaseGenerator(isa, 8)
    batch = FN.NativeBatch(isa, gen)
    for k in range(len(gen.states)):
        gen.states[k] = gen._state()
    gen.encapsulation_case()
    gen.isolation_case()
    res = batch.run(300, 1)
    flags = dict(res.flagged)
    for k, choice in enumerate(res.choices):
        r = O.equivalence(isa, batch.case(choice))
        assert bool(flags.get(k, 0) & FN.DIFFERS) == (r.failure is not None or r.out_of_domain), k


def test_a_divergence_the_native_engine_misses_is_reported(monkeypatch):
    real = FN.NativeBatch.run

    def none_flagged(self, n, seed):
        res = real(self, n, seed)
        res.flagged = []  # the engine "misses" every JRST1 divergence
        return res

    monkeypatch.setattr(FN.NativeBatch, "run", none_flagged)
    r = run_campaign(_cfg("pg3-jrst", examples=2048 * 40, engine="native"))
    assert r.engine_checked >= 30
    assert [f.instruction for f in r.failures] == ["<engine>"]
    assert "native engine ran equivalently" in r.to_json()["failures"][0]["detail"]


def test_a_variable_length_isa_is_refused_before_any_worker_starts():
    res = CliRunner().invoke(main, ["fuzz", "x86", "--examples", "10", "--seed", "1", "--no-z3"])
    assert res.exit_code == 2
    assert res.stderr.strip().splitlines()[-1] == (
        "error: x86: ISA 'x86' has variable-length instructions; campaigns draw fixed-width instruction words "
        "(check its monitor with `virtcheck check --vmm trap-emulate`, its model with `virtcheck crossval`)")
    with pytest.raises(ValueError, match="variable-length"):
        run_campaign(_cfg("x86", examples=1))


def test_a_worker_that_raises_makes_the_campaign_inconclusive(monkeypatch):
    from virtcheck.fuzz import campaign

    def broken(*a, **k):
        raise RuntimeError("boom")

    monkeypatch.setattr(campaign, "_native_loop", broken)
    r = run_campaign(_cfg("pg3", examples=10, engine="native"))
    assert r.worker_errors and "RuntimeError: boom" in r.worker_errors[0]
    assert r.exit_code == 3 and r.summary().startswith("inconclusive: ")
    assert any("not replaced again" in e for e in r.worker_errors)  # a deterministic crash ends
