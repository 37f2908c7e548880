"""The CUDA path: the same modules on a GPU agree with the CPU and with torch's cuDNN kernels.

Skipped where no GPU is present (CI has none); run on a GPU machine with
``pytest tests/test_cuda.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from landmarks import registry
from landmarks.cli import main
from landmarks.papers import lstm, resnet

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
CUDA = torch.device("cuda")


@pytest.fixture(autouse=True)
def _exact_matmuls():
    """TF32 would round matmuls to 10 bits of mantissa; parity needs full float32."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


@pytest.mark.parametrize(
    "ours_cls, ref_cls",
    [(lstm.RNN, nn.RNN), (lstm.LSTM, nn.LSTM), (lstm.GRU, nn.GRU)],
    ids=lambda c: c.__name__,
)
@pytest.mark.parametrize("fused", [True, False], ids=["fused", "explicit"])
def test_recurrent_stacks_match_cudnn(ours_cls, ref_cls, fused):
    torch.manual_seed(0)
    ref = ref_cls(5, 16, num_layers=2, batch_first=True).to(CUDA)
    ours = ours_cls(5, 16, num_layers=2, batch_first=True, fused=fused).to(CUDA)
    ours.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(4, 30, 5, device=CUDA, requires_grad=True)
    x_ref = x.detach().clone().requires_grad_()
    out, _ = ours(x)
    out_ref, _ = ref(x_ref)
    torch.testing.assert_close(out, out_ref, atol=1e-5, rtol=1e-4)
    out.square().sum().backward()
    out_ref.square().sum().backward()
    torch.testing.assert_close(x.grad, x_ref.grad, atol=1e-5, rtol=1e-4)
    for p, q in zip(ours.parameters(), ref.parameters(), strict=True):
        torch.testing.assert_close(p.grad, q.grad, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize(
    "ours_cls, ref_cls",
    [(lstm.RNN, nn.RNN), (lstm.LSTM, nn.LSTM), (lstm.GRU, nn.GRU)],
    ids=lambda c: c.__name__,
)
@pytest.mark.parametrize("fused", [True, False], ids=["fused", "explicit"])
@pytest.mark.parametrize("lengths_on", ["cpu", "cuda"])
def test_padded_batch_with_lengths_matches_cudnn_packed(ours_cls, ref_cls, fused, lengths_on):
    """``lengths=`` on the GPU, given on either device, equals cuDNN on a PackedSequence."""
    torch.manual_seed(0)
    ref = ref_cls(5, 16, num_layers=2, batch_first=True).to(CUDA)
    ours = ours_cls(5, 16, num_layers=2, batch_first=True, fused=fused).to(CUDA)
    ours.load_state_dict(ref.state_dict(), strict=True)
    lengths = torch.tensor([3, 12, 1, 9])
    x = torch.randn(4, 12, 5, device=CUDA)
    packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    out_ref, final_ref = ref(packed)
    out_ref, _ = nn.utils.rnn.pad_packed_sequence(out_ref, batch_first=True, total_length=12)
    out, final = ours(x, lengths=lengths.to(lengths_on))
    torch.testing.assert_close(out, out_ref, atol=1e-5, rtol=1e-4)
    final_ref = final_ref if isinstance(final_ref, tuple) else (final_ref,)
    final = final if isinstance(final, tuple) else (final,)
    for got, want in zip(final, final_ref, strict=True):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)


def test_resnet_on_gpu_matches_cpu():
    torch.manual_seed(0)
    model = resnet.resnet18().eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        cpu = model(x)
        gpu = model.to(CUDA)(x.to(CUDA)).cpu()
    torch.testing.assert_close(gpu, cpu, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("pid", registry.ids())
def test_quick_run_on_cuda(pid: str, tmp_path: Path) -> None:
    assert main(["run", pid, "--quick", "--device", "cuda", "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / pid / "result.json").read_text())
    assert result["device"].startswith("cuda")
    assert result["claims"]


def test_ctc_written_out_matches_torch_on_gpu():
    from landmarks.nn.ctc import ctc_loss

    g = torch.Generator().manual_seed(0)
    logits = torch.randn(40, 6, 28, generator=g)
    targets = torch.randint(1, 28, (6, 12), generator=g)
    input_lengths = torch.tensor([40, 38, 30, 40, 25, 33])
    target_lengths = torch.tensor([12, 10, 7, 1, 0, 12])
    ours_in = logits.to(CUDA).requires_grad_()
    theirs_in = logits.to(CUDA).requires_grad_()
    args = (targets.to(CUDA), input_lengths.to(CUDA), target_lengths.to(CUDA))
    ours = ctc_loss(ours_in.log_softmax(-1), *args, reduction="sum")
    theirs = torch.nn.functional.ctc_loss(theirs_in.log_softmax(-1), *args, reduction="sum")
    torch.testing.assert_close(ours, theirs, atol=1e-4, rtol=1e-5)
    ours.backward()
    theirs.backward()
    torch.testing.assert_close(ours_in.grad, theirs_in.grad, atol=1e-4, rtol=1e-4)
    cpu = ctc_loss(logits.log_softmax(-1), targets, input_lengths, target_lengths, reduction="sum")
    torch.testing.assert_close(ours.cpu(), cpu, atol=1e-3, rtol=1e-5)
