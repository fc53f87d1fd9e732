"""The Lightning module: one shared step for train and validation, metrics namespaced by stage."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from lightning.pytorch import LightningModule

from objectives.model import ReconBiLSTM, reconstruction_loss
from objectives.profiles import TrainSettings
from objectives.search_space import TrialParams


class ReconstructionClassifier(LightningModule):
    """Cross-entropy + λ · L1(x, x̂). Logs `*/loss`, `*/ce`, `*/recon`, `*/acc`, `val/best_acc`;
    `predict_step` gives the predicted class of each window (test and holdout clips)."""

    def __init__(self, n_mels: int, n_classes: int, params: TrialParams,
                 train_settings: TrainSettings) -> None:
        super().__init__()
        self.model = ReconBiLSTM(n_mels, n_classes, params.hidden, params.dropout)
        self.lam = params.lam
        self.train_settings = train_settings
        self.best_val_acc = 0.0
        self.val_curve: list[float] = []
        self._correct = 0
        self._seen = 0

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.model(x)

    def _shared_step(self, batch: tuple[torch.Tensor, torch.Tensor], stage: str) -> torch.Tensor:
        x, y = batch
        logits, reconstruction = self.model(x)
        ce = F.cross_entropy(logits, y)
        recon = reconstruction_loss(x, reconstruction)
        # With λ = 0 the reconstruction term is left out of the graph (its head gets no gradient)
        # but is still measured, so baseline and λ > 0 trials log the same metrics.
        loss = ce if self.lam == 0 else ce + self.lam * recon
        correct = (logits.argmax(dim=1) == y).sum()
        size = len(y)
        self.log_dict({f"{stage}/loss": loss, f"{stage}/ce": ce, f"{stage}/recon": recon},
                      on_step=False, on_epoch=True, batch_size=size)
        if stage == "train":
            self.log("train/acc", correct.float() / size, on_step=False, on_epoch=True,
                     batch_size=size)
        else:
            # Exact counts rather than a mean of batch means: the last batch is usually smaller.
            self._correct += int(correct)
            self._seen += size
        return loss

    def training_step(self, batch, batch_idx):
        return self._shared_step(batch, "train")

    def validation_step(self, batch, batch_idx):
        self._shared_step(batch, "val")

    def predict_step(self, batch, batch_idx):
        logits, _ = self.model(batch[0])
        return logits.argmax(dim=1)

    def _epoch_accuracy(self) -> float:
        accuracy = self._correct / max(self._seen, 1)
        self._correct = self._seen = 0
        return accuracy

    def on_validation_epoch_end(self) -> None:
        accuracy = self._epoch_accuracy()
        if self.trainer.sanity_checking:
            return
        self.val_curve.append(accuracy)
        self.best_val_acc = max(self.best_val_acc, accuracy)
        self.log_dict({"val/acc": accuracy, "val/best_acc": self.best_val_acc})

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        # A resume checkpoint continues the curve and the best so far, not only the weights.
        checkpoint["val_curve"] = list(self.val_curve)
        checkpoint["best_val_acc"] = self.best_val_acc

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.val_curve = list(checkpoint.get("val_curve", []))
        self.best_val_acc = float(checkpoint.get("best_val_acc", 0.0))

    def optimizer_step(self, epoch, batch_idx, optimizer, optimizer_closure=None):
        warmup_steps = self.train_settings.warmup_epochs * self.trainer.num_training_batches
        if self.trainer.global_step < warmup_steps:
            # Ramp towards the decayed rate the epoch scheduler would give, so that the decay
            # picks up exactly where the warm-up ends.
            target = self.train_settings.learning_rate * self.train_settings.lr_decay ** epoch
            scale = (self.trainer.global_step + 1) / warmup_steps
            for group in optimizer.param_groups:
                group["lr"] = target * min(1.0, scale)
        super().optimizer_step(epoch, batch_idx, optimizer, optimizer_closure)

    def configure_optimizers(self):
        optimizer = torch.optim.Adam(self.parameters(), lr=self.train_settings.learning_rate)
        decay = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=self.train_settings.lr_decay)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": decay, "interval": "epoch"}}
