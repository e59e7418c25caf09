"""Restoration benchmarks: deepae's shipped models against the tools people use instead.

- denoise-mnist: the Keras tutorial's denoising protocol on the first 1000 MNIST test digits.
- denoise-kodak: Kodak24 as grayscale with additive gaussian noise (sigma 25/255), BM3D beside.
- upscale-kodak: Kodak24 downscaled x2/x3/x4 (Pillow bicubic), PSNR on Y, bicubic and Lanczos beside.
- colorize-kodak: Kodak24 turned gray and coloured again; PSNR and colourfulness.
- unwatermark-kodak: Kodak24 under semi-transparent text in fonts and words training never saw.

Kodak is the test set: the shipped models were trained on ../shared/data/photos
(``python -m bench.train_restore TASK``) and no setting here was chosen by looking at Kodak.
Each benchmark writes NAME.md/json and a strip (input | deepae | best baseline | original).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from deepae.apps import restore as R

from ._core import Context, Report, Timer, pyplot, register, save_figure

KODAK = [f"kodim{i:02d}.png" for i in range(1, 25)]
STRIP_IMAGE, STRIP_BOX = "kodim23.png", (200, 150, 456, 406)  # a 256x256 crop (left, top, right, bottom)
# Words for the watermark benchmark: none of them is in deepae.degrade's training word list.
# --quick: a smoke test on 2 Kodak images (centre crops of `crop` px when set) and 200 digits.
QUICK = dict(images=2, crop=None, digits=200, n_train=2000, epochs=1)
BENCH_TEXTS = ["Kodak Test", "PREVIEW ONLY", "(c) 1991 Eastman", "lumiere studio", "NOT FOR SALE", "fotoarchiv 24"]


def kodak(ctx: Context) -> list[tuple[str, np.ndarray]]:
    """(name, (H, W, 3) uint8) for the Kodak images (QUICK's under --quick)."""
    names = KODAK[: QUICK["images"]] if ctx.quick else KODAK
    folder = ctx.data_dir / "kodak"
    if not folder.is_dir():
        raise SystemExit(f"{folder} is missing: the Kodak benchmarks need ../shared/data/kodak (or --data-dir)")
    images = [(n, np.asarray(Image.open(folder / n).convert("RGB"))) for n in names]
    c = QUICK["crop"] if ctx.quick else None
    if c:
        images = [(n, im[(im.shape[0] - c) // 2:][:c, (im.shape[1] - c) // 2:][:, :c]) for n, im in images]
    return images


def psnr(a: np.ndarray, b: np.ndarray, peak: float = 1.0) -> float:
    mse = np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2)
    return float(10 * np.log10(peak**2 / mse)) if mse > 0 else float("inf")


def denoise_channel_by_channel(model: torch.nn.Module, rgb: torch.Tensor, sigma: float) -> torch.Tensor:
    """(3, H, W) noisy RGB -> the denoiser's model applied to R, G and B one by one (``sigma`` in [0, 1]
    units, no mirrored margin): what deepae did to colour photos before its opponent-channel path."""
    from deepae.apps.denoise import _with_noise_map

    return R.run_model(model, _with_noise_map(rgb[:, None], torch.full((3,), sigma)))[:, 0]


def ssim(a: np.ndarray, b: np.ndarray, data_range: float = 1.0) -> float:
    from skimage.metrics import structural_similarity

    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(structural_similarity(a, b, data_range=data_range, channel_axis=-1 if a.ndim == 3 else None))


def strip(ctx: Context, panels: list[tuple[str, np.ndarray]], title: str, suffix: str = "-strip.png") -> str:
    """A row of same-size images with captions: what a person judges the result by."""
    plt = pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3.6))
    for ax, (caption, img) in zip(axes, panels):
        img = np.asarray(img)
        ax.imshow(img if img.ndim == 3 and img.shape[2] == 3 else img.squeeze(), cmap="gray", vmin=0,
                  vmax=255 if img.dtype == np.uint8 else 1, interpolation="nearest")
        ax.set_title(caption, fontsize=9)
        ax.axis("off")
    fig.suptitle(title, fontsize=10)
    path = ctx.path(suffix)
    save_figure(fig, path)
    return path.name


def crop(img: np.ndarray, box=STRIP_BOX, scale: int = 1) -> np.ndarray:
    """The strip's detail of ``img`` (all of it when it is smaller, as in quick runs)."""
    left, top, right, bottom = (v * scale for v in box)
    return img[top:bottom, left:right] if img.shape[0] >= bottom and img.shape[1] >= right else img


def to_u8(x: np.ndarray) -> np.ndarray:
    return np.rint(np.clip(x, 0, 1) * 255).astype(np.uint8)


def mean(values) -> float:
    return float(np.mean(list(values)))


# -- denoise-mnist --------------------------------------------------------------------------------
@register("denoise-mnist")
def denoise_mnist(ctx: Context) -> Report:
    """MNIST test digits under gaussian noise (std 0.5, clipped): deepae denoisers vs classic filters and PCA."""
    from scipy.ndimage import median_filter
    from skimage.restoration import denoise_nl_means, denoise_tv_chambolle
    from sklearn.decomposition import PCA

    import deepae
    from deepae.losses import Objective
    from deepae.train import TrainConfig, Trainer

    q = ctx.quick
    train = ctx.data("mnist", "train", QUICK["n_train"]).x
    clean = ctx.data("mnist", "test").x[: QUICK["digits"] if q else 1000]  # (N, 1, 28, 28)
    g = torch.Generator().manual_seed(0)
    noisy = (torch.from_numpy(clean) + 0.5 * torch.randn(clean.shape, generator=g)).clamp(0, 1).numpy()
    outputs: dict[str, np.ndarray] = {"noisy input": noisy}
    seconds: dict[str, float] = {}
    with Timer() as t:
        outputs["median 3x3"] = np.stack([median_filter(im, size=(1, 3, 3)) for im in noisy])
    seconds["median 3x3"] = t.seconds
    with Timer() as t:
        outputs["NL-means"] = np.stack([denoise_nl_means(im[0], h=0.5, sigma=0.5, fast_mode=True)[None] for im in noisy])
    seconds["NL-means"] = t.seconds
    with Timer() as t:
        outputs["TV (Chambolle)"] = np.stack([denoise_tv_chambolle(im[0], weight=0.3)[None] for im in noisy])
    seconds["TV (Chambolle)"] = t.seconds
    with Timer() as t:
        pca = PCA(64, random_state=0).fit(train.reshape(len(train), -1))
        outputs["PCA-64"] = pca.inverse_transform(pca.transform(noisy.reshape(len(noisy), -1))).reshape(noisy.shape)
    seconds["PCA-64"] = t.seconds

    # The Keras tutorial's denoising conv AE (preset keras-denoise), and deepae's image2image U-Net,
    # both trained on noisy training digits (fresh noise each step) against the clean ones.
    epochs = QUICK["epochs"] if q else 8
    with Timer() as t:
        params = {**deepae.get_preset("keras-denoise").params, "epochs": epochs, "random_state": 0}
        ae = deepae.AutoEncoder(**params).fit(train)
        outputs["deepae conv AE (keras-denoise)"] = ae.reconstruct(noisy)
    seconds["deepae conv AE (keras-denoise)"] = t.seconds
    with Timer() as t:
        net = deepae.create_model("image2image", in_channels=1, channels=(32, 64), blocks=2)
        objective = Objective(loss="bce", noise="gaussian", noise_level=0.5)
        Trainer(net, objective, TrainConfig(epochs=epochs, batch_size=128, optimizer="adam", lr=2e-3,
                                            scheduler="cosine", random_state=0, progress=False)).fit(train)
        with torch.inference_mode():
            outputs["deepae image2image U-Net"] = torch.sigmoid(net.eval()(torch.from_numpy(noisy)).logits).numpy()
    seconds["deepae image2image U-Net"] = t.seconds

    rows = []
    for name, out in outputs.items():
        scores = [psnr(np.clip(o, 0, 1), c) for o, c in zip(out, clean)]
        rows.append({"method": name, "PSNR dB (mean of 1000)": mean(scores),
                     "SSIM": mean(ssim(o[0], c[0]) for o, c in zip(np.clip(out, 0, 1), clean)),
                     "seconds (fit + apply)": seconds.get(name)})
    score = lambda r: r["PSNR dB (mean of 1000)"]  # noqa: E731
    best_deepae = max((r for r in rows if r["method"].startswith("deepae")), key=score)
    best_peer = max((r for r in rows if not r["method"].startswith(("deepae", "noisy"))), key=score)
    n = 8
    panels = [("original", np.concatenate(list(clean[:n, 0]), 1)), ("noisy", np.concatenate(list(noisy[:n, 0]), 1)),
              (best_peer["method"], np.concatenate(list(np.clip(outputs[best_peer["method"]][:n, 0], 0, 1)), 1)),
              (best_deepae["method"], np.concatenate(list(np.clip(outputs[best_deepae["method"]][:n, 0], 0, 1)), 1))]
    plot = _stack_strip(ctx, panels, "MNIST, gaussian noise std 0.5 (clipped): 8 test digits")
    target = 20.0
    headline = [{"metric": "denoise-mnist: PSNR on 1000 test digits, noise std 0.5", "published": None,
                 "ours": f"{best_deepae['PSNR dB (mean of 1000)']:.2f} dB ({best_deepae['method']})",
                 "peer": f"{best_peer['method']} {best_peer['PSNR dB (mean of 1000)']:.2f} dB", "ratio": None,
                 "target": f">= {target} dB", "met": best_deepae["PSNR dB (mean of 1000)"] >= target}]
    notes = [f"Both deepae models trained {epochs} epochs on {len(train):,} training digits with fresh noise each step; "
             "settings are the tutorial's (conv AE) or chosen before this run (U-Net: Adam 2e-3, cosine) on no test data.",
             "PSNR: mean over images of per-image PSNR (data range 1); outputs clipped to [0, 1]."]
    return Report("denoise-mnist: MNIST digits under heavy gaussian noise", rows, headline, notes=notes, plots=[plot],
                  figures={"epochs": epochs, "n_test": len(clean)})


def _stack_strip(ctx: Context, rows: list[tuple[str, np.ndarray]], title: str) -> str:
    plt = pyplot()
    fig, axes = plt.subplots(len(rows), 1, figsize=(8, 1.3 * len(rows)))
    for ax, (caption, img) in zip(axes, rows):
        ax.imshow(img, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.set_ylabel(caption, rotation=0, ha="right", va="center", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(title, fontsize=10)
    path = ctx.path("-strip.png")
    save_figure(fig, path)
    return path.name


# -- denoise-kodak --------------------------------------------------------------------------------
@register("denoise-kodak")
def denoise_kodak(ctx: Context) -> Report:
    """Kodak24 in grayscale under gaussian noise (std 25/255, not clipped): deepae vs BM3D."""
    import bm3d

    spec, model = R.get_task("denoise"), R.load_task_model("denoise")
    sigma = 25 / 255
    rows, results = [], {"noisy": [], "BM3D": [], "deepae (sigma given)": [], "deepae (sigma estimated)": []}
    times = {k: [] for k in results}
    colour = {"noisy": [], "deepae (opponent channels)": [], "deepae (channel by channel)": []}
    strip_panels = None
    for i, (name, rgb) in enumerate(kodak(ctx)):
        # colour: the same noise in each RGB channel; deepae's colour path against its model applied
        # to R, G and B one by one (what it did before)
        clean_rgb = torch.tensor(rgb).permute(2, 0, 1).float() / 255
        noisy_rgb = clean_rgb + sigma * torch.randn(clean_rgb.shape, generator=torch.Generator().manual_seed(100 + i))
        with torch.inference_mode():
            per_channel = denoise_channel_by_channel(model.eval(), noisy_rgb, sigma)
            for key, out in (("noisy", noisy_rgb), ("deepae (opponent channels)", spec.restore(model, noisy_rgb, sigma=25.0)),
                             ("deepae (channel by channel)", per_channel)):
                colour[key].append(psnr(out.clamp(0, 1).numpy(), clean_rgb.numpy()))
        clean = np.asarray(Image.fromarray(rgb).convert("L"), dtype=np.float64) / 255
        rng = np.random.default_rng(i)
        noisy = clean + rng.normal(0, sigma, clean.shape)
        outs = {"noisy": noisy}
        with Timer() as t:
            outs["BM3D"] = bm3d.bm3d(noisy, sigma_psd=sigma)
        times["BM3D"].append(t.seconds)
        x = torch.from_numpy(noisy.astype(np.float32))[None]
        for key, given in (("deepae (sigma given)", 25.0), ("deepae (sigma estimated)", None)):
            with Timer() as t, torch.inference_mode():
                outs[key] = spec.restore(model.eval(), x, sigma=given)[0].clamp(0, 1).numpy()
            times[key].append(t.seconds)
        for key, out in outs.items():
            results[key].append(psnr(np.clip(out, 0, 1), clean))
        rows.append({"image": name, **{k: results[k][-1] for k in results}})
        ctx.log(f"denoise-kodak {name}: " + ", ".join(f"{k} {v[-1]:.2f}" for k, v in results.items()))
        if name == STRIP_IMAGE or strip_panels is None:
            strip_panels = [("noisy (sigma 25)", crop(np.clip(noisy, 0, 1))), ("deepae", crop(outs["deepae (sigma given)"])),
                            ("BM3D", crop(np.clip(outs["BM3D"], 0, 1))), ("original", crop(clean))]
    rows.append({"image": "mean", **{k: mean(v) for k, v in results.items()}})
    rows.append({"image": "seconds per image", "noisy": None, **{k: mean(v) for k, v in times.items() if v}})
    plot = strip(ctx, strip_panels, "Kodak (gray), gaussian noise std 25/255: input | deepae | BM3D | original")
    ours, peer = mean(results["deepae (sigma given)"]), mean(results["BM3D"])
    headline = [{"metric": "denoise-kodak: mean PSNR, Kodak24 gray, sigma 25", "published": "BSD68: BM3D 28.57, DnCNN 29.23",
                 "ours": f"{ours:.2f} dB (estimated sigma: {mean(results['deepae (sigma estimated)']):.2f})",
                 "peer": f"BM3D {peer:.2f} dB", "ratio": f"{ours - peer:+.2f} dB", "target": ">= BM3D",
                 "met": ours >= peer}]
    minutes = R.describe_model(R.shipped_model_dir("denoise"))["training"]["seconds"] / 60
    notes = ["BM3D: the `bm3d` package with the true sigma; deepae given the true sigma, and with its own estimate.",
             "Noise drawn with numpy seed = image index; PSNR on [0, 1] with outputs clipped.",
             f"The shipped model: {minutes:.1f} min of training on the photos.",
             "Colour (reported, no target): Kodak24 RGB with std 25/255 noise in each channel (torch seed 100 + index), "
             "sigma given; deepae's colour path (the opponent mean at full resolution, the colour differences at half) "
             "against its model applied to R, G and B one by one. Mean RGB PSNR: "
             + ", ".join(f"{k} {mean(v):.2f} dB" for k, v in colour.items()) + "."]
    return Report("denoise-kodak: grayscale Kodak24 under gaussian noise, deepae vs BM3D", rows, headline, notes=notes,
                  plots=[plot], figures={"psnr": results, "seconds": times, "colour psnr": colour},
                  peer_versions={"bm3d": _version("bm3d")})


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)


# -- upscale-kodak --------------------------------------------------------------------------------
def y_channel(rgb_u8: np.ndarray) -> np.ndarray:
    """BT.601 luma on [16, 235] (MATLAB's rgb2ycbcr), as super-resolution papers measure PSNR."""
    rgb = rgb_u8.astype(np.float64) / 255
    return 16 + 65.481 * rgb[..., 0] + 128.553 * rgb[..., 1] + 24.966 * rgb[..., 2]


def psnr_y(a_u8: np.ndarray, b_u8: np.ndarray, shave: int) -> float:
    a, b = y_channel(a_u8), y_channel(b_u8)
    return psnr(a[shave:-shave, shave:-shave], b[shave:-shave, shave:-shave], peak=255)


@register("upscale-kodak")
def upscale_kodak(ctx: Context) -> Report:
    """Kodak24 downscaled x2/x3/x4 (Pillow bicubic) and enlarged again: deepae vs bicubic and Lanczos, PSNR on Y."""
    rows, summary, strip_panels = [], {}, None
    for factor in (2, 3, 4):
        variant = f"x{factor}"
        try:
            model = R.load_task_model("upscale", variant=variant)
        except R.CheckpointError as err:
            ctx.log(f"upscale-kodak: skipping {variant}: {err}")
            continue
        scores = {"bicubic": [], "Lanczos": [], "deepae": []}
        times = []
        for name, hr in kodak(ctx):
            h, w = (hr.shape[0] // factor) * factor, (hr.shape[1] // factor) * factor
            hr = hr[:h, :w]
            lr = np.asarray(Image.fromarray(hr).resize((w // factor, h // factor), Image.Resampling.BICUBIC))
            outs = {"bicubic": np.asarray(Image.fromarray(lr).resize((w, h), Image.Resampling.BICUBIC)),
                    "Lanczos": np.asarray(Image.fromarray(lr).resize((w, h), Image.Resampling.LANCZOS))}
            with Timer() as t:
                outs["deepae"] = R.restore("upscale", lr, model, variant=variant, factor=factor)
            times.append(t.seconds)
            for key, out in outs.items():
                scores[key].append(psnr_y(out, hr, factor))
            rows.append({"factor": factor, "image": name, **{k: v[-1] for k, v in scores.items()}})
            if factor == 2 and (name == STRIP_IMAGE or strip_panels is None):
                near = np.asarray(Image.fromarray(lr).resize((w, h), Image.Resampling.NEAREST))
                strip_panels = [("input (x2 smaller, shown nearest)", crop(near)), ("deepae x2", crop(outs["deepae"])),
                                ("Lanczos", crop(outs["Lanczos"])), ("original", crop(hr))]
        summary[factor] = {k: mean(v) for k, v in scores.items()} | {"seconds per image": mean(times)}
        rows.append({"factor": factor, "image": "mean", **{k: mean(v) for k, v in scores.items()}})
        ctx.log(f"upscale-kodak x{factor}: " + ", ".join(f"{k} {v:.2f}" for k, v in summary[factor].items()))
    plot = strip(ctx, strip_panels, "Kodak x2: input | deepae | Lanczos | original") if strip_panels else None
    headline = []
    for factor, s in summary.items():
        published = "SRCNN ≈ +1.8 dB over bicubic (BSD100 x2)" if factor == 2 else None
        headline.append({"metric": f"upscale-kodak x{factor}: mean PSNR on Y, Kodak24", "published": published,
                         "ours": f"{s['deepae']:.2f} dB", "peer": f"bicubic {s['bicubic']:.2f}, Lanczos {s['Lanczos']:.2f}",
                         "ratio": f"{s['deepae'] - s['bicubic']:+.2f} dB over bicubic",
                         "target": ">= 32.5 dB" if factor == 2 else None, "met": s["deepae"] >= 32.5 if factor == 2 else None})
    notes = ["Inputs: Pillow BICUBIC downscale of each image cropped to a multiple of the factor; PSNR on Y "
             "(BT.601, [16, 235]) of 8-bit outputs with a border of `factor` pixels shaved."]
    return Report("upscale-kodak: super-resolution on Kodak24", rows, headline, notes=notes, plots=[plot] if plot else [],
                  figures={"summary": summary})


# -- colorize-kodak -------------------------------------------------------------------------------
def colourfulness(rgb_u8: np.ndarray) -> float:
    """Hasler & Süsstrunk (2003): sqrt(s_rg^2 + s_yb^2) + 0.3 sqrt(m_rg^2 + m_yb^2) on 8-bit RGB."""
    r, g, b = (rgb_u8[..., i].astype(np.float64) for i in range(3))
    rg, yb = r - g, 0.5 * (r + g) - b
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))


@register("colorize-kodak")
def colorize_kodak(ctx: Context) -> Report:
    """Kodak24 turned gray and coloured by deepae: PSNR (RGB) and colourfulness against the gray input."""
    model = R.load_task_model("colorize")
    rows, scores, colour, strip_panels, times = [], {"gray input": [], "deepae": []}, {"original": [], "deepae": []}, None, []
    for name, rgb in kodak(ctx):
        gray = np.asarray(Image.fromarray(rgb).convert("L"))
        outs = {"gray input": np.repeat(gray[..., None], 3, 2)}
        with Timer() as t:
            outs["deepae"] = R.restore("colorize", gray, model)
        times.append(t.seconds)
        for key, out in outs.items():
            scores[key].append(psnr(out / 255, rgb / 255))
        colour["original"].append(colourfulness(rgb))
        colour["deepae"].append(colourfulness(outs["deepae"]))
        rows.append({"image": name, "PSNR gray": scores["gray input"][-1], "PSNR deepae": scores["deepae"][-1],
                     "colourfulness original": colour["original"][-1], "colourfulness deepae": colour["deepae"][-1]})
        if name == STRIP_IMAGE or strip_panels is None:
            strip_panels = [("gray input", crop(outs["gray input"])), ("deepae", crop(outs["deepae"])), ("original", crop(rgb))]
    ratio = mean(colour["deepae"]) / mean(colour["original"])
    rows.append({"image": "mean", "PSNR gray": mean(scores["gray input"]), "PSNR deepae": mean(scores["deepae"]),
                 "colourfulness original": mean(colour["original"]), "colourfulness deepae": mean(colour["deepae"])})
    plot = strip(ctx, strip_panels, "Kodak colorization: gray input | deepae | original")
    ours, gray_psnr = mean(scores["deepae"]), mean(scores["gray input"])
    headline = [
        {"metric": "colorize-kodak: mean PSNR (RGB), Kodak24", "published": None, "ours": f"{ours:.2f} dB",
         "peer": f"gray input {gray_psnr:.2f} dB", "ratio": f"{ours - gray_psnr:+.2f} dB", "target": "> gray input",
         "met": ours > gray_psnr},
        {"metric": "colorize-kodak: colourfulness (Hasler & Süsstrunk 2003), share of the originals'", "published": None,
         "ours": f"{ratio:.0%}", "peer": None, "ratio": None, "target": ">= 60%", "met": ratio >= 0.6},
    ]
    return Report("colorize-kodak: colouring gray Kodak24", rows, headline, plots=[plot],
                  figures={"seconds per image": mean(times), "colourfulness": colour, "psnr": scores})


# -- unwatermark-kodak ----------------------------------------------------------------------------
@register("unwatermark-kodak")
def unwatermark_kodak(ctx: Context) -> Report:
    """Kodak24 under semi-transparent text in unseen fonts and words: deepae's PSNR against the input's."""
    from deepae.apps.unwatermark import held_out_fonts
    from deepae.degrade import degrade

    model = R.load_task_model("unwatermark")
    fonts = [str(f) for f in held_out_fonts()]
    rows, scores, strip_panels, times = [], {"watermarked input": [], "deepae": []}, None, []
    for i, (name, rgb) in enumerate(kodak(ctx)):
        g = torch.Generator().manual_seed(i)
        opacity = float(0.3 + 0.4 * torch.rand((), generator=g))
        x = torch.from_numpy(np.array(rgb)).permute(2, 0, 1)[None].float() / 255
        stamped = to_u8(degrade("watermark", x, opacity, g, fonts=fonts, texts=BENCH_TEXTS)[0].permute(1, 2, 0).numpy())
        with Timer() as t:
            out = R.restore("unwatermark", stamped, model)
        times.append(t.seconds)
        scores["watermarked input"].append(psnr(stamped / 255, rgb / 255))
        scores["deepae"].append(psnr(out / 255, rgb / 255))
        rows.append({"image": name, "opacity": opacity, **{k: v[-1] for k, v in scores.items()}})
        if name == STRIP_IMAGE or strip_panels is None:
            strip_panels = [("watermarked", stamped), ("deepae", out), ("original", rgb)]
    rows.append({"image": "mean", "opacity": None, **{k: mean(v) for k, v in scores.items()}})
    plot = strip(ctx, strip_panels, "Watermark removal (fonts and words unseen in training): input | deepae | original")
    ours, base = mean(scores["deepae"]), mean(scores["watermarked input"])
    headline = [{"metric": "unwatermark-kodak: mean PSNR (RGB), Kodak24, unseen fonts and texts", "published": None,
                 "ours": f"{ours:.2f} dB", "peer": f"watermarked input {base:.2f} dB", "ratio": f"{ours - base:+.2f} dB",
                 "target": ">= 35 dB and >= +8 dB", "met": ours >= 35 and ours - base >= 8}]
    notes = [f"Fonts: {', '.join(Path(f).stem for f in fonts)} (training used DejaVu only); texts: {BENCH_TEXTS}; "
             "opacity uniform in [0.3, 0.7], seeded by the image index."]
    return Report("unwatermark-kodak: removing unseen watermarks", rows, headline, notes=notes, plots=[plot],
                  figures={"seconds per image": mean(times), "psnr": scores})


@register("restore-speed")
def restore_speed(ctx: Context) -> Report:
    """Seconds per 768x512 Kodak image for each shipped restoration model (target <= 2 s on this CPU)."""
    images = kodak(ctx)[:2 if ctx.quick else 4]
    rows = []
    for folder in R.shipped_models():
        task = R.describe_model(folder)["task"]
        model = R.load_task_model(task["name"], variant=task["variant"])
        opts = {"factor": int(task["variant"][1:])} if task["name"] == "upscale" else {}
        R.restore(task["name"], images[0][1][:64, :64], model, variant=task["variant"], **opts)  # warm-up
        secs = []
        for _, rgb in images:
            src = rgb if task["name"] != "upscale" else rgb[:: opts["factor"], :: opts["factor"]]
            start = time.perf_counter()
            R.restore(task["name"], src, model, variant=task["variant"], **opts)
            secs.append(time.perf_counter() - start)
        rows.append({"model": folder.name, "seconds per image": mean(secs),
                     "output": "768x512" if task["name"] != "upscale" else "768x512 (from a 1/f input)",
                     "parameters": sum(p.numel() for p in model.parameters())})
    headline = [{"metric": f"restore-speed: {r['model']} s per Kodak image", "published": None,
                 "ours": f"{r['seconds per image']:.2f} s", "peer": None, "ratio": None, "target": "<= 2 s",
                 "met": r["seconds per image"] <= 2} for r in rows]
    return Report("restore-speed: apply time of the shipped models", rows, headline)
