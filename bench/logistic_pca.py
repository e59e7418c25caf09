"""Logistic PCA: PCA for data in [0, 1] under a Bernoulli likelihood (Collins et al. 2002;
Schein et al. 2003), the middle baseline of Hinton & Salakhutdinov's Fig. 2.

Each image x_n (D pixels) gets natural parameters theta_n = mu + V u_n: a shared offset mu (D,),
a shared basis V (D, k) and its own code u_n (k,); the model is x_n ~ Bernoulli(sigmoid(theta_n))
(pixels in [0, 1] act as soft targets). Fitting minimises the cross-entropy over mu, V and every
u_n by full-batch Adam in torch. There is no encoder: the code of a new image is found the same
way with mu and V held fixed, which is how exponential-family PCA projects data.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


class LogisticPCA:
    """scikit-learn-like: ``fit(X)``, ``transform(X) -> codes``, ``inverse_transform(codes) -> probabilities``."""

    def __init__(self, n_components: int = 30, n_iter: int = 300, lr: float = 0.05, random_state: int | None = 0):
        self.n_components = n_components
        self.n_iter = n_iter
        self.lr = lr
        self.random_state = random_state

    def fit(self, X: np.ndarray) -> "LogisticPCA":
        x = torch.as_tensor(np.asarray(X, dtype=np.float32).reshape(len(X), -1))
        gen = torch.Generator().manual_seed(self.random_state or 0)
        d, k = x.shape[1], self.n_components
        # Start from the logits of the mean image and a small random basis; Adam does the rest.
        mean = x.mean(0).clamp(1e-3, 1 - 1e-3)
        mu = torch.log(mean / (1 - mean)).requires_grad_(True)
        v = (torch.randn(d, k, generator=gen) * 0.01).requires_grad_(True)
        u = torch.zeros(len(x), k, requires_grad=True)
        self.loss_curve_ = self._minimise(x, [mu, v, u], lambda: (mu, v, u))
        self.mean_logits_, self.components_ = mu.detach(), v.detach()
        return self

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Codes u (N, k) that best explain X with the fitted offset and basis held fixed."""
        x = torch.as_tensor(np.asarray(X, dtype=np.float32).reshape(len(X), -1))
        u = torch.zeros(len(x), self.n_components, requires_grad=True)
        self._minimise(x, [u], lambda: (self.mean_logits_, self.components_, u))
        return u.detach().numpy()

    def inverse_transform(self, codes: np.ndarray) -> np.ndarray:
        """Bernoulli means sigmoid(mu + V u): (N, D) in [0, 1]."""
        u = torch.as_tensor(codes, dtype=torch.float32)
        return torch.sigmoid(self.mean_logits_ + u @ self.components_.T).numpy()

    def _minimise(self, x: torch.Tensor, params: list[torch.Tensor], current) -> list[float]:
        """Adam over ``params`` on the mean per-image cross-entropy; returns the loss per iteration."""
        opt = torch.optim.Adam(params, lr=self.lr)
        curve = []
        for _ in range(self.n_iter):
            mu, v, u = current()
            logits = torch.addmm(mu, u, v.T)  # (N, k) @ (k, D) + (D,) -> (N, D)
            loss = F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / len(x)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            curve.append(loss.item())
        return curve
