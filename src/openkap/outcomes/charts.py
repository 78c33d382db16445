"""The report's charts as SVG strings drawn on the server (the same on the page and in
the PDF; no JavaScript): the trajectory of mean scores with 95 % CIs by session, the
Kaplan-Meier curve of staying in response, and response/remission by baseline band.
Every chart names its numbers in text too (title, axis labels), so a grey print reads."""

from __future__ import annotations

from html import escape
from typing import Any

W, H = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 48, 16, 28, 52
PW, PH = W - LEFT - RIGHT, H - TOP - BOTTOM
INK, MUTED, ACCENT, SECOND = "#1d2939", "#667085", "#1f6feb", "#067647"


def _frame(title: str, body: list[str], *, y_ticks: list[tuple[float, str]]) -> str:
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" role="img" class="outcome-chart" '
        f'aria-label="{escape(title)}" font-family="sans-serif" font-size="11">',
        f"<title>{escape(title)}</title>",
        f'<text x="{LEFT}" y="16" font-size="12" font-weight="600" fill="{INK}">{escape(title)}</text>',
        f'<line x1="{LEFT}" y1="{TOP + PH}" x2="{LEFT + PW}" y2="{TOP + PH}" stroke="{MUTED}"/>',
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + PH}" stroke="{MUTED}"/>',
    ]
    for y, label in y_ticks:
        parts.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{LEFT + PW}" y2="{y:.1f}" stroke="#eaecf0"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" fill="{MUTED}">{escape(label)}</text>')
    return "".join(parts + body + ["</svg>"])


def _empty(title: str, why: str) -> str:
    return _frame(title, [f'<text x="{LEFT + PW / 2}" y="{TOP + PH / 2}" text-anchor="middle" fill="{MUTED}">'
                          f"{escape(why)}</text>"], y_ticks=[])


def trajectory_svg(points: list[dict[str, Any]], *, maximum: float, instrument: str) -> str:
    title = f"Mean {instrument} by session (95% CI)" if any(p["n"] != 1 for p in points) else f"{instrument} totals"
    shown = [p for p in points if p["mean"] is not None]
    if not shown:
        return _empty(title, "No scores to show")
    step = PW / max(1, len(points) - 1) if len(points) > 1 else 0

    def y(v: float) -> float:
        return TOP + PH - (v / maximum) * PH

    ticks = [(y(maximum * k / 4), f"{maximum * k / 4:g}") for k in range(5)]
    body: list[str] = []
    path: list[str] = []
    for i, p in enumerate(points):
        x = LEFT + (i * step if len(points) > 1 else PW / 2)
        label = p["label"].replace("Before session ", "S")
        body.append(f'<text x="{x:.1f}" y="{TOP + PH + 16}" text-anchor="middle" fill="{MUTED}">{escape(label)}</text>')
        body.append(f'<text x="{x:.1f}" y="{TOP + PH + 30}" text-anchor="middle" fill="{MUTED}">n={escape(str(p["n"]))}</text>')
        if p["mean"] is None:
            continue
        if p["ci"]:
            low, high = p["ci"]
            body.append(f'<line x1="{x:.1f}" y1="{y(max(0, low)):.1f}" x2="{x:.1f}" y2="{y(min(maximum, high)):.1f}" '
                        f'stroke="{ACCENT}" stroke-width="2" opacity="0.5"/>')
        body.append(f'<circle cx="{x:.1f}" cy="{y(p["mean"]):.1f}" r="4" fill="{ACCENT}">'
                    f'<title>{escape(p["label"])}: mean {p["mean"]}, n {p["n"]}</title></circle>')
        path.append(f'{"M" if not path else "L"}{x:.1f},{y(p["mean"]):.1f}')
    body.insert(0, f'<path d="{" ".join(path)}" fill="none" stroke="{ACCENT}" stroke-width="2"/>')
    body.append(f'<text x="{LEFT + PW / 2}" y="{H - 4}" text-anchor="middle" fill="{MUTED}">'
                "S2 = before session 2; lower is better</text>")
    return _frame(title, body, y_ticks=ticks)


def survival_svg(durability: dict[str, Any] | None) -> str:
    title = "Still responding after the endpoint (Kaplan–Meier)"
    if not durability or not durability["curve"]:
        return _empty(title, "No responder with a later score")
    curve = durability["curve"]
    horizon = max(56.0, max(t for t, _ in curve))

    def x(t: float) -> float:
        return LEFT + t / horizon * PW

    def y(s: float) -> float:
        return TOP + PH - s * PH

    ticks = [(y(k / 4), f"{k * 25}%") for k in range(5)]
    d = f"M{x(0):.1f},{y(1):.1f}"
    level = 1.0
    for t, s in curve:
        d += f" L{x(t):.1f},{y(level):.1f} L{x(t):.1f},{y(s):.1f}"
        level = s
    d += f" L{x(horizon):.1f},{y(level):.1f}"
    body = [f'<path d="{d}" fill="none" stroke="{SECOND}" stroke-width="2"/>']
    for day in (0, 28, 56, int(horizon)):
        body.append(f'<text x="{x(day):.1f}" y="{TOP + PH + 16}" text-anchor="middle" fill="{MUTED}">{day}</text>')
    body.append(f'<text x="{LEFT + PW / 2}" y="{TOP + PH + 34}" text-anchor="middle" fill="{MUTED}">'
                f'days after the endpoint · {escape(str(durability["n_responders_followed"]))} responders followed</text>')
    return _frame(title, body, y_ticks=ticks)


def bands_svg(rows: list[dict[str, Any]]) -> str:
    title = "Response and remission by baseline severity"
    if not any(r["response_pct"] is not None for r in rows):
        return _empty(title, "No analysed patients")

    def y(p: float) -> float:
        return TOP + PH - p / 100 * PH

    ticks = [(y(k * 25), f"{k * 25}%") for k in range(5)]
    slot = PW / max(1, len(rows))
    body = []
    for i, r in enumerate(rows):
        x0 = LEFT + i * slot + slot * 0.15
        bw = slot * 0.33
        for j, (key, colour) in enumerate((("response_pct", ACCENT), ("remission_pct", SECOND))):
            value = r.get(key)
            if value is None:
                continue
            bx = x0 + j * bw
            body.append(f'<rect x="{bx:.1f}" y="{y(value):.1f}" width="{bw - 2:.1f}" height="{TOP + PH - y(value):.1f}" '
                        f'fill="{colour}"><title>{escape(r["label"])}: {key.split("_")[0]} {value}%</title></rect>')
            body.append(f'<text x="{bx + bw / 2:.1f}" y="{y(value) - 3:.1f}" text-anchor="middle" fill="{INK}" '
                        f'font-size="10">{value:g}</text>')
        body.append(f'<text x="{LEFT + i * slot + slot / 2:.1f}" y="{TOP + PH + 16}" text-anchor="middle" '
                    f'fill="{MUTED}">{escape(r["label"])}</text>')
        body.append(f'<text x="{LEFT + i * slot + slot / 2:.1f}" y="{TOP + PH + 30}" text-anchor="middle" '
                    f'fill="{MUTED}">n={escape(str(r["n"]))}</text>')
    body.append(f'<rect x="{LEFT + PW - 170}" y="{TOP - 4}" width="10" height="10" fill="{ACCENT}"/>'
                f'<text x="{LEFT + PW - 156}" y="{TOP + 5}" fill="{INK}">response</text>'
                f'<rect x="{LEFT + PW - 90}" y="{TOP - 4}" width="10" height="10" fill="{SECOND}"/>'
                f'<text x="{LEFT + PW - 76}" y="{TOP + 5}" fill="{INK}">remission</text>')
    return _frame(title, body, y_ticks=ticks)


def scatter_svg(measure: str, points: list[list[float]] | None) -> str:
    title = f"{measure} during the induction against % change at endpoint"
    if not points:
        return _empty(title, "No points (hidden in the shared view)")
    xs = [p[0] for p in points]
    x_low, x_high = min(xs), max(xs)
    span = (x_high - x_low) or 1.0

    def x(v: float) -> float:
        return LEFT + (v - x_low) / span * PW

    def y(pct: float) -> float:  # -100 % at the bottom, +50 % at the top
        return TOP + PH - (max(-100.0, min(50.0, pct)) + 100) / 150 * PH

    ticks = [(y(v), f"{v:+d}%" if v else "0%") for v in (-100, -50, 0, 50)]
    body = [f'<line x1="{LEFT}" y1="{y(-50):.1f}" x2="{LEFT + PW}" y2="{y(-50):.1f}" stroke="{SECOND}" '
            f'stroke-dasharray="4 3"/><text x="{LEFT + PW - 4}" y="{y(-50) - 4:.1f}" text-anchor="end" '
            f'fill="{SECOND}">response (50% lower)</text>']
    for ex, pct in points:
        body.append(f'<circle cx="{x(ex):.1f}" cy="{y(pct):.1f}" r="3" fill="{ACCENT}" opacity="0.6"/>')
    for v in (x_low, (x_low + x_high) / 2, x_high):
        body.append(f'<text x="{x(v):.1f}" y="{TOP + PH + 16}" text-anchor="middle" fill="{MUTED}">{v:.0f}</text>')
    body.append(f'<text x="{LEFT + PW / 2}" y="{TOP + PH + 32}" text-anchor="middle" fill="{MUTED}">'
                f"{escape(measure)} (mean over the induction) · one dot per patient</text>")
    return _frame(title, body, y_ticks=ticks)
