"""Colour quantization of a photograph with k-means, on the array library of your choice.

Each pixel of a colour photo is a point in 3-D RGB space.  k-means groups those points
into K clusters; redrawing every pixel in its cluster's centre colour gives an image with
only K colours that still looks like the original.  Stored as a K-colour palette plus one
ceil(log2 K)-bit palette index per pixel, it takes a fraction of the 24 bits per pixel of
raw RGB.

The photo is scikit-learn's sample image ``china.jpg`` (a temple in China, 427 x 640
pixels, shipped with scikit-learn; reading it needs Pillow).  As in scikit-learn's own
version of this example, k-means is fitted on a random sample of pixels (fast) and then
every pixel is assigned to its nearest centre.  For comparison, a palette of K pixels
drawn at random is applied the same way with ``xpcluster.vq.vq``.

    python docs/examples/color_quantization.py --out /tmp --backend torch --k 64

Writes ``color_quantization.png`` (original, k-means, random palette side by side).
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time

import numpy as np

import xpcluster
from xpcluster.cluster import KMeans
from xpcluster.vq import vq

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _backends import KNOWN, describe, to_backend, to_numpy  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=".", help="directory for the PNG (default: .)")
    parser.add_argument("--backend", choices=KNOWN, default="numpy")
    parser.add_argument("--k", type=int, default=64, help="number of colours (default: 64)")
    parser.add_argument("--sample", type=int, default=1000, help="pixels to fit on (default: 1000)")
    parser.add_argument("--downscale", type=int, default=1,
                        help="keep every n-th row and column of the photo (default: 1, full size)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from sklearn.datasets import load_sample_image

    photo = load_sample_image("china.jpg")[:: args.downscale, :: args.downscale]
    height, width, _ = photo.shape
    # Colours in [0, 1], one row per pixel.
    pixels = photo.reshape(-1, 3).astype(np.float64) / 255.0
    n = pixels.shape[0]
    rng = np.random.default_rng(args.seed)
    sample = pixels[rng.choice(n, size=min(args.sample, n), replace=False)]
    random_palette = pixels[rng.choice(n, size=args.k, replace=False)]

    all_pixels = to_backend(pixels, args.backend)
    with xpcluster.array_api_dispatch():
        start = time.perf_counter()
        model = KMeans(n_clusters=args.k, random_state=args.seed).fit(to_backend(sample, args.backend))
        labels = model.predict(all_pixels)
        palette = to_numpy(model.cluster_centers_)
        labels = to_numpy(labels)  # on lazy backends (Dask) the work happens here
        seconds = time.perf_counter() - start
        random_labels, _ = vq(all_pixels, to_backend(random_palette, args.backend))
        random_labels = to_numpy(random_labels)
    print(f"k-means on {describe(all_pixels)}: {len(sample)} sampled pixels, K={args.k}, "
          f"fit + assign {n} pixels in {seconds:.3f} s")

    kmeans_image = palette[labels].reshape(photo.shape)
    random_image = random_palette[random_labels].reshape(photo.shape)
    original = pixels.reshape(photo.shape)
    rms = {name: 255 * math.sqrt(float(np.mean((image - original) ** 2)))
           for name, image in (("k-means", kmeans_image), ("random", random_image))}
    # Raw RGB: 24 bits per pixel.  Quantized: K 24-bit palette entries + ceil(log2 K) bits per pixel.
    raw_bits = 24 * n
    coded_bits = 24 * args.k + (math.ceil(math.log2(args.k)) if args.k > 1 else 0) * n
    print(f"RMS colour error (0-255): k-means {rms['k-means']:.2f}, random palette {rms['random']:.2f}")
    print(f"compression ratio {raw_bits / coded_bits:.2f}x ({raw_bits // 8} bytes -> {math.ceil(coded_bits / 8)} bytes)")

    from matplotlib.figure import Figure

    fig = Figure(figsize=(15, 4.4), layout="constrained")
    panels = [(photo, f"original ({width}x{height}, {len(np.unique(photo.reshape(-1, 3), axis=0))} colours)"),
              (kmeans_image, f"k-means, {args.k} colours (RMS error {rms['k-means']:.1f})"),
              (random_image, f"random palette, {args.k} colours (RMS error {rms['random']:.1f})")]
    for i, (image, title) in enumerate(panels):
        ax = fig.add_subplot(1, 3, i + 1)
        ax.imshow(image)
        ax.set_title(title, fontsize=10)
        ax.set_axis_off()
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "color_quantization.png")
    fig.savefig(path, dpi=80)
    print(f"wrote {path}")
    # k-means must beat a random palette: it minimises exactly this error on the sample.
    return 0 if rms["k-means"] < rms["random"] else 1


if __name__ == "__main__":
    sys.exit(main())
