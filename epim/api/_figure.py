"""A figure as a list of shapes, written as SVG or as a one-page PDF (no plotting library).

The study's Pareto chart (``GET /studies/{id}/pareto.svg`` and ``.pdf``) is drawn once as
:class:`Figure` shapes in a y-down coordinate system of points (1/72 in), then written by
:meth:`Figure.svg` or :meth:`Figure.pdf`. The PDF uses the standard Helvetica fonts (no font
is embedded; every PDF reader has them) with WinAnsi encoding, so labels may hold the SI
prefixes and marks the chart needs (``mm²``, ``µJ``, ``×``). Text is placed from Helvetica's
advance widths (Adobe's Helvetica AFM, which Arial and Liberation Sans share), so centred and
right-aligned labels sit where the SVG puts them.

Also the axis machinery the chart shares with the explorer's ``chart.js``: units per metric
(values arrive in SI units: m^2, s, J; labels and quantities come from the metric registry,
:mod:`epim.metrics`, which the explorer's page carries too) and round tick values.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from epim.metrics import REGISTRY

_PREFIXES = ((1e-12, "p"), (1e-9, "n"), (1e-6, "µ"), (1e-3, "m"), (1.0, ""))
#: Quantities shown with an SI prefix on their unit's symbol.
_PREFIXED: dict[str, str] = {"time": "s", "energy": "J", "energy_time": "J·s"}


@dataclass(frozen=True)
class Unit:
    """A display unit: shown value = SI value * ``factor``, written with ``symbol``."""

    factor: float
    symbol: str


def unit_for(metric: str, values: Sequence[float]) -> Unit:
    """The SI-prefixed unit in which the largest of ``values`` reads 1 or more.

    The metric's quantity comes from the metric registry (:mod:`epim.metrics`): areas in m²,
    mm² or µm²; seconds, joules and joule-seconds with p, n, µ, m or no prefix; fractions in
    %; ratios in ×; counts and unknown metrics as they are. ``static/chart.js`` applies the
    same rules to the registry the page carries.
    """
    info = REGISTRY.get(metric)
    quantity = info.quantity if info is not None else "count"
    finite = [abs(v) for v in values if math.isfinite(v)]
    big = max(finite) if finite else 1.0
    if quantity == "area":
        for factor, symbol in ((1.0, "m²"), (1e6, "mm²")):
            if big * factor >= 1:
                return Unit(factor, symbol)
        return Unit(1e12, "µm²")
    if quantity in _PREFIXED:
        scale, prefix = next(((s, p) for s, p in reversed(_PREFIXES) if big >= s),
                             _PREFIXES[0])
        return Unit(1.0 / scale, prefix + _PREFIXED[quantity])
    if quantity == "fraction":
        return Unit(100.0, "%")
    if quantity == "ratio":
        return Unit(1.0, "×")
    return Unit(1.0, "")


def format_value(value: float, unit: Unit) -> str:
    """``value`` (SI) in ``unit`` with four significant digits, e.g. ``41.25 mm²``."""
    shown = value * unit.factor
    text = f"{shown:.3e}" if shown != 0 and not 1e-2 <= abs(shown) < 1e5 else f"{shown:.4g}"
    return f"{text} {unit.symbol}".strip()


@dataclass(frozen=True)
class Ticks:
    """Round tick values and the axis range that holds them (display units)."""

    values: list[float]
    lo: float
    hi: float
    decimals: int

    def label(self, value: float) -> str:
        """A tick's text with the decimals its step needs (``0.5``, ``12``, ``2.25``)."""
        return f"{value:.{self.decimals}f}"


def nice_ticks(lo: float, hi: float, count: int = 6) -> Ticks:
    """About ``count`` ticks at 1, 2, 2.5 or 5 times a power of ten covering [lo, hi].

    The range is widened by 4% on each side first, so no point sits on an axis.
    """
    if not hi > lo:
        pad = abs(lo) * 0.1 or 1.0
        lo, hi = lo - pad, hi + pad
    pad = (hi - lo) * 0.04
    lo, hi = lo - pad, hi + pad
    raw = (hi - lo) / count
    magnitude = 10.0 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.ceil(lo / step)
    values = [round((first + i) * step, 12) for i in range(int((hi - lo) / step) + 2)
              if (first + i) * step <= hi + step * 1e-9]
    decimals = 0
    while decimals < 12 and abs(round(step * 10**decimals) - step * 10**decimals) > 1e-6:
        decimals += 1
    return Ticks(values, min(lo, values[0]), max(hi, values[-1]), decimals)


Colour = tuple[float, float, float]


def rgb(code: str) -> Colour:
    """``#rrggbb`` as fractions 0..1."""
    return (int(code[1:3], 16) / 255, int(code[3:5], 16) / 255, int(code[5:7], 16) / 255)


@dataclass(frozen=True)
class Shape:
    """A path (``points``; closed or open) or a circle (``radius`` > 0 at ``points[0]``)."""

    points: tuple[tuple[float, float], ...]
    stroke: Colour | None = None
    fill: Colour | None = None
    width: float = 1.0
    dash: tuple[float, ...] = ()
    closed: bool = False
    radius: float = 0.0
    kind: str = ""  # a class name in the SVG (``front``, ``infeasible``, ``ref dense``, ...)
    title: str = ""  # a tooltip in the SVG


@dataclass(frozen=True)
class Text:
    """A label at (x, y) (its baseline), anchored ``start``, ``middle`` or ``end``."""

    x: float
    y: float
    content: str
    size: float = 11.0
    anchor: str = "start"
    rotate: float = 0.0  # degrees, clockwise on the page (SVG's convention)
    colour: Colour = (0.0, 0.0, 0.0)
    bold: bool = False
    kind: str = ""


# Helvetica's advance widths (1/1000 em), characters 32..126, from Adobe's AFM.
_WIDTHS = (278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278,
           556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556,
           1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778,
           667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556,
           333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556,
           556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584)
_WIDE = {"²": 333, "µ": 556, "×": 584, "·": 278, "–": 556, "±": 584}


def text_width(content: str, size: float, bold: bool = False) -> float:
    """The width of ``content`` in Helvetica at ``size`` points (bold about 5% wider)."""
    units = sum(_WIDTHS[ord(c) - 32] if 32 <= ord(c) < 127 else _WIDE.get(c, 556)
                for c in content)
    return units * size / 1000 * (1.05 if bold else 1.0)


@dataclass
class Figure:
    """Shapes and labels on a ``width`` x ``height`` page (points, y down)."""

    width: float
    height: float
    title: str = ""
    items: list[Shape | Text] = field(default_factory=list)

    def add(self, item: Shape | Text) -> None:
        """Draw ``item`` over what is drawn so far."""
        self.items.append(item)

    # ------------------------------------------------------------------------ SVG
    def svg(self) -> str:
        """The figure as a standalone SVG document."""
        parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{self.width:g}" '
                 f'height="{self.height:g}" viewBox="0 0 {self.width:g} {self.height:g}" '
                 'font-family="Helvetica, Arial, sans-serif">',
                 f"<title>{html.escape(self.title)}</title>",
                 f'<rect width="{self.width:g}" height="{self.height:g}" fill="white"/>']
        parts.extend(_svg_shape(item) if isinstance(item, Shape) else _svg_text(item)
                     for item in self.items)
        parts.append("</svg>")
        return "\n".join(parts) + "\n"

    # ------------------------------------------------------------------------ PDF
    def pdf(self) -> bytes:
        """The figure as a one-page PDF 1.4 file (uncompressed content, base-14 fonts)."""
        ops = [f"1 0 0 -1 0 {self.height:g} cm", "1 1 1 rg",
               f"0 0 {self.width:g} {self.height:g} re f"]  # y down, as in the SVG
        for item in self.items:
            ops.extend(_pdf_shape(item) if isinstance(item, Shape) else _pdf_text(item))
        content = "\n".join(ops).encode("latin-1")  # strings are cp1252 bytes already
        title = _pdf_string(self.title)
        objects = [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            (f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {self.width:g} {self.height:g}] "
             "/Resources << /Font << /F1 5 0 R /F2 6 0 R >> >> /Contents 4 0 R >>").encode(),
            b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica "
            b"/Encoding /WinAnsiEncoding >>",
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold "
            b"/Encoding /WinAnsiEncoding >>",
            b"<< /Title " + title + b" /Producer (EPIM Search) >>",
        ]
        out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
        offsets = []
        for number, body in enumerate(objects, start=1):
            offsets.append(len(out))
            out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
        xref = len(out)
        out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
        out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
        out += (b"trailer\n<< /Size %d /Root 1 0 R /Info %d 0 R >>\nstartxref\n%d\n%%%%EOF\n"
                % (len(objects) + 1, len(objects), xref))
        return bytes(out)


def _hex(colour: Colour | None) -> str:
    if colour is None:
        return "none"
    return "#" + "".join(f"{round(c * 255):02x}" for c in colour)


def _svg_shape(shape: Shape) -> str:
    style = (f'fill="{_hex(shape.fill)}" stroke="{_hex(shape.stroke)}" '
             f'stroke-width="{shape.width:g}"')
    if shape.dash:
        style += f' stroke-dasharray="{" ".join(f"{d:g}" for d in shape.dash)}"'
    if shape.kind:
        style += f' class="{html.escape(shape.kind)}"'
    tip = f"<title>{html.escape(shape.title)}</title>" if shape.title else ""
    if shape.radius > 0:
        (x, y), = shape.points
        return f'<circle cx="{x:.2f}" cy="{y:.2f}" r="{shape.radius:g}" {style}>{tip}</circle>'
    path = " ".join(f"{'M' if i == 0 else 'L'}{x:.2f},{y:.2f}"
                    for i, (x, y) in enumerate(shape.points))
    return f'<path d="{path}{" Z" if shape.closed else ""}" {style}>{tip}</path>'


def _svg_text(text: Text) -> str:
    attributes = (f'x="{text.x:.2f}" y="{text.y:.2f}" font-size="{text.size:g}" '
                  f'text-anchor="{text.anchor}" fill="{_hex(text.colour)}"')
    if text.rotate:
        attributes += f' transform="rotate({text.rotate:g} {text.x:.2f} {text.y:.2f})"'
    if text.bold:
        attributes += ' font-weight="bold"'
    if text.kind:
        attributes += f' class="{html.escape(text.kind)}"'
    return f"<text {attributes}>{html.escape(text.content)}</text>"


def _pdf_string(content: str) -> bytes:
    raw = content.encode("cp1252", "replace")
    return b"(" + raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)") + b")"


def _pdf_colour(colour: Colour, operator: str) -> str:
    return f"{colour[0]:.3f} {colour[1]:.3f} {colour[2]:.3f} {operator}"


def _pdf_shape(shape: Shape) -> list[str]:
    ops = ["q", f"{shape.width:g} w", "1 j 1 J",
           f"[{' '.join(f'{d:g}' for d in shape.dash)}] 0 d"]
    if shape.stroke is not None:
        ops.append(_pdf_colour(shape.stroke, "RG"))
    if shape.fill is not None:
        ops.append(_pdf_colour(shape.fill, "rg"))
    if shape.radius > 0:  # four Bezier quarter arcs (control distance 0.5523 r)
        (x, y), = shape.points
        r, k = shape.radius, shape.radius * 0.5523
        ops += [f"{x + r:.2f} {y:.2f} m",
                f"{x + r:.2f} {y + k:.2f} {x + k:.2f} {y + r:.2f} {x:.2f} {y + r:.2f} c",
                f"{x - k:.2f} {y + r:.2f} {x - r:.2f} {y + k:.2f} {x - r:.2f} {y:.2f} c",
                f"{x - r:.2f} {y - k:.2f} {x - k:.2f} {y - r:.2f} {x:.2f} {y - r:.2f} c",
                f"{x + k:.2f} {y - r:.2f} {x + r:.2f} {y - k:.2f} {x + r:.2f} {y:.2f} c"]
        closed = True
    else:
        ops += [f"{x:.2f} {y:.2f} {'m' if i == 0 else 'l'}"
                for i, (x, y) in enumerate(shape.points)]
        closed = shape.closed
    paint = {(True, True): "b" if closed else "B", (True, False): "f",
             (False, True): "s" if closed else "S", (False, False): "n"}
    ops += [paint[(shape.fill is not None, shape.stroke is not None)], "Q"]
    return ops


def _pdf_text(text: Text) -> list[str]:
    width = text_width(text.content, text.size, text.bold)
    shift = {"start": 0.0, "middle": width / 2, "end": width}[text.anchor]
    angle = math.radians(text.rotate)
    cos, sin = math.cos(angle), math.sin(angle)
    x, y = text.x - shift * cos, text.y - shift * sin
    return ["BT", _pdf_colour(text.colour, "rg"),
            f"/{'F2' if text.bold else 'F1'} {text.size:g} Tf",
            f"{cos:.4f} {sin:.4f} {sin:.4f} {-cos:.4f} {x:.2f} {y:.2f} Tm",
            _pdf_string(text.content).decode("latin-1") + " Tj", "ET"]
