"""Every shipped scenario, played through the real client and lab from its `[walkthrough]`.

Adding a scenario adds its walkthroughs here with no code: the solution must
end with every objective met and no mistake, and the typical mistake must be
recorded with what proved it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pixlab.lab.runner import Lab
from pixlab.scenarios.engine import ScenarioEngine
from pixlab.scenarios.loader import load_catalogue, shipped_dir
from pixlab.scenarios.schema import Scenario
from pixlab.scenarios.walkthrough import OffsetClock, play

SHIPPED = load_catalogue([shipped_dir()])
SCENARIOS = {s.slug: s for s in SHIPPED.scenarios}


@pytest.fixture
def engine(make_lab) -> ScenarioEngine:  # type: ignore[no-untyped-def]
    """An engine on a fresh lab whose clock `wait` steps can move forward."""
    lab: Lab = make_lab()
    return ScenarioEngine(lab, SHIPPED, clock=OffsetClock(), client_timeout=1.5)


def test_every_shipped_scenario_is_valid_and_has_both_walkthroughs() -> None:
    assert SHIPPED.broken == []
    assert len(SCENARIOS) >= 2
    for scenario in SCENARIOS.values():
        walkthrough = scenario.walkthrough
        assert walkthrough is not None, f"{scenario.slug}: add a [walkthrough]"
        assert walkthrough.solution and walkthrough.mistake, scenario.slug
        assert walkthrough.expected_mistakes, scenario.slug


@pytest.mark.parametrize("lang", ("fr", "en"))
@pytest.mark.parametrize("slug", sorted(SCENARIOS))
def test_the_solution_meets_every_objective_without_a_mistake(
    engine: ScenarioEngine, slug: str, lang: str
) -> None:
    scenario: Scenario = SCENARIOS[slug]
    assert scenario.walkthrough is not None
    result = play(engine, slug, scenario.walkthrough.solution, learner="eleve-solution",
                  lang=lang)

    assert result.failures == []
    attempt = result.attempt
    assert set(attempt.met) == {o.id for o in scenario.objectives}
    assert attempt.status == "completed" and attempt.ended_at is not None
    assert [m.id for m in attempt.mistakes] == []
    # Each objective was proved by something the lab or the client really saw.
    for objective in scenario.objectives:
        proof = attempt.proofs[objective.id]
        assert proof["source"] == objective.when.kind
        if proof["source"] == "event":
            assert proof["event"] == objective.when.event and proof["connection_id"]
        elif proof["source"] == "trace":
            assert proof["ok"] is True and proof["connection_ids"]


@pytest.mark.parametrize("slug", sorted(SCENARIOS))
def test_the_typical_mistake_is_recorded_with_its_proof(
    engine: ScenarioEngine, slug: str
) -> None:
    scenario = SCENARIOS[slug]
    assert scenario.walkthrough is not None
    result = play(engine, slug, scenario.walkthrough.mistake, learner="eleve-erreur")

    assert result.failures == []
    attempt = result.attempt
    seen = {m.id: m for m in attempt.mistakes}
    for mistake_id in scenario.walkthrough.expected_mistakes:
        assert mistake_id in seen, f"{slug}: {mistake_id} not recorded ({list(seen)})"
        proof = seen[mistake_id].proof
        matcher = scenario.mistake(mistake_id).when
        assert proof["source"] == matcher.kind
        assert proof.get("device") in (None, *[d.id for d in scenario.devices], "lab")
    assert attempt.status == "playing"
    assert set(attempt.met) != {o.id for o in scenario.objectives}


def test_the_guides_example_is_valid_and_plays(make_lab, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    guide = (Path(__file__).resolve().parent.parent / "docs" / "scenarios.md").read_text()
    match = re.search(r"```toml\n(.*?)```", guide, re.S)
    assert match is not None
    (tmp_path / "exemple-imap.toml").write_text(match.group(1))
    catalogue = load_catalogue([tmp_path])
    assert catalogue.broken == [] and [s.slug for s in catalogue.scenarios] == ["exemple-imap"]
    (scenario,) = catalogue.scenarios
    assert scenario.walkthrough is not None
    engine = ScenarioEngine(make_lab(), catalogue, client_timeout=1.5)
    solved = play(engine, "exemple-imap", scenario.walkthrough.solution, learner="eleve-guide")
    assert solved.failures == [] and solved.attempt.completed
    wrong = play(engine, "exemple-imap", scenario.walkthrough.mistake, learner="eleve-guide")
    assert wrong.failures == [] and [m.id for m in wrong.attempt.mistakes] == ["sans-chiffrement"]
