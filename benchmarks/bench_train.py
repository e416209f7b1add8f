"""Training speed: sbdlib's loop vs a plain fp32 PyTorch loop of the same Table 1 VAE.

Both train the paper's VAE (Table 1: 64 x 64 x 3 images, 10 latents, 64 channels) with
Adam at batch 16 on X-Y circles. Measurements alternate, each in a fresh process (so a
process-wide setting of one loop cannot help the other), and machine noise hits both.
The plain loop gets its images pre-rendered (its data costs nothing); sbdlib's loop
renders fresh batches as it trains. Prints images/s per round, medians and the ratio.

``--amp on`` measures sbdlib in bf16 autocast (on a CPU, fp32 is the default).

    python benchmarks/bench_train.py [--decoder sbd|deconv] [--batch 16] [--steps 20] [--rounds 5] [--amp auto]
"""

from __future__ import annotations

import argparse
import math
import statistics
import subprocess
import sys
import time

import torch
from torch import nn

from sbdlib.data import Circles
from sbdlib.models import VAE
from sbdlib.training import train

GAUSSIAN_VARIANCE = 0.3
AMP = {"auto": None, "on": True, "off": False}  # --amp -> sbdlib's amp argument


class PlainVAE(nn.Module):
    """The Table 1 VAE as one would first write it: explicit tiling, padding="same", NCHW."""

    def __init__(self, decoder: str, width: int = 64, latents: int = 10, image_size: int = 64) -> None:
        super().__init__()
        c, side, start = width, image_size // 16, image_size // 32
        self.encoder = nn.Sequential(
            nn.Conv2d(3, c, 4, 2, 1), nn.ReLU(), nn.Conv2d(c, c, 4, 2, 1), nn.ReLU(),
            nn.Conv2d(c, c, 4, 2, 1), nn.ReLU(), nn.Conv2d(c, c, 4, 2, 1), nn.ReLU(),
            nn.Flatten(), nn.Linear(side * side * c, 256), nn.ReLU(), nn.Linear(256, 2 * latents))
        if decoder == "sbd":
            self.decoder = nn.Sequential(
                nn.Conv2d(latents + 2, c, 4, padding="same"), nn.ReLU(),
                nn.Conv2d(c, c, 4, padding="same"), nn.ReLU(), nn.Conv2d(c, 3, 4, padding="same"))
        else:
            self.decoder = nn.Sequential(
                nn.Linear(latents, start * start * c), nn.ReLU(), nn.Unflatten(1, (c, start, start)),
                nn.ConvTranspose2d(c, c, 4, 2, 1), nn.ReLU(), nn.ConvTranspose2d(c, c, 4, 2, 1), nn.ReLU(),
                nn.ConvTranspose2d(c, c, 4, 2, 1), nn.ReLU(), nn.ConvTranspose2d(c, c, 4, 2, 1), nn.ReLU(),
                nn.ConvTranspose2d(c, 3, 4, 2, 1))
        self.sbd = decoder == "sbd"
        self.latents = latents
        self.image_size = image_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        stats = self.encoder(x)
        mean, logvar = stats[:, : self.latents], stats[:, self.latents :]
        z = mean + torch.randn_like(mean) * torch.exp(0.5 * logvar)
        if self.sbd:
            b, n = z.shape[0], self.image_size
            line = torch.linspace(-1, 1, n, device=z.device)
            ys, xs = torch.meshgrid(line, line, indexing="ij")
            z = torch.cat([z[:, :, None, None].expand(b, -1, n, n), xs.expand(b, 1, n, n),
                           ys.expand(b, 1, n, n)], dim=1)
        out = self.decoder(z)
        nll = ((x - out) ** 2 / (2 * GAUSSIAN_VARIANCE)).flatten(1).sum(1)
        kl = 0.5 * (mean**2 + logvar.exp() - 1 - logvar).sum(1)
        return (nll + kl).mean()


def plain_rate(model: PlainVAE, opt: torch.optim.Optimizer, data: torch.Tensor, batch: int, steps: int,
               autocast: torch.dtype | None = None) -> float:
    """Images/s of the plain loop over ``steps`` steps (forward under ``autocast`` if given)."""
    device = data.device
    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)
    sync()
    t = time.perf_counter()
    for i in range(steps):
        x = data[(i * batch) % len(data):][:batch]
        with torch.autocast(device.type, dtype=autocast or torch.bfloat16, enabled=autocast is not None):
            loss = model(x)
        opt.zero_grad()
        loss.backward()
        opt.step()
    sync()
    return steps * batch / (time.perf_counter() - t)


def worker(args: argparse.Namespace) -> float:
    """One measurement in a fresh process: images/s of ``args.worker`` ("plain" or "sbdlib")."""
    torch.manual_seed(0)
    ds = Circles("xy")
    if args.worker == "plain":
        data, _ = ds.sample(args.batch * args.steps, seed=0)
        model = PlainVAE(args.decoder, args.width)
        opt = torch.optim.Adam(model.parameters(), lr=3e-4)
        plain_rate(model, opt, data, args.batch, 2)  # warm-up
        return plain_rate(model, opt, data, args.batch, args.steps)
    vae = VAE(args.decoder, width=args.width)
    amp = AMP[args.amp]
    train(vae, ds, steps=2, batch_size=args.batch, progress="none", device="cpu", amp=amp)  # warm-up
    h = train(vae, ds, steps=args.steps, batch_size=args.batch, progress="none", seed=1, device="cpu", amp=amp)
    return len(h) * args.batch / h.seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decoder", default="sbd", choices=["sbd", "deconv"])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--amp", choices=sorted(AMP), default="auto",
                        help="sbdlib's amp (auto: the library's per-CPU choice, see sbdlib/devices.py; on: bf16 autocast)")
    parser.add_argument("--worker", choices=["plain", "sbdlib"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(f"RATE {worker(args):.3f}")
        return
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, CPU capability "
          f"{torch.backends.cpu.get_cpu_capability()}; {args.decoder} VAE, width {args.width}, batch {args.batch}, "
          f"{args.steps} steps per measurement, each in a fresh process; sbdlib amp={AMP[args.amp]}")
    rates: dict[str, list[float]] = {"plain": [], "sbdlib": []}
    for r in range(args.rounds):
        for who in ("plain", "sbdlib"):
            cmd = [sys.executable, __file__, "--worker", who, "--decoder", args.decoder, "--batch", str(args.batch),
                   "--width", str(args.width), "--steps", str(args.steps), "--amp", args.amp]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
            rates[who].append(float(out.split("RATE")[-1]))
        print(f"round {r}: plain {rates['plain'][-1]:7.1f} img/s   sbdlib {rates['sbdlib'][-1]:7.1f} img/s")
    p, o = statistics.median(rates["plain"]), statistics.median(rates["sbdlib"])
    print(f"median: plain {p:.1f} img/s, sbdlib {o:.1f} img/s, ratio {o / p:.2f}x "
          f"(sbdlib renders its data live; the plain loop's is pre-rendered)")
    assert math.isfinite(o)


if __name__ == "__main__":
    main()
