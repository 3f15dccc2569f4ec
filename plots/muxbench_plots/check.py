"""Checks behind scripts/check-report.sh.

  python -m muxbench_plots.check static DIR/index.html
      every <img> the page shows exists and is a PNG or SVG; nothing is
      loaded from the network (no http(s) URL in src/href, no <script>, no
      <link>): the page must open from the file system with no server.
  python -m muxbench_plots.check screenshot SHOT.png
      the headless-Chromium screenshot is non-trivial: big enough, not one
      colour, with enough ink and some colour (the strategy swatches and the
      charts); Chromium's own error page or a blank page fails.
Exit status 0 when the check passes, 1 when it fails (one line per problem).
"""

import re
import sys
from html.parser import HTMLParser
from pathlib import Path


class _Refs(HTMLParser):
    def __init__(self):
        super().__init__()
        self.imgs, self.external, self.forbidden = [], [], []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag in ("script", "link", "iframe", "object", "embed"):
            self.forbidden.append(tag)
        if tag == "img":
            self.imgs.append(a.get("src") or "")
        for key in ("src", "href"):
            v = a.get(key) or ""
            if re.match(r"^\s*(https?:)?//", v, re.IGNORECASE):
                self.external.append(v)


def static_problems(index):
    index = Path(index)
    if not index.is_file():
        return [f"{index}: no such file"]
    text = index.read_text(encoding="utf-8")
    refs = _Refs()
    refs.feed(text)
    problems = []
    if "<h1" not in text or "</html>" not in text:
        problems.append(f"{index}: not a complete report page")
    problems += [f"{index}: loads from the network: {u}" for u in refs.external]
    problems += [f"{index}: has a <{t}> element (the report must be self-contained)"
                 for t in refs.forbidden]
    if re.search(r"url\(\s*['\"]?(https?:)?//", text):
        problems.append(f"{index}: CSS loads from the network")
    for src in refs.imgs:
        if not src or src.startswith("/") or ":" in src.split("/")[0]:
            problems.append(f"{index}: image path is not relative: '{src}'")
            continue
        path = index.parent / src
        if not path.is_file():
            problems.append(f"{index}: image '{src}' does not exist")
            continue
        head = path.read_bytes()[:512]
        if path.suffix == ".png" and not head.startswith(b"\x89PNG\r\n\x1a\n"):
            problems.append(f"{index}: image '{src}' is not a PNG")
        if path.suffix == ".svg" and b"<svg" not in path.read_bytes()[:4096]:
            problems.append(f"{index}: image '{src}' is not an SVG")
    return problems


def screenshot_problems(png, min_size=200, min_ink=0.02, min_colour_px=200):
    import numpy as np
    from matplotlib import image

    png = Path(png)
    if not png.is_file() or png.stat().st_size == 0:
        return [f"{png}: no screenshot was written"]
    try:
        img = image.imread(str(png))
    except Exception as e:  # a truncated or foreign file
        return [f"{png}: not a readable PNG ({e})"]
    if img.ndim != 3 or img.shape[0] < min_size or img.shape[1] < min_size:
        return [f"{png}: too small or not RGB ({img.shape})"]
    rgb = img[:, :, :3].astype(float)
    if rgb.max() > 1.0:
        rgb /= 255.0
    flat = (rgb * 255).round().astype(np.uint8).reshape(-1, 3)
    colours, counts = np.unique(flat, axis=0, return_counts=True)
    background = colours[counts.argmax()]
    ink = float(np.mean(np.any(flat != background, axis=1)))
    saturation = flat.max(axis=1).astype(int) - flat.min(axis=1).astype(int)
    colourful = int(np.sum(saturation > 64))
    problems = []
    if len(colours) < 16:
        problems.append(f"{png}: only {len(colours)} distinct colours: a blank page")
    if ink < min_ink:
        problems.append(f"{png}: only {ink:.2%} of the pixels differ from the background")
    if colourful < min_colour_px:
        problems.append(f"{png}: only {colourful} coloured pixels: no chart or swatch rendered")
    return problems


def main(argv):
    if len(argv) != 2 or argv[0] not in ("static", "screenshot"):
        print("usage: python -m muxbench_plots.check static INDEX.html | screenshot SHOT.png",
              file=sys.stderr)
        return 2
    problems = static_problems(argv[1]) if argv[0] == "static" else screenshot_problems(argv[1])
    for p in problems:
        print(f"check-report: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
