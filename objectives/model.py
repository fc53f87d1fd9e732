"""The reference model: a 2-layer BiLSTM classifier over log-mel frames with a reconstruction head.

It takes plain numbers (hidden size, dropout) and never sees a trial.
"""

from __future__ import annotations

import torch
from torch import nn


class ReconBiLSTM(nn.Module):
    """BiLSTM classifier that also reconstructs its input frames.

    x (batch, frames, n_mels) → dropout → BiLSTM(n_mels→h) → BiLSTM(2h→h) → dropout →
    (a) max over time → fc(2h→h) + ReLU + dropout → classifier(h→classes)
    (b) per frame fc(2h→n_mels), clamped to [-1, 1] like the scaled log-mel input.
    """

    def __init__(self, n_mels: int, n_classes: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.input_dropout = nn.Dropout(dropout)
        self.lstm1 = nn.LSTM(n_mels, hidden, batch_first=True, bidirectional=True)
        self.lstm2 = nn.LSTM(2 * hidden, hidden, batch_first=True, bidirectional=True)
        self.sequence_dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(2 * hidden, hidden)
        self.fc_dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(hidden, n_classes)
        self.reconstruction = nn.Linear(2 * hidden, n_mels)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (class logits (batch, classes), reconstruction (batch, frames, n_mels))."""
        sequence, _ = self.lstm1(self.input_dropout(x))
        sequence, _ = self.lstm2(sequence)
        sequence = self.sequence_dropout(sequence)
        pooled = sequence.max(dim=1).values
        hidden = self.fc_dropout(torch.relu(self.fc(pooled)))
        logits = self.classifier(hidden)
        reconstruction = torch.clamp(self.reconstruction(sequence), -1.0, 1.0)
        return logits, reconstruction


def reconstruction_loss(x: torch.Tensor, reconstruction: torch.Tensor) -> torch.Tensor:
    """Mean absolute error between input frames and their reconstruction (the reference's L1)."""
    return torch.mean(torch.abs(x - reconstruction))
