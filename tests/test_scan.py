"""The parallel scan and the in-place sweep equal the plain recurrence, outputs and gradients,
with broadcasting, an initial state and decays near 0 and 1; the selective SSM trains through
them, steps with a state of fixed size, and loads Hugging Face's MambaMixer weights with the
same outputs."""

from __future__ import annotations

import pytest
import torch

from landmarks.nn import scan as scan_module
from landmarks.nn.scan import linear_scan, sequential_scan
from landmarks.nn.ssm import MambaConfig, MambaLM, SelectiveSSM

METHODS = ["parallel", "sweep"]


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("length", [1, 2, 7, 64, 100])
def test_scan_equals_the_loop_with_gradients(length: int, method: str):
    torch.manual_seed(length)
    a = torch.rand(3, length, 4, 1, dtype=torch.float64, requires_grad=True)  # broadcasts over the last dim
    b = torch.randn(3, length, 4, 5, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(3, 4, 5, dtype=torch.float64, requires_grad=True)
    w = torch.randn(3, length, 4, 5, dtype=torch.float64)
    for init in (None, h0):
        ours, loop = linear_scan(a, b, init, method=method), sequential_scan(a, b, init)
        assert ours.shape == b.shape and torch.allclose(ours, loop, atol=1e-12)
        inputs = (a, b) if init is None else (a, b, h0)
        g1 = torch.autograd.grad((ours * w).sum(), inputs)
        g2 = torch.autograd.grad((loop * w).sum(), inputs)
        assert all(torch.allclose(x, y, atol=1e-10) for x, y in zip(g1, g2, strict=True))


@pytest.mark.parametrize("method", METHODS)
def test_scan_gradcheck_and_extreme_decays(method: str):
    a = torch.rand(2, 6, 3, dtype=torch.float64, requires_grad=True)
    b = torch.randn(2, 6, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: linear_scan(a, b, method=method), (a, b))
    a = torch.tensor([1e-30, 1.0, 1.0, 1e-30, 1.0])[None]  # forget everything, keep everything
    b = torch.arange(1.0, 6.0)[None]
    assert torch.equal(linear_scan(a, b, method=method), torch.tensor([[1.0, 3.0, 6.0, 4.0, 9.0]]))
    assert torch.allclose(linear_scan(a, b, dim=-1, method=method), sequential_scan(a, b, dim=-1))


def test_auto_sweeps_large_steps_on_the_cpu(monkeypatch: pytest.MonkeyPatch):
    """``method="auto"`` sweeps a step of SWEEP_MIN_STEP numbers or more, scans smaller ones in
    parallel; an unknown method is refused."""
    used = []
    for name in ("_sweep", "_hillis_steele"):
        real = getattr(scan_module, name)
        monkeypatch.setattr(
            scan_module,
            name,
            lambda *args, real=real, name=name: used.append(name) or real(*args),
        )
    n = scan_module.SWEEP_MIN_STEP
    linear_scan(torch.rand(2, 5, n // 2), torch.randn(2, 5, n // 2))  # a step is (2, n/2): n numbers
    linear_scan(torch.rand(1, 5, n // 2), torch.randn(1, 5, n // 2))
    assert used == ["_sweep", "_hillis_steele"]
    with pytest.raises(ValueError, match="method"):
        linear_scan(torch.rand(1, 3), torch.rand(1, 3), method="fast")  # type: ignore[arg-type]


def test_selective_ssm_scan_loop_and_steps_agree():
    torch.manual_seed(0)
    m = SelectiveSSM(16, d_state=4).double()
    u = torch.randn(2, 9, 16, dtype=torch.float64)
    out = m(u)
    assert torch.allclose(out, m(u, sequential=True), atol=1e-12)
    state = tuple(s.double() for s in m.init_state(2))
    steps = []
    for t in range(9):
        y, state = m.step(u[:, t], state)
        steps.append(y)
        assert state[1].shape == (2, 32, 4)  # the state never grows
    assert torch.allclose(torch.stack(steps, 1), out, atol=1e-12)
    assert torch.allclose(m(u[:, :5]), out[:, :5], atol=1e-12)  # causal: the future is never read


def test_mamba_lm_generates_what_its_forward_pass_predicts():
    torch.manual_seed(0)
    lm = MambaLM(MambaConfig(vocab_size=20, n_layer=2, d_model=16, d_state=4))
    idx = torch.randint(0, 20, (2, 7))
    out = lm.generate_greedy(idx, 5)
    assert torch.equal(lm(out[:, :-1]).argmax(-1)[:, 6:], out[:, 7:])
    with pytest.raises(ValueError, match="d_state"):
        MambaConfig(vocab_size=20, d_state=0).validate()


def test_loads_hugging_face_mamba_mixer_weights():
    transformers = pytest.importorskip("transformers")
    from transformers.models.mamba.modeling_mamba import MambaMixer

    cfg = transformers.MambaConfig(
        hidden_size=16,
        state_size=4,
        expand=2,
        conv_kernel=4,
        time_step_rank=1,
        use_bias=False,
        use_conv_bias=True,
        num_hidden_layers=1,
    )
    theirs = MambaMixer(cfg, 0).double().eval()
    torch.manual_seed(0)
    ours = SelectiveSSM(16, d_state=4, expand=2, d_conv=4, dt_rank=1).double()
    theirs.load_state_dict(ours.state_dict(), strict=True)
    u = torch.randn(2, 9, 16, dtype=torch.float64)
    with torch.no_grad():
        assert torch.allclose(theirs(u), ours(u), atol=1e-9)
