"""The JUnit XML report: a test case per theorem and per instruction × property."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from sample_results import failing_monitor, make_run, toy
from virtcheck.checks.results import PROPERTIES
from virtcheck.reports import render


def _suites(xml: str) -> dict[str, ET.Element]:
    root = ET.fromstring(xml)
    assert root.tag == "testsuites"
    return {s.get("name"): s for s in root.findall("testsuite")}


def test_cases_and_counts(run):
    root = ET.fromstring(render(run, "junit"))
    suites = _suites(render(run, "junit"))
    assert list(suites) == ["toy", "toy-peek", "toy-slow"]
    peek = suites["toy-peek"]
    cases = peek.findall("testcase")
    assert len(cases) == 2 + 2 * len(PROPERTIES)
    assert peek.get("tests") == str(len(cases))
    assert (peek.get("failures"), peek.get("errors"), peek.get("skipped")) == ("1", "0", "0")
    assert root.get("tests") == str(sum(int(s.get("tests")) for s in suites.values()))


def test_theorem_failure_carries_witness_lines(run):
    peek = _suites(render(run, "junit"))["toy-peek"]
    t1 = peek.find("testcase[@name='Theorem 1: sensitive ⊆ privileged']")
    failure = t1.find("failure")
    assert failure.get("message") == "violated by PEEK"
    assert failure.text.splitlines()[0].startswith("toy-peek: PEEK is mode-sensitive: ")
    assert peek.find("testcase[@name='Theorem 3: user-sensitive ⊆ privileged']").find("failure") is None


def test_unknown_is_skipped_per_property_and_an_error_per_theorem(run):
    slow = _suites(render(run, "junit"))["toy-slow"]
    priv = slow.find("testcase[@classname='toy-slow.WAIT'][@name='privileged']")
    assert priv.find("skipped").get("message") == "not decided within the budget: max. resource limit exceeded"
    t1 = slow.find("testcase[@name='Theorem 1: sensitive ⊆ privileged']")
    assert t1.find("error").get("message") == "unknown: undecided for WAIT"
    assert (slow.get("errors"), slow.get("skipped")) == ("1", "1")


def test_monitor_and_input_errors():
    r = toy()
    r.monitor = failing_monitor()
    suites = _suites(render(make_run(r, errors=["bad.py:3: instruction 'X': duplicate mnemonic"]), "junit"))
    eq = suites["toy"].find("testcase[@classname='toy.monitor'][@name='equivalence']")
    assert eq.find("failure").text == "PEEK: the monitor's result differs in A"
    assert suites["toy"].find("testcase[@name='efficiency']").find("error") is not None
    err = suites["inputs"].find("testcase")
    assert err.get("name") == "bad.py:3"
    assert err.find("error").get("message") == "bad.py:3: instruction 'X': duplicate mnemonic"
