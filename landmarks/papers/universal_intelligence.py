"""Universal intelligence: expected reward over all computable environments, weighted by simplicity.

Shane Legg. Machine Super Intelligence. PhD thesis, University of Lugano, 2008 (ch. 4).
Shane Legg, Marcus Hutter. Universal Intelligence: A Definition of Machine Intelligence.
Minds and Machines 17(4), 2007. arXiv:0712.3329.

An agent π and an environment μ take turns: the agent acts, the environment answers with a
percept that carries a reward. V_μ^π is the agent's expected total reward in μ, with rewards
scaled so that V ∈ [0, 1]. Legg and Hutter define the universal intelligence of π as

    Υ(π) = Σ_{μ ∈ E} 2^{−K(μ)} V_μ^π

over every computable environment, K(μ) the length in bits of μ's shortest program (its
Kolmogorov complexity). Simple environments weigh most (Occam's razor, via Solomonoff's
prior), and an agent scores high only by doing well in many of them: Υ rewards general
ability, not one skill. Υ is not computable (K is not, and E is infinite); the agent that
maximizes it is AIXI, which acts by expectimax over the same 2^{−K} mixture of environments.

This module makes every part finite and exact, in the order of the definition:

1. The environment class E (Sec. 1 below): deterministic Moore machines with up to 3 states
   and 2 actions. State 0 is the start; every state emits a reward bit, which is also the
   agent's whole percept. A machine is written as a prefix-free binary program: the Elias-gamma
   code of its number of states S, then its S·A transitions δ(s, a) with ⌈log₂ S⌉ bits each,
   then its S reward bits (2, 9 and 18 bits for S = 1, 2, 3). The Kraft sum of the code is at
   most 1, so 2^{−length} is a (semi)measure, as the definition needs.
2. K(μ) (Sec. 2): many programs describe the same environment (relabelled states, unreachable or
   redundant states), and Legg weighs an environment, a behaviour, by its shortest description.
   Each machine is minimized (Moore minimization over the states reachable from the start) and
   put in a canonical form (states renumbered in breadth-first order from state 0, actions in
   order). Because the start state's reward is never seen (the first reward comes after the
   first action), two different minimal machines can still behave alike; so the canonical
   machines are grouped by behaviour, the percepts they answer to every action sequence, and
   each behaviour keeps the machine with the shortest code. K(μ) is that code's length: the
   exact shortest description within this language, hence an upper bound (up to the constant
   length of an interpreter for the language) on the true Kolmogorov complexity.
3. V_μ^π (Sec. 3): an episode of H steps; at step t the agent acts a_t, the machine moves to
   s_t = δ(s_{t−1}, a_t) and emits r_t = reward(s_t). V = (1/H) Σ_t r_t ∈ [0, 1] (Legg's
   condition that an environment's total reward is bounded by 1, by scaling).
4. The agents (Sec. 4): random, a fixed action, tabular Q-learning within the episode, and a
   Bayes-mixture agent, a small AIXI: it knows only E and the prior 2^{−K}, keeps the posterior
   over the environments consistent with its history and plans by expectimax over the mixture's
   predicted percepts a few steps ahead.
5. Υ (Sec. 5): the exact sum over the whole class, and a Monte Carlo estimate that samples
   environments with probability 2^{−K}/Z (Z = Σ 2^{−K}): Υ̂ = Z · mean(V), with standard error
   Z · std(V)/√n.
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from landmarks.registry import Card, ClaimSpec

if TYPE_CHECKING:
    from landmarks.engine import Run

__all__ = [
    "ACTIONS",
    "AGENTS",
    "CARD",
    "PRESETS",
    "BayesMixtureAgent",
    "BayesMixturePlanner",
    "Config",
    "EnvironmentClass",
    "all_machines",
    "bayes_mixture_values",
    "behaviour",
    "decode",
    "description_length",
    "elias_gamma",
    "encode",
    "environment_class",
    "fixed_values",
    "informed_values",
    "kraft_sum",
    "minimize",
    "monte_carlo_upsilon",
    "pad_states",
    "q_learning_values",
    "random_values",
    "random_values_exact",
    "reproduce",
    "sample_environments",
    "se_slope",
    "upsilon",
]

ACTIONS = 2  # A: the agent's actions; the percept is one reward bit
AGENTS = ("random", "fixed", "Q-learning", "Bayes mixture")

CARD = Card(
    citation=(
        "Shane Legg. Machine Super Intelligence. PhD thesis, University of Lugano, 2008. "
        "Shane Legg, Marcus Hutter. Universal Intelligence: A Definition of Machine Intelligence. "
        "Minds and Machines 17(4):391–444, 2007. arXiv:0712.3329."
    ),
    takeaways=[
        "Intelligence measures an agent's ability to achieve goals in a wide range of "
        "environments: Υ(π) = Σ_μ 2^{−K(μ)} V_μ^π, the expected reward over every computable "
        "environment, each weighted by the length of its shortest description.",
        "The simplicity prior 2^{−K} is Occam's razor: an agent cannot score high by excelling "
        "in a few complex environments; it must do well in the many simple ones first.",
        "The agent that maximizes Υ is AIXI, a Bayes mixture over the environments with the "
        "same prior, acting by expectimax; random and fixed agents score low, learners between.",
        "Υ is incomputable, but over a finite, enumerable class it is a plain weighted sum, and "
        "it can be estimated by sampling environments from the prior, with error ~ 1/√n.",
    ],
    claims=[
        ClaimSpec(
            "Υ(random) < Υ(Q-learning) < Υ(Bayes mixture), exact sums over the class: "
            "min(Υ(Q) − Υ(random), Υ(Bayes) − Υ(Q))",
            "> 0",
            "Legg 2008 ch. 4 and Legg & Hutter 2007 (the universal intelligence of various agents): "
            "a random agent scores low, learning agents higher, AIXI highest (AIXI maximizes Υ)",
        ),
        ClaimSpec(
            "the Monte Carlo estimate's standard error shrinks ~ 1/√n in the number of sampled "
            "environments: log-log slope of the spread over repeated estimates (random agent) "
            "against n",
            "in [-0.6, -0.4]",
            "Υ is incomputable and is approximated by sampling environments from the 2^{−K} "
            "prior (Legg & Veness, An Approximation of the Universal Intelligence Measure, "
            "arXiv:1109.5951, 2011); a sample mean's error falls as 1/√n",
        ),
    ],
    keeps=[
        "Υ(π) = Σ_μ 2^{−K(μ)} V_μ^π exactly as defined, with K(μ) the length of μ's shortest "
        "program in a prefix-free language (Kraft sum ≤ 1) and V ∈ [0, 1]",
        "an environment is a behaviour: equivalent programs are merged and weighted by the shortest of them",
        "the agents of the paper's informal ranking: random, a fixed policy, a learner "
        "(tabular Q-learning) and a Bayes-mixture agent that approximates AIXI by expectimax "
        "over the 2^{−K} mixture with the exact posterior",
        "both ways to compute Υ: the sum over the class and Monte Carlo over the prior",
    ],
    shrinks=[
        "all computable environments → deterministic Moore machines with ≤ 3 states, 2 actions "
        "and a reward bit as the only percept (the class is enumerated whole)",
        "Kolmogorov complexity → the shortest code in a fixed machine-description language "
        "(an upper bound on K up to the interpreter's constant length)",
        "unbounded interaction → episodes of H = 40 steps; AIXI's horizon → expectimax 4 "
        "steps deep, replanned every step (receding horizon)",
        "the Solomonoff mixture over all programs → a mixture over the class's behaviours, "
        "each with prior 2^{−K}",
    ],
    figures={
        "Υ definition (thesis ch. 4; Legg & Hutter 2007)": "Υ(π) := Σ_{μ∈E} 2^{−K(μ)} V_μ^π",
        "Reward bound": "an environment's total reward is at most 1, so V_μ^π ≤ 1",
        "Ordering of agents": "random low, specialised and learning agents higher, AIXI the "
        "maximum Υ (no numbers: the measure is incomputable)",
        "Environment encoding (here)": "gamma(S) + S·A·⌈log₂ S⌉ + S bits: 2, 9, 18 for S = 1, 2, 3",
    },
    notes=(
        "Design fixed before any run. The environment class: every deterministic Moore machine "
        "with S ≤ max_states states (default 3) and 2 actions, start state 0; 2 + 64 + 5,832 "
        "programs. Each is minimized and canonicalized (Moore partition refinement over the "
        "reachable states; states renumbered breadth-first from state 0); canonical machines are "
        "then grouped by behaviour, the percepts they emit for every action sequence of length "
        "2·max_states (long enough to tell any two machines of ≤ max_states states apart), since "
        "the start state's reward is never observed. Each behaviour keeps the machine with the "
        "shortest code, first in code order among ties, and K is that code's length. Episodes: "
        "H = 40 steps, V = mean reward. Agents: random (uniform actions; V computed exactly from "
        "the state distribution); fixed (always action 0); tabular Q-learning whose state is the "
        "last percept (plus a start state), α = 0.5, γ = 0.9, ε-greedy with ε = 0.1, Q "
        "initialized to 0, greedy ties broken at random, learning online within the one episode "
        "(its V per environment is the mean of 8 episodes); Bayes mixture: prior 2^{−K} over the "
        "class's behaviours, posterior = prior restricted to the environments consistent with "
        "the history, renormalized (the environments are deterministic), actions by expectimax "
        "over the mixture's predicted reward bits to depth 4 (fewer near the episode's end), "
        "ties to the lower action. The Bayes agent is deterministic, so its action is a function "
        "of its history: its plans are memoized by history and shared across environments, "
        "which is what makes the exact sum over every environment affordable; it never sees the "
        "environment it is in, only its own percepts. Monte Carlo: environments drawn with "
        "probability 2^{−K}/Z and Υ̂ = Z · mean(V); for the stochastic agents (random, "
        "Q-learning) each draw plays a fresh episode, the deterministic ones replay their one "
        "episode there; 5,000 draws, the same environments for every agent, so the differences "
        "between agents are paired. The 1/√n claim uses the random agent: 100 independent estimates at "
        "each n, their standard deviation against n on log-log axes. Most of the prior's mass "
        "lies on the two 1-state environments (K = 2 bits), where every agent scores the same; "
        "the agents differ on the 2- and 3-state ones, so Υ's differences are small in absolute "
        "terms, and Υ/Z (the mean V under the prior) is reported beside Υ. The class is closed "
        "under flipping every reward bit (same K, V ↦ 1 − V), so any agent that ignores its "
        "percepts, random and fixed among them, scores exactly Z/2: the floor a learner must "
        "beat."
    ),
)


@dataclass(frozen=True)
class Config:
    max_states: int = 3  # the class: Moore machines with 1 … max_states states
    horizon: int = 40  # H: steps per episode; V = mean reward over them
    planning_depth: int = 4  # the Bayes-mixture agent's expectimax depth
    q_alpha: float = 0.5  # Q-learning step size
    q_gamma: float = 0.9  # Q-learning discount
    q_epsilon: float = 0.1  # Q-learning exploration rate
    q_episodes: int = 8  # episodes per environment averaged for the Q-learner's exact Υ
    mc_samples: int = 5000  # environments sampled for each agent's Monte Carlo Υ̂
    se_sizes: tuple[int, ...] = (25, 50, 100, 200, 400, 800)  # n for the 1/√n claim
    se_repeats: int = 100  # independent estimates per n

    def validate(self) -> None:
        if self.max_states < 1:
            raise ValueError(
                f"max_states must be >= 1, got {self.max_states}: that is an environment class of size 0"
            )
        if self.max_states > 3:
            raise ValueError(
                f"max_states must be <= 3, got {self.max_states}: 4 states already means "
                "4^8·2^4 ≈ 1M machines to enumerate"
            )
        for name in ("horizon", "planning_depth", "q_episodes"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.planning_depth > 8:
            raise ValueError(
                f"planning_depth must be <= 8, got {self.planning_depth}: the expectimax tree has 4^depth leaves"
            )
        if not 0 < self.q_alpha <= 1:
            raise ValueError(f"q_alpha must be in (0, 1], got {self.q_alpha}")
        for name in ("q_gamma", "q_epsilon"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if self.mc_samples < 2:
            raise ValueError(f"mc_samples must be >= 2 (a standard error needs two), got {self.mc_samples}")
        if len(self.se_sizes) < 2 or len(set(self.se_sizes)) < 2:
            raise ValueError(
                f"se_sizes needs at least two different sizes to fit a slope, got {self.se_sizes}"
            )
        if min(self.se_sizes) < 2:
            raise ValueError(f"every se_sizes value must be >= 2, got {self.se_sizes}")
        if self.se_repeats < 2:
            raise ValueError(f"se_repeats must be >= 2 (a spread needs two estimates), got {self.se_repeats}")


PRESETS = {
    "default": Config(),
    "quick": Config(
        max_states=2,
        horizon=12,
        planning_depth=2,
        q_episodes=2,
        mc_samples=200,
        se_sizes=(25, 50, 100),
        se_repeats=10,
    ),
}


# ---- 1. the environment class and its encoding -----------------------------------------------------


def elias_gamma(n: int) -> str:
    """Elias-gamma code of n ≥ 1: ⌊log₂ n⌋ zeros, then n in binary (prefix-free over the integers)."""
    if n < 1:
        raise ValueError(f"Elias gamma codes integers >= 1, got {n}")
    binary = format(n, "b")
    return "0" * (len(binary) - 1) + binary


def _field_bits(states: int) -> int:
    return math.ceil(math.log2(states)) if states > 1 else 0  # ⌈log₂ S⌉ bits per transition


def description_length(states: int, actions: int = ACTIONS) -> int:
    """Bits of a machine with ``states`` states: gamma(S) + S·A·⌈log₂ S⌉ + S."""
    return len(elias_gamma(states)) + states * actions * _field_bits(states) + states


def encode(delta: np.ndarray, reward: np.ndarray) -> str:
    """The program for a machine: gamma(S), then δ(s, a) row by row, then the reward bits."""
    states = delta.shape[0]
    width = _field_bits(states)
    transitions = "".join(format(int(t), f"0{width}b") if width else "" for t in delta.ravel())
    return elias_gamma(states) + transitions + "".join(str(int(r)) for r in reward)


def decode(bits: str, actions: int = ACTIONS) -> tuple[np.ndarray, np.ndarray, str]:
    """Read one program off the front of ``bits``: (δ, reward, the bits left over)."""
    zeros = len(bits) - len(bits.lstrip("0"))
    states = int(bits[zeros : 2 * zeros + 1], 2)
    pos, width = 2 * zeros + 1, _field_bits(states)
    entries = [int(bits[pos + i * width : pos + (i + 1) * width] or "0", 2) for i in range(states * actions)]
    if any(e >= states for e in entries):
        raise ValueError("not a program: a transition points past the last state")
    pos += states * actions * width
    reward = np.array([int(b) for b in bits[pos : pos + states]], dtype=np.int64)
    return np.array(entries, dtype=np.int64).reshape(states, actions), reward, bits[pos + states :]


def kraft_sum(max_states: int, actions: int = ACTIONS) -> float:
    """Σ over every valid program of 2^{−length}: S^{S·A}·2^S programs of each length. ≤ 1 (Kraft)."""
    return sum(
        s ** (s * actions) * 2**s * 2.0 ** -description_length(s, actions) for s in range(1, max_states + 1)
    )


def all_machines(states: int, actions: int = ACTIONS) -> tuple[np.ndarray, np.ndarray]:
    """Every machine with ``states`` states, in code order: δ (M, S, A) and reward (M, S)."""
    tables = np.array(list(itertools.product(range(states), repeat=states * actions)), dtype=np.int64)
    rewards = np.array(list(itertools.product((0, 1), repeat=states)), dtype=np.int64)
    delta = np.repeat(tables.reshape(-1, states, actions), len(rewards), axis=0)
    reward = np.tile(rewards, (len(tables), 1))
    return delta, reward


# ---- 2. K(μ): minimization, canonical form, behaviour ----------------------------------------------


def minimize(delta: np.ndarray, reward: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Moore minimization over the states reachable from 0, in canonical form: the minimal
    machine's states numbered in breadth-first order from the start, actions in order.

    Like any Moore minimization it treats every state's reward as seen, the start's too; the
    start's is not (the first percept follows the first action), which ``environment_class``
    settles afterwards by grouping machines by ``behaviour``."""
    actions = delta.shape[1]
    reachable, frontier = [0], [0]
    while frontier:
        s = frontier.pop(0)
        for a in range(actions):
            t = int(delta[s, a])
            if t not in reachable:
                reachable.append(t)
                frontier.append(t)
    # Partition refinement: start from the reward each state emits, split by successors' blocks.
    block = {s: int(reward[s]) for s in reachable}
    while True:
        signature = {s: (block[s], *(block[int(delta[s, a])] for a in range(actions))) for s in reachable}
        names: dict[tuple[int, ...], int] = {}
        refined = {s: names.setdefault(signature[s], len(names)) for s in reachable}
        if len(names) == len(set(block.values())):
            break
        block = refined
    # Canonical numbering: breadth-first over blocks from the start's block, actions in order.
    member = {}
    for s in reachable:
        member.setdefault(block[s], s)
    order = {block[0]: 0}
    queue = [block[0]]
    while queue:
        b = queue.pop(0)
        for a in range(actions):
            nb = block[int(delta[member[b], a])]
            if nb not in order:
                order[nb] = len(order)
                queue.append(nb)
    size = len(order)
    new_delta = np.zeros((size, actions), dtype=np.int64)
    new_reward = np.zeros(size, dtype=np.int64)
    for b, i in order.items():
        new_reward[i] = reward[member[b]]
        for a in range(actions):
            new_delta[i, a] = order[block[int(delta[member[b], a])]]
    return new_delta, new_reward


def behaviour(delta: np.ndarray, reward: np.ndarray, depth: int) -> np.ndarray:
    """The percepts machines emit for every action sequence of length ≤ depth, from the start.

    delta (M, S, A) and reward (M, S), padded alike; returns (M, A + A² + … + A^depth) bits.
    Two machines with at most n states each behave alike iff these agree for depth ≥ 2n − 1."""
    m, _, actions = delta.shape
    rows = np.arange(m)[:, None]
    state = np.zeros((m, 1), dtype=np.int64)
    percepts = []
    for _ in range(depth):
        state = np.stack([delta[rows, state, a] for a in range(actions)], axis=-1).reshape(m, -1)
        percepts.append(reward[rows, state])
    return np.concatenate(percepts, axis=1).astype(np.uint8)


@dataclass(frozen=True)
class EnvironmentClass:
    """The distinct environments (behaviours) of the class, each as its shortest machine."""

    delta: np.ndarray  # (N, S_max, A): δ(s, a); padding states loop on themselves
    reward: np.ndarray  # (N, S_max): the reward bit each state emits
    states: np.ndarray  # (N,): states of the shortest machine
    complexity: np.ndarray  # (N,): K(μ) in bits
    programs: dict[int, int]  # S → how many programs have S states
    canonical: dict[int, int]  # S → distinct canonical minimal machines with S states

    def __len__(self) -> int:
        return len(self.states)

    @property
    def prior(self) -> np.ndarray:
        """2^{−K(μ)} per environment (Legg's universal prior, restricted to the class)."""
        return 2.0 ** -self.complexity.astype(np.float64)

    @property
    def mass(self) -> float:
        """Z = Σ_μ 2^{−K(μ)}: Υ's largest possible value (V = 1 everywhere)."""
        return float(self.prior.sum())

    def machine(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        s = int(self.states[i])
        return self.delta[i, :s], self.reward[i, :s]


def pad_states(delta: np.ndarray, reward: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pad machines to ``size`` states with unreachable states that loop on themselves, reward 0."""
    m, s, actions = delta.shape
    out_delta = np.broadcast_to(np.arange(size)[None, :, None], (m, size, actions)).copy()
    out_delta[:, :s] = delta
    out_reward = np.zeros((m, size), dtype=np.int64)
    out_reward[:, :s] = reward
    return out_delta, out_reward


def environment_class(max_states: int, actions: int = ACTIONS) -> EnvironmentClass:
    """Enumerate every program with ≤ max_states states, minimize, canonicalize, merge behaviours."""
    programs: dict[int, int] = {}
    canonical: dict[tuple[bytes, bytes], tuple[np.ndarray, np.ndarray]] = {}
    canonical_count: dict[int, int] = {}
    for s in range(1, max_states + 1):
        delta, reward = all_machines(s, actions)
        programs[s] = len(delta)
        for d, r in zip(delta, reward):
            md, mr = minimize(d, r)
            key = (md.tobytes(), mr.tobytes())
            if key not in canonical:
                canonical[key] = (md, mr)
                canonical_count[len(mr)] = canonical_count.get(len(mr), 0) + 1
    # Group the canonical machines by behaviour: the start state's reward is never observed.
    machines = sorted(canonical.values(), key=lambda m: (len(m[1]), encode(*m)))  # shortest code first
    delta = np.zeros((len(machines), max_states, actions), dtype=np.int64)
    reward = np.zeros((len(machines), max_states), dtype=np.int64)
    states = np.array([len(r) for _, r in machines], dtype=np.int64)
    for i, (d, r) in enumerate(machines):
        delta[i], reward[i] = pad_states(d[None], r[None], max_states)
    percepts = behaviour(delta, reward, 2 * max_states)
    _, first = np.unique(percepts, axis=0, return_index=True)
    keep = np.sort(first)  # np.unique's first index per behaviour: its shortest machine
    complexity = np.array([description_length(int(s), actions) for s in states[keep]], dtype=np.int64)
    return EnvironmentClass(
        delta=delta[keep],
        reward=reward[keep],
        states=states[keep],
        complexity=complexity,
        programs=programs,
        canonical={s: canonical_count.get(s, 0) for s in range(1, max_states + 1)},
    )


# ---- 3. V_μ^π: episodes of H steps ----------------------------------------------------------------
#
# At step t the agent acts a_t, the environment moves to s_t = δ(s_{t−1}, a_t) (s_0 = 0) and emits
# r_t = reward(s_t), the agent's percept. V = (1/H) Σ_t r_t ∈ [0, 1]. Every function below plays
# many episodes at once: ``env`` holds one class index per episode.


def random_values_exact(cls: EnvironmentClass, horizon: int) -> np.ndarray:
    """E[V] of the uniformly random agent in every environment, from the state distribution:
    p_t = p_{t−1} T with T(s, s') = P(δ(s, a) = s') under a uniform action."""
    n, size, actions = cls.delta.shape
    transition = np.zeros((n, size, size))
    rows, cols = np.arange(n)[:, None], np.arange(size)[None, :]
    for a in range(actions):
        np.add.at(transition, (rows, cols, cls.delta[:, :, a]), 1.0 / actions)
    p = np.zeros((n, size))
    p[:, 0] = 1.0
    total = np.zeros(n)
    for _ in range(horizon):
        p = np.einsum("ns,nst->nt", p, transition)
        total += (p * cls.reward).sum(axis=1)
    return total / horizon


def random_values(
    cls: EnvironmentClass, env: np.ndarray, horizon: int, rng: np.random.Generator
) -> np.ndarray:
    """V of one episode of the random agent per entry of ``env``."""
    state = np.zeros(len(env), dtype=np.int64)
    total = np.zeros(len(env))
    for _ in range(horizon):
        action = rng.integers(0, ACTIONS, len(env))
        state = cls.delta[env, state, action]
        total += cls.reward[env, state]
    return total / horizon


def fixed_values(cls: EnvironmentClass, env: np.ndarray, horizon: int, action: int = 0) -> np.ndarray:
    """V of the agent that always takes ``action``."""
    state = np.zeros(len(env), dtype=np.int64)
    total = np.zeros(len(env))
    for _ in range(horizon):
        state = cls.delta[env, state, action]
        total += cls.reward[env, state]
    return total / horizon


def q_learning_values(
    cls: EnvironmentClass,
    env: np.ndarray,
    horizon: int,
    rng: np.random.Generator,
    alpha: float = 0.5,
    gamma: float = 0.9,
    epsilon: float = 0.1,
) -> np.ndarray:
    """V of one episode of tabular Q-learning per entry of ``env``, learning online.

    The learner's state is its last percept (0: none yet, 1 + r after a reward bit r), so it
    sees a 2-state environment fully and a 3-state one partially. ε-greedy, ties at random;
    Q(o, a) += α (r + γ max_a' Q(o', a') − Q(o, a))  (Watkins's update)."""
    e = len(env)
    rows = np.arange(e)
    q = np.zeros((e, 3, ACTIONS))  # (episode, observation, action)
    obs = np.zeros(e, dtype=np.int64)
    state = np.zeros(e, dtype=np.int64)
    total = np.zeros(e)
    for _ in range(horizon):
        values = q[rows, obs]  # (E, A)
        best = values == values.max(axis=1, keepdims=True)
        tie_break = rng.random((e, ACTIONS)) * best  # a uniform pick among the greedy actions
        greedy = tie_break.argmax(axis=1)
        explore = rng.random(e) < epsilon
        action = np.where(explore, rng.integers(0, ACTIONS, e), greedy)
        state = cls.delta[env, state, action]
        r = cls.reward[env, state]
        after = 1 + r
        target = r + gamma * q[rows, after].max(axis=1)
        q[rows, obs, action] += alpha * (target - q[rows, obs, action])
        obs = after
        total += r
    return total / horizon


# ---- 4. the Bayes-mixture agent (a small AIXI) -----------------------------------------------------


class BayesMixturePlanner:
    """What the Bayes-mixture agent knows before it acts: the class, the prior 2^{−K}, the horizon
    and its planning depth, and nothing of the environment it will meet.

    It chooses actions by expectimax over the mixture ξ = Σ_μ w_μ μ of the environments still
    consistent with the history (AIXI's action rule, cut to ``depth`` steps):

        V(h, k) = max_a Σ_r ξ(r | h, a) [r + V(h a r, k − 1)],   V(h, 0) = 0.

    A node holds the consistent environments' indices, current states and prior weights; one
    action moves all of them at once and the predicted reward bit splits them in two. Once a
    single environment is left its values are read from a table (value iteration on that known
    machine). The agent is deterministic (ties go to the lower action), so its action is a
    function of its history: ``plans`` memoizes it, shared by every agent built from this planner.
    """

    def __init__(self, cls: EnvironmentClass, depth: int, horizon: int) -> None:
        self.delta = cls.delta
        self.reward = cls.reward
        self.prior = cls.prior
        self.depth = depth
        self.horizon = horizon
        self.plans: dict[tuple[tuple[int, int], ...], int] = {}
        # known[k][μ, s, a]: best total reward over k steps in μ from s, starting with action a.
        n, size, actions = cls.delta.shape
        rows = np.arange(n)[:, None]
        immediate = np.stack([cls.reward[rows, cls.delta[:, :, a]] for a in range(actions)], axis=-1)
        self.known = [np.zeros((n, size, actions))]
        for _ in range(depth):
            best_next = self.known[-1].max(axis=2)  # (N, S)
            future = np.stack([best_next[rows, cls.delta[:, :, a]] for a in range(actions)], axis=-1)
            self.known.append(immediate + future)

    def action(
        self, history: tuple[tuple[int, int], ...], env: np.ndarray, state: np.ndarray, weight: np.ndarray
    ) -> int:
        """The action after this history of (action, percept) pairs, given the environments
        consistent with it: their indices, current states and prior weights."""
        if history not in self.plans:
            depth = min(self.depth, self.horizon - len(history))
            self.plans[history] = int(np.argmax(self._action_values(env, state, weight, depth)))
        return self.plans[history]

    def _action_values(
        self, env: np.ndarray, state: np.ndarray, weight: np.ndarray, depth: int
    ) -> np.ndarray:
        if len(env) == 1:
            return self.known[depth][env[0], state[0]]
        values = np.zeros(ACTIONS)
        total = weight.sum()
        for a in range(ACTIONS):
            nxt = self.delta[env, state, a]
            r = self.reward[env, nxt]
            for bit in (0, 1):
                split = r == bit
                if not split.any():
                    continue
                p = weight[split].sum() / total  # ξ(r = bit | h, a)
                future = 0.0
                if depth > 1:
                    future = self._action_values(env[split], nxt[split], weight[split], depth - 1).max()
                values[a] += p * (bit + future)
        return values


class BayesMixtureAgent:
    """One episode of the Bayes-mixture agent: it is told its percepts and nothing else.

    Deterministic environments make the posterior simple: w(μ | h) ∝ 2^{−K(μ)} if μ would have
    produced h, else 0 (Bayes' rule with likelihoods 0 and 1)."""

    def __init__(self, planner: BayesMixturePlanner) -> None:
        self.planner = planner
        self.env = np.arange(len(planner.prior))  # the consistent environments
        self.state = np.zeros(len(self.env), dtype=np.int64)  # each one's current state
        self.history: tuple[tuple[int, int], ...] = ()  # (action, percept) per step

    @property
    def posterior(self) -> np.ndarray:
        w = self.planner.prior[self.env]
        return w / w.sum()

    def act(self) -> int:
        return self.planner.action(self.history, self.env, self.state, self.planner.prior[self.env])

    def observe(self, action: int, percept: int) -> None:
        nxt = self.planner.delta[self.env, self.state, action]
        keep = self.planner.reward[self.env, nxt] == percept
        if not keep.any():
            raise ValueError("no environment of the class explains this history: the percept is not from E")
        self.env, self.state = self.env[keep], nxt[keep]
        self.history = (*self.history, (action, percept))


def bayes_mixture_values(cls: EnvironmentClass, env: np.ndarray, planner: BayesMixturePlanner) -> np.ndarray:
    """V of the Bayes-mixture agent per entry of ``env``: one episode each (it is deterministic)."""
    out = np.zeros(len(env))
    for i, true in enumerate(env):
        agent = BayesMixtureAgent(planner)
        state, total = 0, 0
        for _ in range(planner.horizon):
            action = agent.act()
            state = int(cls.delta[true, state, action])  # the environment answers ...
            percept = int(cls.reward[true, state])
            agent.observe(action, percept)  # ... and the agent sees only its percept
            total += percept
        out[i] = total / planner.horizon
    return out


def informed_values(cls: EnvironmentClass, horizon: int) -> np.ndarray:
    """The best V attainable by an agent told μ's table (value iteration over H steps): a
    ceiling for the figures, not an agent of the comparison."""
    n, size, actions = cls.delta.shape
    rows = np.arange(n)[:, None]
    to_go = np.zeros((n, size))
    for _ in range(horizon):
        to_go = np.stack(
            [cls.reward[rows, cls.delta[:, :, a]] + to_go[rows, cls.delta[:, :, a]] for a in range(actions)],
            axis=-1,
        ).max(axis=-1)
    return to_go[:, 0] / horizon


# ---- 5. Υ: the exact sum and its Monte Carlo estimate ----------------------------------------------


def upsilon(cls: EnvironmentClass, values: np.ndarray) -> float:
    """Υ(π) = Σ_μ 2^{−K(μ)} V_μ^π over the class: the definition, summed exactly."""
    return float(cls.prior @ values)


def sample_environments(cls: EnvironmentClass, n: int, rng: np.random.Generator) -> np.ndarray:
    """n class indices drawn with probability 2^{−K(μ)} / Z."""
    return rng.choice(len(cls), size=n, p=cls.prior / cls.mass)


def monte_carlo_upsilon(cls: EnvironmentClass, values: np.ndarray) -> tuple[float, float]:
    """Υ̂ = Z · mean(V) over environments drawn from the prior, and its standard error Z·s/√n.
    (E[Z · V] = Σ_μ (2^{−K}/Z) · Z · V_μ = Υ: unbiased.)"""
    n = len(values)
    return cls.mass * float(values.mean()), cls.mass * float(values.std(ddof=1)) / math.sqrt(n)


def se_slope(sizes: np.ndarray, spread: np.ndarray) -> float:
    """Least-squares slope of log(spread) against log(n): −1/2 for an error ~ 1/√n."""
    return float(np.polyfit(np.log(sizes), np.log(spread), 1)[0])


# ---- the experiment ----------------------------------------------------------------------------------


def _agent_values(
    cls: EnvironmentClass, cfg: Config, name: str, env: np.ndarray, rng: np.random.Generator, planner: Any
) -> np.ndarray:
    """One episode's V per entry of ``env`` for a named agent."""
    if name == "random":
        return random_values(cls, env, cfg.horizon, rng)
    if name == "fixed":
        return fixed_values(cls, env, cfg.horizon)
    if name == "Q-learning":
        return q_learning_values(cls, env, cfg.horizon, rng, cfg.q_alpha, cfg.q_gamma, cfg.q_epsilon)
    return bayes_mixture_values(cls, env, planner)


def reproduce(cfg: Config, run: Run) -> None:
    cfg.validate()
    seconds: dict[str, float] = {}
    clock = time.perf_counter()
    bar = run.progress(total=5, desc="stages", unit="stage")

    # 1-2. The class: every program, minimized, canonicalized, one machine per behaviour.
    cls = environment_class(cfg.max_states)
    every = np.arange(len(cls))
    seconds["class"] = time.perf_counter() - clock
    run.log(
        f"{len(cls)} environments (behaviours) from {sum(cls.programs.values())} programs, Z = {cls.mass:.4f}"
    )
    bar.update()

    # 3-4. V per environment and agent, over the whole class.
    clock = time.perf_counter()
    planner = BayesMixturePlanner(cls, cfg.planning_depth, cfg.horizon)
    rng = run.rng("q-learning", "exact")
    values = {
        "random": random_values_exact(cls, cfg.horizon),
        "fixed": fixed_values(cls, every, cfg.horizon),
        "Q-learning": q_learning_values(
            cls, np.repeat(every, cfg.q_episodes), cfg.horizon, rng, cfg.q_alpha, cfg.q_gamma, cfg.q_epsilon
        )
        .reshape(len(cls), cfg.q_episodes)
        .mean(axis=1),
    }
    seconds["random, fixed, Q-learning"] = time.perf_counter() - clock
    clock = time.perf_counter()
    values["Bayes mixture"] = bayes_mixture_values(cls, every, planner)
    seconds["Bayes mixture"] = time.perf_counter() - clock
    informed = informed_values(cls, cfg.horizon)
    exact = {name: upsilon(cls, v) for name, v in values.items()}
    run.log("exact Υ: " + ", ".join(f"{k} {v:.5f}" for k, v in exact.items()))
    bar.update()

    # 5. Monte Carlo: the same sampled environments for every agent (paired differences).
    clock = time.perf_counter()
    sampled = sample_environments(cls, cfg.mc_samples, run.rng("monte carlo", "environments"))
    mc_values = {
        name: _agent_values(cls, cfg, name, sampled, run.rng("monte carlo", name), planner) for name in AGENTS
    }
    mc = {name: monte_carlo_upsilon(cls, v) for name, v in mc_values.items()}
    mc_gaps = {
        f"{hi} − {lo}": monte_carlo_upsilon(cls, mc_values[hi] - mc_values[lo])
        for lo, hi in (("random", "Q-learning"), ("Q-learning", "Bayes mixture"))
    }
    seconds["monte carlo"] = time.perf_counter() - clock
    bar.update()

    # The 1/√n law: se_repeats independent estimates of Υ(random) at each n, fresh environments
    # and fresh episodes every time; their standard deviation against n.
    clock = time.perf_counter()
    sizes = np.array(sorted(set(cfg.se_sizes)))
    spread, formula = np.zeros(len(sizes)), np.zeros(len(sizes))
    for i, n in enumerate(sizes):
        rng = run.rng("standard error", int(n))
        env = sample_environments(cls, int(n) * cfg.se_repeats, rng)
        v = random_values(cls, env, cfg.horizon, rng).reshape(cfg.se_repeats, int(n))
        estimates = cls.mass * v.mean(axis=1)
        spread[i] = estimates.std(ddof=1)
        formula[i] = float(np.mean(cls.mass * v.std(axis=1, ddof=1) / math.sqrt(n)))
    slope = se_slope(sizes, spread)
    seconds["standard error"] = time.perf_counter() - clock
    bar.update()

    run.metric(
        "class_size",
        {
            str(s): {
                "programs": cls.programs[s],
                "canonical_minimal_machines": cls.canonical[s],
                "environments": int((cls.states == s).sum()),
                "K_bits": description_length(s),
            }
            for s in range(1, cfg.max_states + 1)
        },
    )
    run.metric("environments", len(cls))
    run.metric("kraft_sum", kraft_sum(cfg.max_states))
    run.metric("prior_mass_Z", cls.mass)
    run.metric("upsilon_exact", exact)
    run.metric("upsilon_exact_over_Z", {k: v / cls.mass for k, v in exact.items()})
    run.metric("upsilon_informed_ceiling", upsilon(cls, informed))
    run.metric("upsilon_mc", {k: {"estimate": e, "se": s} for k, (e, s) in mc.items()})
    run.metric("upsilon_mc_differences", {k: {"estimate": e, "se": s} for k, (e, s) in mc_gaps.items()})
    run.metric(
        "mean_value_by_states",
        {
            name: {str(s): float(v[cls.states == s].mean()) for s in range(1, cfg.max_states + 1)}
            for name, v in {**values, "informed ceiling": informed}.items()
        },
    )
    run.metric("complexity_bits", cls.complexity)
    run.metric("values_per_environment", {k: np.round(v, 4) for k, v in values.items()})
    run.metric(
        "se_by_n", {str(int(n)): {"spread": s, "formula": f} for n, s, f in zip(sizes, spread, formula)}
    )
    run.metric("se_slope", slope)
    run.metric("bayes_plans_computed", len(planner.plans))
    run.metric("seconds", {k: round(v, 3) for k, v in seconds.items()})

    gap = min(exact["Q-learning"] - exact["random"], exact["Bayes mixture"] - exact["Q-learning"])
    run.check(CARD.claims[0], gap)
    run.check(CARD.claims[1], slope)

    _plot(run, cls, exact, mc, values, informed, sizes, spread, formula)
    bar.update()
    bar.close()


def _plot(
    run: Run,
    cls: EnvironmentClass,
    exact: dict[str, float],
    mc: dict[str, tuple[float, float]],
    values: dict[str, np.ndarray],
    informed: np.ndarray,
    sizes: np.ndarray,
    spread: np.ndarray,
    formula: np.ndarray,
) -> None:
    from matplotlib.ticker import NullLocator

    from landmarks.plots import plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    x = np.arange(len(AGENTS))
    ax.bar(x - 0.2, [exact[a] for a in AGENTS], 0.4, label="exact sum over the class")
    ax.bar(
        x + 0.2,
        [mc[a][0] for a in AGENTS],
        0.4,
        yerr=[2 * mc[a][1] for a in AGENTS],
        capsize=4,
        label="Monte Carlo ± 2 SE",
    )
    ceiling = upsilon(cls, informed)
    ax.axhline(ceiling, color="grey", ls="--", lw=1, label="ceiling: an agent told μ's table")
    low = min(min(exact.values()), min(e - 2 * s for e, s in mc.values()))
    ax.set_ylim(low - 0.01, max(ceiling, max(e + 2 * s for e, s in mc.values())) + 0.01)
    ax.set_xticks(x, AGENTS)
    ax.set_ylabel("Υ(π) = Σ 2^−K(μ) V_μ^π")
    ax.set_title(f"universal intelligence over {len(cls)} environments (Z = Σ 2^−K = {cls.mass:.4f})")
    ax.legend(fontsize=8, loc="upper left", framealpha=0.9)
    run.save_figure(fig, "upsilon", "Υ per agent: the exact sum and the Monte Carlo estimate (± 2 SE)")

    fig, axes = plt.subplots(1, len(AGENTS), figsize=(4 * len(AGENTS), 3.8), sharey=True)
    jitter = np.random.default_rng(0).uniform(-0.35, 0.35, len(cls))  # for the eye only
    ks = sorted(set(cls.complexity.tolist()))
    for ax, name in zip(axes, AGENTS):
        column = np.searchsorted(ks, cls.complexity)
        ax.scatter(column + jitter, values[name], s=4, alpha=0.4)
        for i, k in enumerate(ks):
            here = cls.complexity == k
            ax.plot([i - 0.4, i + 0.4], [values[name][here].mean()] * 2, "k-", lw=2)
        ax.set_xticks(range(len(ks)), [f"K = {k}\n({int((cls.complexity == k).sum())} envs)" for k in ks])
        ax.set_title(name)
        ax.set_ylim(-0.05, 1.05)
    axes[0].set_ylabel("V_μ^π (bar: mean over the environments)")
    run.save_figure(fig, "values_by_complexity", "V per environment against its complexity K, per agent")

    fig, ax = plt.subplots(figsize=(5.5, 4.2))
    ax.loglog(sizes, spread, "o-", label="spread of repeated estimates")
    ax.loglog(sizes, formula, "s--", ms=4, label="mean SE formula Z·s/√n")
    anchor = float(np.exp(np.mean(np.log(spread) + 0.5 * np.log(sizes))))  # the best c/√n through the points
    ax.loglog(sizes, anchor / np.sqrt(sizes), "k:", label="c/√n")
    ax.set_xticks(sizes, [str(int(n)) for n in sizes])
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlabel("environments sampled, n")
    ax.set_ylabel("standard error of Υ̂(random)")
    ax.set_title(f"slope {se_slope(sizes, spread):.3f} (1/√n: −0.5)")
    ax.legend(fontsize=8)
    run.save_figure(fig, "standard_error", "The Monte Carlo estimate's standard error against n, log-log")
