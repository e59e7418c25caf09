"""Codec benchmarks: deepae's learned codec against JPEG and WebP (Pillow), every byte of every file counted.

- codec-mnist: the first 1000 MNIST test digits; bytes per image vs PSNR. deepae twice: all 1000
  in one .dae file (the header amortised) and one file per digit; JPEG (optimize) and WebP (method 6)
  quality sweeps, WebP lossless and PNG as reference points.
- codec-kodak: Kodak24 (RGB), bits per pixel vs PSNR and MS-SSIM; BD-rate against JPEG and WebP;
  CompressAI's published bmshj2018-factorized points beside.

The shipped models were trained by ``python -m bench.train_codec digits|photo``: the digits model on
MNIST training images (settings chosen on a validation split of them), the photo model on
../shared/data/photos. Kodak and the MNIST test digits were used only here, once.
"""

from __future__ import annotations

import io

import numpy as np
import torch
from PIL import Image

from deepae.apps import codec as C

from ._core import Context, Report, Timer, pyplot, register, save_figure

KODAK = [f"kodim{i:02d}.png" for i in range(1, 25)]
QUICK = dict(digits=40, images=2, crop=256, qualities=[1, 4, 8], jpeg=[10, 50, 90], webp=[10, 50, 90])
JPEG_Q = [5, 10, 15, 20, 30, 40, 50, 60, 70, 80, 90, 95]
WEBP_Q = [0, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95]
# CompressAI's published bmshj2018-factorized (MSE) on Kodak24: (bpp, PSNR dB), qualities 1-3.
PUBLISHED = [(0.189, 28.22), (0.288, 29.62), (0.440, 31.28)]
CROP_IMAGE, CROP_BOX = "kodim23.png", (200, 150, 456, 406)  # (left, top, right, bottom)


# -- measures -------------------------------------------------------------------------------------
def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / mse)) if mse > 0 else 100.0


def _gauss(size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    g = torch.exp(-((torch.arange(size, dtype=torch.float64) - size // 2) ** 2) / (2 * sigma**2))
    return g / g.sum()


def ms_ssim(a: np.ndarray, b: np.ndarray) -> float:
    """MS-SSIM (Wang, Simoncelli & Bovik 2003): 5 scales, 11x11 gaussian (sigma 1.5), per channel, averaged."""
    weights = torch.tensor([0.0448, 0.2856, 0.3001, 0.2363, 0.1333], dtype=torch.float64)
    x = torch.from_numpy(a.astype(np.float64)).permute(2, 0, 1)[:, None]  # (C, 1, H, W)
    y = torch.from_numpy(b.astype(np.float64)).permute(2, 0, 1)[:, None]
    g = _gauss()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def blur(t):
        t = torch.nn.functional.conv2d(t, g.view(1, 1, 1, -1))
        return torch.nn.functional.conv2d(t, g.view(1, 1, -1, 1))

    mcs = []
    for level in range(5):
        mx, my = blur(x), blur(y)
        sxx, syy, sxy = blur(x * x) - mx**2, blur(y * y) - my**2, blur(x * y) - mx * my
        cs = (2 * sxy + c2) / (sxx + syy + c2)
        if level < 4:
            mcs.append(torch.relu(cs.mean((1, 2, 3))))
            x, y = torch.nn.functional.avg_pool2d(x, 2), torch.nn.functional.avg_pool2d(y, 2)
        else:
            ssim = ((2 * mx * my + c1) / (mx**2 + my**2 + c1) * cs).mean((1, 2, 3))
    stack = torch.stack(mcs + [torch.relu(ssim)])  # (5, C)
    return float(torch.prod(stack ** weights[:, None], 0).mean())


def bd_rate(ref: list[tuple[float, float]], test: list[tuple[float, float]]) -> float | None:
    """Bjøntegaard delta rate (%) of ``test`` against ``ref``, (rate, PSNR) points: cubic fit of log-rate
    over PSNR, integrated over the PSNR range both cover. Negative: ``test`` needs fewer bits."""
    if len(ref) < 4 or len(test) < 4:
        return None
    (r1, p1), (r2, p2) = (np.array(sorted(c, key=lambda t: t[1])).T for c in (ref, test))
    lo, hi = max(p1.min(), p2.min()), min(p1.max(), p2.max())
    if hi <= lo:
        return None
    f1, f2 = np.polyint(np.polyfit(p1, np.log(r1), 3)), np.polyint(np.polyfit(p2, np.log(r2), 3))
    avg = ((np.polyval(f2, hi) - np.polyval(f2, lo)) - (np.polyval(f1, hi) - np.polyval(f1, lo))) / (hi - lo)
    return float((np.exp(avg) - 1) * 100)


def rate_at(curve: list[tuple[float, float]], target_psnr: float) -> float | None:
    """Rate a codec needs to reach ``target_psnr``: interpolated linearly in log-rate inside its range, its
    smallest file below it (it cannot go lower), None above it (never reached)."""
    pts = sorted(curve, key=lambda t: t[1])
    ps, rs = [p for _, p in pts], [np.log(r) for r, _ in pts]
    if not ps or target_psnr > ps[-1]:
        return None
    if target_psnr < ps[0]:
        return float(min(r for r, _ in pts))
    return float(np.exp(np.interp(target_psnr, ps, rs)))


def psnr_at(curve: list[tuple[float, float]], rate: float) -> float | None:
    pts = sorted(curve)
    rs, ps = [np.log(r) for r, _ in pts], [p for _, p in pts]
    if not rs or np.log(rate) < rs[0] or np.log(rate) > rs[-1]:
        return None
    return float(np.interp(np.log(rate), rs, ps))


# -- baseline codecs ------------------------------------------------------------------------------
def pil_codec(image: np.ndarray, fmt: str, quality: int | None) -> tuple[int, np.ndarray]:
    """(bytes of the whole file, decoded pixels) for JPEG (optimize) or WebP (method 6) or PNG / lossless WebP."""
    buf = io.BytesIO()
    im = Image.fromarray(image)
    if fmt == "JPEG":
        im.save(buf, "JPEG", quality=quality, optimize=True)
    elif fmt == "WEBP":
        im.save(buf, "WEBP", quality=quality, method=6) if quality is not None else im.save(buf, "WEBP", lossless=True, method=6)
    else:
        im.save(buf, "PNG", optimize=True)
    data = buf.getvalue()
    return len(data), np.asarray(Image.open(io.BytesIO(data)).convert(im.mode))


def sweep(images: list[np.ndarray], fmt: str, qualities, extra=None) -> list[dict]:
    rows = []
    for q in qualities:
        sizes, ps, ms = [], [], []
        for im in images:
            n, out = pil_codec(im, fmt, q)
            sizes.append(n)
            ps.append(psnr(im, out))
            if extra:
                ms.append(extra(im, out))
        rows.append({"codec": f"{'JPEG' if fmt == 'JPEG' else 'WebP'} q{q}", "bytes": float(np.mean(sizes)),
                     "psnr": float(np.mean(ps)), **({"ms_ssim": float(np.mean(ms))} if extra else {})})
    return rows


# -- codec-mnist ----------------------------------------------------------------------------------
@register("codec-mnist")
def codec_mnist(ctx: Context) -> Report:
    """First 1000 MNIST test digits: bytes per digit vs PSNR, deepae's digits codec vs JPEG and WebP."""
    n = QUICK["digits"] if ctx.quick else 1000
    digits = np.rint(ctx.data("mnist", "test").x[:n, 0] * 255).astype(np.uint8)  # (N, 28, 28)
    images = list(digits)
    codec = C.load_codec("digits")
    qualities = QUICK["qualities"] if ctx.quick else list(range(1, codec.config.qualities + 1))
    rows, speed = [], {}
    for q in qualities:
        with Timer() as t_enc:
            data = C.compress(images, model=codec, quality=q)
        with Timer() as t_dec:
            out = C.decompress(data, model=codec)
        single = [len(C.compress([im], model=codec, quality=q)) for im in images]
        ps = float(np.mean([psnr(a, b) for a, b in zip(images, out)]))
        rows.append({"codec": f"deepae q{q} (1 file of {n})", "bytes": len(data) / n, "psnr": ps})
        rows.append({"codec": f"deepae q{q} (1 file per digit)", "bytes": float(np.mean(single)), "psnr": ps})
        speed[q] = {"encode_images_per_s": n / t_enc.seconds, "decode_images_per_s": n / t_dec.seconds}
    jq, wq = (QUICK["jpeg"], QUICK["webp"]) if ctx.quick else (JPEG_Q, WEBP_Q)
    jpeg, webp = sweep(images, "JPEG", jq), sweep(images, "WEBP", wq)
    lossless = [{"codec": label, "bytes": float(np.mean([pil_codec(im, fmt, None)[0] for im in images])), "psnr": None}
                for label, fmt in (("WebP lossless", "WEBP"), ("PNG (optimize)", "PNG"))]
    rows += jpeg + webp + lossless
    amort = [(r["bytes"], r["psnr"]) for r in rows if "1 file of" in r["codec"]]
    per_file = [(r["bytes"], r["psnr"]) for r in rows if "per digit" in r["codec"]]
    webp_curve = [(r["bytes"], r["psnr"]) for r in webp]
    grid = np.arange(22.0, 32.01, 1.0)
    ratios = {f"{p:.0f}": (None if rate_at(amort, p) is None or rate_at(webp_curve, p) is None
                           else rate_at(amort, p) / rate_at(webp_curve, p)) for p in grid}
    covered = [v for v in ratios.values() if v is not None]
    worst = max(covered) if covered else None
    met = bool(covered) and len(covered) == len(grid) and worst <= 1 / 3
    for r in rows:
        r["bytes"] = round(r["bytes"], 1)
        r["psnr"] = None if r["psnr"] is None else round(r["psnr"], 2)
    plot = _rd_plot(ctx, {"deepae (1 file of all)": amort, "deepae (1 file per digit)": per_file,
                          "JPEG": [(r["bytes"], r["psnr"]) for r in jpeg], "WebP": webp_curve},
                    "bytes per digit", "PSNR (dB)", f"MNIST: first {n} test digits", "")
    headline = [{"metric": f"codec-mnist: bytes per digit / WebP's at equal PSNR, 22-32 dB ({n} test digits)",
                 "published": None,
                 "ours": "n/a" if worst is None else f"worst {worst:.2f} ({len(covered)}/{len(grid)} dB points covered)",
                 "peer": "WebP method 6", "ratio": worst, "target": "<= 0.33 at every PSNR", "met": met}]
    notes = ["Bytes: every byte of every file (deepae: header, names, checksums included; amortised over one file of all digits, "
             "and again as one file per digit). PSNR: mean over digits of per-digit PSNR (8-bit, peak 255).",
             "Settings (model size, lambda per quality) were chosen on the last 5,000 MNIST training digits (validation); "
             "the test digits were used once, here.",
             f"Ratio of deepae's bytes (one file) to WebP's at equal PSNR, interpolated in log-bytes (below a codec's "
             f"lowest PSNR its smallest file counts): {ratios}."]
    return Report(f"codec-mnist: learned codec vs JPEG and WebP on {n} MNIST test digits", rows, headline, notes=notes,
                  plots=[plot], figures={"ratio_to_webp": ratios, "speed": speed, "n": n})


# -- codec-kodak ----------------------------------------------------------------------------------
def kodak_images(ctx: Context) -> list[tuple[str, np.ndarray]]:
    folder = ctx.data_dir / "kodak"
    if not folder.is_dir():
        raise SystemExit(f"{folder} is missing: codec-kodak needs ../shared/data/kodak (or --data-dir)")
    names = KODAK[: QUICK["images"]] if ctx.quick else KODAK
    images = [(n, np.asarray(Image.open(folder / n).convert("RGB"))) for n in names]
    if ctx.quick:
        c = QUICK["crop"]
        images = [(n, np.ascontiguousarray(im[:c, :c])) for n, im in images]
    return images


@register("codec-kodak")
def codec_kodak(ctx: Context) -> Report:
    """Kodak24: bits per pixel vs PSNR (RGB) and MS-SSIM; BD-rate of deepae's photo codec against JPEG and WebP."""
    named = kodak_images(ctx)
    images = [im for _, im in named]
    pixels = float(np.mean([im.shape[0] * im.shape[1] for im in images]))
    codec = C.load_codec("photo")
    qualities = QUICK["qualities"] if ctx.quick else list(range(1, codec.config.qualities + 1))
    rows, speed, decoded = [], {}, {}
    for q in qualities:
        sizes, ps, ms, enc_s, dec_s = [], [], [], 0.0, 0.0
        for name, im in named:
            with Timer() as t:
                data = C.compress([im], model=codec, quality=q, names=[name])
            with Timer() as u:
                out = C.decompress(data, model=codec)[0]
            enc_s, dec_s = enc_s + t.seconds, dec_s + u.seconds
            sizes.append(len(data))
            ps.append(psnr(im, out))
            ms.append(ms_ssim(im, out))
            if name == CROP_IMAGE or (ctx.quick and name == named[0][0]):
                decoded[q] = (len(data), out)
        rows.append({"codec": f"deepae q{q}", "bytes": float(np.mean(sizes)), "psnr": float(np.mean(ps)),
                     "ms_ssim": float(np.mean(ms))})
        mp = pixels * len(images) / 1e6
        speed[q] = {"encode_MP_per_s": mp / enc_s, "decode_MP_per_s": mp / dec_s}
    jq, wq = (QUICK["jpeg"], QUICK["webp"]) if ctx.quick else (JPEG_Q, WEBP_Q)
    jpeg, webp = sweep(images, "JPEG", jq, ms_ssim), sweep(images, "WEBP", wq, ms_ssim)
    rows += jpeg + webp
    for r in rows:
        r["bpp"] = round(8 * r["bytes"] / pixels, 4)
        r["bytes"] = round(r["bytes"], 1)
        r["psnr"], r["ms_ssim"] = round(r["psnr"], 3), round(r["ms_ssim"], 5)
    curve = {k: [(r["bpp"], r["psnr"]) for r in rows if r["codec"].startswith(k)] for k in ("deepae", "JPEG", "WebP")}
    bd = {"vs JPEG": bd_rate(curve["JPEG"], curve["deepae"]), "vs WebP": bd_rate(curve["WebP"], curve["deepae"]),
          "vs published bmshj2018-factorized": bd_rate(PUBLISHED + [], curve["deepae"]) if len(PUBLISHED) >= 4 else None}
    grid = [round(float(b), 2) for b in np.arange(0.2, 1.001, 0.1)]
    ahead = {b: (None if psnr_at(curve["deepae"], b) is None or psnr_at(curve["JPEG"], b) is None
                 else round(psnr_at(curve["deepae"], b) - psnr_at(curve["JPEG"], b), 2)) for b in grid}
    gap_webp = {b: (None if psnr_at(curve["deepae"], b) is None or psnr_at(curve["WebP"], b) is None
                    else round(psnr_at(curve["deepae"], b) - psnr_at(curve["WebP"], b), 2)) for b in grid}
    gap_pub = {bpp: (None if psnr_at(curve["deepae"], bpp) is None else round(psnr_at(curve["deepae"], bpp) - p, 2))
               for bpp, p in PUBLISHED}
    met = bd["vs JPEG"] is not None and bd["vs JPEG"] < 0 and all(v is not None and v > 0 for v in ahead.values())
    plots = [_rd_plot(ctx, {**curve, "bmshj2018-factorized (published)": PUBLISHED}, "bits per pixel", "PSNR (dB, RGB)",
                      "Kodak24", "", ms={k: [(r["bpp"], r["ms_ssim"]) for r in rows if r["codec"].startswith(k)]
                                         for k in ("deepae", "JPEG", "WebP")}),
             _crop_figure(ctx, named, decoded)]
    headline = [{"metric": "codec-kodak: BD-rate vs JPEG (PSNR, RGB, Kodak24)", "published": None,
                 "ours": _pct(bd["vs JPEG"]), "peer": f"vs WebP {_pct(bd['vs WebP'])}", "ratio": None,
                 "target": "< 0, ahead at every rate 0.2-1.0 bpp", "met": met},
                {"metric": "codec-kodak: PSNR gap to bmshj2018-factorized (published) at its rates", "published": str(PUBLISHED),
                 "ours": str(gap_pub), "peer": None, "ratio": None, "target": "report", "met": None}]
    notes = ["Bytes: the whole .dae file of each image (header, name, checksums included) and the whole JPEG/WebP file. "
             "PSNR: mean over images of per-image RGB PSNR; MS-SSIM: Wang et al. 2003, per channel, averaged.",
             "BD-rate: Bjøntegaard, cubic fit of log-rate over PSNR, over the PSNR range both curves cover.",
             f"PSNR difference deepae - JPEG at bpp {list(ahead)}: {list(ahead.values())} (None: outside a curve).",
             f"PSNR difference deepae - WebP at the same rates: {list(gap_webp.values())}.",
             "The photo model was trained on ../shared/data/photos only; no setting was chosen on Kodak."]
    return Report(f"codec-kodak: learned codec vs JPEG and WebP on Kodak{len(images)}", rows, headline, notes=notes,
                  plots=plots, figures={"bd_rate_percent": bd, "psnr_minus_jpeg": ahead, "psnr_minus_webp": gap_webp,
                                        "psnr_minus_published": gap_pub, "speed": speed})


def _pct(v: float | None) -> str:
    return "n/a (curves do not overlap)" if v is None else f"{v:+.1f} %"


def _rd_plot(ctx: Context, curves: dict, xlabel: str, ylabel: str, title: str, suffix: str, ms: dict | None = None) -> str:
    plt = pyplot()
    fig, axes = plt.subplots(1, 2 if ms else 1, figsize=(11 if ms else 6, 4.2), squeeze=False)
    for label, pts in curves.items():
        pts = sorted(p for p in pts if p[1] is not None)
        axes[0, 0].plot([p[0] for p in pts], [p[1] for p in pts], "o-" if "published" not in label else "s--", label=label, ms=3)
    axes[0, 0].set(xlabel=xlabel, ylabel=ylabel, title=title)
    if ms:
        for label, pts in ms.items():
            pts = sorted(pts)
            axes[0, 1].plot([p[0] for p in pts], [p[1] for p in pts], "o-", label=label, ms=3)
        axes[0, 1].set(xlabel=xlabel, ylabel="MS-SSIM", title=title)
    for ax in axes[0]:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    path = ctx.path(f"{suffix}.png")
    save_figure(fig, path)
    return path.name


def _crop_figure(ctx: Context, named, decoded: dict) -> str:
    """One Kodak crop at (about) equal bytes: JPEG and WebP at the largest quality not above deepae's file."""
    name = CROP_IMAGE if not ctx.quick else named[0][0]
    image = dict(named)[name]
    q = min(decoded, key=lambda k: abs(8 * decoded[k][0] / (image.shape[0] * image.shape[1]) - 0.3))
    budget, ours = decoded[q]
    panels = [("original", image), (f"deepae q{q}: {budget} B", ours)]
    for fmt in ("JPEG", "WEBP"):
        best = None
        for quality in range(1, 101):
            n, out = pil_codec(image, fmt, quality)
            if n <= budget and (best is None or n >= best[0]):
                best = (n, out, quality)
        if best is None:
            n, out = pil_codec(image, fmt, 1)
            best = (n, out, 1)
        panels.append((f"{'JPEG' if fmt == 'JPEG' else 'WebP'} q{best[2]}: {best[0]} B", best[1]))
    left, top, right, bottom = CROP_BOX if not ctx.quick else (0, 0, image.shape[1], image.shape[0])
    plt = pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3.6))
    for ax, (caption, img) in zip(axes, panels):
        ax.imshow(img[top:bottom, left:right], interpolation="nearest")
        ax.set_title(f"{caption}\n{psnr(image, img):.2f} dB" if caption != "original" else caption, fontsize=9)
        ax.axis("off")
    bpp = 8 * budget / (image.shape[0] * image.shape[1])
    fig.suptitle(f"{name}: a crop at about equal file size ({bpp:.3f} bpp)", fontsize=10, y=1.04)
    path = ctx.path("-crop.png")
    save_figure(fig, path)
    return path.name
