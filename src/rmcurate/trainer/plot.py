"""A loss curve as a standalone SVG: no plotting library needed on a training box."""
from html import escape


def loss_svg(losses: list[float], title: str, width: int = 640, height: int = 320) -> str:
    pad_l, pad_b, pad_t, pad_r = 60, 40, 30, 20
    w, h = width - pad_l - pad_r, height - pad_t - pad_b
    lo, hi = (min(losses), max(losses)) if losses else (0.0, 1.0)
    hi = hi if hi > lo else lo + 1.0
    n = max(1, len(losses) - 1)
    pts = " ".join(f"{pad_l + w * i / n:.1f},{pad_t + h * (1 - (v - lo) / (hi - lo)):.1f}"
                   for i, v in enumerate(losses))
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" '
            f'font-size="12"><text x="{pad_l}" y="18" font-size="14">{escape(title)}</text>'
            f'<line x1="{pad_l}" y1="{pad_t + h}" x2="{pad_l + w}" y2="{pad_t + h}" stroke="#888"/>'
            f'<line x1="{pad_l}" y1="{pad_t}" x2="{pad_l}" y2="{pad_t + h}" stroke="#888"/>'
            f'<text x="{pad_l - 6}" y="{pad_t + 4}" text-anchor="end">{hi:.3f}</text>'
            f'<text x="{pad_l - 6}" y="{pad_t + h}" text-anchor="end">{lo:.3f}</text>'
            f'<text x="{pad_l + w}" y="{pad_t + h + 18}" text-anchor="end">step {len(losses)}</text>'
            f'<polyline fill="none" stroke="#4c78a8" stroke-width="1.5" points="{pts}"/></svg>')
