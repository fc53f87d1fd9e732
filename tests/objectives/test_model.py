from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from objectives.lightning_module import ReconstructionClassifier
from objectives.model import ReconBiLSTM, reconstruction_loss
from objectives.profiles import get_profile
from objectives.search_space import TrialParams


@pytest.mark.parametrize(("hidden", "n_mels", "n_classes"), [(8, 16, 3), (32, 32, 8), (64, 128, 10)])
def test_output_shapes(hidden, n_mels, n_classes):
    model = ReconBiLSTM(n_mels, n_classes, hidden, dropout=0.2)
    x = torch.rand(5, 21, n_mels) * 2 - 1
    logits, reconstruction = model(x)
    assert logits.shape == (5, n_classes)
    assert reconstruction.shape == x.shape
    assert reconstruction.min() >= -1 and reconstruction.max() <= 1


def test_layers_follow_the_reference():
    model = ReconBiLSTM(n_mels=40, n_classes=8, hidden=24, dropout=0.5)
    assert model.lstm1.input_size == 40 and model.lstm1.hidden_size == 24
    assert model.lstm1.bidirectional and model.lstm2.bidirectional
    assert model.lstm2.input_size == 48
    assert (model.fc.in_features, model.fc.out_features) == (48, 24)
    assert (model.classifier.in_features, model.classifier.out_features) == (24, 8)
    assert (model.reconstruction.in_features, model.reconstruction.out_features) == (48, 40)
    assert model.input_dropout.p == model.sequence_dropout.p == model.fc_dropout.p == 0.5


def test_l1_term_matches_its_definition():
    x = torch.tensor([[[0.5, -1.0], [0.0, 1.0]]])
    x_hat = torch.tensor([[[0.0, -0.5], [1.0, 1.0]]])
    # |0.5| + |-0.5| + |-1| + |0| over 4 elements
    assert reconstruction_loss(x, x_hat).item() == pytest.approx(0.5)


def _step(lam: float, dropout: float = 0.0):
    torch.manual_seed(0)
    profile = get_profile("quick")
    module = ReconstructionClassifier(16, 4, TrialParams(lam=lam, dropout=dropout, hidden=8),
                                      profile.train)
    module.log_dict = lambda *a, **k: None  # no trainer attached in a unit test
    module.log = lambda *a, **k: None
    x = torch.rand(6, 10, 16) * 2 - 1
    y = torch.tensor([0, 1, 2, 3, 0, 1])
    loss = module.training_step((x, y), 0)
    loss.backward()
    return module, loss, x, y


def test_lambda_zero_leaves_reconstruction_head_without_gradient():
    module, _, _, _ = _step(0.0, dropout=0.2)
    assert module.model.reconstruction.weight.grad is None
    assert module.model.classifier.weight.grad.abs().sum() > 0


def test_positive_lambda_trains_the_reconstruction_head():
    module, _, _, _ = _step(10.0, dropout=0.2)
    grad = module.model.reconstruction.weight.grad
    assert grad is not None and grad.abs().sum() > 0


@pytest.mark.parametrize("lam", [0.0, 0.5, 10.0])
def test_loss_is_cross_entropy_plus_lambda_times_l1(lam):
    module, loss, x, y = _step(lam)
    with torch.no_grad():
        logits, reconstruction = module.model(x)
        expected = F.cross_entropy(logits, y) + lam * (x - reconstruction).abs().mean()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)


def test_lambda_zero_keeps_architecture_and_dropout():
    profile = get_profile("quick")
    off = ReconstructionClassifier(16, 4, TrialParams(0.0, 0.3, 8), profile.train)
    on = ReconstructionClassifier(16, 4, TrialParams(1.0, 0.3, 8), profile.train)
    assert [n for n, _ in off.named_parameters()] == [n for n, _ in on.named_parameters()]
    assert off.model.input_dropout.p == on.model.input_dropout.p == 0.3
