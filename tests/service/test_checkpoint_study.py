"""A study whose proxy starts from a user's pretrained PyTorch checkpoint (issue 22 item 4)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F  # noqa: N812

from epim.datasets import load_cached_dataset
from epim.errors import InputError
from epim.nn import from_torch, torch_checkpoint
from epim.proxy import torch_threads, train_proxy
from epim.search import StudySpec
from epim.service import make_accuracy, prepare_submission, run_study_here
from epim.space import Design
from epim.workloads import network_from_dict, network_to_dict
from tests.nn.models import ResNetLike

SHAPE = (1, 8, 8)  # scikit-learn's digits


def pretrained(path: Path) -> dict[str, object]:
    """Train the user's module on digits, save its checkpoint; its network document."""
    torch.manual_seed(0)
    data = load_cached_dataset("digits")
    module = ResNetLike(in_channels=1)
    optimizer = torch.optim.Adam(module.parameters(), lr=0.01)
    x, y = torch.from_numpy(data.x_train), torch.from_numpy(data.y_train)
    with torch_threads(1):  # tiny convolutions: more threads only contend
        for step in range(80):
            batch = slice((step * 64) % (len(x) - 64), (step * 64) % (len(x) - 64) + 64)
            optimizer.zero_grad()
            F.cross_entropy(module(x[batch]), y[batch]).backward()
            optimizer.step()
    module.eval()
    torch.save(torch_checkpoint(module, SHAPE), path)
    return network_to_dict(from_torch(module, SHAPE, name="user-resnet"))


@pytest.fixture(scope="module")
def user(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, object], Path]:
    """The user's network document and checkpoint file (trained once for the module)."""
    path = tmp_path_factory.mktemp("checkpoint") / "user.pt"
    return pretrained(path), path


def spec(network: dict[str, object], checkpoint: str | None, width: float = 1.0) -> StudySpec:
    return StudySpec.model_validate({
        "name": f"ckpt-{checkpoint}-{width}", "network": network,
        "objectives": [{"metric": "accuracy", "direction": "maximize"},
                       {"metric": "crossbars"}],
        "sampler": {"name": "random", "seed": 0}, "budget": {"n_trials": 2},
        "accuracy": {"dataset": "digits", "width": width, "steps": 1, "lr": 0.001,
                     "pretrain_steps": 0, "eval_samples": None, "checkpoint": checkpoint},
        "baseline_bits": 8})


def test_the_proxy_fine_tunes_from_the_checkpoint(user: tuple[dict[str, object], Path],
                                                  tmp_path: Path) -> None:
    network, path = user
    url = f"sqlite:///{tmp_path / 'epim.db'}"
    row = run_study_here(spec(network, "user"), url, checkpoints={"user": path})
    assert row.status == "completed", row.error
    assert row.baseline is not None
    # One step from the pretrained weights keeps them; one step from random ones is chance.
    net = network_from_dict(network)
    scratch = train_proxy(net, Design.dense(net, 8, 8), make_accuracy(spec(network, None))
                          .config())  # type: ignore[union-attr]
    assert row.baseline["metrics"]["accuracy"] > 0.8, row.baseline
    assert scratch.accuracy < 0.5, scratch


def test_a_checkpoint_is_checked_at_submission(user: tuple[dict[str, object], Path],
                                               tmp_path: Path) -> None:
    network, path = user
    with pytest.raises(InputError, match="no checkpoint named 'other'") as caught:
        prepare_submission(spec(network, "other"), checkpoints={"user": path})
    assert (caught.value.location, caught.value.field) == (("accuracy",), "checkpoint")
    assert "user" in str(caught.value.expected)
    # the pretrained layers are the user's own: no rescaling, and every tensor must fit
    with pytest.raises(InputError, match=r"width 0\.5 would rescale") as caught:
        prepare_submission(spec(network, "user", width=0.5),
                           checkpoints={"user": path})
    assert (caught.value.location, caught.value.field) == (("accuracy",), "width")
    state = torch.load(path, weights_only=True)
    torch.save({**state, "layer2.0.conv1.weight": torch.zeros(16, 8, 1, 1)}, tmp_path / "bad.pt")
    with pytest.raises(InputError, match=r"checkpoint 'bad': tensor 'layer2\.0\.conv1\.weight' "
                                         r"has shape \[16, 8, 1, 1\]") as caught:
        prepare_submission(spec(network, "bad"), checkpoints={"bad": tmp_path / "bad.pt"})
    assert caught.value.field == "checkpoint" and str(tmp_path) not in str(caught.value)
    with pytest.raises(ValueError, match="checkpoint needs proxy: train"):
        StudySpec.model_validate({**spec(network, "user").model_dump(), "accuracy": {
            "proxy": "synflow", "checkpoint": "user"}})
