"""universal-intelligence: the encoding, K by minimization, the agents, the estimators, the run."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import numpy as np
import pytest

from landmarks.cli import main
from landmarks.papers import universal_intelligence as ui


@pytest.fixture(scope="module")
def cls3() -> ui.EnvironmentClass:
    return ui.environment_class(3)


@pytest.fixture(scope="module")
def cls2() -> ui.EnvironmentClass:
    return ui.environment_class(2)


def _find(cls: ui.EnvironmentClass, delta: list[list[int]], reward: list[int]) -> int:
    """The class index of the environment that behaves as this machine."""
    d, r = np.array([delta]), np.array([reward])
    size = cls.delta.shape[1]
    d, r = ui.pad_states(d, r, size)
    depth = 2 * size
    match = np.flatnonzero((ui.behaviour(cls.delta, cls.reward, depth) == ui.behaviour(d, r, depth)).all(1))
    assert len(match) == 1
    return int(match[0])


# ---- 1. the encoding ---------------------------------------------------------------------------------


def test_encoding_lengths_and_kraft_sum():
    assert [ui.elias_gamma(n) for n in (1, 2, 3, 4)] == ["1", "010", "011", "00100"]
    assert [ui.description_length(s) for s in (1, 2, 3)] == [2, 9, 18]
    assert ui.kraft_sum(3) == pytest.approx(2 * 2**-2 + 64 * 2**-9 + 5832 * 2**-18)
    assert ui.kraft_sum(3) <= 1


def test_programs_decode_back_and_are_prefix_free():
    rng = np.random.default_rng(0)
    machines = []
    for s in (1, 2, 3, 2, 1, 3):
        delta, reward = rng.integers(0, s, (s, ui.ACTIONS)), rng.integers(0, 2, s)
        assert len(ui.encode(delta, reward)) == ui.description_length(s)
        machines.append((delta, reward))
    rest = "".join(ui.encode(d, r) for d, r in machines)  # concatenated programs split unambiguously
    for delta, reward in machines:
        d, r, rest = ui.decode(rest)
        assert np.array_equal(d, delta) and np.array_equal(r, reward)
    assert rest == ""
    with pytest.raises(ValueError, match="past the last state"):
        ui.decode("011" + "11" * 6 + "000")  # a 3-state program with a transition to state 3


# ---- 2. K: minimization and the class ----------------------------------------------------------------


def test_minimization_merges_equivalent_states(cls3):
    # Two states with the same reward, each moving to the other or itself: the 1-state machine.
    for delta in ([[1, 0], [0, 1]], [[1, 1], [0, 0]], [[0, 1], [1, 1]]):
        d, r = ui.minimize(np.array(delta), np.array([1, 1]))
        assert np.array_equal(d, [[0, 0]]) and np.array_equal(r, [1])
        assert cls3.complexity[_find(cls3, delta, [1, 1])] == 2
    # An unreachable state is dropped; a reachable, distinguishable one is kept.
    d, r = ui.minimize(np.array([[0, 0], [1, 0]]), np.array([0, 1]))
    assert len(r) == 1
    d, r = ui.minimize(np.array([[1, 0], [1, 1]]), np.array([0, 1]))
    assert np.array_equal(d, [[1, 0], [1, 1]]) and np.array_equal(r, [0, 1])
    # A 3-state machine relabelled is the same canonical machine.
    a = ui.minimize(np.array([[1, 0], [2, 0], [2, 2]]), np.array([0, 0, 1]))
    b = ui.minimize(np.array([[2, 0], [1, 1], [1, 0]]), np.array([0, 1, 0]))
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])


def test_minimization_preserves_behaviour():
    delta, reward = ui.all_machines(3)
    pick = np.random.default_rng(1).choice(len(delta), 300, replace=False)
    small = [ui.minimize(delta[i], reward[i]) for i in pick]
    padded = [ui.pad_states(d[None], r[None], 3) for d, r in small]
    before = ui.behaviour(delta[pick], reward[pick], 8)
    after = ui.behaviour(np.concatenate([d for d, _ in padded]), np.concatenate([r for _, r in padded]), 8)
    assert np.array_equal(before, after)


def test_class_has_no_duplicates_and_k_is_the_shortest_program(cls3):
    assert cls3.programs == {1: 2, 2: 64, 3: 5832}
    assert len(np.unique(ui.behaviour(cls3.delta, cls3.reward, 12), axis=0)) == len(cls3)  # deeper: same
    seen = set()
    for i in range(len(cls3)):
        d, r = cls3.machine(i)
        md, mr = ui.minimize(d, r)
        assert np.array_equal(md, d) and np.array_equal(mr, r)  # stored in canonical minimal form
        seen.add((d.tobytes(), r.tobytes()))
    assert len(seen) == len(cls3)
    assert np.array_equal(cls3.complexity, [ui.description_length(int(s)) for s in cls3.states])
    # Every program behaves as some class member, none of which is longer than that program.
    depth = 6
    members = {
        row.tobytes(): k for row, k in zip(ui.behaviour(cls3.delta, cls3.reward, depth), cls3.complexity)
    }
    for s in (1, 2, 3):
        delta, reward = ui.all_machines(s)
        delta, reward = ui.pad_states(delta, reward, 3)
        for row in ui.behaviour(delta, reward, depth):
            assert members[row.tobytes()] <= ui.description_length(s)
    assert cls3.mass <= ui.kraft_sum(3) <= 1


# ---- 3-4. values and agents ----------------------------------------------------------------------------


def test_values_lie_in_the_unit_interval(cls2):
    env = np.arange(len(cls2))
    rng = np.random.default_rng(2)
    planner = ui.BayesMixturePlanner(cls2, 3, 15)
    for v in (
        ui.random_values_exact(cls2, 15),
        ui.random_values(cls2, env, 15, rng),
        ui.fixed_values(cls2, env, 15),
        ui.q_learning_values(cls2, env, 15, rng),
        ui.bayes_mixture_values(cls2, env, planner),
        ui.informed_values(cls2, 15),
    ):
        assert v.shape == (len(cls2),) and v.min() >= 0 and v.max() <= 1
    many = ui.random_values(cls2, np.repeat(env, 4000), 15, rng).reshape(len(cls2), 4000).mean(1)
    assert np.abs(many - ui.random_values_exact(cls2, 15)).max() < 0.03


def test_percept_blind_agents_score_half_the_prior_mass(cls3):
    # Flipping every reward bit maps the class onto itself with the same K and V ↦ 1 − V.
    every = np.arange(len(cls3))
    for action in (0, 1):
        assert ui.upsilon(cls3, ui.fixed_values(cls3, every, 25, action)) == pytest.approx(cls3.mass / 2)
    assert ui.upsilon(cls3, ui.random_values_exact(cls3, 25)) == pytest.approx(cls3.mass / 2)


def test_every_agent_scores_the_same_in_a_one_state_environment(cls3):
    rng = np.random.default_rng(3)
    planner = ui.BayesMixturePlanner(cls3, 4, 20)
    for reward in (0, 1):
        i = _find(cls3, [[0, 0]], [reward])
        env = np.array([i])
        values = [
            ui.random_values_exact(cls3, 20)[i],
            ui.random_values(cls3, env, 20, rng)[0],
            ui.fixed_values(cls3, env, 20)[0],
            ui.q_learning_values(cls3, env, 20, rng)[0],
            ui.bayes_mixture_values(cls3, env, planner)[0],
        ]
        assert values == [reward] * 5


def test_bayes_agent_sees_only_percepts_and_keeps_the_truth(cls3):
    planner = ui.BayesMixturePlanner(cls3, 4, 30)  # built from the class alone
    assert list(inspect.signature(ui.BayesMixtureAgent).parameters) == ["planner"]
    assert list(inspect.signature(ui.BayesMixtureAgent.observe).parameters) == ["self", "action", "percept"]
    for true in np.random.default_rng(4).choice(len(cls3), 25, replace=False):
        agent, state = ui.BayesMixtureAgent(planner), 0
        every, states = (
            np.arange(len(cls3)),
            np.zeros(len(cls3), dtype=np.int64),
        )  # every environment, played the agent's actions
        for _ in range(30):
            action = agent.act()
            state = int(cls3.delta[true, state, action])
            agent.observe(action, int(cls3.reward[true, state]))
            assert true in agent.env  # the posterior never rules the truth out
            assert agent.posterior.sum() == pytest.approx(1.0)
            states = cls3.delta[every, states, action]
            same = cls3.reward[every, states] == agent.history[-1][1]
            every, states = every[same], states[same]
        # ... and it is exactly the set of environments that would have produced these percepts.
        assert np.array_equal(agent.env, every) and np.array_equal(agent.state, states)
    agent = ui.BayesMixtureAgent(planner)
    with pytest.raises(ValueError, match="no environment"):
        # Action 0 forever in ≤ 3 states: the percepts repeat with period ≤ 3 from step 3 on; these do not.
        for percept in (0, 0, 1, 1, 0, 1, 0, 0):
            agent.observe(0, percept)


def test_shared_plans_change_nothing(cls3):
    env = np.random.default_rng(5).choice(len(cls3), 12, replace=False)
    shared = ui.bayes_mixture_values(cls3, env, ui.BayesMixturePlanner(cls3, 3, 20))
    alone = [
        ui.bayes_mixture_values(cls3, env[[i]], ui.BayesMixturePlanner(cls3, 3, 20))[0] for i in range(12)
    ]
    assert np.array_equal(shared, alone)


def test_bayes_agent_finds_a_combination_lock(cls3):
    # State 2 pays; reaching it needs action 1 twice in a row, action 0 resets to the start.
    i = _find(cls3, [[0, 1], [0, 2], [0, 2]], [0, 0, 1])
    planner = ui.BayesMixturePlanner(cls3, 4, 40)
    bayes = ui.bayes_mixture_values(cls3, np.array([i]), planner)[0]
    assert bayes > ui.random_values_exact(cls3, 40)[i]
    agent, state, percepts = ui.BayesMixtureAgent(planner), 0, []
    for _ in range(40):
        action = agent.act()
        state = int(cls3.delta[i, state, action])
        percepts.append(int(cls3.reward[i, state]))
        agent.observe(action, percepts[-1])
    assert np.mean(percepts) == bayes
    assert percepts[-20:] == [1] * 20  # it has found the lock and stays in the paying state


# ---- 5. Υ and its estimate ------------------------------------------------------------------------------


def test_monte_carlo_estimate_is_unbiased(cls3):
    rng = np.random.default_rng(6)
    exact = ui.upsilon(cls3, ui.random_values_exact(cls3, 20))
    estimate, se = ui.monte_carlo_upsilon(
        cls3, ui.random_values(cls3, ui.sample_environments(cls3, 20000, rng), 20, rng)
    )
    assert abs(estimate - exact) < 4 * se
    assert se < 0.005
    sizes = np.array([25, 100, 400])
    assert ui.se_slope(sizes, 3 / np.sqrt(sizes)) == pytest.approx(-0.5)


def test_quick_run_writes_result(tmp_path: Path):
    from landmarks.runner import run_paper

    result = run_paper("universal-intelligence", out=tmp_path, quick=True, show_progress=False)
    folder = tmp_path / "universal-intelligence"
    saved = json.loads((folder / "result.json").read_text())
    assert [c["verdict"] for c in saved["claims"]] == [c["verdict"] for c in result["claims"]]
    assert len(saved["claims"]) == len(ui.CARD.claims)
    assert saved["metrics"]["kraft_sum"] <= 1
    assert set(saved["metrics"]["upsilon_exact"]) == set(ui.AGENTS)
    for name in ("upsilon", "values_by_complexity", "standard_error"):
        assert (folder / f"{name}.png").exists()


def test_bad_settings_exit_2(capsys):
    assert main(["run", "universal-intelligence", "--quick", "--set", "max_states=0"]) == 2
    assert "environment class of size 0" in capsys.readouterr().err
    assert main(["run", "universal-intelligence", "--quick", "--set", "horizon=0"]) == 2
    assert "horizon must be >= 1" in capsys.readouterr().err
    assert main(["run", "universal-intelligence", "--quick", "--set", "planning_depth=0"]) == 2
    assert main(["run", "universal-intelligence", "--quick", "--set", "q_epsilon=-0.1"]) == 2
    assert "q_epsilon must be in [0, 1]" in capsys.readouterr().err
    with pytest.raises(ValueError, match="two different sizes"):
        ui.Config(se_sizes=(50,)).validate()
