"""Caption style presets: a small dataclass and a dict of named looks."""

from __future__ import annotations

from dataclasses import dataclass, replace

from streamapp.errors import InputError

RGB = tuple[int, int, int]


@dataclass(frozen=True)
class CaptionStyle:
    """How burned-in captions look. Sizes are fractions of the output's short side; position of its height."""

    name: str = "bold"
    font: str = "sans-bold"  # "sans-bold" | "sans" | "serif": TrueType DejaVu when available, else Hershey
    size: float = 0.09  # letter height (cap height for Hershey, font size for TrueType)
    color: RGB = (255, 255, 255)
    highlight: RGB | None = (255, 214, 0)  # the word being spoken; None = no karaoke highlight
    highlight_box: RGB | None = None  # draw a filled box behind the spoken word instead of recolouring it
    emphasis: RGB | None = (80, 230, 120)  # steering keywords and numbers; None = no emphasis
    stroke: RGB | None = (0, 0, 0)
    stroke_width: float = 0.14  # fraction of the letter height
    box: RGB | None = None  # a backdrop behind the whole line
    box_opacity: float = 0.6
    # Vertical centre of the line (0 = top, 1 = bottom): the home position, clamped into the platform-safe
    # area (captions.placement); with face boxes, a shot's line moves off the faces when home covers one.
    position: float = 0.70
    uppercase: bool = True
    max_words: int = 4  # per line shown at once (2-5 reads best on phones)
    max_width: float = 0.88  # fraction of the output width a line may take (capped to the safe width)


PRESETS: dict[str, CaptionStyle] = {
    "bold": CaptionStyle(),
    "karaoke": CaptionStyle(
        name="karaoke", highlight=None, highlight_box=(124, 58, 237), emphasis=(255, 214, 0), max_words=3,
        size=0.095,
    ),
    "clean": CaptionStyle(
        name="clean", font="sans", size=0.06, highlight=(120, 200, 255), emphasis=None, stroke=None,
        box=(0, 0, 0), box_opacity=0.55, uppercase=False, max_words=5, position=0.78,
    ),
    "minimal": CaptionStyle(
        name="minimal", font="sans", size=0.055, highlight=None, emphasis=None, stroke_width=0.1,
        uppercase=False, max_words=5, position=0.82,
    ),
}

DEFAULT_STYLE = "bold"


def resolve_style(style: CaptionStyle | str | None) -> CaptionStyle:
    """A preset by name (None = the default), or the given style itself."""
    if isinstance(style, CaptionStyle):
        return style
    name = style or DEFAULT_STYLE
    try:
        return PRESETS[name]
    except KeyError:
        known = ", ".join(PRESETS)
        raise InputError(f"unknown caption style {name!r}; use one of {known}", code="caption_style_invalid") from None


def with_overrides(style: CaptionStyle | str | None, **changes: object) -> CaptionStyle:
    """A preset with some fields changed (e.g. position=0.5)."""
    return replace(resolve_style(style), **changes)
