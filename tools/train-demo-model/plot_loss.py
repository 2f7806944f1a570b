"""Draws loss.csv (from train.py) as an SVG: training loss (smoothed) and held-out loss by step.

    /usr/bin/python3 plot_loss.py /tmp/demo-train/loss.csv loss.svg
"""
import csv
import math
import sys

W, H, L, R, T, B = 720, 420, 64, 24, 40, 52


def main(src, dst):
    rows = list(csv.DictReader(open(src)))
    train, held = [], []
    smooth = None
    for r in rows:
        step, loss = int(r["step"]), float(r["train_loss"])
        if r["lr"] != "0":
            smooth = loss if smooth is None else 0.98 * smooth + 0.02 * loss
            train.append((step, smooth))
        if r["heldout_loss"]:
            held.append((step, float(r["heldout_loss"])))
    xmax = max(s for s, _ in train)
    ymax = math.ceil(max(v for _, v in train[10:] + held) * 2) / 2
    ymax = min(ymax, 4.0)

    def x(s):
        return L + (W - L - R) * s / xmax

    def y(v):
        return T + (H - T - B) * (1 - min(v, ymax) / ymax)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" '
           'font-family="sans-serif" font-size="12">',
           f'<rect width="{W}" height="{H}" fill="white"/>',
           f'<text x="{W / 2}" y="22" text-anchor="middle" font-size="14">radixlm demo model: loss (nats/token)</text>']
    for i in range(int(ymax / 0.5) + 1):
        v = i * 0.5
        out.append(f'<line x1="{L}" y1="{y(v):.1f}" x2="{W - R}" y2="{y(v):.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{L - 8}" y="{y(v) + 4:.1f}" text-anchor="end">{v:.1f}</text>')
    tick = max(100, round(xmax / 8, -2))
    s = 0
    while s <= xmax:
        out.append(f'<line x1="{x(s):.1f}" y1="{H - B}" x2="{x(s):.1f}" y2="{H - B + 5}" stroke="#333"/>')
        out.append(f'<text x="{x(s):.1f}" y="{H - B + 18}" text-anchor="middle">{s}</text>')
        s += tick
    out.append(f'<text x="{(L + W - R) / 2}" y="{H - 12}" text-anchor="middle">step (8 x 256 tokens each)</text>')
    out.append(f'<line x1="{L}" y1="{H - B}" x2="{W - R}" y2="{H - B}" stroke="#333"/>')
    out.append(f'<line x1="{L}" y1="{T}" x2="{L}" y2="{H - B}" stroke="#333"/>')
    pts = " ".join(f"{x(s):.1f},{y(v):.1f}" for s, v in train)
    out.append(f'<polyline fill="none" stroke="#1f77b4" stroke-width="1.5" points="{pts}"/>')
    pts = " ".join(f"{x(s):.1f},{y(v):.1f}" for s, v in held)
    out.append(f'<polyline fill="none" stroke="#d62728" stroke-width="1.5" points="{pts}"/>')
    out.append(f'<rect x="{W - R - 200}" y="{T + 8}" width="190" height="44" fill="white" stroke="#aaa"/>')
    out.append(f'<line x1="{W - R - 190}" y1="{T + 22}" x2="{W - R - 165}" y2="{T + 22}" stroke="#1f77b4" stroke-width="2"/>')
    out.append(f'<text x="{W - R - 158}" y="{T + 26}">training (smoothed) {train[-1][1]:.3f}</text>')
    out.append(f'<line x1="{W - R - 190}" y1="{T + 40}" x2="{W - R - 165}" y2="{T + 40}" stroke="#d62728" stroke-width="2"/>')
    out.append(f'<text x="{W - R - 158}" y="{T + 44}">held-out {held[-1][1]:.3f}</text>')
    out.append("</svg>")
    open(dst, "w").write("\n".join(out) + "\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
